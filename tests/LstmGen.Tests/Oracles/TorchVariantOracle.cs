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

/// <summary>
/// libtorch autograd through LSTM with projection written with torch ops (TorchSharp's nn.LSTM has no proj_size), step by
/// step as docs/maths.md §1 and PyTorch's documentation define it: gates = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh (order i, f, g, o),
/// c = f⊙c + i⊙g, h = (o⊙tanh c)·W_hrᵀ; stacked layers, then the Linear head; float64; MSE over every output.
/// </summary>
public static class TorchProjectionOracle
{
    public static (float[] Outputs, Dictionary<string, float[]> Gradients) Run(VariantConfig cfg, LstmParameters parameters, float[] inputs, int T, float[] targets)
    {
        if (TorchOracle.UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        if (cfg.D != 1 || cfg.Peepholes || cfg.LearnInit || !cfg.Bias) throw new ArgumentException("forward-only projection models with biases");
        var dtype = ScalarType.Float64;
        using var scope = torch.NewDisposeScope();
        var leaves = new Dictionary<string, Tensor>();
        foreach (var t in parameters.Tensors)
        {
            long[] shape = t.Rank == 1 ? new long[] { t.Rows } : new long[] { t.Rows, t.Columns };
            var leaf = torch.tensor(t.Values.ToArray().Select(v => (double)v).ToArray(), shape, dtype);
            leaf.requires_grad = true;
            leaves[t.Name] = leaf;
        }
        var x = torch.tensor(inputs.Select(v => (double)v).ToArray(), new long[] { T, cfg.I }, dtype);
        var layerInput = Enumerable.Range(0, T).Select(t => x[t].unsqueeze(0)).ToList();   // (1, I) rows
        for (int k = 0; k < cfg.L; k++)
        {
            var h = torch.zeros(new long[] { 1, cfg.P }, dtype);
            var c = torch.zeros(new long[] { 1, cfg.H }, dtype);
            var outputs = new List<Tensor>();
            for (int t = 0; t < T; t++)
            {
                var a = torch.nn.functional.linear(layerInput[t], leaves[$"weight_ih_l{k}"], leaves[$"bias_ih_l{k}"])
                        + torch.nn.functional.linear(h, leaves[$"weight_hh_l{k}"], leaves[$"bias_hh_l{k}"]);
                var g = a.chunk(4, 1);
                c = g[1].sigmoid() * c + g[0].sigmoid() * g[2].tanh();
                var m = g[3].sigmoid() * c.tanh();
                h = torch.nn.functional.linear(m, leaves[$"weight_hr_l{k}"]);
                outputs.Add(h);
            }
            layerInput = outputs;
        }
        var top = torch.cat(layerInput, 0);                                   // (T, P)
        var y = cfg.O > 0 ? torch.nn.functional.linear(top, leaves["fc.weight"], leaves["fc.bias"]) : top;
        var target = torch.tensor(targets.Select(v => (double)v).ToArray(), y.shape, dtype);
        torch.nn.functional.mse_loss(y, target).backward();
        var grads = leaves.ToDictionary(p => p.Key, p => p.Value.grad!.contiguous().data<double>().ToArray().Select(v => (float)v).ToArray());
        return (y.detach().contiguous().data<double>().ToArray().Select(v => (float)v).ToArray(), grads);
    }
}
