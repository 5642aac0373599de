using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace LstmGen.Tests.Generator;

/// <summary>Issue 6's diagnostics: invalid combinations are compile-time errors (or a warning) with an id, never runtime surprises.</summary>
public sealed class VariantDiagnosticTests
{
    private static string Located(Diagnostic d, string source) => source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length);

    [Theory]
    [InlineData("ProjSize = 8", "ProjSize is 8 but HiddenSize is 8")]
    [InlineData("ProjSize = 12", "ProjSize is 12 but HiddenSize is 8")]
    public void ProjectionNotSmaller(string argument, string message)
    {
        string source = $"using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 8, {argument})] public partial class Model {{ }}";
        var (diagnostics, output, _) = GeneratorHarness.Run(source);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM009", d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Contains(message, d.GetMessage());
        Assert.Contains("between 1 and HiddenSize − 1", d.GetMessage());
        Assert.Equal(argument, Located(d, source));
        Assert.Empty(output.SyntaxTrees.Skip(1));
    }

    [Theory]
    [InlineData("Dropout = 1f", "Dropout is 1")]
    [InlineData("Dropout = -0.1f", "Dropout is -0.1")]
    [InlineData("RecurrentDropout = 1.5f", "RecurrentDropout is 1.5")]
    [InlineData("RecurrentDropout = float.NaN", "RecurrentDropout is NaN")]
    public void InvalidDropout(string argument, string message)
    {
        string source = $"using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 8, NumLayers = 2, {argument})] public partial class Model {{ }}";
        var (diagnostics, _, _) = GeneratorHarness.Run(source);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM010", d.Id);
        Assert.Contains(message, d.GetMessage());
        Assert.Contains("below 1", d.GetMessage());
        Assert.Equal(argument, Located(d, source));
    }

    [Fact]
    public void BatchSizeOutOfRange()
    {
        const string source = "using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 8, BatchSize = 0)] public partial class Model { }";
        var d = Assert.Single(GeneratorHarness.Run(source).GeneratorDiagnostics);
        Assert.Equal("LSTM002", d.Id);
        Assert.Equal("BatchSize = 0", Located(d, source));
        const string large = "using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 8, BatchSize = 300)] public partial class Model { }";
        Assert.Equal("LSTM003", Assert.Single(GeneratorHarness.Run(large).GeneratorDiagnostics).Id);
    }

    [Fact]
    public void DropoutWithOneLayerWarnsAndStillGenerates()
    {
        const string source = "using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 8, Dropout = 0.5f)] public partial class Model { }";
        var (diagnostics, output, _) = GeneratorHarness.Run(source);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM011", d.Id);
        Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
        Assert.Contains("does nothing here", d.GetMessage());
        Assert.NotEmpty(output.SyntaxTrees.Skip(1));
        Assert.Empty(output.GetDiagnostics().Where(x => x.Severity == DiagnosticSeverity.Error));
    }

    [Fact]
    public void StepOnBidirectionalModelIsACompileTimeError()
    {
        const string source = """
            using LstmGen;
            [LstmModel(InputSize = 2, HiddenSize = 8, Bidirectional = true)] public partial class Model { }
            public static class Use
            {
                public static void Run() { var m = new Model(); m.Step(new float[2], m.NewState(), new float[16]); }
                public static void Whole() { var m = new Model(); m.Forward(new float[6], m.NewState(), new float[48]); }
            }
            """;
        var (generator, output, _) = GeneratorHarness.Run(source);
        Assert.Empty(generator);
        var errors = output.GetDiagnostics().Where(x => x.Severity == DiagnosticSeverity.Error).ToList();
        var d = Assert.Single(errors);
        Assert.Equal("LSTM012", d.Id);
        Assert.Contains("bidirectional", d.GetMessage());
        Assert.Contains("Call Forward", d.GetMessage());
        Assert.Contains("m.Step(", source.Substring(d.Location.SourceSpan.Start - 2, d.Location.SourceSpan.Length + 2));
    }
}
