using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LstmGen;

/// <summary>
/// One vector width, for the runtime's kernels written once for every width: a generic method over
/// <c>TW : IWidth&lt;TV&gt;</c> is compiled separately for each width struct, with every call below inlined, so it runs as
/// if written out for <see cref="Vector512{T}"/>, <see cref="Vector256{T}"/>, <see cref="Vector128{T}"/> or plain floats.
/// </summary>
internal interface IWidth<TV> where TV : struct
{
    static abstract int Lanes { get; }
    static abstract TV Zero { get; }
    static abstract TV Load(ref float source, int offset);
    static abstract void Store(TV value, ref float destination, int offset);
    static abstract TV Splat(float value);
    static abstract TV Add(TV a, TV b);
    static abstract TV Subtract(TV a, TV b);
    static abstract TV Multiply(TV a, TV b);
    /// <summary>a·b + c, fused where the hardware has FMA (as <see cref="LstmMath.MulAdd(float, float, float)"/>).</summary>
    static abstract TV MulAdd(TV a, TV b, TV c);

    /// <summary>
    /// Widens one bfloat16 pair of packed vectors (see <see cref="LstmPacking.PackLayerBFloat16"/>): 32-bit lane k holds
    /// the even vector's lane k in its low half and the odd vector's in its high half; a bfloat16 is the top half of a
    /// float32, so the low half shifted up and the high half masked are the two float vectors.
    /// </summary>
    static abstract void WidenBFloat16(ref byte source, int byteOffset, out TV even, out TV odd);

    /// <summary>
    /// Widens one unpaired bfloat16 vector (<see cref="Lanes"/> consecutive bfloat16 values): the last vector of a tile
    /// with an odd number of them (a GRU's three gates per block; see <see cref="LstmPacking.PackLayerBFloat16"/>).
    /// </summary>
    static abstract TV WidenBFloat16One(ref byte source, int byteOffset);
}

internal readonly struct Width512 : IWidth<Vector512<float>>
{
    public static int Lanes => 16;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(ref float source, int offset) => Vector512.LoadUnsafe(ref source, (nuint)offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> value, ref float destination, int offset) => Vector512.StoreUnsafe(value, ref destination, (nuint)offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Splat(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MulAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => LstmMath.MulAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WidenBFloat16(ref byte source, int byteOffset, out Vector512<float> even, out Vector512<float> odd)
    {
        Vector512<uint> bits = Vector512.AsUInt32(Vector512.LoadUnsafe(ref source, (nuint)byteOffset));
        even = Vector512.AsSingle(bits << 16);
        odd = Vector512.AsSingle(bits & Vector512.Create(0xFFFF0000u));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> WidenBFloat16One(ref byte source, int byteOffset) =>
        Vector512.AsSingle(Vector512.WidenLower(Vector256.LoadUnsafe(ref source, (nuint)byteOffset).AsUInt16().ToVector512Unsafe()) << 16);

}

internal readonly struct Width256 : IWidth<Vector256<float>>
{
    public static int Lanes => 8;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(ref float source, int offset) => Vector256.LoadUnsafe(ref source, (nuint)offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> value, ref float destination, int offset) => Vector256.StoreUnsafe(value, ref destination, (nuint)offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Splat(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => LstmMath.MulAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WidenBFloat16(ref byte source, int byteOffset, out Vector256<float> even, out Vector256<float> odd)
    {
        Vector256<uint> bits = Vector256.AsUInt32(Vector256.LoadUnsafe(ref source, (nuint)byteOffset));
        even = Vector256.AsSingle(bits << 16);
        odd = Vector256.AsSingle(bits & Vector256.Create(0xFFFF0000u));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> WidenBFloat16One(ref byte source, int byteOffset) =>
        Vector256.AsSingle(Vector256.WidenLower(Vector128.LoadUnsafe(ref source, (nuint)byteOffset).AsUInt16().ToVector256Unsafe()) << 16);

}

internal readonly struct Width128 : IWidth<Vector128<float>>
{
    public static int Lanes => 4;
    public static Vector128<float> Zero => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(ref float source, int offset) => Vector128.LoadUnsafe(ref source, (nuint)offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<float> value, ref float destination, int offset) => Vector128.StoreUnsafe(value, ref destination, (nuint)offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Splat(float value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> MulAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => LstmMath.MulAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WidenBFloat16(ref byte source, int byteOffset, out Vector128<float> even, out Vector128<float> odd)
    {
        Vector128<uint> bits = Vector128.AsUInt32(Vector128.LoadUnsafe(ref source, (nuint)byteOffset));
        even = Vector128.AsSingle(bits << 16);
        odd = Vector128.AsSingle(bits & Vector128.Create(0xFFFF0000u));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> WidenBFloat16One(ref byte source, int byteOffset) =>
        Vector128.AsSingle(Vector128.WidenLower(Vector64.LoadUnsafe(ref source, (nuint)byteOffset).AsUInt16().ToVector128Unsafe()) << 16);

}

/// <summary>Plain floats: the path for builds without hardware intrinsics, and the columns past the last whole vector.</summary>
internal readonly struct Width1 : IWidth<float>
{
    public static int Lanes => 1;
    public static float Zero => 0f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(ref float source, int offset) => Unsafe.Add(ref source, offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float value, ref float destination, int offset) => Unsafe.Add(ref destination, offset) = value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Splat(float value) => value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Subtract(float a, float b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Multiply(float a, float b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MulAdd(float a, float b, float c) => LstmMath.MulAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WidenBFloat16(ref byte source, int byteOffset, out float even, out float odd)
    {
        uint bits = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref source, byteOffset));
        even = BitConverter.UInt32BitsToSingle(bits << 16);
        odd = BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float WidenBFloat16One(ref byte source, int byteOffset) =>
        BitConverter.UInt32BitsToSingle((uint)Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref source, byteOffset)) << 16);

}
