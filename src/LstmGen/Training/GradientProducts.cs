using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LstmGen.Training;

/// <summary>
/// The matrix products of back-propagation through time (docs/maths.md §4), on PyTorch-layout weights and on the
/// trainer's gradient rows: the transposed product that carries ∂L/∂a back to h and x, and the outer products that
/// accumulate the weight and bias gradients over the steps of a sequence. Every generated trainer calls them, with its
/// sizes; the gate-by-gate element-wise maths stays in the generated cell kernels.
/// </summary>
/// <remarks>
/// <para>A weight matrix has <c>groups × rows</c> rows (one group per gate: 4 for an LSTM, 1 for a projection) and
/// <c>columns</c> columns, row-major. The matching rows of ∂L/∂a are padded: group g starts at <c>g · daGroupStride</c>.</para>
/// <para>Sums run in an order that does not depend on the vector width, so every SIMD path and the scalar one add the
/// same terms in the same order; only fused and unfused multiply-adds differ (FMA is used wherever the hardware has it).</para>
/// <para>Not meant to be called directly: the arguments are not checked.</para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class GradientProducts
{
    /// <summary>
    /// output[j] = Σ_g Σ_u W[g·rows + u, j]·da[g·daGroupStride + u]: Wᵀ·da. Four partial sums, one for each value of
    /// u mod 4 (across all groups), added at the end in that order, so four FMA chains run side by side.
    /// </summary>
    public static void MatTVec(ref float w, int groups, int rows, int columns, ref float da, int daGroupStride, ref float output)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated) j = MatTVec<Width512, Vector512<float>>(ref w, groups, rows, columns, ref da, daGroupStride, ref output, j);
        if (Vector256.IsHardwareAccelerated && j < columns) j = MatTVec<Width256, Vector256<float>>(ref w, groups, rows, columns, ref da, daGroupStride, ref output, j);
        if (Vector128.IsHardwareAccelerated && j < columns) j = MatTVec<Width128, Vector128<float>>(ref w, groups, rows, columns, ref da, daGroupStride, ref output, j);
        if (j < columns) MatTVec<Width1, float>(ref w, groups, rows, columns, ref da, daGroupStride, ref output, j);
    }

    /// <summary>
    /// Wᵀ·da for four vectors at once: output_s = Wᵀ·da_s for s = 0 … 3, da_s at <c>da + s·daStride</c> and output_s at
    /// <c>output + s·outputStride</c>. Every weight is loaded once for the four, so this runs near the FMA peak where
    /// four <see cref="MatTVec"/> calls are bound by loads. Each output's sum runs over g and u in order, one FMA chain
    /// per output vector (a different order from <see cref="MatTVec"/>'s four partial sums).
    /// </summary>
    public static void MatTMat4(ref float w, int groups, int rows, int columns, ref float da, int daGroupStride, int daStride,
        ref float output, int outputStride)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated) j = MatTMat4<Width512, Vector512<float>>(ref w, groups, rows, columns, ref da, daGroupStride, daStride, ref output, outputStride, j);
        if (Vector256.IsHardwareAccelerated && j < columns) j = MatTMat4<Width256, Vector256<float>>(ref w, groups, rows, columns, ref da, daGroupStride, daStride, ref output, outputStride, j);
        if (Vector128.IsHardwareAccelerated && j < columns) j = MatTMat4<Width128, Vector128<float>>(ref w, groups, rows, columns, ref da, daGroupStride, daStride, ref output, outputStride, j);
        if (j < columns) MatTMat4<Width1, float>(ref w, groups, rows, columns, ref da, daGroupStride, daStride, ref output, outputStride, j);
    }

    /// <summary>
    /// Wᵀ·da for <paramref name="count"/> vectors (da_s and output_s as in <see cref="MatTMat4"/>): fours through
    /// <see cref="MatTMat4"/>, the rest through <see cref="MatTVec"/>, so which path a vector takes depends only on its
    /// index and the count.
    /// </summary>
    public static void MatTMat(ref float w, int groups, int rows, int columns, ref float da, int daGroupStride, int daStride,
        int count, ref float output, int outputStride)
    {
        int s = 0;
        for (; s + 4 <= count; s += 4)
            MatTMat4(ref w, groups, rows, columns, ref Unsafe.Add(ref da, s * daStride), daGroupStride, daStride, ref Unsafe.Add(ref output, s * outputStride), outputStride);
        for (; s < count; s++)
            MatTVec(ref w, groups, rows, columns, ref Unsafe.Add(ref da, s * daStride), daGroupStride, ref Unsafe.Add(ref output, s * outputStride));
    }

    /// <summary>Columns [j, …) in blocks of two vectors and then one, for four da vectors; returns the first column not done.</summary>
    private static int MatTMat4<TW, TV>(ref float w, int groups, int rows, int columns, ref float da, int daGroupStride, int daStride,
        ref float output, int outputStride, int j)
        where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes;
        ref float da1 = ref Unsafe.Add(ref da, daStride);
        ref float da2 = ref Unsafe.Add(ref da1, daStride);
        ref float da3 = ref Unsafe.Add(ref da2, daStride);
        for (; j + 2 * lanes <= columns; j += 2 * lanes)
        {
            TV a0 = TW.Zero, a1 = TW.Zero, a2 = TW.Zero, a3 = TW.Zero, b0 = TW.Zero, b1 = TW.Zero, b2 = TW.Zero, b3 = TW.Zero;
            for (int g = 0; g < groups; g++)
            {
                ref float r = ref Unsafe.Add(ref w, g * rows * columns + j);
                int o = g * daGroupStride;
                for (int u = 0; u < rows; u++, o++, r = ref Unsafe.Add(ref r, columns))
                {
                    TV w0 = TW.Load(ref r, 0), w1 = TW.Load(ref r, lanes);
                    TV d = TW.Splat(Unsafe.Add(ref da, o));
                    a0 = TW.MulAdd(w0, d, a0);
                    b0 = TW.MulAdd(w1, d, b0);
                    d = TW.Splat(Unsafe.Add(ref da1, o));
                    a1 = TW.MulAdd(w0, d, a1);
                    b1 = TW.MulAdd(w1, d, b1);
                    d = TW.Splat(Unsafe.Add(ref da2, o));
                    a2 = TW.MulAdd(w0, d, a2);
                    b2 = TW.MulAdd(w1, d, b2);
                    d = TW.Splat(Unsafe.Add(ref da3, o));
                    a3 = TW.MulAdd(w0, d, a3);
                    b3 = TW.MulAdd(w1, d, b3);
                }
            }
            ref float y = ref output;
            TW.Store(a0, ref y, j); TW.Store(b0, ref y, j + lanes); y = ref Unsafe.Add(ref y, outputStride);
            TW.Store(a1, ref y, j); TW.Store(b1, ref y, j + lanes); y = ref Unsafe.Add(ref y, outputStride);
            TW.Store(a2, ref y, j); TW.Store(b2, ref y, j + lanes); y = ref Unsafe.Add(ref y, outputStride);
            TW.Store(a3, ref y, j); TW.Store(b3, ref y, j + lanes);
        }
        for (; j + lanes <= columns; j += lanes)
        {
            TV a0 = TW.Zero, a1 = TW.Zero, a2 = TW.Zero, a3 = TW.Zero;
            for (int g = 0; g < groups; g++)
            {
                ref float r = ref Unsafe.Add(ref w, g * rows * columns + j);
                int o = g * daGroupStride;
                for (int u = 0; u < rows; u++, o++, r = ref Unsafe.Add(ref r, columns))
                {
                    TV w0 = TW.Load(ref r, 0);
                    a0 = TW.MulAdd(w0, TW.Splat(Unsafe.Add(ref da, o)), a0);
                    a1 = TW.MulAdd(w0, TW.Splat(Unsafe.Add(ref da1, o)), a1);
                    a2 = TW.MulAdd(w0, TW.Splat(Unsafe.Add(ref da2, o)), a2);
                    a3 = TW.MulAdd(w0, TW.Splat(Unsafe.Add(ref da3, o)), a3);
                }
            }
            ref float y = ref output;
            TW.Store(a0, ref y, j); y = ref Unsafe.Add(ref y, outputStride);
            TW.Store(a1, ref y, j); y = ref Unsafe.Add(ref y, outputStride);
            TW.Store(a2, ref y, j); y = ref Unsafe.Add(ref y, outputStride);
            TW.Store(a3, ref y, j);
        }
        return j;
    }

    /// <summary>
    /// dW[g·rows + u, :] += Σ_t da_t[g·daGroupStride + u]·x_t for t in [0, n): da_t rows are daStride apart, x_t rows
    /// xStride apart. Each element's sum runs over t in order.
    /// </summary>
    public static void OuterAccumulate(ref float dw, int groups, int rows, int columns, ref float da, int daGroupStride, int daStride,
        ref float x, int xStride, int n)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated) j = Outer<Width512, Vector512<float>>(ref dw, groups, rows, columns, ref da, daGroupStride, daStride, ref x, xStride, n, j);
        if (Vector256.IsHardwareAccelerated && j < columns) j = Outer<Width256, Vector256<float>>(ref dw, groups, rows, columns, ref da, daGroupStride, daStride, ref x, xStride, n, j);
        if (Vector128.IsHardwareAccelerated && j < columns) j = Outer<Width128, Vector128<float>>(ref dw, groups, rows, columns, ref da, daGroupStride, daStride, ref x, xStride, n, j);
        if (j < columns) Outer<Width1, float>(ref dw, groups, rows, columns, ref da, daGroupStride, daStride, ref x, xStride, n, j);
    }

    /// <summary>db[k] += Σ_t da_t[k] for k in [0, count), t in [0, n); da_t rows are daStride apart.</summary>
    public static void BiasAccumulate(ref float db, ref float da, int count, int daStride, int n)
    {
        for (int t = 0; t < n; t++)
        {
            ref float dat = ref Unsafe.Add(ref da, t * daStride);
            int k = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; k + 16 <= count; k += 16) Vector512.StoreUnsafe(Vector512.LoadUnsafe(ref db, (nuint)k) + Vector512.LoadUnsafe(ref dat, (nuint)k), ref db, (nuint)k);
            if (Vector256.IsHardwareAccelerated)
                for (; k + 8 <= count; k += 8) Vector256.StoreUnsafe(Vector256.LoadUnsafe(ref db, (nuint)k) + Vector256.LoadUnsafe(ref dat, (nuint)k), ref db, (nuint)k);
            if (Vector128.IsHardwareAccelerated)
                for (; k + 4 <= count; k += 4) Vector128.StoreUnsafe(Vector128.LoadUnsafe(ref db, (nuint)k) + Vector128.LoadUnsafe(ref dat, (nuint)k), ref db, (nuint)k);
            for (; k < count; k++) Unsafe.Add(ref db, k) += Unsafe.Add(ref dat, k);
        }
    }

    /// <summary>Columns [j, …) in blocks of two and then one vector of <typeparamref name="TW"/>; returns the first column not done.</summary>
    private static int MatTVec<TW, TV>(ref float w, int groups, int rows, int columns, ref float da, int daGroupStride, ref float output, int j)
        where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes;
        for (; j + 2 * lanes <= columns; j += 2 * lanes)
        {
            TV a0 = TW.Zero, a1 = TW.Zero, a2 = TW.Zero, a3 = TW.Zero, b0 = TW.Zero, b1 = TW.Zero, b2 = TW.Zero, b3 = TW.Zero;
            for (int g = 0; g < groups; g++)
            {
                ref float wg = ref Unsafe.Add(ref w, g * rows * columns + j);
                ref float dg = ref Unsafe.Add(ref da, g * daGroupStride);
                int u = 0;
                ref float r = ref wg;
                for (; u + 4 <= rows; u += 4)
                {
                    ref float r1 = ref Unsafe.Add(ref r, columns);
                    ref float r2 = ref Unsafe.Add(ref r1, columns);
                    ref float r3 = ref Unsafe.Add(ref r2, columns);
                    TV d0 = TW.Splat(Unsafe.Add(ref dg, u)), d1 = TW.Splat(Unsafe.Add(ref dg, u + 1));
                    TV d2 = TW.Splat(Unsafe.Add(ref dg, u + 2)), d3 = TW.Splat(Unsafe.Add(ref dg, u + 3));
                    a0 = TW.MulAdd(TW.Load(ref r, 0), d0, a0);
                    b0 = TW.MulAdd(TW.Load(ref r, lanes), d0, b0);
                    a1 = TW.MulAdd(TW.Load(ref r1, 0), d1, a1);
                    b1 = TW.MulAdd(TW.Load(ref r1, lanes), d1, b1);
                    a2 = TW.MulAdd(TW.Load(ref r2, 0), d2, a2);
                    b2 = TW.MulAdd(TW.Load(ref r2, lanes), d2, b2);
                    a3 = TW.MulAdd(TW.Load(ref r3, 0), d3, a3);
                    b3 = TW.MulAdd(TW.Load(ref r3, lanes), d3, b3);
                    r = ref Unsafe.Add(ref r3, columns);
                }
                for (int k = 0; u < rows; u++, k++, r = ref Unsafe.Add(ref r, columns))
                {
                    TV d = TW.Splat(Unsafe.Add(ref dg, u));
                    // the rows past the last four go to the partial sums 0, 1, 2 in turn, as u mod 4 says
                    if (k == 0) { a0 = TW.MulAdd(TW.Load(ref r, 0), d, a0); b0 = TW.MulAdd(TW.Load(ref r, lanes), d, b0); }
                    else if (k == 1) { a1 = TW.MulAdd(TW.Load(ref r, 0), d, a1); b1 = TW.MulAdd(TW.Load(ref r, lanes), d, b1); }
                    else { a2 = TW.MulAdd(TW.Load(ref r, 0), d, a2); b2 = TW.MulAdd(TW.Load(ref r, lanes), d, b2); }
                }
            }
            TW.Store(TW.Add(TW.Add(TW.Add(a0, a1), a2), a3), ref output, j);
            TW.Store(TW.Add(TW.Add(TW.Add(b0, b1), b2), b3), ref output, j + lanes);
        }
        for (; j + lanes <= columns; j += lanes)
        {
            TV a0 = TW.Zero, a1 = TW.Zero, a2 = TW.Zero, a3 = TW.Zero;
            for (int g = 0; g < groups; g++)
            {
                ref float wg = ref Unsafe.Add(ref w, g * rows * columns + j);
                ref float dg = ref Unsafe.Add(ref da, g * daGroupStride);
                int u = 0;
                for (; u + 4 <= rows; u += 4)
                {
                    ref float r = ref Unsafe.Add(ref wg, u * columns);
                    a0 = TW.MulAdd(TW.Load(ref r, 0), TW.Splat(Unsafe.Add(ref dg, u)), a0);
                    a1 = TW.MulAdd(TW.Load(ref r, columns), TW.Splat(Unsafe.Add(ref dg, u + 1)), a1);
                    a2 = TW.MulAdd(TW.Load(ref r, 2 * columns), TW.Splat(Unsafe.Add(ref dg, u + 2)), a2);
                    a3 = TW.MulAdd(TW.Load(ref r, 3 * columns), TW.Splat(Unsafe.Add(ref dg, u + 3)), a3);
                }
                for (int k = 0; u < rows; u++, k++)
                {
                    TV p = TW.MulAdd(TW.Load(ref wg, u * columns), TW.Splat(Unsafe.Add(ref dg, u)), k == 0 ? a0 : k == 1 ? a1 : a2);
                    if (k == 0) a0 = p; else if (k == 1) a1 = p; else a2 = p;
                }
            }
            TW.Store(TW.Add(TW.Add(TW.Add(a0, a1), a2), a3), ref output, j);
        }
        return j;
    }

    /// <summary>Columns [j, …) in blocks of two vectors and then one, four rows at a time; returns the first column not done.</summary>
    private static int Outer<TW, TV>(ref float dw, int groups, int rows, int columns, ref float da, int daGroupStride, int daStride,
        ref float x, int xStride, int n, int j)
        where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes;
        for (; j + 2 * lanes <= columns; j += 2 * lanes)
            for (int g = 0; g < groups; g++)
            {
                ref float dg = ref Unsafe.Add(ref da, g * daGroupStride);
                int u = 0;
                for (; u + 4 <= rows; u += 4)
                    OuterFour2<TW, TV>(ref Unsafe.Add(ref dw, (g * rows + u) * columns + j), columns, ref Unsafe.Add(ref dg, u), daStride, ref Unsafe.Add(ref x, j), xStride, n);
                for (; u < rows; u++)
                {
                    OuterOne<TW, TV>(ref Unsafe.Add(ref dw, (g * rows + u) * columns + j), ref Unsafe.Add(ref dg, u), daStride, ref Unsafe.Add(ref x, j), xStride, n);
                    OuterOne<TW, TV>(ref Unsafe.Add(ref dw, (g * rows + u) * columns + j + lanes), ref Unsafe.Add(ref dg, u), daStride, ref Unsafe.Add(ref x, j + lanes), xStride, n);
                }
            }
        for (; j + lanes <= columns; j += lanes)
            for (int g = 0; g < groups; g++)
            {
                ref float dg = ref Unsafe.Add(ref da, g * daGroupStride);
                int u = 0;
                for (; u + 4 <= rows; u += 4)
                    OuterFour1<TW, TV>(ref Unsafe.Add(ref dw, (g * rows + u) * columns + j), columns, ref Unsafe.Add(ref dg, u), daStride, ref Unsafe.Add(ref x, j), xStride, n);
                for (; u < rows; u++)
                    OuterOne<TW, TV>(ref Unsafe.Add(ref dw, (g * rows + u) * columns + j), ref Unsafe.Add(ref dg, u), daStride, ref Unsafe.Add(ref x, j), xStride, n);
            }
        return j;
    }

    /// <summary>One row of dW by one vector of columns, over every step.</summary>
    private static void OuterOne<TW, TV>(ref float r, ref float d, int daStride, ref float x, int xStride, int n)
        where TW : struct, IWidth<TV> where TV : struct
    {
        TV a = TW.Load(ref r, 0);
        for (int t = 0; t < n; t++)
            a = TW.MulAdd(TW.Load(ref x, t * xStride), TW.Splat(Unsafe.Add(ref d, t * daStride)), a);
        TW.Store(a, ref r, 0);
    }

    /// <summary>Four rows of dW (columns apart) by two vectors of columns, over every step.</summary>
    private static void OuterFour2<TW, TV>(ref float r, int columns, ref float d, int daStride, ref float x, int xStride, int n)
        where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes;
        TV a0 = TW.Load(ref r, 0), b0 = TW.Load(ref r, lanes);
        TV a1 = TW.Load(ref r, columns), b1 = TW.Load(ref r, columns + lanes);
        TV a2 = TW.Load(ref r, 2 * columns), b2 = TW.Load(ref r, 2 * columns + lanes);
        TV a3 = TW.Load(ref r, 3 * columns), b3 = TW.Load(ref r, 3 * columns + lanes);
        for (int t = 0; t < n; t++)
        {
            ref float xt = ref Unsafe.Add(ref x, t * xStride);
            ref float dt = ref Unsafe.Add(ref d, t * daStride);
            TV x0 = TW.Load(ref xt, 0), x1 = TW.Load(ref xt, lanes);
            TV d0 = TW.Splat(dt);
            a0 = TW.MulAdd(x0, d0, a0);
            b0 = TW.MulAdd(x1, d0, b0);
            TV d1 = TW.Splat(Unsafe.Add(ref dt, 1));
            a1 = TW.MulAdd(x0, d1, a1);
            b1 = TW.MulAdd(x1, d1, b1);
            TV d2 = TW.Splat(Unsafe.Add(ref dt, 2));
            a2 = TW.MulAdd(x0, d2, a2);
            b2 = TW.MulAdd(x1, d2, b2);
            TV d3 = TW.Splat(Unsafe.Add(ref dt, 3));
            a3 = TW.MulAdd(x0, d3, a3);
            b3 = TW.MulAdd(x1, d3, b3);
        }
        TW.Store(a0, ref r, 0); TW.Store(b0, ref r, lanes);
        TW.Store(a1, ref r, columns); TW.Store(b1, ref r, columns + lanes);
        TW.Store(a2, ref r, 2 * columns); TW.Store(b2, ref r, 2 * columns + lanes);
        TW.Store(a3, ref r, 3 * columns); TW.Store(b3, ref r, 3 * columns + lanes);
    }

    /// <summary>Four rows of dW (columns apart) by one vector of columns, over every step.</summary>
    private static void OuterFour1<TW, TV>(ref float r, int columns, ref float d, int daStride, ref float x, int xStride, int n)
        where TW : struct, IWidth<TV> where TV : struct
    {
        TV a0 = TW.Load(ref r, 0), a1 = TW.Load(ref r, columns), a2 = TW.Load(ref r, 2 * columns), a3 = TW.Load(ref r, 3 * columns);
        for (int t = 0; t < n; t++)
        {
            ref float dt = ref Unsafe.Add(ref d, t * daStride);
            TV x0 = TW.Load(ref x, t * xStride);
            a0 = TW.MulAdd(x0, TW.Splat(dt), a0);
            a1 = TW.MulAdd(x0, TW.Splat(Unsafe.Add(ref dt, 1)), a1);
            a2 = TW.MulAdd(x0, TW.Splat(Unsafe.Add(ref dt, 2)), a2);
            a3 = TW.MulAdd(x0, TW.Splat(Unsafe.Add(ref dt, 3)), a3);
        }
        TW.Store(a0, ref r, 0); TW.Store(a1, ref r, columns); TW.Store(a2, ref r, 2 * columns); TW.Store(a3, ref r, 3 * columns);
    }
}
