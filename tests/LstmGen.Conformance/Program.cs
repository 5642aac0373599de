// Runs generated models of the benchmark shapes (bench.md A–E, and C with a head) through Step and Forward, and 20
// training steps, and compares them with the double-precision reference of the test suite. Prints one line per check
// and exits 1 if any is outside its tolerance (outputs 1e-5 absolute; losses 1e-4 relative over 20 SGD steps).
using System;
using System.Diagnostics;
using LstmGen;
using LstmGen.Tests.Reduced;
using LstmGen.Tests.Reference;
using LstmGen.Training;

var clock = Stopwatch.StartNew();
Console.WriteLine($"LstmGen conformance: {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, kernel path {ShapeA.KernelPath}, int8 products on {Int8Product.InstructionSet}");
int failures = 0;
failures += Check("A (1→16)", new ShapeA(1), 1, 16, 1, 0, 200);
failures += Check("B (1→40)", new ShapeB(1), 1, 40, 1, 0, 200);
failures += Check("C (8→32×2)", new ShapeC(1), 8, 32, 2, 0, 200);
failures += Check("C+head (8→32×2→1)", new ShapeCHead(1), 8, 32, 2, 1, 200);
failures += Check("D (64→128)", new ShapeD(1), 64, 128, 1, 0, 100);
failures += Check("E (256→256)", new ShapeE(1), 256, 256, 1, 0, 50);
failures += Train();
// issue 6's options: batch streams, bidirectional, projection, and everything at once (forward, and gradients by finite differences)
failures += CheckVariant("A×8 (batch 8)", new ShapeA8(1), new VariantConfig(1, 16, 1, 1, 0, false, true, 0, false), 8, 100, m => m.Step);
failures += CheckVariant("C×8 (batch 8)", new ShapeC8(1), new VariantConfig(8, 32, 2, 1, 0, false, true, 0, false), 8, 100, m => m.Step);
failures += CheckVariant("C bidirectional", new ShapeCBi(1), new VariantConfig(8, 32, 2, 2, 0, false, true, 0, false), 1, 100, null);
failures += CheckVariant("D proj 64", new ShapeDProj(1), new VariantConfig(64, 128, 1, 1, 64, false, true, 0, false), 1, 50, m => m.Step);
failures += CheckVariant("everything", new Everything(1), Everything.Config, 1, 70, null);
failures += CheckVariantGradients();
// issue 8: bf16 and int8 gate weights, against the reference on the same rounded weights
VariantConfig Plain(int i, int h, int l = 1) => new(i, h, l, 1, 0, false, true, 0, false);
failures += CheckVariant("C bf16", new ShapeCBf16(1), Plain(8, 32, 2), 1, 100, m => m.Step, Storage.BFloat16);
failures += CheckVariant("C int8", new ShapeCInt8(1), Plain(8, 32, 2), 1, 100, m => m.Step, Storage.Int8);
failures += CheckVariant("D bf16", new ShapeDBf16(1), Plain(64, 128), 1, 50, m => m.Step, Storage.BFloat16);
failures += CheckVariant("D int8", new ShapeDInt8(1), Plain(64, 128), 1, 50, m => m.Step, Storage.Int8);
failures += CheckVariant("E bf16", new ShapeEBf16(1), Plain(256, 256), 1, 20, m => m.Step, Storage.BFloat16);
failures += CheckVariant("E int8", new ShapeEInt8(1), Plain(256, 256), 1, 20, m => m.Step, Storage.Int8);
failures += CheckVariant("C×8 int8", new ShapeC8Int8(1), Plain(8, 32, 2), 8, 50, m => m.Step, Storage.Int8);
failures += CheckVariant("everything bf16", new EverythingBf16(1), Everything.Config, 1, 70, null, Storage.BFloat16);
failures += CheckVariant("everything int8", new EverythingInt8(1), Everything.Config, 1, 70, null, Storage.Int8);
// issue 19: the GRU cell on the benchmark shapes, and its training, against the GRU reference
failures += CheckGru("GRU A (1→16)", new GruA(1), 1, 16, 1, 0, 200);
failures += CheckGru("GRU B (1→40)", new GruB(1), 1, 40, 1, 0, 200);
failures += CheckGru("GRU C+head", new GruCHead(1), 8, 32, 2, 1, 200);
failures += CheckGru("GRU D (64→128)", new GruD(1), 64, 128, 1, 0, 100);
failures += CheckGru("GRU E (256→256)", new GruE(1), 256, 256, 1, 0, 50);
failures += CheckGru("GRU A×8 (batch 8)", new GruA8(1), 1, 16, 1, 0, 100, batch: 8);
failures += CheckGru("GRU D int8", new GruDInt8(1), 64, 128, 1, 0, 50, int8: true);
failures += CheckGru("GRU C+head int8", new GruCHeadInt8(1), 8, 32, 2, 1, 100, int8: true);
failures += CheckGru("GRU B bf16", new GruBBf16(1), 1, 40, 1, 0, 100, bf16: true);
failures += CheckGru("GRU D bf16", new GruDBf16(1), 64, 128, 1, 0, 50, bf16: true);
failures += TrainGru();
Console.WriteLine(failures == 0 ? $"conformance: all checks passed in {clock.Elapsed.TotalSeconds:F1} s" : $"conformance: {failures} check(s) FAILED");
return failures == 0 ? 0 : 1;

static float[] Inputs(int steps, int inputs)
{
    var xs = new float[steps * inputs];
    for (int t = 0; t < steps; t++)
        for (int j = 0; j < inputs; j++)
            xs[t * inputs + j] = 0.5f * MathF.Sin(0.05f * t + j);   // bench.md's input
    return xs;
}

static int Check<TState>(string name, ILstmModel<TState> model, int i, int h, int l, int o, int steps) where TState : class, ILstmState
{
    int width = o > 0 ? o : h;
    float[] xs = Inputs(steps, i);
    var reference = new ReferenceLstm(i, h, l, true, o, OutputActivation.None, model.Parameters.Values);
    double[] expected = reference.Run(xs);

    var state = model.NewState();
    var y = new float[width];
    double step = 0;
    for (int t = 0; t < steps; t++)
    {
        model.Step(xs.AsSpan(t * i, i), state, y);
        for (int k = 0; k < width; k++) step = Math.Max(step, Math.Abs(y[k] - expected[t * width + k]));
    }
    // a rough speed figure for the deployment table (BenchmarkDotNet is the real measurement): the sequence again, warm
    long t0 = Stopwatch.GetTimestamp();
    for (int r = 0; r < 5; r++)
        for (int t = 0; t < steps; t++)
            model.Step(xs.AsSpan(t * i, i), state, y);
    double stepNs = Stopwatch.GetElapsedTime(t0).TotalNanoseconds / (5 * steps);
    var ys = new float[steps * width];
    model.Forward(xs, model.NewState(), ys);
    double forward = 0;
    for (int k = 0; k < ys.Length; k++) forward = Math.Max(forward, Math.Abs(ys[k] - expected[k]));
    bool ok = step <= 1e-5 && forward <= 1e-5 && !double.IsNaN(step + forward);
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {name,-20} T={steps,3}: max |error| Step {step:E2}, Forward {forward:E2}; {stepNs,9:F0} ns per Step (rough, warm)");
    return ok ? 0 : 1;
}

static int CheckVariant<TState>(string name, ILstmModel<TState> model, VariantConfig cfg, int batch, int steps,
    Func<ILstmModel<TState>, StepFn<TState>>? step, Storage? storage = null) where TState : class, ILstmState
{
    // every parameter (learned initial state and peepholes included) from bench.md's input pattern, so nothing is zero
    var values = new float[model.Parameters.Count];
    for (int k = 0; k < values.Length; k++) values[k] = 0.3f * MathF.Sin(0.7f * k + 1);
    model.Parameters.CopyFrom(values);
    float[] xs = Inputs(batch * steps, cfg.I);
    var p = storage is { } reduced ? ReducedReference.Effective(model.Parameters, reduced) : VariantReference.ToDouble(model.Parameters.Values);
    var offsets = VariantReference.Offsets(model.Parameters);
    int w = cfg.Width;
    var expected = new double[batch][][];
    for (int b = 0; b < batch; b++)
        expected[b] = VariantReference.Forward(cfg, offsets, p, xs.AsSpan(b * steps * cfg.I, steps * cfg.I), steps,
            quantize: storage is { } quantized ? ReducedReference.Activations(quantized) : null).Outputs;
    var ys = new float[batch * steps * w];
    model.Forward(xs, model.NewState(), ys);
    double forward = 0, stepError = 0;
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < steps; t++)
            for (int k = 0; k < w; k++) forward = Math.Max(forward, Math.Abs(ys[(b * steps + t) * w + k] - expected[b][t][k]));
    if (step is not null)
    {
        var fn = step(model);
        var state = model.NewState();
        var x = new float[batch * cfg.I]; var y = new float[batch * w];
        for (int t = 0; t < steps; t++)
        {
            for (int b = 0; b < batch; b++) xs.AsSpan((b * steps + t) * cfg.I, cfg.I).CopyTo(x.AsSpan(b * cfg.I));
            fn(x, state, y);
            for (int b = 0; b < batch; b++)
                for (int k = 0; k < w; k++) stepError = Math.Max(stepError, Math.Abs(y[b * w + k] - expected[b][t][k]));
        }
    }
    bool ok = forward <= 2e-5 && stepError <= 2e-5 && !double.IsNaN(forward + stepError);
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {name,-20} T={steps,3}: max |error| Forward {forward:E2}{(step is null ? " (no streaming Step: bidirectional)" : $", Step {stepError:E2}")}");
    return ok ? 0 : 1;
}

static int CheckGru<TState>(string name, IRecurrentModel<TState> model, int i, int h, int l, int o, int steps, int batch = 1, bool int8 = false, bool bf16 = false) where TState : class, IRecurrentState
{
    int width = o > 0 ? o : h;
    float[] xs = Inputs(batch * steps, i);
    // int8: the reference sees the dequantized rows and the quantized activations, as the model's integer products do
    var p = int8 ? ReducedReference.Effective(model.Parameters, Storage.Int8) : bf16 ? ReducedReference.Effective(model.Parameters, Storage.BFloat16)
        : VariantReference.ToDouble(model.Parameters.Values);
    var expected = new double[batch][];
    for (int b = 0; b < batch; b++)
        expected[b] = ReferenceGru.Forward(i, h, l, o, p, VariantReference.ToDouble(xs.AsSpan(b * steps * i, steps * i).ToArray()), steps,
            quantize: int8 ? ReducedReference.QuantizeActivations : null).Outputs;
    var state = model.NewState();
    var x = new float[batch * i];
    var y = new float[batch * width];
    double step = 0;
    for (int t = 0; t < steps; t++)
    {
        for (int b = 0; b < batch; b++) xs.AsSpan((b * steps + t) * i, i).CopyTo(x.AsSpan(b * i));
        model.Step(x, state, y);
        for (int b = 0; b < batch; b++)
            for (int k = 0; k < width; k++) step = Math.Max(step, Math.Abs(y[b * width + k] - expected[b][t * width + k]));
    }
    var ys = new float[batch * steps * width];
    model.Forward(xs, model.NewState(), ys);
    double forward = 0;
    for (int b = 0; b < batch; b++)
        for (int k = 0; k < steps * width; k++) forward = Math.Max(forward, Math.Abs(ys[b * steps * width + k] - expected[b][k]));
    double bound = int8 || bf16 ? 2e-5 : 1e-5;
    bool ok = step <= bound && forward <= bound && !double.IsNaN(step + forward);
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {name,-20} T={steps,3}: max |error| Step {step:E2}, Forward {forward:E2}");
    return ok ? 0 : 1;
}

static int TrainGru()
{
    // 20 SGD steps of the GRU of shape T's size, against the GRU reference's gradients and the SGD rule in double.
    const int I = 8, H = 32, L = 2, O = 1, T = 50;
    const float Lr = 0.05f;
    var model = new GruT(seed: 3);
    var trainer = model.CreateTrainer(new Sgd(Lr), Loss.MeanSquaredError);
    float[] xs = Inputs(T, I);
    var ys = new double[T];
    var target = new float[T];
    for (int t = 0; t < T; t++) ys[t] = target[t] = xs[Math.Min(T - 1, t + 1) * I];
    var p = VariantReference.ToDouble(model.Parameters.Values);
    var x = VariantReference.ToDouble(xs);
    double worst = 0;
    for (int k = 0; k < 20; k++)
    {
        var (refLoss, grad) = ReferenceGru.Gradients(I, H, L, O, p, x, T, ys);
        for (int j = 0; j < p.Length; j++) p[j] = (float)((float)p[j] - Lr * (float)grad[j]);
        float loss = trainer.Step(xs, target);
        worst = Math.Max(worst, Math.Abs(loss - refLoss) / Math.Max(1e-3, Math.Abs(refLoss)));
    }
    bool ok = worst <= 1e-4;
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} GRU training (8→32×2→1), 20 SGD steps: worst relative loss difference {worst:E2}");
    return ok ? 0 : 1;
}

static int CheckVariantGradients()
{
    var model = new Everything(2);
    const int T = 4;
    var cfg = Everything.Config;
    float[] xs = Inputs(T, cfg.I), targets = Inputs(T, cfg.Width);
    var trainer = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, maxSequenceLength: T, seed: 5);
    trainer.ComputeGradients(xs, targets);
    var layerMasks = new[] { VariantReference.ToDouble(trainer.DropoutMask(0, T)) };
    var recurrent = new double[cfg.Units][];
    for (int u = 0; u < cfg.Units; u++) recurrent[u] = VariantReference.ToDouble(trainer.RecurrentDropoutMask(u / 2, u % 2));
    var p = VariantReference.ToDouble(model.Parameters.Values);
    var fd = VariantReference.FiniteDifferenceGradients(cfg, VariantReference.Offsets(model.Parameters), p, xs, T, targets, layerMasks, recurrent);
    double scale = 0, worst = 0;
    foreach (double v in fd) scale = Math.Max(scale, Math.Abs(v));
    var g = trainer.Gradients.Values;
    for (int k = 0; k < fd.Length; k++)
        worst = Math.Max(worst, Math.Abs(g[k] - fd[k]) / (1e-4 * Math.Abs(fd[k]) + 5e-6 * scale));
    bool ok = worst <= 1;
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} everything: gradients vs finite differences, worst at {worst:P0} of the tolerance");
    return ok ? 0 : 1;
}

static int Train()
{
    // 20 SGD steps of shape T's layout at a smaller size, against the reference's gradients and the SGD rule in double.
    const int I = 8, H = 32, L = 2, O = 1, T = 50;
    const float Lr = 0.05f;
    var model = new ShapeT(seed: 3);
    var trainer = model.CreateTrainer(new Sgd(Lr), Loss.MeanSquaredError);
    float[] xs = Inputs(T, I);
    var ys = new float[T];
    for (int t = 0; t < T; t++) ys[t] = xs[Math.Min(T - 1, t + 1) * I];
    var p = new float[ShapeT.ParameterCount];
    model.Parameters.CopyTo(p);
    double worst = 0;
    for (int k = 0; k < 20; k++)
    {
        var (refLoss, grad) = ReferenceTraining.Run(I, H, L, true, O, OutputActivation.None, Loss.MeanSquaredError, p, xs, T, 1, ys, false);
        for (int j = 0; j < p.Length; j++) p[j] = (float)(p[j] - Lr * grad[j]);
        float loss = trainer.Step(xs, ys);
        worst = Math.Max(worst, Math.Abs(loss - refLoss) / Math.Max(1e-3, Math.Abs(refLoss)));
    }
    bool ok = worst <= 1e-4;
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} training T (8→32×2→1), 20 SGD steps: worst relative loss difference {worst:E2}");
    return ok ? 0 : 1;
}

[LstmModel(InputSize = 1, HiddenSize = 16)] public partial class ShapeA { }
[LstmModel(InputSize = 1, HiddenSize = 40)] public partial class ShapeB { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2)] public partial class ShapeC { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1)] public partial class ShapeCHead { }
[LstmModel(InputSize = 64, HiddenSize = 128)] public partial class ShapeD { }
[LstmModel(InputSize = 256, HiddenSize = 256)] public partial class ShapeE { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1, SequenceLength = 50)] public partial class ShapeT { }
[LstmModel(InputSize = 1, HiddenSize = 16, BatchSize = 8)] public partial class ShapeA8 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, BatchSize = 8)] public partial class ShapeC8 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, Bidirectional = true)] public partial class ShapeCBi { }
[LstmModel(InputSize = 64, HiddenSize = 128, ProjSize = 64)] public partial class ShapeDProj { }
[LstmModel(InputSize = 5, HiddenSize = 12, NumLayers = 2, Bidirectional = true, ProjSize = 5, Peepholes = true, LearnInitialState = true,
    Dropout = 0.2f, RecurrentDropout = 0.1f, OutputSize = 2)]
public partial class Everything
{
    public static readonly VariantConfig Config = new(5, 12, 2, 2, 5, true, true, 2, true);
}

[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, WeightStorage = WeightStorage.BFloat16)] public partial class ShapeCBf16 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, WeightStorage = WeightStorage.Int8)] public partial class ShapeCInt8 { }
[LstmModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.BFloat16)] public partial class ShapeDBf16 { }
[LstmModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.Int8)] public partial class ShapeDInt8 { }
[LstmModel(InputSize = 256, HiddenSize = 256, WeightStorage = WeightStorage.BFloat16)] public partial class ShapeEBf16 { }
[LstmModel(InputSize = 256, HiddenSize = 256, WeightStorage = WeightStorage.Int8)] public partial class ShapeEInt8 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, BatchSize = 8, WeightStorage = WeightStorage.Int8)] public partial class ShapeC8Int8 { }
[LstmModel(InputSize = 5, HiddenSize = 12, NumLayers = 2, Bidirectional = true, ProjSize = 5, Peepholes = true, LearnInitialState = true,
    OutputSize = 2, WeightStorage = WeightStorage.BFloat16)] public partial class EverythingBf16 { }
[LstmModel(InputSize = 5, HiddenSize = 12, NumLayers = 2, Bidirectional = true, ProjSize = 5, Peepholes = true, LearnInitialState = true,
    OutputSize = 2, WeightStorage = WeightStorage.Int8)] public partial class EverythingInt8 { }

public delegate void StepFn<TState>(ReadOnlySpan<float> x, TState state, Span<float> y);
[GruModel(InputSize = 1, HiddenSize = 16)] public partial class GruA { }
[GruModel(InputSize = 1, HiddenSize = 40)] public partial class GruB { }
[GruModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1)] public partial class GruCHead { }
[GruModel(InputSize = 64, HiddenSize = 128)] public partial class GruD { }
[GruModel(InputSize = 256, HiddenSize = 256)] public partial class GruE { }
[GruModel(InputSize = 1, HiddenSize = 16, BatchSize = 8)] public partial class GruA8 { }
[GruModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1, SequenceLength = 50)] public partial class GruT { }
[GruModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.Int8)] public partial class GruDInt8 { }
[GruModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1, WeightStorage = WeightStorage.Int8)] public partial class GruCHeadInt8 { }
[GruModel(InputSize = 1, HiddenSize = 40, WeightStorage = WeightStorage.BFloat16)] public partial class GruBBf16 { }
[GruModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.BFloat16)] public partial class GruDBf16 { }
