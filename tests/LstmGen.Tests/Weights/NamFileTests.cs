using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using LstmGen.Weights;
using Xunit;

namespace LstmGen.Tests.Weights;

// Neural Amp Modeler's LSTM shapes: its test model (1 → LSTM(3)), and a stacked one with an awkward width.
[LstmModel(InputSize = 1, HiddenSize = 3, OutputSize = 1, LearnInitialState = true)] public partial class Nam_1_3 { }
[LstmModel(InputSize = 1, HiddenSize = 17, NumLayers = 2, OutputSize = 1, LearnInitialState = true)] public partial class Nam_1_17_2 { }
[LstmModel(InputSize = 1, HiddenSize = 3, OutputSize = 1)] public partial class NamNoInitial_1_3 { }
[LstmModel(InputSize = 1, HiddenSize = 3, OutputSize = 1, LearnInitialState = true, Skip = 1)] public partial class NamSkip_1_3 { }

/// <summary>
/// <c>.nam</c> files written here as Neural Amp Modeler exports an LSTM (<c>architecture</c>, <c>config</c>, one flat
/// <c>weights</c> list), loaded in one line and checked against a double-precision evaluation of the file's own layout
/// (NAM's semantics, written from its format description, not through LstmGen's tensors).
/// </summary>
public sealed class NamFileTests
{
    /// <summary>Random weights in the file's flat order, with a learned initial state far from zero.</summary>
    private static double[] FlatWeights(int inputs, int hidden, int layers, int seed)
    {
        var random = new Random(seed);
        int count = hidden + 1;
        for (int k = 0; k < layers; k++) count += 4 * hidden * ((k == 0 ? inputs : hidden) + hidden) + 6 * hidden;
        // float32 values, as torch exports them
        return Enumerable.Range(0, count).Select(_ => (double)(float)((random.NextDouble() * 2 - 1) * 0.6)).ToArray();
    }

    private static string Nam(double[] weights, int inputs, int hidden, int layers, string architecture = "LSTM", string? extra = null) =>
        "{\"version\": \"0.5.4\", \"metadata\": {\"name\": \"test\", \"gear_type\": \"amp\"}, \"architecture\": \"" + architecture + "\", " +
        $"\"config\": {{\"input_size\": {inputs}, \"hidden_size\": {hidden}, \"num_layers\": {layers}}}, " +
        "\"weights\": [" + string.Join(", ", weights.Select(w => w.ToString("R", CultureInfo.InvariantCulture))) + "]" +
        (extra ?? "") + ", \"sample_rate\": 48000}";

    /// <summary>The model a .nam file describes, evaluated in double straight from its flat weights list.</summary>
    private sealed class FlatReference
    {
        private readonly double[] _w;
        private readonly int _inputs, _hidden, _layers;
        private readonly double[][] _h, _c;
        private readonly int[] _start;
        private readonly int _head;

        public FlatReference(double[] weights, int inputs, int hidden, int layers)
        {
            (_w, _inputs, _hidden, _layers) = (weights, inputs, hidden, layers);
            _h = new double[layers][];
            _c = new double[layers][];
            _start = new int[layers];
            int at = 0;
            for (int k = 0; k < layers; k++)
            {
                _start[k] = at;
                int columns = (k == 0 ? inputs : hidden) + hidden;
                at += 4 * hidden * columns + 4 * hidden;
                _h[k] = weights.Skip(at).Take(hidden).ToArray();
                _c[k] = weights.Skip(at + hidden).Take(hidden).ToArray();
                at += 2 * hidden;
            }
            _head = at;
        }

        public double Step(double[] x)
        {
            double[] input = x;
            for (int k = 0; k < _layers; k++)
            {
                int columns = input.Length + _hidden, H = _hidden;
                double[] xh = input.Concat(_h[k]).ToArray();
                var a = new double[4 * H];
                for (int r = 0; r < 4 * H; r++)
                {
                    double sum = _w[_start[k] + 4 * H * columns + r];
                    for (int j = 0; j < columns; j++) sum += _w[_start[k] + r * columns + j] * xh[j];
                    a[r] = sum;
                }
                static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
                for (int u = 0; u < H; u++)
                {
                    _c[k][u] = Sigmoid(a[H + u]) * _c[k][u] + Sigmoid(a[u]) * Math.Tanh(a[2 * H + u]);
                    _h[k][u] = Sigmoid(a[3 * H + u]) * Math.Tanh(_c[k][u]);
                }
                input = _h[k];
            }
            double y = _w[_head + _hidden];
            for (int u = 0; u < _hidden; u++) y += _w[_head + u] * input[u];
            return y;
        }
    }

    /// <summary>A guitar-like test signal: decaying plucks of a few partials, with silence between them.</summary>
    private static float Signal(int t) => (float)(0.8 * Math.Exp(-(t % 4800) / 900.0) *
        (Math.Sin(2 * Math.PI * 110 * t / 48000.0) + 0.4 * Math.Sin(2 * Math.PI * 330 * t / 48000.0)));

    private static void StreamsLikeTheFile<TState>(ILstmModel<TState> model, double[] weights, int inputs, int hidden, int layers, int steps) where TState : class, ILstmState
    {
        var reference = new FlatReference(weights, inputs, hidden, layers);
        var state = model.NewState();
        var y = new float[1];
        double worst = 0;
        for (int t = 0; t < steps; t++)
        {
            float x = Signal(t);
            model.Step([x], state, y);
            worst = Math.Max(worst, Math.Abs(y[0] - reference.Step([x])));
        }
        // float32 evaluation of a model with |w| ≤ 0.6: a few float32 roundings per step, not accumulating
        Assert.True(worst <= 2e-5, $"the model differs from the file's double-precision evaluation by {worst:E2}");
    }

    [Fact]
    public void NeuralAmpModelersTestShapeLoadsInOneLineAndStreamsAsTheFileSays()
    {
        double[] weights = FlatWeights(1, 3, 1, seed: 1);
        string path = Path.Combine(Path.GetTempPath(), $"lstmgen-{Guid.NewGuid():N}.nam");
        try
        {
            File.WriteAllText(path, Nam(weights, 1, 3, 1));
            var model = new Nam_1_3();
            var info = model.Parameters.LoadNam(path);
            Assert.Equal(new NamModelInfo(1, 3, 1, 48000, "0.5.4"), info);
            // the summed bias lands in bias_ih, bias_hh is zero, and the learned state is the model's initial state
            Assert.Equal(weights.Skip(48).Take(12).Select(v => (float)v), model.Parameters["bias_ih_l0"].Values.ToArray());
            Assert.All(model.Parameters["bias_hh_l0"].Values.ToArray(), v => Assert.Equal(0f, v));
            Assert.Equal(weights.Skip(60).Take(3).Select(v => (float)v), model.NewState().Hidden(0).ToArray());
            Assert.Equal(weights.Skip(63).Take(3).Select(v => (float)v), model.NewState().Cell(0).ToArray());
            StreamsLikeTheFile(model, weights, 1, 3, 1, 48_000);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void AStackedModelLoadsAndStreamsAsTheFileSays()
    {
        double[] weights = FlatWeights(1, 17, 2, seed: 2);
        var model = new Nam_1_17_2();
        var info = NamFile.Load(Encoding.UTF8.GetBytes(Nam(weights, 1, 17, 2)), model.Parameters);
        Assert.Equal((1, 17, 2), (info.InputSize, info.HiddenSize, info.NumLayers));
        StreamsLikeTheFile(model, weights, 1, 17, 2, 20_000);
    }

    [Fact]
    public void ReadInfoNeedsNoModel()
    {
        var info = NamFile.ReadInfo(Encoding.UTF8.GetBytes(Nam(FlatWeights(1, 17, 2, 3), 1, 17, 2)));
        Assert.Equal(new NamModelInfo(1, 17, 2, 48000, "0.5.4"), info);
    }

    public static TheoryData<string, string, WeightsErrorKind, string> BadFiles()
    {
        string good = Nam(FlatWeights(1, 3, 1, 4), 1, 3, 1);
        return new TheoryData<string, string, WeightsErrorKind, string>
        {
            { "a WaveNet", Nam(FlatWeights(1, 3, 1, 4), 1, 3, 1, architecture: "WaveNet"), WeightsErrorKind.ModelMismatch, "'WaveNet'" },
            { "no architecture", "{\"config\": {}, \"weights\": []}", WeightsErrorKind.InvalidHeader, "not a Neural Amp Modeler" },
            { "another size", Nam(FlatWeights(1, 4, 1, 4), 1, 4, 1), WeightsErrorKind.ModelMismatch, "HiddenSize = 4" },
            { "a weight short", Nam(FlatWeights(1, 3, 1, 4).Skip(1).ToArray(), 1, 3, 1), WeightsErrorKind.ShapeMismatch, "has 69 numbers" },
            { "a string among the weights", FirstWeight(good, "\"0.5\""), WeightsErrorKind.ShapeMismatch, "String where a number" },
            { "a value beyond float32", Nam(new double[] { 1e39 }.Concat(FlatWeights(1, 3, 1, 4).Skip(1)).ToArray(), 1, 3, 1), WeightsErrorKind.NonFiniteValue, "layer 0" },
            { "a zero hidden size", good.Replace("\"hidden_size\": 3", "\"hidden_size\": 0"), WeightsErrorKind.InvalidHeader, "config.hidden_size" },
            { "not JSON", good.Substring(0, good.Length / 2), WeightsErrorKind.InvalidHeader, "not valid JSON" },
        };
    }

    /// <summary><paramref name="json"/> with its first weight replaced by the token <paramref name="token"/>.</summary>
    private static string FirstWeight(string json, string token)
    {
        int start = json.IndexOf("\"weights\": [", StringComparison.Ordinal) + "\"weights\": [".Length;
        return json.Substring(0, start) + token + json.Substring(json.IndexOf(',', start));
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void ABadFileIsASpecificErrorAndLeavesTheParametersAsTheyWere(string what, string json, WeightsErrorKind kind, string message)
    {
        var model = new Nam_1_3(seed: 7);
        float[] before = model.Parameters.Values.ToArray();
        var e = Assert.Throws<WeightsFormatException>(() => NamFile.Load(Encoding.UTF8.GetBytes(json), model.Parameters));
        Assert.True(e.Kind == kind, $"{what}: {e.Kind}: {e.Message}");
        Assert.Contains(message, e.Message);
        Assert.Equal(before, model.Parameters.Values.ToArray());
    }

    [Fact]
    public void AModelWithoutAPlaceForTheLearnedStateIsToldHowToDeclareIt()
    {
        var model = new NamNoInitial_1_3();
        var e = Assert.Throws<WeightsFormatException>(() => NamFile.Load(Encoding.UTF8.GetBytes(Nam(FlatWeights(1, 3, 1, 5), 1, 3, 1)), model.Parameters));
        Assert.Equal(WeightsErrorKind.ModelMismatch, e.Kind);
        Assert.Contains("LearnInitialState = true", e.Message);
    }

    [Fact]
    public void AModelWithASkipConnectionIsRefused()
    {
        var model = new NamSkip_1_3();
        var e = Assert.Throws<WeightsFormatException>(() => NamFile.Load(Encoding.UTF8.GetBytes(Nam(FlatWeights(1, 3, 1, 6), 1, 3, 1)), model.Parameters));
        Assert.Equal(WeightsErrorKind.ModelMismatch, e.Kind);
        Assert.Contains("remove Skip", e.Message);
    }

    [Fact]
    public void InvalidUtf8IsAFormatError()
    {
        byte[] bytes = Encoding.UTF8.GetBytes(Nam(FlatWeights(1, 3, 1, 8), 1, 3, 1));
        bytes[20] = 0xFF;
        var e = Assert.Throws<WeightsFormatException>(() => NamFile.Load(bytes, new Nam_1_3().Parameters));
        Assert.Equal(WeightsErrorKind.InvalidHeader, e.Kind);
    }
}

/// <summary>A .nam file as compiled-in weights (<c>Weights = "amp.nam"</c>): the run-time reader's values, its refusals as diagnostics.</summary>
public sealed class NamFileCompiledTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lstmgen-nam-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string text)
    {
        string path = Path.Combine(_folder, "amp.nam");
        File.WriteAllText(path, text);
        return path;
    }

    private static string Source(string attribute) => $"using LstmGen; [LstmModel({attribute}, Weights = \"amp.nam\")] public partial class Amp {{ }}";

    private static string NamText(int hidden, int layers, int seed, string architecture = "LSTM")
    {
        var random = new Random(seed);
        int count = hidden + 1;
        for (int k = 0; k < layers; k++) count += 4 * hidden * ((k == 0 ? 1 : hidden) + hidden) + 6 * hidden;
        var values = Enumerable.Range(0, count).Select(_ => ((double)(float)(random.NextDouble() - 0.5)).ToString("R", CultureInfo.InvariantCulture));
        return $"{{\"version\": \"0.5.4\", \"architecture\": \"{architecture}\", \"config\": {{\"input_size\": 1, \"hidden_size\": {hidden}, \"num_layers\": {layers}}}, " +
               $"\"weights\": [{string.Join(", ", values)}], \"sample_rate\": 48000}}";
    }

    [Fact]
    public void ANamModelCompilesInWithTheRunTimeReadersValues()
    {
        string text = NamText(3, 1, 11);
        var (diagnostics, output, run) = LstmGen.Tests.Generator.GeneratorHarness.Run(Source("InputSize = 1, HiddenSize = 3, OutputSize = 1, LearnInitialState = true"), Write(text));
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= Microsoft.CodeAnalysis.DiagnosticSeverity.Warning));
        var loaded = new Nam_1_3();
        NamFile.Load(Encoding.UTF8.GetBytes(text), loaded.Parameters);
        byte[] compiled = LstmGen.Tests.Generator.GeneratorHarness.CompiledWeights(run);
        Assert.Equal(loaded.Parameters.Values.ToArray().SelectMany(BitConverter.GetBytes).ToArray(), compiled);   // little-endian here
    }

    [Theory]
    // what the attribute gives must agree with the file (what it leaves out comes from the file)
    [InlineData("InputSize = 1, HiddenSize = 3, OutputSize = 1, LearnInitialState = false", "LSTM031", "LearnInitialState = true")]
    [InlineData("InputSize = 1, HiddenSize = 4, OutputSize = 1, LearnInitialState = true", "LSTM031", "HiddenSize = 3")]
    [InlineData("InputSize = 1, HiddenSize = 3, OutputSize = 1, LearnInitialState = true, Skip = 1", "LSTM031", "remove Skip")]
    // a model the file cannot fill: another kind of model
    [InlineData("InputSize = 1, HiddenSize = 3, OutputSize = 1, Peepholes = true", "LSTM030", "LearnInitialState = true")]
    public void AnotherModelIsAnErrorWithWhatToDeclare(string attribute, string id, string advice)
    {
        var (diagnostics, _, _) = LstmGen.Tests.Generator.GeneratorHarness.Run(Source(attribute), Write(NamText(3, 1, 12)));
        var d = Assert.Single(diagnostics);
        Assert.Equal(id, d.Id);
        Assert.Contains(advice, d.GetMessage());
    }

    [Fact]
    public void AWaveNetIsLstm030AndAShortListIsLstm024()
    {
        const string attribute = "InputSize = 1, HiddenSize = 3, OutputSize = 1, LearnInitialState = true";
        var wavenet = Assert.Single(LstmGen.Tests.Generator.GeneratorHarness.Run(Source(attribute), Write(NamText(3, 1, 13, "WaveNet"))).GeneratorDiagnostics);
        Assert.Equal("LSTM030", wavenet.Id);
        Assert.Contains("WaveNet", wavenet.GetMessage());
        string shortList = NamText(3, 1, 14).Replace("\"weights\": [", "\"weights\": [0.5, ");
        var extra = Assert.Single(LstmGen.Tests.Generator.GeneratorHarness.Run(Source(attribute), Write(shortList)).GeneratorDiagnostics);
        Assert.Equal("LSTM024", extra.Id);
    }
}
