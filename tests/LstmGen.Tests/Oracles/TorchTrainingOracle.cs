using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LstmGen.Tests.Oracles;

/// <summary>Loss used by <see cref="TorchTrainingOracle"/> (reduction: mean over every target element of the whole batch).</summary>
public enum OracleLoss
{
    /// <summary><c>torch.nn.functional.mse_loss(act(z), t)</c>, act = the head activation.</summary>
    MeanSquaredError,
    /// <summary><c>torch.nn.functional.cross_entropy(z, classIndex)</c> on the logits z (the head activation is ignored).</summary>
    CrossEntropy,
    /// <summary><c>torch.nn.functional.binary_cross_entropy_with_logits(z, t)</c> on the logits z (the head activation is ignored).</summary>
    BinaryCrossEntropyWithLogits,
}

/// <summary>Optimizer used by <see cref="TorchTrainingOracle.Train"/> (TorchSharp's <c>torch.optim</c>).</summary>
public enum OracleOptimizer
{
    /// <summary><c>SGD(lr, momentum, dampening: 0, weight_decay, nesterov: false)</c>.</summary>
    Sgd,
    /// <summary><c>SGD(lr, momentum, dampening: 0, weight_decay, nesterov: true)</c>; momentum must be &gt; 0.</summary>
    SgdNesterov,
    /// <summary><c>Adam(lr, betas (0.9, 0.999), eps 1e-8, weight_decay)</c> (L2 penalty added to the gradient).</summary>
    Adam,
    /// <summary><c>AdamW(lr, betas (0.9, 0.999), eps 1e-8, weight_decay)</c> (decoupled: p *= 1 - lr*wd).</summary>
    AdamW,
}

/// <summary>
/// Training oracle: libtorch (TorchSharp-cpu) autograd through a real <c>torch.nn.LSTM</c> (batch_first, batch B, zero
/// initial state) plus <c>torch.nn.Linear</c>, float32, one intra-op thread, and TorchSharp's <c>torch.optim</c>
/// SGD / Adam / AdamW plus <c>torch.nn.utils.clip_grad_norm_</c>.
/// Layouts: <c>parameters</c> (and every returned parameter/gradient vector) are the flat PyTorch order of
/// <see cref="TorchOracle"/>; <c>inputs</c> is B*T*I (sequence b at offset b*T*I, time-major within it);
/// <c>targets</c> for MSE/BCE is B*T*C (every step) or B*C (last step only), for CE B*T or B class indices stored as floats,
/// where C = outputSize, or hiddenSize when outputSize == 0 (then the "logits" are the top layer's h).
/// Availability: <see cref="TorchOracle.IsAvailable"/> / <see cref="TorchOracle.UnavailableReason"/>.
/// </summary>
public static class TorchTrainingOracle
{
    /// <summary>Adam/AdamW hyper-parameters not exposed by <see cref="Train"/> (PyTorch defaults).</summary>
    public const double AdamBeta1 = 0.9, AdamBeta2 = 0.999, AdamEps = 1e-8;

    /// <summary>Gradient of the mean loss w.r.t. every parameter (flat PyTorch order) and the loss, in float32.</summary>
    public static (float Loss, float[] Gradients) Gradients(int inputSize, int hiddenSize, int numLayers, bool bias, int outputSize,
        HeadActivation activation, OracleLoss loss, ReadOnlySpan<float> parameters, ReadOnlySpan<float> inputs, int seqLen, int batch,
        ReadOnlySpan<float> targets, bool lastStepOnly)
    {
        var cfg = new Config(inputSize, hiddenSize, numLayers, bias, outputSize, activation, loss, seqLen, batch, lastStepOnly);
        var (l, g) = Evaluate(cfg, ScalarType.Float32, ToDouble(parameters), ToDouble(inputs), ToDouble(targets), withGradient: true);
        return ((float)l, g!.Select(v => (float)v).ToArray());
    }

    /// <summary>
    /// <paramref name="steps"/> optimizer steps on the same data (zero_grad, forward, loss, backward, clip_grad_norm_ when
    /// clipNorm &gt; 0, step). Returns the flat parameters after every step and the loss of every step (before its update).
    /// <paramref name="momentum"/> is used by the SGD variants only.
    /// </summary>
    public static (float[][] ParametersAfterEachStep, float[] Losses) Train(int inputSize, int hiddenSize, int numLayers, bool bias, int outputSize,
        HeadActivation activation, OracleLoss loss, ReadOnlySpan<float> parameters, ReadOnlySpan<float> inputs, int seqLen, int batch,
        ReadOnlySpan<float> targets, bool lastStepOnly, OracleOptimizer optimizer, float learningRate, float momentum, float weightDecay, float clipNorm, int steps)
    {
        var cfg = new Config(inputSize, hiddenSize, numLayers, bias, outputSize, activation, loss, seqLen, batch, lastStepOnly);
        if (TorchOracle.UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps));
        cfg.Validate(parameters.Length, inputs.Length, targets);

        var after = new float[steps][];
        var losses = new float[steps];
        using var scope = torch.NewDisposeScope();
        using var net = new Net(cfg, ScalarType.Float32);
        net.Load(ToDouble(parameters));
        var x = MakeInputs(cfg, ToDouble(inputs), ScalarType.Float32);
        var t = MakeTargets(cfg, ToDouble(targets), ScalarType.Float32);

        IEnumerable<Parameter> ps = net.Parameters;
        using torch.optim.Optimizer opt = optimizer switch
        {
            OracleOptimizer.Sgd => torch.optim.SGD(ps, learningRate, momentum, 0.0, weightDecay, false),
            OracleOptimizer.SgdNesterov => torch.optim.SGD(ps, learningRate, momentum, 0.0, weightDecay, true),
            OracleOptimizer.Adam => torch.optim.Adam(ps, learningRate, AdamBeta1, AdamBeta2, AdamEps, weightDecay),
            OracleOptimizer.AdamW => torch.optim.AdamW(ps, learningRate, AdamBeta1, AdamBeta2, AdamEps, weightDecay),
            _ => throw new ArgumentOutOfRangeException(nameof(optimizer)),
        };

        for (int s = 0; s < steps; s++)
        {
            using var stepScope = torch.NewDisposeScope();
            opt.zero_grad();
            var l = net.Loss(x, t);
            losses[s] = l.item<float>();
            l.backward();
            if (clipNorm > 0) torch.nn.utils.clip_grad_norm_(net.Parameters, clipNorm);
            opt.step();
            after[s] = net.FlatFloat();
        }
        return (after, losses);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Internals (also used by the self-tests: Evaluate in float64 gives the finite-difference reference).

    internal readonly record struct Config(int I, int H, int L, bool Bias, int O, HeadActivation Activation, OracleLoss Loss,
                                           int T, int B, bool LastStepOnly)
    {
        /// <summary>Width of the head's logits: O, or H without a head.</summary>
        public int C => O > 0 ? O : H;

        public long ParameterCount
        {
            get
            {
                long n = 0;
                for (int k = 0; k < L; k++) n += 4L * H * ((k == 0 ? I : H) + H) + (Bias ? 8L * H : 0);
                return n + (O > 0 ? (long)O * H + O : 0);
            }
        }

        public long TargetCount => (long)B * (LastStepOnly ? 1 : T) * (Loss == OracleLoss.CrossEntropy ? 1 : C);

        public void Validate(int parameterCount, int inputCount, ReadOnlySpan<float> targets)
        {
            if (I <= 0 || H <= 0 || L <= 0 || O < 0 || T <= 0 || B <= 0)
                throw new ArgumentException("sizes must be positive (outputSize >= 0)");
            if (O == 0 && Activation != HeadActivation.None)
                throw new ArgumentException("a head activation requires outputSize > 0");
            if (!Enum.IsDefined(Loss)) throw new ArgumentOutOfRangeException(nameof(Loss));
            if (parameterCount != ParameterCount)
                throw new ArgumentException($"parameters has {parameterCount} values, expected {ParameterCount}");
            if (inputCount != (long)B * T * I)
                throw new ArgumentException($"inputs has {inputCount} values, expected B*T*I = {(long)B * T * I}");
            if (targets.Length != TargetCount)
                throw new ArgumentException($"targets has {targets.Length} values, expected {TargetCount}");
            if (Loss == OracleLoss.CrossEntropy)
                foreach (var v in targets)
                    if (v != MathF.Floor(v) || v < 0 || v >= C)
                        throw new ArgumentException($"cross-entropy target {v} is not a class index in [0, {C})");
        }
    }

    /// <summary>Mean loss (and, optionally, its gradient in flat PyTorch order) computed in <paramref name="dtype"/>.</summary>
    internal static (double Loss, double[]? Gradients) Evaluate(Config cfg, ScalarType dtype, double[] parameters, double[] inputs,
                                                                double[] targets, bool withGradient)
    {
        if (TorchOracle.UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        cfg.Validate(parameters.Length, inputs.Length, targets.Select(v => (float)v).ToArray());

        using var scope = torch.NewDisposeScope();
        using var net = new Net(cfg, dtype);
        net.Load(parameters);
        var x = MakeInputs(cfg, inputs, dtype);
        var t = MakeTargets(cfg, targets, dtype);
        if (!withGradient)
        {
            using var noGrad = torch.no_grad();
            return (net.Loss(x, t).to_type(ScalarType.Float64).item<double>(), null);
        }
        var l = net.Loss(x, t);
        double lv = l.to_type(ScalarType.Float64).item<double>();
        l.backward();
        var g = new List<double>((int)cfg.ParameterCount);
        foreach (var p in net.Parameters)
        {
            var grad = p.grad ?? throw new InvalidOperationException("a parameter received no gradient");
            g.AddRange(grad.to_type(ScalarType.Float64).contiguous().data<double>().ToArray());
        }
        return (lv, g.ToArray());
    }

    private static Tensor MakeInputs(Config cfg, double[] inputs, ScalarType dtype) =>
        torch.tensor(inputs, new long[] { cfg.B, cfg.T, cfg.I }, ScalarType.Float64).to_type(dtype);

    private static Tensor MakeTargets(Config cfg, double[] targets, ScalarType dtype)
    {
        if (cfg.Loss == OracleLoss.CrossEntropy)
            return torch.tensor(targets.Select(v => (long)v).ToArray(), new long[] { targets.Length }, ScalarType.Int64);
        var shape = cfg.LastStepOnly ? new long[] { cfg.B, cfg.C } : new long[] { cfg.B, cfg.T, cfg.C };
        return torch.tensor(targets, shape, ScalarType.Float64).to_type(dtype);
    }

    private static double[] ToDouble(ReadOnlySpan<float> v)
    {
        var r = new double[v.Length];
        for (int i = 0; i < v.Length; i++) r[i] = v[i];
        return r;
    }

    /// <summary>nn.LSTM(batch_first) + optional nn.Linear, with the parameters in flat PyTorch order.</summary>
    private sealed class Net : IDisposable
    {
        private readonly Config _cfg;
        private readonly LSTM _lstm;
        private readonly Linear? _fc;
        private readonly (Parameter P, long[] Shape)[] _ordered;

        public IReadOnlyList<Parameter> Parameters { get; }

        public Net(Config cfg, ScalarType dtype)
        {
            _cfg = cfg;
            int H = cfg.H, G = 4 * cfg.H;
            _lstm = torch.nn.LSTM(cfg.I, H, cfg.L, bias: cfg.Bias, batchFirst: true);
            _fc = cfg.O > 0 ? torch.nn.Linear(H, cfg.O, hasBias: true) : null;
            if (dtype != ScalarType.Float32)
            {
                _lstm.to(dtype);
                _fc?.to(dtype);
            }

            var byName = new Dictionary<string, Parameter>();
            foreach (var (name, p) in _lstm.named_parameters()) byName[name] = p;
            if (_fc is not null)
                foreach (var (name, p) in _fc.named_parameters()) byName["fc." + name] = p;

            var wanted = new List<(string, long[])>();
            for (int k = 0; k < cfg.L; k++)
            {
                wanted.Add(($"weight_ih_l{k}", new long[] { G, k == 0 ? cfg.I : H }));
                wanted.Add(($"weight_hh_l{k}", new long[] { G, H }));
                if (cfg.Bias)
                {
                    wanted.Add(($"bias_ih_l{k}", new long[] { G }));
                    wanted.Add(($"bias_hh_l{k}", new long[] { G }));
                }
            }
            if (_fc is not null)
            {
                wanted.Add(("fc.weight", new long[] { cfg.O, H }));
                wanted.Add(("fc.bias", new long[] { cfg.O }));
            }
            if (wanted.Count != byName.Count)
                throw new InvalidOperationException($"expected {wanted.Count} parameters, torch has {byName.Count}: {string.Join(", ", byName.Keys)}");

            _ordered = wanted.Select(w =>
            {
                if (!byName.TryGetValue(w.Item1, out var p))
                    throw new InvalidOperationException($"no torch parameter '{w.Item1}' (has: {string.Join(", ", byName.Keys)})");
                if (!p.shape.SequenceEqual(w.Item2))
                    throw new InvalidOperationException($"'{w.Item1}' has shape [{string.Join(",", p.shape)}], expected [{string.Join(",", w.Item2)}]");
                if (p.dtype != dtype)
                    throw new InvalidOperationException($"'{w.Item1}' is {p.dtype}, expected {dtype}");
                return (p, w.Item2);
            }).ToArray();
            Parameters = _ordered.Select(o => o.P).ToArray();
        }

        public void Load(double[] flat)
        {
            using var noGrad = torch.no_grad();
            int offset = 0;
            foreach (var (p, shape) in _ordered)
            {
                int n = (int)shape.Aggregate(1L, (a, b) => a * b);
                using var src = torch.tensor(flat.AsSpan(offset, n).ToArray(), shape, ScalarType.Float64);
                p.copy_(src);   // converts to the parameter's dtype
                offset += n;
            }
        }

        public double[] FlatParameters()
        {
            var r = new List<double>();
            foreach (var p in Parameters)
                r.AddRange(p.detach().to_type(ScalarType.Float64).contiguous().data<double>().ToArray());
            return r.ToArray();
        }

        public float[] FlatFloat() => FlatParameters().Select(v => (float)v).ToArray();

        /// <summary>Mean loss for inputs x (B,T,I) and targets t (see the class summary).</summary>
        public Tensor Loss(Tensor x, Tensor t)
        {
            var h0 = torch.zeros(new long[] { _cfg.L, _cfg.B, _cfg.H }, x.dtype);
            var c0 = torch.zeros(new long[] { _cfg.L, _cfg.B, _cfg.H }, x.dtype);
            var (y, _, _) = _lstm.call(x, (h0, c0));              // (B, T, H)
            Tensor z = _fc is not null ? _fc.call(y) : y;          // (B, T, C) logits
            if (_cfg.LastStepOnly) z = z.select(1, _cfg.T - 1);   // (B, C)

            switch (_cfg.Loss)
            {
                case OracleLoss.MeanSquaredError:
                    var a = _fc is null ? z : _cfg.Activation switch
                    {
                        HeadActivation.None => z,
                        HeadActivation.Sigmoid => torch.sigmoid(z),
                        HeadActivation.Tanh => torch.tanh(z),
                        HeadActivation.Softmax => torch.softmax(z, -1),
                        _ => throw new ArgumentOutOfRangeException(nameof(_cfg.Activation)),
                    };
                    return torch.nn.functional.mse_loss(a, t);            // reduction: mean (default)
                case OracleLoss.BinaryCrossEntropyWithLogits:
                    return torch.nn.functional.binary_cross_entropy_with_logits(z, t);
                case OracleLoss.CrossEntropy:
                    return torch.nn.functional.cross_entropy(z.reshape(-1, _cfg.C), t);
                default:
                    throw new ArgumentOutOfRangeException(nameof(_cfg.Loss));
            }
        }

        public void Dispose()
        {
            _fc?.Dispose();
            _lstm.Dispose();
        }
    }
}
