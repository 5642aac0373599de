using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LstmGen.Training;

/// <summary>
/// The element-wise part of one backward step of the LSTM cell (docs/maths.md §4): from ∂L/∂h_t and the gates kept by
/// the forward pass, the gradients of the gate pre-activations and ∂L/∂c_(t−1). Generated trainers call it once per
/// layer and step; the matrix products around it are <see cref="GradientProducts"/>.
/// </summary>
/// <remarks>
/// Rows hold <c>count</c> units (the trainer's padded row length, a multiple of 16, so every vector width covers them
/// whole); the gates i, f, g, o of one step are four such rows, <c>gateRow</c> apart, and so are the four rows of da.
/// Element-wise, so every width computes the same values. Not meant to be called directly: the arguments are not checked.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class LstmCellGradients
{
    /// <summary>
    /// One backward step of every unit. dh = ∂L/∂h_t is <paramref name="dhAbove"/> + <paramref name="dhNext"/>, or with
    /// a projection (<paramref name="projected"/>) <paramref name="dhAbove"/> alone, holding dm = W_hrᵀ·dh.
    /// <paramref name="dcNext"/> holds ∂L/∂c_t on entry and ∂L/∂c_(t−1) on return. With <paramref name="peepholes"/>,
    /// <paramref name="peep"/> holds p_i, p_f, p_o (rows <paramref name="gateRow"/> apart) and their gradients
    /// accumulate into <paramref name="dpeep"/>; <paramref name="cNew"/> is c_t. Without them those three are not read.
    /// </summary>
    public static void Backward(ref float dhAbove, ref float dhNext, bool projected, ref float dcNext, ref float gates, ref float tanhC,
        ref float cPrev, ref float cNew, bool peepholes, ref float peep, ref float dpeep, ref float da, int count, int gateRow)
    {
        int u = 0;
        if (Vector512.IsHardwareAccelerated)
            u = Backward<Width512, Vector512<float>>(ref dhAbove, ref dhNext, projected, ref dcNext, ref gates, ref tanhC, ref cPrev, ref cNew, peepholes, ref peep, ref dpeep, ref da, u, count, gateRow);
        if (Vector256.IsHardwareAccelerated && u < count)
            u = Backward<Width256, Vector256<float>>(ref dhAbove, ref dhNext, projected, ref dcNext, ref gates, ref tanhC, ref cPrev, ref cNew, peepholes, ref peep, ref dpeep, ref da, u, count, gateRow);
        if (Vector128.IsHardwareAccelerated && u < count)
            u = Backward<Width128, Vector128<float>>(ref dhAbove, ref dhNext, projected, ref dcNext, ref gates, ref tanhC, ref cPrev, ref cNew, peepholes, ref peep, ref dpeep, ref da, u, count, gateRow);
        if (u < count)
            Backward<Width1, float>(ref dhAbove, ref dhNext, projected, ref dcNext, ref gates, ref tanhC, ref cPrev, ref cNew, peepholes, ref peep, ref dpeep, ref da, u, count, gateRow);
    }

    /// <summary>Units [u, …) in whole vectors of <typeparamref name="TW"/>; returns the first unit not done.</summary>
    private static int Backward<TW, TV>(ref float dhAbove, ref float dhNext, bool projected, ref float dcNext, ref float gates, ref float tanhC,
        ref float cPrev, ref float cNew, bool peepholes, ref float peep, ref float dpeep, ref float da, int u, int count, int q)
        where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes;
        TV one = TW.Splat(1f);
        for (; u + lanes <= count; u += lanes)
        {
            // dh = ∂L/∂h_t from above + dh_next (with a projection the caller passes dm = W_hrᵀ·dh instead)
            TV dh = projected ? TW.Load(ref dhAbove, u) : TW.Add(TW.Load(ref dhAbove, u), TW.Load(ref dhNext, u));
            TV i = TW.Load(ref gates, u), f = TW.Load(ref gates, q + u), g = TW.Load(ref gates, 2 * q + u), o = TW.Load(ref gates, 3 * q + u);
            TV tc = TW.Load(ref tanhC, u);
            TV cp = TW.Load(ref cPrev, u);
            // da_o = dh ⊙ tanh(c_t) ⊙ o ⊙ (1 − o)
            TV dao = TW.Multiply(TW.Multiply(TW.Multiply(dh, tc), o), TW.Subtract(one, o));
            // dc = dc_next + dh ⊙ o ⊙ (1 − tanh²(c_t))
            TV dc = TW.MulAdd(TW.Multiply(dh, o), TW.Subtract(one, TW.Multiply(tc, tc)), TW.Load(ref dcNext, u));
            if (peepholes)
            {
                // peephole on the output gate: dc += da_o ⊙ p_o; dp_o += da_o ⊙ c_t
                dc = TW.MulAdd(dao, TW.Load(ref peep, 2 * q + u), dc);
                TW.Store(TW.MulAdd(dao, TW.Load(ref cNew, u), TW.Load(ref dpeep, 2 * q + u)), ref dpeep, 2 * q + u);
            }
            // da_i = dc ⊙ g ⊙ i ⊙ (1 − i)
            TV dai = TW.Multiply(TW.Multiply(TW.Multiply(dc, g), i), TW.Subtract(one, i));
            TW.Store(dai, ref da, u);
            // da_f = dc ⊙ c_(t-1) ⊙ f ⊙ (1 − f)
            TV daf = TW.Multiply(TW.Multiply(TW.Multiply(dc, cp), f), TW.Subtract(one, f));
            TW.Store(daf, ref da, q + u);
            // da_g = dc ⊙ i ⊙ (1 − g²)
            TW.Store(TW.Multiply(TW.Multiply(dc, i), TW.Subtract(one, TW.Multiply(g, g))), ref da, 2 * q + u);
            TW.Store(dao, ref da, 3 * q + u);
            if (peepholes)
            {
                // dc_next = dc ⊙ f + da_i ⊙ p_i + da_f ⊙ p_f;  dp_i += da_i ⊙ c_(t-1);  dp_f += da_f ⊙ c_(t-1)
                TW.Store(TW.MulAdd(daf, TW.Load(ref peep, q + u), TW.MulAdd(dai, TW.Load(ref peep, u), TW.Multiply(dc, f))), ref dcNext, u);
                TW.Store(TW.MulAdd(dai, cp, TW.Load(ref dpeep, u)), ref dpeep, u);
                TW.Store(TW.MulAdd(daf, cp, TW.Load(ref dpeep, q + u)), ref dpeep, q + u);
            }
            else
            {
                // dc_next = dc ⊙ f
                TW.Store(TW.Multiply(dc, f), ref dcNext, u);
            }
        }
        return u;
    }
}
