using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LstmGen.Training;

/// <summary>
/// The element-wise part of one backward step of the GRU cell (docs/maths.md §11): from ∂L/∂h_t, the gates r, z, n and
/// hn = W_hn·h_(t−1) + b_hn kept by the forward pass, and h_(t−1), the gradients of the pre-activations. Generated
/// trainers call it once per layer and step, like <see cref="LstmCellGradients"/>; the matrix products around it are
/// <see cref="GradientProducts"/>.
/// </summary>
/// <remarks>
/// Rows hold <c>count</c> units (the trainer's padded row length, a multiple of 16). The gates are three rows
/// <c>gateRow</c> apart; da is seven such rows: the x side's r, z, n (what W_ih and b_ih see), the h side's r, z and
/// r ⊙ da_n (what W_hh and b_hh see: r multiplies W_hn·h + b_hn), and z ⊙ dh, the gradient h_(t−1) receives directly.
/// Element-wise, so every width computes the same values. Not meant to be called directly: the arguments are not checked.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class GruCellGradients
{
    /// <summary>
    /// One backward step of every unit: dh = <paramref name="dhAbove"/> + <paramref name="dhNext"/> (∂L/∂h_t from the
    /// layer above or the loss, and from step t + 1); <paramref name="hPrev"/> is h_(t−1).
    /// </summary>
    public static void Backward(ref float dhAbove, ref float dhNext, ref float gates, ref float hn, ref float hPrev, ref float da, int count, int gateRow)
    {
        int u = 0;
        if (Vector512.IsHardwareAccelerated)
            u = Backward<Width512, Vector512<float>>(ref dhAbove, ref dhNext, ref gates, ref hn, ref hPrev, ref da, u, count, gateRow);
        if (Vector256.IsHardwareAccelerated && u < count)
            u = Backward<Width256, Vector256<float>>(ref dhAbove, ref dhNext, ref gates, ref hn, ref hPrev, ref da, u, count, gateRow);
        if (Vector128.IsHardwareAccelerated && u < count)
            u = Backward<Width128, Vector128<float>>(ref dhAbove, ref dhNext, ref gates, ref hn, ref hPrev, ref da, u, count, gateRow);
        if (u < count)
            Backward<Width1, float>(ref dhAbove, ref dhNext, ref gates, ref hn, ref hPrev, ref da, u, count, gateRow);
    }

    /// <summary>Units [u, …) in whole vectors of <typeparamref name="TW"/>; returns the first unit not done.</summary>
    private static int Backward<TW, TV>(ref float dhAbove, ref float dhNext, ref float gates, ref float hn, ref float hPrev, ref float da, int u, int count, int q)
        where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes;
        TV one = TW.Splat(1f);
        for (; u + lanes <= count; u += lanes)
        {
            TV dh = TW.Add(TW.Load(ref dhAbove, u), TW.Load(ref dhNext, u));
            TV r = TW.Load(ref gates, u), z = TW.Load(ref gates, q + u), n = TW.Load(ref gates, 2 * q + u);
            // h_t = (1 − z) ⊙ n + z ⊙ h_(t-1):  da_n = dh ⊙ (1 − z) ⊙ (1 − n²)
            TV dan = TW.Multiply(TW.Multiply(dh, TW.Subtract(one, z)), TW.Subtract(one, TW.Multiply(n, n)));
            // da_z = dh ⊙ (h_(t-1) − n) ⊙ z ⊙ (1 − z)
            TV daz = TW.Multiply(TW.Multiply(dh, TW.Subtract(TW.Load(ref hPrev, u), n)), TW.Multiply(z, TW.Subtract(one, z)));
            // n = tanh(a_n + r ⊙ hn):  ∂L/∂hn = r ⊙ da_n;  da_r = da_n ⊙ hn ⊙ r ⊙ (1 − r)
            TV dhn = TW.Multiply(r, dan);
            TV dar = TW.Multiply(TW.Multiply(dan, TW.Load(ref hn, u)), TW.Multiply(r, TW.Subtract(one, r)));
            TW.Store(dar, ref da, u);
            TW.Store(daz, ref da, q + u);
            TW.Store(dan, ref da, 2 * q + u);
            TW.Store(dar, ref da, 3 * q + u);
            TW.Store(daz, ref da, 4 * q + u);
            TW.Store(dhn, ref da, 5 * q + u);
            // the direct path: ∂L/∂h_(t-1) gets z ⊙ dh besides W_hhᵀ·(rows 3–5)
            TW.Store(TW.Multiply(z, dh), ref da, 6 * q + u);
        }
        return u;
    }
}
