using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LstmGen.Tests.Oracles;

/// <summary>
/// The GRU oracle in libtorch (TorchSharp-cpu): a real <c>torch.nn.GRU</c> (batch_first, stacked, optionally
/// bidirectional and without bias) plus <c>torch.nn.Linear</c> over the top layer's output, float32, one intra-op thread;
/// autograd for the gradients of the mean squared error over every output of every step; <c>torch.optim.Adam</c> for
/// training steps. Parameters are a generated model's <see cref="LstmParameters"/>, matched by PyTorch name (a learned
/// initial state <c>initial_h_l{k}[_reverse]</c> becomes the GRU's h_0, a leaf with its own gradient); gradients and
/// parameters come back in the model's order. Availability: <see cref="TorchOracle.IsAvailable"/>.
/// </summary>
public static class TorchGruOracle
{
    public readonly record struct Shape(int I, int H, int L, bool Bidirectional, bool Bias, int O, bool LearnInitialState)
    {
        public int D => Bidirectional ? 2 : 1;
        public int C => O > 0 ? O : D * H;
    }

    /// <summary>Outputs of every step for B sequences (inputs B·T·I, batch-first): B·T·C values.</summary>
    public static float[] Forward(Shape s, LstmParameters p, ReadOnlySpan<float> inputs, int steps, int batch)
    {
        using var scope = torch.NewDisposeScope();
        using var net = new Net(s, p);
        using var noGrad = torch.no_grad();
        var y = net.Output(MakeInputs(inputs, steps, batch, s.I), batch);
        return y.contiguous().data<float>().ToArray();
    }

    /// <summary>The mean squared error against targets (B·T·C) and its gradient, in the model's parameter order.</summary>
    public static (float Loss, float[] Gradients) Gradients(Shape s, LstmParameters p, ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int steps, int batch)
    {
        using var scope = torch.NewDisposeScope();
        using var net = new Net(s, p);
        var loss = Loss(net, s, inputs, targets, steps, batch);
        loss.backward();
        return (loss.item<float>(), net.Flat(grad: true));
    }

    /// <summary><paramref name="count"/> Adam steps (torch.optim.Adam, PyTorch's defaults but the learning rate); the parameters after the last, in the model's order.</summary>
    public static float[] TrainAdam(Shape s, LstmParameters p, ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int steps, int batch, float learningRate, int count)
    {
        using var scope = torch.NewDisposeScope();
        using var net = new Net(s, p);
        using var opt = torch.optim.Adam(net.Leaves, learningRate);
        for (int k = 0; k < count; k++)
        {
            using var stepScope = torch.NewDisposeScope();
            opt.zero_grad();
            Loss(net, s, inputs, targets, steps, batch).backward();
            opt.step();
        }
        return net.Flat(grad: false);
    }

    private static Tensor Loss(Net net, Shape s, ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int steps, int batch)
    {
        var y = net.Output(MakeInputs(inputs, steps, batch, s.I), batch);
        var t = torch.tensor(targets.ToArray(), new long[] { batch, steps, s.C }, ScalarType.Float32);
        return torch.nn.functional.mse_loss(y, t);
    }

    private static Tensor MakeInputs(ReadOnlySpan<float> inputs, int steps, int batch, int i) =>
        torch.tensor(inputs.ToArray(), new long[] { batch, steps, i }, ScalarType.Float32);

    /// <summary>nn.GRU + nn.Linear, each torch parameter tied to the generated model's tensor of the same name.</summary>
    private sealed class Net : IDisposable
    {
        private readonly Shape _s;
        private readonly GRU _gru;
        private readonly Linear? _fc;
        private readonly Parameter? _h0;
        /// <summary>The model's tensors in its order, each with the torch leaf it is copied into.</summary>
        private readonly List<(ParameterTensor Model, Parameter Leaf)> _tied = new();

        public IEnumerable<Parameter> Leaves => _tied.Select(t => t.Leaf).Distinct();

        public Net(Shape s, LstmParameters p)
        {
            if (TorchOracle.UnavailableReason is { } reason) throw new InvalidOperationException(reason);
            _s = s;
            _gru = torch.nn.GRU(s.I, s.H, s.L, bias: s.Bias, batchFirst: true, bidirectional: s.Bidirectional);
            _fc = s.O > 0 ? torch.nn.Linear(s.D * s.H, s.O, hasBias: true) : null;
            var byName = new Dictionary<string, Parameter>();
            foreach (var (name, t) in _gru.named_parameters()) byName[name] = t;
            if (_fc is not null)
                foreach (var (name, t) in _fc.named_parameters()) byName["fc." + name] = t;
            if (s.LearnInitialState)
            {
                _h0 = torch.nn.Parameter(torch.zeros(new long[] { s.L * s.D, 1, s.H }, ScalarType.Float32));
                for (int u = 0; u < s.L * s.D; u++)
                    byName[$"initial_h_l{u / s.D}{(u % s.D == 1 ? "_reverse" : "")}"] = _h0;
            }
            using var noGrad = torch.no_grad();
            foreach (var t in p.Tensors)
            {
                if (!byName.TryGetValue(t.Name, out var leaf))
                    throw new InvalidOperationException($"torch has no tensor for the model's '{t.Name}' (has {string.Join(", ", byName.Keys)})");
                _tied.Add((t, leaf));
                Slot(t, leaf).copy_(torch.tensor(t.Values.ToArray(), Slot(t, leaf).shape, ScalarType.Float32));
            }
            if (_tied.Count != byName.Count)
                throw new InvalidOperationException($"the model has {_tied.Count} tensors, torch {byName.Count}");
        }

        /// <summary>The part of <paramref name="leaf"/> that holds model tensor <paramref name="t"/> (one direction's h_0 of the shared h_0 leaf).</summary>
        private Tensor Slot(ParameterTensor t, Tensor leaf)
        {
            if (!t.Name.StartsWith("initial_h_l", StringComparison.Ordinal)) return leaf;
            string rest = t.Name.Substring("initial_h_l".Length);
            bool reverse = rest.EndsWith("_reverse", StringComparison.Ordinal);
            int layer = int.Parse(reverse ? rest[..^"_reverse".Length] : rest, System.Globalization.CultureInfo.InvariantCulture);
            return leaf[layer * _s.D + (reverse ? 1 : 0), 0];
        }

        public Tensor Output(Tensor x, int batch)
        {
            Tensor h0 = _h0 is null ? torch.zeros(new long[] { _s.L * _s.D, batch, _s.H }, ScalarType.Float32) : _h0.expand(_s.L * _s.D, batch, _s.H);
            var (y, _) = _gru.call(x, h0);
            return _fc is not null ? _fc.call(y) : y;
        }

        public float[] Flat(bool grad)
        {
            var r = new List<float>();
            foreach (var (t, leaf) in _tied)
            {
                var source = grad ? leaf.grad ?? throw new InvalidOperationException($"'{t.Name}' has no gradient") : leaf;
                r.AddRange(Slot(t, source).detach().contiguous().data<float>().ToArray());
            }
            return r.ToArray();
        }

        public void Dispose()
        {
            _fc?.Dispose();
            _gru.Dispose();
        }
    }
}
