using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace LstmGen.Bench;

/// <summary>
/// libtorch (TorchSharp-cpu) driven the way a user would: <c>nn.LSTM</c> on the whole (T, 1, I) sequence, and a stack of
/// <c>nn.LSTMCell</c> (one per layer) stepped once per time step with (h, c) carried. One intra-op thread (or libtorch's
/// default thread count, <see cref="DefaultThreads"/>, for the default-threading rows: every timed call sets the count it
/// is asked for when it differs), <c>inference_mode</c> around every call, parameters with requires_grad off. Inputs are made into tensors once,
/// in the constructor, so the timed calls measure the LSTM, not tensor creation; outputs stay in libtorch
/// (not copied back), which favours torch slightly.
/// </summary>
public sealed class TorchPeer : IDisposable
{
    private static readonly Lazy<string?> Probe = new(ProbeTorch);
    private static int _defaultThreads;

    /// <summary>libtorch's own intra-op thread count, read at load time before anything sets it (2 on a 2-core VM).</summary>
    public static int DefaultThreads { get { EnsureAvailable(); return _defaultThreads; } }

    private readonly int _hiddenSize, _numLayers, _steps;
    private readonly TorchSharp.Modules.LSTM _lstm;
    private readonly TorchSharp.Modules.LSTMCell[] _cells;
    private readonly Tensor _xSeq, _h0, _c0;
    private readonly Tensor[] _xStep;
    private readonly Tensor[] _h, _c;
    private int _cursor;

    /// <summary>Loads libtorch and sets one thread; throws with a hint when the library does not load.</summary>
    public static void EnsureAvailable()
    {
        if (Probe.Value is { } reason) throw new InvalidOperationException(reason);
    }

    private static string? ProbeTorch()
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            _defaultThreads = torch.get_num_threads();
            torch.set_num_threads(1);
            using var a = torch.ones(new long[] { 2 }, ScalarType.Float32);
            using var b = a * 2;
            using var s = b.sum();
            float v = s.item<float>();
            if (v != 4f) return "libtorch loaded but computed 2*ones(2).sum() = " + v;
            return LstmGen.Tests.Oracles.OneDnn.CheckLstm();   // nn.LSTM itself (oneDNN's AVX-512 RNN path is broken on Zen 5)
        }
        catch (Exception ex)
        {
            var msg = new List<string>();
            for (var e = ex; e is not null; e = e.InnerException) msg.Add(e.GetType().Name + ": " + e.Message);
            return "TorchSharp/libtorch unavailable (on Debian 12, did the build run tests/tools/patch-glibcxx-weak.py on the output dir?): "
                   + string.Join(" --> ", msg);
        }
    }

    /// <param name="parameters">Flat, PyTorch order (per layer weight_ih, weight_hh, bias_ih, bias_hh).</param>
    /// <param name="xs">T·I inputs, time-major.</param>
    public TorchPeer(int inputSize, int hiddenSize, int numLayers, ReadOnlySpan<float> parameters, ReadOnlySpan<float> xs, int steps)
    {
        EnsureAvailable();
        torch.set_num_threads(1);   // again, on the thread that runs the benchmark (libtorch keeps some of this per thread)
        _hiddenSize = hiddenSize; _numLayers = numLayers; _steps = steps;
        int h = hiddenSize, g = 4 * hiddenSize;
        _lstm = torch.nn.LSTM(inputSize, h, numLayers, bias: true, batchFirst: false);
        _cells = new TorchSharp.Modules.LSTMCell[numLayers];
        for (int l = 0; l < numLayers; l++) _cells[l] = torch.nn.LSTMCell(l == 0 ? inputSize : h, h, bias: true);

        var lstmParams = _lstm.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using (torch.no_grad())
        {
            int offset = 0;
            for (int l = 0; l < numLayers; l++)
            {
                int inputs = l == 0 ? inputSize : h;
                var cellParams = _cells[l].named_parameters().ToDictionary(p => p.name, p => p.parameter);
                foreach (var (name, shape) in new (string, long[])[]
                         {
                             ("weight_ih", new long[] { g, inputs }), ("weight_hh", new long[] { g, h }),
                             ("bias_ih", new long[] { g }), ("bias_hh", new long[] { g }),
                         })
                {
                    int n = (int)shape.Aggregate(1L, (a, b) => a * b);
                    using var src = torch.tensor(parameters.Slice(offset, n).ToArray(), shape, ScalarType.Float32);
                    Copy(lstmParams, $"{name}_l{l}", src);
                    Copy(cellParams, name, src);
                    offset += n;
                }
            }
            if (offset != parameters.Length) throw new ArgumentException($"Expected {offset} parameters, got {parameters.Length}.");
        }
        foreach (var p in _lstm.parameters()) p.requires_grad_(false);
        foreach (var cell in _cells) foreach (var p in cell.parameters()) p.requires_grad_(false);
        _lstm.eval();
        foreach (var cell in _cells) cell.eval();

        float[] x = xs.ToArray();
        _xSeq = torch.tensor(x, new long[] { steps, 1, inputSize }, ScalarType.Float32);
        _h0 = torch.zeros(new long[] { numLayers, 1, h }, ScalarType.Float32);
        _c0 = torch.zeros(new long[] { numLayers, 1, h }, ScalarType.Float32);
        _xStep = new Tensor[steps];
        for (int t = 0; t < steps; t++)
            _xStep[t] = torch.tensor(x.AsSpan(t * inputSize, inputSize).ToArray(), new long[] { 1, inputSize }, ScalarType.Float32);
        _h = new Tensor[numLayers]; _c = new Tensor[numLayers];
        ResetCells();
    }

    private static void Copy(Dictionary<string, TorchSharp.Modules.Parameter> byName, string name, Tensor src)
    {
        if (!byName.TryGetValue(name, out var p))
            throw new InvalidOperationException($"torch module has no parameter '{name}' (has: {string.Join(", ", byName.Keys)})");
        if (!p.shape.SequenceEqual(src.shape))
            throw new InvalidOperationException($"'{name}' has shape [{string.Join(",", p.shape)}], expected [{string.Join(",", src.shape)}]");
        p.copy_(src);
    }

    private void ResetCells()
    {
        for (int l = 0; l < _numLayers; l++)
        {
            _h[l]?.Dispose(); _c[l]?.Dispose();
            _h[l] = torch.zeros(new long[] { 1, _hiddenSize }, ScalarType.Float32);
            _c[l] = torch.zeros(new long[] { 1, _hiddenSize }, ScalarType.Float32);
        }
        _cursor = 0;
    }

    /// <summary>
    /// Sets libtorch's intra-op thread count for the calling thread when it differs (one P/Invoke when it does not;
    /// libtorch's OpenMP keeps the count per calling thread, so it is checked on every timed call).
    /// </summary>
    private static void UseThreads(int threads)
    {
        if (torch.get_num_threads() != threads) torch.set_num_threads(threads);
    }

    /// <summary>nn.LSTM over the whole sequence from zero state with <paramref name="threads"/> intra-op threads (the timed call).</summary>
    public void Sequence(int threads = 1)
    {
        UseThreads(threads);
        using var mode = torch.inference_mode();
        var (y, hn, cn) = _lstm.call(_xSeq, (_h0, _c0));
        y.Dispose(); hn.Dispose(); cn.Dispose();
    }

    /// <summary>nn.LSTM over the whole sequence; returns T·H outputs (validation only).</summary>
    public float[] SequenceOutput(int threads = 1)
    {
        UseThreads(threads);
        using var mode = torch.inference_mode();
        var (y, hn, cn) = _lstm.call(_xSeq, (_h0, _c0));
        using (y) using (hn) using (cn) return y.data<float>().ToArray();   // (T, 1, H), contiguous
    }

    /// <summary>
    /// <paramref name="count"/> steps of the LSTMCell stack with (h, c) carried, continuing through the sequence and
    /// starting over from zero state after its last step (the timed call).
    /// </summary>
    public void Steps(int count, int threads = 1)
    {
        UseThreads(threads);
        using var mode = torch.inference_mode();
        for (int k = 0; k < count; k++)
        {
            if (_cursor == _steps) ResetCells();
            Tensor input = _xStep[_cursor++];
            for (int l = 0; l < _numLayers; l++)
            {
                var (hn, cn) = _cells[l].call(input, (_h[l], _c[l]));
                _h[l].Dispose(); _c[l].Dispose();
                _h[l] = hn; _c[l] = cn;
                input = hn;
            }
        }
    }

    /// <summary>The whole sequence stepped through the LSTMCell stack; returns T·H outputs (validation only).</summary>
    public float[] PerStepOutput(int threads = 1)
    {
        ResetCells();
        var ys = new float[_steps * _hiddenSize];
        for (int t = 0; t < _steps; t++)
        {
            Steps(1, threads);
            _h[_numLayers - 1].data<float>().ToArray().CopyTo(ys, t * _hiddenSize);   // (1, H), contiguous
        }
        ResetCells();
        UseThreads(1);
        return ys;
    }

    public void Dispose()
    {
        _lstm.Dispose();
        foreach (var cell in _cells) cell.Dispose();
        _xSeq.Dispose(); _h0.Dispose(); _c0.Dispose();
        foreach (var t in _xStep) t.Dispose();
        for (int l = 0; l < _numLayers; l++) { _h[l]?.Dispose(); _c[l]?.Dispose(); }
    }
}
