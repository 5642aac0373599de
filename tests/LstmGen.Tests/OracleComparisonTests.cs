using System;
using LstmGen.Tests.Oracles;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests;

/// <summary>
/// The generated models against real PyTorch (libtorch's nn.LSTM + nn.Linear through TorchSharp) and ONNX Runtime's
/// LSTM operator, with the same weights and inputs: every step's output, h_n and c_n. Tolerance 1e-5 absolute (see
/// <see cref="ForwardTests"/>); float32 on both sides, so the differences are rounding and the tanh/σ approximation.
/// </summary>
public sealed class OracleComparisonTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var c in Models.All)
            foreach (int steps in new[] { 1, 200 })
                data.Add(c.Name, steps);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesLibTorch(string name, int steps)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        Compare(name, steps, "libtorch", (c, p, xs) => TorchOracle.Run(c.I, c.H, c.L, c.Bias, c.O, c.OracleActivation, p, xs, steps));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesOnnxRuntime(string name, int steps)
    {
        Assert.True(OnnxOracle.IsAvailable, OnnxOracle.UnavailableReason);
        Compare(name, steps, "ONNX Runtime", (c, p, xs) => OnnxOracle.Run(c.I, c.H, c.L, c.Bias, c.O, c.OracleActivation, p, xs, steps));
    }

    private delegate OracleResult Oracle(ModelCase c, ReadOnlySpan<float> parameters, ReadOnlySpan<float> xs);

    private void Compare(string name, int steps, string oracleName, Oracle oracle)
    {
        var c = Models.Get(name);
        var model = c.Create(1234);
        float[] xs = Models.Inputs(steps * c.I, 99);
        OracleResult expected = oracle(c, model.Parameters.Values, xs);

        var state = model.NewState();
        var ys = new float[steps * c.OutputLength];
        model.Forward(xs, state, ys);
        double forward = MaxDiff(expected.Output, ys);
        double hn = 0, cn = 0;
        for (int l = 0; l < c.L; l++)
        {
            hn = Math.Max(hn, MaxDiff(expected.HN.AsSpan(l * c.H, c.H), state.Hidden(l)));
            cn = Math.Max(cn, MaxDiff(expected.CN.AsSpan(l * c.H, c.H), state.Cell(l)));
        }

        var stepState = model.NewState();
        var y = new float[c.OutputLength];
        double step = 0;
        for (int t = 0; t < steps; t++)
        {
            model.Step(xs.AsSpan(t * c.I, c.I), stepState, y);
            step = Math.Max(step, MaxDiff(expected.Output.AsSpan(t * c.OutputLength, c.OutputLength), y));
        }

        output.WriteLine($"{name} T={steps} vs {oracleName} [{Lstm_1_1_1.KernelPath}]: output {forward:E2} (Forward), {step:E2} (Step); h_n {hn:E2}; c_n {cn:E2}");
        double max = Math.Max(Math.Max(forward, step), Math.Max(hn, cn));
        Assert.True(max <= ForwardTests.Tolerance, $"{name}, T={steps}: max difference from {oracleName} {max:E3} exceeds {ForwardTests.Tolerance:E1}");
    }

    private static double MaxDiff(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        for (int k = 0; k < expected.Length; k++)
        {
            double d = Math.Abs((double)expected[k] - actual[k]);
            if (double.IsNaN(d)) return double.PositiveInfinity;
            max = Math.Max(max, d);
        }
        return max;
    }
}
