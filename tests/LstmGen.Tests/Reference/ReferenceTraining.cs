using System;
using LstmGen.Training;

namespace LstmGen.Tests.Reference;

/// <summary>
/// Loss and gradients of a stacked LSTM + head in double precision, written from docs/maths.md §4 with runtime sizes:
/// the oracle for the generated backward pass, itself checked by central finite differences of <see cref="LossOnly"/>.
/// </summary>
public static class ReferenceTraining
{
    public static double Sigmoid(double a) => 1.0 / (1.0 + Math.Exp(-a));

    /// <summary>Mean loss over the batch and its gradients in PyTorch parameter order.</summary>
    public static (double Loss, double[] Gradients) Run(int I, int H, int L, bool bias, int O, OutputActivation act, Loss loss,
        ReadOnlySpan<float> parametersF, ReadOnlySpan<float> inputs, int T, int batch, ReadOnlySpan<float> targets, bool lastOnly)
    {
        var parameters = new double[parametersF.Length];
        for (int k = 0; k < parameters.Length; k++) parameters[k] = parametersF[k];
        return Run(I, H, L, bias, O, act, loss, parameters, inputs, T, batch, targets, lastOnly, wantGradients: true);
    }

    public static double LossOnly(int I, int H, int L, bool bias, int O, OutputActivation act, Loss loss,
        double[] parameters, ReadOnlySpan<float> inputs, int T, int batch, ReadOnlySpan<float> targets, bool lastOnly) =>
        Run(I, H, L, bias, O, act, loss, parameters, inputs, T, batch, targets, lastOnly, wantGradients: false).Loss;

    private static (double Loss, double[] Gradients) Run(int I, int H, int L, bool bias, int O, OutputActivation act, Loss loss,
        double[] p, ReadOnlySpan<float> inputs, int T, int batch, ReadOnlySpan<float> targets, bool lastOnly, bool wantGradients)
    {
        // parameter offsets
        var wih = new int[L]; var whh = new int[L]; var bih = new int[L]; var bhh = new int[L];
        int off = 0;
        for (int l = 0; l < L; l++)
        {
            int ik = l == 0 ? I : H;
            wih[l] = off; off += 4 * H * ik;
            whh[l] = off; off += 4 * H * H;
            if (bias) { bih[l] = off; off += 4 * H; bhh[l] = off; off += 4 * H; } else { bih[l] = bhh[l] = -1; }
        }
        int wfc = off, bfc = off + O * H;
        if (O > 0) off += O * H + O;
        if (off != p.Length) throw new ArgumentException($"expected {off} parameters");
        int width = O > 0 ? O : H;
        int perStep = loss == Loss.CrossEntropy ? 1 : width;
        int rows = lastOnly ? 1 : T;
        var grad = new double[p.Length];
        double totalLoss = 0;

        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<float> xs = inputs.Slice(b * T * I, T * I);
            ReadOnlySpan<float> tg = targets.Slice(b * rows * perStep, rows * perStep);
            // forward, keeping everything: layer input x, h (T+1), c (T+1), gates
            var xin = new double[L][][]; var hs = new double[L][][]; var cs = new double[L][][];
            var gi = new double[L][][]; var gf = new double[L][][]; var gg = new double[L][][]; var go = new double[L][][];
            for (int l = 0; l < L; l++)
            {
                int ik = l == 0 ? I : H;
                xin[l] = new double[T][]; hs[l] = new double[T + 1][]; cs[l] = new double[T + 1][];
                gi[l] = new double[T][]; gf[l] = new double[T][]; gg[l] = new double[T][]; go[l] = new double[T][];
                hs[l][0] = new double[H]; cs[l][0] = new double[H];
                for (int t = 0; t < T; t++)
                {
                    double[] x = new double[ik];
                    for (int j = 0; j < ik; j++) x[j] = l == 0 ? xs[t * I + j] : hs[l - 1][t + 1][j];
                    xin[l][t] = x;
                    double[] h = new double[H], c = new double[H], i = new double[H], f = new double[H], g = new double[H], o = new double[H];
                    for (int u = 0; u < H; u++)
                    {
                        double[] a = new double[4];
                        for (int q = 0; q < 4; q++)
                        {
                            int r = q * H + u;
                            double s = bias ? p[bih[l] + r] + p[bhh[l] + r] : 0;
                            for (int j = 0; j < ik; j++) s += p[wih[l] + r * ik + j] * x[j];
                            for (int j = 0; j < H; j++) s += p[whh[l] + r * H + j] * hs[l][t][j];
                            a[q] = s;
                        }
                        i[u] = Sigmoid(a[0]); f[u] = Sigmoid(a[1]); g[u] = Math.Tanh(a[2]); o[u] = Sigmoid(a[3]);
                        c[u] = f[u] * cs[l][t][u] + i[u] * g[u];
                        h[u] = o[u] * Math.Tanh(c[u]);
                    }
                    hs[l][t + 1] = h; cs[l][t + 1] = c; gi[l][t] = i; gf[l][t] = f; gg[l][t] = g; go[l][t] = o;
                }
            }
            // head and loss
            var z = new double[T][];
            for (int t = 0; t < T; t++)
            {
                double[] h = hs[L - 1][t + 1];
                z[t] = new double[width];
                for (int k = 0; k < width; k++)
                {
                    if (O == 0) { z[t][k] = h[k]; continue; }
                    double s = p[bfc + k];
                    for (int j = 0; j < H; j++) s += p[wfc + k * H + j] * h[j];
                    z[t][k] = s;
                }
            }
            var dz = new double[T][];
            for (int t = 0; t < T; t++) dz[t] = new double[width];
            int first = T - rows;
            for (int r = 0; r < rows; r++)
            {
                int t = first + r;
                switch (loss)
                {
                    case Loss.MeanSquaredError:
                    {
                        double n = rows * width;
                        double[] y = Activate(act, z[t]);
                        var dy = new double[width];
                        for (int k = 0; k < width; k++)
                        {
                            double d = y[k] - tg[r * width + k];
                            totalLoss += d * d / n / batch;
                            dy[k] = 2 * d / n / batch;
                        }
                        dz[t] = ActivationBackward(act, y, dy);
                        break;
                    }
                    case Loss.CrossEntropy:
                    {
                        int cls = (int)tg[r];
                        double max = double.NegativeInfinity; foreach (double v in z[t]) max = Math.Max(max, v);
                        double sum = 0; foreach (double v in z[t]) sum += Math.Exp(v - max);
                        double lse = Math.Log(sum) + max;
                        totalLoss += (lse - z[t][cls]) / rows / batch;
                        for (int k = 0; k < width; k++) dz[t][k] = (Math.Exp(z[t][k] - lse) - (k == cls ? 1 : 0)) / rows / batch;
                        break;
                    }
                    case Loss.BinaryCrossEntropyWithLogits:
                    {
                        double n = rows * width;
                        for (int k = 0; k < width; k++)
                        {
                            double v = z[t][k], y = tg[r * width + k];
                            totalLoss += (Math.Max(v, 0) - v * y + Math.Log(1 + Math.Exp(-Math.Abs(v)))) / n / batch;
                            dz[t][k] = (Sigmoid(v) - y) / n / batch;
                        }
                        break;
                    }
                }
            }
            if (!wantGradients) continue;

            // head backward
            var dhAbove = new double[T][];
            for (int t = 0; t < T; t++)
            {
                dhAbove[t] = new double[H];
                if (O == 0) { Array.Copy(dz[t], dhAbove[t], H); continue; }
                for (int k = 0; k < O; k++)
                {
                    grad[bfc + k] += dz[t][k];
                    for (int j = 0; j < H; j++)
                    {
                        grad[wfc + k * H + j] += dz[t][k] * hs[L - 1][t + 1][j];
                        dhAbove[t][j] += dz[t][k] * p[wfc + k * H + j];
                    }
                }
            }
            // BPTT, docs/maths.md §4
            for (int l = L - 1; l >= 0; l--)
            {
                int ik = l == 0 ? I : H;
                var dhNext = new double[H]; var dcNext = new double[H];
                var dxBelow = new double[T][];
                for (int t = T - 1; t >= 0; t--)
                {
                    var da = new double[4 * H];
                    for (int u = 0; u < H; u++)
                    {
                        double dh = dhAbove[t][u] + dhNext[u];
                        double tc = Math.Tanh(cs[l][t + 1][u]);
                        double i = gi[l][t][u], f = gf[l][t][u], g = gg[l][t][u], o = go[l][t][u];
                        double dO = dh * tc;
                        double dc = dcNext[u] + dh * o * (1 - tc * tc);
                        da[0 * H + u] = dc * g * i * (1 - i);
                        da[1 * H + u] = dc * cs[l][t][u] * f * (1 - f);
                        da[2 * H + u] = dc * i * (1 - g * g);
                        da[3 * H + u] = dO * o * (1 - o);
                        dcNext[u] = dc * f;
                    }
                    var newDhNext = new double[H];
                    dxBelow[t] = new double[ik];
                    for (int r = 0; r < 4 * H; r++)
                    {
                        for (int j = 0; j < ik; j++) { grad[wih[l] + r * ik + j] += da[r] * xin[l][t][j]; dxBelow[t][j] += p[wih[l] + r * ik + j] * da[r]; }
                        for (int j = 0; j < H; j++) { grad[whh[l] + r * H + j] += da[r] * hs[l][t][j]; newDhNext[j] += p[whh[l] + r * H + j] * da[r]; }
                        if (bias) { grad[bih[l] + r] += da[r]; grad[bhh[l] + r] += da[r]; }
                    }
                    dhNext = newDhNext;
                }
                dhAbove = dxBelow;
            }
        }
        return (totalLoss, grad);
    }

    private static double[] Activate(OutputActivation act, double[] z)
    {
        var y = new double[z.Length];
        switch (act)
        {
            case OutputActivation.Sigmoid: for (int k = 0; k < z.Length; k++) y[k] = Sigmoid(z[k]); break;
            case OutputActivation.Tanh: for (int k = 0; k < z.Length; k++) y[k] = Math.Tanh(z[k]); break;
            case OutputActivation.Softmax:
                double max = double.NegativeInfinity; foreach (double v in z) max = Math.Max(max, v);
                double sum = 0; for (int k = 0; k < z.Length; k++) { y[k] = Math.Exp(z[k] - max); sum += y[k]; }
                for (int k = 0; k < z.Length; k++) y[k] /= sum;
                break;
            default: Array.Copy(z, y, z.Length); break;
        }
        return y;
    }

    private static double[] ActivationBackward(OutputActivation act, double[] y, double[] dy)
    {
        var dz = new double[y.Length];
        switch (act)
        {
            case OutputActivation.Sigmoid: for (int k = 0; k < y.Length; k++) dz[k] = dy[k] * y[k] * (1 - y[k]); break;
            case OutputActivation.Tanh: for (int k = 0; k < y.Length; k++) dz[k] = dy[k] * (1 - y[k] * y[k]); break;
            case OutputActivation.Softmax:
                double dot = 0; for (int j = 0; j < y.Length; j++) dot += dy[j] * y[j];
                for (int k = 0; k < y.Length; k++) dz[k] = y[k] * (dy[k] - dot);
                break;
            default: Array.Copy(dy, dz, dy.Length); break;
        }
        return dz;
    }
}
