using System;
using System.Linq;
using Microsoft.ML.OnnxRuntime;

namespace LstmGen.Tests.Oracles;

/// <summary>
/// The GRU oracle in ONNX Runtime: each layer of a generated GRU model is one ONNX <c>GRU</c> node (opset 14,
/// <c>linear_before_reset = 1</c>, which is PyTorch's form; gates reordered from PyTorch's r, z, n to ONNX's z, r, h;
/// B = [Wb ; Rb]), forward or bidirectional, from zero state, run in its own session with one thread; the layers'
/// outputs [forward ; reverse] are handed on in C#, and the dense head is applied in double. Tensors are read by name.
/// </summary>
public static class OnnxGruOracle
{
    // ONNX gate block d takes PyTorch gate block PtBlock[d]: ONNX (z, r, h) <- PyTorch (r, z, n).
    private static readonly int[] PtBlock = { 1, 0, 2 };

    /// <summary>Outputs of every step (T × C: the head's, or the top layer's D·H) for one sequence (T·I, time-major).</summary>
    public static float[] Run(int inputSize, int hiddenSize, int numLayers, bool bidirectional, int outputSize, LstmParameters p, ReadOnlySpan<float> inputs, int seqLen)
    {
        if (OnnxOracle.UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        int h = hiddenSize, d = bidirectional ? 2 : 1, t = seqLen;
        float[] x = inputs.ToArray();
        int width = inputSize;
        for (int k = 0; k < numLayers; k++)
        {
            var m = new OnnxModelWriter(opset: 14, irVersion: 7);
            m.AddInput("X", t, 1, width);
            var w = new float[d * 3 * h * width];
            var r = new float[d * 3 * h * h];
            var b = new float[d * 6 * h];
            bool bias = p.Tensors.Any(v => v.Name == "bias_ih_l0");
            for (int dir = 0; dir < d; dir++)
            {
                string s = k + (dir == 1 ? "_reverse" : "");
                Reorder(p["weight_ih_l" + s].Values, h, width).CopyTo(w, dir * 3 * h * width);
                Reorder(p["weight_hh_l" + s].Values, h, h).CopyTo(r, dir * 3 * h * h);
                if (bias)
                {
                    Reorder(p["bias_ih_l" + s].Values, h, 1).CopyTo(b, dir * 6 * h);
                    Reorder(p["bias_hh_l" + s].Values, h, 1).CopyTo(b, dir * 6 * h + 3 * h);
                }
            }
            m.AddInitializer("W", new long[] { d, 3 * h, width }, w);
            m.AddInitializer("R", new long[] { d, 3 * h, h }, r);
            m.AddInitializer("B", new long[] { d, 6 * h }, b);
            m.AddNode("GRU", new[] { "X", "W", "R", "B" }, new[] { "Y" },
                OnnxAttribute.Of("hidden_size", (long)h), OnnxAttribute.Of("direction", bidirectional ? "bidirectional" : "forward"),
                OnnxAttribute.Of("linear_before_reset", 1L));
            m.AddOutput("Y", t, d, 1, h);
            using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
            using var session = new InferenceSession(m.ToBytes(), options);
            using var xValue = OrtValue.CreateTensorValueFromMemory(x, new long[] { t, 1, width });
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, new[] { "X" }, new[] { xValue }, new[] { "Y" });
            x = results[0].GetTensorDataAsSpan<float>().ToArray(); // (T, D, 1, H): step t's [forward ; reverse]
            width = d * h;
        }
        if (outputSize == 0) return x;
        var fw = p["fc.weight"].Values;
        var fb = p["fc.bias"].Values;
        var y = new float[t * outputSize];
        for (int s = 0; s < t; s++)
            for (int o = 0; o < outputSize; o++)
            {
                double sum = fb[o];
                for (int j = 0; j < width; j++) sum += (double)fw[o * width + j] * x[s * width + j];
                y[s * outputSize + o] = (float)sum;
            }
        return y;
    }

    private static float[] Reorder(ReadOnlySpan<float> pt, int h, int columns)
    {
        var onnx = new float[3 * h * columns];
        for (int g = 0; g < 3; g++)
            pt.Slice(PtBlock[g] * h * columns, h * columns).CopyTo(onnx.AsSpan(g * h * columns));
        return onnx;
    }
}
