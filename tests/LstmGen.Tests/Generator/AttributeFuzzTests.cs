using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using LstmGen.Generator;
using Microsoft.CodeAnalysis;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Generator;

/// <summary>
/// Random attribute values against the generator: integers from the extremes to the edges of every limit, undefined enum
/// values, NaN and out-of-range probabilities, missing and repeated arguments, nested, generic and non-partial classes,
/// several models in one file. Whatever it is given, the generator never throws and never reports LSTM999, and every
/// model it accepts compiles without a warning or error in the generated code. Fixed seeds: a failure names its case.
/// </summary>
public sealed class AttributeFuzzTests(ITestOutputHelper output)
{
    private static readonly string[] Ints =
    {
        "int.MinValue", "-1", "0", "1", "2", "3", "17", "40", "65", "4097", "16385", "65537", "1000001", "int.MaxValue",
    };
    private static readonly string[] SmallInts = { "1", "2", "3", "5", "8", "17" };
    private static readonly string[] Floats = { "-0.5f", "0f", "0.3f", "0.999f", "1f", "float.NaN", "float.PositiveInfinity" };
    private static readonly string[] Activations = { "OutputActivation.None", "OutputActivation.Softmax", "OutputActivation.Tanh", "(OutputActivation)7", "(OutputActivation)(-1)" };
    private static readonly string[] Storages = { "WeightStorage.Float32", "WeightStorage.BFloat16", "WeightStorage.Int8", "(WeightStorage)3", "(WeightStorage)(-2)" };
    private static readonly string[] Bools = { "true", "false" };

    /// <summary>One random argument list. Sizes are drawn from the extremes half the time, else small (so most accepted
    /// models stay small enough to compile quickly).</summary>
    private static string Arguments(Random rng, bool gru = false)
    {
        var args = new List<string>();
        string Pick(string[] pool) => pool[rng.Next(pool.Length)];
        string Size() => rng.Next(2) == 0 ? Pick(Ints) : Pick(SmallInts);
        void Maybe(double p, string name, Func<string> value) { if (rng.NextDouble() < p) args.Add(name + " = " + value()); }
        Maybe(0.9, "InputSize", Size);
        Maybe(0.9, "HiddenSize", Size);
        Maybe(0.4, "NumLayers", () => rng.Next(2) == 0 ? Pick(Ints) : Pick(new[] { "1", "2", "3" }));
        Maybe(0.4, "OutputSize", Size);
        Maybe(0.3, "OutputActivation", () => Pick(Activations));
        Maybe(0.3, "SequenceLength", Size);
        Maybe(0.2, "Bias", () => Pick(Bools));
        Maybe(0.25, "Bidirectional", () => Pick(Bools));
        if (!gru) Maybe(0.25, "ProjSize", Size);
        if (!gru) Maybe(0.25, "Peepholes", () => Pick(Bools));
        Maybe(0.2, "Dropout", () => Pick(Floats));
        if (!gru) Maybe(0.2, "RecurrentDropout", () => Pick(Floats));
        Maybe(0.25, "BatchSize", () => rng.Next(2) == 0 ? Pick(Ints) : Pick(new[] { "1", "2", "3", "256", "257" }));
        Maybe(0.2, "LearnInitialState", () => Pick(Bools));
        Maybe(0.25, "WeightStorage", () => Pick(Storages));
        Maybe(0.05, "Weights", () => Pick(new[] { "\"\"", "\"missing.safetensors\"", "null" }));
        if (args.Count > 0 && rng.NextDouble() < 0.1) args.Add(args[rng.Next(args.Count)]);   // a repeated argument (CS0643)
        return string.Join(", ", args.OrderBy(_ => rng.Next()));
    }

    /// <summary>A file with one to three attributed classes in random forms (with <paramref name="mixed"/>, each an LSTM or a GRU).</summary>
    private static string Source(int seed, bool mixed = false)
    {
        var rng = new Random(seed);
        var sb = new StringBuilder("using LstmGen;\nnamespace Fuzz").Append(seed.ToString(CultureInfo.InvariantCulture)).Append(";\n");
        int models = 1 + rng.Next(3);
        for (int m = 0; m < models; m++)
        {
            bool gru = mixed && rng.Next(2) == 0;
            string attribute = gru ? $"[GruModel({Arguments(rng, gru: true)})]" : $"[LstmModel({Arguments(rng)})]";
            switch (rng.Next(8))
            {
                case 0: sb.Append("public class Outer").Append(m).Append(" { ").Append(attribute).Append(" public partial class M").Append(m).Append(" { } }\n"); break;
                case 1: sb.Append(attribute).Append(" public partial class M").Append(m).Append("<T> { }\n"); break;
                case 2: sb.Append(attribute).Append(" public class M").Append(m).Append(" { }\n"); break;
                case 3: sb.Append(attribute).Append(" internal partial class M").Append(m).Append(" { public int Extra => 1; }\n"); break;
                default: sb.Append(attribute).Append(" public partial class M").Append(m).Append(" { }\n"); break;
            }
        }
        return sb.ToString();
    }

    public static IEnumerable<object[]> Seeds => Enumerable.Range(1, 40).Select(s => new object[] { s });

    /// <summary>Files mixing [LstmModel] and [GruModel] classes (both pipelines feed the one shared kernel file).</summary>
    public static IEnumerable<object[]> MixedSeeds => Enumerable.Range(101, 20).Select(s => new object[] { s });

    [Theory]
    [MemberData(nameof(MixedSeeds))]
    public void MixedLstmAndGruFilesNeverThrowAndCompileCleanly(int seed) => Check(seed, mixed: true);

    [Theory]
    [MemberData(nameof(Seeds))]
    public void GeneratorNeverThrowsAndAcceptedModelsCompileCleanly(int seed) => Check(seed, mixed: false);

    private void Check(int seed, bool mixed)
    {
        string source = Source(seed, mixed);
        var (diagnostics, compilation, run) = GeneratorHarness.Run(source);
        var result = run.Results.Single();
        Assert.True(result.Exception is null, $"seed {seed}: the generator threw {result.Exception}\n{source}");
        Assert.DoesNotContain(diagnostics, d => d.Id == "LSTM999");
        foreach (var d in diagnostics)
            Assert.True(d.Id.StartsWith("LSTM", StringComparison.Ordinal) && d.Location.GetLineSpan().Path == "Model.cs", $"seed {seed}: diagnostic without a place in the source: {d}");

        // Every generated file compiles: no warning or error located in generated code (the user's own source may have
        // errors, e.g. a repeated named argument; those are not the generator's).
        var generatedTrees = result.GeneratedSources.Select(s => s.SyntaxTree).ToHashSet();
        var problems = compilation.GetDiagnostics()
            .Where(d => d.Severity >= DiagnosticSeverity.Warning && d.Location.SourceTree is { } tree && generatedTrees.Contains(tree))
            .ToList();
        Assert.True(problems.Count == 0, $"seed {seed}:\n{source}\n" + string.Join("\n", problems.Take(10)));
        output.WriteLine($"seed {seed}: {result.GeneratedSources.Length} model(s) generated, diagnostics {string.Join(" ", diagnostics.Select(d => d.Id))}\n{source}");
    }
}
