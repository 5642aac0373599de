using System;
using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Oracles;

/// <summary>
/// Tests of the test oracles themselves: the hand-worked values of docs/maths.md §7, agreement of the
/// two oracles with each other, and with a scalar double-precision LSTM written from docs/maths.md §1.
/// An unavailable oracle is a FAILURE (CI installs everything), never a skip.
/// </summary>
public sealed class OracleSelfTests
{
    private readonly ITestOutputHelper _out;
    public OracleSelfTests(ITestOutputHelper output) => _out = output;

    private delegate OracleResult Oracle(int inputSize, int hiddenSize, int numLayers, bool bias, int outputSize, HeadActivation activation,
                                         ReadOnlySpan<float> parameters, ReadOnlySpan<float> inputs, int seqLen);

    private static Oracle Get(string name)
    {
        switch (name)
        {
            case "torch":
                if (!TorchOracle.IsAvailable) Assert.Fail("TorchOracle unavailable: " + TorchOracle.UnavailableReason);
                return TorchOracle.Run;
            case "onnx":
                if (!OnnxOracle.IsAvailable) Assert.Fail("OnnxOracle unavailable: " + OnnxOracle.UnavailableReason);
                return OnnxOracle.Run;
            default:
                throw new ArgumentException(name);
        }
    }

    [Theory]
    [InlineData("torch", true)]
    [InlineData("torch", false)]
    [InlineData("onnx", true)]
    [InlineData("onnx", false)]
    public void HandWorkedValues_Section7(string oracle, bool bias)
    {
        // I = H = 1, every weight 0.5, every bias 0 (when present), x_1 = 1, h_0 = c_0 = 0.
        var parameters = new float[bias ? 16 : 8];
        Array.Fill(parameters, 0.5f, 0, 8);
        var sw = Stopwatch.StartNew();
        var r = Get(oracle)(1, 1, 1, bias, 0, HeadActivation.None, parameters, new[] { 1f }, 1);
        _out.WriteLine($"{oracle}: h1 = {r.Output[0]:R}, c1 = {r.CN[0]:R} ({sw.Elapsed.TotalMilliseconds:F1} ms)");
        Assert.Single(r.Output);
        if (oracle == "torch" && !(Math.Abs(r.Output[0] - 0.1742697) <= 1e-6 && Math.Abs(r.CN[0] - 0.2876491) <= 1e-6))
            Assert.Fail(OneDnn.Hint($"h1 = {r.Output[0]:R}, c1 = {r.CN[0]:R}; expected 0.1742697, 0.2876491"));
        Assert.Equal(0.1742697, r.Output[0], 1e-6);
        Assert.Equal(0.1742697, r.HN[0], 1e-6);
        Assert.Equal(0.2876491, r.CN[0], 1e-6);
    }

    public static TheoryData<int, int, int, int, HeadActivation, bool> Shapes => new()
    {
        { 3, 17, 2, 0, HeadActivation.None, true },
        { 8, 32, 2, 1, HeadActivation.Sigmoid, true },
        { 5, 40, 3, 4, HeadActivation.Softmax, true },
        { 3, 17, 2, 0, HeadActivation.None, false },
        { 4, 9, 1, 3, HeadActivation.Tanh, false },
        { 4, 9, 2, 2, HeadActivation.None, true },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void OraclesAgreeWithEachOtherAndWithDoubleReference(int I, int H, int L, int O, HeadActivation act, bool bias)
    {
        const int T = 20;
        var torch = Get("torch");
        var onnx = Get("onnx");
        var (parameters, inputs) = RandomProblem(I, H, L, O, bias, T, seed: 1234 + I * 100 + H * 10 + L + O);

        var a = torch(I, H, L, bias, O, act, parameters, inputs, T);
        var b = onnx(I, H, L, bias, O, act, parameters, inputs, T);
        var d = ReferenceLstm.Run(I, H, L, bias, O, act, parameters, inputs, T);

        Assert.Equal(T * (O > 0 ? O : H), a.Output.Length);
        Assert.Equal(L * H, a.HN.Length);
        Assert.Equal(L * H, a.CN.Length);

        double ab = MaxDiff(a, b), ad = MaxDiff(a, d), bd = MaxDiff(b, d);
        _out.WriteLine($"(I,H,L,O)=({I},{H},{L},{O}) {act} bias={bias}: max|torch-onnx| = {ab:E2}, max|torch-double| = {ad:E2}, max|onnx-double| = {bd:E2}");
        Assert.True(ab <= 1e-5, $"torch vs onnx: {ab}");
        Assert.True(ad <= 1e-5, $"torch vs double reference: {ad}");
        Assert.True(bd <= 1e-5, $"onnx vs double reference: {bd}");
    }

    /// <summary>
    /// The test host must start with oneDNN capped (oracles.runsettings): on a CPU with the broken AVX-512 RNN path the
    /// torch oracle is wrong without it. Read from /proc/self/environ, the environment the process started with, which is
    /// what libtorch's getenv sees (Environment.GetEnvironmentVariable would also show a value set from managed code).
    /// </summary>
    [Fact]
    public void TestHostStartsWithTheOneDnnCap()
    {
        string environ = System.IO.File.ReadAllText("/proc/self/environ");
        bool capped = Array.IndexOf(environ.Split('\0'), OneDnn.CapVariable + "=" + OneDnn.Cap) >= 0;
        _out.WriteLine(OneDnn.Describe() + "; " + OneDnn.CpuDescription());
        Assert.True(capped, $"the test host started without {OneDnn.CapVariable}={OneDnn.Cap}: was tests/LstmGen.Tests/oracles.runsettings " +
                            "replaced (dotnet test --settings) or RunSettingsFilePath removed from the test project? " + OneDnn.Describe());
    }

    [Fact]
    public void OraclesAreSafeToCallInParallel()
    {
        Get("torch"); Get("onnx");
        var (parameters, inputs) = RandomProblem(6, 12, 2, 3, true, 15, seed: 7);
        var expected = ReferenceLstm.Run(6, 12, 2, true, 3, HeadActivation.Softmax, parameters, inputs, 15);
        var diffs = new double[16];
        System.Threading.Tasks.Parallel.For(0, diffs.Length, k =>
        {
            var r = (k % 2 == 0 ? (Oracle)TorchOracle.Run : OnnxOracle.Run)(6, 12, 2, true, 3, HeadActivation.Softmax, parameters, inputs, 15);
            diffs[k] = MaxDiff(r, expected);
        });
        foreach (var diff in diffs) Assert.True(diff <= 1e-5, diff.ToString());
    }

    [Fact]
    public void WrongParameterCountIsRejected()
    {
        Get("torch"); Get("onnx");
        var p = new float[10];
        var x = new float[3];
        Assert.Throws<ArgumentException>(() => TorchOracle.Run(3, 2, 1, true, 0, HeadActivation.None, p, x, 1));
        Assert.Throws<ArgumentException>(() => OnnxOracle.Run(3, 2, 1, true, 0, HeadActivation.None, p, x, 1));
    }

    private static (float[] Parameters, float[] Inputs) RandomProblem(int I, int H, int L, int O, bool bias, int T, int seed)
    {
        var rng = new Random(seed);
        int n = 0;
        for (int k = 0; k < L; k++) n += 4 * H * ((k == 0 ? I : H) + H) + (bias ? 8 * H : 0);
        if (O > 0) n += O * H + O;
        var parameters = new float[n];
        double scale = 1.0 / Math.Sqrt(H);                     // PyTorch's init range U(-1/sqrt(H), 1/sqrt(H)) ...
        for (int k = 0; k < n; k++) parameters[k] = (float)((rng.NextDouble() * 2 - 1) * 2 * scale); // ... doubled, to exercise saturation
        var inputs = new float[T * I];
        for (int k = 0; k < inputs.Length; k++) inputs[k] = (float)(rng.NextDouble() * 4 - 2);
        return (parameters, inputs);
    }

    private static double MaxDiff(OracleResult a, OracleResult b)
    {
        Assert.Equal(a.Output.Length, b.Output.Length);
        Assert.Equal(a.HN.Length, b.HN.Length);
        Assert.Equal(a.CN.Length, b.CN.Length);
        double m = 0;
        for (int k = 0; k < a.Output.Length; k++) m = Math.Max(m, Math.Abs((double)a.Output[k] - b.Output[k]));
        for (int k = 0; k < a.HN.Length; k++) m = Math.Max(m, Math.Abs((double)a.HN[k] - b.HN[k]));
        for (int k = 0; k < a.CN.Length; k++) m = Math.Max(m, Math.Abs((double)a.CN[k] - b.CN[k]));
        return m;
    }

    /// <summary>Scalar double-precision stacked LSTM + head, straight from docs/maths.md §1 and §3 (no tricks).</summary>
    private static class ReferenceLstm
    {
        public static OracleResult Run(int I, int H, int L, bool bias, int O, HeadActivation act,
                                       float[] p, float[] inputs, int T)
        {
            var wih = new double[L][]; var whh = new double[L][]; var bih = new double[L][]; var bhh = new double[L][];
            int off = 0;
            double[] Take(int n) { var a = new double[n]; for (int k = 0; k < n; k++) a[k] = p[off + k]; off += n; return a; }
            for (int l = 0; l < L; l++)
            {
                int il = l == 0 ? I : H;
                wih[l] = Take(4 * H * il);
                whh[l] = Take(4 * H * H);
                bih[l] = bias ? Take(4 * H) : new double[4 * H];
                bhh[l] = bias ? Take(4 * H) : new double[4 * H];
            }
            double[] fcW = O > 0 ? Take(O * H) : Array.Empty<double>();
            double[] fcB = O > 0 ? Take(O) : Array.Empty<double>();
            Assert.Equal(p.Length, off);

            var h = new double[L][]; var c = new double[L][];
            for (int l = 0; l < L; l++) { h[l] = new double[H]; c[l] = new double[H]; }
            var output = new float[T * (O > 0 ? O : H)];
            var a4 = new double[4 * H];

            for (int t = 0; t < T; t++)
            {
                var x = new double[I];
                for (int k = 0; k < I; k++) x[k] = inputs[t * I + k];
                for (int l = 0; l < L; l++)
                {
                    int il = x.Length;
                    for (int r = 0; r < 4 * H; r++)
                    {
                        double s = bih[l][r] + bhh[l][r];
                        for (int j = 0; j < il; j++) s += wih[l][r * il + j] * x[j];
                        for (int j = 0; j < H; j++) s += whh[l][r * H + j] * h[l][j];
                        a4[r] = s;
                    }
                    var hNew = new double[H];
                    for (int j = 0; j < H; j++)
                    {
                        double i = Sigmoid(a4[j]), f = Sigmoid(a4[H + j]), g = Math.Tanh(a4[2 * H + j]), o = Sigmoid(a4[3 * H + j]);
                        c[l][j] = f * c[l][j] + i * g;
                        hNew[j] = o * Math.Tanh(c[l][j]);
                    }
                    h[l] = hNew;
                    x = hNew;
                }
                if (O == 0)
                {
                    for (int j = 0; j < H; j++) output[t * H + j] = (float)x[j];
                    continue;
                }
                var z = new double[O];
                for (int q = 0; q < O; q++)
                {
                    double s = fcB[q];
                    for (int j = 0; j < H; j++) s += fcW[q * H + j] * x[j];
                    z[q] = s;
                }
                switch (act)
                {
                    case HeadActivation.Sigmoid: for (int q = 0; q < O; q++) z[q] = Sigmoid(z[q]); break;
                    case HeadActivation.Tanh: for (int q = 0; q < O; q++) z[q] = Math.Tanh(z[q]); break;
                    case HeadActivation.Softmax:
                    {
                        double max = double.NegativeInfinity, sum = 0;
                        foreach (var v in z) max = Math.Max(max, v);
                        for (int q = 0; q < O; q++) { z[q] = Math.Exp(z[q] - max); sum += z[q]; }
                        for (int q = 0; q < O; q++) z[q] /= sum;
                        break;
                    }
                }
                for (int q = 0; q < O; q++) output[t * O + q] = (float)z[q];
            }

            var hn = new float[L * H]; var cn = new float[L * H];
            for (int l = 0; l < L; l++)
                for (int j = 0; j < H; j++) { hn[l * H + j] = (float)h[l][j]; cn[l * H + j] = (float)c[l][j]; }
            return new OracleResult(output, hn, cn);
        }

        private static double Sigmoid(double v) => 1.0 / (1.0 + Math.Exp(-v));
    }
}
