using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using LstmGen.Weights;
using Xunit;

namespace LstmGen.Tests.Weights;

// RTNeural / AIDA-X shapes: an amp snapshot (1 → LSTM(3) → Dense(1)), a conditioned stacked one with an awkward width and
// a tanh head, AIDA-X's skip connection, and LSTM layers without a dense layer.
[LstmModel(InputSize = 1, HiddenSize = 3, OutputSize = 1)] public partial class Rt_1_3 { }
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, OutputActivation = OutputActivation.Tanh)] public partial class Rt_3_17_2_Tanh { }
[LstmModel(InputSize = 1, HiddenSize = 3, OutputSize = 1, Skip = 1)] public partial class Rt_1_3_Skip { }
[LstmModel(InputSize = 2, HiddenSize = 5)] public partial class Rt_2_5_NoHead { }

/// <summary>
/// RTNeural's Keras-style JSON (<c>in_shape</c>, <c>layers</c>) written here as its exporters write it, loaded in one line
/// and checked against a double-precision evaluation of the file's own Keras layout (x·kernel, gates i, f, c, o), written
/// from Keras' documented LSTM, not through LstmGen's tensors.
/// </summary>
public sealed class RTNeuralJsonTests
{
    /// <summary>A Keras LSTM + Dense model's weights, as the file holds them.</summary>
    internal sealed class KerasModel
    {
        public int Inputs, Hidden, Outputs;
        public double[][][] Kernel = [], Recurrent = [];   // per layer: [inputs][4H], [H][4H]
        public double[][] Bias = [];                         // per layer: [4H]
        public double[][] DenseKernel = [];                  // [H][O]
        public double[] DenseBias = [];
        public string Activation = "";
        public int Skip;

        public static KerasModel Random(int inputs, int hidden, int layers, int outputs, int seed, string activation = "", int skip = 0)
        {
            var random = new Random(seed);
            double R() => (float)((random.NextDouble() * 2 - 1) * 0.6);
            double[][] M(int rows, int columns) => Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, columns).Select(_ => R()).ToArray()).ToArray();
            return new KerasModel
            {
                Inputs = inputs, Hidden = hidden, Outputs = outputs, Activation = activation, Skip = skip,
                Kernel = Enumerable.Range(0, layers).Select(k => M(k == 0 ? inputs : hidden, 4 * hidden)).ToArray(),
                Recurrent = Enumerable.Range(0, layers).Select(_ => M(hidden, 4 * hidden)).ToArray(),
                Bias = Enumerable.Range(0, layers).Select(_ => M(1, 4 * hidden)[0]).ToArray(),
                DenseKernel = M(hidden, outputs),
                DenseBias = M(1, outputs)[0],
            };
        }

        private static string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        private static string List(IEnumerable<double> v) => "[" + string.Join(", ", v.Select(Num)) + "]";
        private static string Lists(double[][] m) => "[" + string.Join(", ", m.Select(List)) + "]";

        /// <summary>The file, as RTNeural's Keras exporter writes it (an activation on the dense layer, or as its own layer).</summary>
        public string Json(bool activationLayer = false, string? extra = null)
        {
            var layers = new List<string>();
            for (int k = 0; k < Kernel.Length; k++)
                layers.Add($"{{\"type\": \"lstm\", \"activation\": \"tanh\", \"shape\": [null, null, {Hidden}], \"weights\": [{Lists(Kernel[k])}, {Lists(Recurrent[k])}, {List(Bias[k])}]}}");
            if (Outputs > 0)
            {
                layers.Add($"{{\"type\": \"dense\", \"activation\": \"{(activationLayer ? "" : Activation)}\", \"shape\": [null, null, {Outputs}], \"weights\": [{Lists(DenseKernel)}, {List(DenseBias)}]}}");
                if (activationLayer) layers.Add($"{{\"type\": \"activation\", \"activation\": \"{Activation}\", \"shape\": [null, null, {Outputs}], \"weights\": []}}");
            }
            return $"{{\"in_shape\": [null, null, {Inputs}], " + (Skip > 0 ? $"\"in_skip\": {Skip}, \"out_gain\": -6.5, " : "") +
                   $"\"layers\": [{string.Join(", ", layers)}]{extra ?? ""}}}";
        }

        private double[][]? _h, _c;

        /// <summary>One step in double: Keras' LSTM (z = x·kernel + h·recurrent + bias; i, f, c, o), then the dense layer.</summary>
        public double[] Step(double[] x)
        {
            _h ??= Kernel.Select(_ => new double[Hidden]).ToArray();
            _c ??= Kernel.Select(_ => new double[Hidden]).ToArray();
            static double S(double v) => 1 / (1 + Math.Exp(-v));
            double[] input = x;
            for (int k = 0; k < Kernel.Length; k++)
            {
                int H = Hidden;
                var z = (double[])Bias[k].Clone();
                for (int i = 0; i < input.Length; i++) for (int r = 0; r < 4 * H; r++) z[r] += input[i] * Kernel[k][i][r];
                for (int i = 0; i < H; i++) for (int r = 0; r < 4 * H; r++) z[r] += _h[k][i] * Recurrent[k][i][r];
                for (int u = 0; u < H; u++)
                {
                    _c[k][u] = S(z[H + u]) * _c[k][u] + S(z[u]) * Math.Tanh(z[2 * H + u]);
                    _h[k][u] = S(z[3 * H + u]) * Math.Tanh(_c[k][u]);
                }
                input = (double[])_h[k].Clone();
            }
            if (Outputs == 0) return input;
            var y = (double[])DenseBias.Clone();
            for (int i = 0; i < Hidden; i++) for (int o = 0; o < Outputs; o++) y[o] += input[i] * DenseKernel[i][o];
            if (Activation == "tanh") y = y.Select(Math.Tanh).ToArray();
            for (int s = 0; s < Skip; s++) y[s] += x[s];
            return y;
        }
    }

    private static float Signal(int t, int channel) => (float)(0.8 * Math.Exp(-(t % 4800) / 900.0) * Math.Sin(2 * Math.PI * (110 + 55 * channel) * t / 48000.0) + 0.1 * channel);

    private static void StreamsLikeTheFile<TState>(ILstmModel<TState> model, KerasModel file, int steps) where TState : class, ILstmState
    {
        var state = model.NewState();
        int outputs = file.Outputs > 0 ? file.Outputs : file.Hidden;
        var y = new float[outputs];
        double worst = 0;
        for (int t = 0; t < steps; t++)
        {
            float[] x = Enumerable.Range(0, file.Inputs).Select(c => Signal(t, c)).ToArray();
            model.Step(x, state, y);
            double[] expected = file.Step(x.Select(v => (double)v).ToArray());
            for (int o = 0; o < outputs; o++) worst = Math.Max(worst, Math.Abs(y[o] - expected[o]));
        }
        // float32 evaluation of a model with |w| ≤ 0.6: a few float32 roundings per step, not accumulating
        Assert.True(worst <= 2e-5, $"the model differs from the file's double-precision evaluation by {worst:E2}");
    }

    [Fact]
    public void AnAmpSnapshotLoadsInOneLineAndStreamsAsTheFileSays()
    {
        var file = KerasModel.Random(1, 3, 1, 1, seed: 1);
        string path = Path.Combine(Path.GetTempPath(), $"lstmgen-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, file.Json());
            var model = new Rt_1_3();
            var info = model.Parameters.LoadRTNeuralJson(path);
            Assert.Equal(new RTNeuralModelInfo(1, 3, 1, 1, OutputActivation.None, 0, null), info);
            // Keras' kernel is transposed into weight_ih; its one bias lands in bias_ih, bias_hh is zero
            Assert.Equal((float)file.Kernel[0][0][5], model.Parameters["weight_ih_l0"][5, 0]);
            Assert.Equal((float)file.Recurrent[0][2][7], model.Parameters["weight_hh_l0"][7, 2]);
            Assert.All(model.Parameters["bias_hh_l0"].Values.ToArray(), v => Assert.Equal(0f, v));
            StreamsLikeTheFile(model, file, 48_000);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AStackedConditionedModelWithATanhHeadStreamsAsTheFileSays(bool activationLayer)
    {
        var file = KerasModel.Random(3, 17, 2, 2, seed: 2, activation: "tanh");
        var model = new Rt_3_17_2_Tanh();
        var info = RTNeuralJson.Load(Encoding.UTF8.GetBytes(file.Json(activationLayer)), model.Parameters);
        Assert.Equal(new RTNeuralModelInfo(3, 17, 2, 2, OutputActivation.Tanh, 0, null), info);
        StreamsLikeTheFile(model, file, 10_000);
    }

    [Fact]
    public void AidaXsSkipConnectionAndGainAreReadAndTheSkipRuns()
    {
        var file = KerasModel.Random(1, 3, 1, 1, seed: 3, skip: 1);
        var model = new Rt_1_3_Skip();
        var info = RTNeuralJson.Load(Encoding.UTF8.GetBytes(file.Json()), model.Parameters);
        Assert.Equal(1, info.Skip);
        Assert.Equal(-6.5, info.OutputGainDb);
        StreamsLikeTheFile(model, file, 10_000);
    }

    [Fact]
    public void LstmLayersWithoutADenseLayerLoadAsAModelWithoutAHead()
    {
        var file = KerasModel.Random(2, 5, 1, 0, seed: 4);
        var model = new Rt_2_5_NoHead();
        Assert.Equal(0, RTNeuralJson.Load(Encoding.UTF8.GetBytes(file.Json()), model.Parameters).OutputSize);
        StreamsLikeTheFile(model, file, 5_000);
    }

    public static TheoryData<string, string, WeightsErrorKind, string> BadFiles()
    {
        var good = KerasModel.Random(1, 3, 1, 1, seed: 5);
        string json = good.Json();
        string Layer(string type, string activation = "") => $", {{\"type\": \"{type}\", \"activation\": \"{activation}\", \"shape\": [null, null, 1], \"weights\": []}}";
        string AddLayer(string layer) => json.Substring(0, json.LastIndexOf(']')) + layer + "]}";
        string relu = json.Replace("\"type\": \"dense\", \"activation\": \"\"", "\"type\": \"dense\", \"activation\": \"relu\"");
        return new TheoryData<string, string, WeightsErrorKind, string>
        {
            { "a GRU layer", json.Replace("\"type\": \"lstm\"", "\"type\": \"gru\""), WeightsErrorKind.ModelMismatch, "GRU" },
            { "a convolution", AddLayer(Layer("conv1d")), WeightsErrorKind.ModelMismatch, "'conv1d'" },
            { "a ReLU head", relu, WeightsErrorKind.ModelMismatch, "activation 'relu'" },
            { "a ReLU LSTM", json.Replace("\"type\": \"lstm\", \"activation\": \"tanh\"", "\"type\": \"lstm\", \"activation\": \"relu\""), WeightsErrorKind.ModelMismatch, "activation 'relu'" },
            { "a second dense layer", AddLayer(Layer("dense")), WeightsErrorKind.ModelMismatch, "second dense" },
            { "no layers", "{\"in_shape\": [null, null, 1]}", WeightsErrorKind.InvalidHeader, "no \"layers\"" },
            { "no in_shape", json.Replace("\"in_shape\": [null, null, 1], ", ""), WeightsErrorKind.InvalidHeader, "in_shape" },
            { "another size", KerasModel.Random(1, 4, 1, 1, 5).Json(), WeightsErrorKind.ModelMismatch, "HiddenSize = 4" },
            { "a tanh head the model lacks", KerasModel.Random(1, 3, 1, 1, 5, activation: "tanh").Json(), WeightsErrorKind.ModelMismatch, "OutputActivation = OutputActivation.Tanh" },
            { "a skip the model lacks", KerasModel.Random(1, 3, 1, 1, 5, skip: 1).Json(), WeightsErrorKind.ModelMismatch, "Skip = 1" },
            { "a kernel with a row too many", json.Replace("\"weights\": [[[", "\"weights\": [[[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], ["), WeightsErrorKind.ShapeMismatch, "(kernel)" },
            { "not JSON", json.Substring(0, json.Length / 2), WeightsErrorKind.InvalidHeader, "not valid JSON" },
        };
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void ABadFileIsASpecificErrorAndLeavesTheParametersAsTheyWere(string what, string json, WeightsErrorKind kind, string message)
    {
        var model = new Rt_1_3(seed: 7);
        float[] before = model.Parameters.Values.ToArray();
        var e = Assert.Throws<WeightsFormatException>(() => RTNeuralJson.Load(Encoding.UTF8.GetBytes(json), model.Parameters));
        Assert.True(e.Kind == kind, $"{what}: {e.Kind}: {e.Message}");
        Assert.Contains(message, e.Message);
        Assert.Equal(before, model.Parameters.Values.ToArray());
    }

    [Fact]
    public void ANonFiniteWeightIsANonFiniteValueError()
    {
        var file = KerasModel.Random(1, 3, 1, 1, seed: 8);
        file.Bias[0][2] = 1e39;   // rounds to float32 infinity
        var e = Assert.Throws<WeightsFormatException>(() => RTNeuralJson.Load(Encoding.UTF8.GetBytes(file.Json()), new Rt_1_3().Parameters));
        Assert.Equal(WeightsErrorKind.NonFiniteValue, e.Kind);
        Assert.Contains("(bias)", e.Message);
    }

    [Fact]
    public void ReadInfoNeedsNoModel()
    {
        var info = RTNeuralJson.ReadInfo(Encoding.UTF8.GetBytes(KerasModel.Random(3, 17, 2, 2, 9, activation: "tanh").Json(activationLayer: true)));
        Assert.Equal(new RTNeuralModelInfo(3, 17, 2, 2, OutputActivation.Tanh, 0, null), info);
    }
}

/// <summary>An RTNeural JSON file as compiled-in weights (<c>Weights = "amp.json"</c>): the run-time reader's values, its refusals as diagnostics.</summary>
public sealed class RTNeuralJsonCompiledTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lstmgen-rtneural-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string text)
    {
        string path = Path.Combine(_folder, "amp.json");
        File.WriteAllText(path, text);
        return path;
    }

    private static string Source(string attribute) => $"using LstmGen; [LstmModel({attribute}, Weights = \"amp.json\")] public partial class Amp {{ }}";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnRTNeuralModelCompilesInWithTheRunTimeReadersValues(bool activationLayer)
    {
        string text = RTNeuralJsonTests.KerasModel.Random(3, 17, 2, 2, seed: 11, activation: "tanh").Json(activationLayer);
        var (diagnostics, output, run) = LstmGen.Tests.Generator.GeneratorHarness.Run(
            Source("InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, OutputActivation = OutputActivation.Tanh"), Write(text));
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= Microsoft.CodeAnalysis.DiagnosticSeverity.Warning));
        var loaded = new Rt_3_17_2_Tanh();
        RTNeuralJson.Load(Encoding.UTF8.GetBytes(text), loaded.Parameters);
        byte[] compiled = LstmGen.Tests.Generator.GeneratorHarness.CompiledWeights(run);
        Assert.Equal(loaded.Parameters.Values.ToArray().SelectMany(BitConverter.GetBytes).ToArray(), compiled);   // little-endian here
    }

    [Theory]
    // what the attribute gives must agree with the file (what it leaves out comes from the file)
    [InlineData("InputSize = 1, HiddenSize = 4, OutputSize = 1", "LSTM031", "HiddenSize = 3")]
    [InlineData("InputSize = 1, HiddenSize = 3, OutputSize = 1, OutputActivation = OutputActivation.Sigmoid", "LSTM031", "OutputActivation = OutputActivation.None")]
    [InlineData("InputSize = 1, HiddenSize = 3, OutputSize = 1, Skip = 1", "LSTM031", "remove Skip")]
    [InlineData("InputSize = 1, HiddenSize = 3, OutputSize = 1, LearnInitialState = true", "LSTM031", "LearnInitialState = false")]
    // a model the file cannot fill: another kind of model
    [InlineData("InputSize = 1, HiddenSize = 3, OutputSize = 1, Bidirectional = true", "LSTM030", "declare [LstmModel(InputSize = 1, HiddenSize = 3, OutputSize = 1)]")]
    public void AnotherModelIsAnErrorWithWhatToDeclare(string attribute, string id, string advice)
    {
        var (diagnostics, _, _) = LstmGen.Tests.Generator.GeneratorHarness.Run(Source(attribute), Write(RTNeuralJsonTests.KerasModel.Random(1, 3, 1, 1, 12).Json()));
        var d = Assert.Single(diagnostics);
        Assert.Equal(id, d.Id);
        Assert.Contains(advice, d.GetMessage());
    }

    [Fact]
    public void AGruIsLstm030AndAShortKernelIsLstm024()
    {
        const string attribute = "InputSize = 1, HiddenSize = 3, OutputSize = 1";
        string json = RTNeuralJsonTests.KerasModel.Random(1, 3, 1, 1, 13).Json();
        var gru = Assert.Single(LstmGen.Tests.Generator.GeneratorHarness.Run(Source(attribute), Write(json.Replace("\"type\": \"lstm\"", "\"type\": \"gru\""))).GeneratorDiagnostics);
        Assert.Equal("LSTM030", gru.Id);
        Assert.Contains("GRU", gru.GetMessage());
        var longBias = RTNeuralJsonTests.KerasModel.Random(1, 3, 1, 1, 13);
        longBias.Bias[0] = longBias.Bias[0].Append(0.5).ToArray();   // 13 numbers where 4H = 12
        var bad = Assert.Single(LstmGen.Tests.Generator.GeneratorHarness.Run(Source(attribute), Write(longBias.Json())).GeneratorDiagnostics);
        Assert.Equal("LSTM024", bad.Id);
    }
}
