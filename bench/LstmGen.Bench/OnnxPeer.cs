using System;
using System.Collections.Generic;
using System.IO;
using LstmGen.Tests.Oracles;
using Microsoft.ML.OnnxRuntime;

namespace LstmGen.Bench;

/// <summary>
/// ONNX Runtime (Microsoft.ML.OnnxRuntime) driven the way a user would: an ONNX model built in memory
/// (opset 14, the tests' <see cref="OnnxModelWriter"/>) with one <c>LSTM</c> node per layer (gates reordered from
/// PyTorch i,f,g,o to ONNX i,o,f,c; B = [b_ih ; b_hh]), two sessions:
/// <list type="bullet">
/// <item>whole sequence: X (T, 1, I) → Y (T, 1, 1, H) of the last layer, zero initial state, <c>Squeeze</c> between layers;</item>
/// <item>one step: X (1, 1, I), <c>initial_h</c>/<c>initial_c</c> per layer in, <c>Y_h</c>/<c>Y_c</c> per layer out (layer k's
/// <c>Y_h</c>, shape (1, 1, H), is layer k+1's X). ORT keeps no state between runs, so the state is carried by the caller:
/// two I/O bindings over pinned buffers, A → B on even steps and B → A on odd steps (no copies, no per-run tensor creation).</item>
/// </list>
/// Both sessions use ORT's default graph optimisation (ORT_ENABLE_ALL) and sequential execution; <c>IntraOpNumThreads</c>
/// is 1, or ORT's default (0) for the default-threading rows. Inputs and output buffers are created once, in the
/// constructor; the timed calls are <c>RunWithBinding</c> only.
/// </summary>
public sealed class OnnxPeer : IDisposable
{
    private static readonly Lazy<(string? Error, string Version, int? DefaultThreads)> Probe = new(ProbeOrt);

    // ONNX gate block d takes PyTorch gate block PtBlock[d]: ONNX (i, o, f, c) <- PyTorch (i, f, g, o).
    private static readonly int[] PtBlock = { 0, 3, 1, 2 };

    private readonly int _inputSize, _hiddenSize, _numLayers, _steps;
    private readonly float[] _xs;
    private readonly InferenceSession _seqSession, _stepSession;
    private readonly RunOptions _runOptions = new();
    private readonly OrtValue _xSeqValue, _ySeqValue;
    private readonly float[] _ySeq;
    private readonly OrtIoBinding _seqBinding;
    private readonly float[] _x;                          // one step's input, pinned (bound as X in both step bindings)
    private readonly float[][] _hA, _cA, _hB, _cB;        // per layer, pinned
    private readonly List<OrtValue> _values = new();
    private readonly OrtIoBinding _stepAB, _stepBA;      // even steps read A, write B; odd steps read B, write A
    private int _cursor;

    /// <summary>Throws when ONNX Runtime does not load.</summary>
    public static void EnsureAvailable()
    {
        if (Probe.Value.Error is { } reason) throw new InvalidOperationException(reason);
    }

    /// <summary>ONNX Runtime's native version string.</summary>
    public static string Version => Probe.Value.Version;

    /// <summary>
    /// How many intra-op threads ORT uses with <c>IntraOpNumThreads = 0</c> (its default), measured once at start-up as
    /// 1 + the threads a default session adds to the process (ORT's pool runs the caller plus N − 1 workers); null if
    /// that could not be read (no /proc).
    /// </summary>
    public static int? DefaultIntraOpThreads => Probe.Value.DefaultThreads;

    private static (string?, string, int?) ProbeOrt()
    {
        try
        {
            string version = OrtEnv.Instance().GetVersionString();
            if (string.IsNullOrEmpty(version)) return ("ONNX Runtime returned no version string", "", null);
            int? defaultThreads = null;
            int before = ThreadCount();
            byte[] model = StepModel(1, 16, 1, new float[4 * 16 * 17 + 8 * 16]);
            using (var options = Options(intraOpThreads: 0))
            using (var session = new InferenceSession(model, options))
            {
                int after = ThreadCount();
                if (before > 0 && after >= before) defaultThreads = after - before + 1;
            }
            return (null, version, defaultThreads);
        }
        catch (Exception ex)
        {
            var msg = new List<string>();
            for (var e = ex; e is not null; e = e.InnerException) msg.Add(e.GetType().Name + ": " + e.Message);
            return ("ONNX Runtime unavailable: " + string.Join(" --> ", msg), "", null);
        }
    }

    private static int ThreadCount()
    {
        try { return Directory.GetDirectories("/proc/self/task").Length; }
        catch (IOException) { return -1; }
        catch (UnauthorizedAccessException) { return -1; }
    }

    private static SessionOptions Options(int intraOpThreads) => new()
    {
        IntraOpNumThreads = intraOpThreads,                    // 0 = ORT's default
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
    };

    /// <param name="parameters">Flat, PyTorch order (per layer weight_ih, weight_hh, bias_ih, bias_hh).</param>
    /// <param name="xs">T·I inputs, time-major.</param>
    /// <param name="intraOpThreads">1 for the core-for-core rows; 0 for ORT's default.</param>
    public OnnxPeer(int inputSize, int hiddenSize, int numLayers, ReadOnlySpan<float> parameters, ReadOnlySpan<float> xs, int steps,
                    int intraOpThreads)
    {
        EnsureAvailable();
        _inputSize = inputSize; _hiddenSize = hiddenSize; _numLayers = numLayers; _steps = steps;
        int h = hiddenSize;
        _xs = xs.ToArray();

        using (var options = Options(intraOpThreads))
        {
            _seqSession = new InferenceSession(SequenceModel(inputSize, h, numLayers, parameters, steps), options);
            _stepSession = new InferenceSession(StepModel(inputSize, h, numLayers, parameters), options);
        }

        // Whole sequence: X and Y bound once.
        _ySeq = new float[steps * h];
        _xSeqValue = Track(OrtValue.CreateTensorValueFromMemory(_xs, new long[] { steps, 1, inputSize }));
        _ySeqValue = Track(OrtValue.CreateTensorValueFromMemory(_ySeq, new long[] { steps, 1, 1, h }));
        _seqBinding = _seqSession.CreateIoBinding();
        _seqBinding.BindInput("X", _xSeqValue);
        _seqBinding.BindOutput("Y", _ySeqValue);

        // One step: X plus the state of every layer, double-buffered.
        _x = new float[inputSize];
        var xValue = Track(OrtValue.CreateTensorValueFromMemory(_x, new long[] { 1, 1, inputSize }));
        _hA = NewState(); _cA = NewState(); _hB = NewState(); _cB = NewState();
        _stepAB = _stepSession.CreateIoBinding();
        _stepBA = _stepSession.CreateIoBinding();
        _stepAB.BindInput("X", xValue);
        _stepBA.BindInput("X", xValue);
        for (int l = 0; l < numLayers; l++)
        {
            var hA = Track(OrtValue.CreateTensorValueFromMemory(_hA[l], new long[] { 1, 1, h }));
            var cA = Track(OrtValue.CreateTensorValueFromMemory(_cA[l], new long[] { 1, 1, h }));
            var hB = Track(OrtValue.CreateTensorValueFromMemory(_hB[l], new long[] { 1, 1, h }));
            var cB = Track(OrtValue.CreateTensorValueFromMemory(_cB[l], new long[] { 1, 1, h }));
            _stepAB.BindInput($"h{l}", hA); _stepAB.BindInput($"c{l}", cA);
            _stepAB.BindOutput($"Yh{l}", hB); _stepAB.BindOutput($"Yc{l}", cB);
            _stepBA.BindInput($"h{l}", hB); _stepBA.BindInput($"c{l}", cB);
            _stepBA.BindOutput($"Yh{l}", hA); _stepBA.BindOutput($"Yc{l}", cA);
        }
        ResetSteps();
    }

    private float[][] NewState()
    {
        var s = new float[_numLayers][];
        for (int l = 0; l < _numLayers; l++) s[l] = new float[_hiddenSize];
        return s;
    }

    private OrtValue Track(OrtValue v) { _values.Add(v); return v; }

    private void ResetSteps()
    {
        for (int l = 0; l < _numLayers; l++) { Array.Clear(_hA[l]); Array.Clear(_cA[l]); }
        _cursor = 0;
    }

    /// <summary>One Run over the whole sequence from zero state (the timed call).</summary>
    public void Sequence() => _seqSession.RunWithBinding(_runOptions, _seqBinding);

    /// <summary>One Run over the whole sequence; returns T·H outputs (validation only).</summary>
    public float[] SequenceOutput()
    {
        Array.Clear(_ySeq);
        Sequence();
        return (float[])_ySeq.Clone();
    }

    /// <summary>
    /// <paramref name="count"/> single-step Runs with (h, c) carried, continuing through the sequence and starting over
    /// from zero state after its last step (the timed call). Each step copies x_t into the bound input buffer.
    /// </summary>
    public void Steps(int count)
    {
        int i = _inputSize;
        for (int k = 0; k < count; k++)
        {
            if (_cursor == _steps) ResetSteps();
            Array.Copy(_xs, _cursor * i, _x, 0, i);
            _stepSession.RunWithBinding(_runOptions, (_cursor & 1) == 0 ? _stepAB : _stepBA);
            _cursor++;
        }
    }

    /// <summary>The whole sequence stepped one Run at a time; returns T·H outputs (validation only).</summary>
    public float[] PerStepOutput()
    {
        ResetSteps();
        int h = _hiddenSize;
        var ys = new float[_steps * h];
        for (int t = 0; t < _steps; t++)
        {
            Steps(1);
            // step t read buffer set (t even: A) and wrote the other one
            float[] top = ((t & 1) == 0 ? _hB : _hA)[_numLayers - 1];
            top.CopyTo(ys, t * h);
        }
        ResetSteps();
        return ys;
    }

    /// <summary>X (T, 1, I) → Y (T, 1, 1, H) of the last layer; zero initial state.</summary>
    private static byte[] SequenceModel(int inputSize, int h, int numLayers, ReadOnlySpan<float> parameters, int steps)
    {
        var m = new OnnxModelWriter(opset: 14, irVersion: 7);
        m.AddInput("X", steps, 1, inputSize);
        if (numLayers > 1) m.AddInitializer("axes_1", new long[] { 1 }, new long[] { 1 });
        string x = "X";
        int off = 0;
        for (int l = 0; l < numLayers; l++)
        {
            string[] wrb = AddWeights(m, l, l == 0 ? inputSize : h, h, parameters, ref off);
            bool last = l == numLayers - 1;
            string y = last ? "Y" : $"Y{l}";
            m.AddNode("LSTM", new[] { x, wrb[0], wrb[1], wrb[2] }, new[] { y },
                OnnxAttribute.Of("hidden_size", (long)h), OnnxAttribute.Of("direction", "forward"));
            if (!last)
            {
                x = $"X{l + 1}";
                m.AddNode("Squeeze", new[] { y, "axes_1" }, new[] { x });   // (T,1,1,H) -> (T,1,H)
            }
        }
        CheckConsumed(off, parameters.Length);
        m.AddOutput("Y", steps, 1, 1, h);
        return m.ToBytes();
    }

    /// <summary>X (1, 1, I), h{l}/c{l} (1, 1, H) → Yh{l}/Yc{l} (1, 1, H); layer l's Y_h is layer l+1's X.</summary>
    private static byte[] StepModel(int inputSize, int h, int numLayers, ReadOnlySpan<float> parameters)
    {
        var m = new OnnxModelWriter(opset: 14, irVersion: 7);
        m.AddInput("X", 1, 1, inputSize);
        for (int l = 0; l < numLayers; l++) { m.AddInput($"h{l}", 1, 1, h); m.AddInput($"c{l}", 1, 1, h); }
        string x = "X";
        int off = 0;
        for (int l = 0; l < numLayers; l++)
        {
            string[] wrb = AddWeights(m, l, l == 0 ? inputSize : h, h, parameters, ref off);
            // LSTM inputs: X, W, R, B, sequence_lens (omitted), initial_h, initial_c; outputs: Y (omitted), Y_h, Y_c
            m.AddNode("LSTM", new[] { x, wrb[0], wrb[1], wrb[2], "", $"h{l}", $"c{l}" }, new[] { "", $"Yh{l}", $"Yc{l}" },
                OnnxAttribute.Of("hidden_size", (long)h), OnnxAttribute.Of("direction", "forward"));
            m.AddOutput($"Yh{l}", 1, 1, h);
            m.AddOutput($"Yc{l}", 1, 1, h);
            x = $"Yh{l}";
        }
        CheckConsumed(off, parameters.Length);
        return m.ToBytes();
    }

    private static string[] AddWeights(OnnxModelWriter m, int l, int inputs, int h, ReadOnlySpan<float> parameters, ref int off)
    {
        int g = 4 * h;
        m.AddInitializer($"W{l}", new long[] { 1, g, inputs }, Reorder(parameters.Slice(off, g * inputs), h, inputs)); off += g * inputs;
        m.AddInitializer($"R{l}", new long[] { 1, g, h }, Reorder(parameters.Slice(off, g * h), h, h)); off += g * h;
        var b = new float[2 * g];
        Reorder(parameters.Slice(off, g), h, 1).CopyTo(b, 0); off += g;   // Wb = bias_ih
        Reorder(parameters.Slice(off, g), h, 1).CopyTo(b, g); off += g;   // Rb = bias_hh
        m.AddInitializer($"B{l}", new long[] { 1, 2 * g }, b);
        return new[] { $"W{l}", $"R{l}", $"B{l}" };
    }

    private static void CheckConsumed(int used, int length)
    {
        if (used != length) throw new ArgumentException($"Expected {used} parameters, got {length}.");
    }

    /// <summary>Reorders the 4 gate blocks (each H rows of <paramref name="cols"/>) from PyTorch to ONNX order.</summary>
    private static float[] Reorder(ReadOnlySpan<float> pt, int h, int cols)
    {
        int block = h * cols;
        var onnx = new float[4 * block];
        for (int d = 0; d < 4; d++)
            pt.Slice(PtBlock[d] * block, block).CopyTo(onnx.AsSpan(d * block, block));
        return onnx;
    }

    public void Dispose()
    {
        _seqBinding.Dispose(); _stepAB.Dispose(); _stepBA.Dispose();
        foreach (var v in _values) v.Dispose();
        _seqSession.Dispose(); _stepSession.Dispose();
        _runOptions.Dispose();
    }
}
