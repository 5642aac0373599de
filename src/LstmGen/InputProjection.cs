using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LstmGen;

/// <summary>
/// The hoisted input projection of a layer over a chunk of steps, G[t] = (b_ih + b_hh) + W_ih·x_t for t in [0, n), on the
/// packed layout of one vector width (docs/maths.md §1, docs/generator.md "Packed layout"): the input half of every step
/// as one blocked matrix product, so the recurrence that follows reads only W_hh. Generated code calls it from the
/// sequence <c>Forward</c> and from training; its sizes are arguments, as the loops are long enough not to need constants.
/// Training also runs the recurrent product of a group of sequences through it (<see cref="ProjectAdd"/>).
/// </summary>
/// <remarks>
/// Each G element is the bias plus the input columns in order, one fused multiply-add each (where the hardware has
/// FMA). Blocks of four steps share every weight load. Not meant to be called directly: the arguments are not checked.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class InputProjection
{
    /// <param name="w">The layer's packed gate weights (its x columns are read).</param>
    /// <param name="bias">The packed summed bias: one column of every tile, in order.</param>
    /// <param name="x">Input rows, <paramref name="xStride"/> apart.</param>
    /// <param name="xStride">Floats from x_t to x_(t+1).</param>
    /// <param name="n">Steps.</param>
    /// <param name="g">G rows, <paramref name="gStride"/> apart, in the packed order (tile by tile).</param>
    /// <param name="lanes">The packing's vector width: 16, 8, 4 or 1.</param>
    /// <param name="inputs">The layer's input size.</param>
    /// <param name="tiles">Tiles of the packed layout (TileShape).</param>
    /// <param name="vectorsPerTile">Vectors per tile and column (blocks per tile × 4 gates).</param>
    /// <param name="tileStride">Floats from one tile to the next (all columns, x and h).</param>
    /// <param name="gStride">Floats from G[t] to G[t+1].</param>
    public static void Project(ref float w, ref float bias, ref float x, int xStride, int n, ref float g,
        int lanes, int inputs, int tiles, int vectorsPerTile, int tileStride, int gStride)
    {
        var shape = new Shape(inputs, tiles, vectorsPerTile, tileStride, gStride);
        // The generated code only packs for a width the hardware accelerates (or 1), so the other cases fold away, and a
        // Native AOT binary keeps only its target's width (tests/tools/kernel-isa.sh checks the instructions).
        if (lanes == 16 && Vector512.IsHardwareAccelerated) Project<Width512, Vector512<float>>(ref w, ref bias, ref x, xStride, n, ref g, shape, add: false);
        else if (lanes == 8 && Vector256.IsHardwareAccelerated) Project<Width256, Vector256<float>>(ref w, ref bias, ref x, xStride, n, ref g, shape, add: false);
        else if (lanes == 4 && Vector128.IsHardwareAccelerated) Project<Width128, Vector128<float>>(ref w, ref bias, ref x, xStride, n, ref g, shape, add: false);
        else if (lanes == 1) Project<Width1, float>(ref w, ref bias, ref x, xStride, n, ref g, shape, add: false);
        else throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "The packing's vector width must be one the hardware accelerates (16, 8 or 4 floats), or 1.");
    }

    /// <summary>
    /// The recurrent product of a group of sequences in training: G_s += W_hh·h_s for s in [0, <paramref name="count"/>),
    /// each weight loaded once for four sequences (docs/maths.md §4, "Groups"). <paramref name="w"/> points at the layer's
    /// first h column; h_s and G_s rows are <paramref name="hStride"/> and <paramref name="gStride"/> apart. Each G element
    /// adds the columns in order to the value it holds, one fused multiply-add each.
    /// </summary>
    public static void ProjectAdd(ref float w, ref float h, int hStride, int count, ref float g, int gStride,
        int lanes, int columns, int tiles, int vectorsPerTile, int tileStride)
    {
        var shape = new Shape(columns, tiles, vectorsPerTile, tileStride, gStride);
        if (lanes == 16 && Vector512.IsHardwareAccelerated) Project<Width512, Vector512<float>>(ref w, ref w, ref h, hStride, count, ref g, shape, add: true);
        else if (lanes == 8 && Vector256.IsHardwareAccelerated) Project<Width256, Vector256<float>>(ref w, ref w, ref h, hStride, count, ref g, shape, add: true);
        else if (lanes == 4 && Vector128.IsHardwareAccelerated) Project<Width128, Vector128<float>>(ref w, ref w, ref h, hStride, count, ref g, shape, add: true);
        else if (lanes == 1) Project<Width1, float>(ref w, ref w, ref h, hStride, count, ref g, shape, add: true);
        else throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "The packing's vector width must be one the hardware accelerates (16, 8 or 4 floats), or 1.");
    }

    /// <summary>
    /// As <see cref="Project"/>, on a layer packed with bfloat16 weights (<see cref="LstmPacking.PackLayerBFloat16"/>):
    /// each weight is widened to float32 on load, then summed exactly as there.
    /// </summary>
    public static void ProjectBFloat16(ref float w, ref float bias, ref float x, int xStride, int n, ref float g,
        int lanes, int inputs, int tiles, int vectorsPerTile, int tileStride, int gStride)
    {
        var shape = new Shape(inputs, tiles, vectorsPerTile, tileStride, gStride);
        ref byte wb = ref Unsafe.As<float, byte>(ref w);
        if (vectorsPerTile % 4 != 0)
        {
            // a GRU's tiles (three vectors per block): pair by pair, and the unpaired last vector of an odd tile
            if (lanes == 16 && Vector512.IsHardwareAccelerated) ProjectPairs<Width512, Vector512<float>>(ref wb, ref bias, ref x, xStride, n, ref g, shape);
            else if (lanes == 8 && Vector256.IsHardwareAccelerated) ProjectPairs<Width256, Vector256<float>>(ref wb, ref bias, ref x, xStride, n, ref g, shape);
            else if (lanes == 4 && Vector128.IsHardwareAccelerated) ProjectPairs<Width128, Vector128<float>>(ref wb, ref bias, ref x, xStride, n, ref g, shape);
            else if (lanes == 1) ProjectPairs<Width1, float>(ref wb, ref bias, ref x, xStride, n, ref g, shape);
            else throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "The packing's vector width must be one the hardware accelerates (16, 8 or 4 floats), or 1.");
            return;
        }
        if (lanes == 16 && Vector512.IsHardwareAccelerated) ProjectReduced<BFloat16Weights, Width512, Vector512<float>>(ref wb, ref bias, ref x, xStride, n, ref g, shape);
        else if (lanes == 8 && Vector256.IsHardwareAccelerated) ProjectReduced<BFloat16Weights, Width256, Vector256<float>>(ref wb, ref bias, ref x, xStride, n, ref g, shape);
        else if (lanes == 4 && Vector128.IsHardwareAccelerated) ProjectReduced<BFloat16Weights, Width128, Vector128<float>>(ref wb, ref bias, ref x, xStride, n, ref g, shape);
        else if (lanes == 1) ProjectReduced<BFloat16Weights, Width1, float>(ref wb, ref bias, ref x, xStride, n, ref g, shape);
        else throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "The packing's vector width must be one the hardware accelerates (16, 8 or 4 floats), or 1.");
    }

    /// <summary>
    /// The input projection of an int8 layer (<see cref="LstmPacking.PackLayerInt8"/>): per step,
    /// G[t] = bias + s_ih·s_x·Σ_j q_j·q(x_t)_j, x_t quantized to 8 bits with its own scale (<see cref="Int8Product"/>).
    /// </summary>
    /// <param name="w">The layer's int8 pack: its W_ih product comes first.</param>
    /// <param name="bias">The packed summed bias.</param>
    /// <param name="scale">The W_ih row scales, laid out like the bias.</param>
    /// <param name="x">Input rows, <paramref name="xStride"/> apart.</param>
    /// <param name="xStride">Floats from x_t to x_(t+1).</param>
    /// <param name="n">Steps.</param>
    /// <param name="g">G rows, <paramref name="gStride"/> apart.</param>
    /// <param name="inputs">The layer's input size.</param>
    /// <param name="gStride">Floats from G[t] to G[t+1]: the rows of one step (the bias's length).</param>
    public static void ProjectInt8(ref float w, ref float bias, ref float scale, ref float x, int xStride, int n, ref float g,
        int inputs, int gStride)
    {
        ref byte wb = ref Unsafe.As<float, byte>(ref w);
        for (int t = 0; t < n; t++)
        {
            ref float gt = ref Unsafe.Add(ref g, t * gStride);
            Unsafe.CopyBlockUnaligned(ref Unsafe.As<float, byte>(ref gt), ref Unsafe.As<float, byte>(ref bias), (uint)gStride * 4);
            Int8Product.MultiplyAdd(ref wb, ref scale, ref Unsafe.Add(ref x, t * xStride), inputs, gStride, ref gt);
        }
    }

    private readonly record struct Shape(int Inputs, int Tiles, int VectorsPerTile, int TileStride, int GStride);

    /// <summary>
    /// Two vectors of one tile at a time (so a block of four steps keeps eight accumulators), tile by tile; a tile with an
    /// odd number of vectors (a GRU's three gates per block) does its last one alone. G rows start from the bias
    /// (<paramref name="add"/> false), or from the values they hold (true: <paramref name="bias"/> unused).
    /// </summary>
    private static void Project<TW, TV>(ref float w, ref float bias, ref float x, int xStride, int n, ref float g, Shape s, bool add)
        where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes, columnStride = s.VectorsPerTile * lanes;
        for (int tile = 0; tile < s.Tiles; tile++)
        {
            if (s.VectorsPerTile % 2 != 0)
                ProjectOne<TW, TV>(ref w, ref bias, ref x, xStride, n, ref g, s, add, tile, s.VectorsPerTile - 1);
            for (int pair = 0; pair + 2 <= s.VectorsPerTile; pair += 2)
            {
                ref float wp = ref Unsafe.Add(ref w, tile * s.TileStride + pair * lanes);
                int vector = (tile * s.VectorsPerTile + pair) * lanes;
                TV b0 = add ? TW.Zero : TW.Load(ref bias, vector), b1 = add ? TW.Zero : TW.Load(ref bias, vector + lanes);
                int t = 0;
                for (; t + 4 <= n; t += 4)
                {
                    ref float xt = ref Unsafe.Add(ref x, t * xStride);
                    TV a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
                    if (add)
                    {
                        int at = t * s.GStride + vector;
                        a00 = TW.Load(ref g, at); a01 = TW.Load(ref g, at + lanes);
                        a10 = TW.Load(ref g, at + s.GStride); a11 = TW.Load(ref g, at + s.GStride + lanes);
                        a20 = TW.Load(ref g, at + 2 * s.GStride); a21 = TW.Load(ref g, at + 2 * s.GStride + lanes);
                        a30 = TW.Load(ref g, at + 3 * s.GStride); a31 = TW.Load(ref g, at + 3 * s.GStride + lanes);
                    }
                    ref float wj = ref wp;
                    for (int j = 0; j < s.Inputs; j++)
                    {
                        TV w0 = TW.Load(ref wj, 0), w1 = TW.Load(ref wj, lanes);
                        TV x0 = TW.Splat(Unsafe.Add(ref xt, j));
                        a00 = TW.MulAdd(w0, x0, a00);
                        a01 = TW.MulAdd(w1, x0, a01);
                        TV x1 = TW.Splat(Unsafe.Add(ref xt, j + xStride));
                        a10 = TW.MulAdd(w0, x1, a10);
                        a11 = TW.MulAdd(w1, x1, a11);
                        TV x2 = TW.Splat(Unsafe.Add(ref xt, j + 2 * xStride));
                        a20 = TW.MulAdd(w0, x2, a20);
                        a21 = TW.MulAdd(w1, x2, a21);
                        TV x3 = TW.Splat(Unsafe.Add(ref xt, j + 3 * xStride));
                        a30 = TW.MulAdd(w0, x3, a30);
                        a31 = TW.MulAdd(w1, x3, a31);
                        wj = ref Unsafe.Add(ref wj, columnStride);
                    }
                    int row = t * s.GStride + vector;
                    TW.Store(a00, ref g, row); TW.Store(a01, ref g, row + lanes);
                    TW.Store(a10, ref g, row + s.GStride); TW.Store(a11, ref g, row + s.GStride + lanes);
                    TW.Store(a20, ref g, row + 2 * s.GStride); TW.Store(a21, ref g, row + 2 * s.GStride + lanes);
                    TW.Store(a30, ref g, row + 3 * s.GStride); TW.Store(a31, ref g, row + 3 * s.GStride + lanes);
                }
                for (; t < n; t++)
                {
                    ref float xt = ref Unsafe.Add(ref x, t * xStride);
                    TV a0 = b0, a1 = b1;
                    if (add) { a0 = TW.Load(ref g, t * s.GStride + vector); a1 = TW.Load(ref g, t * s.GStride + vector + lanes); }
                    ref float wj = ref wp;
                    for (int j = 0; j < s.Inputs; j++)
                    {
                        TV xj = TW.Splat(Unsafe.Add(ref xt, j));
                        a0 = TW.MulAdd(TW.Load(ref wj, 0), xj, a0);
                        a1 = TW.MulAdd(TW.Load(ref wj, lanes), xj, a1);
                        wj = ref Unsafe.Add(ref wj, columnStride);
                    }
                    int row = t * s.GStride + vector;
                    TW.Store(a0, ref g, row); TW.Store(a1, ref g, row + lanes);
                }
            }
        }
    }

    /// <summary>Vector <paramref name="v"/> of one tile over every step, one accumulator: as <see cref="Project{TW, TV}"/> does for a pair.</summary>
    private static void ProjectOne<TW, TV>(ref float w, ref float bias, ref float x, int xStride, int n, ref float g, Shape s, bool add, int tile, int v)
        where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes, columnStride = s.VectorsPerTile * lanes;
        ref float wp = ref Unsafe.Add(ref w, tile * s.TileStride + v * lanes);
        int vector = (tile * s.VectorsPerTile + v) * lanes;
        TV b = add ? TW.Zero : TW.Load(ref bias, vector);
        for (int t = 0; t < n; t++)
        {
            ref float xt = ref Unsafe.Add(ref x, t * xStride);
            TV a = add ? TW.Load(ref g, t * s.GStride + vector) : b;
            ref float wj = ref wp;
            for (int j = 0; j < s.Inputs; j++)
            {
                a = TW.MulAdd(TW.Load(ref wj, 0), TW.Splat(Unsafe.Add(ref xt, j)), a);
                wj = ref Unsafe.Add(ref wj, columnStride);
            }
            TW.Store(a, ref g, t * s.GStride + vector);
        }
    }

    /// <summary>
    /// Groups of four vectors of one tile (two bf16 pairs), each widening feeding every step of a
    /// block: four steps with AVX-512's 32 registers (sixteen accumulators), two on the other widths (eight); then the
    /// steps left over. Every G element is the start value plus the columns in order, on every path.
    /// </summary>
    private static void ProjectReduced<TS, TW, TV>(ref byte w, ref float bias, ref float x, int xStride, int n, ref float g, Shape s)
        where TS : struct, IWeightStorage where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes, columnBytes = s.VectorsPerTile * lanes * TS.Bytes, block = TW.Lanes == 16 ? 4 : 2, blocked = n - n % block;
        for (int tile = 0; tile < s.Tiles; tile++)
        {
            for (int four = 0; four < s.VectorsPerTile; four += 4)
            {
                ref byte wp = ref Unsafe.Add(ref w, (tile * s.TileStride + four * lanes) * TS.Bytes);
                int vector = (tile * s.VectorsPerTile + four) * lanes;
                for (int t = 0; t < blocked; t += block)
                {
                    ref float xt = ref Unsafe.Add(ref x, t * xStride);
                    TV a00 = TW.Load(ref bias, vector), a01 = TW.Load(ref bias, vector + lanes);
                    TV a02 = TW.Load(ref bias, vector + 2 * lanes), a03 = TW.Load(ref bias, vector + 3 * lanes);
                    TV a10 = a00, a11 = a01, a12 = a02, a13 = a03, a20 = a00, a21 = a01, a22 = a02, a23 = a03, a30 = a00, a31 = a01, a32 = a02, a33 = a03;
                    for (int j = 0; j < s.Inputs; j++)
                    {
                        TS.Widen4<TW, TV>(ref wp, j * columnBytes, out TV w0, out TV w1, out TV w2, out TV w3);
                        TV x0 = TW.Splat(Unsafe.Add(ref xt, j));
                        a00 = TW.MulAdd(w0, x0, a00); a01 = TW.MulAdd(w1, x0, a01); a02 = TW.MulAdd(w2, x0, a02); a03 = TW.MulAdd(w3, x0, a03);
                        TV x1 = TW.Splat(Unsafe.Add(ref xt, j + xStride));
                        a10 = TW.MulAdd(w0, x1, a10); a11 = TW.MulAdd(w1, x1, a11); a12 = TW.MulAdd(w2, x1, a12); a13 = TW.MulAdd(w3, x1, a13);
                        if (TW.Lanes == 16)
                        {
                            TV x2 = TW.Splat(Unsafe.Add(ref xt, j + 2 * xStride));
                            a20 = TW.MulAdd(w0, x2, a20); a21 = TW.MulAdd(w1, x2, a21); a22 = TW.MulAdd(w2, x2, a22); a23 = TW.MulAdd(w3, x2, a23);
                            TV x3 = TW.Splat(Unsafe.Add(ref xt, j + 3 * xStride));
                            a30 = TW.MulAdd(w0, x3, a30); a31 = TW.MulAdd(w1, x3, a31); a32 = TW.MulAdd(w2, x3, a32); a33 = TW.MulAdd(w3, x3, a33);
                        }
                    }
                    ref float gt = ref Unsafe.Add(ref g, t * s.GStride + vector);
                    Finish<TS, TW, TV>(ref gt, a00, a01, a02, a03);
                    Finish<TS, TW, TV>(ref Unsafe.Add(ref gt, s.GStride), a10, a11, a12, a13);
                    if (TW.Lanes == 16)
                    {
                        Finish<TS, TW, TV>(ref Unsafe.Add(ref gt, 2 * s.GStride), a20, a21, a22, a23);
                        Finish<TS, TW, TV>(ref Unsafe.Add(ref gt, 3 * s.GStride), a30, a31, a32, a33);
                    }
                }
            }
        }
        // The steps left over (a reduced model's Step is one): two fours at a time, taken across tile boundaries (the G
        // row is the tiles' vectors in order), so eight independent sums hide the FMA latency whatever the tiling.
        int fours = s.Tiles * s.VectorsPerTile / 4, foursPerTile = s.VectorsPerTile / 4;
        for (int t = blocked; t < n; t++)
        {
            ref float xt = ref Unsafe.Add(ref x, t * xStride);
            ref float gt = ref Unsafe.Add(ref g, t * s.GStride);
            int q = 0;
            for (; q + 2 <= fours; q += 2)
            {
                ref byte wp = ref Unsafe.Add(ref w, FourOffset(q, foursPerTile, s.TileStride, lanes) * TS.Bytes);
                ref byte wq = ref Unsafe.Add(ref w, FourOffset(q + 1, foursPerTile, s.TileStride, lanes) * TS.Bytes);
                int vector = q * 4 * lanes;
                TV a0 = TW.Load(ref bias, vector), a1 = TW.Load(ref bias, vector + lanes);
                TV a2 = TW.Load(ref bias, vector + 2 * lanes), a3 = TW.Load(ref bias, vector + 3 * lanes);
                TV a4 = TW.Load(ref bias, vector + 4 * lanes), a5 = TW.Load(ref bias, vector + 5 * lanes);
                TV a6 = TW.Load(ref bias, vector + 6 * lanes), a7 = TW.Load(ref bias, vector + 7 * lanes);
                for (int j = 0; j < s.Inputs; j++)
                {
                    TS.Widen4<TW, TV>(ref wp, j * columnBytes, out TV w0, out TV w1, out TV w2, out TV w3);
                    TV xj = TW.Splat(Unsafe.Add(ref xt, j));
                    a0 = TW.MulAdd(w0, xj, a0); a1 = TW.MulAdd(w1, xj, a1); a2 = TW.MulAdd(w2, xj, a2); a3 = TW.MulAdd(w3, xj, a3);
                    TS.Widen4<TW, TV>(ref wq, j * columnBytes, out w0, out w1, out w2, out w3);
                    a4 = TW.MulAdd(w0, xj, a4); a5 = TW.MulAdd(w1, xj, a5); a6 = TW.MulAdd(w2, xj, a6); a7 = TW.MulAdd(w3, xj, a7);
                }
                Finish<TS, TW, TV>(ref Unsafe.Add(ref gt, vector), a0, a1, a2, a3);
                Finish<TS, TW, TV>(ref Unsafe.Add(ref gt, vector + 4 * lanes), a4, a5, a6, a7);
            }
            if (q < fours)
            {
                ref byte wp = ref Unsafe.Add(ref w, FourOffset(q, foursPerTile, s.TileStride, lanes) * TS.Bytes);
                int vector = q * 4 * lanes;
                TV a0 = TW.Load(ref bias, vector), a1 = TW.Load(ref bias, vector + lanes);
                TV a2 = TW.Load(ref bias, vector + 2 * lanes), a3 = TW.Load(ref bias, vector + 3 * lanes);
                for (int j = 0; j < s.Inputs; j++)
                {
                    TS.Widen4<TW, TV>(ref wp, j * columnBytes, out TV w0, out TV w1, out TV w2, out TV w3);
                    TV xj = TW.Splat(Unsafe.Add(ref xt, j));
                    a0 = TW.MulAdd(w0, xj, a0); a1 = TW.MulAdd(w1, xj, a1); a2 = TW.MulAdd(w2, xj, a2); a3 = TW.MulAdd(w3, xj, a3);
                }
                Finish<TS, TW, TV>(ref Unsafe.Add(ref gt, vector), a0, a1, a2, a3);
            }
        }
    }

    /// <summary>
    /// The bf16 projection of tiles whose vector count is not a multiple of four (a GRU's): each pair of vectors (one
    /// 32-bit load widened into two) over every step, two accumulators, then an odd tile's unpaired last vector. Every G
    /// element is the bias plus the columns in order, as in <see cref="ProjectReduced{TS, TW, TV}"/>.
    /// </summary>
    private static void ProjectPairs<TW, TV>(ref byte w, ref float bias, ref float x, int xStride, int n, ref float g, Shape s)
        where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes, columnBytes = s.VectorsPerTile * lanes * 2, pairs = s.VectorsPerTile / 2;
        for (int tile = 0; tile < s.Tiles; tile++)
        {
            for (int pair = 0; pair < pairs; pair++)
            {
                ref byte wp = ref Unsafe.Add(ref w, (tile * s.TileStride + pair * 2 * lanes) * 2);
                int vector = (tile * s.VectorsPerTile + 2 * pair) * lanes;
                TV b0 = TW.Load(ref bias, vector), b1 = TW.Load(ref bias, vector + lanes);
                for (int t = 0; t < n; t++)
                {
                    ref float xt = ref Unsafe.Add(ref x, t * xStride);
                    TV a0 = b0, a1 = b1;
                    for (int j = 0; j < s.Inputs; j++)
                    {
                        TW.WidenBFloat16(ref wp, j * columnBytes, out TV w0, out TV w1);
                        TV xj = TW.Splat(Unsafe.Add(ref xt, j));
                        a0 = TW.MulAdd(w0, xj, a0);
                        a1 = TW.MulAdd(w1, xj, a1);
                    }
                    TW.Store(a0, ref g, t * s.GStride + vector);
                    TW.Store(a1, ref g, t * s.GStride + vector + lanes);
                }
            }
            if (s.VectorsPerTile % 2 != 0)
            {
                int v = s.VectorsPerTile - 1;
                ref byte wp = ref Unsafe.Add(ref w, (tile * s.TileStride + v * lanes) * 2);
                int vector = (tile * s.VectorsPerTile + v) * lanes;
                TV b = TW.Load(ref bias, vector);
                for (int t = 0; t < n; t++)
                {
                    ref float xt = ref Unsafe.Add(ref x, t * xStride);
                    TV a = b;
                    for (int j = 0; j < s.Inputs; j++)
                        a = TW.MulAdd(TW.WidenBFloat16One(ref wp, j * columnBytes), TW.Splat(Unsafe.Add(ref xt, j)), a);
                    TW.Store(a, ref g, t * s.GStride + vector);
                }
            }
        }
    }

    /// <summary>Where four <paramref name="four"/> (vectors 4q … 4q+3 of the G row) starts in the packed weights, in elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FourOffset(int four, int foursPerTile, int tileStride, int lanes) =>
        four / foursPerTile * tileStride + four % foursPerTile * 4 * lanes;

    /// <summary>Stores four vectors of G.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<TS, TW, TV>(ref float g, TV a0, TV a1, TV a2, TV a3)
        where TS : struct, IWeightStorage where TW : struct, IWidth<TV> where TV : struct
    {
        int lanes = TW.Lanes;
        TW.Store(a0, ref g, 0);
        TW.Store(a1, ref g, lanes);
        TW.Store(a2, ref g, 2 * lanes);
        TW.Store(a3, ref g, 3 * lanes);
    }
}

/// <summary>How a reduced packing stores its gate weights, for code written once for both (see <see cref="LstmPacking"/>).</summary>
internal interface IWeightStorage
{
    static abstract int Bytes { get; }
    /// <summary>Widens the four packed vectors starting at byte <paramref name="offset"/> (the four gates of a block).</summary>
    static abstract void Widen4<TW, TV>(ref byte source, int offset, out TV w0, out TV w1, out TV w2, out TV w3)
        where TW : struct, IWidth<TV> where TV : struct;
}

internal readonly struct BFloat16Weights : IWeightStorage
{
    public static int Bytes => 2;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen4<TW, TV>(ref byte source, int offset, out TV w0, out TV w1, out TV w2, out TV w3)
        where TW : struct, IWidth<TV> where TV : struct
    {
        TW.WidenBFloat16(ref source, offset, out w0, out w1);
        TW.WidenBFloat16(ref source, offset + 4 * TW.Lanes, out w2, out w3);
    }
}
