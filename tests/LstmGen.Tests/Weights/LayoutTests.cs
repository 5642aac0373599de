using System;
using System.Collections.Generic;
using System.Linq;
using LstmGen.Tests.Oracles;
using LstmGen.Weights;
using Microsoft.ML.OnnxRuntime;
using Xunit;

namespace LstmGen.Tests.Weights;

/// <summary>
/// Keras and ONNX layouts. Each direction is checked against something other than the converter: Keras weights drive
/// a Keras-semantics LSTM written here from the Keras documentation's equations, ONNX weights drive ONNX Runtime's own
/// LSTM operator; and the round trips are compared bit for bit.
/// </summary>
public sealed class LayoutTests
{
    private static float[] Random(int n, ulong seed, float scale = 0.5f)
    {
        var v = new float[n];
        new LstmRandom(seed).FillUniform(v, scale);
        return v;
    }

    /// <summary>Keras' LSTM (one layer, zero state): z = x·kernel + h·recurrent_kernel + bias, split as i, f, c, o.</summary>
    private static double[] KerasLstm(float[] kernel, float[] recurrent, float[] bias, float[] xs, int inputs, int hidden)
    {
        int steps = xs.Length / inputs, g = 4 * hidden;
        var h = new double[hidden];
        var c = new double[hidden];
        var output = new double[steps * hidden];
        for (int t = 0; t < steps; t++)
        {
            var z = new double[g];
            for (int col = 0; col < g; col++)
            {
                double s = bias.Length == 0 ? 0 : bias[col];
                for (int j = 0; j < inputs; j++) s += xs[t * inputs + j] * (double)kernel[j * g + col];
                for (int j = 0; j < hidden; j++) s += h[j] * recurrent[j * g + col];
                z[col] = s;
            }
            for (int u = 0; u < hidden; u++)
            {
                double i = Sigmoid(z[u]), f = Sigmoid(z[hidden + u]), cc = Math.Tanh(z[2 * hidden + u]), o = Sigmoid(z[3 * hidden + u]);
                c[u] = f * c[u] + i * cc;
                h[u] = o * Math.Tanh(c[u]);
                output[t * hidden + u] = h[u];
            }
        }
        return output;
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    [Fact]
    public void KerasWeightsImportedRunAsKerasDefinesThem()
    {
        const int I = 3, H = 17, T = 30;
        var kernel = Random(I * 4 * H, 1);
        var recurrent = Random(H * 4 * H, 2);
        var bias = Random(4 * H, 3);
        var model = new Lstm_3_17_1(seed: 9);
        KerasLayout.Import(new[]
        {
            new LayoutTensor("lstm/kernel", [I, 4 * H], kernel),
            new LayoutTensor("lstm/recurrent_kernel", [H, 4 * H], recurrent),
            new LayoutTensor("lstm/bias", [4 * H], bias),
        }, model.Parameters);
        Assert.All(model.Parameters["bias_hh_l0"].Values.ToArray(), v => Assert.Equal(0f, v));
        float[] xs = Models.Inputs(T * I, 4);
        var ys = new float[T * H];
        model.Forward(xs, model.NewState(), ys);
        double[] expected = KerasLstm(kernel, recurrent, bias, xs, I, H);
        double diff = expected.Zip(ys, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(diff <= 1e-5, $"max |Keras reference - LstmGen| = {diff:E2}");

        // Keras -> PyTorch -> Keras is exact.
        var back = KerasLayout.Export(model.Parameters);
        Assert.Equal(new[] { "lstm/kernel", "lstm/recurrent_kernel", "lstm/bias" }, back.Select(t => t.Name));
        Assert.Equal(kernel, back[0].Values);
        Assert.Equal(recurrent, back[1].Values);
        Assert.Equal(bias, back[2].Values);
    }

    [Fact]
    public void PyTorchToKerasToPyTorchKeepsWeightsAndSumsBiases()
    {
        var model = new Head_5_40_3_3_Sigmoid(seed: 3);
        var keras = KerasLayout.Export(model.Parameters);
        Assert.Equal(new[] { "lstm/kernel", "lstm/recurrent_kernel", "lstm/bias", "lstm_1/kernel", "lstm_1/recurrent_kernel", "lstm_1/bias",
            "lstm_2/kernel", "lstm_2/recurrent_kernel", "lstm_2/bias", "dense/kernel", "dense/bias" }, keras.Select(t => t.Name));
        // Element check by the layout's definition: kernel[j, r] = weight_ih[r, j]; recurrent_kernel likewise; dense kernel (H, O).
        var wih = model.Parameters["weight_ih_l1"];
        Assert.Equal(new[] { 40, 160 }, keras[3].Shape);
        Assert.Equal(wih[77, 5], keras[3].Values[5 * 160 + 77]);
        Assert.Equal(model.Parameters["fc.weight"][2, 39], keras[9].Values[39 * 3 + 2]);
        Assert.Equal(model.Parameters["bias_ih_l2"][100] + model.Parameters["bias_hh_l2"][100], keras[8].Values[100]);

        var copy = new Head_5_40_3_3_Sigmoid(seed: 4);
        KerasLayout.Import(keras, copy.Parameters);
        foreach (var t in model.Parameters.Tensors)
        {
            float[] expected = t.Name.StartsWith("bias_hh", StringComparison.Ordinal) ? new float[t.Length]
                : t.Name.StartsWith("bias_ih", StringComparison.Ordinal) ? t.Values.ToArray().Zip(model.Parameters[t.Name.Replace("_ih", "_hh", StringComparison.Ordinal)].Values.ToArray(), (a, b) => a + b).ToArray()
                : t.Values.ToArray();
            Assert.Equal(expected, copy.Parameters[t.Name].Values.ToArray());
        }
        var a = new float[50 * 3];
        var b = new float[50 * 3];
        float[] xs = Models.Inputs(50 * 5, 8);
        model.Forward(xs, model.NewState(), a);
        copy.Forward(xs, copy.NewState(), b);
        Assert.True(a.Zip(b, (x, y) => Math.Abs(x - y)).Max() <= 1e-6f);

        var e = Assert.Throws<WeightsFormatException>(() => KerasLayout.Import(keras.Where(t => t.Name != "lstm_1/bias").ToArray(), copy.Parameters));
        Assert.Equal(WeightsErrorKind.MissingTensor, e.Kind);
        Assert.Equal("lstm_1/bias", e.Field);
        var wrong = keras.Select(t => t.Name == "lstm/kernel" ? t with { Shape = [t.Shape[1], t.Shape[0]] } : t).ToArray();
        Assert.Equal("lstm/kernel", Assert.Throws<WeightsFormatException>(() => KerasLayout.Import(wrong, copy.Parameters)).Field);
    }

    [Fact]
    public void NoBiasModelHasNoKerasBias()
    {
        var model = new NoBias_3_17_2_2_Tanh(seed: 1);
        var keras = KerasLayout.Export(model.Parameters);
        Assert.DoesNotContain(keras, t => t.Name.EndsWith("/bias", StringComparison.Ordinal) && t.Name != "dense/bias");
        var copy = new NoBias_3_17_2_2_Tanh(seed: 2);
        KerasLayout.Import(keras, copy.Parameters);
        Assert.Equal(model.Parameters.Values.ToArray(), copy.Parameters.Values.ToArray());
    }

    /// <summary>Runs one ONNX LSTM node with the given W, R, B in ONNX Runtime: Y of every step (T·H).</summary>
    private static float[] OrtLstm(OnnxLstmWeights layer, float[] xs, int steps)
    {
        int h = layer.HiddenSize, i = layer.InputSize;
        var m = new OnnxModelWriter(opset: 14, irVersion: 7);
        m.AddInput("X", steps, 1, i);
        m.AddInitializer("W", new long[] { 1, 4 * h, i }, layer.W);
        m.AddInitializer("R", new long[] { 1, 4 * h, h }, layer.R);
        var inputs = new List<string> { "X", "W", "R" };
        if (layer.B is not null) { m.AddInitializer("B", new long[] { 1, 8 * h }, layer.B); inputs.Add("B"); }
        m.AddNode("LSTM", inputs.ToArray(), new[] { "Y" }, OnnxAttribute.Of("hidden_size", (long)h));
        m.AddOutput("Y", steps, 1, 1, h);
        using var session = new InferenceSession(m.ToBytes());
        using var x = OrtValue.CreateTensorValueFromMemory(xs, new long[] { steps, 1, i });
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, new[] { "X" }, new[] { x }, new[] { "Y" });
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    [Fact]
    public void OnnxWeightsImportedRunAsOnnxRuntimeRunsThem()
    {
        Assert.True(OnnxOracle.IsAvailable, OnnxOracle.UnavailableReason);
        const int I = 3, H = 17, T = 40;
        var onnx = new OnnxLstmWeights(1, I, H, Random(4 * H * I, 11), Random(4 * H * H, 12), Random(8 * H, 13), null);
        var model = new Lstm_3_17_1(seed: 1);
        OnnxLayout.Import(new[] { onnx }, model.Parameters);
        float[] xs = Models.Inputs(T * I, 14);
        var ys = new float[T * H];
        model.Forward(xs, model.NewState(), ys);
        float[] expected = OrtLstm(onnx, xs, T);
        Assert.True(expected.Zip(ys, (a, b) => Math.Abs(a - b)).Max() <= 1e-5f);

        // ONNX -> PyTorch -> ONNX is exact; the biases are moved, not summed.
        var back = OnnxLayout.Export(model.Parameters).Single();
        Assert.Equal(onnx.W, back.W);
        Assert.Equal(onnx.R, back.R);
        Assert.Equal(onnx.B, back.B);
        Assert.Null(back.P);
    }

    [Fact]
    public void PyTorchToOnnxToPyTorchIsExactAndRunsInOnnxRuntime()
    {
        Assert.True(OnnxOracle.IsAvailable, OnnxOracle.UnavailableReason);
        var model = new Lstm_8_32_2(seed: 5);
        var layers = OnnxLayout.Export(model.Parameters);
        Assert.Equal(2, layers.Count);
        // By the operator's definition: W's gate blocks are i, o, f, c; PyTorch's are i, f, g, o.
        const int H = 32;
        var w0 = model.Parameters["weight_ih_l0"];
        Assert.Equal(w0[3 * H + 7, 2], layers[0].W[(1 * H + 7) * 8 + 2]);    // o
        Assert.Equal(w0[1 * H + 7, 2], layers[0].W[(2 * H + 7) * 8 + 2]);    // f
        Assert.Equal(w0[2 * H + 7, 2], layers[0].W[(3 * H + 7) * 8 + 2]);    // c = g
        Assert.Equal(model.Parameters["bias_hh_l1"][H + 3], layers[1].B![4 * H + 2 * H + 3]);   // Rb's f block

        var copy = new Lstm_8_32_2(seed: 6);
        OnnxLayout.Import(layers, copy.Parameters);
        Assert.Equal(model.Parameters.Values.ToArray(), copy.Parameters.Values.ToArray());

        // Layer 0 in ORT against the model's first layer: a one-layer model with layer 0's weights.
        var single = new Lstm_8_32_1Probe();
        OnnxLayout.Import(new[] { layers[0] }, single.Parameters);
        float[] xs = Models.Inputs(25 * 8, 3);
        var ys = new float[25 * H];
        single.Forward(xs, single.NewState(), ys);
        Assert.True(OrtLstm(layers[0], xs, 25).Zip(ys, (a, b) => Math.Abs(a - b)).Max() <= 1e-5f);

        var e = Assert.Throws<WeightsFormatException>(() => OnnxLayout.Import(new[] { layers[0] }, model.Parameters));
        Assert.Equal(WeightsErrorKind.ShapeMismatch, e.Kind);
    }

    [Fact]
    public void PeepholeOrderIsIOF()
    {
        float[] pyTorch = { 1, 2, 10, 20, 100, 200 };   // p_i, p_f, p_o for H = 2
        var onnx = new float[6];
        OnnxLayout.PeepholesFromPyTorch(pyTorch, 2, onnx);
        Assert.Equal(new float[] { 1, 2, 100, 200, 10, 20 }, onnx);
        var back = new float[6];
        OnnxLayout.PeepholesToPyTorch(onnx, 2, back);
        Assert.Equal(pyTorch, back);
    }
}

[LstmModel(InputSize = 8, HiddenSize = 32)] public partial class Lstm_8_32_1Probe { }
