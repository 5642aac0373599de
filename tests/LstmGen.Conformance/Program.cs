// Runs generated models of the benchmark shapes (bench.md A–E, and C with a head) through Step and Forward, and 20
// training steps, and compares them with the double-precision reference of the test suite. Prints one line per check
// and exits 1 if any is outside its tolerance (outputs 1e-5 absolute; losses 1e-4 relative over 20 SGD steps).
using System;
using System.Diagnostics;
using LstmGen;
using LstmGen.Tests.Reference;
using LstmGen.Training;

var clock = Stopwatch.StartNew();
Console.WriteLine($"LstmGen conformance: {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, kernel path {ShapeA.KernelPath}");
int failures = 0;
failures += Check("A (1→16)", new ShapeA(1), 1, 16, 1, 0, 200);
failures += Check("B (1→40)", new ShapeB(1), 1, 40, 1, 0, 200);
failures += Check("C (8→32×2)", new ShapeC(1), 8, 32, 2, 0, 200);
failures += Check("C+head (8→32×2→1)", new ShapeCHead(1), 8, 32, 2, 1, 200);
failures += Check("D (64→128)", new ShapeD(1), 64, 128, 1, 0, 100);
failures += Check("E (256→256)", new ShapeE(1), 256, 256, 1, 0, 50);
failures += Train();
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
