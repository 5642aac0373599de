using System;
using System.Linq;
using LstmGen.Tests.Reference;

namespace LstmGen.Tests.Reduced;

public enum Storage { BFloat16, Int8 }

/// <summary>
/// The weights a reduced model computes with, written from the definitions (not from the packer): bf16 as the float32
/// rounded to its top 16 bits, nearest-even (checked against libtorch's conversion in ReducedTests), int8 as
/// s = max|row| / 127, q = round-half-even(w / s) clamped to ±127, per row of each of W_ih and W_hh. Only the gate
/// matrices are reduced; biases, peepholes, projection, head stay float32. Torch-free, so the AOT conformance program
/// links it too.
/// </summary>
public static class ReducedReference
{
    public static bool IsGateMatrix(string name) => name.StartsWith("weight_ih_", StringComparison.Ordinal) || name.StartsWith("weight_hh_", StringComparison.Ordinal);

    /// <summary>The parameters as the reduced model sees them, in double.</summary>
    public static double[] Effective(LstmParameters parameters, Storage storage)
    {
        var p = VariantReference.ToDouble(parameters.Values);
        foreach (var t in parameters.Tensors)
        {
            if (!IsGateMatrix(t.Name)) continue;
            var values = t.Values.ToArray();
            double[] rounded = storage == Storage.BFloat16 ? RoundBFloat16(values) : DequantizeRows(values, t.Rows, t.Columns);
            Array.Copy(rounded, 0, p, t.Offset, rounded.Length);
        }
        return p;
    }

    public static double[] RoundBFloat16(float[] values)
    {
        var result = new double[values.Length];
        for (int k = 0; k < values.Length; k++)
        {
            // keep the top 16 bits; round the dropped 16 to nearest, ties to the even result (finite inputs only)
            uint bits = BitConverter.SingleToUInt32Bits(values[k]);
            uint dropped = bits & 0xFFFF, kept = bits & 0xFFFF0000;
            if (dropped > 0x8000 || (dropped == 0x8000 && (kept & 0x10000) != 0)) kept += 0x10000;
            result[k] = BitConverter.UInt32BitsToSingle(kept);
        }
        return result;
    }

    /// <summary>
    /// An int8 model's activations as its products see them (docs/maths.md §10): s = max|v| / 127, q = round-half-even(v / s)
    /// in [−127, 127], v ≈ s·q; a zero vector stays zero. The definition is in float32, as the model's activations are:
    /// v is rounded to float, s and v / s are float operations. (Taken in double, an input exactly at a half step,
    /// such as x = max/2, would round the other way: float32's s = max/127 is not the real quotient.) Only where the
    /// model's float32 h differs from the reference's rounded h across a half step can the two still differ.
    /// </summary>
    public static double[] QuantizeActivations(double[] v)
    {
        float max = 0;
        foreach (double x in v) max = Math.Max(max, Math.Abs((float)x));
        var result = new double[v.Length];
        float s = max / 127f;
        if (s == 0) return result;
        for (int k = 0; k < v.Length; k++) result[k] = (double)s * Math.Clamp(MathF.Round((float)v[k] / s, MidpointRounding.ToEven), -127f, 127f);
        return result;
    }

    /// <summary>The activation quantization of <paramref name="storage"/> for VariantReference.Forward: int8 quantizes, bf16 does not.</summary>
    public static Func<double[], double[]>? Activations(Storage storage) => storage == Storage.Int8 ? QuantizeActivations : null;

    public static double[] DequantizeRows(float[] values, int rows, int columns)
    {
        var result = new double[values.Length];
        for (int r = 0; r < rows; r++)
        {
            float max = 0;
            for (int j = 0; j < columns; j++) max = Math.Max(max, Math.Abs(values[r * columns + j]));
            float s = max > 0 ? max / 127f : 1f;
            for (int j = 0; j < columns; j++)
            {
                float q = Math.Clamp(MathF.Round(values[r * columns + j] / s, MidpointRounding.ToEven), -127f, 127f);
                result[r * columns + j] = (double)s * q;
            }
        }
        return result;
    }
}
