using System;
using System.Collections.Generic;
using System.Linq;
using BenchmarkDotNet.Attributes;
using LstmGen.Training;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace LstmGen.Bench;

// Issue 19: the GRU on the benchmark shapes (bench.md A–E and T), beside the LSTM of the same shape (Models.cs) and the
// libtorch and ONNX Runtime GRUs, in the same run.
[GruModel(InputSize = 1, HiddenSize = 16)] public partial class GruShapeA { }
[GruModel(InputSize = 1, HiddenSize = 40)] public partial class GruShapeB { }
[GruModel(InputSize = 8, HiddenSize = 32, NumLayers = 2)] public partial class GruShapeC { }
[GruModel(InputSize = 64, HiddenSize = 128)] public partial class GruShapeD { }
[GruModel(InputSize = 256, HiddenSize = 256)] public partial class GruShapeE { }
[GruModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1, SequenceLength = 50)] public partial class GruShapeT { }

/// <summary>
/// One shape as a GRU: LstmGen streaming (one Step per time step) and whole sequence (one Forward over 1,000 steps), the
/// LSTM of the same shape streaming, and libtorch's <c>nn.GRU</c> (whole sequence; a <c>GRUCell</c> stack per step) and
/// ONNX Runtime's GRU operator (whole sequence; one Run per step), each on one thread. ns per time step. Setup checks the
/// generated GRU against both peers (1e-4) before anything is timed.
/// </summary>
[MemoryDiagnoser]
public abstract class GruBenchmark
{
    public const int Steps = 1000, PeerStepsPerInvoke = 100;
    protected abstract int InputSize { get; }
    protected abstract int HiddenSize { get; }
    protected abstract int NumLayers { get; }
    protected float[] Xs = Array.Empty<float>(), Ys = Array.Empty<float>(), Y = Array.Empty<float>();
    private GruTorchPeer? _torch;
    private GruOnnxPeer? _ort;

    /// <summary>Creates the GRU and the LSTM (seed 42); returns the GRU's parameters.</summary>
    protected abstract float[] Create();
    protected abstract void StreamGru();
    protected abstract void SequenceGru();
    protected abstract void StreamLstm();

    [GlobalSetup]
    public void Setup()
    {
        float[] parameters = Create();
        Xs = ShapeBenchmark.MakeInputs(Steps, InputSize);
        Ys = new float[Steps * HiddenSize];
        Y = new float[HiddenSize];
        _torch = new GruTorchPeer(InputSize, HiddenSize, NumLayers, parameters, Xs, Steps);
        _ort = new GruOnnxPeer(InputSize, HiddenSize, NumLayers, parameters, Xs, Steps);
        SequenceGru();
        float torchWorst = Worst(_torch.SequenceOutput(), Ys), ortWorst = Worst(_ort.SequenceOutput(), Ys);
        if (!(torchWorst <= 1e-4f) || !(ortWorst <= 1e-4f))
            throw new InvalidOperationException($"{GetType().Name}: the generated GRU differs from nn.GRU by {torchWorst}, from ORT's GRU by {ortWorst}.");
    }

    private static float Worst(float[] a, float[] b)
    {
        float worst = 0;
        for (int k = 0; k < a.Length; k++) worst = MathF.Max(worst, MathF.Abs(a[k] - b[k]));
        return a.Length == b.Length ? worst : float.NaN;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _torch?.Dispose();
        _ort?.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Steps)] public void GruStreaming() => StreamGru();
    [Benchmark(OperationsPerInvoke = Steps)] public void GruSequence() => SequenceGru();
    [Benchmark(OperationsPerInvoke = Steps)] public void LstmStreaming() => StreamLstm();
    [Benchmark(OperationsPerInvoke = Steps)] public void TorchGruSequence() => _torch!.Sequence();
    [Benchmark(OperationsPerInvoke = PeerStepsPerInvoke)] public void TorchGruPerStep() => _torch!.Steps(PeerStepsPerInvoke);
    [Benchmark(OperationsPerInvoke = Steps)] public void OrtGruSequence() => _ort!.Sequence();
    [Benchmark(OperationsPerInvoke = PeerStepsPerInvoke)] public void OrtGruPerStep() => _ort!.Steps(PeerStepsPerInvoke);
}

public class V_Gru_A_1x16 : GruBenchmark
{
    private GruShapeA _g = null!; private GruShapeA.State _gs = null!; private ShapeA _l = null!; private ShapeA.State _ls = null!;
    protected override int InputSize => 1; protected override int HiddenSize => 16; protected override int NumLayers => 1;
    protected override float[] Create() { _g = new GruShapeA(ShapeBenchmark.Seed); _gs = _g.NewState(); _l = new ShapeA(ShapeBenchmark.Seed); _ls = _l.NewState(); return _g.Parameters.Values.ToArray(); }
    protected override void StreamGru() { ReadOnlySpan<float> xs = Xs; Span<float> y = Y; var m = _g; var s = _gs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t, 1), s, y); }
    protected override void SequenceGru() { _gs.Reset(); _g.Forward(Xs, _gs, Ys); }
    protected override void StreamLstm() { ReadOnlySpan<float> xs = Xs; Span<float> y = Y; var m = _l; var s = _ls; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t, 1), s, y); }
}

public class V_Gru_B_1x40 : GruBenchmark
{
    private GruShapeB _g = null!; private GruShapeB.State _gs = null!; private ShapeB _l = null!; private ShapeB.State _ls = null!;
    protected override int InputSize => 1; protected override int HiddenSize => 40; protected override int NumLayers => 1;
    protected override float[] Create() { _g = new GruShapeB(ShapeBenchmark.Seed); _gs = _g.NewState(); _l = new ShapeB(ShapeBenchmark.Seed); _ls = _l.NewState(); return _g.Parameters.Values.ToArray(); }
    protected override void StreamGru() { ReadOnlySpan<float> xs = Xs; Span<float> y = Y; var m = _g; var s = _gs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t, 1), s, y); }
    protected override void SequenceGru() { _gs.Reset(); _g.Forward(Xs, _gs, Ys); }
    protected override void StreamLstm() { ReadOnlySpan<float> xs = Xs; Span<float> y = Y; var m = _l; var s = _ls; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t, 1), s, y); }
}

public class V_Gru_C_8x32x2 : GruBenchmark
{
    private GruShapeC _g = null!; private GruShapeC.State _gs = null!; private ShapeC _l = null!; private ShapeC.State _ls = null!;
    protected override int InputSize => 8; protected override int HiddenSize => 32; protected override int NumLayers => 2;
    protected override float[] Create() { _g = new GruShapeC(ShapeBenchmark.Seed); _gs = _g.NewState(); _l = new ShapeC(ShapeBenchmark.Seed); _ls = _l.NewState(); return _g.Parameters.Values.ToArray(); }
    protected override void StreamGru() { ReadOnlySpan<float> xs = Xs; Span<float> y = Y; var m = _g; var s = _gs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 8, 8), s, y); }
    protected override void SequenceGru() { _gs.Reset(); _g.Forward(Xs, _gs, Ys); }
    protected override void StreamLstm() { ReadOnlySpan<float> xs = Xs; Span<float> y = Y; var m = _l; var s = _ls; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 8, 8), s, y); }
}

public class V_Gru_D_64x128 : GruBenchmark
{
    private GruShapeD _g = null!; private GruShapeD.State _gs = null!; private ShapeD _l = null!; private ShapeD.State _ls = null!;
    protected override int InputSize => 64; protected override int HiddenSize => 128; protected override int NumLayers => 1;
    protected override float[] Create() { _g = new GruShapeD(ShapeBenchmark.Seed); _gs = _g.NewState(); _l = new ShapeD(ShapeBenchmark.Seed); _ls = _l.NewState(); return _g.Parameters.Values.ToArray(); }
    protected override void StreamGru() { ReadOnlySpan<float> xs = Xs; Span<float> y = Y; var m = _g; var s = _gs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 64, 64), s, y); }
    protected override void SequenceGru() { _gs.Reset(); _g.Forward(Xs, _gs, Ys); }
    protected override void StreamLstm() { ReadOnlySpan<float> xs = Xs; Span<float> y = Y; var m = _l; var s = _ls; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 64, 64), s, y); }
}

public class V_Gru_E_256x256 : GruBenchmark
{
    private GruShapeE _g = null!; private GruShapeE.State _gs = null!; private ShapeE _l = null!; private ShapeE.State _ls = null!;
    protected override int InputSize => 256; protected override int HiddenSize => 256; protected override int NumLayers => 1;
    protected override float[] Create() { _g = new GruShapeE(ShapeBenchmark.Seed); _gs = _g.NewState(); _l = new ShapeE(ShapeBenchmark.Seed); _ls = _l.NewState(); return _g.Parameters.Values.ToArray(); }
    protected override void StreamGru() { ReadOnlySpan<float> xs = Xs; Span<float> y = Y; var m = _g; var s = _gs; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 256, 256), s, y); }
    protected override void SequenceGru() { _gs.Reset(); _g.Forward(Xs, _gs, Ys); }
    protected override void StreamLstm() { ReadOnlySpan<float> xs = Xs; Span<float> y = Y; var m = _l; var s = _ls; s.Reset(); for (int t = 0; t < Steps; t++) m.Step(xs.Slice(t * 256, 256), s, y); }
}

/// <summary>
/// Shape T as a GRU: one SGD training step (lr 0.01) of GRU(8→32, 2 layers) + Linear(32→1) on 50-step sequences, MSE
/// over every step, at batch 1 and 32, beside the LSTM of shape T and libtorch's nn.GRU + autograd + torch.optim.SGD on
/// the same data (one thread). µs per training step. Setup checks the first loss against libtorch's (1e-5 relative).
/// </summary>
[MemoryDiagnoser]
public class V_GruTrain_8x32x2x1
{
    private const int Steps = T_Train_8x32x2x1.Steps;
    private readonly Dictionary<int, (float[] Xs, float[] Ys)> _data = new();
    private GruShapeT _gru = null!; private ShapeT _lstm = null!;
    private GruShapeT.Trainer _gruTrainer = null!; private ShapeT.Trainer _lstmTrainer = null!;
    private readonly Dictionary<int, GruTorchTrainingPeer> _torch = new();

    [GlobalSetup]
    public void Setup()
    {
        _gru = new GruShapeT(T_Train_8x32x2x1.Seed);
        _lstm = new ShapeT(T_Train_8x32x2x1.Seed);
        foreach (int batch in new[] { 1, 32 })
        {
            var (xs, ys) = T_Train_8x32x2x1.MakeData(batch);
            _data[batch] = (xs, ys);
            _torch[batch] = new GruTorchTrainingPeer(_gru.Parameters.Tensors, xs, ys, Steps, batch, T_Train_8x32x2x1.LearningRate);
            var check = _gru.CreateTrainer(new Sgd(T_Train_8x32x2x1.LearningRate), Loss.MeanSquaredError, maxSequenceLength: Steps);
            float ours = check.ComputeGradients(xs, ys, batch), theirs = _torch[batch].Loss();
            if (!(MathF.Abs(ours - theirs) <= 1e-5f * MathF.Abs(theirs)))
                throw new InvalidOperationException($"GRU T batch {batch}: loss {ours} against libtorch's {theirs}. Refusing to benchmark a wrong training step.");
        }
        _gruTrainer = _gru.CreateTrainer(new Sgd(T_Train_8x32x2x1.LearningRate), Loss.MeanSquaredError, maxSequenceLength: Steps);
        _lstmTrainer = _lstm.CreateTrainer(new Sgd(T_Train_8x32x2x1.LearningRate), Loss.MeanSquaredError, maxSequenceLength: Steps);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var peer in _torch.Values) peer.Dispose();
    }

    [Benchmark(Baseline = true)] public float GruTrainBatch1() => _gruTrainer.Step(_data[1].Xs, _data[1].Ys, 1);
    [Benchmark] public float LstmTrainBatch1() => _lstmTrainer.Step(_data[1].Xs, _data[1].Ys, 1);
    [Benchmark] public void TorchGruTrainBatch1() => _torch[1].Step();
    [Benchmark] public float GruTrainBatch32() => _gruTrainer.Step(_data[32].Xs, _data[32].Ys, 32);
    [Benchmark] public float LstmTrainBatch32() => _lstmTrainer.Step(_data[32].Xs, _data[32].Ys, 32);
    [Benchmark] public void TorchGruTrainBatch32() => _torch[32].Step();
}

/// <summary>
/// libtorch's GRU as a user drives it: <c>nn.GRU</c> over the whole (T, 1, I) sequence, and a stack of <c>nn.GRUCell</c>
/// stepped once per time step, one intra-op thread, <c>inference_mode</c>, inputs made into tensors once.
/// </summary>
public sealed class GruTorchPeer : IDisposable
{
    private readonly int _hiddenSize, _numLayers, _steps;
    private readonly TorchSharp.Modules.GRU _gru;
    private readonly TorchSharp.Modules.GRUCell[] _cells;
    private readonly Tensor _xSeq, _h0;
    private readonly Tensor[] _xStep, _h;
    private int _cursor;

    public GruTorchPeer(int inputSize, int hiddenSize, int numLayers, ReadOnlySpan<float> parameters, ReadOnlySpan<float> xs, int steps)
    {
        TorchPeer.EnsureAvailable();
        torch.set_num_threads(1);
        _hiddenSize = hiddenSize; _numLayers = numLayers; _steps = steps;
        int h = hiddenSize, g = 3 * hiddenSize;
        _gru = torch.nn.GRU(inputSize, h, numLayers, bias: true, batchFirst: false);
        _cells = new TorchSharp.Modules.GRUCell[numLayers];
        for (int l = 0; l < numLayers; l++) _cells[l] = torch.nn.GRUCell(l == 0 ? inputSize : h, h, bias: true);
        var gruParams = _gru.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using (torch.no_grad())
        {
            int offset = 0;
            for (int l = 0; l < numLayers; l++)
            {
                int inputs = l == 0 ? inputSize : h;
                var cellParams = _cells[l].named_parameters().ToDictionary(p => p.name, p => p.parameter);
                foreach (var (name, shape) in new (string, long[])[] { ("weight_ih", new long[] { g, inputs }), ("weight_hh", new long[] { g, h }), ("bias_ih", new long[] { g }), ("bias_hh", new long[] { g }) })
                {
                    int n = (int)shape.Aggregate(1L, (a, b) => a * b);
                    using var src = torch.tensor(parameters.Slice(offset, n).ToArray(), shape, ScalarType.Float32);
                    gruParams[$"{name}_l{l}"].copy_(src);
                    cellParams[name].copy_(src);
                    offset += n;
                }
            }
            if (offset != parameters.Length) throw new ArgumentException($"Expected {offset} parameters, got {parameters.Length}.");
        }
        foreach (var p in _gru.parameters()) p.requires_grad_(false);
        foreach (var cell in _cells) foreach (var p in cell.parameters()) p.requires_grad_(false);
        float[] x = xs.ToArray();
        _xSeq = torch.tensor(x, new long[] { steps, 1, inputSize }, ScalarType.Float32);
        _h0 = torch.zeros(new long[] { numLayers, 1, h }, ScalarType.Float32);
        _xStep = new Tensor[steps];
        for (int t = 0; t < steps; t++) _xStep[t] = torch.tensor(x.AsSpan(t * inputSize, inputSize).ToArray(), new long[] { 1, inputSize }, ScalarType.Float32);
        _h = new Tensor[numLayers];
        Reset();
    }

    private void Reset()
    {
        for (int l = 0; l < _numLayers; l++) { _h[l]?.Dispose(); _h[l] = torch.zeros(new long[] { 1, _hiddenSize }, ScalarType.Float32); }
        _cursor = 0;
    }

    public void Sequence()
    {
        if (torch.get_num_threads() != 1) torch.set_num_threads(1);
        using var mode = torch.inference_mode();
        var (y, hn) = _gru.call(_xSeq, _h0);
        y.Dispose(); hn.Dispose();
    }

    public float[] SequenceOutput()
    {
        using var mode = torch.inference_mode();
        var (y, hn) = _gru.call(_xSeq, _h0);
        using (y) using (hn) return y.data<float>().ToArray();
    }

    public void Steps(int count)
    {
        if (torch.get_num_threads() != 1) torch.set_num_threads(1);
        using var mode = torch.inference_mode();
        for (int k = 0; k < count; k++)
        {
            if (_cursor == _steps) Reset();
            Tensor x = _xStep[_cursor++];
            for (int l = 0; l < _numLayers; l++)
            {
                var h = _cells[l].call(x, _h[l]);
                _h[l].Dispose();
                _h[l] = h;
                x = h;
            }
        }
    }

    public void Dispose()
    {
        _gru.Dispose();
        foreach (var c in _cells) c.Dispose();
        _xSeq.Dispose(); _h0.Dispose();
        foreach (var t in _xStep) t.Dispose();
        foreach (var t in _h) t?.Dispose();
    }
}

/// <summary>libtorch's training step for the GRU of shape T: nn.GRU(batch_first) + nn.Linear, MSE, autograd, torch.optim.SGD, one thread.</summary>
public sealed class GruTorchTrainingPeer : IDisposable
{
    private readonly TorchSharp.Modules.GRU _gru;
    private readonly TorchSharp.Modules.Linear _fc;
    private readonly torch.optim.Optimizer _sgd;
    private readonly Tensor _x, _t;

    public GruTorchTrainingPeer(IReadOnlyList<ParameterTensor> tensors, float[] xs, float[] ys, int steps, int batch, float learningRate)
    {
        TorchPeer.EnsureAvailable();
        torch.set_num_threads(1);
        _gru = torch.nn.GRU(T_Train_8x32x2x1.InputSize, T_Train_8x32x2x1.HiddenSize, T_Train_8x32x2x1.NumLayers, bias: true, batchFirst: true);
        _fc = torch.nn.Linear(T_Train_8x32x2x1.HiddenSize, T_Train_8x32x2x1.OutputSize, hasBias: true);
        var byName = _gru.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in _fc.named_parameters()) byName["fc." + name] = p;
        using (torch.no_grad())
            foreach (var t in tensors)
                byName[t.Name].copy_(torch.tensor(t.Values.ToArray(), byName[t.Name].shape, ScalarType.Float32));
        _sgd = torch.optim.SGD(_gru.parameters().Concat(_fc.parameters()), learningRate);
        _x = torch.tensor(xs, new long[] { batch, steps, T_Train_8x32x2x1.InputSize }, ScalarType.Float32);
        _t = torch.tensor(ys, new long[] { batch, steps, T_Train_8x32x2x1.OutputSize }, ScalarType.Float32);
    }

    private Tensor Forward()
    {
        var (y, hn) = _gru.call(_x);
        hn.Dispose();
        return torch.nn.functional.mse_loss(_fc.call(y), _t);
    }

    public float Loss()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        return Forward().item<float>();
    }

    public void Step()
    {
        if (torch.get_num_threads() != 1) torch.set_num_threads(1);
        using var scope = torch.NewDisposeScope();
        _sgd.zero_grad();
        Forward().backward();
        _sgd.step();
    }

    public void Dispose()
    {
        _sgd.Dispose(); _gru.Dispose(); _fc.Dispose(); _x.Dispose(); _t.Dispose();
    }
}

/// <summary>
/// ONNX Runtime's GRU operator (opset 14, linear_before_reset = 1, gates reordered from PyTorch's r, z, n to ONNX's z, r, h)
/// with one thread: the whole sequence in one Run (one GRU node per layer), and one Run per step with h carried.
/// </summary>
public sealed class GruOnnxPeer : IDisposable
{
    private static readonly int[] PtBlock = { 1, 0, 2 };
    private readonly InferenceSession _seq, _step;
    private readonly RunOptions _run = new();
    private readonly OrtIoBinding _seqBinding, _ab, _ba;
    private readonly List<OrtValue> _values = new();
    private readonly float[] _xs, _ySeq, _x;
    private readonly float[][] _hA, _hB;
    private readonly int _inputSize, _numLayers, _steps;
    private int _cursor;

    public GruOnnxPeer(int inputSize, int hiddenSize, int numLayers, ReadOnlySpan<float> parameters, ReadOnlySpan<float> xs, int steps)
    {
        OnnxPeer.EnsureAvailable();
        _inputSize = inputSize; _numLayers = numLayers; _steps = steps;
        int h = hiddenSize;
        _xs = xs.ToArray();
        using (var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                   GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR })
        {
            _seq = new InferenceSession(Model(inputSize, h, numLayers, parameters, steps, perStep: false), options);
            _step = new InferenceSession(Model(inputSize, h, numLayers, parameters, 1, perStep: true), options);
        }
        _ySeq = new float[steps * h];
        _seqBinding = _seq.CreateIoBinding();
        _seqBinding.BindInput("X", Track(OrtValue.CreateTensorValueFromMemory(_xs, new long[] { steps, 1, inputSize })));
        _seqBinding.BindOutput("Y", Track(OrtValue.CreateTensorValueFromMemory(_ySeq, new long[] { steps, 1, 1, h })));
        _x = new float[inputSize];
        var x = Track(OrtValue.CreateTensorValueFromMemory(_x, new long[] { 1, 1, inputSize }));
        _hA = Enumerable.Range(0, numLayers).Select(_ => new float[h]).ToArray();
        _hB = Enumerable.Range(0, numLayers).Select(_ => new float[h]).ToArray();
        _ab = _step.CreateIoBinding(); _ba = _step.CreateIoBinding();
        _ab.BindInput("X", x); _ba.BindInput("X", x);
        for (int l = 0; l < numLayers; l++)
        {
            var a = Track(OrtValue.CreateTensorValueFromMemory(_hA[l], new long[] { 1, 1, h }));
            var b = Track(OrtValue.CreateTensorValueFromMemory(_hB[l], new long[] { 1, 1, h }));
            _ab.BindInput($"h{l}", a); _ab.BindOutput($"Yh{l}", b);
            _ba.BindInput($"h{l}", b); _ba.BindOutput($"Yh{l}", a);
        }
    }

    private OrtValue Track(OrtValue v) { _values.Add(v); return v; }

    public void Sequence() => _seq.RunWithBinding(_run, _seqBinding);

    public float[] SequenceOutput() { Sequence(); return (float[])_ySeq.Clone(); }

    public void Steps(int count)
    {
        for (int k = 0; k < count; k++)
        {
            if (_cursor == _steps) { foreach (var h in _hA) Array.Clear(h); _cursor = 0; }
            Array.Copy(_xs, _cursor * _inputSize, _x, 0, _inputSize);
            _step.RunWithBinding(_run, (_cursor & 1) == 0 ? _ab : _ba);
            _cursor++;
        }
    }

    /// <summary>Whole sequence: X (T, 1, I) → Y (T, 1, 1, H); per step: X and h{l} → Yh{l}, layer l's Y_h feeding layer l + 1.</summary>
    private static byte[] Model(int inputSize, int h, int numLayers, ReadOnlySpan<float> p, int steps, bool perStep)
    {
        var m = new LstmGen.Tests.Oracles.OnnxModelWriter(opset: 14, irVersion: 7);
        m.AddInput("X", steps, 1, inputSize);
        if (perStep) for (int l = 0; l < numLayers; l++) m.AddInput($"h{l}", 1, 1, h);
        else if (numLayers > 1) m.AddInitializer("axes_1", new long[] { 1 }, new long[] { 1 });
        string x = "X";
        int off = 0;
        for (int l = 0; l < numLayers; l++)
        {
            int inputs = l == 0 ? inputSize : h, g = 3 * h;
            m.AddInitializer($"W{l}", new long[] { 1, g, inputs }, Reorder(p.Slice(off, g * inputs), h, inputs)); off += g * inputs;
            m.AddInitializer($"R{l}", new long[] { 1, g, h }, Reorder(p.Slice(off, g * h), h, h)); off += g * h;
            var b = new float[2 * g];
            Reorder(p.Slice(off, g), h, 1).CopyTo(b, 0); off += g;
            Reorder(p.Slice(off, g), h, 1).CopyTo(b, g); off += g;
            m.AddInitializer($"B{l}", new long[] { 1, 2 * g }, b);
            var attributes = new[] { LstmGen.Tests.Oracles.OnnxAttribute.Of("hidden_size", (long)h), LstmGen.Tests.Oracles.OnnxAttribute.Of("direction", "forward"),
                                     LstmGen.Tests.Oracles.OnnxAttribute.Of("linear_before_reset", 1L) };
            if (perStep)
            {
                m.AddNode("GRU", new[] { x, $"W{l}", $"R{l}", $"B{l}", "", $"h{l}" }, new[] { "", $"Yh{l}" }, attributes);
                m.AddOutput($"Yh{l}", 1, 1, h);
                x = $"Yh{l}";
            }
            else
            {
                bool last = l == numLayers - 1;
                string y = last ? "Y" : $"Y{l}";
                m.AddNode("GRU", new[] { x, $"W{l}", $"R{l}", $"B{l}" }, new[] { y }, attributes);
                if (!last) { x = $"X{l + 1}"; m.AddNode("Squeeze", new[] { y, "axes_1" }, new[] { x }); }
            }
        }
        if (off != p.Length) throw new ArgumentException($"Expected {off} parameters, got {p.Length}.");
        if (!perStep) m.AddOutput("Y", steps, 1, 1, h);
        return m.ToBytes();
    }

    private static float[] Reorder(ReadOnlySpan<float> pt, int h, int columns)
    {
        var onnx = new float[3 * h * columns];
        for (int g = 0; g < 3; g++) pt.Slice(PtBlock[g] * h * columns, h * columns).CopyTo(onnx.AsSpan(g * h * columns));
        return onnx;
    }

    public void Dispose()
    {
        foreach (var v in _values) v.Dispose();
        _seqBinding.Dispose(); _ab.Dispose(); _ba.Dispose(); _run.Dispose(); _seq.Dispose(); _step.Dispose();
    }
}

[GruModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.BFloat16)] public partial class GruShapeDBf16 { }
[GruModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.Int8)] public partial class GruShapeDInt8 { }
[GruModel(InputSize = 256, HiddenSize = 256, WeightStorage = WeightStorage.BFloat16)] public partial class GruShapeEBf16 { }
[GruModel(InputSize = 256, HiddenSize = 256, WeightStorage = WeightStorage.Int8)] public partial class GruShapeEInt8 { }

/// <summary>
/// Shapes D and E as GRUs with float32, bf16 and int8 gate weights (same parameters, seed 42), streaming and whole
/// sequence over 1,000 steps, ns per step. Setup checks the reduced models against float32 (at most 0.05, and not equal).
/// </summary>
[MemoryDiagnoser]
public abstract class GruReducedBenchmark
{
    public const int Steps = 1000;
    protected float[] Xs = Array.Empty<float>(), Ys = Array.Empty<float>(), Y = Array.Empty<float>();
    protected abstract int Size { get; }
    protected abstract void Create();
    protected abstract void Stream(int storage);
    protected abstract void Sequence(int storage);

    [GlobalSetup]
    public void Setup()
    {
        Create();
        Xs = ShapeBenchmark.MakeInputs(Steps, Size == 128 ? 64 : 256);
        Ys = new float[Steps * Size];
        Y = new float[Size];
        Sequence(0);
        float[] reference = (float[])Ys.Clone();
        for (int storage = 1; storage <= 2; storage++)
        {
            Sequence(storage);
            float worst = 0;
            for (int k = 0; k < Ys.Length; k++) worst = MathF.Max(worst, MathF.Abs(Ys[k] - reference[k]));
            if (!(worst <= 0.05f) || worst == 0)
                throw new InvalidOperationException($"{GetType().Name}: storage {storage} differs from float32 by {worst} (accepted: (0, 0.05]).");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Steps)] public void Float32Streaming() => Stream(0);
    [Benchmark(OperationsPerInvoke = Steps)] public void BFloat16Streaming() => Stream(1);
    [Benchmark(OperationsPerInvoke = Steps)] public void Int8Streaming() => Stream(2);
    [Benchmark(OperationsPerInvoke = Steps)] public void Float32Sequence() => Sequence(0);
    [Benchmark(OperationsPerInvoke = Steps)] public void BFloat16Sequence() => Sequence(1);
    [Benchmark(OperationsPerInvoke = Steps)] public void Int8Sequence() => Sequence(2);
}

public class V_GruReducedD : GruReducedBenchmark
{
    private GruShapeD _f = null!; private GruShapeDBf16 _b = null!; private GruShapeDInt8 _q = null!;
    private GruShapeD.State _fs = null!; private GruShapeDBf16.State _bs = null!; private GruShapeDInt8.State _qs = null!;
    protected override int Size => 128;
    protected override void Create()
    {
        _f = new GruShapeD(ShapeBenchmark.Seed); _b = new GruShapeDBf16(); _q = new GruShapeDInt8();
        _b.LoadParameters(_f.Parameters.Values); _q.LoadParameters(_f.Parameters.Values);
        _fs = _f.NewState(); _bs = _b.NewState(); _qs = _q.NewState();
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

public class V_GruReducedE : GruReducedBenchmark
{
    private GruShapeE _f = null!; private GruShapeEBf16 _b = null!; private GruShapeEInt8 _q = null!;
    private GruShapeE.State _fs = null!; private GruShapeEBf16.State _bs = null!; private GruShapeEInt8.State _qs = null!;
    protected override int Size => 256;
    protected override void Create()
    {
        _f = new GruShapeE(ShapeBenchmark.Seed); _b = new GruShapeEBf16(); _q = new GruShapeEInt8();
        _b.LoadParameters(_f.Parameters.Values); _q.LoadParameters(_f.Parameters.Values);
        _fs = _f.NewState(); _bs = _b.NewState(); _qs = _q.NewState();
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
