using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Generator;

/// <summary>
/// Output baselines: the emitted source of a few representative models, checked in under <c>Generator/Baselines/</c>
/// and compared on every run, so a refactoring of the generator shows an empty diff of those files, or exactly the one
/// it intends. To accept a change, run the tests with <c>LSTMGEN_UPDATE_BASELINES=1</c> in the environment (it rewrites
/// the files in the source tree; the test then fails once, saying so) and review <c>git diff</c>.
/// </summary>
public sealed class BaselineTests(ITestOutputHelper output)
{
    /// <summary>Name → the attribute's arguments (and the AdditionalFiles it needs). Small sizes keep the files readable.</summary>
    public static readonly Dictionary<string, (string Arguments, string[] Files)> Cases = new()
    {
        ["Plain_1_16"] = ("InputSize = 1, HiddenSize = 16", Array.Empty<string>()),
        ["StackedHead_3_17_2_2"] = ("InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, OutputActivation = OutputActivation.Softmax, SequenceLength = 20", Array.Empty<string>()),
        ["EveryVariant_5_12_2"] = ("InputSize = 5, HiddenSize = 12, NumLayers = 2, Bidirectional = true, ProjSize = 5, Peepholes = true, LearnInitialState = true, " +
                                   "Dropout = 0.2f, RecurrentDropout = 0.1f, OutputSize = 2", Array.Empty<string>()),
        ["Batch_3_17_B3"] = ("InputSize = 3, HiddenSize = 17, BatchSize = 3, OutputSize = 1", Array.Empty<string>()),
        ["BFloat16_3_17_2_2"] = ("InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, WeightStorage = WeightStorage.BFloat16", Array.Empty<string>()),
        ["Int8_3_17_2_2"] = ("InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, WeightStorage = WeightStorage.Int8", Array.Empty<string>()),
        // a GRU (issue 19): [GruModel] with the same arguments as StackedHead, and the GRU's every option at once
        ["Gru_StackedHead_3_17_2_2"] = ("InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, OutputActivation = OutputActivation.Softmax, SequenceLength = 20", Array.Empty<string>()),
        ["Gru_EveryOption_5_12_2"] = ("InputSize = 5, HiddenSize = 12, NumLayers = 2, Bidirectional = true, LearnInitialState = true, Bias = false, Dropout = 0.2f, OutputSize = 2", Array.Empty<string>()),
        ["CompiledWeights_3_17_2_2"] = ("InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, Weights = \"compiled_f32.safetensors\"",
                                        new[] { "Weights/Assets/compiled_f32.safetensors" }),
    };

    public static IEnumerable<object[]> Names => Cases.Keys.Select(k => new object[] { k });

    private const string UpdateVariable = "LSTMGEN_UPDATE_BASELINES";

    [Theory]
    [MemberData(nameof(Names))]
    public void EmittedSourceMatchesBaseline(string name)
    {
        var (arguments, files) = Cases[name];
        string actual = Emit(name, arguments, files);
        string path = Path.Combine(BaselineDirectory(), name + ".g.cs.txt");

        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            string? before = File.Exists(path) ? Normalize(File.ReadAllText(path)) : null;
            if (before != actual)
            {
                File.WriteAllText(path, actual);
                Assert.Fail($"{name}: baseline {(before is null ? "written" : "rewritten")} ({path}); review it with git diff and run again without {UpdateVariable}.");
            }
            return;
        }

        Assert.True(File.Exists(path), $"{name}: no baseline at {path}; run the tests once with {UpdateVariable}=1 to write it.");
        string expected = Normalize(File.ReadAllText(path));
        if (expected == actual) return;
        string[] e = expected.Split('\n'), a = actual.Split('\n');
        int line = 0;
        while (line < e.Length && line < a.Length && e[line] == a[line]) line++;
        Assert.Fail($"{name}: the emitted source differs from {path} from line {line + 1} " +
                    $"(baseline {e.Length:N0} lines, emitted {a.Length:N0}).\n" +
                    $"baseline: {(line < e.Length ? e[line] : "<end>")}\nemitted:  {(line < a.Length ? a[line] : "<end>")}\n" +
                    $"If the change is intended, run the tests with {UpdateVariable}=1 and review git diff.");
    }

    /// <summary>
    /// Runs the generator on one model (namespace Demo, class Model) and returns, diagnostics-free, its sources: the
    /// model's file, then the shared kernel file, each under a header line with its hint name.
    /// </summary>
    private string Emit(string name, string arguments, string[] files)
    {
        string attribute = name.StartsWith("Gru_", StringComparison.Ordinal) ? "GruModel" : "LstmModel";
        string source = $"using LstmGen; namespace Demo; [{attribute}({arguments})] public partial class Model {{ }}";
        string[] paths = files.Select(f => Path.Combine(AppContext.BaseDirectory, f)).ToArray();
        var (diagnostics, compilation, run) = GeneratorHarness.Run(source, paths);
        Assert.True(diagnostics.IsEmpty, name + ": " + string.Join("\n", diagnostics));
        var sources = new[] { GeneratorHarness.ModelSource(run), GeneratorHarness.KernelSource(run) };
        var problems = compilation.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, name + ": " + string.Join("\n", problems.Take(10)));
        string text = string.Concat(sources.Select(s => $"// ==== {s.HintName} ====\n" + Normalize(s.SourceText.ToString())));
        output.WriteLine($"{name}: {text.Split('\n').Length:N0} lines, {System.Text.Encoding.UTF8.GetByteCount(text):N0} bytes");
        return text;
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n");

    /// <summary>The source folder of this file's Baselines/ (the compiler records this file's path).</summary>
    private static string BaselineDirectory([CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, "Baselines");
}
