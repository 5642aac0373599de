namespace LstmGen.Generator.Model;

/// <summary>What the attribute on one partial class asks for: plain data, equatable, no Roslyn objects.</summary>
internal sealed record LstmModelSpec(
    string? Namespace,
    string ClassName,
    string Accessibility,
    string HintName,
    int InputSize,
    int HiddenSize,
    int NumLayers,
    bool Bias,
    int OutputSize,
    int OutputActivation,
    int SequenceLength,
    bool Bidirectional = false,
    int ProjSize = 0,
    bool Peepholes = false,
    float Dropout = 0f,
    float RecurrentDropout = 0f,
    int BatchSize = 1,
    bool LearnInitialState = false,
    int WeightStorage = WeightStorageValues.Float32,
    // The cell: [LstmModel] or [GruModel] (RecurrentCell.For).
    CellKind Cell = CellKind.Lstm,
    // Compiled-in weights (LstmGenerator.Weights.cs): the attribute's file name, then the values. No location here (see ParseResult).
    string? Weights = null,
    EquatableArray<byte> CompiledWeights = default,
    // The weights file's module prefixes (null: detected, see src/LstmGen/Weights/TensorPrefixes.cs).
    string? LstmPrefix = null,
    string? HeadPrefix = null,
    // The skip connection: the first Skip input channels are added to the head's output (0: none).
    int Skip = 0,
    // With compiled-in weights, the properties the attribute left out, to be taken from the file (LstmGenerator.Weights.cs);
    // until then they hold their defaults (InputSize and HiddenSize 0).
    EquatableArray<string> FromFile = default);

/// <summary>Values of the OutputActivation enum, kept in step with src/LstmGen/LstmModelAttribute.cs.</summary>
internal static class OutputActivationValues
{
    public const int None = 0, Sigmoid = 1, Tanh = 2, Softmax = 3;
    public static readonly string[] Names = { "None", "Sigmoid", "Tanh", "Softmax" };
}

/// <summary>Values of the WeightStorage enum, kept in step with src/LstmGen/LstmModelAttribute.cs.</summary>
internal static class WeightStorageValues
{
    public const int Float32 = 0, BFloat16 = 1, Int8 = 2;
    public static readonly string[] Names = { "Float32", "BFloat16", "Int8" };

    /// <summary>Bytes per stored gate weight.</summary>
    public static int Bytes(int storage) => storage switch { BFloat16 => 2, Int8 => 1, _ => 4 };
}
