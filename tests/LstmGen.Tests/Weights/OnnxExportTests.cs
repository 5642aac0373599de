using System;
using System.IO;
using System.Linq;
using LstmGen.Onnx;
using LstmGen.Tests.Oracles;
using Microsoft.ML.OnnxRuntime;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Weights;

/// <summary>The exported .onnx file runs in ONNX Runtime and gives the model's outputs, h_n and c_n within 1e-5.</summary>
public sealed class OnnxExportTests(ITestOutputHelper output)
{
    public static TheoryData<string> Shapes() => new() { "Lstm_1_1_1", "Lstm_3_17_1", "Lstm_5_40_3", "Head_8_32_2_1", "Head_3_17_1_4_Softmax", "Head_5_40_3_3_Sigmoid", "NoBias_3_17_2_2_Tanh" };

    private static (float[] Output, float[] HN, float[] CN) RunOrt(byte[] model, float[] xs, int steps, int batch, int inputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model, options);
        Assert.Equal(new[] { "input" }, session.InputMetadata.Keys.ToArray());
        Assert.Equal(new[] { "output", "h_n", "c_n" }, session.OutputMetadata.Keys.ToArray());
        using var x = OrtValue.CreateTensorValueFromMemory(xs, new long[] { steps, batch, inputs });
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, new[] { "input" }, new[] { x }, new[] { "output", "h_n", "c_n" });
        return (results[0].GetTensorDataAsSpan<float>().ToArray(), results[1].GetTensorDataAsSpan<float>().ToArray(), results[2].GetTensorDataAsSpan<float>().ToArray());
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ExportedModelRunsInOnnxRuntimeWithTheSameOutputs(string name)
    {
        Assert.True(OnnxOracle.IsAvailable, OnnxOracle.UnavailableReason);
        var c = Models.Get(name);
        var model = c.Create(77);
        byte[] onnx = OnnxExport.ToBytes(model.Parameters, new OnnxExportOptions { OutputActivation = c.Activation });
        const int steps = 60, batch = 3;
        // batch 3: three independent sequences, interleaved time-major as (T, B, I)
        var sequences = Enumerable.Range(0, batch).Select(b => Models.Inputs(steps * c.I, (ulong)(10 + b))).ToArray();
        var xs = new float[steps * batch * c.I];
        for (int t = 0; t < steps; t++)
            for (int b = 0; b < batch; b++)
                Array.Copy(sequences[b], t * c.I, xs, (t * batch + b) * c.I, c.I);
        var (y, hn, cn) = RunOrt(onnx, xs, steps, batch, c.I);

        double worst = 0;
        for (int b = 0; b < batch; b++)
        {
            var state = model.NewState();
            var ys = new float[steps * c.OutputLength];
            model.Forward(sequences[b], state, ys);
            for (int t = 0; t < steps; t++)
                for (int o = 0; o < c.OutputLength; o++)
                    worst = Math.Max(worst, Math.Abs(ys[t * c.OutputLength + o] - y[(t * batch + b) * c.OutputLength + o]));
            for (int l = 0; l < c.L; l++)
                for (int u = 0; u < c.H; u++)
                {
                    worst = Math.Max(worst, Math.Abs(state.Hidden(l)[u] - hn[(l * batch + b) * c.H + u]));
                    worst = Math.Max(worst, Math.Abs(state.Cell(l)[u] - cn[(l * batch + b) * c.H + u]));
                }
        }
        output.WriteLine($"{name}: max |ORT - LstmGen| over output, h_n, c_n = {worst:E2} ({onnx.Length:N0} bytes)");
        Assert.True(worst <= 1e-5, $"{name}: max |ORT - LstmGen| = {worst:E2} > 1e-5");
    }

    [Fact]
    public void SavedFileLoadsFromDisk()
    {
        Assert.True(OnnxOracle.IsAvailable, OnnxOracle.UnavailableReason);
        var model = new Head_8_32_2_1(seed: 3);
        string path = Path.Combine(Path.GetTempPath(), $"lstmgen-{Guid.NewGuid():N}.onnx");
        try
        {
            OnnxExport.Save(path, model.Parameters);
            using var session = new InferenceSession(path);
            Assert.Equal(3, session.OutputMetadata.Count);
            Assert.Equal(new[] { -1, -1, 8 }, session.InputMetadata["input"].Dimensions);   // sequence and batch are free
        }
        finally { File.Delete(path); }
    }
}
