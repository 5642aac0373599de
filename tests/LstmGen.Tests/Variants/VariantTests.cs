using System;
using System.Linq;
using LstmGen.Tests.Oracles;
using LstmGen.Tests.Reference;
using LstmGen.Training;
using Xunit;

namespace LstmGen.Tests.Variants;

/// <summary>
/// Issue 6's options against the double reference (forward and finite-difference gradients), libtorch (bidirectional,
/// stacked with dropout in eval mode, batches, given initial state; forward and autograd) and ONNX Runtime (peepholes).
/// Tolerances: outputs and states 2e-5 absolute (float32 through up to 70 steps); gradients 1e-4 relative with a floor of
/// 5e-6 · max|g| (float sums over 4H·T terms lose about 1e-7 of the largest term).
/// </summary>
public sealed class VariantTests
{
    private const double ForwardTolerance = 2e-5;

    private static float[] Flat(double[][] rows) => rows.SelectMany(r => r.Select(v => (float)v)).ToArray();

    private static double MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int k = 0; k < a.Length; k++) max = Math.Max(max, Math.Abs(a[k] - b[k]));
        return max;
    }

    /// <summary>Random initial h and c for every unit and stream (unit-major), written into the state; returns them for the reference.</summary>
    private static (double[][][] H0, double[][][] C0) GiveInitialState(VariantCase c, ILstmState state, ulong seed)
    {
        var cfg = c.Config;
        var h0 = new double[c.Batch][][]; var c0 = new double[c.Batch][][];
        for (int b = 0; b < c.Batch; b++)
        {
            h0[b] = new double[cfg.Units][]; c0[b] = new double[cfg.Units][];
            for (int u = 0; u < cfg.Units; u++)
            {
                var h = Models.Inputs(cfg.Hp, seed + (ulong)(100 * b + 2 * u));
                var cc = Models.Inputs(cfg.H, seed + (ulong)(100 * b + 2 * u + 1));
                h.CopyTo(state.Hidden(u / cfg.D, u % cfg.D, b));
                cc.CopyTo(state.Cell(u / cfg.D, u % cfg.D, b));
                h0[b][u] = VariantReference.ToDouble(h); c0[b][u] = VariantReference.ToDouble(cc);
            }
        }
        return (h0, c0);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardMatchesReference(string name, int T, bool givenState)
    {
        var c = VariantModels.Get(name);
        var cfg = c.Config;
        var model = c.Create(3);
        VariantModels.Randomize(model.Parameters, 11);
        var state = model.NewState();
        double[][][]? h0 = null, c0 = null;
        if (givenState) (h0, c0) = GiveInitialState(c, state, 40);
        float[] xs = Models.Inputs(c.Batch * T * cfg.I, 7);
        var ys = new float[c.Batch * T * cfg.Width];
        model.Forward(xs, state, ys);
        var p = VariantReference.ToDouble(model.Parameters.Values);
        var offsets = VariantReference.Offsets(model.Parameters);
        for (int b = 0; b < c.Batch; b++)
        {
            var expected = VariantReference.Forward(cfg, offsets, p, xs.AsSpan(b * T * cfg.I, T * cfg.I), T, h0?[b], c0?[b]);
            Assert.True(MaxDiff(Flat(expected.Outputs), ys.AsSpan(b * T * cfg.Width, T * cfg.Width)) <= ForwardTolerance, $"outputs of stream {b}");
            for (int u = 0; u < cfg.Units; u++)
            {
                Assert.True(MaxDiff(expected.HN[u].Select(v => (float)v).ToArray(), state.Hidden(u / cfg.D, u % cfg.D, b)) <= ForwardTolerance, $"h_n of unit {u}, stream {b}");
                Assert.True(MaxDiff(expected.CN[u].Select(v => (float)v).ToArray(), state.Cell(u / cfg.D, u % cfg.D, b)) <= ForwardTolerance, $"c_n of unit {u}, stream {b}");
            }
        }
        // the last-step-only form gives the last row of every stream
        var fresh = model.NewState();
        if (givenState) GiveInitialState(c, fresh, 40);
        var last = new float[c.Batch * cfg.Width];
        model.Forward(xs, fresh, last);
        for (int b = 0; b < c.Batch; b++)
            Assert.Equal(ys.AsSpan((b * T + T - 1) * cfg.Width, cfg.Width).ToArray(), last.AsSpan(b * cfg.Width, cfg.Width).ToArray());
    }

    public static TheoryData<string, int, bool> Cases()
    {
        var data = new TheoryData<string, int, bool>();
        foreach (var c in VariantModels.All)
            foreach (int T in new[] { 1, 3, 70 })
                data.Add(c.Name, T, T == 3);
        return data;
    }

    [Theory]
    [MemberData(nameof(VariantModels.Names), MemberType = typeof(VariantModels))]
    public void StepMatchesForward(string name)
    {
        var c = VariantModels.Get(name);
        var model = c.Create(5);
        VariantModels.Randomize(model.Parameters, 12);
        if (model.Step is null)
        {
            Assert.True(c.Bidirectional);
            return;
        }
        var cfg = c.Config;
        const int T = 20;
        float[] xs = Models.Inputs(c.Batch * T * cfg.I, 8);
        var ys = new float[c.Batch * T * cfg.Width];
        model.Forward(xs, model.NewState(), ys);
        var state = model.NewState();
        var x = new float[c.Batch * cfg.I];
        var y = new float[c.Batch * cfg.Width];
        double max = 0;
        for (int t = 0; t < T; t++)
        {
            for (int b = 0; b < c.Batch; b++) xs.AsSpan((b * T + t) * cfg.I, cfg.I).CopyTo(x.AsSpan(b * cfg.I));
            model.Step(x, state, y);
            for (int b = 0; b < c.Batch; b++)
                max = Math.Max(max, MaxDiff(y.AsSpan(b * cfg.Width, cfg.Width), ys.AsSpan((b * T + t) * cfg.Width, cfg.Width)));
        }
        Assert.True(max <= 1e-6, $"Step and Forward differ by {max}");
    }

    [Theory]
    [MemberData(nameof(VariantModels.Names), MemberType = typeof(VariantModels))]
    public void GradientsMatchFiniteDifferences(string name)
    {
        var c = VariantModels.Get(name);
        var cfg = c.Config;
        var model = c.Create(6);
        VariantModels.Randomize(model.Parameters, 13);
        const int T = 5;
        float[] xs = Models.Inputs(T * cfg.I, 9);
        float[] targets = Models.Inputs(T * cfg.Width, 10);
        var trainer = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, T, seed: 4);
        float loss = trainer.ComputeGradients(xs, targets, 1);
        var (layerMasks, recurrentMasks) = model.Masks(trainer, T);
        var p = VariantReference.ToDouble(model.Parameters.Values);
        var offsets = VariantReference.Offsets(model.Parameters);
        double expectedLoss = VariantReference.Mse(VariantReference.Forward(cfg, offsets, p, xs, T, null, null, layerMasks, recurrentMasks).Outputs, targets);
        Assert.True(Math.Abs(loss - expectedLoss) <= 1e-5 * Math.Max(1, expectedLoss), $"loss {loss} vs {expectedLoss}");
        var fd = VariantReference.FiniteDifferenceGradients(cfg, offsets, p, xs, T, targets, layerMasks, recurrentMasks);
        double scale = fd.Max(Math.Abs);
        Assert.True(scale > 0);
        var g = trainer.Gradients.Values;
        foreach (var tensor in model.Parameters.Tensors)
        {
            for (int k = 0; k < tensor.Length; k++)
            {
                int i = tensor.Offset + k;
                double tol = 1e-4 * Math.Abs(fd[i]) + 5e-6 * scale;
                Assert.True(Math.Abs(g[i] - fd[i]) <= tol, $"{tensor.Name}[{k}]: {g[i]} vs finite difference {fd[i]} (tolerance {tol})");
            }
        }
    }

    [Theory]
    [MemberData(nameof(VariantModels.Names), MemberType = typeof(VariantModels))]
    public void SteadyStateAllocatesNothing(string name)
    {
        var c = VariantModels.Get(name);
        var cfg = c.Config;
        var model = c.Create(1);
        var state = model.NewState();
        const int T = 80;
        float[] xs = Models.Inputs(c.Batch * T * cfg.I, 2);
        var ys = new float[c.Batch * T * cfg.Width];
        Assert.Equal(0, AllocationTests.Allocated(() => { for (int k = 0; k < 20; k++) model.Forward(xs, state, ys); }));
        if (model.Step is { } step)
        {
            var x = new float[c.Batch * cfg.I]; var y = new float[c.Batch * cfg.Width];
            Assert.Equal(0, AllocationTests.Allocated(() => { for (int k = 0; k < 5_000; k++) step(x, state, y); }));
        }
        var trainer = model.CreateTrainer(new Adam(1e-3f), Loss.MeanSquaredError, T, 1);
        float[] tx = Models.Inputs(c.Batch * T * cfg.I, 3), tt = Models.Inputs(c.Batch * T * cfg.Width, 4);
        Assert.Equal(0, AllocationTests.Allocated(() => { for (int k = 0; k < 3; k++) trainer.Step(tx, tt, c.Batch); }));
    }

    // ---- libtorch ----

    [Theory]
    [InlineData("Bi_3_17_1", true)]
    [InlineData("Bi_5_8_2_3", false)]
    [InlineData("Bi_5_8_2_3", true)]
    [InlineData("Batch_1_16_B8", true)]
    [InlineData("Batch_8_32_2_B8", false)]
    [InlineData("Drop_5_16_3_1", true)]
    public void ForwardMatchesTorch(string name, bool givenState)
    {
        var c = VariantModels.Get(name);
        var cfg = c.Config;
        var model = c.Create(21);
        const int T = 9;
        float[] xs = Models.Inputs(c.Batch * T * cfg.I, 22);
        var state = model.NewState();
        float[]? h0 = null, c0 = null;
        if (givenState)
        {
            // PyTorch's layout: (L·D, B, H)
            h0 = Models.Inputs(cfg.Units * c.Batch * cfg.H, 23); c0 = Models.Inputs(cfg.Units * c.Batch * cfg.H, 24);
            for (int u = 0; u < cfg.Units; u++)
                for (int b = 0; b < c.Batch; b++)
                {
                    h0.AsSpan((u * c.Batch + b) * cfg.H, cfg.H).CopyTo(state.Hidden(u / cfg.D, u % cfg.D, b));
                    c0.AsSpan((u * c.Batch + b) * cfg.H, cfg.H).CopyTo(state.Cell(u / cfg.D, u % cfg.D, b));
                }
        }
        var ys = new float[c.Batch * T * cfg.Width];
        model.Forward(xs, state, ys);
        var expected = TorchVariantOracle.Run(cfg, model.Parameters, c.Dropout, xs, c.Batch, T, h0, c0, null);
        Assert.True(MaxDiff(expected.Outputs, ys) <= 1e-5, "outputs");
        for (int u = 0; u < cfg.Units; u++)
            for (int b = 0; b < c.Batch; b++)
            {
                Assert.True(MaxDiff(expected.HN.AsSpan((u * c.Batch + b) * cfg.H, cfg.H), state.Hidden(u / cfg.D, u % cfg.D, b)) <= 1e-5, $"h_n unit {u} stream {b}");
                Assert.True(MaxDiff(expected.CN.AsSpan((u * c.Batch + b) * cfg.H, cfg.H), state.Cell(u / cfg.D, u % cfg.D, b)) <= 1e-5, $"c_n unit {u} stream {b}");
            }
    }

    [Theory]
    [InlineData("Bi_3_17_1")]
    [InlineData("Bi_5_8_2_3")]
    [InlineData("Batch_8_32_2_B8")]
    public void GradientsMatchTorch(string name)
    {
        var c = VariantModels.Get(name);
        var cfg = c.Config;
        var model = c.Create(31);
        const int T = 12;
        float[] xs = Models.Inputs(c.Batch * T * cfg.I, 32);
        float[] targets = Models.Inputs(c.Batch * T * cfg.Width, 33);
        var trainer = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, T, 0);
        float loss = trainer.ComputeGradients(xs, targets, c.Batch);
        var expected = TorchVariantOracle.Run(cfg, model.Parameters, 0, xs, c.Batch, T, null, null, targets);
        double scale = expected.Gradients.Values.SelectMany(v => v).Max(v => Math.Abs(v));
        foreach (var tensor in trainer.Gradients.Tensors)
        {
            var e = expected.Gradients[tensor.Name];
            for (int k = 0; k < e.Length; k++)
            {
                double tol = 1e-4 * Math.Abs(e[k]) + 5e-6 * scale;
                Assert.True(Math.Abs(tensor.Values[k] - e[k]) <= tol, $"{tensor.Name}[{k}]: {tensor.Values[k]} vs torch {e[k]}");
            }
        }
    }

    // ---- ONNX Runtime: peepholes (ONNX's P input) ----

    [Theory]
    [InlineData("Peep_3_17_1")]
    [InlineData("BiPeep_1_1_1")]
    public void PeepholesMatchOnnxRuntime(string name)
    {
        var c = VariantModels.Get(name);
        var cfg = c.Config;
        var model = c.Create(41);
        VariantModels.Randomize(model.Parameters, 42);
        const int T = 30;
        float[] xs = Models.Inputs(T * cfg.I, 43);
        var ys = new float[T * cfg.Width];
        var state = model.NewState();
        model.Forward(xs, state, ys);
        var expected = OnnxOracle.RunPeephole(cfg.I, cfg.H, cfg.D == 2, model.Parameters, xs, T);
        Assert.True(MaxDiff(expected.Output, ys) <= 1e-5, "outputs");
        for (int d = 0; d < cfg.D; d++)
        {
            Assert.True(MaxDiff(expected.HN.AsSpan(d * cfg.H, cfg.H), state.Hidden(0, d)) <= 1e-5, "h_n");
            Assert.True(MaxDiff(expected.CN.AsSpan(d * cfg.H, cfg.H), state.Cell(0, d)) <= 1e-5, "c_n");
        }
    }

    // ---- dropout ----

    [Fact]
    public void DropoutMasksHaveTheRightFractionScaleAndSeed()
    {
        var model = new Drop_5_16_3_1(1);
        const int T = 400;
        float[] xs = Models.Inputs(T * 5, 1), targets = Models.Inputs(T, 2);
        var a = model.CreateTrainer(new Sgd(0.01f), Loss.MeanSquaredError, maxSequenceLength: T, seed: 7);
        var b = model.CreateTrainer(new Sgd(0.01f), Loss.MeanSquaredError, maxSequenceLength: T, seed: 7);
        var other = model.CreateTrainer(new Sgd(0.01f), Loss.MeanSquaredError, maxSequenceLength: T, seed: 8);
        a.ComputeGradients(xs, targets); b.ComputeGradients(xs, targets); other.ComputeGradients(xs, targets);
        for (int layer = 0; layer < 2; layer++)
        {
            var mask = a.DropoutMask(layer, T).ToArray();
            Assert.All(mask, v => Assert.True(v == 0f || v == 1f / 0.75f, $"mask value {v}"));
            double dropped = mask.Count(v => v == 0f) / (double)mask.Length;   // 6,400 draws: σ ≈ 0.0054
            Assert.InRange(dropped, 0.25 - 0.03, 0.25 + 0.03);
            Assert.Equal(mask, b.DropoutMask(layer, T).ToArray());
            Assert.NotEqual(mask, other.DropoutMask(layer, T).ToArray());
        }
        // the next sequence draws new masks
        var first = a.DropoutMask(0, T).ToArray();
        a.ComputeGradients(xs, targets);
        Assert.NotEqual(first, a.DropoutMask(0, T).ToArray());

        var rec = new RecDrop_3_17_1_2(1).CreateTrainer(new Sgd(0.01f), Loss.MeanSquaredError, maxSequenceLength: 4, seed: 3);
        int zeros = 0, total = 0;
        for (int k = 0; k < 200; k++)
        {
            rec.ComputeGradients(Models.Inputs(12, (ulong)k), Models.Inputs(8, 9));
            var mask = rec.RecurrentDropoutMask(0).ToArray();
            Assert.All(mask, v => Assert.True(v == 0f || v == 1f / 0.7f, $"recurrent mask value {v}"));
            zeros += mask.Count(v => v == 0f); total += mask.Length;
        }
        Assert.InRange(zeros / (double)total, 0.3 - 0.04, 0.3 + 0.04);      // 3,400 draws: σ ≈ 0.0079
    }

    [Fact]
    public void InferenceIgnoresDropout()
    {
        // Forward on the dropout model equals the reference without masks (and torch in eval mode: ForwardMatchesTorch).
        var model = new All_5_12_2(2);
        VariantModels.Randomize(model.Parameters, 5);
        var cfg = VariantModels.Get("All_5_12_2").Config;
        float[] xs = Models.Inputs(6 * 5, 6);
        var ys = new float[6 * 2];
        model.Forward(xs, model.NewState(), ys);
        var expected = VariantReference.Forward(cfg, VariantReference.Offsets(model.Parameters), VariantReference.ToDouble(model.Parameters.Values), xs, 6);
        Assert.True(MaxDiff(Flat(expected.Outputs), ys) <= ForwardTolerance);
        // and a trainer's ComputeGradients loss differs from the no-dropout loss (the masks are applied there)
        var trainer = model.CreateTrainer(new Sgd(0.01f), Loss.MeanSquaredError, maxSequenceLength: 6, seed: 1);
        float[] targets = Models.Inputs(12, 7);
        float withDropout = trainer.ComputeGradients(xs, targets);
        Assert.NotEqual(VariantReference.Mse(expected.Outputs, targets), withDropout, 6);
    }

    [Fact]
    public void LearnedInitialStateIsUsedAndTrained()
    {
        var model = new Learn_3_17_2_1(3);
        Assert.All(model.Parameters["initial_h_l1"].Values.ToArray(), v => Assert.Equal(0f, v));
        model.Parameters["initial_h_l0"][4] = 0.5f;
        model.Parameters["initial_c_l1"][2] = -0.25f;
        var state = model.NewState();
        Assert.Equal(0.5f, state.Hidden(0)[4]);
        Assert.Equal(-0.25f, state.Cell(1)[2]);
        state.Hidden(0).Clear();
        state.Reset();
        Assert.Equal(0.5f, state.Hidden(0)[4]);
        var trainer = model.CreateTrainer(new Sgd(0.5f), Loss.MeanSquaredError, maxSequenceLength: 4);
        float before = model.Parameters["initial_c_l0"][0];
        trainer.Step(Models.Inputs(12, 1), Models.Inputs(4, 2));
        Assert.NotEqual(0f, trainer.Gradients["initial_c_l0"][0]);
        Assert.NotEqual(before, model.Parameters["initial_c_l0"][0]);
    }

    [Fact]
    public void BatchedStepMatchesIndependentStreams()
    {
        // Batch 8 of shape C against eight single-stream states of the same weights (the unbatched C kernels).
        var batched = new Batch_8_32_2_B8(4);
        var single = new Lstm_8_32_2(0);
        single.LoadParameters(batched.Parameters.Values);
        var bs = batched.NewState();
        var states = Enumerable.Range(0, 8).Select(_ => single.NewState()).ToArray();
        var x = new float[64]; var y = new float[8 * 32]; var y1 = new float[32];
        double max = 0;
        for (int t = 0; t < 50; t++)
        {
            Models.Inputs(64, (ulong)t).CopyTo(x, 0);
            batched.Step(x, bs, y);
            for (int b = 0; b < 8; b++)
            {
                single.Step(x.AsSpan(b * 8, 8), states[b], y1);
                max = Math.Max(max, MaxDiff(y1, y.AsSpan(b * 32, 32)));
            }
        }
        Assert.True(max <= 1e-6, $"batched and single-stream outputs differ by {max}");
    }

    [Fact]
    public void BadSpansAndIndicesAreRejected()
    {
        var model = new Batch_1_16_B8(0);
        var state = model.NewState();
        var ex = Assert.Throws<ArgumentException>(() => model.Step(new float[1], state, new float[8 * 16]));
        Assert.Contains("BatchSize", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => state.Hidden(0, 0, 8));
        var bi = new Bi_3_17_1(0);
        Assert.Throws<ArgumentOutOfRangeException>(() => bi.NewState().Cell(0, 2));
        ILstmModel<Bi_3_17_1.State> generic = bi;
        var nse = Assert.Throws<NotSupportedException>(() => generic.Step(new float[3], bi.NewState(), new float[34]));
        Assert.Contains("bidirectional", nse.Message);
        var trainer = bi.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, maxSequenceLength: 4);
        trainer.CarryState = true;
        Assert.Throws<InvalidOperationException>(() => trainer.ComputeGradients(new float[12], new float[4 * 34]));
    }
}

/// <summary>Projection (proj_size) against libtorch autograd through the same cell written with torch ops.</summary>
public sealed class ProjectionTorchTests
{
    [Theory]
    [InlineData("Proj_8_32_P12")]
    [InlineData("Proj_3_17_2_P5_2")]
    public void ForwardAndGradientsMatchTorch(string name)
    {
        var c = VariantModels.Get(name);
        var cfg = c.Config;
        var model = c.Create(51);
        const int T = 10;
        float[] xs = Models.Inputs(T * cfg.I, 52), targets = Models.Inputs(T * cfg.Width, 53);
        var ys = new float[T * cfg.Width];
        model.Forward(xs, model.NewState(), ys);
        var trainer = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, T, 0);
        trainer.ComputeGradients(xs, targets, 1);
        var (outputs, grads) = TorchProjectionOracle.Run(cfg, model.Parameters, xs, T, targets);
        for (int k = 0; k < ys.Length; k++) Assert.True(Math.Abs(ys[k] - outputs[k]) <= 1e-5, $"output {k}: {ys[k]} vs torch {outputs[k]}");
        double scale = grads.Values.SelectMany(v => v).Max(v => Math.Abs(v));
        foreach (var tensor in trainer.Gradients.Tensors)
        {
            var e = grads[tensor.Name];
            for (int k = 0; k < e.Length; k++)
                Assert.True(Math.Abs(tensor.Values[k] - e[k]) <= 1e-4 * Math.Abs(e[k]) + 5e-6 * scale, $"{tensor.Name}[{k}]: {tensor.Values[k]} vs torch {e[k]}");
        }
    }
}
