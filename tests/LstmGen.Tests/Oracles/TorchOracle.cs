using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace LstmGen.Tests.Oracles;

/// <summary>
/// Result of an oracle run. <c>Output</c>: T*O when outputSize &gt; 0 (head applied at every step),
/// else T*H (last layer's h_t for each t). <c>HN</c>, <c>CN</c>: L*H, layer-major.
/// </summary>
public sealed record OracleResult(float[] Output, float[] HN, float[] CN);

/// <summary>Activation applied after the dense head (softmax is over the O outputs of one step).</summary>
public enum HeadActivation { None, Sigmoid, Tanh, Softmax }

/// <summary>
/// Oracle 1: libtorch (TorchSharp-cpu) — a real <c>torch.nn.LSTM</c> (seq-major, batch 1) plus
/// <c>torch.nn.Linear</c>, float32, one intra-op thread. Parameters are copied in under no_grad.
/// Needs the GLIBCXX_3.4.32 weak patch on Debian 12 (tests/tools/patch-glibcxx-weak.py, run after build).
/// </summary>
public static class TorchOracle
{
    private static readonly Lazy<string?> Probe = new(ProbeTorch, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True if libtorch loads and computes; never throws.</summary>
    public static bool IsAvailable => UnavailableReason is null;

    /// <summary>Why <see cref="IsAvailable"/> is false (null when available).</summary>
    public static string? UnavailableReason => Probe.Value;

    private static string? ProbeTorch()
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            torch.set_num_threads(1);
            using var a = torch.ones(new long[] { 2 }, ScalarType.Float32);
            using var b = a * 2;
            float s = b.sum().item<float>();
            if (s != 4f) return "libtorch loaded but computed 2*ones(2).sum() = " + s;
            // nn.LSTM itself, once: on a CPU where oneDNN's RNN path is broken every torch test would otherwise fail
            // with a different, unexplained difference (see OneDnn).
            return OneDnn.CheckLstm();
        }
        catch (Exception ex)
        {
            var inner = ex;
            var msg = new List<string>();
            while (inner is not null) { msg.Add(inner.GetType().Name + ": " + inner.Message); inner = inner.InnerException; }
            return "TorchSharp/libtorch unavailable (on Debian 12, was tests/tools/patch-glibcxx-weak.py run on the build output?): "
                   + string.Join(" --> ", msg);
        }
    }

    /// <summary>Runs the stacked LSTM (+ optional head) on one sequence from zero state.</summary>
    /// <param name="parameters">Flat PyTorch order; see the class README.</param>
    /// <param name="inputs">T*I, time-major.</param>
    public static OracleResult Run(int inputSize, int hiddenSize, int numLayers, bool bias, int outputSize, HeadActivation activation,
                                   ReadOnlySpan<float> parameters, ReadOnlySpan<float> inputs, int seqLen)
    {
        if (UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        if (inputSize <= 0 || hiddenSize <= 0 || numLayers <= 0 || outputSize < 0 || seqLen <= 0)
            throw new ArgumentException("sizes must be positive (outputSize >= 0)");
        if (inputs.Length != seqLen * inputSize)
            throw new ArgumentException($"inputs has {inputs.Length} values, expected T*I = {seqLen * inputSize}");

        int H = hiddenSize, G = 4 * hiddenSize;
        var tensors = new List<(string Name, long[] Shape)>();
        for (int k = 0; k < numLayers; k++)
        {
            int ik = k == 0 ? inputSize : H;
            tensors.Add(($"weight_ih_l{k}", new long[] { G, ik }));
            tensors.Add(($"weight_hh_l{k}", new long[] { G, H }));
            if (bias)
            {
                tensors.Add(($"bias_ih_l{k}", new long[] { G }));
                tensors.Add(($"bias_hh_l{k}", new long[] { G }));
            }
        }
        if (outputSize > 0)
        {
            tensors.Add(("fc.weight", new long[] { outputSize, H }));
            tensors.Add(("fc.bias", new long[] { outputSize }));
        }
        long expected = tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
        if (parameters.Length != expected)
            throw new ArgumentException($"parameters has {parameters.Length} values, expected {expected}");

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var lstm = torch.nn.LSTM(inputSize, H, numLayers, bias: bias, batchFirst: false);
        using var fc = outputSize > 0 ? torch.nn.Linear(H, outputSize, hasBias: true) : null;

        var byName = new Dictionary<string, Tensor>();
        foreach (var (name, p) in lstm.named_parameters()) byName[name] = p;
        if (fc is not null)
        {
            byName["fc.weight"] = fc.weight!;
            byName["fc.bias"] = fc.bias!;
        }

        int offset = 0;
        foreach (var (name, shape) in tensors)
        {
            if (!byName.TryGetValue(name, out var p))
                throw new InvalidOperationException($"torch.nn.LSTM has no parameter '{name}' (has: {string.Join(", ", byName.Keys)})");
            int n = (int)shape.Aggregate(1L, (a, b) => a * b);
            if (!p.shape.SequenceEqual(shape))
                throw new InvalidOperationException($"'{name}' has shape [{string.Join(",", p.shape)}], expected [{string.Join(",", shape)}]");
            using var src = torch.tensor(parameters.Slice(offset, n).ToArray(), shape, ScalarType.Float32);
            p.copy_(src);
            offset += n;
        }

        var x = torch.tensor(inputs.ToArray(), new long[] { seqLen, 1, inputSize }, ScalarType.Float32);
        var h0 = torch.zeros(new long[] { numLayers, 1, H }, ScalarType.Float32);
        var c0 = torch.zeros(new long[] { numLayers, 1, H }, ScalarType.Float32);
        var (y, hn, cn) = lstm.call(x, (h0, c0));                // y: (T, 1, H); hn, cn: (L, 1, H)

        Tensor output = y.reshape(seqLen, H);
        if (fc is not null)
        {
            output = fc.call(output);                             // (T, O)
            output = activation switch
            {
                HeadActivation.None => output,
                HeadActivation.Sigmoid => torch.sigmoid(output),
                HeadActivation.Tanh => torch.tanh(output),
                HeadActivation.Softmax => torch.softmax(output, -1),
                _ => throw new ArgumentOutOfRangeException(nameof(activation)),
            };
        }

        return new OracleResult(ToArray(output), ToArray(hn), ToArray(cn));
    }

    private static float[] ToArray(Tensor t) => t.contiguous().data<float>().ToArray();
}
