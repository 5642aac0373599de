using System;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Reduced;

/// <summary>
/// How far bf16 and int8 weights move the outputs from float32, over 2,000 steps of one stream (long enough for errors
/// to build up through the recurrence), for the benchmark shapes A–E with PyTorch's default initialisation (seed 42) and
/// inputs uniform in [−1, 1). The bounds are the README's table, about twice what this test measured; the errors do not
/// depend on the SIMD path beyond float32 rounding.
/// </summary>
public sealed class ReducedAccuracyTests(ITestOutputHelper output)
{
    private const int T = 2000;

    public static TheoryData<string, string, double, double> Cases() => new()
    {
        // shape, storage, bound on max |error|, bound on mean |error|
        // (int8 with 8-bit activations since issue 18: the weights' error and the activations' together)
        { "A", "BFloat16", 4e-4, 8e-5 }, { "A", "Int8", 9e-4, 1.5e-4 },
        { "B", "BFloat16", 5e-4, 8e-5 }, { "B", "Int8", 6e-4, 1.2e-4 },
        { "C", "BFloat16", 5e-4, 1e-4 }, { "C", "Int8", 1.4e-3, 2.5e-4 },
        { "D", "BFloat16", 1.5e-3, 2e-4 }, { "D", "Int8", 4.5e-3, 6e-4 },
        { "E", "BFloat16", 2e-3, 2.2e-4 }, { "E", "Int8", 7e-3, 8e-4 },
    };

    private delegate float[] Run(float[] parameters, float[] xs);

    private static float[] Forward<TModel, TState>(TModel model, float[] parameters, float[] xs, int outputs)
        where TModel : ILstmModel<TState> where TState : class, ILstmState
    {
        model.Parameters.CopyFrom(parameters);
        var ys = new float[T * outputs];
        model.Forward(xs, model.NewState(), ys);
        return ys;
    }

    private static (float[] Parameters, int Inputs, Run Float, Run Bf16, Run Int8) Shape(string name) => name switch
    {
        "A" => (new Lstm_1_16_1(42).Parameters.Values.ToArray(), 1,
            (p, x) => Forward<Lstm_1_16_1, Lstm_1_16_1.State>(new(), p, x, 16), (p, x) => Forward<Bf16_A, Bf16_A.State>(new(), p, x, 16), (p, x) => Forward<I8_A, I8_A.State>(new(), p, x, 16)),
        "B" => (new Lstm_1_40_1(42).Parameters.Values.ToArray(), 1,
            (p, x) => Forward<Lstm_1_40_1, Lstm_1_40_1.State>(new(), p, x, 40), (p, x) => Forward<Bf16_B, Bf16_B.State>(new(), p, x, 40), (p, x) => Forward<I8_B, I8_B.State>(new(), p, x, 40)),
        "C" => (new Lstm_8_32_2(42).Parameters.Values.ToArray(), 8,
            (p, x) => Forward<Lstm_8_32_2, Lstm_8_32_2.State>(new(), p, x, 32), (p, x) => Forward<Bf16_C, Bf16_C.State>(new(), p, x, 32), (p, x) => Forward<I8_C, I8_C.State>(new(), p, x, 32)),
        "D" => (new Lstm_64_128_1(42).Parameters.Values.ToArray(), 64,
            (p, x) => Forward<Lstm_64_128_1, Lstm_64_128_1.State>(new(), p, x, 128), (p, x) => Forward<Bf16_64_128, Bf16_64_128.State>(new(), p, x, 128), (p, x) => Forward<I8_64_128, I8_64_128.State>(new(), p, x, 128)),
        _ => (new Lstm_256_256_1(42).Parameters.Values.ToArray(), 256,
            (p, x) => Forward<Lstm_256_256_1, Lstm_256_256_1.State>(new(), p, x, 256), (p, x) => Forward<Bf16_E, Bf16_E.State>(new(), p, x, 256), (p, x) => Forward<I8_E, I8_E.State>(new(), p, x, 256)),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ErrorAgainstFloat32StaysWithinTheStatedBound(string shape, string storage, double maxBound, double meanBound)
    {
        var (parameters, inputs, runFloat, runBf16, runInt8) = Shape(shape);
        float[] xs = Models.Inputs(T * inputs, 77);
        float[] reference = runFloat(parameters, xs);
        float[] reduced = storage == "BFloat16" ? runBf16(parameters, xs) : runInt8(parameters, xs);
        double max = 0, sum = 0, lastMax = 0;
        int perStep = reference.Length / T;
        for (int k = 0; k < reference.Length; k++)
        {
            double d = Math.Abs(reference[k] - reduced[k]);
            max = Math.Max(max, d);
            sum += d;
            if (k >= reference.Length - 100 * perStep) lastMax = Math.Max(lastMax, d);
        }
        double mean = sum / reference.Length;
        output.WriteLine($"accuracy {shape} {storage}: max |Δ| {max:E2}, mean |Δ| {mean:E2}, max |Δ| over the last 100 steps {lastMax:E2}, max |y| {MaxAbs(reference):F3}");
        Assert.True(max > 0, "the reduced model gave exactly the float32 outputs: are the reduced weights used?");
        Assert.True(max <= maxBound, $"{shape} {storage}: max |Δ| {max:E2} above the bound {maxBound:E0}");
        Assert.True(mean <= meanBound, $"{shape} {storage}: mean |Δ| {mean:E2} above the bound {meanBound:E0}");
    }

    private static double MaxAbs(float[] values)
    {
        double m = 0;
        foreach (float v in values) m = Math.Max(m, Math.Abs(v));
        return m;
    }
}
