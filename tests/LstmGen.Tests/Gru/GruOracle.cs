using System;
using System.Linq;
using LstmGen.Tests.Reference;

namespace LstmGen.Tests.Gru;

/// <summary>
/// A generated GRU model's outputs from the double-precision reference (<see cref="ReferenceGru"/>, itself checked
/// against torch.nn.GRU and by finite differences): the reference runs each layer and direction on its own (a reverse
/// direction on the time-reversed input), from the model's h_0 (zero, or its learned initial state), with the model's
/// tensors taken by name; the layers' outputs [forward ; reverse] feed the next layer and the head. With a reduced
/// <paramref name="storage"/>, what the reduced model's products see: W_ih and W_hh rounded to bf16, or dequantized row by
/// row with x_t and h_(t-1) quantized to 8 bits before their products (int8; ReducedReference).
/// </summary>
public static class GruOracle
{
    public static double[] Run(LstmParameters p, GruCase c, ReadOnlySpan<float> xs, int steps, Reduced.Storage? storage = null)
    {
        bool int8 = storage == Reduced.Storage.Int8;
        double[] Tensor(string name) => storage is { } reduced && Reduced.ReducedReference.IsGateMatrix(name)
            ? (reduced == Reduced.Storage.Int8 ? Reduced.ReducedReference.DequantizeRows(p[name].Values.ToArray(), p[name].Rows, p[name].Columns)
                                               : Reduced.ReducedReference.RoundBFloat16(p[name].Values.ToArray()))
            : GruOracle.Tensor(p, name);
        int h = c.H, d = c.Bidirectional ? 2 : 1;
        double[] x = xs.ToArray().Select(v => (double)v).ToArray();
        int width = c.I;
        for (int k = 0; k < c.L; k++)
        {
            var output = new double[steps * d * h];
            for (int dir = 0; dir < d; dir++)
            {
                string s = k + (dir == 1 ? "_reverse" : "");
                double[] layer = Tensor("weight_ih_l" + s).Concat(Tensor("weight_hh_l" + s))
                    .Concat(Has(p, "bias_ih_l" + s) ? Tensor("bias_ih_l" + s) : new double[3 * h])
                    .Concat(Has(p, "bias_hh_l" + s) ? Tensor("bias_hh_l" + s) : new double[3 * h]).ToArray();
                double[]? h0 = Has(p, "initial_h_l" + s) ? Tensor("initial_h_l" + s) : null;
                double[] input = dir == 0 ? x : Reverse(x, steps, width);
                double[] ys = ReferenceGru.Forward(width, h, 1, 0, layer, input, steps, h0 is null ? null : new[] { h0 },
                    int8 ? Reduced.ReducedReference.QuantizeActivations : null).Outputs;
                if (dir == 1) ys = Reverse(ys, steps, h);
                for (int t = 0; t < steps; t++)
                    Array.Copy(ys, t * h, output, (t * d + dir) * h, h);
            }
            x = output;
            width = d * h;
        }
        if (c.O == 0) return x;
        double[] w = Tensor("fc.weight"), b = Tensor("fc.bias");
        var y = new double[steps * c.O];
        for (int t = 0; t < steps; t++)
            for (int o = 0; o < c.O; o++)
            {
                double sum = b[o];
                for (int j = 0; j < width; j++) sum += w[o * width + j] * x[t * width + j];
                y[t * c.O + o] = sum;
            }
        return y;
    }

    private static bool Has(LstmParameters p, string name) => p.Tensors.Any(t => t.Name == name);

    private static double[] Tensor(LstmParameters p, string name) => p[name].Values.ToArray().Select(v => (double)v).ToArray();

    private static double[] Reverse(double[] rows, int steps, int width)
    {
        var r = new double[rows.Length];
        for (int t = 0; t < steps; t++) Array.Copy(rows, t * width, r, (steps - 1 - t) * width, width);
        return r;
    }
}
