using System;
using System.Collections.Generic;
using Microsoft.ML.OnnxRuntime;

namespace LstmGen.Tests.Oracles;

/// <summary>
/// Oracle 2: ONNX Runtime — an ONNX model built in memory (opset 14, <see cref="OnnxModelWriter"/>)
/// with one LSTM node per layer (gates reordered from PyTorch i,f,g,o to ONNX i,o,f,c;
/// B = [Wb ; Rb]), Squeeze between layers, and Gemm + activation as the head.
/// Run with one intra-op thread. A fresh session per call: nothing shared between threads.
/// </summary>
public static class OnnxOracle
{
    private static readonly Lazy<string?> Probe = new(ProbeOrt, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True if ONNX Runtime loads; never throws.</summary>
    public static bool IsAvailable => UnavailableReason is null;

    /// <summary>Why <see cref="IsAvailable"/> is false (null when available).</summary>
    public static string? UnavailableReason => Probe.Value;

    private static string? ProbeOrt()
    {
        try
        {
            string version = OrtEnv.Instance().GetVersionString();
            return string.IsNullOrEmpty(version) ? "ONNX Runtime returned no version string" : null;
        }
        catch (Exception ex)
        {
            var msg = new List<string>();
            for (var e = ex; e is not null; e = e.InnerException) msg.Add(e.GetType().Name + ": " + e.Message);
            return "ONNX Runtime unavailable: " + string.Join(" --> ", msg);
        }
    }

    // ONNX gate block d takes PyTorch gate block PtBlock[d]: ONNX (i, o, f, c) <- PyTorch (i, f, g, o).
    private static readonly int[] PtBlock = { 0, 3, 1, 2 };

    /// <summary>Runs the stacked LSTM (+ optional head) on one sequence from zero state.</summary>
    /// <param name="parameters">Flat PyTorch order; see the README next to this file.</param>
    /// <param name="inputs">T*I, time-major.</param>
    public static OracleResult Run(int inputSize, int hiddenSize, int numLayers, bool bias, int outputSize, HeadActivation activation,
                                   ReadOnlySpan<float> parameters, ReadOnlySpan<float> inputs, int seqLen)
    {
        if (UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        if (inputSize <= 0 || hiddenSize <= 0 || numLayers <= 0 || outputSize < 0 || seqLen <= 0)
            throw new ArgumentException("sizes must be positive (outputSize >= 0)");
        if (inputs.Length != seqLen * inputSize)
            throw new ArgumentException($"inputs has {inputs.Length} values, expected T*I = {seqLen * inputSize}");

        int H = hiddenSize, G = 4 * H, T = seqLen;
        long expected = 0;
        for (int k = 0; k < numLayers; k++)
            expected += (long)G * ((k == 0 ? inputSize : H) + H) + (bias ? 2L * G : 0);
        if (outputSize > 0) expected += (long)outputSize * H + outputSize;
        if (parameters.Length != expected)
            throw new ArgumentException($"parameters has {parameters.Length} values, expected {expected}");

        var m = new OnnxModelWriter(opset: 14, irVersion: 7);
        m.AddInput("X", T, 1, inputSize);
        if (numLayers > 1) m.AddInitializer("axes_1", new long[] { 1 }, new long[] { 1 });
        m.AddInitializer("axes_12", new long[] { 2 }, new long[] { 1, 2 });

        int off = 0;
        string x = "X";
        var outputNames = new List<string>();
        for (int k = 0; k < numLayers; k++)
        {
            int ik = k == 0 ? inputSize : H;
            var w = parameters.Slice(off, G * ik); off += G * ik;
            var r = parameters.Slice(off, G * H); off += G * H;
            m.AddInitializer($"W{k}", new long[] { 1, G, ik }, Reorder(w, H, ik));
            m.AddInitializer($"R{k}", new long[] { 1, G, H }, Reorder(r, H, H));
            string b = "";                                         // omitted optional input: B defaults to 0
            if (bias)
            {
                var bb = new float[2 * G];
                Reorder(parameters.Slice(off, G), H, 1).CopyTo(bb, 0); off += G;   // Wb = bias_ih
                Reorder(parameters.Slice(off, G), H, 1).CopyTo(bb, G); off += G;   // Rb = bias_hh
                b = $"B{k}";
                m.AddInitializer(b, new long[] { 1, 2 * G }, bb);
            }
            var inputsK = bias ? new[] { x, $"W{k}", $"R{k}", b } : new[] { x, $"W{k}", $"R{k}" };
            m.AddNode("LSTM", inputsK, new[] { $"Y{k}", $"Yh{k}", $"Yc{k}" },
                OnnxAttribute.Of("hidden_size", (long)H), OnnxAttribute.Of("direction", "forward"));
            m.AddOutput($"Yh{k}", 1, 1, H);
            m.AddOutput($"Yc{k}", 1, 1, H);
            if (k < numLayers - 1)
            {
                x = $"X{k + 1}";
                m.AddNode("Squeeze", new[] { $"Y{k}", "axes_1" }, new[] { x });          // (T,1,1,H) -> (T,1,H)
            }
            else
            {
                m.AddNode("Squeeze", new[] { $"Y{k}", "axes_12" }, new[] { "Hseq" });    // (T,1,1,H) -> (T,H)
            }
        }

        int outWidth = H;
        string output = "Hseq";
        if (outputSize > 0)
        {
            outWidth = outputSize;
            m.AddInitializer("fc_w", new long[] { outputSize, H }, parameters.Slice(off, outputSize * H)); off += outputSize * H;
            m.AddInitializer("fc_b", new long[] { outputSize }, parameters.Slice(off, outputSize)); off += outputSize;
            string z = activation == HeadActivation.None ? "Out" : "Z";
            m.AddNode("Gemm", new[] { "Hseq", "fc_w", "fc_b" }, new[] { z }, OnnxAttribute.Of("transB", 1L)); // Hseq·Wᵀ + b
            if (activation != HeadActivation.None)
            {
                string op = activation switch
                {
                    HeadActivation.Sigmoid => "Sigmoid",
                    HeadActivation.Tanh => "Tanh",
                    HeadActivation.Softmax => "Softmax",
                    _ => throw new ArgumentOutOfRangeException(nameof(activation)),
                };
                if (activation == HeadActivation.Softmax)
                    m.AddNode(op, new[] { z }, new[] { "Out" }, OnnxAttribute.Of("axis", -1L));
                else
                    m.AddNode(op, new[] { z }, new[] { "Out" });
            }
            output = "Out";
        }
        m.AddOutput(output, T, outWidth);
        outputNames.Add(output);
        for (int k = 0; k < numLayers; k++) outputNames.Add($"Yh{k}");
        for (int k = 0; k < numLayers; k++) outputNames.Add($"Yc{k}");

        using var options = new SessionOptions
        {
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        using var session = new InferenceSession(m.ToBytes(), options);
        using var xValue = OrtValue.CreateTensorValueFromMemory(inputs.ToArray(), new long[] { T, 1, inputSize });
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, new[] { "X" }, new[] { xValue }, outputNames);

        var result = results[0].GetTensorDataAsSpan<float>().ToArray();
        var hn = new float[numLayers * H];
        var cn = new float[numLayers * H];
        for (int k = 0; k < numLayers; k++)
        {
            results[1 + k].GetTensorDataAsSpan<float>().CopyTo(hn.AsSpan(k * H, H));
            results[1 + numLayers + k].GetTensorDataAsSpan<float>().CopyTo(cn.AsSpan(k * H, H));
        }
        return new OracleResult(result, hn, cn);
    }

    /// <summary>
    /// One LSTM layer with peepholes (ONNX's P input, ordered i, o, f) in ONNX Runtime, forward or bidirectional, from zero
    /// state, with the model's tensors read by name (weight_ph_l0 is [p_i; p_f; p_o]). Output: T rows of D·H values
    /// ([forward ; reverse] per step, ONNX's Y of shape (T, D, 1, H)), then h_n and c_n per direction.
    /// </summary>
    public static (float[] Output, float[] HN, float[] CN) RunPeephole(int inputSize, int hiddenSize, bool bidirectional, LstmParameters parameters,
        ReadOnlySpan<float> inputs, int seqLen)
    {
        if (UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        int H = hiddenSize, G = 4 * H, T = seqLen, D = bidirectional ? 2 : 1;
        var w = new float[D * G * inputSize]; var r = new float[D * G * H]; var b = new float[D * 2 * G]; var p = new float[D * 3 * H];
        for (int d = 0; d < D; d++)
        {
            string s = d == 1 ? "_reverse" : "";
            Reorder(parameters["weight_ih_l0" + s].Values, H, inputSize).CopyTo(w, d * G * inputSize);
            Reorder(parameters["weight_hh_l0" + s].Values, H, H).CopyTo(r, d * G * H);
            Reorder(parameters["bias_ih_l0" + s].Values, H, 1).CopyTo(b, d * 2 * G);
            Reorder(parameters["bias_hh_l0" + s].Values, H, 1).CopyTo(b, d * 2 * G + G);
            var ph = parameters["weight_ph_l0" + s].Values;
            ph.Slice(0, H).CopyTo(p.AsSpan(d * 3 * H));              // p_i
            ph.Slice(2 * H, H).CopyTo(p.AsSpan(d * 3 * H + H));      // p_o
            ph.Slice(H, H).CopyTo(p.AsSpan(d * 3 * H + 2 * H));      // p_f
        }
        var m = new OnnxModelWriter(opset: 14, irVersion: 7);
        m.AddInput("X", T, 1, inputSize);
        m.AddInitializer("W", new long[] { D, G, inputSize }, w);
        m.AddInitializer("R", new long[] { D, G, H }, r);
        m.AddInitializer("B", new long[] { D, 2 * G }, b);
        m.AddInitializer("P", new long[] { D, 3 * H }, p);
        m.AddNode("LSTM", new[] { "X", "W", "R", "B", "", "", "", "P" }, new[] { "Y", "Yh", "Yc" },
            OnnxAttribute.Of("hidden_size", (long)H), OnnxAttribute.Of("direction", bidirectional ? "bidirectional" : "forward"));
        m.AddOutput("Y", T, D, 1, H);
        m.AddOutput("Yh", D, 1, H);
        m.AddOutput("Yc", D, 1, H);
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(m.ToBytes(), options);
        using var xValue = OrtValue.CreateTensorValueFromMemory(inputs.ToArray(), new long[] { T, 1, inputSize });
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, new[] { "X" }, new[] { xValue }, new[] { "Y", "Yh", "Yc" });
        return (results[0].GetTensorDataAsSpan<float>().ToArray(), results[1].GetTensorDataAsSpan<float>().ToArray(), results[2].GetTensorDataAsSpan<float>().ToArray());
    }

    /// <summary>Reorders the 4 gate blocks (each H rows of <paramref name="cols"/>) from PyTorch to ONNX order.</summary>
    private static float[] Reorder(ReadOnlySpan<float> pt, int H, int cols)
    {
        int block = H * cols;
        var onnx = new float[4 * block];
        for (int d = 0; d < 4; d++)
            pt.Slice(PtBlock[d] * block, block).CopyTo(onnx.AsSpan(d * block, block));
        return onnx;
    }
}
