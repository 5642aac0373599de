using System;
using System.IO;
using System.Linq;
using LstmGen.Onnx;
using LstmGen.Tests.Oracles;
using LstmGen.Weights;
using Microsoft.ML.OnnxRuntime;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Gru;

/// <summary>
/// A GRU's weights in other tools' layouts: Keras' GRU (reset_after=True) round trip and its semantics from Keras'
/// equations, the refusal of reset_after=False, ONNX's GRU inputs (OnnxLayout) and a whole exported .onnx file run in ONNX
/// Runtime against the model, safetensors with PyTorch names, and the parameters knowing their cell.
/// </summary>
public sealed class GruLayoutTests(ITestOutputHelper output)
{
    private static float[] Run(IRecurrentModelDriver model, GruCase c, float[] xs, int steps)
    {
        var ys = new float[steps * (c.O > 0 ? c.O : (c.Bidirectional ? 2 : 1) * c.H)];
        model.Forward(xs, model.NewState(), ys);
        return ys;
    }

    [Theory]
    [InlineData("Gru_3_17_2_Head3")]
    [InlineData("Gru_3_17_2_Bi")]
    [InlineData("Gru_3_17_2_NoBias")]
    public void KerasRoundTripIsExactAndNamesFollowKeras(string name)
    {
        var c = GruModels.Get(name);
        var model = c.Create(4);
        Assert.Equal(CellKind.Gru, model.Parameters.Cell);
        var keras = KerasLayout.Export(model.Parameters);
        string first = c.Bidirectional ? "bidirectional/forward_gru/kernel" : "gru/kernel";
        Assert.Equal(first, keras[0].Name);
        Assert.Equal(new[] { c.I, 3 * c.H }, keras[0].Shape);
        if (name != "Gru_3_17_2_NoBias") Assert.Equal(new[] { 2, 3 * c.H }, keras.Single(t => t.Name == (c.Bidirectional ? "bidirectional/forward_gru/bias" : "gru/bias")).Shape);
        var copy = c.Create(99);
        KerasLayout.Import(keras, copy.Parameters);
        Assert.True(copy.Parameters.Values.SequenceEqual(model.Parameters.Values));
    }

    /// <summary>
    /// Keras' GRU (reset_after=True) from its own equations, on the exported arrays: z = σ(x·K_z + b_z + h·U_z + b'_z),
    /// r = σ(x·K_r + b_r + h·U_r + b'_r), hh = tanh(x·K_h + b_h + r ⊙ (h·U_h + b'_h)), h = z ⊙ h + (1 − z) ⊙ hh, with
    /// kernel columns in blocks z, r, h and bias rows [input ; recurrent]. It gives the generated model's outputs.
    /// </summary>
    [Fact]
    public void KerasArraysComputeTheModelsOutputsByKerasEquations()
    {
        var c = GruModels.Get("Gru_3_17");
        var model = c.Create(8);
        var keras = KerasLayout.Export(model.Parameters).ToDictionary(t => t.Name);
        float[] k = keras["gru/kernel"].Values, u = keras["gru/recurrent_kernel"].Values, b = keras["gru/bias"].Values;
        int h = c.H, i = c.I, steps = 40;
        float[] xs = Models.Inputs(steps * i, 3);
        var hs = new double[h];
        double worst = 0;
        float[] ys = Run(model, c, xs, steps);
        for (int t = 0; t < steps; t++)
        {
            double Sum(int gate, int unit, bool recurrent)
            {
                double s = b[(recurrent ? 3 * h : 0) + gate * h + unit];
                if (recurrent) for (int j = 0; j < h; j++) s += hs[j] * u[j * 3 * h + gate * h + unit];
                else for (int j = 0; j < i; j++) s += xs[t * i + j] * k[j * 3 * h + gate * h + unit];
                return s;
            }
            var next = new double[h];
            for (int unit = 0; unit < h; unit++)
            {
                double z = 1 / (1 + Math.Exp(-(Sum(0, unit, false) + Sum(0, unit, true))));
                double r = 1 / (1 + Math.Exp(-(Sum(1, unit, false) + Sum(1, unit, true))));
                double hh = Math.Tanh(Sum(2, unit, false) + r * Sum(2, unit, true));
                next[unit] = z * hs[unit] + (1 - z) * hh;
                worst = Math.Max(worst, Math.Abs(next[unit] - ys[t * h + unit]));
            }
            hs = next;
        }
        output.WriteLine($"Keras-equation GRU on the exported arrays against the model: max |Δ| {worst:E2}");
        Assert.True(worst <= 1e-5, $"{worst:E3}");
    }

    [Fact]
    public void KerasResetAfterFalseIsRefusedWithWhatToDo()
    {
        var c = GruModels.Get("Gru_3_17");
        var model = c.Create(1);
        var keras = KerasLayout.Export(model.Parameters).Select(t => t.Name == "gru/bias" ? t with { Shape = [3 * c.H], Values = t.Values[..(3 * c.H)] } : t).ToArray();
        float[] before = model.Parameters.Values.ToArray();
        var ex = Assert.Throws<WeightsFormatException>(() => KerasLayout.Import(keras, model.Parameters));
        Assert.Contains("reset_after=False", ex.Message);
        Assert.Contains("reset_after=True", ex.Message);
        Assert.True(model.Parameters.Values.SequenceEqual(before)); // nothing written
    }

    [Theory]
    [InlineData("Gru_3_17_2_Head3")]
    [InlineData("Gru_3_17_2_Bi")]
    public void OnnxLayoutRoundTripIsExact(string name)
    {
        var c = GruModels.Get(name);
        var model = c.Create(5);
        var layers = OnnxLayout.Export(model.Parameters);
        Assert.Equal(c.L, layers.Count);
        Assert.Equal((c.Bidirectional ? 2 : 1) * 3 * c.H * c.I, layers[0].W.Length);
        Assert.Equal((c.Bidirectional ? 2 : 1) * 6 * c.H, layers[0].B!.Length);
        var copy = c.Create(6);
        OnnxLayout.Import(layers, copy.Parameters);
        // the head is not an ONNX GRU input: compare the GRU tensors
        foreach (var t in model.Parameters.Tensors.Where(t => !t.Name.StartsWith("fc.", StringComparison.Ordinal)))
            Assert.True(copy.Parameters[t.Name].Values.SequenceEqual(t.Values), t.Name);
    }

    [Theory]
    [InlineData("Gru_1_16")]
    [InlineData("Gru_17_3_2")]
    [InlineData("Gru_3_17_2_Head3")]
    [InlineData("Gru_3_17_2_Bi")]
    [InlineData("Gru_3_17_2_NoBias")]
    public void ExportedOnnxRunsInOnnxRuntimeWithTheModelsOutputs(string name)
    {
        Assert.True(OnnxOracle.IsAvailable, OnnxOracle.UnavailableReason);
        var c = GruModels.Get(name);
        var model = c.Create(77);
        byte[] onnx = OnnxExport.ToBytes(model.Parameters);
        const int steps = 60, batch = 3;
        int width = c.O > 0 ? c.O : (c.Bidirectional ? 2 : 1) * c.H, states = c.L * (c.Bidirectional ? 2 : 1);
        var sequences = Enumerable.Range(0, batch).Select(b => Models.Inputs(steps * c.I, (ulong)(10 + b))).ToArray();
        var xs = new float[steps * batch * c.I];
        for (int t = 0; t < steps; t++)
            for (int b = 0; b < batch; b++)
                Array.Copy(sequences[b], t * c.I, xs, (t * batch + b) * c.I, c.I);
        using var options = new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(onnx, options);
        Assert.Equal(new[] { "output", "h_n" }, session.OutputMetadata.Keys.ToArray());
        using var x = OrtValue.CreateTensorValueFromMemory(xs, new long[] { steps, batch, c.I });
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, new[] { "input" }, new[] { x }, new[] { "output", "h_n" });
        float[] y = results[0].GetTensorDataAsSpan<float>().ToArray(), hn = results[1].GetTensorDataAsSpan<float>().ToArray();
        double worst = 0;
        for (int b = 0; b < batch; b++)
        {
            var state = model.NewState();
            var ys = new float[steps * width];
            model.Forward(sequences[b], state, ys);
            for (int t = 0; t < steps; t++)
                for (int o = 0; o < width; o++)
                    worst = Math.Max(worst, Math.Abs(ys[t * width + o] - y[(t * batch + b) * width + o]));
            for (int s = 0; s < states; s++)
            {
                var hState = model.Hidden(state, s / (c.Bidirectional ? 2 : 1), s % (c.Bidirectional ? 2 : 1), 0);
                for (int unit = 0; unit < c.H; unit++) worst = Math.Max(worst, Math.Abs(hState[unit] - hn[(s * batch + b) * c.H + unit]));
            }
        }
        output.WriteLine($"{name}: max |ORT − LstmGen| over output and h_n = {worst:E2} ({onnx.Length:N0} bytes)");
        Assert.True(worst <= 1e-5, $"{name}: {worst:E3}");
    }

    [Fact]
    public void SafetensorsWithPyTorchNamesRoundTrip()
    {
        var c = GruModels.Get("Gru_3_17_2_Head3");
        var model = c.Create(3);
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"lstmgen-gru-{Environment.ProcessId}.safetensors");
        try
        {
            model.Parameters.SaveSafetensors(path);
            var copy = c.Create(4);
            copy.Parameters.LoadSafetensors(path);
            Assert.True(copy.Parameters.Values.SequenceEqual(model.Parameters.Values));
        }
        finally { System.IO.File.Delete(path); }
    }
}

/// <summary>A GuitarML-style amp model with a GRU (Automated-GuitarAmpModelling's SimpleRNN with unit_type GRU).</summary>
[GruModel(InputSize = 1, HiddenSize = 20, OutputSize = 1, Skip = 1)] public partial class GruAmp_1_20 { }

/// <summary>GRU weights from the field's files: GuitarML JSON at run time and compiled in, safetensors compiled in with the shape taken from the file.</summary>
public sealed class GruFileTests
{
    [Fact]
    public void GuitarMLJsonGruLoadsInOneLineAndLstmFilesAreRefused()
    {
        var source = new GruAmp_1_20(seed: 3);
        string json = Weights.GuitarMLJsonTests.Json(source.Parameters, 1, 20, 1, 1, 1, unit: "GRU");
        var model = new GruAmp_1_20();
        var info = LstmGen.Weights.GuitarMLJson.Load(System.Text.Encoding.UTF8.GetBytes(json), model.Parameters);
        Assert.Equal("GRU", info.UnitType);
        Assert.True(model.Parameters.Values.SequenceEqual(source.Parameters.Values));
        // an LSTM file for this GRU, and this GRU file for an LSTM: refused at the unit type, saying what to declare
        var lstm = new Weights.Amp_1_20(seed: 1);
        var e = Assert.Throws<WeightsFormatException>(() => LstmGen.Weights.GuitarMLJson.Load(System.Text.Encoding.UTF8.GetBytes(
            Weights.GuitarMLJsonTests.Json(lstm.Parameters, 1, 20, 1, 1, 1)), new GruAmp_1_20().Parameters));
        Assert.Equal("model_data.unit_type", e.Field);
        Assert.Contains("[LstmModel(", e.Message);
        e = Assert.Throws<WeightsFormatException>(() => LstmGen.Weights.GuitarMLJson.Load(System.Text.Encoding.UTF8.GetBytes(json), new Weights.Amp_1_20().Parameters));
        Assert.Contains("[GruModel(", e.Message);
    }

    [Fact]
    public void CompiledInGuitarMLJsonAndSafetensorsGiveTheFilesValues()
    {
        var source = new GruAmp_1_20(seed: 5);
        string dir = Path.Combine(Path.GetTempPath(), $"lstmgen-gru-files-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            string json = Path.Combine(dir, "amp.json");
            File.WriteAllText(json, Weights.GuitarMLJsonTests.Json(source.Parameters, 1, 20, 1, 1, 1, unit: "GRU"));
            string st = Path.Combine(dir, "amp.safetensors");
            source.Parameters.SaveSafetensors(st);
            byte[] expected = System.Runtime.InteropServices.MemoryMarshal.AsBytes(source.Parameters.Values).ToArray();
            foreach (var (attribute, file) in new[] { ("InputSize = 1, HiddenSize = 20, OutputSize = 1, Skip = 1, Weights = \"amp.json\"", json),
                                                     ("Skip = 1, Weights = \"amp.safetensors\"", st) })
            {
                string code = $"using LstmGen; [GruModel({attribute})] public partial class Model {{ }}";
                var (diagnostics, output, run) = Generator.GeneratorHarness.Run(code, file);
                Assert.Empty(diagnostics);
                Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= Microsoft.CodeAnalysis.DiagnosticSeverity.Warning));
                Assert.Equal(expected, Generator.GeneratorHarness.CompiledWeights(run));
            }
            // the GRU file compiled into an LSTM: LSTM030, naming [GruModel]
            string lstmCode = "using LstmGen; [LstmModel(InputSize = 1, HiddenSize = 20, OutputSize = 1, Skip = 1, Weights = \"amp.json\")] public partial class Model { }";
            var d = Assert.Single(Generator.GeneratorHarness.Run(lstmCode, json).GeneratorDiagnostics);
            Assert.Equal("LSTM030", d.Id);
            Assert.Contains("[GruModel(", d.GetMessage());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

/// <summary>The attribute's own diagnostics name the attribute the user wrote.</summary>
public sealed class GruDiagnosticTests
{
    [Theory]
    [InlineData("[GruModel(InputSize = 2, HiddenSize = 4)] public class Model { }", "LSTM001", "has [GruModel] but is not partial")]
    [InlineData("[GruModel(InputSize = 2, HiddenSize = 4)] public partial class Model<T> { }", "LSTM004", "declare the [GruModel] class")]
    [InlineData("[GruModel(InputSize = 2)] public partial class Model { }", "LSTM007", "[GruModel] needs HiddenSize")]
    public void MessagesNameGruModel(string declaration, string id, string text)
    {
        var (diagnostics, _, _) = Generator.GeneratorHarness.Run("using LstmGen; " + declaration);
        var d = Assert.Single(diagnostics);
        Assert.Equal(id, d.Id);
        Assert.Contains(text, d.GetMessage());
    }
}
