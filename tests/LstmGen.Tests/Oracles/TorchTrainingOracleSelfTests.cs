using System;
using System.Linq;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Oracles;

/// <summary>
/// Tests of <see cref="TorchTrainingOracle"/>: float32 autograd gradients against central finite differences of the
/// same loss evaluated by TorchSharp in float64, optimizer steps against hand-written updates, loss variants, the
/// last-step-only target layout and the batch layout. An unavailable oracle is a FAILURE, never a skip.
/// </summary>
public sealed class TorchTrainingOracleSelfTests
{
    private readonly ITestOutputHelper _out;
    public TorchTrainingOracleSelfTests(ITestOutputHelper output) => _out = output;

    // The tiny model of the brief: I=2, H=3, L=2, O=2, bias, T=4, batch 2.
    private const int I = 2, H = 3, L = 2, O = 2, T = 4, B = 2;

    private static void RequireTorch()
    {
        if (!TorchOracle.IsAvailable) Assert.Fail("TorchOracle unavailable: " + TorchOracle.UnavailableReason);
    }

    private static float[] Uniform(int n, double lo, double hi, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
    }

    private static TorchTrainingOracle.Config Cfg(int o, HeadActivation act, OracleLoss loss, bool last, int batch = B, bool bias = true) =>
        new(I, H, L, bias, o, act, loss, T, batch, last);

    private static float[] Targets(TorchTrainingOracle.Config c, int seed)
    {
        var rng = new Random(seed);
        int n = (int)c.TargetCount;
        return c.Loss switch
        {
            OracleLoss.CrossEntropy => Enumerable.Range(0, n).Select(_ => (float)rng.Next(c.C)).ToArray(),
            OracleLoss.BinaryCrossEntropyWithLogits => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray(),
            _ => Enumerable.Range(0, n).Select(_ => (float)(2 * rng.NextDouble() - 1)).ToArray(),
        };
    }

    private static (float Loss, float[] Gradients) Grad(TorchTrainingOracle.Config c, float[] p, float[] x, float[] t) =>
        TorchTrainingOracle.Gradients(c.I, c.H, c.L, c.Bias, c.O, c.Activation, c.Loss, p, x, c.T, c.B, t, c.LastStepOnly);

    private static double[] D(float[] v) => v.Select(f => (double)f).ToArray();

    public static TheoryData<OracleLoss, int, HeadActivation, bool> FdCases => new()
    {
        { OracleLoss.MeanSquaredError, O, HeadActivation.None, false },
        { OracleLoss.MeanSquaredError, O, HeadActivation.None, true },
        { OracleLoss.MeanSquaredError, O, HeadActivation.Sigmoid, false },
        { OracleLoss.MeanSquaredError, O, HeadActivation.Tanh, true },
        { OracleLoss.MeanSquaredError, O, HeadActivation.Softmax, false },
        { OracleLoss.MeanSquaredError, O, HeadActivation.Softmax, true },
        { OracleLoss.MeanSquaredError, 0, HeadActivation.None, false },
        { OracleLoss.CrossEntropy, O, HeadActivation.None, false },
        { OracleLoss.CrossEntropy, O, HeadActivation.None, true },
        { OracleLoss.CrossEntropy, 0, HeadActivation.None, true },
        { OracleLoss.BinaryCrossEntropyWithLogits, O, HeadActivation.None, false },
        { OracleLoss.BinaryCrossEntropyWithLogits, O, HeadActivation.None, true },
    };

    /// <summary>(1) float32 autograd gradients vs central differences of the float64 TorchSharp loss.</summary>
    [Theory]
    [MemberData(nameof(FdCases))]
    public void Gradients_MatchFiniteDifferencesInFloat64(OracleLoss loss, int o, HeadActivation act, bool last)
    {
        RequireTorch();
        var c = Cfg(o, act, loss, last);
        var p = Uniform((int)c.ParameterCount, -0.6, 0.6, 1);
        var x = Uniform(B * T * I, -1, 1, 2);
        var t = Targets(c, 3);

        var (l32, g32) = Grad(c, p, x, t);
        Assert.Equal((int)c.ParameterCount, g32.Length);

        double[] pd = D(p), xd = D(x), td = D(t);
        var (l64, g64) = TorchTrainingOracle.Evaluate(c, torch.ScalarType.Float64, pd, xd, td, withGradient: true);
        Assert.Equal(l64, l32, Math.Max(1e-6, 1e-6 * Math.Abs(l64)));

        const double step = 1e-5;
        double max32 = 0, max64 = 0, maxG = 0;
        for (int i = 0; i < pd.Length; i++)
        {
            double saved = pd[i];
            pd[i] = saved + step;
            double lp = TorchTrainingOracle.Evaluate(c, torch.ScalarType.Float64, pd, xd, td, false).Loss;
            pd[i] = saved - step;
            double lm = TorchTrainingOracle.Evaluate(c, torch.ScalarType.Float64, pd, xd, td, false).Loss;
            pd[i] = saved;
            double fd = (lp - lm) / (2 * step);

            double e32 = Math.Abs(g32[i] - fd), e64 = Math.Abs(g64![i] - fd);
            max32 = Math.Max(max32, e32);
            max64 = Math.Max(max64, e64);
            maxG = Math.Max(maxG, Math.Abs(fd));
            Assert.True(e32 <= 1e-6 + 1e-4 * Math.Abs(fd), $"param {i}: float32 grad {g32[i]:R} vs FD {fd:R}");
            Assert.True(e64 <= 1e-8 + 1e-6 * Math.Abs(fd), $"param {i}: float64 grad {g64[i]:R} vs FD {fd:R}");
        }
        _out.WriteLine($"{loss} O={o} {act} last={last}: loss {l32:R}, {pd.Length} params, max|g| {maxG:E2}, " +
                       $"max|g32-FD| {max32:E2}, max|g64-FD| {max64:E2}");
    }

    /// <summary>(2) Two optimizer steps vs hand-written updates from Gradients() at p0 and at the oracle's p1.</summary>
    [Theory]
    [InlineData(OracleOptimizer.Sgd, 0.0f, 0.0f, 0.0f)]
    [InlineData(OracleOptimizer.Sgd, 0.9f, 0.0f, 0.0f)]
    [InlineData(OracleOptimizer.Sgd, 0.9f, 0.01f, 0.0f)]
    [InlineData(OracleOptimizer.Sgd, 0.0f, 0.0f, 0.5f)]
    [InlineData(OracleOptimizer.SgdNesterov, 0.9f, 0.01f, 0.0f)]
    [InlineData(OracleOptimizer.Adam, 0.0f, 0.0f, 0.0f)]
    [InlineData(OracleOptimizer.Adam, 0.0f, 0.01f, 0.5f)]
    [InlineData(OracleOptimizer.AdamW, 0.0f, 0.1f, 0.0f)]
    public void Train_MatchesHandWrittenUpdates(OracleOptimizer opt, float momentum, float weightDecay, float clipFraction)
    {
        RequireTorch();
        var c = Cfg(O, HeadActivation.Tanh, OracleLoss.MeanSquaredError, false);
        var p0 = Uniform((int)c.ParameterCount, -0.6, 0.6, 11);
        var x = Uniform(B * T * I, -1, 1, 12);
        var t = Targets(c, 13);
        const float lr = 0.05f;

        var (loss0, g0) = Grad(c, p0, x, t);
        double norm0 = Math.Sqrt(g0.Sum(v => (double)v * v));
        float clip = clipFraction > 0 ? (float)(clipFraction * norm0) : 0f;

        var (after, losses) = TorchTrainingOracle.Train(c.I, c.H, c.L, c.Bias, c.O, c.Activation, c.Loss, p0, x, c.T, c.B, t, c.LastStepOnly,
                                                        opt, lr, momentum, weightDecay, clip, 2);
        Assert.Equal(2, after.Length);
        Assert.Equal(2, losses.Length);
        Assert.All(after, a => Assert.Equal(p0.Length, a.Length));
        Assert.Equal(loss0, losses[0]);
        var (loss1, g1) = Grad(c, after[0], x, t);
        Assert.Equal(loss1, losses[1]);
        Assert.True(losses[1] < losses[0], $"loss did not decrease: {losses[0]} -> {losses[1]}");

        // Hand-written torch.optim semantics, in double.
        int n = p0.Length;
        var p = D(p0);
        var buf = new double[n];
        var m = new double[n];
        var v = new double[n];
        double maxErr = 0;
        for (int s = 0; s < 2; s++)
        {
            var g = s == 0 ? g0 : g1;
            if (s == 1) p = D(after[0]);   // continue from the oracle's own float32 p1
            double gn = Math.Sqrt(g.Sum(q => (double)q * q));
            double coef = clip > 0 ? Math.Min(1.0, clip / (gn + 1e-6)) : 1.0;
            double bc1 = 1 - Math.Pow(TorchTrainingOracle.AdamBeta1, s + 1), bc2 = 1 - Math.Pow(TorchTrainingOracle.AdamBeta2, s + 1);
            for (int i = 0; i < n; i++)
            {
                double gi = g[i] * coef;
                switch (opt)
                {
                    case OracleOptimizer.Sgd:
                    case OracleOptimizer.SgdNesterov:
                        gi += weightDecay * p[i];
                        if (momentum != 0)
                        {
                            buf[i] = s == 0 ? gi : momentum * buf[i] + gi;
                            gi = opt == OracleOptimizer.SgdNesterov ? gi + momentum * buf[i] : buf[i];
                        }
                        p[i] -= lr * gi;
                        break;
                    case OracleOptimizer.Adam:
                    case OracleOptimizer.AdamW:
                        if (opt == OracleOptimizer.Adam) gi += weightDecay * p[i];
                        else p[i] *= 1 - lr * weightDecay;
                        m[i] = TorchTrainingOracle.AdamBeta1 * m[i] + (1 - TorchTrainingOracle.AdamBeta1) * gi;
                        v[i] = TorchTrainingOracle.AdamBeta2 * v[i] + (1 - TorchTrainingOracle.AdamBeta2) * gi * gi;
                        p[i] -= lr / bc1 * m[i] / (Math.Sqrt(v[i]) / Math.Sqrt(bc2) + TorchTrainingOracle.AdamEps);
                        break;
                }
            }
            for (int i = 0; i < n; i++)
            {
                double err = Math.Abs(after[s][i] - p[i]);
                maxErr = Math.Max(maxErr, err);
                Assert.True(err <= 1e-6, $"step {s + 1}, param {i}: oracle {after[s][i]:R}, expected {p[i]:R}");
            }
        }
        _out.WriteLine($"{opt} mom={momentum} wd={weightDecay} clip={clip:G4} (|g0|={norm0:G4}): losses {losses[0]:R} -> {losses[1]:R}, " +
                       $"max |oracle - hand update| {maxErr:E2}");
    }

    /// <summary>(3) CE and BCE variants run and give finite gradients of the right length.</summary>
    [Theory]
    [InlineData(OracleLoss.CrossEntropy, O, false, true)]
    [InlineData(OracleLoss.CrossEntropy, O, true, true)]
    [InlineData(OracleLoss.CrossEntropy, 0, false, false)]
    [InlineData(OracleLoss.BinaryCrossEntropyWithLogits, O, false, true)]
    [InlineData(OracleLoss.BinaryCrossEntropyWithLogits, 0, true, true)]
    [InlineData(OracleLoss.BinaryCrossEntropyWithLogits, O, true, false)]
    public void ClassificationLosses_GiveFiniteGradients(OracleLoss loss, int o, bool last, bool bias)
    {
        RequireTorch();
        var c = Cfg(o, HeadActivation.None, loss, last, bias: bias);
        var p = Uniform((int)c.ParameterCount, -0.6, 0.6, 21);
        var x = Uniform(B * T * I, -1, 1, 22);
        var t = Targets(c, 23);
        var (l, g) = Grad(c, p, x, t);
        Assert.Equal((int)c.ParameterCount, g.Length);
        Assert.True(float.IsFinite(l) && l > 0, $"loss {l}");
        Assert.All(g, v => Assert.True(float.IsFinite(v)));
        Assert.Contains(g, v => v != 0);

        var (after, losses) = TorchTrainingOracle.Train(c.I, c.H, c.L, c.Bias, c.O, c.Activation, c.Loss, p, x, c.T, c.B, t, c.LastStepOnly,
                                                        OracleOptimizer.Adam, 0.01f, 0f, 0f, 1f, 3);
        Assert.Equal(l, losses[0]);
        Assert.All(after, a => Assert.True(a.Length == p.Length && a.All(float.IsFinite)));
        _out.WriteLine($"{loss} O={o} last={last} bias={bias}: loss {l:R}, |g| {Math.Sqrt(g.Sum(q => (double)q * q)):G4}, " +
                       $"Adam losses {string.Join(" ", losses.Select(q => q.ToString("G6")))}");
    }

    /// <summary>
    /// (4) Last-step-only targets: earlier heads contribute nothing. With every-step targets whose earlier steps equal
    /// the model's own earlier outputs (zero residual for MSE on act(z); zero dL/dz for BCE since sigmoid(z) - t = 0),
    /// the every-step gradient times T equals the last-step-only gradient; arbitrary earlier targets change it.
    /// </summary>
    [Theory]
    [InlineData(OracleLoss.MeanSquaredError, HeadActivation.None)]
    [InlineData(OracleLoss.MeanSquaredError, HeadActivation.Softmax)]
    [InlineData(OracleLoss.BinaryCrossEntropyWithLogits, HeadActivation.None)]
    public void LastStepOnly_IgnoresEarlierSteps(OracleLoss loss, HeadActivation act)
    {
        RequireTorch();
        var cLast = Cfg(O, act, loss, true);
        var cAll = Cfg(O, act, loss, false);
        var p = Uniform((int)cLast.ParameterCount, -0.6, 0.6, 31);
        var x = Uniform(B * T * I, -1, 1, 32);
        var tLast = Targets(cLast, 33);

        // The model's own per-step outputs (act(z) for MSE, sigmoid(z) for BCE) from the forward oracle, batch 1 each.
        var outAct = loss == OracleLoss.BinaryCrossEntropyWithLogits ? HeadActivation.Sigmoid : act;
        var tSelf = new float[B * T * O];
        var tRandom = Targets(cAll, 34);
        for (int b = 0; b < B; b++)
        {
            var r = TorchOracle.Run(I, H, L, true, O, outAct, p, x.AsSpan(b * T * I, T * I), T);
            r.Output.AsSpan(0, (T - 1) * O).CopyTo(tSelf.AsSpan(b * T * O));
            for (int k = 0; k < O; k++)
            {
                tSelf[(b * T + T - 1) * O + k] = tLast[b * O + k];
                tRandom[(b * T + T - 1) * O + k] = tLast[b * O + k];
            }
        }

        var (_, gLast) = Grad(cLast, p, x, tLast);
        var (_, gSelf) = Grad(cAll, p, x, tSelf);
        var (_, gRandom) = Grad(cAll, p, x, tRandom);
        double maxErr = 0, maxDiffRandom = 0;
        for (int i = 0; i < gLast.Length; i++)
        {
            double err = Math.Abs(T * (double)gSelf[i] - gLast[i]);
            maxErr = Math.Max(maxErr, err);
            maxDiffRandom = Math.Max(maxDiffRandom, Math.Abs(T * (double)gRandom[i] - gLast[i]));
            Assert.True(err <= 1e-6 + 1e-4 * Math.Abs(gLast[i]), $"param {i}: last-only {gLast[i]:R}, T * every-step {T * gSelf[i]:R}");
        }
        Assert.True(maxDiffRandom > 1e-3, $"earlier targets had no effect on the every-step gradient ({maxDiffRandom})");
        _out.WriteLine($"{loss} {act}: max |T*g_every(self targets) - g_last| {maxErr:E2}; with random earlier targets {maxDiffRandom:E2}");
    }

    /// <summary>Batch layout: the loss matches the forward oracle per sequence, and the batch gradient is the mean of per-sequence gradients.</summary>
    [Fact]
    public void BatchLayout_MatchesForwardOracleAndPerSequenceGradients()
    {
        RequireTorch();
        var c = Cfg(O, HeadActivation.Sigmoid, OracleLoss.MeanSquaredError, false);
        var p = Uniform((int)c.ParameterCount, -0.6, 0.6, 41);
        var x = Uniform(B * T * I, -1, 1, 42);
        var t = Targets(c, 43);
        var (l, g) = Grad(c, p, x, t);

        double sse = 0;
        var c1 = c with { B = 1 };
        var gMean = new double[g.Length];
        for (int b = 0; b < B; b++)
        {
            var xb = x.AsSpan(b * T * I, T * I).ToArray();
            var tb = t.AsSpan(b * T * O, T * O).ToArray();
            var r = TorchOracle.Run(I, H, L, true, O, HeadActivation.Sigmoid, p, xb, T);
            for (int k = 0; k < T * O; k++) sse += Math.Pow(r.Output[k] - tb[k], 2);
            var (_, gb) = Grad(c1, p, xb, tb);
            for (int i = 0; i < g.Length; i++) gMean[i] += gb[i] / (double)B;
        }
        double expectedLoss = sse / (B * T * O);
        Assert.Equal(expectedLoss, l, 1e-6);
        double maxErr = 0;
        for (int i = 0; i < g.Length; i++)
        {
            double err = Math.Abs(g[i] - gMean[i]);
            maxErr = Math.Max(maxErr, err);
            Assert.True(err <= 1e-7 + 1e-5 * Math.Abs(gMean[i]), $"param {i}: batch {g[i]:R}, mean of per-sequence {gMean[i]:R}");
        }
        _out.WriteLine($"loss {l:R} vs forward oracle {expectedLoss:R}; max |g_batch - mean g_seq| {maxErr:E2}");
    }
}
