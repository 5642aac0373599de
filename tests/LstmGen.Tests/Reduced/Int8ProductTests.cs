using System;
using System.IO;
using System.Linq;
using Xunit;

namespace LstmGen.Tests.Reduced;

/// <summary>
/// The int8 gate product (<see cref="Int8Product"/>) against sums written here from its definition: weights laid out as
/// the remarks of Int8Product say (rows in blocks of 8, columns in quads of 4, 32 bytes per block and quad), activations
/// quantized with s = max|z| / 127 and q = round-half-even(z / s). With integer activations whose largest magnitude is
/// 127 and unit row scales, s is 1 and every float operation is exact, so the expected g is the integer sum itself, bit
/// for bit. CI runs these on every path (AVX2, SSSE3 with AVX2 off, scalar, and ARM64 sdot / AdvSimd under qemu), so
/// each instruction set is held to the same exact sums.
/// </summary>
public sealed class Int8ProductTests
{
    private static byte[] Pack(sbyte[,] w)
    {
        int rows = w.GetLength(0), columns = w.GetLength(1), quads = (columns + 3) / 4;
        var packed = new byte[(rows + 7) / 8 * 32 * quads];
        Assert.Equal(packed.Length, Int8Product.Bytes(rows, columns));
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                packed[(r / 8 * quads + c / 4) * 32 + r % 8 * 4 + c % 4] = (byte)w[r, c];
        return packed;
    }

    private static sbyte[,] RandomWeights(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        var w = new sbyte[rows, columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                w[r, c] = (sbyte)random.Next(-127, 128);
        // the extremes, where a saturating instruction would clip: a row of +127 and a row of −127
        for (int c = 0; c < columns; c++) { w[0, c] = 127; if (rows > 1) w[1, c] = -127; }
        return w;
    }

    public static TheoryData<int, int> Shapes() => new()
    {
        { 8, 1 }, { 8, 3 }, { 16, 17 }, { 64, 40 }, { 160, 41 }, { 1024, 256 }, { 68, 17 }, { 12, 9 }, { 40, 1 }, { 512, 8192 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void IntegerSumsAreExact(int rows, int columns)
    {
        var w = RandomWeights(rows, columns, rows * 31 + columns);
        byte[] packed = Pack(w);
        var random = new Random(columns);
        var z = new float[columns];
        for (int c = 0; c < columns; c++) z[c] = random.Next(-127, 128);
        z[columns / 2] = columns % 2 == 0 ? 127 : -127; // max |z| = 127, so s = 1 and q = z
        var scale = new float[rows];
        Array.Fill(scale, 1f);
        var g = new float[rows + 1];
        g[rows] = 12345f; // past the last row: must stay untouched
        Int8Product.MultiplyAdd(ref packed[0], ref scale[0], ref z[0], columns, rows, ref g[0]);
        for (int r = 0; r < rows; r++)
        {
            long sum = 0;
            for (int c = 0; c < columns; c++) sum += w[r, c] * (long)z[c];
            Assert.True((float)sum == g[r], $"row {r}: {g[r]:R}, expected {sum}");
        }
        Assert.Equal(12345f, g[rows]);
    }

    [Fact]
    public void ScalesMultiplyTheSumAndTheRowsAreAdded()
    {
        const int rows = 24, columns = 10;
        var w = RandomWeights(rows, columns, 5);
        byte[] packed = Pack(w);
        // max |z| = 2.54, so s = 0.02 and q_c = round(z_c / 0.02)
        float[] z = { 2.54f, -1.0f, 0.5f, 0.013f, -0.029f, 0f, 1.27f, -2.54f, 0.31f, 0.0099f };
        var scale = new float[rows];
        var g = new float[rows];
        for (int r = 0; r < rows; r++) { scale[r] = 0.001f * (r + 1); g[r] = r - 10; }
        var g0 = (float[])g.Clone();
        Int8Product.MultiplyAdd(ref packed[0], ref scale[0], ref z[0], columns, rows, ref g[0]);
        float s = 2.54f / 127f;
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int c = 0; c < columns; c++) sum += w[r, c] * Math.Clamp(Math.Round(z[c] / s, MidpointRounding.ToEven), -127, 127);
            double expected = g0[r] + sum * s * scale[r];
            Assert.True(Math.Abs(g[r] - expected) <= 1e-6 * (Math.Abs(g0[r]) + Math.Abs(sum * s * scale[r])) + 1e-7, $"row {r}: {g[r]:R}, expected {expected:R}");
        }
    }

    [Fact]
    public void HalvesRoundToEven()
    {
        // s = 1 (max |z| = 127); 2.5 → 2, 3.5 → 4, −2.5 → −2, −0.5 → 0: one weight row of ones reads back the sum of q
        float[] z = { 127f, 2.5f, 3.5f, -2.5f, -0.5f, 0.5f, 1.5f };
        var w = new sbyte[8, z.Length];
        for (int c = 0; c < z.Length; c++) w[0, c] = 1;
        byte[] packed = Pack(w);
        var scale = new float[8];
        Array.Fill(scale, 1f);
        var g = new float[8];
        Int8Product.MultiplyAdd(ref packed[0], ref scale[0], ref z[0], z.Length, 8, ref g[0]);
        Assert.Equal(127f + 2 + 4 - 2 + 0 + 0 + 2, g[0]);
    }

    [Fact]
    public void AZeroVectorAddsNothingAndANonFiniteOneGivesNaN()
    {
        var w = RandomWeights(16, 5, 9);
        byte[] packed = Pack(w);
        var scale = new float[16];
        Array.Fill(scale, 0.5f);
        var g = new float[16];
        for (int r = 0; r < 16; r++) g[r] = r;
        var zero = new float[5];
        Int8Product.MultiplyAdd(ref packed[0], ref scale[0], ref zero[0], 5, 16, ref g[0]);
        for (int r = 0; r < 16; r++) Assert.Equal(r, g[r]);
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            float[] z = { 1f, 2f, bad, 0f, -1f };
            var h = new float[16];
            Int8Product.MultiplyAdd(ref packed[0], ref scale[0], ref z[0], 5, 16, ref h[0]);
            Assert.All(h, v => Assert.True(float.IsNaN(v)));
        }
    }

    [Fact]
    public void TheInstructionSetNamedIsTheOneThisProcessHas()
    {
        string form = Int8Product.InstructionSet;
        Assert.Contains(form, new[] { "AVX-VNNI", "AVX2", "SSSE3", "ARM64 sdot", "ARM64 smull/sadalp", "scalar" });
        // CI runs this file with AVX2 off and with no intrinsics, and on x64 the CPU's own flags say whether it has AVX-VNNI
        if (Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0") Assert.Equal("scalar", form);
        else if (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64)
        {
            if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0") Assert.Equal("SSSE3", form);
            else if (File.Exists("/proc/cpuinfo"))
            {
                string flags = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags", StringComparison.Ordinal));
                bool vnni = flags.Split(' ').Contains("avx_vnni");
                Assert.Equal(vnni ? "AVX-VNNI" : "AVX2", form);
            }
        }
    }

    [Fact]
    public void PackingRefusesLayersWiderThanTheProductTakes()
    {
        int wide = Int8Product.MaxColumns + 1;
        var ex = Assert.Throws<NotSupportedException>(() => LstmPacking.PackLayerInt8(new float[4 * wide], new float[4], default, default,
            wide, 1, 1, 1, 1, new byte[1 << 20], new float[4], new float[8]));
        Assert.Contains("BFloat16", ex.Message);
    }
}
