using System;
using BenchmarkDotNet.Attributes;

namespace LstmGen.Bench;

/// <summary>
/// One shape's benchmarks. Every row reports nanoseconds per time step (OperationsPerInvoke = steps per invoke).
/// The LstmGen rows call the concrete generated class (no interface dispatch); they live in the per-shape subclasses
/// below because each shape is its own generated type.
/// </summary>
[MemoryDiagnoser]
public abstract class ShapeBenchmark
{
    /// <summary>Sequence length of every row except <see cref="TorchPerStep"/>.</summary>
    public const int Steps = 1000;

    /// <summary>libtorch's per-step call costs ~10–50 µs, so fewer steps per invoke (state still carried across invokes).</summary>
    public const int TorchStepsPerInvoke = 100;

    /// <summary>ORT's per-step Run costs ~3.5–30 µs, so fewer steps per invoke (state still carried across invokes).</summary>
    public const int OrtStepsPerInvoke = 100;

    /// <summary>LstmGen, torch, ORT and naive outputs must agree within this (max abs difference over all T·H outputs).</summary>
    public const float Tolerance = 1e-4f;

    public const int Seed = 42;

    public abstract int InputSize { get; }
    public abstract int HiddenSize { get; }
    public abstract int NumLayers { get; }

    protected float[] Xs = Array.Empty<float>();   // T·I, x_t[j] = 0.5·sin(0.05·t + j)
    protected float[] Ys = Array.Empty<float>();   // T·H, every step's output (whole-sequence row)
    protected float[] Y = Array.Empty<float>();    // H, one step's output (streaming rows)
    private NaiveLstm _naive = null!;
    private TorchPeer? _torch;
    private OnnxPeer? _ort, _ortDefault;   // IntraOpNumThreads = 1; ORT's default

    /// <summary>Creates the generated model (seed 42) and its state; returns its parameters in PyTorch order.</summary>
    protected abstract float[] CreateModel();
    protected abstract void ResetState();
    protected abstract void StepModel(ReadOnlySpan<float> x, Span<float> y);
    protected abstract void ForwardModel(ReadOnlySpan<float> xs, Span<float> ys);
    /// <summary>Steps the model through every step of <paramref name="xs"/>, each output into <paramref name="y"/>
    /// (the loop is in the subclass so each Step is a direct call on the concrete generated type).</summary>
    protected abstract void StreamModel(ReadOnlySpan<float> xs, Span<float> y);

    public static float[] MakeInputs(int steps, int inputSize)
    {
        var xs = new float[steps * inputSize];
        for (int t = 0; t < steps; t++)
            for (int j = 0; j < inputSize; j++)
                xs[t * inputSize + j] = (float)(0.5 * Math.Sin(0.05 * t + j));
        return xs;
    }

    [GlobalSetup]
    public void Setup()
    {
        int i = InputSize, h = HiddenSize;
        float[] parameters = CreateModel();
        Xs = MakeInputs(Steps, i);
        Ys = new float[Steps * h];
        Y = new float[h];
        _naive = new NaiveLstm(i, h, NumLayers, parameters);
        _torch = new TorchPeer(i, h, NumLayers, parameters, Xs, Steps);
        _ort = new OnnxPeer(i, h, NumLayers, parameters, Xs, Steps, intraOpThreads: 1);
        _ortDefault = new OnnxPeer(i, h, NumLayers, parameters, Xs, Steps, intraOpThreads: 0);
        Validate();
    }

    /// <summary>A benchmark of a wrong kernel is worthless: every way (and every thread count) must produce the same sequence.</summary>
    private void Validate()
    {
        int i = InputSize, h = HiddenSize;
        ResetState();
        var forward = new float[Steps * h];
        ForwardModel(Xs, forward);

        ResetState();
        var streaming = new float[Steps * h];
        for (int t = 0; t < Steps; t++) StepModel(Xs.AsSpan(t * i, i), streaming.AsSpan(t * h, h));

        _naive.Reset();
        var naive = new float[Steps * h];
        for (int t = 0; t < Steps; t++) _naive.Step(Xs.AsSpan(t * i, i), naive.AsSpan(t * h, h));

        Check("LstmGen Step (streaming)", streaming, forward);
        Check("torch nn.LSTM (whole sequence)", _torch!.SequenceOutput(), forward);
        Check("torch nn.LSTMCell (per step)", _torch.PerStepOutput(), forward);
        Check("torch nn.LSTM (whole sequence, default threads)", _torch.SequenceOutput(TorchPeer.DefaultThreads), forward);
        Check("torch nn.LSTMCell (per step, default threads)", _torch.PerStepOutput(TorchPeer.DefaultThreads), forward);
        Check("ORT LSTM (whole sequence)", _ort!.SequenceOutput(), forward);
        Check("ORT LSTM (one step per Run)", _ort.PerStepOutput(), forward);
        Check("ORT LSTM (whole sequence, default threads)", _ortDefault!.SequenceOutput(), forward);
        Check("ORT LSTM (one step per Run, default threads)", _ortDefault.PerStepOutput(), forward);
        Check("naive C#", naive, forward);
        ResetState();
        _naive.Reset();
    }

    /// <summary>The shape class's name (BenchmarkDotNet's in-process toolchain runs an emitted subclass of it).</summary>
    private string ShapeName
    {
        get
        {
            var type = GetType();
            while (type.BaseType is { } b && b != typeof(ShapeBenchmark)) type = b;
            return type.Name;
        }
    }

    private void Check(string what, float[] actual, float[] expected)
    {
        if (actual.Length != expected.Length)
            throw new InvalidOperationException($"{ShapeName}: {what} produced {actual.Length} values, LstmGen Forward {expected.Length}.");
        float worst = 0; int at = 0;
        for (int k = 0; k < actual.Length; k++)
        {
            float d = MathF.Abs(actual[k] - expected[k]);
            if (!(d <= worst)) { worst = d; at = k; }   // NaN counts as worst
        }
        if (!(worst <= Tolerance))
            throw new InvalidOperationException(
                $"{ShapeName}: {what} disagrees with LstmGen Forward by {worst:G3} > {Tolerance:G3} at step {at / HiddenSize}, unit {at % HiddenSize} " +
                $"({actual[at]:G9} vs {expected[at]:G9}). Refusing to benchmark a wrong kernel.");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _torch?.Dispose();
        _torch = null;
        _ort?.Dispose();
        _ort = null;
        _ortDefault?.Dispose();
        _ortDefault = null;
    }

    /// <summary>LstmGen, one Step call per time step, state carried, 1,000 steps from zero state.</summary>
    /// <summary>The category of the LstmGen rows (the AVX2 pass runs only these: Program.RunAvx2Pass).</summary>
    public const string LstmGenCategory = "LstmGen";

    [BenchmarkCategory(LstmGenCategory)]
    [Benchmark(Baseline = true, OperationsPerInvoke = Steps, Description = "LstmGen streaming")]
    public void LstmGenStreaming()
    {
        ResetState();
        StreamModel(Xs, Y);
    }

    /// <summary>LstmGen, one Forward call over 1,000 steps, every step's output written.</summary>
    [BenchmarkCategory(LstmGenCategory)]
    [Benchmark(OperationsPerInvoke = Steps, Description = "LstmGen whole sequence")]
    public void LstmGenSequence()
    {
        ResetState();
        ForwardModel(Xs, Ys);
    }

    /// <summary>libtorch nn.LSTM on the (1000, 1, I) sequence, one call, one thread.</summary>
    [Benchmark(OperationsPerInvoke = Steps, Description = "torch whole sequence")]
    public void TorchSequence() => _torch!.Sequence(1);

    /// <summary>libtorch nn.LSTM on the (1000, 1, I) sequence, one call, libtorch's default thread count.</summary>
    [Benchmark(OperationsPerInvoke = Steps, Description = "torch whole sequence, default threads")]
    public void TorchSequenceDefaultThreads() => _torch!.Sequence(TorchPeer.DefaultThreads);

    /// <summary>libtorch nn.LSTMCell stack, one call per layer per step, (h, c) carried; 100 steps per invoke; one thread.</summary>
    [Benchmark(OperationsPerInvoke = TorchStepsPerInvoke, Description = "torch per step")]
    public void TorchPerStep() => _torch!.Steps(TorchStepsPerInvoke, 1);

    /// <summary>As <see cref="TorchPerStep"/>, libtorch's default thread count.</summary>
    [Benchmark(OperationsPerInvoke = TorchStepsPerInvoke, Description = "torch per step, default threads")]
    public void TorchPerStepDefaultThreads() => _torch!.Steps(TorchStepsPerInvoke, TorchPeer.DefaultThreads);

    /// <summary>ONNX Runtime, one Run over the (1000, 1, I) sequence, IntraOpNumThreads = 1.</summary>
    [Benchmark(OperationsPerInvoke = Steps, Description = "ORT whole sequence")]
    public void OrtSequence() => _ort!.Sequence();

    /// <summary>ONNX Runtime, one Run over the sequence, ORT's default intra-op threads.</summary>
    [Benchmark(OperationsPerInvoke = Steps, Description = "ORT whole sequence, default threads")]
    public void OrtSequenceDefaultThreads() => _ortDefault!.Sequence();

    /// <summary>ONNX Runtime, one Run per step with initial_h/initial_c in and Y_h/Y_c out; 100 steps per invoke; IntraOpNumThreads = 1.</summary>
    [Benchmark(OperationsPerInvoke = OrtStepsPerInvoke, Description = "ORT per step")]
    public void OrtPerStep() => _ort!.Steps(OrtStepsPerInvoke);

    /// <summary>As <see cref="OrtPerStep"/>, ORT's default intra-op threads.</summary>
    [Benchmark(OperationsPerInvoke = OrtStepsPerInvoke, Description = "ORT per step, default threads")]
    public void OrtPerStepDefaultThreads() => _ortDefault!.Steps(OrtStepsPerInvoke);

    /// <summary>The naive scalar C# LSTM stepped 1,000 times from zero state.</summary>
    [Benchmark(OperationsPerInvoke = Steps, Description = "naive C# streaming")]
    public void NaiveStreaming()
    {
        _naive.Reset();
        int i = InputSize;
        ReadOnlySpan<float> xs = Xs;
        Span<float> y = Y;
        for (int t = 0; t < Steps; t++) _naive.Step(xs.Slice(t * i, i), y);
    }
}

// One subclass per shape: each calls its own generated class directly, so the JIT sees the concrete type.

public class A_1x16x1 : ShapeBenchmark
{
    private ShapeA _m = null!; private ShapeA.State _s = null!;
    public override int InputSize => 1; public override int HiddenSize => 16; public override int NumLayers => 1;
    protected override float[] CreateModel() { _m = new ShapeA(Seed); _s = _m.NewState(); return _m.Parameters.Values.ToArray(); }
    protected override void ResetState() => _s.Reset();
    protected override void StepModel(ReadOnlySpan<float> x, Span<float> y) => _m.Step(x, _s, y);
    protected override void ForwardModel(ReadOnlySpan<float> xs, Span<float> ys) => _m.Forward(xs, _s, ys);
    protected override void StreamModel(ReadOnlySpan<float> xs, Span<float> y)
    {
        ShapeA m = _m; ShapeA.State s = _s;
        for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 1, 1), s, y);
    }
}

public class B_1x40x1 : ShapeBenchmark
{
    private ShapeB _m = null!; private ShapeB.State _s = null!;
    public override int InputSize => 1; public override int HiddenSize => 40; public override int NumLayers => 1;
    protected override float[] CreateModel() { _m = new ShapeB(Seed); _s = _m.NewState(); return _m.Parameters.Values.ToArray(); }
    protected override void ResetState() => _s.Reset();
    protected override void StepModel(ReadOnlySpan<float> x, Span<float> y) => _m.Step(x, _s, y);
    protected override void ForwardModel(ReadOnlySpan<float> xs, Span<float> ys) => _m.Forward(xs, _s, ys);
    protected override void StreamModel(ReadOnlySpan<float> xs, Span<float> y)
    {
        ShapeB m = _m; ShapeB.State s = _s;
        for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 1, 1), s, y);
    }
}

public class C_8x32x2 : ShapeBenchmark
{
    private ShapeC _m = null!; private ShapeC.State _s = null!;
    public override int InputSize => 8; public override int HiddenSize => 32; public override int NumLayers => 2;
    protected override float[] CreateModel() { _m = new ShapeC(Seed); _s = _m.NewState(); return _m.Parameters.Values.ToArray(); }
    protected override void ResetState() => _s.Reset();
    protected override void StepModel(ReadOnlySpan<float> x, Span<float> y) => _m.Step(x, _s, y);
    protected override void ForwardModel(ReadOnlySpan<float> xs, Span<float> ys) => _m.Forward(xs, _s, ys);
    protected override void StreamModel(ReadOnlySpan<float> xs, Span<float> y)
    {
        ShapeC m = _m; ShapeC.State s = _s;
        for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 8, 8), s, y);
    }
}

public class D_64x128x1 : ShapeBenchmark
{
    private ShapeD _m = null!; private ShapeD.State _s = null!;
    public override int InputSize => 64; public override int HiddenSize => 128; public override int NumLayers => 1;
    protected override float[] CreateModel() { _m = new ShapeD(Seed); _s = _m.NewState(); return _m.Parameters.Values.ToArray(); }
    protected override void ResetState() => _s.Reset();
    protected override void StepModel(ReadOnlySpan<float> x, Span<float> y) => _m.Step(x, _s, y);
    protected override void ForwardModel(ReadOnlySpan<float> xs, Span<float> ys) => _m.Forward(xs, _s, ys);
    protected override void StreamModel(ReadOnlySpan<float> xs, Span<float> y)
    {
        ShapeD m = _m; ShapeD.State s = _s;
        for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 64, 64), s, y);
    }
}

public class E_256x256x1 : ShapeBenchmark
{
    private ShapeE _m = null!; private ShapeE.State _s = null!;
    public override int InputSize => 256; public override int HiddenSize => 256; public override int NumLayers => 1;
    protected override float[] CreateModel() { _m = new ShapeE(Seed); _s = _m.NewState(); return _m.Parameters.Values.ToArray(); }
    protected override void ResetState() => _s.Reset();
    protected override void StepModel(ReadOnlySpan<float> x, Span<float> y) => _m.Step(x, _s, y);
    protected override void ForwardModel(ReadOnlySpan<float> xs, Span<float> ys) => _m.Forward(xs, _s, ys);
    protected override void StreamModel(ReadOnlySpan<float> xs, Span<float> y)
    {
        ShapeE m = _m; ShapeE.State s = _s;
        for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 256, 256), s, y);
    }
}
