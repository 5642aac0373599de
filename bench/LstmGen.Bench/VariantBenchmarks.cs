using System;
using System.Collections.Generic;
using System.Linq;
using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace LstmGen.Bench;

// Issue 6's benchmark shapes: bidirectional C, D with a 64-value projection, batch 8 of A and C.
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, Bidirectional = true)] public partial class ShapeCBi { }
[LstmModel(InputSize = 64, HiddenSize = 128, ProjSize = 64)] public partial class ShapeDProj64 { }
[LstmModel(InputSize = 1, HiddenSize = 16, BatchSize = 8)] public partial class ShapeA8 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, BatchSize = 8)] public partial class ShapeC8 { }

/// <summary>
/// Bidirectional C (8→32, 2 layers) over a 1,000-step sequence: LstmGen's Forward against libtorch's
/// <c>nn.LSTM(bidirectional=True)</c> (one thread, inference_mode). ns per time step. Outputs are checked in setup.
/// </summary>
[MemoryDiagnoser]
public class V_CBidirectional
{
    public const int Steps = 1000;
    private ShapeCBi _model = null!;
    private ShapeCBi.State _state = null!;
    private float[] _xs = Array.Empty<float>(), _ys = Array.Empty<float>();
    private TorchSharp.Modules.LSTM _lstm = null!;
    private Tensor _x = null!, _h0 = null!, _c0 = null!;

    [GlobalSetup]
    public void Setup()
    {
        TorchPeer.EnsureAvailable();
        torch.set_num_threads(1);
        _model = new ShapeCBi(42);
        _state = _model.NewState();
        _state.EnsureSequence(Steps);
        _xs = ShapeBenchmark.MakeInputs(Steps, 8);
        _ys = new float[Steps * 64];
        _lstm = torch.nn.LSTM(8, 32, 2, bias: true, batchFirst: false, bidirectional: true);
        VariantPeers.Load(_lstm.named_parameters(), _model.Parameters);
        _lstm.eval();
        _x = torch.tensor(_xs, new long[] { Steps, 1, 8 });
        _h0 = torch.zeros(4, 1, 32); _c0 = torch.zeros(4, 1, 32);
        _model.Forward(_xs, _state, _ys);
        using (torch.inference_mode())
        {
            var (y, hn, cn) = _lstm.call(_x, (_h0, _c0));
            VariantPeers.Check("bidirectional C", y.data<float>().ToArray(), _ys);
        }
    }

    [Benchmark(OperationsPerInvoke = Steps)]
    public void LstmGenForward() { _state.Reset(); _model.Forward(_xs, _state, _ys); }

    [Benchmark(OperationsPerInvoke = Steps)]
    public void TorchSequence()
    {
        using var mode = torch.inference_mode();
        var (y, hn, cn) = _lstm.call(_x, (_h0, _c0));
        y.Dispose(); hn.Dispose(); cn.Dispose();
    }
}

/// <summary>
/// D (64→128) with a 64-value projection, streaming: LstmGen's Step against the same cell written with libtorch ops
/// per step (TorchSharp 0.107's nn.LSTM has no proj_size): linear(x, W_ih, b_ih) + linear(h, W_hh, b_hh), the gates,
/// then h = linear(m, W_hr). One thread, inference_mode. Also LstmGen's Forward. ns per time step.
/// </summary>
[MemoryDiagnoser]
public class V_DProjection64
{
    public const int Steps = 1000, TorchSteps = 100;
    private ShapeDProj64 _model = null!;
    private ShapeDProj64.State _state = null!;
    private float[] _xs = Array.Empty<float>(), _ys = Array.Empty<float>(), _y = new float[64];
    private Tensor _wih = null!, _whh = null!, _bih = null!, _bhh = null!, _whr = null!;
    private Tensor[] _xStep = Array.Empty<Tensor>();
    private Tensor _h = null!, _c = null!;
    private int _cursor;

    [GlobalSetup]
    public void Setup()
    {
        TorchPeer.EnsureAvailable();
        torch.set_num_threads(1);
        _model = new ShapeDProj64(42);
        _state = _model.NewState();
        _xs = ShapeBenchmark.MakeInputs(Steps, 64);
        _ys = new float[Steps * 64];
        Tensor T(string name, params long[] shape) => torch.tensor(_model.Parameters[name].Values.ToArray(), shape);
        _wih = T("weight_ih_l0", 512, 64); _whh = T("weight_hh_l0", 512, 64); _bih = T("bias_ih_l0", 512); _bhh = T("bias_hh_l0", 512);
        _whr = T("weight_hr_l0", 64, 128);
        _xStep = Enumerable.Range(0, Steps).Select(t => torch.tensor(_xs.AsSpan(t * 64, 64).ToArray(), new long[] { 1, 64 })).ToArray();
        Reset();
        _model.Forward(_xs, _state, _ys);
        var torchYs = new float[Steps * 64];
        for (int t = 0; t < Steps; t++) { TorchSteps1(1); _h.data<float>().ToArray().CopyTo(torchYs, t * 64); }
        VariantPeers.Check("projected D", torchYs, _ys);
        Reset();
        _state.Reset();
    }

    private void Reset()
    {
        _h?.Dispose(); _c?.Dispose();
        _h = torch.zeros(1, 64); _c = torch.zeros(1, 128); _cursor = 0;
    }

    private void TorchSteps1(int count)
    {
        using var mode = torch.inference_mode();
        for (int k = 0; k < count; k++)
        {
            if (_cursor == Steps) Reset();
            using var a = torch.nn.functional.linear(_xStep[_cursor++], _wih, _bih).add_(torch.nn.functional.linear(_h, _whh, _bhh));
            var g = a.chunk(4, 1);
            using var i = g[0].sigmoid(); using var f = g[1].sigmoid(); using var gg = g[2].tanh(); using var o = g[3].sigmoid();
            var c = f.mul(_c).add_(i.mul(gg));
            using var m = o.mul(c.tanh());
            var h = torch.nn.functional.linear(m, _whr);
            foreach (var t in g) t.Dispose();
            _h.Dispose(); _c.Dispose();
            _h = h; _c = c;
        }
    }

    [Benchmark(OperationsPerInvoke = Steps)]
    public void LstmGenStep()
    {
        var xs = _xs.AsSpan();
        for (int t = 0; t < Steps; t++) _model.Step(xs.Slice(t * 64, 64), _state, _y);
    }

    [Benchmark(OperationsPerInvoke = Steps)]
    public void LstmGenForward() { _state.Reset(); _model.Forward(_xs, _state, _ys); }

    [Benchmark(OperationsPerInvoke = TorchSteps)]
    public void TorchOpsStep() => TorchSteps1(TorchSteps);
}

/// <summary>
/// Batch 8 streams of one shape, one time step of all eight per operation: LstmGen's batched Step (weights loaded
/// once for the eight), eight single-stream Steps of the same shape, and libtorch's LSTMCell stack at batch 8.
/// </summary>
[MemoryDiagnoser]
public abstract class BatchBenchmark
{
    public const int Steps = 1000, TorchSteps = 100, Batch = 8;
    protected abstract int I { get; }
    protected abstract int H { get; }
    protected abstract int L { get; }
    protected float[] Xs = Array.Empty<float>();   // per step, 8 streams of I
    protected float[] XsByStream = Array.Empty<float>();   // the same, batch-first: stream after stream, Forward's layout
    protected float[] Y = Array.Empty<float>();
    private TorchSharp.Modules.LSTMCell[] _cells = Array.Empty<TorchSharp.Modules.LSTMCell>();
    private Tensor[] _xStep = Array.Empty<Tensor>();
    private Tensor[] _h = Array.Empty<Tensor>(), _c = Array.Empty<Tensor>();
    private int _cursor;

    protected abstract LstmParameters CreateModels();
    protected abstract void BatchedSteps(float[] xs, float[] y);
    protected abstract void SingleSteps(float[] xs, float[] y);
    /// <summary>Forward over the whole sequence of every stream (batch-first input), the last step's outputs into y.</summary>
    protected abstract void BatchedForward(float[] xsByStream, float[] y);

    [GlobalSetup]
    public void Setup()
    {
        TorchPeer.EnsureAvailable();
        torch.set_num_threads(1);
        var parameters = CreateModels();
        // stream b is the bench input with a phase of b
        Xs = new float[Steps * Batch * I];
        for (int t = 0; t < Steps; t++)
            for (int b = 0; b < Batch; b++)
                for (int j = 0; j < I; j++)
                    Xs[(t * Batch + b) * I + j] = (float)(0.5 * Math.Sin(0.05 * t + j + 0.7 * b));
        XsByStream = new float[Steps * Batch * I];
        for (int t = 0; t < Steps; t++)
            for (int b = 0; b < Batch; b++)
                Array.Copy(Xs, (t * Batch + b) * I, XsByStream, (b * Steps + t) * I, I);
        Y = new float[Batch * H];
        _cells = new TorchSharp.Modules.LSTMCell[L];
        for (int l = 0; l < L; l++)
        {
            _cells[l] = torch.nn.LSTMCell(l == 0 ? I : H, H, bias: true);
            var byName = _cells[l].named_parameters().ToDictionary(p => p.name, p => p.parameter);
            using (torch.no_grad())
                foreach (var kind in new[] { "weight_ih", "weight_hh", "bias_ih", "bias_hh" })
                    byName[kind].copy_(torch.tensor(parameters[$"{kind}_l{l}"].Values.ToArray(), byName[kind].shape));
            _cells[l].eval();
        }
        _xStep = Enumerable.Range(0, Steps).Select(t => torch.tensor(Xs.AsSpan(t * Batch * I, Batch * I).ToArray(), new long[] { Batch, I })).ToArray();
        ResetTorch();
        // check: the batched model, the single-stream model and torch agree on the last step's outputs
        var batched = new float[Batch * H]; var single = new float[Batch * H];
        BatchedSteps(Xs, batched);
        SingleSteps(Xs, single);
        for (int t = 0; t < Steps; t++) TorchStepsN(1);
        VariantPeers.Check("batched vs single", single, batched);
        var forward = new float[Batch * H];
        BatchedForward(XsByStream, forward);
        VariantPeers.Check("batched Forward vs batched Step", batched, forward);
        VariantPeers.Check("batched vs torch", _h[L - 1].data<float>().ToArray(), batched);
        ResetTorch();
    }

    private void ResetTorch()
    {
        _h = Enumerable.Range(0, L).Select(_ => torch.zeros(Batch, H)).ToArray();
        _c = Enumerable.Range(0, L).Select(_ => torch.zeros(Batch, H)).ToArray();
        _cursor = 0;
    }

    private void TorchStepsN(int count)
    {
        using var mode = torch.inference_mode();
        for (int k = 0; k < count; k++)
        {
            if (_cursor == Steps) ResetTorch();
            Tensor input = _xStep[_cursor++];
            for (int l = 0; l < L; l++)
            {
                var (hn, cn) = _cells[l].call(input, (_h[l], _c[l]));
                _h[l].Dispose(); _c[l].Dispose();
                _h[l] = hn; _c[l] = cn;
                input = hn;
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Steps)]
    public void LstmGenBatched() => BatchedSteps(Xs, Y);

    [Benchmark(OperationsPerInvoke = Steps)]
    public void LstmGenEightSingle() => SingleSteps(Xs, Y);

    /// <summary>One Forward call over <see cref="Steps"/> steps of all streams; reported per step (all streams).</summary>
    [Benchmark(OperationsPerInvoke = Steps)]
    public void LstmGenBatchedForward() => BatchedForward(XsByStream, Y);

    [Benchmark(OperationsPerInvoke = TorchSteps)]
    public void TorchCellBatch8() => TorchStepsN(TorchSteps);
}

public class V_ABatch8 : BatchBenchmark
{
    protected override int I => 1; protected override int H => 16; protected override int L => 1;
    private ShapeA8 _batched = null!; private ShapeA8.State _bs = null!;
    private ShapeA _single = null!; private ShapeA.State[] _ss = Array.Empty<ShapeA.State>();

    protected override LstmParameters CreateModels()
    {
        _batched = new ShapeA8(42); _bs = _batched.NewState();
        _single = new ShapeA(0); _single.LoadParameters(_batched.Parameters.Values);
        _ss = Enumerable.Range(0, Batch).Select(_ => _single.NewState()).ToArray();
        return _batched.Parameters;
    }

    protected override void BatchedSteps(float[] xs, float[] y)
    {
        _bs.Reset();
        for (int t = 0; t < Steps; t++) _batched.Step(xs.AsSpan(t * Batch, Batch), _bs, y);
    }

    protected override void BatchedForward(float[] xsByStream, float[] y)
    {
        _bs.Reset();
        _batched.Forward(xsByStream, _bs, y);
    }

    protected override void SingleSteps(float[] xs, float[] y)
    {
        foreach (var s in _ss) s.Reset();
        for (int t = 0; t < Steps; t++)
            for (int b = 0; b < Batch; b++) _single.Step(xs.AsSpan(t * Batch + b, 1), _ss[b], y.AsSpan(b * 16, 16));
    }
}

public class V_CBatch8 : BatchBenchmark
{
    protected override int I => 8; protected override int H => 32; protected override int L => 2;
    private ShapeC8 _batched = null!; private ShapeC8.State _bs = null!;
    private ShapeC _single = null!; private ShapeC.State[] _ss = Array.Empty<ShapeC.State>();

    protected override LstmParameters CreateModels()
    {
        _batched = new ShapeC8(42); _bs = _batched.NewState();
        _single = new ShapeC(0); _single.LoadParameters(_batched.Parameters.Values);
        _ss = Enumerable.Range(0, Batch).Select(_ => _single.NewState()).ToArray();
        return _batched.Parameters;
    }

    protected override void BatchedSteps(float[] xs, float[] y)
    {
        _bs.Reset();
        for (int t = 0; t < Steps; t++) _batched.Step(xs.AsSpan(t * Batch * 8, Batch * 8), _bs, y);
    }

    protected override void BatchedForward(float[] xsByStream, float[] y)
    {
        _bs.Reset();
        _batched.Forward(xsByStream, _bs, y);
    }

    protected override void SingleSteps(float[] xs, float[] y)
    {
        foreach (var s in _ss) s.Reset();
        for (int t = 0; t < Steps; t++)
            for (int b = 0; b < Batch; b++) _single.Step(xs.AsSpan((t * Batch + b) * 8, 8), _ss[b], y.AsSpan(b * 32, 32));
    }
}

internal static class VariantPeers
{
    public static void Load(IEnumerable<(string name, TorchSharp.Modules.Parameter parameter)> named, LstmParameters parameters)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in named)
        {
            p.copy_(torch.tensor(parameters[name].Values.ToArray(), p.shape));
            p.requires_grad_(false);
        }
    }

    public static void Check(string what, float[] expected, float[] actual)
    {
        if (expected.Length != actual.Length) throw new InvalidOperationException($"{what}: {expected.Length} vs {actual.Length} values");
        double max = 0;
        for (int k = 0; k < expected.Length; k++) max = Math.Max(max, Math.Abs(expected[k] - actual[k]));
        if (!(max <= 1e-4)) throw new InvalidOperationException($"{what}: outputs differ by {max} (tolerance 1e-4)");
    }
}
