using System;
using System.IO;
using System.Linq;
using LstmGen.Tests.Reference;
using LstmGen.Training;
using LstmGen.Weights;
using Xunit;

namespace LstmGen.Tests.Reduced;

// Compiled-in weights with reduced storage: the same asset file as CompiledF32 (Weights/Assets/make_assets.py).
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, Weights = "Weights/Assets/compiled_f32.safetensors", WeightStorage = WeightStorage.BFloat16)]
public partial class CompiledBf16 { }

[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, Weights = "Weights/Assets/compiled_f32.safetensors", WeightStorage = WeightStorage.Int8)]
public partial class CompiledI8 { }

/// <summary>
/// Issue 8: bf16 and int8 gate weights against the double-precision reference run on the same rounded weights
/// (<see cref="ReducedReference"/>), so the only difference left is float32 arithmetic: tolerance 2e-5 absolute, as for the
/// float32 models. CI reruns these with AVX-512 off, AVX2 off and no intrinsics; the AOT conformance program runs them on
/// ARM64 under qemu.
/// </summary>
public sealed class ReducedTests
{
    private const double Tolerance = 2e-5;

    private static double MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int k = 0; k < a.Length; k++) max = Math.Max(max, Math.Abs(a[k] - b[k]));
        return max;
    }

    private static float[] Flat(double[][] rows) => rows.SelectMany(r => r.Select(v => (float)v)).ToArray();

    public static TheoryData<string, int> ForwardCases()
    {
        var data = new TheoryData<string, int>();
        foreach (var c in ReducedModels.All)
            foreach (int t in new[] { 1, 3, 70 })
                data.Add(c.Name, t);
        return data;
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void ForwardMatchesReferenceWithTheSameRoundedWeights(string name, int T)
    {
        var c = ReducedModels.Get(name);
        var cfg = c.Config;
        var model = c.Create();
        Variants.VariantModels.Randomize(model.Parameters, 21);
        float[] xs = Models.Inputs(c.Batch * T * cfg.I, 9);
        var ys = new float[c.Batch * T * cfg.Width];
        var state = model.NewState();
        model.Forward(xs, state, ys);

        var offsets = VariantReference.Offsets(model.Parameters);
        var effective = ReducedReference.Effective(model.Parameters, c.Storage);
        var exact = VariantReference.ToDouble(model.Parameters.Values);
        double fromFloat = 0;
        for (int b = 0; b < c.Batch; b++)
        {
            var expected = VariantReference.Forward(cfg, offsets, effective, xs.AsSpan(b * T * cfg.I, T * cfg.I), T, quantize: ReducedReference.Activations(c.Storage));
            var actual = ys.AsSpan(b * T * cfg.Width, T * cfg.Width);
            double diff = MaxDiff(Flat(expected.Outputs), actual);
            Assert.True(diff <= Tolerance, $"stream {b}: outputs differ from the reference on {c.Storage} weights by {diff:E2}");
            for (int u = 0; u < cfg.Units; u++)
            {
                Assert.True(MaxDiff(expected.HN[u].Select(v => (float)v).ToArray(), state.Hidden(u / cfg.D, u % cfg.D, b)) <= Tolerance, $"h_n of unit {u}, stream {b}");
                double cd = MaxDiff(expected.CN[u].Select(v => (float)v).ToArray(), state.Cell(u / cfg.D, u % cfg.D, b));
                double cmax = expected.CN[u].Max(Math.Abs);
                Assert.True(cd <= Tolerance * Math.Max(1, cmax), $"c_n of unit {u}, stream {b}: {cd:E2} off (max |c| {cmax:F2})");
            }
            var unrounded = VariantReference.Forward(cfg, offsets, exact, xs.AsSpan(b * T * cfg.I, T * cfg.I), T);
            fromFloat = Math.Max(fromFloat, MaxDiff(Flat(unrounded.Outputs), actual));
        }
        // The model really computes with the reduced weights: it is farther from the float32 weights' outputs than the tolerance.
        if (cfg.H >= 12 && T == 70)
            Assert.True(fromFloat > 10 * Tolerance, $"outputs are within {fromFloat:E2} of the unrounded weights' outputs: are the {c.Storage} weights used?");
    }

    [Theory]
    [MemberData(nameof(StreamingNames))]
    public void StepMatchesReferenceWithTheSameRoundedWeights(string name)
    {
        var c = ReducedModels.Get(name);
        var cfg = c.Config;
        var model = c.Create();
        Variants.VariantModels.Randomize(model.Parameters, 22);
        const int T = 70;
        float[] xs = Models.Inputs(c.Batch * T * cfg.I, 10);   // stream-major: stream b's sequence is one run
        var state = model.NewState();
        var outputs = new float[c.Batch * T * cfg.Width];
        var x = new float[c.Batch * cfg.I];
        var y = new float[c.Batch * cfg.Width];
        for (int t = 0; t < T; t++)
        {
            for (int b = 0; b < c.Batch; b++) Array.Copy(xs, (b * T + t) * cfg.I, x, b * cfg.I, cfg.I);
            model.Step!(x, state, y);
            for (int b = 0; b < c.Batch; b++) Array.Copy(y, b * cfg.Width, outputs, (b * T + t) * cfg.Width, cfg.Width);
        }
        var offsets = VariantReference.Offsets(model.Parameters);
        var effective = ReducedReference.Effective(model.Parameters, c.Storage);
        for (int b = 0; b < c.Batch; b++)
        {
            var expected = VariantReference.Forward(cfg, offsets, effective, xs.AsSpan(b * T * cfg.I, T * cfg.I), T, quantize: ReducedReference.Activations(c.Storage));
            double diff = MaxDiff(Flat(expected.Outputs), outputs.AsSpan(b * T * cfg.Width, T * cfg.Width));
            Assert.True(diff <= Tolerance, $"stream {b}: stepped outputs differ from the reference by {diff:E2}");
        }
    }

    public static TheoryData<string> StreamingNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in ReducedModels.All.Where(c => c.Config.D == 1)) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(ReducedModels.Names), MemberType = typeof(ReducedModels))]
    public void StepAndForwardAllocateNothing(string name)
    {
        var c = ReducedModels.Get(name);
        var cfg = c.Config;
        var model = c.Create();
        var state = model.NewState();
        const int T = 50;
        float[] xs = Models.Inputs(c.Batch * T * cfg.I, 3);
        var ys = new float[c.Batch * T * cfg.Width];
        var x = new float[c.Batch * cfg.I];
        var y = new float[c.Batch * cfg.Width];
        model.Forward(xs, state, ys);
        model.Step?.Invoke(x, state, y);
        long allocated = AllocationTests.Allocated(() =>
        {
            for (int k = 0; k < 20; k++) model.Forward(xs, state, ys);
            if (model.Step is { } step) for (int k = 0; k < 2000; k++) step(x, state, y);
        });
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void BFloat16RoundingMatchesLibtorch()
    {
        var values = Models.Inputs(100_000, 5).Select((v, k) => v * MathF.Pow(2, k % 60 - 30)).ToList();
        // ties (a 1 in bit 15 only), the largest finite values, subnormals, zeros, infinities
        foreach (uint bits in new uint[] { 0x3F808000, 0x3F818000, 0x7F7FFFFF, 0xFF7F8000, 0x00000001, 0x00008000, 0x80018000, 0, 0x80000000, 0x7F800000, 0xFF800000 })
            values.Add(BitConverter.UInt32BitsToSingle(bits));
        float[] array = values.ToArray();
        using var source = TorchSharp.torch.tensor(array);
        using var bf = source.to(TorchSharp.torch.ScalarType.BFloat16);
        using var back = bf.to(TorchSharp.torch.ScalarType.Float32);
        var torch = back.data<float>().ToArray();
        var definition = ReducedReference.RoundBFloat16(array.Where(float.IsFinite).ToArray());
        var finiteTorch = torch.Where((v, k) => float.IsFinite(array[k])).ToArray();
        for (int k = 0; k < definition.Length; k++)
            Assert.True(definition[k].Equals((double)finiteTorch[k]), $"the test's own rounding disagrees with libtorch at {k}");
        for (int k = 0; k < values.Count; k++)
            Assert.True(((double)torch[k]).Equals((double)LstmMath.FromBFloat16(LstmMath.ToBFloat16(values[k]))), $"{values[k]:R}: libtorch {torch[k]:R}, ours {LstmMath.FromBFloat16(LstmMath.ToBFloat16(values[k])):R}");
        Assert.True(float.IsNaN(LstmMath.FromBFloat16(LstmMath.ToBFloat16(float.NaN))));
    }

    [Fact]
    public void TrainingUpdatesTheFloat32MasterAndTheReducedCopyFollows()
    {
        // An int8 model trains exactly as its float32 twin (the trainer runs on the float32 master copy), and after the
        // updates its inference uses the new weights, rounded.
        var reduced = new I8_3_17_2_2();
        var twin = new F32_3_17_2_2();
        Variants.VariantModels.Randomize(reduced.Parameters, 5);
        twin.LoadParameters(reduced.Parameters.Values);
        const int T = 20;
        float[] xs = Models.Inputs(T * 3, 6), targets = Models.Inputs(T * 2, 7);
        var a = reduced.CreateTrainer(new Adam(0.01f), Loss.MeanSquaredError, maxSequenceLength: T);
        var b = twin.CreateTrainer(new Adam(0.01f), Loss.MeanSquaredError, maxSequenceLength: T);
        float first = 0, last = 0;
        for (int k = 0; k < 30; k++)
        {
            float la = a.Step(xs, targets), lb = b.Step(xs, targets);
            Assert.Equal(lb, la);
            if (k == 0) first = la;
            last = la;
        }
        Assert.True(last < first, $"loss {first} → {last}");
        Assert.Equal(twin.Parameters.Values.ToArray(), reduced.Parameters.Values.ToArray());

        var ys = new float[T * 2];
        reduced.Forward(xs, reduced.NewState(), ys);
        var cfg = new VariantConfig(3, 17, 2, 1, 0, false, true, 2, false);
        var expected = VariantReference.Forward(cfg, VariantReference.Offsets(reduced.Parameters), ReducedReference.Effective(reduced.Parameters, Storage.Int8), xs, T, quantize: ReducedReference.QuantizeActivations);
        Assert.True(MaxDiff(Flat(expected.Outputs), ys) <= Tolerance);
        // the allocation-free trainer step holds for reduced models too
        Assert.Equal(0, AllocationTests.Allocated(() => { for (int k = 0; k < 5; k++) a.Step(xs, targets); }));
    }

    private static string Asset(string name) => Path.Combine(AppContext.BaseDirectory, "Weights", "Assets", name);

    [Fact]
    public void CompiledInWeightsWorkForEveryStorageType()
    {
        float[] xs = Models.Inputs(64 * 3, 3);
        var loadedBf16 = new Bf16_3_17_2_2();
        loadedBf16.Parameters.LoadSafetensors(Asset("compiled_f32.safetensors"));
        var loadedI8 = new I8_3_17_2_2();
        loadedI8.Parameters.LoadSafetensors(Asset("compiled_f32.safetensors"));
        var compiledBf16 = new CompiledBf16();
        var compiledI8 = new CompiledI8();
        Assert.Equal(loadedBf16.Parameters.Values.ToArray(), compiledBf16.Parameters.Values.ToArray());
        Assert.Equal(loadedI8.Parameters.Values.ToArray(), compiledI8.Parameters.Values.ToArray());

        float[] Forward<TModel, TState>(TModel model) where TModel : ILstmModel<TState> where TState : class, ILstmState
        {
            var ys = new float[64 * 2];
            model.Forward(xs, model.NewState(), ys);
            return ys;
        }
        var a = Forward<CompiledBf16, CompiledBf16.State>(compiledBf16);
        var b = Forward<Bf16_3_17_2_2, Bf16_3_17_2_2.State>(loadedBf16);
        var c = Forward<CompiledI8, CompiledI8.State>(compiledI8);
        var d = Forward<I8_3_17_2_2, I8_3_17_2_2.State>(loadedI8);
        Assert.Equal(b, a);
        Assert.Equal(d, c);
        var cfg = new VariantConfig(3, 17, 2, 1, 0, false, true, 2, false);
        var offsets = VariantReference.Offsets(compiledI8.Parameters);
        Assert.True(MaxDiff(Flat(VariantReference.Forward(cfg, offsets, ReducedReference.Effective(compiledI8.Parameters, Storage.Int8), xs, 64, quantize: ReducedReference.QuantizeActivations).Outputs), c) <= Tolerance);
        Assert.True(MaxDiff(Flat(VariantReference.Forward(cfg, offsets, ReducedReference.Effective(compiledBf16.Parameters, Storage.BFloat16), xs, 64).Outputs), a) <= Tolerance);
    }
}
