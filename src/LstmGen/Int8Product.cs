using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace LstmGen;

/// <summary>
/// The gate product of an int8 model (docs/maths.md §9): g_r += s_r·s_z·Σ_c q_rc·q(z)_c, where q_rc are the packed int8
/// weights with their row scales s_r (<see cref="LstmPacking.PackLayerInt8"/>), and q(z) is the activation vector z
/// quantized once per call: s_z = max|z| / 127, q(z)_c = round(z_c / s_z) (nearest even, in [−127, 127]). The integer sum
/// is exact, so every instruction set gives the same bits: AVX2 (<c>vpsignb</c>, <c>vpmaddubsw</c>, <c>vpmaddwd</c>), AVX-VNNI
/// (<c>vpdpbusd</c>), SSSE3, ARM64 <c>sdot</c> (Dp), ARM64 AdvSimd (<c>smull</c>, <c>sadalp</c>) and scalar code.
/// </summary>
/// <remarks>
/// Layout of one product's weights: rows in blocks of 8, columns in quads of 4 (zero padded); block by block, quad by
/// quad, 32 bytes each, row r's four bytes at (r mod 8)·4. A block is one 256-bit load, and each 32-bit lane holds the
/// four products one dot-product instruction sums. Not meant to be called directly: the arguments are not checked.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Int8Product
{
    /// <summary>The most columns one product takes (its quantized activations live on the stack; the int32 sums cannot overflow).</summary>
    public const int MaxColumns = 8192;

    /// <summary>
    /// The instruction set the int8 products run on in this process (for logs: every form gives the same sums):
    /// "AVX-VNNI", "AVX2", "SSSE3", "ARM64 sdot", "ARM64 smull/sadalp" or "scalar".
    /// </summary>
    public static string InstructionSet =>
        Avx2.IsSupported ? (AvxVnni.IsSupported ? "AVX-VNNI" : "AVX2")
        : Ssse3.IsSupported ? "SSSE3"
        : Dp.IsSupported ? "ARM64 sdot"
        : AdvSimd.Arm64.IsSupported ? "ARM64 smull/sadalp"
        : "scalar";

    /// <summary>Bytes of one product's packed weights: <see cref="TileShape.Int8Bytes"/>.</summary>
    public static int Bytes(int rows, int columns) => TileShape.Int8Bytes(rows, columns);

    /// <summary>
    /// g[r] += s_r·s_z·Σ_c w[r, c]·q(z)_c for r in [0, <paramref name="rows"/>). A zero z adds nothing; a z with a NaN or an
    /// infinity makes every g[r] NaN.
    /// </summary>
    /// <param name="w">The packed int8 weights of this product (see the remarks).</param>
    /// <param name="rowScale">s_r per row.</param>
    /// <param name="z">The activations: <paramref name="columns"/> floats.</param>
    /// <param name="columns">Columns of the product (at most <see cref="MaxColumns"/>).</param>
    /// <param name="rows">Rows of the product.</param>
    /// <param name="g">The rows to add to.</param>
    [SkipLocalsInit]
    public static void MultiplyAdd(ref byte w, ref float rowScale, ref float z, int columns, int rows, ref float g)
    {
        float max = MaxAbs(ref z, columns, out bool finite);
        if (!finite)
        {
            for (int r = 0; r < rows; r++) Unsafe.Add(ref g, r) = float.NaN;
            return;
        }
        float s = max / 127f;
        if (s == 0f) return; // z is 0 (or below 127 times the smallest float): every q is 0
        int quads = (columns + 3) >> 2;
        // q(z) and |q(z)|, one 32-bit word per quad; 16 bytes of slack for the vector stores of the last group
        Span<int> q = stackalloc int[quads + 4];
        Span<int> a = stackalloc int[quads + 4];
        ref sbyte qb = ref Unsafe.As<int, sbyte>(ref MemoryMarshal.GetReference(q));
        ref sbyte ab = ref Unsafe.As<int, sbyte>(ref MemoryMarshal.GetReference(a));
        Quantize(ref z, columns, s, ref qb, ref ab);
        for (int c = columns; c < 4 * quads; c++) { Unsafe.Add(ref qb, c) = 0; Unsafe.Add(ref ab, c) = 0; }
        ref int qz = ref MemoryMarshal.GetReference(q);
        ref int qa = ref MemoryMarshal.GetReference(a);

        int blocks = rows >> 3;
        if (Avx2.IsSupported) Product<Avx2Dot, Vector256<int>, Signed256>(ref w, ref rowScale, ref qz, ref qa, quads, blocks, s, ref g);
        else if (Ssse3.IsSupported) Product<Ssse3Dot, Pair, Signed128>(ref w, ref rowScale, ref qz, ref qa, quads, blocks, s, ref g);
        else if (Dp.IsSupported) Product<SdotDot, Pair, Vector128<sbyte>>(ref w, ref rowScale, ref qz, ref qa, quads, blocks, s, ref g);
        else if (AdvSimd.Arm64.IsSupported) Product<NeonDot, Quad, Vector128<sbyte>>(ref w, ref rowScale, ref qz, ref qa, quads, blocks, s, ref g);
        else blocks = 0;
        // rows past the last whole block (only a scalar packing can have them), or every row without vector hardware
        for (int r = 8 * blocks; r < rows; r++)
        {
            ref byte wr = ref Unsafe.Add(ref w, (r >> 3) * quads * 32 + (r & 7) * 4);
            int sum = 0;
            for (int c = 0; c < quads; c++)
                for (int k = 0; k < 4; k++)
                    sum += (sbyte)Unsafe.Add(ref wr, c * 32 + k) * Unsafe.Add(ref qb, 4 * c + k);
            Unsafe.Add(ref g, r) = LstmMath.MulAdd(sum, s * Unsafe.Add(ref rowScale, r), Unsafe.Add(ref g, r));
        }
    }

    /// <summary>max|z_c|, and whether every z_c is finite.</summary>
    private static float MaxAbs(ref float z, int columns, out bool finite)
    {
        float max = 0f, check = 0f;
        int c = 0;
        if (Vector128.IsHardwareAccelerated && columns >= 4)
        {
            // v − v is 0 for a finite v and NaN for an infinity or a NaN
            Vector128<float> m = Vector128<float>.Zero, d = Vector128<float>.Zero;
            for (; c + 4 <= columns; c += 4)
            {
                Vector128<float> v = Vector128.LoadUnsafe(ref z, (nuint)c);
                m = Vector128.MaxNative(m, Vector128.Abs(v));
                d += v - v;
            }
            for (int k = 0; k < 4; k++) { max = MathF.Max(max, m.GetElement(k)); check += d.GetElement(k); }
        }
        for (; c < columns; c++)
        {
            float v = Unsafe.Add(ref z, c);
            max = MathF.Max(max, MathF.Abs(v));
            check += v - v;
        }
        finite = check == 0f;
        return max;
    }

    /// <summary>q_c = round(z_c / s), nearest even, clamped to ±127, and |q_c|.</summary>
    private static void Quantize(ref float z, int columns, float s, ref sbyte q, ref sbyte a)
    {
        int c = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            Vector128<float> sv = Vector128.Create(s);
            Vector128<int> hi = Vector128.Create(127), lo = Vector128.Create(-127);
            for (; c + 16 <= columns; c += 16)
            {
                Vector128<int> q0 = Vector128.Min(hi, Vector128.Max(lo, Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref z, (nuint)c) / sv))));
                Vector128<int> q1 = Vector128.Min(hi, Vector128.Max(lo, Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref z, (nuint)(c + 4)) / sv))));
                Vector128<int> q2 = Vector128.Min(hi, Vector128.Max(lo, Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref z, (nuint)(c + 8)) / sv))));
                Vector128<int> q3 = Vector128.Min(hi, Vector128.Max(lo, Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref z, (nuint)(c + 12)) / sv))));
                Vector128<sbyte> bytes = Vector128.Narrow(Vector128.Narrow(q0, q1), Vector128.Narrow(q2, q3));
                Vector128.StoreUnsafe(bytes, ref q, (nuint)c);
                Vector128.StoreUnsafe(Vector128.Abs(bytes), ref a, (nuint)c);
            }
        }
        for (; c < columns; c++)
        {
            float v = Math.Clamp(MathF.Round(Unsafe.Add(ref z, c) / s), -127f, 127f);
            Unsafe.Add(ref q, c) = (sbyte)v;
            Unsafe.Add(ref a, c) = (sbyte)Math.Abs((int)v);
        }
    }

    /// <summary>The product over whole row blocks: four blocks at a time (each quad's broadcasts serve four weight loads), then one.</summary>
    private static void Product<TD, TAcc, TQuad>(ref byte w, ref float rowScale, ref int qz, ref int qa, int quads, int blocks, float s, ref float g)
        where TD : struct, IInt8Dot<TAcc, TQuad> where TAcc : struct where TQuad : struct
    {
        int stride = quads * 32;
        int b = 0;
        for (; b + 4 <= blocks; b += 4)
        {
            ref byte w0 = ref Unsafe.Add(ref w, b * stride);
            TAcc c0 = default, c1 = default, c2 = default, c3 = default;
            for (int c = 0; c < quads; c++)
            {
                TQuad quad = TD.Broadcast(ref Unsafe.Add(ref qz, c), ref Unsafe.Add(ref qa, c));
                ref byte wc = ref Unsafe.Add(ref w0, c * 32);
                c0 = TD.Dot(c0, ref wc, quad);
                c1 = TD.Dot(c1, ref Unsafe.Add(ref wc, stride), quad);
                c2 = TD.Dot(c2, ref Unsafe.Add(ref wc, 2 * stride), quad);
                c3 = TD.Dot(c3, ref Unsafe.Add(ref wc, 3 * stride), quad);
            }
            TD.Finish(c0, ref Unsafe.Add(ref rowScale, 8 * b), s, ref Unsafe.Add(ref g, 8 * b));
            TD.Finish(c1, ref Unsafe.Add(ref rowScale, 8 * b + 8), s, ref Unsafe.Add(ref g, 8 * b + 8));
            TD.Finish(c2, ref Unsafe.Add(ref rowScale, 8 * b + 16), s, ref Unsafe.Add(ref g, 8 * b + 16));
            TD.Finish(c3, ref Unsafe.Add(ref rowScale, 8 * b + 24), s, ref Unsafe.Add(ref g, 8 * b + 24));
        }
        for (; b < blocks; b++)
        {
            ref byte w0 = ref Unsafe.Add(ref w, b * stride);
            TAcc c0 = default;
            for (int c = 0; c < quads; c++)
                c0 = TD.Dot(c0, ref Unsafe.Add(ref w0, c * 32), TD.Broadcast(ref Unsafe.Add(ref qz, c), ref Unsafe.Add(ref qa, c)));
            TD.Finish(c0, ref Unsafe.Add(ref rowScale, 8 * b), s, ref Unsafe.Add(ref g, 8 * b));
        }
    }

    /// <summary>Two 128-bit accumulators: rows 0–3 and 4–7 of a block.</summary>
    private struct Pair { public Vector128<int> A, B; }

    /// <summary>Four 128-bit accumulators of pairwise sums (AdvSimd without Dp): rows 0–1, 2–3, 4–5, 6–7, two partial sums each.</summary>
    private struct Quad { public Vector128<int> A, B, C, D; }

    /// <summary>The broadcast quad of q(z) (and of |q(z)|) the x64 forms take: signs and magnitudes.</summary>
    private struct Signed256 { public Vector256<sbyte> Sign; public Vector256<byte> Magnitude; }
    private struct Signed128 { public Vector128<sbyte> Sign; public Vector128<byte> Magnitude; }

    /// <summary>One instruction set's dot product of a row block with one quad of q(z), and its finish into g.</summary>
    private interface IInt8Dot<TAcc, TQuad> where TAcc : struct where TQuad : struct
    {
        /// <summary>The quad of q(z) at <paramref name="zq"/> (four bytes; <paramref name="za"/>: their absolute values), broadcast to every lane (loaded once for four row blocks).</summary>
        static abstract TQuad Broadcast(ref int zq, ref int za);
        /// <summary>acc += the eight rows' dot products with the quad.</summary>
        static abstract TAcc Dot(TAcc acc, ref byte w, TQuad quad);
        /// <summary>g[r] += (float)sum_r · (s·s_r) for the block's eight rows.</summary>
        static abstract void Finish(TAcc acc, ref float rowScale, float s, ref float g);
    }

    private readonly struct Avx2Dot : IInt8Dot<Vector256<int>, Signed256>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Signed256 Broadcast(ref int zq, ref int za) =>
            new() { Sign = Vector256.Create(zq).AsSByte(), Magnitude = Vector256.Create(za).AsByte() };

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(Vector256<int> acc, ref byte w, Signed256 quad)
        {
            // q_z·w = |q_z|·(sign(q_z)·w): an unsigned-by-signed product that cannot saturate (|q_z|, |w| ≤ 127)
            Vector256<sbyte> signed = Avx2.Sign(Vector256.LoadUnsafe(ref w).AsSByte(), quad.Sign);
            if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, quad.Magnitude, signed);
            return acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(quad.Magnitude, signed), Vector256.Create((short)1));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Finish(Vector256<int> acc, ref float rowScale, float s, ref float g) =>
            Vector256.StoreUnsafe(LstmMath.MulAdd(Vector256.ConvertToSingle(acc), Vector256.Create(s) * Vector256.LoadUnsafe(ref rowScale), Vector256.LoadUnsafe(ref g)), ref g);
    }

    private readonly struct Ssse3Dot : IInt8Dot<Pair, Signed128>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Signed128 Broadcast(ref int zq, ref int za) =>
            new() { Sign = Vector128.Create(zq).AsSByte(), Magnitude = Vector128.Create(za).AsByte() };

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Pair Dot(Pair acc, ref byte w, Signed128 quad)
        {
            Vector128<short> one = Vector128.Create((short)1);
            acc.A += Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(quad.Magnitude, Ssse3.Sign(Vector128.LoadUnsafe(ref w).AsSByte(), quad.Sign)), one);
            acc.B += Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(quad.Magnitude, Ssse3.Sign(Vector128.LoadUnsafe(ref w, 16).AsSByte(), quad.Sign)), one);
            return acc;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Finish(Pair acc, ref float rowScale, float s, ref float g) => Finish128(acc.A, acc.B, ref rowScale, s, ref g);
    }

    private readonly struct SdotDot : IInt8Dot<Pair, Vector128<sbyte>>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<sbyte> Broadcast(ref int zq, ref int za) => Vector128.Create(zq).AsSByte();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Pair Dot(Pair acc, ref byte w, Vector128<sbyte> quad)
        {
            acc.A = Dp.DotProduct(acc.A, Vector128.LoadUnsafe(ref w).AsSByte(), quad);
            acc.B = Dp.DotProduct(acc.B, Vector128.LoadUnsafe(ref w, 16).AsSByte(), quad);
            return acc;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Finish(Pair acc, ref float rowScale, float s, ref float g) => Finish128(acc.A, acc.B, ref rowScale, s, ref g);
    }

    private readonly struct NeonDot : IInt8Dot<Quad, Vector128<sbyte>>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<sbyte> Broadcast(ref int zq, ref int za) => Vector128.Create(zq).AsSByte();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Quad Dot(Quad acc, ref byte w, Vector128<sbyte> quad)
        {
            // 16-bit products (exact: |q| ≤ 127), added pairwise into 32-bit lanes: two partial sums per row
            Vector128<sbyte> w0 = Vector128.LoadUnsafe(ref w).AsSByte(), w1 = Vector128.LoadUnsafe(ref w, 16).AsSByte();
            acc.A = AdvSimd.AddPairwiseWideningAndAdd(acc.A, AdvSimd.MultiplyWideningLower(w0.GetLower(), quad.GetLower()));
            acc.B = AdvSimd.AddPairwiseWideningAndAdd(acc.B, AdvSimd.MultiplyWideningUpper(w0, quad));
            acc.C = AdvSimd.AddPairwiseWideningAndAdd(acc.C, AdvSimd.MultiplyWideningLower(w1.GetLower(), quad.GetLower()));
            acc.D = AdvSimd.AddPairwiseWideningAndAdd(acc.D, AdvSimd.MultiplyWideningUpper(w1, quad));
            return acc;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Finish(Quad acc, ref float rowScale, float s, ref float g) =>
            Finish128(AdvSimd.Arm64.AddPairwise(acc.A, acc.B), AdvSimd.Arm64.AddPairwise(acc.C, acc.D), ref rowScale, s, ref g);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish128(Vector128<int> rows0, Vector128<int> rows4, ref float rowScale, float s, ref float g)
    {
        Vector128<float> sv = Vector128.Create(s);
        Vector128.StoreUnsafe(LstmMath.MulAdd(Vector128.ConvertToSingle(rows0), sv * Vector128.LoadUnsafe(ref rowScale), Vector128.LoadUnsafe(ref g)), ref g);
        Vector128.StoreUnsafe(LstmMath.MulAdd(Vector128.ConvertToSingle(rows4), sv * Vector128.LoadUnsafe(ref rowScale, 4), Vector128.LoadUnsafe(ref g, 4)), ref g, 4);
    }
}
