using System;
using System.IO;
using System.Linq;
using LstmGen.Tests.Generator;
using LstmGen.Weights;
using Microsoft.CodeAnalysis;
using Xunit;

namespace LstmGen.Tests.Weights;

/// <summary>
/// Files saved from a larger PyTorch module name the LSTM and the head after their attributes, as GuitarML's
/// Automated-GuitarAmpModelling does (<c>self.rec = nn.LSTM(...)</c>, <c>self.lin = nn.Linear(...)</c>: <c>rec.weight_ih_l0</c>,
/// <c>lin.weight</c>). Both prefixes are detected at run time and at build time, by the same rules
/// (src/LstmGen/Weights/TensorPrefixes.cs); when they cannot be told apart the error names the candidates and the option.
/// </summary>
public sealed class PrefixDetectionTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lstmgen-prefix-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>A trained-looking source model's parameters under the given module prefixes, plus any extra tensors.</summary>
    private static byte[] File(LstmParameters source, string lstmPrefix, string headPrefix, Action<SafetensorsWriter>? extra = null)
    {
        var writer = Safetensors.CreateWriter(source, new SafetensorsSaveOptions { LstmPrefix = lstmPrefix, HeadPrefix = headPrefix });
        extra?.Invoke(writer);
        return writer.ToArray();
    }

    private static Head_3_17_1_4_Softmax Source() => new(seed: 41);

    [Theory]
    [InlineData("rec.", "lin.")]      // GuitarML / Automated-GuitarAmpModelling
    [InlineData("lstm.", "fc.")]
    [InlineData("", "linear.")]
    [InlineData("model.encoder.", "model.head.")]
    public void BothPrefixesAreDetected(string lstmPrefix, string headPrefix)
    {
        var source = Source();
        var target = new Head_3_17_1_4_Softmax(seed: 1);
        Safetensors.Load(File(source.Parameters, lstmPrefix, headPrefix), target.Parameters);
        Assert.Equal(source.Parameters.Values.ToArray(), target.Parameters.Values.ToArray());
    }

    [Fact]
    public void TwoHeadShapedPairsAreAnErrorThatNamesThemAndTheOption()
    {
        var source = Source();
        // a second Linear with the head's shapes (another module of the network)
        byte[] file = File(source.Parameters, "rec.", "lin.", w =>
        {
            w.Add("aux.weight", new long[] { 4, 17 }, new float[4 * 17]);
            w.Add("aux.bias", new long[] { 4 }, new float[4]);
        });
        var target = new Head_3_17_1_4_Softmax(seed: 1);
        var before = target.Parameters.Values.ToArray();
        var e = Assert.Throws<WeightsFormatException>(() => Safetensors.Load(file, target.Parameters, new SafetensorsOptions { AllowExtraTensors = true }));
        Assert.Equal(WeightsErrorKind.AmbiguousPrefix, e.Kind);
        Assert.Contains("'aux.', 'lin.'", e.Message);
        Assert.Contains("SafetensorsOptions.HeadPrefix", e.Message);
        Assert.Equal(before, target.Parameters.Values.ToArray());               // nothing written

        Safetensors.Load(file, target.Parameters, new SafetensorsOptions { HeadPrefix = "lin.", AllowExtraTensors = true });
        Assert.Equal(source.Parameters.Values.ToArray(), target.Parameters.Values.ToArray());
    }

    [Fact]
    public void NoHeadShapedPairSaysSoAndNamesTheOption()
    {
        // the head saved with 3 outputs where the model has 4: no pair has the head's shapes
        var other = new PrefixHead3(seed: 2);
        byte[] file = File(other.Parameters, "rec.", "lin.");
        var e = Assert.Throws<WeightsFormatException>(() => Safetensors.Load(file, new Head_3_17_1_4_Softmax(seed: 1).Parameters));
        Assert.Equal(WeightsErrorKind.MissingTensor, e.Kind);
        Assert.Equal("fc.weight", e.Field);
        Assert.Contains("SafetensorsOptions.HeadPrefix", e.Message);
    }

    [Fact]
    public void AnExplicitHeadPrefixIsUsedAsGiven()
    {
        var source = Source();
        var e = Assert.Throws<WeightsFormatException>(() =>
            Safetensors.Load(File(source.Parameters, "rec.", "lin."), new Head_3_17_1_4_Softmax(seed: 1).Parameters, new SafetensorsOptions { HeadPrefix = "fc." }));
        Assert.Equal(WeightsErrorKind.MissingTensor, e.Kind);
        Assert.Equal("fc.weight", e.Field);
    }

    // ---- compiled in: the same rules at build time ----

    private string Write(byte[] file)
    {
        string path = Path.Combine(_folder, "amp.safetensors");
        System.IO.File.WriteAllBytes(path, file);
        return path;
    }

    private static string ModelSource(string extra = "") =>
        $"using LstmGen; [LstmModel(InputSize = 3, HiddenSize = 17, OutputSize = 4, Weights = \"amp.safetensors\"{extra})] public partial class Amp {{ }}";

    [Fact]
    public void CompiledInWeightsDetectBothPrefixes()
    {
        string path = Write(File(Source().Parameters, "rec.", "lin."));
        var (diagnostics, output, _) = GeneratorHarness.Run(ModelSource(), path);
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
    }

    [Fact]
    public void CompiledInWeightsWithTwoHeadShapedPairsAreLstm029UntilHeadPrefixSaysWhich()
    {
        string path = Write(File(Source().Parameters, "rec.", "lin.", w =>
        {
            w.Add("aux.weight", new long[] { 4, 17 }, new float[4 * 17]);
            w.Add("aux.bias", new long[] { 4 }, new float[4]);
        }));
        var (diagnostics, _, _) = GeneratorHarness.Run(ModelSource(), path);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM029", d.Id);
        Assert.Contains("'aux.', 'lin.'", d.GetMessage());
        Assert.Contains("set HeadPrefix on [LstmModel]", d.GetMessage());

        // naming the head leaves the other pair as a tensor the model does not have (LSTM023), as at run time without AllowExtraTensors
        var (named, _, _) = GeneratorHarness.Run(ModelSource(", HeadPrefix = \"lin.\""), path);
        Assert.Equal("LSTM023", Assert.Single(named).Id);
    }

    [Fact]
    public void CompiledInWeightsUnderTwoLstmPrefixesAreLstm029()
    {
        string path = Write(File(Source().Parameters, "rec.", "lin.", w =>
            w.Add("old.weight_ih_l0", new long[] { 68, 3 }, new float[68 * 3])));
        var (diagnostics, _, _) = GeneratorHarness.Run(ModelSource(), path);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM029", d.Id);
        Assert.Contains("'old.', 'rec.'", d.GetMessage());
        Assert.Contains("set LstmPrefix on [LstmModel]", d.GetMessage());
    }

    [Fact]
    public void CompiledInWeightsWithAnExplicitPrefixThatIsNotThereNameIt()
    {
        string path = Write(File(Source().Parameters, "rec.", "lin."));
        var (diagnostics, _, _) = GeneratorHarness.Run(ModelSource(", LstmPrefix = \"lstm.\""), path);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM022", d.Id);
        Assert.Contains("'lstm.weight_ih_l0'", d.GetMessage());
        Assert.Contains("LstmPrefix or HeadPrefix", d.GetMessage());
    }
}

[LstmModel(InputSize = 3, HiddenSize = 17, OutputSize = 3)] public partial class PrefixHead3 { }
