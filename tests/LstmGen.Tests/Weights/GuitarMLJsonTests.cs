using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using LstmGen.Weights;
using Xunit;

namespace LstmGen.Tests.Weights;

// The shapes GuitarML ships: NeuralPi/Proteus 1 → LSTM(20) → 1 with skip, and a knob-conditioned 3 → LSTM(40) × 2.
[LstmModel(InputSize = 1, HiddenSize = 20, OutputSize = 1, Skip = 1)] public partial class Amp_1_20 { }
[LstmModel(InputSize = 3, HiddenSize = 40, NumLayers = 2, OutputSize = 1, Skip = 1)] public partial class AmpKnobs_3_40_2 { }
[LstmModel(InputSize = 1, HiddenSize = 20, OutputSize = 1)] public partial class AmpNoSkip_1_20 { }

/// <summary>
/// GuitarML's JSON, written here the way CoreAudioML's <c>save_model</c> writes it (<c>model_data</c>, then the state
/// dict's float32 tensors as Python floats in nested lists, under <c>rec.</c> and <c>lin.</c>), loaded in one line.
/// </summary>
public sealed class GuitarMLJsonTests
{
    /// <summary>The JSON text of <paramref name="source"/>'s tensors as SimpleRNN.save_model writes them.</summary>
    internal static string Json(LstmParameters source, int inputs, int hidden, int layers, int outputs, int skip,
        bool headBias = true, string unit = "LSTM", Func<string, string?>? rename = null)
    {
        var b = new StringBuilder();
        b.Append("{\"model_data\": ").Append($"{{\"model\": \"SimpleRNN\", \"input_size\": {inputs}, \"skip\": {skip}, \"output_size\": {outputs}, \"unit_type\": \"{unit}\", \"num_layers\": {layers}, \"hidden_size\": {hidden}, \"bias_fl\": {(headBias ? "true" : "false")}}}");
        b.Append(", \"state_dict\": {");
        bool first = true;
        foreach (var t in source.Tensors)
        {
            string name = t.Name.StartsWith("fc.", StringComparison.Ordinal) ? "lin." + t.Name.Substring(3) : "rec." + t.Name;
            if (name == "lin.bias" && !headBias) continue;
            name = rename?.Invoke(name) ?? name;
            if (name.Length == 0) continue;
            if (!first) b.Append(", ");
            first = false;
            b.Append('"').Append(name).Append("\": ");
            var v = t.Values.ToArray();
            // Python's json writes float(x) of each float32 value: the double, shortest round-trip form
            string Num(float x) => ((double)x).ToString("R", CultureInfo.InvariantCulture);
            if (t.Rank == 1) b.Append('[').Append(string.Join(", ", Enumerable.Range(0, t.Rows).Select(i => Num(v[i])))).Append(']');
            else
                b.Append('[').Append(string.Join(", ", Enumerable.Range(0, t.Rows).Select(r =>
                    "[" + string.Join(", ", Enumerable.Range(0, t.Columns).Select(c => Num(v[r * t.Columns + c]))) + "]"))).Append(']');
        }
        b.Append("}}");
        return b.ToString();
    }

    private static byte[] Bytes(string json) => Encoding.UTF8.GetBytes(json);

    [Fact]
    public void AnAmpModelLoadsInOneLineBitForBitAndRunsWithItsSkip()
    {
        var source = new Amp_1_20(seed: 12);
        string path = Path.Combine(Path.GetTempPath(), $"lstmgen-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, Json(source.Parameters, 1, 20, 1, 1, skip: 1));
            var model = new Amp_1_20(seed: 99);
            var info = model.Parameters.LoadGuitarMLJson(path);
            Assert.Equal(new GuitarMLModelInfo("LSTM", 1, 20, 1, 1, 1, true), info);
            Assert.Equal(source.Parameters.Values.ToArray(), model.Parameters.Values.ToArray());

            float[] xs = Models.Inputs(500, 3);
            var a = new float[500];
            var b = new float[500];
            source.Forward(xs, source.NewState(), a);
            model.Forward(xs, model.NewState(), b);
            Assert.Equal(a, b);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void KnobConditionedTwoLayerModelLoads()
    {
        var source = new AmpKnobs_3_40_2(seed: 5);
        var model = new AmpKnobs_3_40_2(seed: 6);
        GuitarMLJson.Load(Bytes(Json(source.Parameters, 3, 40, 2, 1, 1)), model.Parameters);
        Assert.Equal(source.Parameters.Values.ToArray(), model.Parameters.Values.ToArray());
    }

    [Fact]
    public void WithoutAHeadBiasTheBiasIsZero()
    {
        var source = new Amp_1_20(seed: 12);
        var model = new Amp_1_20(seed: 3);
        var info = GuitarMLJson.Load(Bytes(Json(source.Parameters, 1, 20, 1, 1, 1, headBias: false)), model.Parameters);
        Assert.False(info.HeadBias);
        Assert.Equal(0f, model.Parameters["fc.bias"][0]);
        Assert.Equal(source.Parameters["fc.weight"].Values.ToArray(), model.Parameters["fc.weight"].Values.ToArray());
    }

    /// <summary>Every refusal leaves the parameters as they were.</summary>
    private static WeightsFormatException Refused(LstmParameters target, string json, WeightsErrorKind kind, string field)
    {
        var before = target.Values.ToArray();
        var e = Assert.Throws<WeightsFormatException>(() => GuitarMLJson.Load(Bytes(json), target));
        Assert.True(kind == e.Kind && field == e.Field, $"expected {kind} at '{field}', got {e.Kind} at '{e.Field}': {e.Message}");
        Assert.Equal(before, target.Values.ToArray());
        return e;
    }

    [Fact]
    public void ASkipTheModelDoesNotDeclareIsRefusedWithTheAttributeToWrite()
    {
        var source = new Amp_1_20(seed: 1);
        var e = Refused(new AmpNoSkip_1_20().Parameters, Json(source.Parameters, 1, 20, 1, 1, 1), WeightsErrorKind.ModelMismatch, "model_data.skip");
        Assert.Contains("Skip = 1", e.Message);
        var f = Refused(new Amp_1_20().Parameters, Json(source.Parameters, 1, 20, 1, 1, 0), WeightsErrorKind.ModelMismatch, "model_data.skip");
        Assert.Contains("remove Skip", f.Message);
    }

    [Fact]
    public void OtherSizesAreRefusedWithTheAttributeToWrite()
    {
        var source = new AmpKnobs_3_40_2(seed: 1);
        var e = Refused(new Amp_1_20().Parameters, Json(source.Parameters, 3, 40, 2, 1, 1), WeightsErrorKind.ModelMismatch, "model_data");
        Assert.Contains("[LstmModel(InputSize = 3, HiddenSize = 40, NumLayers = 2, OutputSize = 1, Skip = 1)]", e.Message);
    }

    [Fact]
    public void GruAndOtherArchitecturesAreRefused()
    {
        var source = new Amp_1_20(seed: 1);
        var e = Refused(new Amp_1_20().Parameters, Json(source.Parameters, 1, 20, 1, 1, 1, unit: "GRU"), WeightsErrorKind.ModelMismatch, "model_data.unit_type");
        Assert.Contains("GRU", e.Message);
        Refused(new Amp_1_20().Parameters, "{\"model_data\": {\"model\": \"GatedConvNet\", \"layers\": 9}}", WeightsErrorKind.ModelMismatch, "model_data.model");
        Refused(new Amp_1_20().Parameters, "{\"layers\": []}", WeightsErrorKind.InvalidHeader, "model_data");
    }

    [Fact]
    public void BrokenStateDictsNameTheTensor()
    {
        var p = new Amp_1_20(seed: 1).Parameters;
        var t = new Amp_1_20(seed: 2).Parameters;
        Refused(t, Json(p, 1, 20, 1, 1, 1, rename: n => n == "rec.bias_hh_l0" ? "" : n), WeightsErrorKind.MissingTensor, "rec.bias_hh_l0");
        Refused(t, Json(p, 1, 20, 1, 1, 1, rename: n => n == "lin.bias" ? "lin.bias2" : n), WeightsErrorKind.UnexpectedTensor, "lin.bias2");
        Refused(t, Json(p, 1, 20, 1, 1, 1).Replace("\"rec.weight_ih_l0\": [[", "\"rec.weight_ih_l0\": [[0.5, ", StringComparison.Ordinal), WeightsErrorKind.ShapeMismatch, "rec.weight_ih_l0");
        Refused(t, Json(p, 1, 20, 1, 1, 1).Replace("\"lin.bias\": [", "\"lin.bias\": [1e300, ", StringComparison.Ordinal), WeightsErrorKind.ShapeMismatch, "lin.bias");
        var nan = Refused(t, Json(p, 1, 20, 1, 1, 1).Replace("\"lin.bias\": [", "\"lin.bias\": [NaN, ", StringComparison.Ordinal), WeightsErrorKind.InvalidHeader, "json");
        Assert.Contains("NaN", nan.Message);
        Refused(t, "{\"model_data\": {\"model\": \"SimpleRNN\", \"input_size\": 1, \"skip\": 1, \"output_size\": 1, \"unit_type\": \"LSTM\", \"num_layers\": 1, \"hidden_size\": 20}}",
            WeightsErrorKind.InvalidHeader, "state_dict");
    }

    [Fact]
    public void OneLargeValueIsNotFinite()
    {
        var p = new Amp_1_20(seed: 1).Parameters;
        // a 2-element head bias for a 1-output model is a shape error; a single 1e300 in place of the value is non-finite
        string json = Json(p, 1, 20, 1, 1, 1);
        int at = json.IndexOf("\"lin.bias\": [", StringComparison.Ordinal) + "\"lin.bias\": [".Length;
        int end = json.IndexOf(']', at);
        Refused(p, json.Substring(0, at) + "1e300" + json.Substring(end), WeightsErrorKind.NonFiniteValue, "lin.bias");
        var e = Refused(p, json.Substring(0, at) + "\"0.5\"" + json.Substring(end), WeightsErrorKind.ShapeMismatch, "lin.bias");
        Assert.Contains("String where a number is expected", e.Message);
    }
}

/// <summary>The same files compiled in (<c>Weights = "amp.json"</c>): the generator reads them by the run-time reader's rules.</summary>
public sealed class GuitarMLJsonCompiledTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lstmgen-json-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string json)
    {
        string path = Path.Combine(_folder, "amp.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static string Source(string attribute) => $"using LstmGen; [LstmModel({attribute}, Weights = \"amp.json\")] public partial class Amp {{ }}";

    private static string Json(LstmParameters p, int inputs, int hidden, int layers, int outputs, int skip) =>
        GuitarMLJsonTests.Json(p, inputs, hidden, layers, outputs, skip);

    [Fact]
    public void AnAmpModelCompilesInWithTheRunTimeReadersValues()
    {
        var source = new Amp_1_20(seed: 12);
        string json = Json(source.Parameters, 1, 20, 1, 1, 1);
        var (diagnostics, output, run) = LstmGen.Tests.Generator.GeneratorHarness.Run(Source("InputSize = 1, HiddenSize = 20, OutputSize = 1, Skip = 1"), Write(json));
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= Microsoft.CodeAnalysis.DiagnosticSeverity.Warning));
        // the first compiled-in float is weight_ih_l0[0], little-endian, as the run-time reader reads it
        var loaded = new Amp_1_20(seed: 1);
        GuitarMLJson.Load(Encoding.UTF8.GetBytes(json), loaded.Parameters);
        byte[] compiled = LstmGen.Tests.Generator.GeneratorHarness.CompiledWeights(run);
        byte[] expected = loaded.Parameters.Values.ToArray().SelectMany(BitConverter.GetBytes).ToArray();   // little-endian here
        Assert.Equal(expected, compiled);
    }

    [Theory]
    // what the attribute gives must agree with the file (what it leaves out, such as Skip, comes from the file)
    [InlineData("InputSize = 1, HiddenSize = 20, OutputSize = 1, Skip = 0", "LSTM031", "Skip = 1")]
    [InlineData("InputSize = 2, HiddenSize = 20, OutputSize = 1, Skip = 1", "LSTM031", "InputSize = 1")]
    // a model the file cannot fill: another kind of model
    [InlineData("InputSize = 1, HiddenSize = 20, OutputSize = 1, Skip = 1, Bidirectional = true", "LSTM030", "declare [LstmModel(InputSize = 1, HiddenSize = 20, NumLayers = 1, OutputSize = 1, Skip = 1)]")]
    public void AnotherModelIsAnErrorWithWhatToDeclare(string attribute, string id, string advice)
    {
        string path = Write(Json(new Amp_1_20(seed: 3).Parameters, 1, 20, 1, 1, 1));
        var (diagnostics, _, _) = LstmGen.Tests.Generator.GeneratorHarness.Run(Source(attribute), path);
        var d = Assert.Single(diagnostics);
        Assert.Equal(id, d.Id);
        Assert.Contains(advice, d.GetMessage());
    }

    [Fact]
    public void MalformedJsonIsLstm021()
    {
        string path = Write("{\"model_data\": {\"model\": \"SimpleRNN\", NaN}");
        var (diagnostics, _, _) = LstmGen.Tests.Generator.GeneratorHarness.Run(Source("InputSize = 1, HiddenSize = 20, OutputSize = 1, Skip = 1"), path);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM021", d.Id);
        Assert.Contains("invalid JSON", d.GetMessage());
    }
}
