using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace LstmGen.Weights;

/// <summary>The element types safetensors defines. Only <see cref="F32"/>, <see cref="F16"/>, <see cref="BF16"/> and <see cref="F64"/> convert to float32.</summary>
public enum SafetensorsDType
{
    /// <summary>Boolean, 1 byte.</summary>
    BOOL,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>8-bit float, 5 exponent bits.</summary>
    F8_E5M2,
    /// <summary>8-bit float, 4 exponent bits.</summary>
    F8_E4M3,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>Unsigned 16-bit integer.</summary>
    U16,
    /// <summary>IEEE 754 half precision.</summary>
    F16,
    /// <summary>bfloat16: the upper 16 bits of a float32.</summary>
    BF16,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Unsigned 32-bit integer.</summary>
    U32,
    /// <summary>IEEE 754 single precision.</summary>
    F32,
    /// <summary>IEEE 754 double precision.</summary>
    F64,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Unsigned 64-bit integer.</summary>
    U64,
}

/// <summary>Sizes, names and float32 conversions of <see cref="SafetensorsDType"/>.</summary>
public static class SafetensorsDTypes
{
    private static readonly string[] Names =
        { "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64" };

    internal static readonly byte[][] Utf8Names = Array.ConvertAll(Names, n => System.Text.Encoding.ASCII.GetBytes(n));

    /// <summary>Bytes per element.</summary>
    public static int SizeOf(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.BOOL or SafetensorsDType.U8 or SafetensorsDType.I8 or SafetensorsDType.F8_E5M2 or SafetensorsDType.F8_E4M3 => 1,
        SafetensorsDType.I16 or SafetensorsDType.U16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.I32 or SafetensorsDType.U32 or SafetensorsDType.F32 => 4,
        SafetensorsDType.F64 or SafetensorsDType.I64 or SafetensorsDType.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype."),
    };

    /// <summary>The name safetensors writes in the header (<c>"F32"</c>, <c>"BF16"</c>, ...).</summary>
    public static string NameOf(SafetensorsDType dtype) =>
        (uint)dtype < (uint)Names.Length ? Names[(int)dtype] : throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype.");

    /// <summary>Whether values of this dtype can be read as float32.</summary>
    public static bool ConvertsToFloat32(SafetensorsDType dtype) =>
        dtype is SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.F64;

    /// <summary>
    /// Converts little-endian <paramref name="source"/> of <paramref name="dtype"/> to float32: exact for F16 and BF16,
    /// round-to-nearest for F64.
    /// </summary>
    /// <exception cref="ArgumentException">The dtype does not convert, or the lengths do not match.</exception>
    public static void ToFloat32(SafetensorsDType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (!ConvertsToFloat32(dtype)) throw new ArgumentException($"dtype {NameOf(dtype)} cannot be read as float32 (F32, F16, BF16 and F64 can).", nameof(dtype));
        int size = SizeOf(dtype);
        if (source.Length != (long)destination.Length * size)
            throw new ArgumentException($"{source.Length} bytes of {NameOf(dtype)} do not make {destination.Length} values.", nameof(source));
        switch (dtype)
        {
            case SafetensorsDType.F32:
                if (BitConverter.IsLittleEndian) source.CopyTo(MemoryMarshal.AsBytes(destination));
                else for (int k = 0; k < destination.Length; k++) destination[k] = BinaryPrimitives.ReadSingleLittleEndian(source.Slice(4 * k));
                break;
            case SafetensorsDType.F16:
                for (int k = 0; k < destination.Length; k++) destination[k] = (float)BinaryPrimitives.ReadHalfLittleEndian(source.Slice(2 * k));
                break;
            case SafetensorsDType.BF16:
                for (int k = 0; k < destination.Length; k++)
                    destination[k] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source.Slice(2 * k)) << 16);
                break;
            default:
                for (int k = 0; k < destination.Length; k++) destination[k] = (float)BinaryPrimitives.ReadDoubleLittleEndian(source.Slice(8 * k));
                break;
        }
    }

    /// <summary>
    /// Converts float32 values to little-endian <paramref name="dtype"/> bytes (F32, F16, BF16 or F64), rounding to the
    /// nearest representable value, ties to even (as <c>torch.Tensor.to</c> does); NaN stays NaN.
    /// </summary>
    public static void FromFloat32(ReadOnlySpan<float> source, SafetensorsDType dtype, Span<byte> destination)
    {
        if (!ConvertsToFloat32(dtype)) throw new ArgumentException($"float32 values cannot be stored as {NameOf(dtype)} (F32, F16, BF16 and F64 can).", nameof(dtype));
        int size = SizeOf(dtype);
        if (destination.Length != (long)source.Length * size)
            throw new ArgumentException($"{destination.Length} bytes cannot hold {source.Length} values of {NameOf(dtype)}.", nameof(destination));
        for (int k = 0; k < source.Length; k++)
        {
            float v = source[k];
            switch (dtype)
            {
                case SafetensorsDType.F32: BinaryPrimitives.WriteSingleLittleEndian(destination.Slice(4 * k), v); break;
                case SafetensorsDType.F16: BinaryPrimitives.WriteHalfLittleEndian(destination.Slice(2 * k), (Half)v); break;
                case SafetensorsDType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(2 * k), ToBFloat16(v)); break;
                default: BinaryPrimitives.WriteDoubleLittleEndian(destination.Slice(8 * k), v); break;
            }
        }
    }

    /// <summary>float32 to bfloat16 bits, round to nearest even; a NaN keeps its sign and becomes a quiet NaN.</summary>
    internal static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040);
        uint rounding = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Whether the element at <paramref name="index"/> is finite once read as float32.</summary>
    internal static bool IsFinite(SafetensorsDType dtype, ReadOnlySpan<byte> data, int index) => dtype switch
    {
        SafetensorsDType.F32 => (BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(4 * index)) & 0x7F800000u) != 0x7F800000u,
        SafetensorsDType.F16 => (BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(2 * index)) & 0x7C00) != 0x7C00,
        SafetensorsDType.BF16 => (BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(2 * index)) & 0x7F80) != 0x7F80,
        _ => float.IsFinite((float)BinaryPrimitives.ReadDoubleLittleEndian(data.Slice(8 * index))),
    };
}
