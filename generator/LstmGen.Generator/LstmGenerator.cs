using System.Collections.Immutable;
using System.Linq;
using LstmGen.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LstmGen.Generator;

/// <summary>
/// Turns <c>[LstmModel(...)]</c> or <c>[GruModel(...)]</c> on a partial class into a fixed-shape LSTM or GRU: parse
/// (attribute to <see cref="LstmModelSpec"/>), then emit (spec to C#). Diagnostics travel as data on their own output.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class LstmGenerator : IIncrementalGenerator
{
    internal const string AttributeMetadataName = "LstmGen.LstmModelAttribute";
    internal const string GruAttributeMetadataName = "LstmGen.GruModelAttribute";

    /// <summary>Names of the pipeline steps, for caching tests.</summary>
    public static class TrackingNames
    {
        /// <summary>The attribute parsed into a model and diagnostics.</summary>
        public const string Parse = nameof(Parse);
        /// <summary>The valid models.</summary>
        public const string Models = nameof(Models);
        /// <summary>The diagnostics.</summary>
        public const string Diagnostics = nameof(Diagnostics);
        /// <summary>The models with their compiled-in weights resolved.</summary>
        public const string Weights = nameof(Weights);
        /// <summary>Each model's source and the compute kernels it calls.</summary>
        public const string Emit = nameof(Emit);
    }

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // One pipeline per attribute; their models' kernels are written into the one shared file.
        var lstm = Pipeline(context, context.SyntaxProvider
            .ForAttributeWithMetadataName(
                AttributeMetadataName,
                predicate: static (node, _) => node is ClassDeclarationSyntax,
                transform: static (ctx, ct) => Parser.Parse(ctx, CellKind.Lstm, ct)));
        var gru = Pipeline(context, context.SyntaxProvider
            .ForAttributeWithMetadataName(
                GruAttributeMetadataName,
                predicate: static (node, _) => node is ClassDeclarationSyntax,
                transform: static (ctx, ct) => Parser.Parse(ctx, CellKind.Gru, ct)));
        // The compute kernels of all models, each written once (SharedKernels.cs).
        var kernels = lstm.SelectMany(static (e, _) => e.Kernels).Collect().Combine(gru.SelectMany(static (e, _) => e.Kernels).Collect());
        context.RegisterSourceOutput(kernels, static (spc, pair) =>
        {
            var all = pair.Left.AddRange(pair.Right);
            if (all.IsEmpty) return;
            var (source, conflicts) = SharedKernels.Emit(all);
            foreach (string name in conflicts)
                spc.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InternalError, null, name, "two models emitted different code under this kernel name"));
            spc.AddSource(SharedKernels.HintName, source);
        });
    }

    /// <summary>Parse results to emitted models: diagnostics, compiled-in weights, each model's own source file.</summary>
    private static IncrementalValuesProvider<EmittedModel> Pipeline(IncrementalGeneratorInitializationContext context, IncrementalValuesProvider<ParseResult> parsed)
    {
        IncrementalValuesProvider<ParseResult> results = parsed.WithTrackingName(TrackingNames.Parse);

        IncrementalValuesProvider<LstmModelSpec> models = results
            .Where(static r => r.Model is not null)
            .Select(static (r, _) => r.Model!)
            .WithTrackingName(TrackingNames.Models);

        IncrementalValuesProvider<DiagnosticInfo> diagnostics = results
            .SelectMany(static (r, _) => r.Diagnostics)
            .WithTrackingName(TrackingNames.Diagnostics);

        // Compiled-in weights (LstmGenerator.Weights.cs): models naming a Weights file get its values or a diagnostic.
        IncrementalValuesProvider<WeightsResult> withWeights = models
            .Combine(context.AdditionalTextsProvider.Collect())
            .Select(static (pair, ct) => CompiledWeights.Resolve(pair.Left, pair.Right, ct))
            .WithTrackingName(TrackingNames.Weights);
        // Their diagnostics are reported at the Weights argument, whose place comes from the parse step: moving the
        // attribute re-runs only this report, never the file read above.
        IncrementalValueProvider<ImmutableArray<(string HintName, LocationInfo? Location)>> weightsLocations = results
            .Where(static r => r.Model is { Weights: not null })
            .Select(static (r, _) => (r.Model!.HintName, r.WeightsLocation))
            .Collect();
        context.RegisterSourceOutput(withWeights.Where(static r => r.Diagnostics.Count > 0).Combine(weightsLocations), static (spc, pair) =>
        {
            LocationInfo? location = null;
            foreach (var (hintName, at) in pair.Right)
                if (hintName == pair.Left.HintName) location = at;
            foreach (var d in pair.Left.Diagnostics)
                spc.ReportDiagnostic((d with { Location = d.Location ?? location }).ToDiagnostic());
        });
        models = withWeights.Where(static r => r.Model is not null).Select(static (r, _) => r.Model!);

        context.RegisterSourceOutput(diagnostics, static (spc, d) => spc.ReportDiagnostic(d.ToDiagnostic()));
        IncrementalValuesProvider<EmittedModel> emitted = models
            .Select(static (model, _) => EmitModel(model))
            .WithTrackingName(TrackingNames.Emit);
        context.RegisterSourceOutput(emitted, static (spc, e) =>
        {
            if (e.Error is not null)
                spc.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InternalError, null, e.ClassName, e.Error));
            else
                spc.AddSource(e.HintName, e.Source!);
        });
        return emitted;
    }

    /// <summary>Emits one model; the generator never throws: an emitter bug becomes a diagnostic naming the class.</summary>
    private static EmittedModel EmitModel(LstmModelSpec model)
    {
        try
        {
            var emitter = new Emitter(model);
            string source = emitter.Emit();
            return new EmittedModel(model.HintName, model.ClassName, source, null, emitter.Kernels);
        }
        catch (System.Exception ex)
        {
            return new EmittedModel(model.HintName, model.ClassName, null, ex.GetType().Name + ": " + ex.Message, default);
        }
    }
}
