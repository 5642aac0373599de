using System;

namespace LstmGen.Tests.Reference;

/// <summary>
/// The suite's own GRU oracle, written for the GRU cell of issue 19 before the generator has one: a stacked,
/// one-direction <c>torch.nn.GRU</c> plus an optional Linear head, scalar, double precision, exact σ and tanh, and its
/// back-propagation through time. Per layer and step (gate order r, z, n, as PyTorch stores them):
/// <code>
/// r  = σ(W_ir x + b_ir + W_hr h + b_hr)
/// z  = σ(W_iz x + b_iz + W_hz h + b_hz)
/// n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))      the h part of n is multiplied by r after its own bias
/// h' = (1 − z) ⊙ n + z ⊙ h
/// </code>
/// Parameters in PyTorch order: per layer <c>weight_ih_l{k}</c> (3H × I_k), <c>weight_hh_l{k}</c> (3H × H),
/// <c>bias_ih_l{k}</c>, <c>bias_hh_l{k}</c> (3H), then <c>fc.weight</c> (O × H), <c>fc.bias</c> (O) when O &gt; 0.
/// The loss of <see cref="Gradients"/> is PyTorch's mean squared error over every output of every step.
/// </summary>
public static class ReferenceGru
{
    public static int ParameterCount(int inputs, int hidden, int layers, int outputs)
    {
        int count = 0;
        for (int l = 0; l < layers; l++) count += 3 * hidden * ((l == 0 ? inputs : hidden) + hidden + 2);
        return count + (outputs > 0 ? outputs * hidden + outputs : 0);
    }

    private static double Sigmoid(double a) => 1.0 / (1.0 + Math.Exp(-a));

    /// <summary>Where each tensor starts in the flat parameters.</summary>
    private readonly record struct Offsets(int[] Wih, int[] Whh, int[] Bih, int[] Bhh, int Wfc, int Bfc);

    private static Offsets Layout(int inputs, int hidden, int layers, int outputs, int length)
    {
        int offset = 0, h = hidden;
        var wih = new int[layers]; var whh = new int[layers]; var bih = new int[layers]; var bhh = new int[layers];
        for (int l = 0; l < layers; l++)
        {
            int ik = l == 0 ? inputs : h;
            wih[l] = offset; offset += 3 * h * ik;
            whh[l] = offset; offset += 3 * h * h;
            bih[l] = offset; offset += 3 * h;
            bhh[l] = offset; offset += 3 * h;
        }
        int wfc = offset; offset += outputs > 0 ? outputs * h : 0;
        int bfc = offset; offset += outputs > 0 ? outputs : 0;
        if (offset != length) throw new ArgumentException($"Expected {offset} parameters, got {length}.");
        return new Offsets(wih, whh, bih, bhh, wfc, bfc);
    }

    /// <summary>What the forward pass keeps per layer and step for the backward pass.</summary>
    private sealed class Trace(int layers, int steps, int hidden)
    {
        public readonly double[][][] H = Make(layers, steps + 1, hidden);     // h_0 … h_T
        public readonly double[][][] R = Make(layers, steps, hidden), Z = Make(layers, steps, hidden), N = Make(layers, steps, hidden);
        public readonly double[][][] HnLinear = Make(layers, steps, hidden); // W_hn h + b_hn

        private static double[][][] Make(int a, int b, int c)
        {
            var r = new double[a][][];
            for (int i = 0; i < a; i++) { r[i] = new double[b][]; for (int j = 0; j < b; j++) r[i][j] = new double[c]; }
            return r;
        }
    }

    /// <summary>
    /// Outputs of every step (T × O, or T × H without a head) from the zero state, or from <paramref name="h0"/> (h_0 per
    /// layer) when given, and the final h per layer. With <paramref name="quantize"/>, each layer's x_t and h_(t-1) are
    /// replaced by quantize(v) before their products (an int8 model's activations, docs/maths.md §10).
    /// </summary>
    public static (double[] Outputs, double[][] HN) Forward(int inputs, int hidden, int layers, int outputs, ReadOnlySpan<double> p, ReadOnlySpan<double> xs, int steps,
        double[][]? h0 = null, Func<double[], double[]>? quantize = null)
    {
        var trace = new Trace(layers, steps, hidden);
        if (h0 is not null)
            for (int l = 0; l < layers; l++) h0[l].CopyTo(trace.H[l][0], 0);
        double[] ys = Run(inputs, hidden, layers, outputs, p, xs, steps, trace, quantize);
        var hn = new double[layers][];
        for (int l = 0; l < layers; l++) hn[l] = (double[])trace.H[l][steps].Clone();
        return (ys, hn);
    }

    private static double[] Run(int inputs, int hidden, int layers, int outputs, ReadOnlySpan<double> p, ReadOnlySpan<double> xs, int steps, Trace trace,
        Func<double[], double[]>? quantize = null)
    {
        var o = Layout(inputs, hidden, layers, outputs, p.Length);
        int h = hidden, width = outputs > 0 ? outputs : h;
        var ys = new double[steps * width];
        for (int t = 0; t < steps; t++)
        {
            double[] x = xs.Slice(t * inputs, inputs).ToArray();
            for (int l = 0; l < layers; l++)
            {
                int ik = x.Length;
                double[] hp = trace.H[l][t], hn = trace.H[l][t + 1];
                double[] xq = quantize is null ? x : quantize(x), hq = quantize is null ? hp : quantize(hp);
                for (int u = 0; u < h; u++)
                {
                    // a_g = W_ig x + b_ig (g = r, z, n) and the h side W_hg h + b_hg, apart (n needs them apart)
                    double[] ax = new double[3], ah = new double[3];
                    for (int g = 0; g < 3; g++)
                    {
                        int row = g * h + u;
                        double sx = p[o.Bih[l] + row], sh = p[o.Bhh[l] + row];
                        for (int j = 0; j < ik; j++) sx += p[o.Wih[l] + row * ik + j] * xq[j];
                        for (int j = 0; j < h; j++) sh += p[o.Whh[l] + row * h + j] * hq[j];
                        ax[g] = sx; ah[g] = sh;
                    }
                    double r = Sigmoid(ax[0] + ah[0]), z = Sigmoid(ax[1] + ah[1]), n = Math.Tanh(ax[2] + r * ah[2]);
                    trace.R[l][t][u] = r; trace.Z[l][t][u] = z; trace.N[l][t][u] = n; trace.HnLinear[l][t][u] = ah[2];
                    hn[u] = (1 - z) * n + z * hp[u];
                }
                x = hn;
            }
            for (int k = 0; k < width; k++)
            {
                if (outputs == 0) { ys[t * width + k] = x[k]; continue; }
                double s = p[o.Bfc + k];
                for (int j = 0; j < h; j++) s += p[o.Wfc + k * h + j] * x[j];
                ys[t * width + k] = s;
            }
        }
        return ys;
    }

    /// <summary>Mean squared error against <paramref name="targets"/> (every output of every step), from the zero state.</summary>
    public static double Loss(int inputs, int hidden, int layers, int outputs, ReadOnlySpan<double> p, ReadOnlySpan<double> xs, int steps, ReadOnlySpan<double> targets)
    {
        double[] ys = Forward(inputs, hidden, layers, outputs, p, xs, steps).Outputs;
        double sum = 0;
        for (int k = 0; k < ys.Length; k++) sum += (ys[k] - targets[k]) * (ys[k] - targets[k]);
        return sum / ys.Length;
    }

    /// <summary>The loss of <see cref="Loss"/> and its gradient in the parameters' order, by back-propagation through time.</summary>
    public static (double Loss, double[] Gradients) Gradients(int inputs, int hidden, int layers, int outputs, ReadOnlySpan<double> p, ReadOnlySpan<double> xs, int steps, ReadOnlySpan<double> targets)
    {
        var o = Layout(inputs, hidden, layers, outputs, p.Length);
        int h = hidden, width = outputs > 0 ? outputs : h;
        var trace = new Trace(layers, steps, hidden);
        double[] ys = Run(inputs, hidden, layers, outputs, p, xs, steps, trace);
        var grad = new double[p.Length];
        double loss = 0;
        // ∂L/∂y = 2 (y − target) / count, then through the head into ∂L/∂h of the top layer at each step
        var dTop = new double[steps][];
        for (int t = 0; t < steps; t++)
        {
            dTop[t] = new double[h];
            double[] top = trace.H[layers - 1][t + 1];
            for (int k = 0; k < width; k++)
            {
                double e = ys[t * width + k] - targets[t * width + k];
                loss += e * e;
                double dy = 2 * e / ys.Length;
                if (outputs == 0) { dTop[t][k] += dy; continue; }
                grad[o.Bfc + k] += dy;
                for (int j = 0; j < h; j++)
                {
                    grad[o.Wfc + k * h + j] += dy * top[j];
                    dTop[t][j] += dy * p[o.Wfc + k * h + j];
                }
            }
        }
        loss /= ys.Length;

        double[][] dAbove = dTop;
        for (int l = layers - 1; l >= 0; l--)
        {
            int ik = l == 0 ? inputs : h;
            var dBelow = new double[steps][];
            var dhNext = new double[h];
            for (int t = steps - 1; t >= 0; t--)
            {
                double[] x = l == 0 ? xs.Slice(t * inputs, inputs).ToArray() : trace.H[l - 1][t + 1];
                double[] hp = trace.H[l][t];
                var daX = new double[3 * h];   // ∂L/∂(W_i· x + b_i·) for r, z, n
                var daH = new double[3 * h];   // ∂L/∂(W_h· h + b_h·) for r, z, n
                var dhPrev = new double[h];
                for (int u = 0; u < h; u++)
                {
                    double dh = dAbove[t][u] + dhNext[u];
                    double r = trace.R[l][t][u], z = trace.Z[l][t][u], n = trace.N[l][t][u], hnLin = trace.HnLinear[l][t][u];
                    double dn = dh * (1 - z), dz = dh * (hp[u] - n);
                    dhPrev[u] = dh * z;                                   // through h' = … + z ⊙ h
                    double daN = dn * (1 - n * n);                        // ∂L/∂(a_xn + r ⊙ a_hn)
                    double dr = daN * hnLin;
                    double daR = dr * r * (1 - r), daZ = dz * z * (1 - z);
                    daX[u] = daR; daX[h + u] = daZ; daX[2 * h + u] = daN;
                    daH[u] = daR; daH[h + u] = daZ; daH[2 * h + u] = daN * r;
                }
                dBelow[t] = new double[ik];
                for (int row = 0; row < 3 * h; row++)
                {
                    grad[o.Bih[l] + row] += daX[row];
                    grad[o.Bhh[l] + row] += daH[row];
                    for (int j = 0; j < ik; j++)
                    {
                        grad[o.Wih[l] + row * ik + j] += daX[row] * x[j];
                        dBelow[t][j] += p[o.Wih[l] + row * ik + j] * daX[row];
                    }
                    for (int j = 0; j < h; j++)
                    {
                        grad[o.Whh[l] + row * h + j] += daH[row] * hp[j];
                        dhPrev[j] += p[o.Whh[l] + row * h + j] * daH[row];
                    }
                }
                dhNext = dhPrev;
            }
            dAbove = dBelow;
        }
        return (loss, grad);
    }
}
