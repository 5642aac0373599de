using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;

namespace LstmGen.Bench;

/// <summary>
/// The machine's limits, measured by BenchmarkDotNet at the start of every run (same job as the shapes), on one core:
/// the clock (a chain of dependent integer adds, one cycle each), the FMA peak (Vector512 and Vector256 FMAs on 12
/// independent accumulators, enough to cover latency × pipes on Zen 4 and Zen 5) and the load bandwidth from L1, L2
/// and L3 (XOR of 64-byte aligned Vector512 loads into 8 accumulators, streaming over a 32 KiB, 512 KiB and 16 MiB
/// buffer). Each benchmark's OperationsPerInvoke is its count of adds, FLOPs or bytes, so its median is ns per add
/// (= ns per cycle), ns per FLOP or ns per byte, and the reciprocal is GHz, GFLOP/s or GB/s.
/// </summary>
public unsafe class Limits
{
    public const int ClockIterations = 1 << 15, ClockAddsPerIteration = 16;
    public const int ClockAdds = ClockIterations * ClockAddsPerIteration;

    public const int Accumulators = 12;
    public const int Fma512Iterations = 1 << 13, Fma256Iterations = 1 << 14;
    public const int Fma512Flops = Fma512Iterations * Accumulators * 16 * 2;   // 16 float lanes, 2 FLOP per FMA
    public const int Fma256Flops = Fma256Iterations * Accumulators * 8 * 2;

    public const int L1Bytes = 32 << 10, L2Bytes = 512 << 10, L3Bytes = 16 << 20;
    public const int L1Passes = 128, L2Passes = 8, L3Passes = 1;
    public const int L1Traffic = L1Bytes * L1Passes, L2Traffic = L2Bytes * L2Passes, L3Traffic = L3Bytes * L3Passes;

    private long _one = 1;
    private float _m = 0.999f, _c = 1e-3f;
    private byte* _l1, _l2, _l3;

    [GlobalSetup]
    public void Setup()
    {
        _l1 = Allocate(L1Bytes); _l2 = Allocate(L2Bytes); _l3 = Allocate(L3Bytes);
    }

    private static byte* Allocate(int bytes)
    {
        var p = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        for (int k = 0; k < bytes; k++) p[k] = (byte)(k * 131 + 7);   // touch every page
        return p;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(_l1); NativeMemory.AlignedFree(_l2); NativeMemory.AlignedFree(_l3);
        _l1 = _l2 = _l3 = null;
    }

    /// <summary>ns per cycle: 16 dependent 64-bit adds per iteration (1-cycle latency each; the loop counter runs beside them).</summary>
    [Benchmark(OperationsPerInvoke = ClockAdds, Description = "clock: dependent adds (ns/cycle)")]
    public long Clock()
    {
        long a = _one, b = _one;
        for (int i = 0; i < ClockIterations; i++)
        {
            a += b; a += b; a += b; a += b; a += b; a += b; a += b; a += b;
            a += b; a += b; a += b; a += b; a += b; a += b; a += b; a += b;
        }
        return a;
    }

    /// <summary>ns per FLOP of Vector512 FMAs, 12 independent chains (a ← a·m + c converges to c/(1−m), no denormals).</summary>
    [Benchmark(OperationsPerInvoke = Fma512Flops, Description = "FMA peak, Vector512 (ns/FLOP)")]
    public float Fma512()
    {
        var m = Vector512.Create(_m); var c = Vector512.Create(_c);
        Vector512<float> a0 = c, a1 = c + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c,
                         a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        for (int i = 0; i < Fma512Iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    /// <summary>ns per FLOP of Vector256 FMAs, 12 independent chains.</summary>
    [Benchmark(OperationsPerInvoke = Fma256Flops, Description = "FMA peak, Vector256 (ns/FLOP)")]
    public float Fma256()
    {
        var m = Vector256.Create(_m); var c = Vector256.Create(_c);
        Vector256<float> a0 = c, a1 = c + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c,
                         a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        for (int i = 0; i < Fma256Iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    [Benchmark(OperationsPerInvoke = L1Traffic, Description = "load bandwidth, 32 KiB buffer (L1) (ns/byte)")]
    public uint LoadL1() => Stream(_l1, L1Bytes, L1Passes);

    [Benchmark(OperationsPerInvoke = L2Traffic, Description = "load bandwidth, 512 KiB buffer (L2) (ns/byte)")]
    public uint LoadL2() => Stream(_l2, L2Bytes, L2Passes);

    [Benchmark(OperationsPerInvoke = L3Traffic, Description = "load bandwidth, 16 MiB buffer (L3) (ns/byte)")]
    public uint LoadL3() => Stream(_l3, L3Bytes, L3Passes);

    /// <summary>Reads every byte of the buffer <paramref name="passes"/> times, 512 bytes (8 aligned Vector512 loads) per iteration.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint Stream(byte* p, int bytes, int passes)
    {
        Vector512<uint> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int pass = 0; pass < passes; pass++)
        {
            for (byte* q = p, end = p + bytes; q < end; q += 512)
            {
                a0 ^= Vector512.LoadAligned((uint*)q); a1 ^= Vector512.LoadAligned((uint*)(q + 64));
                a2 ^= Vector512.LoadAligned((uint*)(q + 128)); a3 ^= Vector512.LoadAligned((uint*)(q + 192));
                a4 ^= Vector512.LoadAligned((uint*)(q + 256)); a5 ^= Vector512.LoadAligned((uint*)(q + 320));
                a6 ^= Vector512.LoadAligned((uint*)(q + 384)); a7 ^= Vector512.LoadAligned((uint*)(q + 448));
            }
        }
        return (((a0 ^ a1) ^ (a2 ^ a3)) ^ ((a4 ^ a5) ^ (a6 ^ a7))).ToScalar();
    }
}
