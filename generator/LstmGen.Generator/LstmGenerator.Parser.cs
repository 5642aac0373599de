using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using LstmGen.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LstmGen.Generator;

public sealed partial class LstmGenerator
{
    /// <summary>Maximum sizes, and why (also stated in the README's attribute reference).</summary>
    internal static class Limits
    {
        public const int MaxInputSize = 16384;
        public const int MaxHiddenSize = 4096;
        public const int MaxNumLayers = 16;
        public const int MaxOutputSize = 65536;
        public const long MaxParameters = 1L << 27; // 128 Mi floats = 512 MiB, plus a packed copy
        public const int MaxSequenceLength = 1_000_000;
        public const int MaxBatchSize = 256;
        public const string BatchReason = "each stream keeps its own state block; step more streams with several model states or several calls";
        public const string SequenceReason = "the trainer keeps every step's activations; train longer streams in windows with truncated BPTT (Trainer.CarryState)";
        public const string SizeReason = "larger shapes would need more than the 512 MiB of float32 weights a fixed-shape model is built for; use a smaller model or split it";
        public const string LayersReason = "each layer adds emitted code and sequential latency; 16 stacked layers is already far beyond what trains well";
    }

    internal static class Parser
    {
        /// <summary>Parses [LstmModel] or [GruModel] (<paramref name="cell"/>): the GRU attribute has the LSTM's properties but ProjSize, Peepholes and RecurrentDropout.</summary>
        public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CellKind cell, CancellationToken cancellationToken)
        {
            var classSyntax = (ClassDeclarationSyntax)context.TargetNode;
            var symbol = (INamedTypeSymbol)context.TargetSymbol;
            var diagnostics = ImmutableArray.CreateBuilder<DiagnosticInfo>();
            try
            {
                return ParseCore(context, cell, classSyntax, symbol, diagnostics, cancellationToken);
            }
            catch (System.OperationCanceledException)
            {
                throw;
            }
            catch (System.Exception ex)
            {
                diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.InternalError.Id, LocationInfo.From(classSyntax.Identifier.GetLocation()),
                    Args(symbol.Name, ex.GetType().Name + ": " + ex.Message)));
                return new ParseResult(null, new EquatableArray<DiagnosticInfo>(diagnostics.ToImmutable()));
            }
        }

        private static ParseResult ParseCore(GeneratorAttributeSyntaxContext context, CellKind cell, ClassDeclarationSyntax classSyntax, INamedTypeSymbol symbol,
            ImmutableArray<DiagnosticInfo>.Builder diagnostics, CancellationToken cancellationToken)
        {
            AttributeData attribute = context.Attributes[0];
            var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
            LocationInfo? classLocation = LocationInfo.From(classSyntax.Identifier.GetLocation());
            LocationInfo? attributeLocation = LocationInfo.From(attributeSyntax?.GetLocation()) ?? classLocation;

            string attributeName = cell == CellKind.Gru ? "GruModel" : "LstmModel";
            if (!classSyntax.Modifiers.Any(SyntaxKind.PartialKeyword))
                diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.NotPartial.Id, classLocation, Args(symbol.Name, attributeName)));
            if (symbol.ContainingType is not null)
                diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.NestedOrGeneric.Id, classLocation, Args(symbol.Name, "nested in '" + symbol.ContainingType.Name + "'", attributeName)));
            else if (symbol.IsGenericType)
                diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.NestedOrGeneric.Id, classLocation, Args(symbol.Name, "generic", attributeName)));

            int? inputSize = null, hiddenSize = null, numLayers = null, outputSize = null, activation = null, sequenceLength = null;
            bool bias = true, bidirectional = false, peepholes = false, learnInitial = false, learnInitialGiven = false;
            int? projSize = null, batchSize = null, storage = null, skip = null;
            float dropout = 0f, recurrentDropout = 0f;
            string? weights = null, lstmPrefix = null, headPrefix = null;
            foreach (var named in attribute.NamedArguments)
            {
                TypedConstant value = named.Value;
                switch (named.Key)
                {
                    case "InputSize": inputSize = value.Value as int?; break;
                    case "HiddenSize": hiddenSize = value.Value as int?; break;
                    case "NumLayers": numLayers = value.Value as int?; break;
                    case "OutputSize": outputSize = value.Value as int?; break;
                    case "Bias": bias = value.Value as bool? ?? true; break;
                    case "OutputActivation": activation = value.Value as int?; break;
                    case "SequenceLength": sequenceLength = value.Value as int?; break;
                    case "Bidirectional": bidirectional = value.Value as bool? ?? false; break;
                    case "ProjSize": projSize = value.Value as int?; break;
                    case "Peepholes": peepholes = value.Value as bool? ?? false; break;
                    case "Dropout": dropout = value.Value as float? ?? 0f; break;
                    case "RecurrentDropout": recurrentDropout = value.Value as float? ?? 0f; break;
                    case "BatchSize": batchSize = value.Value as int?; break;
                    case "LearnInitialState": learnInitial = value.Value as bool? ?? false; learnInitialGiven = true; break;
                    case "WeightStorage": storage = value.Value as int?; break;
                    case "Weights": weights = value.Value as string; break;     // compiled-in weights, see LstmGenerator.Weights.cs
                    case "LstmPrefix": lstmPrefix = value.Value as string; break;
                    case "GruPrefix": lstmPrefix = value.Value as string; break;
                    case "HeadPrefix": headPrefix = value.Value as string; break;
                    case "Skip": skip = value.Value as int?; break;
                }
            }

            LocationInfo? ArgLocation(string name)
            {
                var arg = attributeSyntax?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == name);
                return LocationInfo.From(arg?.GetLocation()) ?? attributeLocation;
            }

            void CheckSize(string name, int? value, int min, int max, string reason, bool required)
            {
                if (value is null)
                {
                    if (required)
                        diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.MissingSize.Id, attributeLocation, Args(name, attributeName)));
                    return;
                }
                if (value < min)
                    diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.SizeNotPositive.Id, ArgLocation(name), Args(name, Str(value.Value), Str(min))));
                else if (value > max)
                    diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.SizeTooLarge.Id, ArgLocation(name), Args(name, Str(value.Value), Str(max), reason)));
            }

            // With compiled-in weights, what the attribute leaves out of the model's shape comes from the file
            // (LstmGenerator.Weights.cs); checks that need such a value run there, once the file has given it.
            bool fromFile = !string.IsNullOrEmpty(weights);
            CheckSize("InputSize", inputSize, 1, Limits.MaxInputSize, Limits.SizeReason, required: !fromFile);
            CheckSize("HiddenSize", hiddenSize, 1, Limits.MaxHiddenSize, Limits.SizeReason, required: !fromFile);
            CheckSize("NumLayers", numLayers, 1, Limits.MaxNumLayers, Limits.LayersReason, required: false);
            CheckSize("OutputSize", outputSize, 0, Limits.MaxOutputSize, Limits.SizeReason, required: false);
            CheckSize("SequenceLength", sequenceLength, 0, Limits.MaxSequenceLength, Limits.SequenceReason, required: false);

            CheckSize("ProjSize", projSize, 0, Limits.MaxHiddenSize, Limits.SizeReason, required: false);
            CheckSize("BatchSize", batchSize, 1, Limits.MaxBatchSize, Limits.BatchReason, required: false);
            if (projSize > 0 && hiddenSize is > 0 && projSize >= hiddenSize)
                diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.ProjectionNotSmaller.Id, ArgLocation("ProjSize"), Args(Str(projSize.Value), Str(hiddenSize.Value))));
            void CheckProbability(string name, float p)
            {
                if (!(p >= 0f && p < 1f))
                    diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.InvalidDropout.Id, ArgLocation(name), Args(name, p.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
            }
            CheckProbability("Dropout", dropout);
            CheckProbability("RecurrentDropout", recurrentDropout);

            int act = activation ?? OutputActivationValues.None;
            if (act < 0 || act >= OutputActivationValues.Names.Length)
                diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.InvalidActivation.Id, ArgLocation("OutputActivation"), Args(Str(act))));
            else if (act != OutputActivationValues.None && (outputSize ?? 0) == 0 && !(fromFile && outputSize is null))
                diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.ActivationWithoutHead.Id, ArgLocation("OutputActivation"), Args(OutputActivationValues.Names[act])));

            if (skip is int k && !(fromFile && (outputSize is null || activation is null || inputSize is null))
                && SkipProblem(k, outputSize ?? 0, act, inputSize) is string why)
                diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.InvalidSkip.Id, ArgLocation("Skip"), Args(Str(k), why)));

            int store = storage ?? WeightStorageValues.Float32;
            if (store < 0 || store >= WeightStorageValues.Names.Length)
                diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.InvalidWeightStorage.Id, ArgLocation("WeightStorage"), Args(Str(store))));


            // Warnings first: they do not stop generation.
            var warnings = ImmutableArray.CreateBuilder<DiagnosticInfo>();
            if (dropout > 0f && (numLayers ?? 1) == 1)
                warnings.Add(new DiagnosticInfo(DiagnosticDescriptors.DropoutOneLayer.Id, ArgLocation("Dropout"), Args(dropout.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));

            var fileProperties = new System.Collections.Generic.List<string>();
            if (fromFile)
            {
                if (inputSize is null) fileProperties.Add("InputSize");
                if (hiddenSize is null) fileProperties.Add("HiddenSize");
                if (numLayers is null) fileProperties.Add("NumLayers");
                if (outputSize is null) fileProperties.Add("OutputSize");
                if (activation is null) fileProperties.Add("OutputActivation");
                if (skip is null) fileProperties.Add("Skip");
                if (!learnInitialGiven) fileProperties.Add("LearnInitialState");
            }
            if (diagnostics.Count == 0 && inputSize is not null && hiddenSize is not null)
            {
                // The same tensor list the emitter and compiled-in weights use (ModelPlan), summed in long.
                long count = ModelPlan.CountParameters(new LstmModelSpec(null, symbol.Name, "public", "", inputSize!.Value, hiddenSize!.Value,
                    numLayers ?? 1, bias, outputSize ?? 0, act, sequenceLength ?? 0, bidirectional, projSize ?? 0, peepholes, dropout,
                    recurrentDropout, batchSize ?? 1, learnInitial, store, cell));
                if (count > Limits.MaxParameters)
                    diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.TooManyParameters.Id, attributeLocation, Args(Str(count), Str(Limits.MaxParameters))));
            }

            if (diagnostics.Count > 0)
            {
                diagnostics.AddRange(warnings);
                return new ParseResult(null, new EquatableArray<DiagnosticInfo>(diagnostics.ToImmutable()));
            }

            string? ns = symbol.ContainingNamespace.IsGlobalNamespace ? null : symbol.ContainingNamespace.ToDisplayString();
            string accessibility = symbol.DeclaredAccessibility == Accessibility.Public ? "public" : "internal";
            string hintName = (ns is null ? "" : ns + ".") + symbol.Name + (cell == CellKind.Gru ? ".Gru.g.cs" : ".Lstm.g.cs");
            var spec = new LstmModelSpec(ns, symbol.Name, accessibility, hintName,
                inputSize ?? 0, hiddenSize ?? 0, numLayers ?? 1, bias, outputSize ?? 0, act, sequenceLength ?? 0,
                bidirectional, projSize ?? 0, peepholes, dropout, recurrentDropout, batchSize ?? 1, learnInitial, store, cell)
            {
                Weights = weights, LstmPrefix = lstmPrefix, HeadPrefix = headPrefix, Skip = skip ?? 0,
                FromFile = new EquatableArray<string>(fileProperties.ToImmutableArray()),
            };
            return new ParseResult(spec, new EquatableArray<DiagnosticInfo>(warnings.ToImmutable()), weights is null ? null : ArgLocation("Weights"));
        }

        private static string Str(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

        /// <summary>Why Skip = <paramref name="k"/> is not possible with these sizes (LSTM014), or null when it is.</summary>
        internal static string? SkipProblem(int k, int outputSize, int activation, int? inputSize) =>
            k == 0 ? null
            : k < 0 ? "it must be 0 (none) or the number of input channels added to the output"
            : outputSize == 0 ? "the skip connection adds the input to the dense head's output; give OutputSize"
            : activation != OutputActivationValues.None ? "the input would be added after OutputActivation has been applied; remove the activation (GuitarML's models have none)"
            : k != 1 && k != outputSize ? $"Skip must be 1 (x_t[0] added to every output) or OutputSize ({Str(outputSize)}: x_t[j] added to output j), as PyTorch broadcasts x[:, :, 0:skip]"
            : inputSize is int i && k > i ? $"only {Str(i)} input channel(s) exist; Skip must be at most InputSize"
            : null;

        private static EquatableArray<string> Args(params string[] values) => new(ImmutableArray.Create(values));
    }
}
