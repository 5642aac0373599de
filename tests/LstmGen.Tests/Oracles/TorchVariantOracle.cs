using System;
using System.Collections.Generic;
using System.Linq;
using LstmGen.Tests.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace LstmGen.Tests.Oracles;

/// <summary>
/// libtorch (TorchSharp-cpu) as the oracle for the layer options torch.nn.LSTM itself has: <c>bidirectional</c>, stacked
/// layers with <c>dropout</c> (in eval mode, where it must be the identity), batch_first batches and a given (h_0, c_0).
/// Parameters are copied by their state-dict names; gradients come from autograd on
/// <c>mse_loss(fc(lstm(x, (h0, c0))), targets)</c> (mean over every element), float64 so the comparison measures our float32.
/// TorchSharp 0.107 has no <c>proj_size</c>, so projection is checked against the double reference instead.
/// </summary>
public static class TorchVariantOracle
{
    public sealed record Result(float[] Outputs, float[] HN, float[] CN, Dictionary<string, float[]> Gradients, float[] DH0, float[] DC0);

    /// <param name="parameters">The model's parameters (names as torch.nn.LSTM + "fc." names them).</param>
    /// <param name="inputs">B·T·I, batch-first.</param>
    /// <param name="h0">(L·D)·B·H initial h (PyTorch layout), or null for zero; <paramref name="c0"/> likewise.</param>
    /// <param name="targets">B·T·Width for the MSE gradients, or null for the forward pass only.</param>
    public static Result Run(VariantConfig cfg, LstmParameters parameters, float dropout, float[] inputs, int batch, int T,
        float[]? h0, float[]? c0, float[]? targets)
    {
        if (TorchOracle.UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        if (cfg.P > 0 || cfg.Peepholes || cfg.LearnInit) throw new ArgumentException("torch.nn.LSTM has no projection (in TorchSharp), peepholes or learned initial state");
        var dtype = ScalarType.Float64;
        using var scope = torch.NewDisposeScope();
        using var lstm = torch.nn.LSTM(cfg.I, cfg.H, cfg.L, bias: cfg.Bias, batchFirst: true, dropout: dropout, bidirectional: cfg.D == 2);
        lstm.to(dtype);
        lstm.eval();
        using var fc = cfg.O > 0 ? torch.nn.Linear(cfg.Row, cfg.O, hasBias: true) : null;
        fc?.to(dtype);
        var byName = new Dictionary<string, Tensor>();
        foreach (var (name, p) in lstm.named_parameters()) byName[name] = p;
        if (fc is not null) { byName["fc.weight"] = fc.weight!; byName["fc.bias"] = fc.bias!; }
        if (byName.Count != parameters.Tensors.Count)
            throw new InvalidOperationException($"torch has {byName.Count} tensors ({string.Join(", ", byName.Keys)}), the model {parameters.Tensors.Count}");
        using (torch.no_grad())
        {
            foreach (var t in parameters.Tensors)
            {
                var p = byName[t.Name];
                using var src = torch.tensor(t.Values.ToArray().Select(v => (double)v).ToArray(), p.shape, dtype);
                p.copy_(src);
            }
        }
        var x = torch.tensor(inputs.Select(v => (double)v).ToArray(), new long[] { batch, T, cfg.I }, dtype);
        long[] stateShape = { cfg.L * cfg.D, batch, cfg.H };
        var h = h0 is null ? torch.zeros(stateShape, dtype) : torch.tensor(h0.Select(v => (double)v).ToArray(), stateShape, dtype);
        var c = c0 is null ? torch.zeros(stateShape, dtype) : torch.tensor(c0.Select(v => (double)v).ToArray(), stateShape, dtype);
        h.requires_grad = true; c.requires_grad = true;
        var (y, hn, cn) = lstm.call(x, (h, c));                     // y: (B, T, D·H)
        Tensor output = fc is null ? y : fc.call(y);
        var grads = new Dictionary<string, float[]>();
        float[] dh0 = Array.Empty<float>(), dc0 = Array.Empty<float>();
        if (targets is not null)
        {
            var target = torch.tensor(targets.Select(v => (double)v).ToArray(), output.shape, dtype);
            var loss = torch.nn.functional.mse_loss(output, target);
            loss.backward();
            foreach (var t in parameters.Tensors) grads[t.Name] = ToFloat(byName[t.Name].grad!);
            dh0 = ToFloat(h.grad!); dc0 = ToFloat(c.grad!);
        }
        return new Result(ToFloat(output), ToFloat(hn), ToFloat(cn), grads, dh0, dc0);
    }

    private static float[] ToFloat(Tensor t) => t.detach().contiguous().data<double>().ToArray().Select(v => (float)v).ToArray();
}
