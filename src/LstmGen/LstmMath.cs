using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace LstmGen;

/// <summary>
/// Element-wise building blocks of the generated kernels: tanh and sigmoid approximations for every vector width,
/// and a multiply-add that uses a fused instruction only where the hardware has one.
/// </summary>
/// <remarks>
/// tanh(x) is approximated on [-7.99, 7.99] by x·P(x²)/Q(x²) with P of degree 5 and Q of degree 4 in x² (a weighted
/// least-squares fit whose error has no systematic sign, docs/maths.md §9), and clamped outside. Maximum absolute error in float32:
/// <see cref="MaxTanhError"/> for tanh and half of it for sigmoid, over the whole float range. NaN propagates,
/// ±0 and subnormals are returned unchanged (to within the error bound), ±∞ give ±1.
/// </remarks>
public static class LstmMath
{
    /// <summary>Largest absolute error of <see cref="Tanh(float)"/> (and every vector overload) against the exact tanh.</summary>
    public const float MaxTanhError = 4e-7f;

    /// <summary>Largest absolute error of <see cref="Sigmoid(float)"/> against the exact logistic function.</summary>
    public const float MaxSigmoidError = 2e-7f;

    private const float Clamp = 7.99f;
    // tanh(x) ≈ x·P(u)/Q(u), u = x², P(0) = Q(0) = 1: a weighted least-squares fit on [0, 7.99] whose coefficients were
    // rounded to float32 one at a time, lowest degree first, refitting the rest after each (docs/maths.md §9). In exact
    // arithmetic the error is below 1.9e-9 and averages below 6e-10 over any stretch of a unit: no systematic sign.
    private const float P1 = 0.13731570541858673f, P2 = 0.00393346231430769f, P3 = 2.9350403565331362E-05f, P4 = 3.39586456732377E-08f, P5 = -1.487827222534932E-11f;
    private const float Q1 = 0.47064903378486633f, Q2 = 0.027483148500323296f, Q3 = 0.0004054433957207948f, Q4 = 1.3829848057866911E-06f;

    /// <summary>
    /// Rounds a float32 to bfloat16 (its top 16 bits), to nearest with ties to even, as <c>torch.Tensor.to(torch.bfloat16)</c>
    /// does; NaN stays NaN.
    /// </summary>
    public static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        bits += 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)(bits >> 16);
    }

    /// <summary>Widens a bfloat16 to the float32 it stands for (exact).</summary>
    public static float FromBFloat16(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);

    /// <summary>tanh(x) to within <see cref="MaxTanhError"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Tanh(float x)
    {
        x = Math.Clamp(x, -Clamp, Clamp); // NaN passes through Math.Clamp
        // Estrin's scheme: P = (1 + p1·u) + u²·((p2 + p3·u) + u²·(p4 + p5·u)), Q = (1 + q1·u) + u²·((q2 + q3·u) + u²·q4):
        // both four dependent steps from x (Horner would take six), which keeps the recurrent step's critical path short.
        float u = x * x, u2 = u * u;
        float p = MulAdd(u2, MulAdd(u2, MulAdd(P5, u, P4), MulAdd(P3, u, P2)), MulAdd(P1, u, 1f));
        float q = MulAdd(u2, MulAdd(u2, Q4, MulAdd(Q3, u, Q2)), MulAdd(Q1, u, 1f));
        return x * p / q;
    }

    /// <summary>σ(x) = 0.5 + 0.5·tanh(x/2), to within <see cref="MaxSigmoidError"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float x) => MulAdd(0.5f, Tanh(0.5f * x), 0.5f);

    /// <summary>a·b + c; fused only where the hardware has a fused instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MulAdd(float a, float b, float c) =>
        Fma.IsSupported || AdvSimd.IsSupported ? MathF.FusedMultiplyAdd(a, b, c) : a * b + c;

    /// <inheritdoc cref="Tanh(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Tanh(Vector128<float> x)
    {
        x = Vector128.Clamp(x, Vector128.Create(-Clamp), Vector128.Create(Clamp));
        Vector128<float> u = x * x, u2 = u * u;
        Vector128<float> p = MulAdd(u2, MulAdd(u2, MulAdd(Vector128.Create(P5), u, Vector128.Create(P4)), MulAdd(Vector128.Create(P3), u, Vector128.Create(P2))), MulAdd(Vector128.Create(P1), u, Vector128<float>.One));
        Vector128<float> q = MulAdd(u2, MulAdd(u2, Vector128.Create(Q4), MulAdd(Vector128.Create(Q3), u, Vector128.Create(Q2))), MulAdd(Vector128.Create(Q1), u, Vector128<float>.One));
        return x * p / q;
    }

    /// <inheritdoc cref="Tanh(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        x = Vector256.Clamp(x, Vector256.Create(-Clamp), Vector256.Create(Clamp));
        Vector256<float> u = x * x, u2 = u * u;
        Vector256<float> p = MulAdd(u2, MulAdd(u2, MulAdd(Vector256.Create(P5), u, Vector256.Create(P4)), MulAdd(Vector256.Create(P3), u, Vector256.Create(P2))), MulAdd(Vector256.Create(P1), u, Vector256<float>.One));
        Vector256<float> q = MulAdd(u2, MulAdd(u2, Vector256.Create(Q4), MulAdd(Vector256.Create(Q3), u, Vector256.Create(Q2))), MulAdd(Vector256.Create(Q1), u, Vector256<float>.One));
        return x * p / q;
    }

    /// <inheritdoc cref="Tanh(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Tanh(Vector512<float> x)
    {
        x = Vector512.Clamp(x, Vector512.Create(-Clamp), Vector512.Create(Clamp));
        Vector512<float> u = x * x, u2 = u * u;
        Vector512<float> p = MulAdd(u2, MulAdd(u2, MulAdd(Vector512.Create(P5), u, Vector512.Create(P4)), MulAdd(Vector512.Create(P3), u, Vector512.Create(P2))), MulAdd(Vector512.Create(P1), u, Vector512<float>.One));
        Vector512<float> q = MulAdd(u2, MulAdd(u2, Vector512.Create(Q4), MulAdd(Vector512.Create(Q3), u, Vector512.Create(Q2))), MulAdd(Vector512.Create(Q1), u, Vector512<float>.One));
        return x * p / q;
    }

    /// <inheritdoc cref="Sigmoid(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sigmoid(Vector128<float> x) => MulAdd(Vector128.Create(0.5f), Tanh(x * 0.5f), Vector128.Create(0.5f));

    /// <inheritdoc cref="Sigmoid(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> x) => MulAdd(Vector256.Create(0.5f), Tanh(x * 0.5f), Vector256.Create(0.5f));

    /// <inheritdoc cref="Sigmoid(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sigmoid(Vector512<float> x) => MulAdd(Vector512.Create(0.5f), Tanh(x * 0.5f), Vector512.Create(0.5f));

    /// <summary>a·b + c; fused only where the hardware has a fused instruction (FMA3 on x64, NEON on ARM64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MulAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
        Fma.IsSupported || AdvSimd.IsSupported ? Vector128.FusedMultiplyAdd(a, b, c) : a * b + c;

    /// <inheritdoc cref="MulAdd(Vector128{float}, Vector128{float}, Vector128{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Vector256.FusedMultiplyAdd(a, b, c) : a * b + c;

    /// <inheritdoc cref="MulAdd(Vector128{float}, Vector128{float}, Vector128{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MulAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
        Avx512F.IsSupported ? Vector512.FusedMultiplyAdd(a, b, c) : a * b + c;

    /// <summary>Dot product of two length-<paramref name="n"/> runs; used by the dense head, which is not on the recurrent path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ref float a, ref float b, int n)
    {
        int k = 0;
        float sum = 0f;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<float> acc = Vector256<float>.Zero;
            for (; k <= n - 8; k += 8)
                acc = MulAdd(Vector256.LoadUnsafe(ref a, (nuint)k), Vector256.LoadUnsafe(ref b, (nuint)k), acc);
            sum = Vector256.Sum(acc);
        }
        else if (Vector128.IsHardwareAccelerated && n >= 4)
        {
            Vector128<float> acc = Vector128<float>.Zero;
            for (; k <= n - 4; k += 4)
                acc = MulAdd(Vector128.LoadUnsafe(ref a, (nuint)k), Vector128.LoadUnsafe(ref b, (nuint)k), acc);
            sum = Vector128.Sum(acc);
        }
        for (; k < n; k++)
            sum = MulAdd(Unsafe.Add(ref a, k), Unsafe.Add(ref b, k), sum);
        return sum;
    }

    /// <summary>Applies the dense head's activation to <paramref name="y"/> in place.</summary>
    public static void ApplyActivation(OutputActivation activation, Span<float> y)
    {
        switch (activation)
        {
            case OutputActivation.Sigmoid:
                for (int k = 0; k < y.Length; k++) y[k] = 1f / (1f + MathF.Exp(-y[k]));
                break;
            case OutputActivation.Tanh:
                for (int k = 0; k < y.Length; k++) y[k] = MathF.Tanh(y[k]);
                break;
            case OutputActivation.Softmax:
                float max = float.NegativeInfinity;
                for (int k = 0; k < y.Length; k++) max = MathF.Max(max, y[k]);
                float sum = 0f;
                for (int k = 0; k < y.Length; k++) { float e = MathF.Exp(y[k] - max); y[k] = e; sum += e; }
                float inv = 1f / sum;
                for (int k = 0; k < y.Length; k++) y[k] *= inv;
                break;
        }
    }
}
