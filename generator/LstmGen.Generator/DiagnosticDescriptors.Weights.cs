using Microsoft.CodeAnalysis;

namespace LstmGen.Generator;

/// <summary>Diagnostics of compiled-in weights (<c>[LstmModel(Weights = "file.safetensors")]</c>), LSTM020–LSTM031.</summary>
internal static class WeightsDiagnostics
{
    private const string Category = "LstmGen";

    public static readonly DiagnosticDescriptor FileNotFound = new(
        "LSTM020", "Weights file not found",
        "Weights file '{0}' is not among the project's AdditionalFiles: add <AdditionalFiles Include=\"{0}\" /> to the project file (path relative to it)",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor Malformed = new(
        "LSTM021", "Weights file is not valid safetensors",
        "Weights file '{0}' cannot be compiled in: {1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor MissingTensor = new(
        "LSTM022", "Weights file lacks a tensor",
        "Weights file '{0}' has no tensor '{1}' of shape {2}: check the attribute's sizes against the file, or set LstmPrefix or HeadPrefix on [LstmModel] to the module prefix its tensors have",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnexpectedTensor = new(
        "LSTM023", "Weights file has a tensor the model does not",
        "Weights file '{0}' has a tensor '{1}' that the model does not have: check NumLayers, Bias and OutputSize, or save only the LSTM and its head",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ShapeMismatch = new(
        "LSTM024", "Weights tensor has the wrong shape",
        "Tensor '{1}' in weights file '{0}' has shape {2}; the model needs {3}: check InputSize, HiddenSize and OutputSize",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnsupportedDType = new(
        "LSTM025", "Weights tensor has an unsupported dtype",
        "Tensor '{1}' in weights file '{0}' has dtype {2}: save the weights as F32, F16 or BF16",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NonFinite = new(
        "LSTM026", "Weights tensor holds NaN or infinity",
        "Tensor '{1}' in weights file '{0}' holds a NaN or infinity at flat index {2}: fix the trained weights before compiling them in",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor TooLarge = new(
        "LSTM027", "Model too large for compiled-in weights",
        "The model has {0} parameters, above the {1} that can be compiled in: load the file at run time with Safetensors.Load instead",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor EmptyName = new(
        "LSTM028", "Weights file name is empty",
        "Weights is empty: give the path of a .safetensors file listed in AdditionalFiles, or remove the argument",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor AmbiguousPrefix = new(
        "LSTM029", "Weights file has several module prefixes",
        "Weights file '{0}' has {1} under several module prefixes ({2}): set {3} on [LstmModel] to the one to compile in",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ModelMismatch = new(
        "LSTM030", "Weights file describes another model",
        "Weights file '{0}' holds {1}, but the attribute declares {2}: {3}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ShapeDisagrees = new(
        "LSTM031", "Attribute and weights file disagree on the model's shape",
        "Weights file '{0}' holds a model with {1} = {2}, but the attribute says {1} = {3}: remove {1} from [LstmModel] to take the file's, or compile in a file of the declared model",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static DiagnosticDescriptor? ById(string id) => id switch
    {
        "LSTM020" => FileNotFound,
        "LSTM021" => Malformed,
        "LSTM022" => MissingTensor,
        "LSTM023" => UnexpectedTensor,
        "LSTM024" => ShapeMismatch,
        "LSTM025" => UnsupportedDType,
        "LSTM026" => NonFinite,
        "LSTM027" => TooLarge,
        "LSTM028" => EmptyName,
        "LSTM029" => AmbiguousPrefix,
        "LSTM030" => ModelMismatch,
        "LSTM031" => ShapeDisagrees,
        _ => null,
    };
}
