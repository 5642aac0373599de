using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace LstmGen.Tests.Generator;

/// <summary>Issue 8: the WeightStorage option. An undefined value is LSTM013 at the argument; every defined value compiles.</summary>
public sealed class StorageDiagnosticTests
{
    [Theory]
    [InlineData("(WeightStorage)3", "3")]
    [InlineData("(WeightStorage)(-1)", "-1")]
    public void UndefinedStorageIsAnError(string value, string shown)
    {
        string argument = "WeightStorage = " + value;
        string source = $"using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 8, {argument})] public partial class Model {{ }}";
        var (diagnostics, output, _) = GeneratorHarness.Run(source);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM013", d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Contains($"WeightStorage value {shown} is not defined", d.GetMessage());
        Assert.Contains("Float32, BFloat16 or Int8", d.GetMessage());
        Assert.Equal(argument, source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
        Assert.Empty(output.SyntaxTrees.Skip(1));
    }

    [Theory]
    [InlineData("Float32", "PackLayer(")]
    [InlineData("BFloat16", "PackLayerBFloat16(")]
    [InlineData("Int8", "PackLayerInt8(")]
    public void EveryStorageCompilesForAGru(string storage, string packer)
    {
        string source = $"using LstmGen; [GruModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, Bidirectional = true, BatchSize = 2, WeightStorage = WeightStorage.{storage})] public partial class Model {{ }}";
        var (diagnostics, output, run) = GeneratorHarness.Run(source);
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        string emitted = string.Concat(run.GeneratedTrees.Select(t => t.ToString()));
        Assert.Contains(packer, emitted);
        Assert.Contains("CellKind.Gru", emitted); // the packers are told the GRU's gate table
    }

    [Theory]
    [InlineData("Float32", "PackLayer(", false)]
    [InlineData("BFloat16", "PackLayerBFloat16(", true)]
    [InlineData("Int8", "PackLayerInt8(", true)]
    public void EveryStorageCompilesWithItsOwnPackerAndKernels(string storage, string packer, bool reduced)
    {
        string source = $"using LstmGen; [LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, Bidirectional = true, ProjSize = 5, Peepholes = true, BatchSize = 2, WeightStorage = WeightStorage.{storage})] public partial class Model {{ }}";
        var (diagnostics, output, run) = GeneratorHarness.Run(source);
        Assert.Empty(diagnostics);
        string emitted = string.Concat(run.GeneratedTrees.Select(t => t.ToString()));
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Contains(packer, emitted);
        // reduced models keep a float32 pack for the trainer and name their inference kernels apart from the training ones
        Assert.Equal(reduced, emitted.Contains("PackedTrainingLength"));
        string tag = storage switch { "BFloat16" => "Bf16", "Int8" => "Int8", _ => "" };
        // float32 and bf16 recurrences are generated kernels over their weights; int8's products are the runtime's
        // Int8Product (integer dot products on quantized activations), followed by a generated cell-only kernel
        if (storage == "Int8")
        {
            Assert.Contains("Int8Product.MultiplyAdd(", emitted);
            Assert.Contains("internal static void CellOnly_17p5_peep(", emitted);
            Assert.DoesNotContain("internal static void RecurInt8_", emitted);
        }
        else
        {
            Assert.Contains($"internal static void Recur{tag}_3x17p5_peep(", emitted);
            Assert.DoesNotContain("Int8Product.", emitted);
        }
        // a reduced model's inference never reads float32 gate weights
        Assert.Equal(!reduced, emitted.Contains("internal static void Recur_3x17p5_peep("));
        // every storage projects with the runtime's InputProjection: bf16 with its widening variant, int8 with its product
        string widening = storage switch { "BFloat16" => "InputProjection.ProjectBFloat16(", "Int8" => "InputProjection.ProjectInt8(", _ => "" };
        if (reduced) Assert.Contains(widening, emitted);
        Assert.DoesNotContain($"internal static void Project{tag}_", emitted);
        Assert.Contains("InputProjection.Project(", emitted);
        // the trainer always runs float32 kernels
        Assert.Contains("internal static void RecurTrain_3x17p5_peep(", emitted);
    }
}
