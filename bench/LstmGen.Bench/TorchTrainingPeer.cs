using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LstmGen.Bench;

/// <summary>
/// libtorch (TorchSharp-cpu) training the way a user would: <c>nn.LSTM</c> (batch_first, zero initial state) plus
/// <c>nn.Linear</c>, <c>nn.functional.mse_loss</c> (mean over every output), <c>backward()</c> and
/// <c>torch.optim.SGD</c> (no momentum), one intra-op thread. Inputs, targets and the zero (h0, c0) are tensors made once
/// in the constructor, so a timed step measures zero_grad + forward + loss + backward + update, not tensor creation;
/// the loss stays in libtorch (no <c>item()</c> in the timed step), which favours torch slightly.
/// </summary>
public sealed class TorchTrainingPeer : IDisposable
{
    private readonly LSTM _lstm;
    private readonly Linear _fc;
    private readonly Parameter[] _ordered;   // the model's parameters in LstmGen's (PyTorch) order
    private readonly torch.optim.Optimizer _optimizer;
    private readonly Tensor _x, _targets, _h0, _c0;

    /// <param name="tensors">LstmGen's parameter tensors (names and shapes, PyTorch order); the torch parameters are matched by name.</param>
    /// <param name="parameters">Flat values for <paramref name="tensors"/>.</param>
    /// <param name="inputs">B·T·I inputs (sequence b at offset b·T·I, time-major within it).</param>
    /// <param name="targets">B·T·O targets (every step).</param>
    public TorchTrainingPeer(int inputSize, int hiddenSize, int numLayers, int outputSize, IReadOnlyList<ParameterTensor> tensors,
        ReadOnlySpan<float> parameters, ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int steps, int batch, float learningRate)
    {
        TorchPeer.EnsureAvailable();
        torch.set_num_threads(1);   // again, on the thread that runs the benchmark
        _lstm = torch.nn.LSTM(inputSize, hiddenSize, numLayers, bias: true, batchFirst: true);
        _fc = torch.nn.Linear(hiddenSize, outputSize, hasBias: true);

        var byName = new Dictionary<string, Parameter>(StringComparer.Ordinal);
        foreach (var (name, p) in _lstm.named_parameters()) byName[name] = p;
        foreach (var (name, p) in _fc.named_parameters()) byName["fc." + name] = p;
        if (byName.Count != tensors.Count)
            throw new InvalidOperationException($"torch has {byName.Count} parameter tensors ({string.Join(", ", byName.Keys)}), LstmGen {tensors.Count}.");
        _ordered = new Parameter[tensors.Count];
        for (int k = 0; k < tensors.Count; k++)
        {
            var t = tensors[k];
            if (!byName.TryGetValue(t.Name, out var p))
                throw new InvalidOperationException($"torch has no parameter '{t.Name}' (has: {string.Join(", ", byName.Keys)})");
            long[] shape = t.Rank == 1 ? new long[] { t.Rows } : new long[] { t.Rows, t.Columns };
            if (!p.shape.SequenceEqual(shape))
                throw new InvalidOperationException($"'{t.Name}' has shape [{string.Join(",", p.shape)}] in torch, [{string.Join(",", shape)}] in LstmGen");
            _ordered[k] = p;
        }
        Load(tensors, parameters);

        _optimizer = torch.optim.SGD(_ordered, learningRate, 0.0, 0.0, 0.0, false);
        _x = torch.tensor(inputs.ToArray(), new long[] { batch, steps, inputSize }, ScalarType.Float32);
        _targets = torch.tensor(targets.ToArray(), new long[] { batch, steps, outputSize }, ScalarType.Float32);
        _h0 = torch.zeros(new long[] { numLayers, batch, hiddenSize }, ScalarType.Float32);
        _c0 = torch.zeros(new long[] { numLayers, batch, hiddenSize }, ScalarType.Float32);
    }

    /// <summary>Overwrites every parameter (flat, in the order of <paramref name="tensors"/>).</summary>
    public void Load(IReadOnlyList<ParameterTensor> tensors, ReadOnlySpan<float> parameters)
    {
        using var noGrad = torch.no_grad();
        for (int k = 0; k < tensors.Count; k++)
        {
            var t = tensors[k];
            using var src = torch.tensor(parameters.Slice(t.Offset, t.Length).ToArray(), _ordered[k].shape, ScalarType.Float32);
            _ordered[k].copy_(src);
        }
    }

    /// <summary>Every parameter, flat, in LstmGen's order.</summary>
    public float[] Parameters()
    {
        var all = new List<float>();
        foreach (var p in _ordered)
        {
            using var d = p.detach();
            using var c = d.contiguous();
            all.AddRange(c.data<float>().ToArray());
        }
        return all.ToArray();
    }

    /// <summary>One training step (the timed call): zero_grad, forward, MSE, backward, SGD step.</summary>
    public void Step()
    {
        using var scope = torch.NewDisposeScope();
        _optimizer.zero_grad();
        var (y, _, _) = _lstm.call(_x, (_h0, _c0));   // (B, T, H)
        var loss = torch.nn.functional.mse_loss(_fc.call(y), _targets);
        loss.backward();
        _optimizer.step();
    }

    /// <summary>One training step that also returns the loss before the update (validation only).</summary>
    public float StepWithLoss()
    {
        using var scope = torch.NewDisposeScope();
        _optimizer.zero_grad();
        var (y, _, _) = _lstm.call(_x, (_h0, _c0));
        var loss = torch.nn.functional.mse_loss(_fc.call(y), _targets);
        float value = loss.item<float>();
        loss.backward();
        _optimizer.step();
        return value;
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _lstm.Dispose();
        _fc.Dispose();
        _x.Dispose(); _targets.Dispose(); _h0.Dispose(); _c0.Dispose();
    }
}
