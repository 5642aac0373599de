using System;
using LstmGen.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests;

/// <summary>
/// Every generated model against the scalar double-precision reference, through Step and Forward.
/// Tolerance 1e-5 absolute: each step's float32 arithmetic (accumulation over up to 512 columns, tanh and σ
/// approximations within 4e-7) adds errors of order 1e-6, and the recurrence contracts them (|f| &lt; 1);
/// observed errors are reported in the output.
/// </summary>
public sealed class ForwardTests(ITestOutputHelper output)
{
    public const double Tolerance = 1e-5;

    [Fact]
    public void ReferenceMatchesHandWorkedValues()
    {
        // docs/maths.md §7: I = H = 1, every weight 0.5, every bias 0, x_1 = 1.
        var parameters = new float[] { 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0, 0, 0, 0, 0, 0, 0, 0 };
        var reference = new ReferenceLstm(1, 1, 1, bias: true, 0, OutputActivation.None, parameters);
        double[] h = reference.Step(new float[] { 1f });
        Assert.Equal(0.1742697, h[0], 6);
        Assert.Equal(0.2876491, reference.Cs[0][0], 6);
    }

    [Fact]
    public void GeneratedModelMatchesHandWorkedValues()
    {
        var model = new Lstm_1_1_1();
        model.Parameters.CopyFrom(new float[] { 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0, 0, 0, 0, 0, 0, 0, 0 });
        var state = model.NewState();
        var y = new float[1];
        model.Step(new float[] { 1f }, state, y);
        Assert.Equal(0.1742697, y[0], 6);
        Assert.Equal(0.2876491, state.Cell(0)[0], 6);
        output.WriteLine($"kernel path: {Lstm_1_1_1.KernelPath}");
    }

    [Theory]
    [MemberData(nameof(Models.Names), MemberType = typeof(Models))]
    public void StepMatchesReference(string name)
    {
        var c = Models.Get(name);
        foreach (int steps in new[] { 1, 200 })
        {
            var model = c.Create(7);
            var reference = new ReferenceLstm(c.I, c.H, c.L, c.Bias, c.O, c.Activation, model.Parameters.Values);
            float[] xs = Models.Inputs(steps * c.I, 11);
            var state = model.NewState();
            var y = new float[c.OutputLength];
            double max = 0;
            for (int t = 0; t < steps; t++)
            {
                model.Step(xs.AsSpan(t * c.I, c.I), state, y);
                double[] expected = reference.Step(xs.AsSpan(t * c.I, c.I));
                max = Math.Max(max, MaxDiff(expected, y));
            }
            max = Math.Max(max, MaxStateDiff(reference, state, c.L));
            output.WriteLine($"{name} [{Lstm_1_1_1.KernelPath}] Step, T={steps}: max |error| {max:E2}");
            Assert.True(max <= Tolerance, $"{name}: max error {max:E3} over {steps} steps exceeds {Tolerance:E1}");
        }
    }

    [Theory]
    [MemberData(nameof(Models.Names), MemberType = typeof(Models))]
    public void ForwardMatchesReference(string name)
    {
        var c = Models.Get(name);
        foreach (int steps in new[] { 1, 3, 200 })
        {
            var model = c.Create(3);
            float[] xs = Models.Inputs(steps * c.I, 5);
            var reference = new ReferenceLstm(c.I, c.H, c.L, c.Bias, c.O, c.Activation, model.Parameters.Values);
            double[] expected = reference.Run(xs);

            var state = model.NewState();
            var ys = new float[steps * c.OutputLength];
            model.Forward(xs, state, ys);
            double max = Math.Max(MaxDiff(expected, ys), MaxStateDiff(reference, state, c.L));

            // Last step only, from a fresh state.
            var last = new float[c.OutputLength];
            var state2 = model.NewState();
            model.Forward(xs, state2, last);
            max = Math.Max(max, MaxDiff(expected.AsSpan((steps - 1) * c.OutputLength), last));

            output.WriteLine($"{name} [{Lstm_1_1_1.KernelPath}] Forward, T={steps}: max |error| {max:E2}");
            Assert.True(max <= Tolerance, $"{name}: max error {max:E3} over {steps} steps exceeds {Tolerance:E1}");
        }
    }

    [Theory]
    [MemberData(nameof(Models.Names), MemberType = typeof(Models))]
    public void ForwardThenStepCarriesState(string name)
    {
        // 150 steps through Forward (several chunks), then 50 through Step, continue one sequence.
        var c = Models.Get(name);
        var model = c.Create(9);
        const int steps = 200, split = 150;
        float[] xs = Models.Inputs(steps * c.I, 13);
        var reference = new ReferenceLstm(c.I, c.H, c.L, c.Bias, c.O, c.Activation, model.Parameters.Values);
        double[] expected = reference.Run(xs);
        var state = model.NewState();
        var ys = new float[steps * c.OutputLength];
        model.Forward(xs.AsSpan(0, split * c.I), state, ys.AsSpan(0, split * c.OutputLength));
        for (int t = split; t < steps; t++)
            model.Step(xs.AsSpan(t * c.I, c.I), state, ys.AsSpan(t * c.OutputLength, c.OutputLength));
        double max = MaxDiff(expected, ys);
        Assert.True(max <= Tolerance, $"{name}: max error {max:E3} exceeds {Tolerance:E1}");
    }

    [Theory]
    [MemberData(nameof(Models.Names), MemberType = typeof(Models))]
    public void GivenInitialStateIsUsed(string name)
    {
        var c = Models.Get(name);
        var model = c.Create(21);
        var reference = new ReferenceLstm(c.I, c.H, c.L, c.Bias, c.O, c.Activation, model.Parameters.Values);
        var state = model.NewState();
        float[] init = Models.Inputs(2 * c.L * c.H, 3);
        for (int l = 0; l < c.L; l++)
        {
            init.AsSpan(2 * l * c.H, c.H).CopyTo(state.Hidden(l));
            init.AsSpan((2 * l + 1) * c.H, c.H).CopyTo(state.Cell(l));
            for (int u = 0; u < c.H; u++) { reference.Hs[l][u] = init[2 * l * c.H + u]; reference.Cs[l][u] = init[(2 * l + 1) * c.H + u]; }
        }
        float[] xs = Models.Inputs(20 * c.I, 4);
        double[] expected = reference.Run(xs);
        var ys = new float[20 * c.OutputLength];
        model.Forward(xs, state, ys);
        Assert.True(MaxDiff(expected, ys) <= Tolerance);
    }

    internal static double MaxDiff(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        for (int k = 0; k < expected.Length; k++)
        {
            double d = Math.Abs(expected[k] - actual[k]);
            if (double.IsNaN(d)) return double.PositiveInfinity;
            max = Math.Max(max, d);
        }
        return max;
    }

    internal static double MaxStateDiff(ReferenceLstm reference, ILstmState state, int layers)
    {
        double max = 0;
        for (int l = 0; l < layers; l++)
        {
            max = Math.Max(max, MaxDiff(reference.Hs[l], state.Hidden(l)));
            max = Math.Max(max, MaxDiff(reference.Cs[l], state.Cell(l)));
        }
        return max;
    }
}
