using System;
using System.Linq;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Gru;

/// <summary>
/// GRU models with bf16 and int8 gate weights (docs/maths.md §10–§11): against the double-precision GRU seeing what the
/// reduced model's products see (GruOracle with the storage: each row of W_ih and W_hh rounded to bf16, or dequantized
/// with x_t and h_(t-1) quantized to 8 bits before their products; everything else exact) within 2e-5, the LSTM's bound
/// for the same check; and int8 against the float32 GRU over 2,000 steps, with stated bounds.
/// </summary>
public sealed class GruReducedTests(ITestOutputHelper output)
{
    private static IRecurrentModelDriver Driver<TModel, TState>(TModel model) where TModel : IRecurrentModel<TState> where TState : class, IRecurrentState =>
        new RecurrentDriver<TModel, TState>(model);

    public static TheoryData<string> Names() => new() { "GruInt8_3_17_2_Head3", "GruInt8_64_128", "GruInt8_3_17_2_Bi", "GruInt8_3_17_B3",
        "GruBf16_1_16", "GruBf16_1_40", "GruBf16_3_17_2_Head3", "GruBf16_64_128", "GruBf16_3_17_2_Bi", "GruBf16_3_17_B3" };

    private static (IRecurrentModelDriver Model, GruCase Shape) Create(string name, int seed) => name switch
    {
        "GruInt8_3_17_2_Head3" => (Driver<GruInt8_3_17_2_Head3, GruInt8_3_17_2_Head3.State>(new GruInt8_3_17_2_Head3(seed)), GruModels.Get("Gru_3_17_2_Head3")),
        "GruInt8_64_128" => (Driver<GruInt8_64_128, GruInt8_64_128.State>(new GruInt8_64_128(seed)), GruModels.Get("Gru_64_128")),
        "GruInt8_3_17_2_Bi" => (Driver<GruInt8_3_17_2_Bi, GruInt8_3_17_2_Bi.State>(new GruInt8_3_17_2_Bi(seed)), GruModels.Get("Gru_3_17_2_Bi")),
        "GruInt8_3_17_B3" => (Driver<GruInt8_3_17_B3, GruInt8_3_17_B3.State>(new GruInt8_3_17_B3(seed)), GruModels.Get("Gru_3_17_B3")),
        "GruBf16_1_16" => (Driver<GruBf16_1_16, GruBf16_1_16.State>(new GruBf16_1_16(seed)), GruModels.Get("Gru_1_16")),
        "GruBf16_1_40" => (Driver<GruBf16_1_40, GruBf16_1_40.State>(new GruBf16_1_40(seed)), GruModels.Get("Gru_1_40")),
        "GruBf16_3_17_2_Head3" => (Driver<GruBf16_3_17_2_Head3, GruBf16_3_17_2_Head3.State>(new GruBf16_3_17_2_Head3(seed)), GruModels.Get("Gru_3_17_2_Head3")),
        "GruBf16_64_128" => (Driver<GruBf16_64_128, GruBf16_64_128.State>(new GruBf16_64_128(seed)), GruModels.Get("Gru_64_128")),
        "GruBf16_3_17_2_Bi" => (Driver<GruBf16_3_17_2_Bi, GruBf16_3_17_2_Bi.State>(new GruBf16_3_17_2_Bi(seed)), GruModels.Get("Gru_3_17_2_Bi")),
        _ => (Driver<GruBf16_3_17_B3, GruBf16_3_17_B3.State>(new GruBf16_3_17_B3(seed)), GruModels.Get("Gru_3_17_B3")),
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void MatchesTheReducedReference(string name)
    {
        var (model, c) = Create(name, 9);
        var storage = name.StartsWith("GruInt8", StringComparison.Ordinal) ? Reduced.Storage.Int8 : Reduced.Storage.BFloat16;
        const int steps = 120;
        int width = c.O > 0 ? c.O : (c.Bidirectional ? 2 : 1) * c.H;
        float[] xs = Models.Inputs(c.Batch * steps * c.I, 10);
        var ys = new float[c.Batch * steps * width];
        model.Forward(xs, model.NewState(), ys);
        double forward = 0, step = 0;
        var expected = Enumerable.Range(0, c.Batch).Select(b => GruOracle.Run(model.Parameters, c, xs.AsSpan(b * steps * c.I, steps * c.I), steps, storage)).ToArray();
        for (int b = 0; b < c.Batch; b++)
            for (int k = 0; k < steps * width; k++) forward = Math.Max(forward, Math.Abs(ys[b * steps * width + k] - expected[b][k]));
        if (!c.Bidirectional)
        {
            var state = model.NewState();
            var x = new float[c.Batch * c.I];
            var y = new float[c.Batch * width];
            for (int t = 0; t < steps; t++)
            {
                for (int b = 0; b < c.Batch; b++) xs.AsSpan((b * steps + t) * c.I, c.I).CopyTo(x.AsSpan(b * c.I));
                model.Step(x, state, y);
                for (int b = 0; b < c.Batch; b++)
                    for (int k = 0; k < width; k++) step = Math.Max(step, Math.Abs(y[b * width + k] - expected[b][t * width + k]));
            }
        }
        output.WriteLine($"{name} [{Gru_1_1.KernelPath}, {storage}; int8 products on {Int8Product.InstructionSet}]: max |error| Forward {forward:E2}, Step {step:E2}");
        Assert.True(forward <= 2e-5 && step <= 2e-5, $"{name}: Forward {forward:E3}, Step {step:E3}");
    }

    [Fact]
    public void StaysCloseToFloat32OverLongSequences()
    {
        var f = new Gru_64_128(seed: 11);
        var q = new GruInt8_64_128();
        q.LoadParameters(f.Parameters.Values);
        const int steps = 2000;
        float[] xs = Models.Inputs(steps * 64, 12);
        var yf = new float[steps * 128];
        var yq = new float[steps * 128];
        f.Forward(xs, f.NewState(), yf);
        q.Forward(xs, q.NewState(), yq);
        double max = 0, sum = 0;
        for (int k = 0; k < yf.Length; k++) { double d = Math.Abs(yf[k] - yq[k]); max = Math.Max(max, d); sum += d; }
        double mean = sum / yf.Length;
        output.WriteLine($"GRU 64→128 int8 against float32 over {steps} steps: max |Δ| {max:E2}, mean |Δ| {mean:E2}");
        // bounds about twice the errors first measured (3.8e-3 and 6.0e-4 on Zen 4), as for the LSTM's int8 (ReducedAccuracyTests)
        Assert.True(max <= 8e-3 && mean <= 1.2e-3, $"max {max:E3}, mean {mean:E3}");
        Assert.True(max > 0, "int8 and float32 gave identical outputs: the int8 path did not run");
    }
}
