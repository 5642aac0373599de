using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace LstmGen.Tests.Generator;

/// <summary>One test per diagnostic: the id, a message that says what to change, and the location of the offending argument.</summary>
public sealed class DiagnosticTests
{
    private static Diagnostic Single(string source, string id)
    {
        var (diagnostics, output, _) = GeneratorHarness.Run(source);
        var diagnostic = Assert.Single(diagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Empty(output.SyntaxTrees.Skip(1)); // nothing emitted for an invalid model
        return diagnostic;
    }

    private static string Located(Diagnostic d, string source) => source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length);

    [Fact]
    public void NotPartial()
    {
        const string source = "using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 4)] public class Model { }";
        var d = Single(source, "LSTM001");
        Assert.Contains("partial class Model", d.GetMessage());
        Assert.Equal("Model", Located(d, source));
    }

    [Theory]
    [InlineData("InputSize = 0, HiddenSize = 4", "InputSize = 0", "InputSize is 0")]
    [InlineData("InputSize = 2, HiddenSize = -3", "HiddenSize = -3", "HiddenSize is -3")]
    [InlineData("InputSize = 2, HiddenSize = 4, NumLayers = 0", "NumLayers = 0", "NumLayers is 0")]
    [InlineData("InputSize = 2, HiddenSize = 4, OutputSize = -1", "OutputSize = -1", "OutputSize is -1")]
    public void SizeNotPositive(string arguments, string argument, string message)
    {
        string source = $"using LstmGen; [LstmModel({arguments})] public partial class Model {{ }}";
        var d = Single(source, "LSTM002");
        Assert.Contains(message, d.GetMessage());
        Assert.Contains("at least", d.GetMessage());
        Assert.Equal(argument, Located(d, source));
    }

    [Theory]
    [InlineData("InputSize = 2, HiddenSize = 5000", "HiddenSize = 5000", "4096")]
    [InlineData("InputSize = 20000, HiddenSize = 4", "InputSize = 20000", "16384")]
    [InlineData("InputSize = 2, HiddenSize = 4, NumLayers = 17", "NumLayers = 17", "16")]
    public void SizeTooLarge(string arguments, string argument, string maximum)
    {
        string source = $"using LstmGen; [LstmModel({arguments})] public partial class Model {{ }}";
        var d = Single(source, "LSTM003");
        Assert.Contains("maximum of " + maximum, d.GetMessage());
        Assert.Equal(argument, Located(d, source));
    }

    [Fact]
    public void Nested()
    {
        const string source = "using LstmGen; public partial class Outer { [LstmModel(InputSize = 2, HiddenSize = 4)] public partial class Model { } }";
        var d = Single(source, "LSTM004");
        Assert.Contains("nested in 'Outer'", d.GetMessage());
    }

    [Fact]
    public void Generic()
    {
        const string source = "using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 4)] public partial class Model<T> { }";
        var d = Single(source, "LSTM004");
        Assert.Contains("without type parameters", d.GetMessage());
    }

    [Fact]
    public void ActivationWithoutHead()
    {
        const string source = "using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 4, OutputActivation = OutputActivation.Sigmoid)] public partial class Model { }";
        var d = Single(source, "LSTM005");
        Assert.Contains("set OutputSize", d.GetMessage());
        Assert.Equal("OutputActivation = OutputActivation.Sigmoid", Located(d, source));
    }

    [Fact]
    public void UndefinedActivation()
    {
        const string source = "using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 4, OutputSize = 1, OutputActivation = (OutputActivation)9)] public partial class Model { }";
        var d = Single(source, "LSTM006");
        Assert.Contains("value 9", d.GetMessage());
    }

    [Fact]
    public void MissingSize()
    {
        const string source = "using LstmGen; [LstmModel(InputSize = 2)] public partial class Model { }";
        var d = Single(source, "LSTM007");
        Assert.Contains("HiddenSize = <n>", d.GetMessage());
    }

    [Fact]
    public void TooManyParameters()
    {
        const string source = "using LstmGen; [LstmModel(InputSize = 16000, HiddenSize = 4000, NumLayers = 4)] public partial class Model { }";
        var d = Single(source, "LSTM008");
        Assert.Contains("reduce HiddenSize", d.GetMessage());
    }

    [Fact]
    public void SeveralProblemsAreAllReported()
    {
        const string source = "using LstmGen; [LstmModel(InputSize = 0, HiddenSize = 0)] public class Model { }";
        var (diagnostics, _, _) = GeneratorHarness.Run(source);
        Assert.Equal(new[] { "LSTM001", "LSTM002", "LSTM002" }, diagnostics.Select(d => d.Id).OrderBy(i => i));
    }
}
