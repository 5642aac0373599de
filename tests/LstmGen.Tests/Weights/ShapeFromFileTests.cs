using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using LstmGen.Tests.Generator;
using LstmGen.Weights;
using Xunit;

namespace LstmGen.Tests.Weights;

/// <summary>
/// The shape-from-file rule of compiled-in weights: what <c>[LstmModel(Weights = "…")]</c> leaves out comes from the file
/// (a file name alone is a complete declaration), and what it gives must agree with the file (LSTM031, naming both).
/// The test of "comes from the file": the generated source of the short declaration is the full declaration's, character
/// for character.
/// </summary>
public sealed class ShapeFromFileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lstmgen-shape-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string name, byte[] content)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private static string Source(string attribute, string file) =>
        $"using LstmGen; [LstmModel({(attribute.Length > 0 ? attribute + ", " : "")}Weights = \"{file}\")] public partial class Amp {{ }}";

    /// <summary>The model's generated source for <paramref name="attribute"/> (no diagnostics allowed, and the output compiles cleanly).</summary>
    private static string Generated(string attribute, string path)
    {
        var (diagnostics, output, run) = GeneratorHarness.Run(Source(attribute, Path.GetFileName(path)), path);
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= Microsoft.CodeAnalysis.DiagnosticSeverity.Warning));
        return GeneratorHarness.ModelSource(run).SourceText.ToString();
    }

    private static string NamText()
    {
        var random = new Random(21);
        int count = 3 + 1 + 4 * 3 * (1 + 3) + 6 * 3;
        var values = Enumerable.Range(0, count).Select(_ => ((double)(float)(random.NextDouble() - 0.5)).ToString("R", CultureInfo.InvariantCulture));
        return "{\"version\": \"0.5.4\", \"architecture\": \"LSTM\", \"config\": {\"input_size\": 1, \"hidden_size\": 3, \"num_layers\": 1}, " +
               $"\"weights\": [{string.Join(", ", values)}], \"sample_rate\": 48000}}";
    }

    private static string GuitarMLText()
    {
        var model = new Amp_1_20(seed: 22);
        string Num(float v) => ((double)v).ToString("R", CultureInfo.InvariantCulture);
        string Tensor(ParameterTensor t) => t.Rank == 1 ? "[" + string.Join(", ", t.Values.ToArray().Select(Num)) + "]"
            : "[" + string.Join(", ", Enumerable.Range(0, t.Rows).Select(r => "[" + string.Join(", ", t.Values.Slice(r * t.Columns, t.Columns).ToArray().Select(Num)) + "]")) + "]";
        string dict = string.Join(", ", model.Parameters.Tensors.Select(t => $"\"{(t.Name.StartsWith("fc.", StringComparison.Ordinal) ? "lin." + t.Name[3..] : "rec." + t.Name)}\": {Tensor(t)}"));
        return "{\"model_data\": {\"model\": \"SimpleRNN\", \"input_size\": 1, \"skip\": 1, \"output_size\": 1, \"unit_type\": \"LSTM\", \"num_layers\": 1, \"hidden_size\": 20, \"bias_fl\": true}, " +
               $"\"state_dict\": {{{dict}}}}}";
    }

    public static TheoryData<string, string> Files() => new()
    {
        // format, the attribute that declares the file's model in full
        { "nam", "InputSize = 1, HiddenSize = 3, NumLayers = 1, OutputSize = 1, OutputActivation = OutputActivation.None, Skip = 0, LearnInitialState = true" },
        { "guitarml", "InputSize = 1, HiddenSize = 20, NumLayers = 1, OutputSize = 1, OutputActivation = OutputActivation.None, Skip = 1, LearnInitialState = false" },
        { "rtneural", "InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, OutputActivation = OutputActivation.Tanh, Skip = 0, LearnInitialState = false" },
        { "safetensors", "InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2" },
    };

    private string FileFor(string format) => format switch
    {
        "nam" => Write("amp.nam", Encoding.UTF8.GetBytes(NamText())),
        "guitarml" => Write("amp.json", Encoding.UTF8.GetBytes(GuitarMLText())),
        "rtneural" => Write("amp.json", Encoding.UTF8.GetBytes(RTNeuralJsonTests.KerasModel.Random(3, 17, 2, 2, seed: 23, activation: "tanh").Json())),
        _ => Write("amp.safetensors", Safetensors.ToBytes(new Rt_3_17_2_Tanh(seed: 24).Parameters)),
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void AFileNameAloneDeclaresTheFilesModel(string format, string full)
    {
        string path = FileFor(format);
        Assert.Equal(Generated(full, path), Generated("", path));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void PropertiesTheAttributeGivesAreKeptAndTheRestComeFromTheFile(string format, string full)
    {
        string path = FileFor(format);
        // any one property given (as the file has it), the others from the file
        foreach (string given in full.Split(", "))
            Assert.Equal(Generated(full, path), Generated(given, path));
    }

    [Theory]
    [InlineData("nam", "HiddenSize = 4", "HiddenSize = 3", "HiddenSize = 4")]
    [InlineData("nam", "LearnInitialState = false", "LearnInitialState = true", "LearnInitialState = false")]
    [InlineData("guitarml", "Skip = 0", "Skip = 1", "Skip = 0")]
    [InlineData("rtneural", "NumLayers = 1", "NumLayers = 2", "NumLayers = 1")]
    [InlineData("rtneural", "OutputActivation = OutputActivation.Sigmoid", "OutputActivation = OutputActivation.Tanh", "OutputActivation = OutputActivation.Sigmoid")]
    [InlineData("safetensors", "InputSize = 2", "InputSize = 3", "InputSize = 2")]
    [InlineData("safetensors", "OutputSize = 1", "OutputSize = 2", "OutputSize = 1")]
    public void ASizeThatDisagreesWithTheFileIsLstm031NamingBoth(string format, string attribute, string file, string declared)
    {
        string path = FileFor(format);
        var (diagnostics, _, _) = GeneratorHarness.Run(Source(attribute, Path.GetFileName(path)), path);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM031", d.Id);
        Assert.Contains(file, d.GetMessage());
        Assert.Contains(declared, d.GetMessage());
        Assert.Contains("remove", d.GetMessage());
    }

    [Fact]
    public void WithoutWeightsTheSizesAreStillRequired()
    {
        var (diagnostics, _, _) = GeneratorHarness.Run("using LstmGen; [LstmModel(HiddenSize = 4)] public partial class Amp { }");
        Assert.Equal("LSTM007", Assert.Single(diagnostics).Id);
    }

    [Fact]
    public void ASkipTheFileMakesImpossibleIsReportedAfterTheFileIsRead()
    {
        // the file has no head, so Skip = 1 (given) has nothing to add to: the parser's LSTM014, once the file said so
        string path = Write("bare.safetensors", Safetensors.ToBytes(new Rt_2_5_NoHead(seed: 25).Parameters));
        var (diagnostics, _, _) = GeneratorHarness.Run(Source("Skip = 1", "bare.safetensors"), path);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM014", d.Id);
        Assert.Contains("give OutputSize", d.GetMessage());
    }
}
