using Microsoft.CodeAnalysis;

namespace LstmGen.Generator;

/// <summary>Every diagnostic LstmGen reports. Each message says what to change.</summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "LstmGen";

    public static readonly DiagnosticDescriptor NotPartial = new(
        "LSTM001", "LSTM model class must be partial",
        "Class '{0}' has [{1}] but is not partial: declare it 'partial class {0}' so the generator can add the model's members",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor SizeNotPositive = new(
        "LSTM002", "LSTM size must be positive",
        "{0} is {1}: set it to a whole number of at least {2}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor SizeTooLarge = new(
        "LSTM003", "LSTM size above the supported maximum",
        "{0} is {1}, above the supported maximum of {2}: {3}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NestedOrGeneric = new(
        "LSTM004", "LSTM model class must be a top-level, non-generic class",
        "Class '{0}' is {1}: declare the [{2}] class at namespace level and without type parameters",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ActivationWithoutHead = new(
        "LSTM005", "Output activation needs a dense head",
        "OutputActivation is {0} but OutputSize is 0: set OutputSize to the number of outputs of the dense head, or remove OutputActivation",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidActivation = new(
        "LSTM006", "Unknown output activation",
        "OutputActivation value {0} is not defined: use OutputActivation.None, Sigmoid, Tanh or Softmax",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor MissingSize = new(
        "LSTM007", "Required LSTM size missing",
        "[{1}] needs {0}: add '{0} = <n>' to the attribute",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor TooManyParameters = new(
        "LSTM008", "LSTM model too large",
        "The model has {0} parameters, above the supported maximum of {1} (float arrays are indexed with int and each kernel width keeps a packed copy): reduce HiddenSize, InputSize or NumLayers",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ProjectionNotSmaller = new(
        "LSTM009", "ProjSize must be smaller than HiddenSize",
        "ProjSize is {0} but HiddenSize is {1}: a projection maps the {1} hidden units to fewer values, so set ProjSize between 1 and HiddenSize − 1, or 0 for none (PyTorch rejects proj_size >= hidden_size too)",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidDropout = new(
        "LSTM010", "Dropout probability out of range",
        "{0} is {1}: a dropout probability must be at least 0 and below 1 (0 turns it off)",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor DropoutOneLayer = new(
        "LSTM011", "Dropout has no effect with one layer",
        "Dropout is {0} but NumLayers is 1: dropout applies to the output of every layer except the last (as in PyTorch), so it does nothing here; stack layers, or use RecurrentDropout to regularise a single layer",
        Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidWeightStorage = new(
        "LSTM013", "Unknown weight storage",
        "WeightStorage value {0} is not defined: use WeightStorage.Float32, BFloat16 or Int8",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidSkip = new(
        "LSTM014", "Skip connection not possible",
        "Skip = {0} is not possible here: {1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    /// <summary>Not reported by the generator: the id of the <c>[Obsolete(error: true)]</c> on a bidirectional model's Step.</summary>
    public const string StepOnBidirectionalId = "LSTM012";

    public static readonly DiagnosticDescriptor InternalError = new(
        "LSTM999", "LstmGen generator failed",
        "The LstmGen generator failed on '{0}': {1}. Please report this with the attribute that caused it.",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static DiagnosticDescriptor ById(string id) => id switch
    {
        "LSTM001" => NotPartial,
        "LSTM002" => SizeNotPositive,
        "LSTM003" => SizeTooLarge,
        "LSTM004" => NestedOrGeneric,
        "LSTM005" => ActivationWithoutHead,
        "LSTM006" => InvalidActivation,
        "LSTM007" => MissingSize,
        "LSTM008" => TooManyParameters,
        "LSTM009" => ProjectionNotSmaller,
        "LSTM010" => InvalidDropout,
        "LSTM011" => DropoutOneLayer,
        "LSTM013" => InvalidWeightStorage,
        "LSTM014" => InvalidSkip,
        _ => WeightsDiagnostics.ById(id) ?? InternalError,
    };
}
