using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using LstmGen.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace LstmGen.Tests.Generator;

/// <summary>Runs the generator in memory on a source text and compiles the result.</summary>
internal static class GeneratorHarness
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        string tpa = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        return tpa.Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(LstmModelAttribute).Assembly.Location))
            .ToImmutableArray();
    });

    public static CSharpCompilation Compilation(string source) =>
        CSharpCompilation.Create("GeneratorTest",
            new[] { CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Preview), path: "Model.cs") },
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver Driver(params string[] additionalFiles) =>
        CSharpGeneratorDriver.Create(new[] { new LstmGenerator().AsSourceGenerator() },
            additionalTexts: additionalFiles.Select(p => (AdditionalText)new FileText(p)),
            parseOptions: new CSharpParseOptions(LanguageVersion.Preview),
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>An AdditionalFiles item on disk (the generator reads compiled-in weights as bytes from its path).</summary>
    private sealed class FileText(string path) : AdditionalText
    {
        public override string Path { get; } = path;
        public override Microsoft.CodeAnalysis.Text.SourceText? GetText(System.Threading.CancellationToken cancellationToken = default) =>
            Microsoft.CodeAnalysis.Text.SourceText.From(File.ReadAllText(Path));
    }

    /// <summary>The hint name of the assembly's shared compute-kernel file (one per compilation with models).</summary>
    public const string KernelFile = "LstmGen.Kernels.g.cs";

    /// <summary>The one model's own source (not the shared kernel file).</summary>
    /// <summary>The bytes of the model's compiled-in weights (<c>CompiledWeights => new byte[] { … }</c>) as the generator wrote them.</summary>
    public static byte[] CompiledWeights(GeneratorDriverRunResult run)
    {
        string generated = ModelSource(run).SourceText.ToString();
        int open = generated.IndexOf('{', generated.IndexOf("CompiledWeights => new byte[]", System.StringComparison.Ordinal));
        int close = generated.IndexOf('}', open);
        return generated.Substring(open + 1, close - open - 1).Split(new[] { ',', ' ', '\n', '\r' }, System.StringSplitOptions.RemoveEmptyEntries)
            .Select(t => byte.Parse(t, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    public static GeneratedSourceResult ModelSource(GeneratorDriverRunResult run) =>
        run.Results.Single().GeneratedSources.Single(s => s.HintName != KernelFile);

    /// <summary>The shared compute-kernel file.</summary>
    public static GeneratedSourceResult KernelSource(GeneratorDriverRunResult run) =>
        run.Results.Single().GeneratedSources.Single(s => s.HintName == KernelFile);

    /// <summary>Runs the generator; returns the generator's diagnostics, the output compilation and the generated sources.</summary>
    /// <param name="source">The C# source.</param>
    /// <param name="additionalFiles">Paths of files given as AdditionalFiles.</param>
    public static (ImmutableArray<Diagnostic> GeneratorDiagnostics, Compilation Output, GeneratorDriverRunResult Run) Run(string source, params string[] additionalFiles)
    {
        var compilation = Compilation(source);
        var driver = Driver(additionalFiles).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        return (diagnostics, output, driver.GetRunResult());
    }
}
