using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LstmGen.Training;

/// <summary>Gradient clipping (the standard remedy for exploding gradients in recurrent nets) and finiteness checks.</summary>
public static class GradientTools
{
    /// <summary>The L2 norm of all gradients together.</summary>
    /// <remarks>Squares are summed in double, so the norm is exact to float precision and cannot overflow; it is NaN or ∞ exactly when a gradient is.</remarks>
    public static float GlobalNorm(ReadOnlySpan<float> gradients)
    {
        ref float g = ref MemoryMarshal.GetReference(gradients);
        int k = 0, n = gradients.Length;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            // two independent double accumulators of four lanes each, fed by one 8-float load
            Vector256<double> a0 = Vector256<double>.Zero, a1 = Vector256<double>.Zero;
            for (; k <= n - 8; k += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref g, (nuint)k));
                a0 += lo * lo;
                a1 += hi * hi;
            }
            sum = Vector256.Sum(a0 + a1);
        }
        for (; k < n; k++)
        {
            double v = Unsafe.Add(ref g, k);
            sum += v * v;
        }
        return (float)Math.Sqrt(sum);
    }

    /// <summary>
    /// Scales every gradient by maxNorm/‖g‖ when the global L2 norm ‖g‖ exceeds <paramref name="maxNorm"/>
    /// (torch.nn.utils.clip_grad_norm_, with its 1e-6 guard). Returns the norm before clipping.
    /// </summary>
    public static float ClipByGlobalNorm(Span<float> gradients, float maxNorm)
    {
        float norm = GlobalNorm(gradients);
        float factor = maxNorm / (norm + 1e-6f);
        if (factor < 1f)
            Scale(gradients, factor);
        return norm;
    }

    private static void Scale(Span<float> values, float factor)
    {
        ref float v = ref MemoryMarshal.GetReference(values);
        int k = 0, n = values.Length;
        if (Vector256.IsHardwareAccelerated)
            for (; k <= n - 8; k += 8)
                (Vector256.LoadUnsafe(ref v, (nuint)k) * factor).StoreUnsafe(ref v, (nuint)k);
        for (; k < n; k++) Unsafe.Add(ref v, k) *= factor;
    }

    /// <summary>Clamps every gradient to [−<paramref name="limit"/>, <paramref name="limit"/>] (torch.nn.utils.clip_grad_value_).</summary>
    public static void ClipByValue(Span<float> gradients, float limit)
    {
        for (int k = 0; k < gradients.Length; k++) gradients[k] = Math.Clamp(gradients[k], -limit, limit);
    }

    /// <summary>The index of the first NaN or infinity, or −1.</summary>
    public static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        for (int k = 0; k < values.Length; k++)
            if (!float.IsFinite(values[k])) return k;
        return -1;
    }
}

/// <summary>
/// A training step met a NaN or infinity. The step was abandoned before the update, so the model keeps its last good weights.
/// </summary>
public sealed class NonFiniteTrainingException : ArithmeticException
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteTrainingException(string message, string where, int index) : base(message)
    {
        Where = where;
        Index = index;
    }

    /// <summary>Where the value appeared: "loss", "input", or a parameter tensor's name such as "weight_hh_l0".</summary>
    public string Where { get; }

    /// <summary>The flat index inside <see cref="Where"/>, or −1 for the loss.</summary>
    public int Index { get; }
}
