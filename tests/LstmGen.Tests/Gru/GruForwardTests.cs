using System;
using System.Linq;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Gru;

/// <summary>
/// Every generated GRU against the double-precision reference (GruOracle), through Step (stream by stream) and Forward
/// (every step's output, and the final h), from random weights and, with a learned initial state, a random h_0.
/// Tolerance 1e-5 absolute, as for the LSTM (ForwardTests): float32 sums over up to 192 columns and the kernels' tanh
/// (within 4e-7) add errors of order 1e-6 per step; a GRU forgets them like an LSTM (z ∈ (0, 1)).
/// </summary>
public sealed class GruForwardTests(ITestOutputHelper output)
{
    public const double Tolerance = 1e-5;

    private static IRecurrentModelDriver Create(GruCase c, int seed) => GruModels.CreateWithInitialState(c, seed);

    public static TheoryData<string> StreamingNames() => new(GruModels.All.Where(c => !c.Bidirectional).Select(c => c.Name));

    [Theory]
    [MemberData(nameof(StreamingNames))]
    public void StepMatchesReference(string name)
    {
        var c = GruModels.Get(name);
        int o = c.O > 0 ? c.O : c.H;
        foreach (int steps in new[] { 1, 300 })
        {
            var model = Create(c, 7);
            var state = model.NewState();
            var inputs = Enumerable.Range(0, c.Batch).Select(b => Models.Inputs(steps * c.I, 11 + (ulong)b)).ToArray();
            var x = new float[c.Batch * c.I];
            var y = new float[c.Batch * o];
            var got = new float[c.Batch][];
            for (int b = 0; b < c.Batch; b++) got[b] = new float[steps * o];
            for (int t = 0; t < steps; t++)
            {
                for (int b = 0; b < c.Batch; b++) inputs[b].AsSpan(t * c.I, c.I).CopyTo(x.AsSpan(b * c.I));
                model.Step(x, state, y);
                for (int b = 0; b < c.Batch; b++) y.AsSpan(b * o, o).CopyTo(got[b].AsSpan(t * o));
            }
            double max = 0;
            for (int b = 0; b < c.Batch; b++)
                max = Math.Max(max, MaxDiff(GruOracle.Run(model.Parameters, c, inputs[b], steps), got[b]));
            output.WriteLine($"{name} [{Gru_1_1.KernelPath}] Step, T={steps}: max |error| {max:E2}");
            Assert.True(max <= Tolerance, $"{name}: max error {max:E3} over {steps} steps exceeds {Tolerance:E1}");
        }
    }

    [Theory]
    [MemberData(nameof(GruModels.Names), MemberType = typeof(GruModels))]
    public void ForwardMatchesReference(string name)
    {
        var c = GruModels.Get(name);
        int o = c.O > 0 ? c.O : c.H;
        foreach (int steps in new[] { 1, 3, 200 })
        {
            var model = Create(c, 3);
            var xs = Models.Inputs(c.Batch * steps * c.I, 5);
            var ys = new float[c.Batch * steps * o];
            var state = model.NewState();
            model.Forward(xs, state, ys);
            double max = 0;
            for (int b = 0; b < c.Batch; b++)
            {
                double[] expected = GruOracle.Run(model.Parameters, c, xs.AsSpan(b * steps * c.I, steps * c.I), steps);
                max = Math.Max(max, MaxDiff(expected, ys.AsSpan(b * steps * o, steps * o)));
                if (c.O == 0 && !c.Bidirectional)
                    // without a head the last step's output is the top layer's final h, which the state keeps
                    max = Math.Max(max, MaxDiff(expected.AsSpan((steps - 1) * o, o).ToArray(), model.Hidden(state, c.L - 1, 0, b)));
            }
            output.WriteLine($"{name} [{Gru_1_1.KernelPath}] Forward, T={steps}: max |error| {max:E2}");
            Assert.True(max <= Tolerance, $"{name}: max error {max:E3} over {steps} steps exceeds {Tolerance:E1}");
        }
    }

    [Fact]
    public void HandWorkedStep()
    {
        // I = H = 1, every weight 0.5, every bias 0, h_0 = 0, x = 1: r = z = σ(0.5) = 0.6224593, hn = 0,
        // n = tanh(0.5) = 0.4621172, h_1 = (1 − z)·n = 0.3775407·0.4621172 = 0.1744680
        var model = new Gru_1_1();
        model.Parameters.CopyFrom(new float[] { 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0, 0, 0, 0, 0, 0 });
        var state = model.NewState();
        var y = new float[1];
        model.Step(new float[] { 1f }, state, y);
        Assert.Equal(0.1744680, y[0], 6);
        Assert.Equal(0.1744680, state.Hidden(0)[0], 6);
        // the second step: hn = 0.5·h_1 (W_hn), r and z see 0.5 + 0.5·h_1
        double h1 = (1 - 1 / (1 + Math.Exp(-0.5))) * Math.Tanh(0.5);
        double a = 0.5 + 0.5 * h1, r = 1 / (1 + Math.Exp(-a)), n = Math.Tanh(0.5 + r * 0.5 * h1), h2 = (1 - r) * n + r * h1;
        model.Step(new float[] { 1f }, state, y);
        Assert.Equal(h2, y[0], 6);
    }

    private static double MaxDiff(double[] expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        for (int k = 0; k < expected.Length; k++) max = Math.Max(max, Math.Abs(expected[k] - actual[k]));
        return max;
    }
}
