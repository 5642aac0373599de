using System;
using System.Runtime.Intrinsics;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests;

/// <summary>
/// The tanh and sigmoid approximations against double-precision Math.Tanh over the whole float range: every
/// 64th float bit pattern (67 million values, both signs, subnormals included) plus the special values.
/// </summary>
public sealed class LstmMathTests(ITestOutputHelper output)
{
    [Fact]
    public void TanhIsWithinStatedErrorOverTheWholeFloatRange()
    {
        double maxTanh = 0, maxSigmoid = 0;
        var buffer = new float[16];
        for (long bits = 0; bits <= uint.MaxValue; bits += 64 * 16)
        {
            for (int k = 0; k < 16; k++) buffer[k] = BitConverter.UInt32BitsToSingle((uint)(bits + 64 * k));
            var v = Vector512.Create(buffer);
            Vector512<float> t512 = LstmMath.Tanh(v);
            Vector512<float> s512 = LstmMath.Sigmoid(v);
            for (int k = 0; k < 16; k++)
            {
                float x = buffer[k];
                if (float.IsNaN(x)) { Assert.True(float.IsNaN(t512[k]), $"tanh(NaN) gave {t512[k]}"); continue; }
                maxTanh = Math.Max(maxTanh, Math.Abs(t512[k] - Math.Tanh(x)));
                maxSigmoid = Math.Max(maxSigmoid, Math.Abs(s512[k] - 1.0 / (1.0 + Math.Exp(-(double)x))));
            }
        }
        output.WriteLine($"max |tanh error| {maxTanh:E3}, max |sigmoid error| {maxSigmoid:E3}");
        Assert.True(maxTanh <= LstmMath.MaxTanhError, $"tanh error {maxTanh:E3}");
        Assert.True(maxSigmoid <= LstmMath.MaxSigmoidError, $"sigmoid error {maxSigmoid:E3}");
    }

    [Fact]
    public void EveryWidthGivesTheSameValuesAsTheScalarPath()
    {
        // The vector overloads and the scalar one evaluate the same polynomial in the same order, with FMA exactly when
        // the hardware has it, so every hardware-accelerated width agrees bit for bit with the scalar path. (A width the
        // hardware lacks is emulated without FMA, so it may differ in the last bit; it is not used by the kernels then.)
        var random = new LstmRandom(17);
        for (int n = 0; n < 10_000; n++)
        {
            float x = (float)((random.NextDouble() * 2 - 1) * 12);
            float s = LstmMath.Tanh(x);
            if (Vector128.IsHardwareAccelerated) Assert.Equal(s, LstmMath.Tanh(Vector128.Create(x))[0]);
            if (Vector256.IsHardwareAccelerated) Assert.Equal(s, LstmMath.Tanh(Vector256.Create(x))[3]);
            if (Vector512.IsHardwareAccelerated) Assert.Equal(s, LstmMath.Tanh(Vector512.Create(x))[15]);
            Assert.True(Math.Abs(s - LstmMath.Tanh(Vector512.Create(x))[15]) <= 2 * LstmMath.MaxTanhError); // both within the bound of tanh
        }
    }

    /// <summary>
    /// The approximations' error averages out: over each stretch below, the mean signed error of float32 tanh and σ
    /// against double precision is far below a float32 step. A one-signed error would not average out, and a long
    /// stream that integrates it (a forget gate near 1 over tens of thousands of steps) drifts: the earlier fit was
    /// 3e-8 too high on average for tanh above 0.5 (σ ±1.5e-8 beyond ±1), and its long-stream errors grew tenfold.
    /// Runs on whichever path the process has (CI runs it with AVX-512, AVX2 only, and without intrinsics: with and without FMA).
    /// </summary>
    [Fact]
    public void TheErrorHasNoSystematicSign()
    {
        (double From, double To)[] tanhStretches = [(0.25, 0.5), (0.5, 1), (1, 2), (2, 3), (3, 4), (4, 6), (6, 7.99)];
        (double From, double To)[] sigmoidStretches = [(1, 2), (2, 4), (4, 6), (6, 8), (8, 12), (12, 15.98)];
        double worstTanh = 0, worstSigmoid = 0;
        foreach (var (from, to) in tanhStretches)
        {
            double mean = MeanError(from, to, x => LstmMath.Tanh(x), Math.Tanh);
            output.WriteLine($"tanh on [{from}, {to}): mean signed error {mean:E2}");
            worstTanh = Math.Max(worstTanh, Math.Abs(mean));
        }
        foreach (var (from, to) in sigmoidStretches)
            foreach (int sign in new[] { 1, -1 })
            {
                double mean = MeanError(from, to, x => LstmMath.Sigmoid(sign * x), x => 1 / (1 + Math.Exp(-sign * x)));
                output.WriteLine($"σ on {(sign > 0 ? "" : "−")}[{from}, {to}): mean signed error {mean:E2}");
                worstSigmoid = Math.Max(worstSigmoid, Math.Abs(mean));
            }
        Assert.True(worstTanh <= 4e-9, $"tanh's error averages {worstTanh:E2} over a stretch: it has a systematic sign");
        Assert.True(worstSigmoid <= 2e-9, $"σ's error averages {worstSigmoid:E2} over a stretch: it has a systematic sign");
    }

    /// <summary>The mean of f(x) − exact(x) over every float32 in [from, to) (at most about two million, evenly strided).</summary>
    private static double MeanError(double from, double to, Func<float, float> f, Func<double, double> exact)
    {
        uint first = BitConverter.SingleToUInt32Bits((float)from), last = BitConverter.SingleToUInt32Bits((float)to);
        uint stride = Math.Max(1u, (last - first) / 2_000_000);
        double sum = 0;
        long count = 0;
        for (uint bits = first; bits < last; bits += stride, count++)
        {
            float x = BitConverter.UInt32BitsToSingle(bits);
            sum += f(x) - exact(x);
        }
        return sum / count;
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(float.Epsilon)]
    [InlineData(-1e-40f)]
    [InlineData(1e-30f)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    [InlineData(float.MaxValue)]
    [InlineData(float.MinValue)]
    [InlineData(8.5f)]
    [InlineData(-20f)]
    public void SpecialValues(float x)
    {
        float t = LstmMath.Tanh(x);
        Assert.True(Math.Abs(t - Math.Tanh(x)) <= LstmMath.MaxTanhError, $"tanh({x}) = {t}");
        if (x == 0) Assert.Equal(BitConverter.SingleToInt32Bits(x), BitConverter.SingleToInt32Bits(t)); // keeps the sign of zero
        if (x != 0 && Math.Abs(x) < 1e-20) Assert.True(Math.Abs(t - x) <= 2e-7 * Math.Abs(x), $"tanh({x}) = {t}"); // tiny and subnormal inputs: tanh(x) = x to float precision
        Assert.Equal(Math.Sign(x), Math.Sign(t));
        float s = LstmMath.Sigmoid(x);
        Assert.InRange(s, 0f, 1f);
        Assert.True(float.IsNaN(LstmMath.Tanh(float.NaN)));
        Assert.True(float.IsNaN(LstmMath.Sigmoid(float.NaN)));
        Assert.True(float.IsNaN(LstmMath.Tanh(Vector128.Create(float.NaN))[0]));
        Assert.True(float.IsNegative(LstmMath.Tanh(-0f)) && LstmMath.Tanh(-0f) == 0f, "tanh(-0) must be -0");
    }
}
