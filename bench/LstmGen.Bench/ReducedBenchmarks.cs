using System;
using BenchmarkDotNet.Attributes;

namespace LstmGen.Bench;

// Issue 8: shapes C, D and E with bf16 and int8 gate weights (the float32 models are ShapeC/D/E in Models.cs).
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, WeightStorage = WeightStorage.BFloat16)] public partial class ShapeCBf16 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, WeightStorage = WeightStorage.Int8)] public partial class ShapeCInt8 { }
[LstmModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.BFloat16)] public partial class ShapeDBf16 { }
[LstmModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.Int8)] public partial class ShapeDInt8 { }
[LstmModel(InputSize = 256, HiddenSize = 256, WeightStorage = WeightStorage.BFloat16)] public partial class ShapeEBf16 { }
[LstmModel(InputSize = 256, HiddenSize = 256, WeightStorage = WeightStorage.Int8)] public partial class ShapeEInt8 { }

/// <summary>
/// One shape with float32, bf16 and int8 gate weights (same parameters, seed 42), streaming (one Step per time step) and
/// whole sequence (one Forward over 1,000 steps), next to ONNX Runtime's LSTM (one thread) in the same run: whole
/// sequence, and one Run per step. ns per time step. The reduced models' outputs are checked against float32 in setup.
/// </summary>
[MemoryDiagnoser]
public abstract class ReducedBenchmark
{
    public const int Steps = 1000, OrtStepsPerInvoke = 100;
    protected abstract int InputSize { get; }
    protected abstract int HiddenSize { get; }
    protected abstract int NumLayers { get; }
    /// <summary>The largest |bf16 − float32| and |int8 − float32| output difference accepted over the 1,000 steps.</summary>
    protected virtual float Bound => 0.05f;

    protected float[] Xs = Array.Empty<float>(), Ys = Array.Empty<float>(), Y = Array.Empty<float>();
    private OnnxPeer? _ort;

    /// <summary>Creates the three models; returns the float32 model's parameters (the reduced models get the same).</summary>
    protected abstract float[] Create();
    /// <summary>Storage 0 float32, 1 bf16, 2 int8: reset the state, then every step of Xs, outputs into y (streaming) or Ys (sequence).</summary>
    protected abstract void Stream(int storage);
    protected abstract void Sequence(int storage);

    [GlobalSetup]
    public void Setup()
    {
        float[] parameters = Create();
        Xs = ShapeBenchmark.MakeInputs(Steps, InputSize);
        Ys = new float[Steps * HiddenSize];
        Y = new float[HiddenSize];
        _ort = new OnnxPeer(InputSize, HiddenSize, NumLayers, parameters, Xs, Steps, intraOpThreads: 1);
        Sequence(0);
        float[] reference = (float[])Ys.Clone();
        float ortWorst = Worst(_ort.SequenceOutput(), reference);
        if (!(ortWorst <= 1e-4f)) throw new InvalidOperationException($"{GetType().Name}: ORT disagrees with float32 LstmGen by {ortWorst}.");
        for (int storage = 1; storage <= 2; storage++)
        {
            Sequence(storage);
            float worst = Worst(Ys, reference);
            if (!(worst <= Bound) || worst == 0)
                throw new InvalidOperationException($"{GetType().Name}: storage {storage} differs from float32 by {worst} (accepted: (0, {Bound}]).");
        }
    }

    private static float Worst(float[] a, float[] b)
    {
        float worst = 0;
        for (int k = 0; k < a.Length; k++) { float d = MathF.Abs(a[k] - b[k]); if (!(d <= worst)) worst = d; }
        return worst;
    }

    [GlobalCleanup]
    public void Cleanup() { _ort?.Dispose(); _ort = null; }

    [Benchmark(Baseline = true, OperationsPerInvoke = Steps)] public void Float32Streaming() => Stream(0);
    [Benchmark(OperationsPerInvoke = Steps)] public void BFloat16Streaming() => Stream(1);
    [Benchmark(OperationsPerInvoke = Steps)] public void Int8Streaming() => Stream(2);
    [Benchmark(OperationsPerInvoke = Steps)] public void Float32Sequence() => Sequence(0);
    [Benchmark(OperationsPerInvoke = Steps)] public void BFloat16Sequence() => Sequence(1);
    [Benchmark(OperationsPerInvoke = Steps)] public void Int8Sequence() => Sequence(2);
    [Benchmark(OperationsPerInvoke = Steps)] public void OrtSequence() => _ort!.Sequence();
    [Benchmark(OperationsPerInvoke = OrtStepsPerInvoke)] public void OrtPerStep() => _ort!.Steps(OrtStepsPerInvoke);
}

public class V_ReducedC : ReducedBenchmark
{
    private ShapeC _f = null!; private ShapeCBf16 _b = null!; private ShapeCInt8 _q = null!;
    private ShapeC.State _fs = null!; private ShapeCBf16.State _bs = null!; private ShapeCInt8.State _qs = null!;
    protected override int InputSize => 8; protected override int HiddenSize => 32; protected override int NumLayers => 2;
    protected override float[] Create()
    {
        _f = new ShapeC(ShapeBenchmark.Seed); _b = new ShapeCBf16(); _q = new ShapeCInt8();
        _b.LoadParameters(_f.Parameters.Values); _q.LoadParameters(_f.Parameters.Values);
        _fs = _f.NewState(); _bs = _b.NewState(); _qs = _q.NewState();
        return _f.Parameters.Values.ToArray();
    }
    protected override void Stream(int storage)
    {
        ReadOnlySpan<float> xs = Xs; Span<float> y = Y;
        switch (storage)
        {
            case 0: { var m = _f; var s = _fs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 8, 8), s, y); break; }
            case 1: { var m = _b; var s = _bs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 8, 8), s, y); break; }
            default: { var m = _q; var s = _qs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 8, 8), s, y); break; }
        }
    }
    protected override void Sequence(int storage)
    {
        switch (storage)
        {
            case 0: _fs.Reset(); _f.Forward(Xs, _fs, Ys); break;
            case 1: _bs.Reset(); _b.Forward(Xs, _bs, Ys); break;
            default: _qs.Reset(); _q.Forward(Xs, _qs, Ys); break;
        }
    }
}

public class V_ReducedD : ReducedBenchmark
{
    private ShapeD _f = null!; private ShapeDBf16 _b = null!; private ShapeDInt8 _q = null!;
    private ShapeD.State _fs = null!; private ShapeDBf16.State _bs = null!; private ShapeDInt8.State _qs = null!;
    protected override int InputSize => 64; protected override int HiddenSize => 128; protected override int NumLayers => 1;
    protected override float[] Create()
    {
        _f = new ShapeD(ShapeBenchmark.Seed); _b = new ShapeDBf16(); _q = new ShapeDInt8();
        _b.LoadParameters(_f.Parameters.Values); _q.LoadParameters(_f.Parameters.Values);
        _fs = _f.NewState(); _bs = _b.NewState(); _qs = _q.NewState();
        return _f.Parameters.Values.ToArray();
    }
    protected override void Stream(int storage)
    {
        ReadOnlySpan<float> xs = Xs; Span<float> y = Y;
        switch (storage)
        {
            case 0: { var m = _f; var s = _fs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 64, 64), s, y); break; }
            case 1: { var m = _b; var s = _bs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 64, 64), s, y); break; }
            default: { var m = _q; var s = _qs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 64, 64), s, y); break; }
        }
    }
    protected override void Sequence(int storage)
    {
        switch (storage)
        {
            case 0: _fs.Reset(); _f.Forward(Xs, _fs, Ys); break;
            case 1: _bs.Reset(); _b.Forward(Xs, _bs, Ys); break;
            default: _qs.Reset(); _q.Forward(Xs, _qs, Ys); break;
        }
    }
}

public class V_ReducedE : ReducedBenchmark
{
    private ShapeE _f = null!; private ShapeEBf16 _b = null!; private ShapeEInt8 _q = null!;
    private ShapeE.State _fs = null!; private ShapeEBf16.State _bs = null!; private ShapeEInt8.State _qs = null!;
    protected override int InputSize => 256; protected override int HiddenSize => 256; protected override int NumLayers => 1;
    protected override float[] Create()
    {
        _f = new ShapeE(ShapeBenchmark.Seed); _b = new ShapeEBf16(); _q = new ShapeEInt8();
        _b.LoadParameters(_f.Parameters.Values); _q.LoadParameters(_f.Parameters.Values);
        _fs = _f.NewState(); _bs = _b.NewState(); _qs = _q.NewState();
        return _f.Parameters.Values.ToArray();
    }
    protected override void Stream(int storage)
    {
        ReadOnlySpan<float> xs = Xs; Span<float> y = Y;
        switch (storage)
        {
            case 0: { var m = _f; var s = _fs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 256, 256), s, y); break; }
            case 1: { var m = _b; var s = _bs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 256, 256), s, y); break; }
            default: { var m = _q; var s = _qs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 256, 256), s, y); break; }
        }
    }
    protected override void Sequence(int storage)
    {
        switch (storage)
        {
            case 0: _fs.Reset(); _f.Forward(Xs, _fs, Ys); break;
            case 1: _bs.Reset(); _b.Forward(Xs, _bs, Ys); break;
            default: _qs.Reset(); _q.Forward(Xs, _qs, Ys); break;
        }
    }
}
