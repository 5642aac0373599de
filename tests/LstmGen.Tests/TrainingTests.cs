using System;
using System.Linq;
using LstmGen.Tests.Reference;
using LstmGen.Training;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests;

/// <summary>
/// The generated backward pass against the double-precision reference (itself checked by finite differences).
/// Tolerance per parameter: |g − g_ref| ≤ 1e-4·|g_ref| + 2e-6·max|g_ref| — relative where the gradient is large, and an
/// absolute floor scaled to the gradient's size where it is tiny (float32 sums over up to 4H·T terms lose about 1e-7 of
/// the largest term, not of each small result).
/// </summary>
public sealed class TrainingTests(ITestOutputHelper output)
{
    public static TheoryData<string, Loss, bool> GradientCases()
    {
        var data = new TheoryData<string, Loss, bool>();
        foreach (var c in Models.All)
        {
            data.Add(c.Name, Loss.MeanSquaredError, false);
            data.Add(c.Name, Loss.MeanSquaredError, true);
            if (c.O > 1) data.Add(c.Name, Loss.CrossEntropy, false);
            if (c.O > 0) data.Add(c.Name, Loss.BinaryCrossEntropyWithLogits, true);
        }
        return data;
    }

    internal static float[] Targets(ModelCase c, Loss loss, int steps, int batch, bool lastOnly, ulong seed)
    {
        int rows = (lastOnly ? 1 : steps) * batch;
        var random = new LstmRandom(seed);
        if (loss == Loss.CrossEntropy)
            return Enumerable.Range(0, rows).Select(_ => (float)(int)(random.NextDouble() * c.OutputLength)).ToArray();
        var t = new float[rows * c.OutputLength];
        for (int k = 0; k < t.Length; k++)
            t[k] = loss == Loss.BinaryCrossEntropyWithLogits ? (random.NextDouble() < 0.5 ? 0f : 1f) : (float)(random.NextDouble() * 1.6 - 0.8);
        return t;
    }

    internal static double Compare(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, out int worst)
    {
        double scale = 0;
        foreach (double g in expected) scale = Math.Max(scale, Math.Abs(g));
        double ratio = 0; worst = -1;
        for (int k = 0; k < expected.Length; k++)
        {
            double allowed = 1e-4 * Math.Abs(expected[k]) + 2e-6 * scale + 1e-12;
            double r = Math.Abs(actual[k] - expected[k]) / allowed;
            if (double.IsNaN(r)) r = double.PositiveInfinity;
            if (r > ratio) { ratio = r; worst = k; }
        }
        return ratio; // ≤ 1 passes
    }

    [Theory]
    [MemberData(nameof(GradientCases))]
    public void GradientsMatchReference(string name, Loss loss, bool lastOnly)
    {
        var c = Models.Get(name);
        int steps = c.H >= 128 ? 8 : 20, batch = c.H >= 128 ? 1 : 2;
        var model = c.Create(31);
        var trainer = model.CreateTrainer(new Sgd(0.1f), loss, maxT: steps);
        float[] xs = Models.Inputs(batch * steps * c.I, 17);
        float[] targets = Targets(c, loss, steps, batch, lastOnly, 23);
        float got = trainer.ComputeGradients(xs, targets, batch);
        var (refLoss, refGrad) = ReferenceTraining.Run(c.I, c.H, c.L, c.Bias, c.O, c.Activation, loss, model.Parameters.Values, xs, steps, batch, targets, lastOnly);
        double ratio = Compare(refGrad, trainer.Gradients.Values, out int worst);
        string where = worst < 0 ? "" : trainer.Gradients.Tensors.Last(t => t.Offset <= worst).Name;
        output.WriteLine($"{name} {loss} lastOnly={lastOnly} [{Lstm_1_1_1.KernelPath}]: loss {got:G7} vs {refLoss:G7}; worst gradient at {where} uses {ratio:P1} of the tolerance");
        Assert.True(Math.Abs(got - refLoss) <= 1e-5 * Math.Max(1, Math.Abs(refLoss)), $"loss {got} vs {refLoss}");
        Assert.True(ratio <= 1, $"{name}: gradient {worst} ({where}) = {trainer.Gradients.Values[worst]:G7}, reference {refGrad[worst]:G7}");
    }

    [Theory]
    [InlineData(Loss.MeanSquaredError, OutputActivation.None, false)]
    [InlineData(Loss.MeanSquaredError, OutputActivation.Softmax, true)]
    [InlineData(Loss.CrossEntropy, OutputActivation.None, false)]
    [InlineData(Loss.BinaryCrossEntropyWithLogits, OutputActivation.None, true)]
    [InlineData(Loss.MeanSquaredError, OutputActivation.Tanh, false)]
    public void ReferenceGradientsMatchFiniteDifferences(Loss loss, OutputActivation activation, bool lastOnly)
    {
        const int I = 3, H = 4, L = 2, O = 3, T = 5, B = 2;
        var model = new Tiny_3_4_2_2(seed: 4); // only for a parameter vector of the right size and order, scaled up
        int count = 4 * H * (I + H) + 8 * H + 4 * H * (H + H) + 8 * H + O * H + O;
        var random = new LstmRandom(8);
        var p = new double[count];
        for (int k = 0; k < count; k++) p[k] = (random.NextDouble() * 2 - 1) * 0.8;
        float[] pf = p.Select(v => (float)v).ToArray();
        for (int k = 0; k < count; k++) p[k] = pf[k];
        float[] xs = Models.Inputs(B * T * I, 3);
        var c = new ModelCase("fd", I, H, L, true, O, activation, _ => throw new NotSupportedException());
        float[] targets = Targets(c, loss, T, B, lastOnly, 5);
        var (_, grad) = ReferenceTraining.Run(I, H, L, true, O, activation, loss, pf, xs, T, B, targets, lastOnly);
        double worst = 0;
        for (int k = 0; k < count; k++)
        {
            double saved = p[k], eps = 1e-5;
            p[k] = saved + eps;
            double up = ReferenceTraining.LossOnly(I, H, L, true, O, activation, loss, p, xs, T, B, targets, lastOnly);
            p[k] = saved - eps;
            double down = ReferenceTraining.LossOnly(I, H, L, true, O, activation, loss, p, xs, T, B, targets, lastOnly);
            p[k] = saved;
            double numeric = (up - down) / (2 * eps);
            double error = Math.Abs(numeric - grad[k]) / (Math.Abs(numeric) + 1e-6);
            worst = Math.Max(worst, error);
            Assert.True(error < 1e-5, $"parameter {k}: analytic {grad[k]:G10}, numeric {numeric:G10}");
        }
        output.WriteLine($"{loss}/{activation}: worst relative difference to central differences {worst:E2}");
        GC.KeepAlive(model);
    }

    [Fact]
    public void TruncatedBpttEqualsFullBpttWhenTheWindowCoversTheSequence()
    {
        var c = Models.Get("Head_8_32_2_1");
        float[] xs = Models.Inputs(30 * c.I, 2);
        float[] targets = Targets(c, Loss.MeanSquaredError, 30, 1, false, 3);
        var full = c.Create(5).CreateTrainer(new Sgd(0.05f, momentum: 0.9f), Loss.MeanSquaredError, maxT: 30);
        var a = c.Create(5);
        var windowed = a.CreateTrainer(new Sgd(0.05f, momentum: 0.9f), Loss.MeanSquaredError, maxT: 30);
        windowed.CarryState = true;
        for (int k = 0; k < 3; k++)
        {
            windowed.ResetState(); // one window per sequence: the window covers it
            float lw = windowed.Step(xs, targets);
            float lf = full.Step(xs, targets);
            Assert.Equal(lf, lw);
            Assert.True(full.Gradients.Values.SequenceEqual(windowed.Gradients.Values));
        }
    }

    [Fact]
    public void TruncatedBpttCarriesStateAndCutsGradients()
    {
        // Two windows of 10 with the state carried: the second window's gradients equal those of a trainer started from the
        // carried state (gradients cut at the window start), and differ from a zero-state start.
        var model = new Tiny_3_4_2_2(seed: 6);
        float[] xs = Models.Inputs(20 * 3, 4);
        float[] ts = Models.Inputs(20 * 2, 5);
        var trainer = model.CreateTrainer(new Sgd(1e-9f), Loss.MeanSquaredError, maxSequenceLength: 10);
        trainer.CarryState = true;
        trainer.ComputeGradients(xs.AsSpan(0, 30), ts.AsSpan(0, 20));
        var carried = new float[2][];
        for (int l = 0; l < 2; l++) carried[l] = trainer.CarriedState.Hidden(l).ToArray().Concat(trainer.CarriedState.Cell(l).ToArray()).ToArray();
        trainer.ComputeGradients(xs.AsSpan(30, 30), ts.AsSpan(20, 20));
        float[] second = trainer.Gradients.Values.ToArray();

        // the reference: the second window alone from the carried state, via Forward checking the state is what Forward gives
        var state = model.NewState();
        model.Forward(xs.AsSpan(0, 30), state, new float[2]);
        for (int l = 0; l < 2; l++)
        {
            Assert.Equal(state.Hidden(l).ToArray(), carried[l].Take(4).ToArray(), new FloatClose(1e-6f));
            Assert.Equal(state.Cell(l).ToArray(), carried[l].Skip(4).ToArray(), new FloatClose(1e-6f));
        }
        var fresh = model.CreateTrainer(new Sgd(1e-9f), Loss.MeanSquaredError, maxSequenceLength: 10);
        fresh.ComputeGradients(xs.AsSpan(30, 30), ts.AsSpan(20, 20));
        Assert.False(fresh.Gradients.Values.SequenceEqual(second));
    }

    private sealed class FloatClose(float tolerance) : System.Collections.Generic.IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
