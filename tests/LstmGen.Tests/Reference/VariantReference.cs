using System;
using System.Collections.Generic;
using System.Linq;

namespace LstmGen.Tests.Reference;

/// <summary>The shape and options of a model, as the double-precision reference needs them.</summary>
public sealed record VariantConfig(int I, int H, int L, int D, int P, bool Peepholes, bool Bias, int O, bool LearnInit)
{
    public int Hp => P > 0 ? P : H;
    public int Row => D * Hp;
    public int Width => O > 0 ? O : Row;
    public int Units => L * D;
    public static string Name(int unit, int d) => $"l{unit}{(d == 1 ? "_reverse" : "")}";
}

/// <summary>
/// Every option of issue 6 in double precision, written from docs/maths.md §1–3 with runtime sizes and no shared code with the
/// generator: projection, peepholes, bidirectional stacking, given or learned initial state, dropout masks. Parameters are
/// read by PyTorch state-dict name from a flat array (offsets from <see cref="LstmParameters"/>).
/// </summary>
public static class VariantReference
{
    private static double Sigmoid(double a) => 1.0 / (1.0 + Math.Exp(-a));

    public sealed class Result
    {
        /// <summary>T rows of Width values: the head's output (no activation), or the last layer's [fwd ; rev] h.</summary>
        public required double[][] Outputs { get; init; }
        /// <summary>Final h and c per unit (layer·D + direction), PyTorch's h_n and c_n order.</summary>
        public required double[][] HN { get; init; }
        public required double[][] CN { get; init; }
    }

    /// <param name="offsets">Tensor name to offset in <paramref name="p"/>.</param>
    /// <param name="h0">Initial h per unit (null: zero, or the learned initial state when the model has one).</param>
    /// <param name="layerMasks">Per layer k &lt; L−1: T·Row multipliers on its output (dropout), or null.</param>
    /// <param name="recurrentMasks">Per unit: Hp multipliers on h_(t-1) before W_hh (recurrent dropout), or null.</param>
    /// <param name="quantize">Applied to x_t and to h_(t-1) before their gate products (an int8 model's activations), or null.</param>
    public static Result Forward(VariantConfig cfg, IReadOnlyDictionary<string, int> offsets, double[] p, ReadOnlySpan<float> xs, int T,
        double[][]? h0 = null, double[][]? c0 = null, double[][]? layerMasks = null, double[][]? recurrentMasks = null,
        Func<double[], double[]>? quantize = null)
    {
        int H = cfg.H, Hp = cfg.Hp, D = cfg.D;
        double W(string name, int index) => p[offsets[name] + index];
        // layer input sequence: T rows
        var input = new double[T][];
        for (int t = 0; t < T; t++) { input[t] = new double[cfg.I]; for (int j = 0; j < cfg.I; j++) input[t][j] = xs[t * cfg.I + j]; }
        var hn = new double[cfg.Units][]; var cn = new double[cfg.Units][];
        for (int k = 0; k < cfg.L; k++)
        {
            int ik = input[0].Length;
            var output = new double[T][];
            for (int t = 0; t < T; t++) output[t] = new double[cfg.Row];
            for (int d = 0; d < D; d++)
            {
                int unit = k * D + d;
                string s = VariantConfig.Name(k, d);
                int oIh = offsets["weight_ih_" + s], oHh = offsets["weight_hh_" + s];
                int oBi = cfg.Bias ? offsets["bias_ih_" + s] : -1, oBh = cfg.Bias ? offsets["bias_hh_" + s] : -1;
                int oPh = cfg.Peepholes ? offsets["weight_ph_" + s] : -1, oHr = cfg.P > 0 ? offsets["weight_hr_" + s] : -1;
                var h = new double[Hp]; var c = new double[H];
                if (h0 is not null) { Array.Copy(h0[unit], h, Hp); Array.Copy(c0![unit], c, H); }
                else if (cfg.LearnInit)
                {
                    for (int j = 0; j < Hp; j++) h[j] = W("initial_h_" + s, j);
                    for (int j = 0; j < H; j++) c[j] = W("initial_c_" + s, j);
                }
                for (int step = 0; step < T; step++)
                {
                    int t = d == 0 ? step : T - 1 - step;
                    var hr = (double[])h.Clone();
                    if (recurrentMasks is not null) for (int j = 0; j < Hp; j++) hr[j] *= recurrentMasks[unit][j];
                    var a = new double[4 * H];
                    var xq = quantize is null ? input[t] : quantize(input[t]);
                    var hq = quantize is null ? hr : quantize(hr);
                    for (int r = 0; r < 4 * H; r++)
                    {
                        double sum = cfg.Bias ? p[oBi + r] + p[oBh + r] : 0;
                        for (int j = 0; j < ik; j++) sum += p[oIh + r * ik + j] * xq[j];
                        for (int j = 0; j < Hp; j++) sum += p[oHh + r * Hp + j] * hq[j];
                        a[r] = sum;
                    }
                    var m = new double[H];
                    for (int u = 0; u < H; u++)
                    {
                        double ai = a[u], af = a[H + u], ag = a[2 * H + u], ao = a[3 * H + u];
                        if (cfg.Peepholes) { ai += p[oPh + u] * c[u]; af += p[oPh + H + u] * c[u]; }
                        double i = Sigmoid(ai), f = Sigmoid(af), g = Math.Tanh(ag);
                        c[u] = f * c[u] + i * g;
                        if (cfg.Peepholes) ao += p[oPh + 2 * H + u] * c[u];
                        m[u] = Sigmoid(ao) * Math.Tanh(c[u]);
                    }
                    if (cfg.P > 0)
                    {
                        for (int r = 0; r < cfg.P; r++)
                        {
                            double sum = 0;
                            for (int j = 0; j < H; j++) sum += p[oHr + r * H + j] * m[j];
                            h[r] = sum;
                        }
                    }
                    else h = m;
                    Array.Copy(h, 0, output[t], d * Hp, Hp);
                }
                hn[unit] = (double[])h.Clone(); cn[unit] = (double[])c.Clone();
            }
            if (layerMasks is not null && k < cfg.L - 1)
                for (int t = 0; t < T; t++) for (int j = 0; j < cfg.Row; j++) output[t][j] *= layerMasks[k][t * cfg.Row + j];
            input = output;
        }
        int oFw = cfg.O > 0 ? offsets["fc.weight"] : -1, oFb = cfg.O > 0 ? offsets["fc.bias"] : -1;
        var outputs = new double[T][];
        for (int t = 0; t < T; t++)
        {
            if (cfg.O == 0) { outputs[t] = input[t]; continue; }
            outputs[t] = new double[cfg.O];
            for (int o = 0; o < cfg.O; o++)
            {
                double sum = p[oFb + o];
                for (int j = 0; j < cfg.Row; j++) sum += p[oFw + o * cfg.Row + j] * input[t][j];
                outputs[t][o] = sum;
            }
        }
        return new Result { Outputs = outputs, HN = hn, CN = cn };
    }

    /// <summary>Mean squared error over every output of every step (the trainer's MeanSquaredError with targets for every step).</summary>
    public static double Mse(double[][] outputs, ReadOnlySpan<float> targets)
    {
        int width = outputs[0].Length;
        double sum = 0;
        for (int t = 0; t < outputs.Length; t++)
            for (int k = 0; k < width; k++) { double d = outputs[t][k] - targets[t * width + k]; sum += d * d; }
        return sum / (outputs.Length * width);
    }

    /// <summary>∂MSE/∂p by central finite differences of the double forward pass (step 1e-6), for every parameter.</summary>
    public static double[] FiniteDifferenceGradients(VariantConfig cfg, IReadOnlyDictionary<string, int> offsets, double[] p, ReadOnlySpan<float> xs, int T,
        ReadOnlySpan<float> targets, double[][]? layerMasks = null, double[][]? recurrentMasks = null)
    {
        const double Eps = 1e-6;
        var grad = new double[p.Length];
        var x = xs.ToArray(); var y = targets.ToArray();
        for (int k = 0; k < p.Length; k++)
        {
            double keep = p[k];
            p[k] = keep + Eps;
            double up = Mse(Forward(cfg, offsets, p, x, T, null, null, layerMasks, recurrentMasks).Outputs, y);
            p[k] = keep - Eps;
            double down = Mse(Forward(cfg, offsets, p, x, T, null, null, layerMasks, recurrentMasks).Outputs, y);
            p[k] = keep;
            grad[k] = (up - down) / (2 * Eps);
        }
        return grad;
    }

    public static Dictionary<string, int> Offsets(LstmParameters parameters) => parameters.Tensors.ToDictionary(t => t.Name, t => t.Offset);

    public static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var d = new double[values.Length];
        for (int k = 0; k < d.Length; k++) d[k] = values[k];
        return d;
    }
}
