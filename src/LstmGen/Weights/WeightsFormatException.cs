using System;

namespace LstmGen.Weights;

/// <summary>What is wrong with a weights file; one value per kind of malformed input.</summary>
public enum WeightsErrorKind
{
    /// <summary>The file ends before the 8-byte header length, the header or the data it declares.</summary>
    Truncated,
    /// <summary>The header length is above <see cref="Safetensors.MaxHeaderLength"/>.</summary>
    HeaderTooLarge,
    /// <summary>The header is not valid JSON or not the safetensors schema (a field missing, of the wrong type or repeated).</summary>
    InvalidHeader,
    /// <summary>A dtype string that safetensors does not define.</summary>
    UnknownDType,
    /// <summary>A defined dtype that cannot be read as float32 (only F32, F16, BF16 and F64 can).</summary>
    UnsupportedDType,
    /// <summary><c>data_offsets</c> outside the data section, or reversed.</summary>
    OffsetsOutOfRange,
    /// <summary>Two tensors' byte ranges overlap.</summary>
    OverlappingData,
    /// <summary>Bytes of the data section that belong to no tensor (a gap or trailing bytes; safetensors forbids both).</summary>
    UncoveredData,
    /// <summary>A tensor's byte length is not its element count times its dtype's size.</summary>
    ByteLengthMismatch,
    /// <summary>A tensor the model needs is not in the file.</summary>
    MissingTensor,
    /// <summary>The file holds a tensor the model does not have (allowed with <see cref="SafetensorsOptions.AllowExtraTensors"/>).</summary>
    UnexpectedTensor,
    /// <summary>The same tensor name appears twice.</summary>
    DuplicateTensor,
    /// <summary>A tensor's shape differs from the model's.</summary>
    ShapeMismatch,
    /// <summary>A NaN or infinity (rejected unless <see cref="SafetensorsOptions.RejectNonFinite"/> is false).</summary>
    NonFiniteValue,
    /// <summary><c>__metadata__</c> is not an object of string values.</summary>
    InvalidMetadata,
    /// <summary>The LSTM tensors, or pairs shaped like the dense head, appear under more than one module prefix; <see cref="SafetensorsOptions.LstmPrefix"/> or <see cref="SafetensorsOptions.HeadPrefix"/> must say which.</summary>
    AmbiguousPrefix,
    /// <summary>A checkpoint's own metadata or optimizer state does not fit (format version, optimizer kind, state size).</summary>
    InvalidCheckpoint,
    /// <summary>The file describes another model than the one it is loaded into: another cell type or architecture, other sizes, or another skip connection.</summary>
    ModelMismatch,
}

/// <summary>
/// A weights file (safetensors or checkpoint) is malformed or does not fit the model. It is the only exception the
/// loaders throw for bad file contents; the message names the field or tensor, and so does <see cref="Field"/>.
/// The target parameters are left unchanged when it is thrown.
/// </summary>
public sealed class WeightsFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="kind">What is wrong.</param>
    /// <param name="field">The tensor name or header field concerned (for example <c>weight_ih_l0</c>, <c>header length</c>).</param>
    /// <param name="message">A message naming <paramref name="field"/> and saying what was expected.</param>
    /// <param name="innerException">The underlying error, for example the JSON reader's.</param>
    public WeightsFormatException(WeightsErrorKind kind, string field, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        Field = field;
    }

    /// <summary>What is wrong.</summary>
    public WeightsErrorKind Kind { get; }

    /// <summary>The tensor name (as written in the file) or header field the problem concerns.</summary>
    public string Field { get; }
}
