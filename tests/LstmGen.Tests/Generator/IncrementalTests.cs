using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LstmGen.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace LstmGen.Tests.Generator;

/// <summary>
/// Incremental behaviour, step by step: what an edit re-runs. An equivalent edit of the attributed file (a method body,
/// the class moved down) leaves the model Unchanged and the source Cached; a change of the attribute is Modified; an edit
/// of another file is Cached everywhere; a compiled-in weights file is read again only when the model changes.
/// </summary>
public sealed class IncrementalTests
{
    private const string Header = "using LstmGen;\nnamespace Demo;\n";
    private static readonly CSharpParseOptions Options = new(LanguageVersion.Preview);

    private static string WeightsAsset => Path.Combine(AppContext.BaseDirectory, "Weights", "Assets", "compiled_f32.safetensors");

    /// <summary>Runs the generator on <paramref name="before"/>, then on the compilation with Model.cs replaced by
    /// <paramref name="after"/> (or with Other.cs edited when <paramref name="after"/> is null); returns both runs.</summary>
    private static (GeneratorRunResult First, GeneratorRunResult Second) TwoRuns(string before, string? after, params string[] files)
    {
        var model = CSharpSyntaxTree.ParseText(before, Options, path: "Model.cs");
        var other = CSharpSyntaxTree.ParseText("namespace Demo; class Other { int F() => 1; }", Options, path: "Other.cs");
        var compilation = GeneratorHarness.Compilation("").RemoveAllSyntaxTrees().AddSyntaxTrees(model, other);
        GeneratorDriver driver = GeneratorHarness.Driver(files).RunGenerators(compilation);
        var first = driver.GetRunResult().Results.Single();
        var next = after is null
            ? compilation.ReplaceSyntaxTree(other, CSharpSyntaxTree.ParseText("namespace Demo; class Other { int F() => 2; }", Options, path: "Other.cs"))
            : compilation.ReplaceSyntaxTree(model, CSharpSyntaxTree.ParseText(after, Options, path: "Model.cs"));
        driver = driver.RunGenerators(next);
        return (first, driver.GetRunResult().Results.Single());
    }

    private static IEnumerable<IncrementalStepRunReason> Reasons(GeneratorRunResult run, string step) =>
        run.TrackedSteps.TryGetValue(step, out var steps) ? steps.SelectMany(s => s.Outputs).Select(o => o.Reason) : Enumerable.Empty<IncrementalStepRunReason>();

    private static IEnumerable<IncrementalStepRunReason> OutputReasons(GeneratorRunResult run) =>
        run.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs).Select(o => o.Reason);

    private static void AssertNotRerun(GeneratorRunResult run, params string[] steps)
    {
        foreach (string step in steps)
        {
            var reasons = Reasons(run, step).ToList();
            Assert.True(reasons.Count > 0, $"step {step} has no outputs");
            Assert.All(reasons, r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {r}"));
        }
        Assert.All(OutputReasons(run), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
    }

    public static TheoryData<string, string> EquivalentEdits => new()
    {
        {
            "method body",
            Header + "[LstmModel(InputSize = 3, HiddenSize = 17, OutputSize = 2)]\npublic partial class Model { public int F() => 1; }\n"
        },
        {
            "class moved down",
            Header + "\n\n// a comment above\nclass Before { }\n\n[LstmModel(InputSize = 3, HiddenSize = 17, OutputSize = 2)]\npublic partial class Model { public int F() => 2; }\n"
        },
    };

    [Theory]
    [MemberData(nameof(EquivalentEdits))]
    public void EquivalentEditOfTheAttributedFileLeavesTheModelUnchanged(string what, string after)
    {
        string before = Header + "[LstmModel(InputSize = 3, HiddenSize = 17, OutputSize = 2)]\npublic partial class Model { public int F() => 2; }\n";
        var (first, second) = TwoRuns(before, after);
        Assert.Contains(IncrementalStepRunReason.New, Reasons(first, LstmGenerator.TrackingNames.Models));
        Assert.True(Reasons(second, LstmGenerator.TrackingNames.Parse).Any(), what);
        AssertNotRerun(second, LstmGenerator.TrackingNames.Parse, LstmGenerator.TrackingNames.Models, LstmGenerator.TrackingNames.Weights);
    }

    [Fact]
    public void ChangeOfTheAttributeIsModified()
    {
        string before = Header + "[LstmModel(InputSize = 3, HiddenSize = 17)]\npublic partial class Model { }\n";
        var (_, second) = TwoRuns(before, before.Replace("HiddenSize = 17", "HiddenSize = 18"));
        Assert.Equal(new[] { IncrementalStepRunReason.Modified }, Reasons(second, LstmGenerator.TrackingNames.Models));
        Assert.Equal(new[] { IncrementalStepRunReason.Modified }, Reasons(second, LstmGenerator.TrackingNames.Weights));
        Assert.Contains(IncrementalStepRunReason.Modified, OutputReasons(second));
    }

    [Fact]
    public void EditOfAnotherFileIsCachedEverywhere()
    {
        string source = Header + "[LstmModel(InputSize = 3, HiddenSize = 17)]\npublic partial class Model { }\n";
        var (_, second) = TwoRuns(source, after: null);
        // Roslyn runs ForAttributeWithMetadataName's transform again for a new compilation even when the attributed
        // file did not change (its semantic model is new); the parse result is then Unchanged, and nothing after it runs.
        Assert.All(Reasons(second, LstmGenerator.TrackingNames.Parse),
            r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"Parse: {r}"));
        foreach (string step in new[] { LstmGenerator.TrackingNames.Models, LstmGenerator.TrackingNames.Weights })
            Assert.All(Reasons(second, step), r => Assert.True(r == IncrementalStepRunReason.Cached, $"{step}: {r}"));
        Assert.All(OutputReasons(second), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
    }

    [Fact]
    public void WeightsFileIsNotReadAgainWhenOnlyTheAttributeMoves()
    {
        string attribute = "[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, Weights = \"compiled_f32.safetensors\")]";
        string before = Header + attribute + "\npublic partial class Model { }\n";
        string after = Header + "\n\n\nclass Before { }\n" + attribute + "\npublic partial class Model { public int F() => 1; }\n";
        var (first, second) = TwoRuns(before, after, WeightsAsset);
        Assert.Empty(first.Diagnostics);
        Assert.Contains(IncrementalStepRunReason.New, Reasons(first, LstmGenerator.TrackingNames.Weights));
        // The Weights step (the only one that reads the file) is not re-run: its output is Cached.
        Assert.All(Reasons(second, LstmGenerator.TrackingNames.Weights), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
        AssertNotRerun(second, LstmGenerator.TrackingNames.Models);
        foreach (var step in new[] { LstmGenerator.TrackingNames.Parse, LstmGenerator.TrackingNames.Models, LstmGenerator.TrackingNames.Weights })
            foreach (var output in second.TrackedSteps[step].SelectMany(s => s.Outputs))
                EmitTests.AssertPlainData(output.Value);
    }

    [Fact]
    public void WeightsDiagnosticFollowsTheAttributeWhenItMoves()
    {
        string attribute = "[LstmModel(InputSize = 3, HiddenSize = 17, Weights = \"missing.safetensors\")]";
        string before = Header + attribute + "\npublic partial class Model { }\n";
        string after = Header + "\n\n\n" + attribute + "\npublic partial class Model { }\n";
        var (first, second) = TwoRuns(before, after);
        var d1 = Assert.Single(first.Diagnostics);
        var d2 = Assert.Single(second.Diagnostics);
        Assert.Equal("LSTM020", d1.Id);
        Assert.Equal("LSTM020", d2.Id);
        Assert.Equal(d1.Location.GetLineSpan().StartLinePosition.Line + 3, d2.Location.GetLineSpan().StartLinePosition.Line);
        Assert.Equal("Weights = \"missing.safetensors\"", after.Substring(d2.Location.SourceSpan.Start, d2.Location.SourceSpan.Length));
    }
}
