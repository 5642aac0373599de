using System;
using System.Collections.Generic;
using System.Linq;
using LstmGen.Tests.Oracles;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LstmGen.Tests.Reference;

/// <summary>
/// The double-precision GRU reference (for issue 19's GRU cell) against libtorch's <c>nn.GRU</c> and autograd, in
/// float64 (so the two should agree to rounding) and in float32 (the oneDNN path the GRU oracle tests will use), and its
/// gradients against its own central differences.
/// </summary>
public sealed class ReferenceGruTests(ITestOutputHelper output)
{
    public static TheoryData<int, int, int, int> Shapes => new()
    {
        { 1, 16, 1, 1 },   // an amp-model size
        { 3, 17, 2, 2 },
        { 40, 3, 1, 0 },   // no head: the outputs are h
        { 17, 40, 2, 1 },
    };

    private static double[] Values(int count, ulong seed, double scale)
    {
        var random = new LstmRandom(seed);
        var v = new double[count];
        for (int k = 0; k < count; k++) v[k] = scale * (2 * random.NextDouble() - 1);
        return v;
    }

    /// <summary>nn.GRU + Linear in <paramref name="dtype"/> with the reference's parameters; outputs per step, and the MSE gradients.</summary>
    private static (double[] Outputs, double[] HN, double Loss, double[] Gradients) Torch(int inputs, int hidden, int layers, int outputs, double[] p,
        double[] xs, int steps, double[] targets, ScalarType dtype)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        using var scope = torch.NewDisposeScope();
        var gru = torch.nn.GRU(inputs, hidden, layers, bias: true, batchFirst: false);
        var fc = outputs > 0 ? torch.nn.Linear(hidden, outputs, hasBias: true) : null;
        gru.to(dtype);
        fc?.to(dtype);
        var byName = new Dictionary<string, TorchSharp.Modules.Parameter>();
        foreach (var (name, parameter) in gru.named_parameters()) byName[name] = parameter;
        if (fc is not null) foreach (var (name, parameter) in fc.named_parameters()) byName["fc." + name] = parameter;
        var order = new List<(string Name, long[] Shape)>();
        for (int l = 0; l < layers; l++)
        {
            order.Add(($"weight_ih_l{l}", new long[] { 3 * hidden, l == 0 ? inputs : hidden }));
            order.Add(($"weight_hh_l{l}", new long[] { 3 * hidden, hidden }));
            order.Add(($"bias_ih_l{l}", new long[] { 3 * hidden }));
            order.Add(($"bias_hh_l{l}", new long[] { 3 * hidden }));
        }
        if (fc is not null) { order.Add(("fc.weight", new long[] { outputs, hidden })); order.Add(("fc.bias", new long[] { outputs })); }
        int offset = 0;
        using (torch.no_grad())
            foreach (var (name, shape) in order)
            {
                var parameter = byName[name];
                Assert.Equal(shape, parameter.shape);
                int n = (int)shape.Aggregate(1L, (a, b) => a * b);
                parameter.copy_(torch.tensor(p.AsSpan(offset, n).ToArray(), shape, ScalarType.Float64).to_type(dtype));
                offset += n;
            }
        Assert.Equal(p.Length, offset);

        var x = torch.tensor(xs, new long[] { steps, 1, inputs }, ScalarType.Float64).to_type(dtype);
        var (y, hn) = gru.call(x, null);
        var outs = y.reshape(steps, hidden);
        if (fc is not null) outs = fc.call(outs);
        var target = torch.tensor(targets, outs.shape, ScalarType.Float64).to_type(dtype);
        var loss = torch.nn.functional.mse_loss(outs, target);
        loss.backward();
        var grads = new List<double>();
        foreach (var (name, _) in order)
            grads.AddRange((byName[name].grad ?? throw new InvalidOperationException($"{name} got no gradient")).to_type(ScalarType.Float64).contiguous().data<double>().ToArray());
        return (outs.detach().to_type(ScalarType.Float64).contiguous().data<double>().ToArray(),
                hn.detach().to_type(ScalarType.Float64).contiguous().data<double>().ToArray(),
                loss.to_type(ScalarType.Float64).item<double>(), grads.ToArray());
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardAndGradientsMatchTorchGru(int inputs, int hidden, int layers, int outputs)
    {
        const int steps = 30;
        int width = outputs > 0 ? outputs : hidden;
        double[] p = Values(ReferenceGru.ParameterCount(inputs, hidden, layers, outputs), 7, 1 / Math.Sqrt(hidden));
        double[] xs = Values(steps * inputs, 8, 1), targets = Values(steps * width, 9, 0.5);

        var (ys, hn) = ReferenceGru.Forward(inputs, hidden, layers, outputs, p, xs, steps);
        var (loss, grad) = ReferenceGru.Gradients(inputs, hidden, layers, outputs, p, xs, steps, targets);
        double gradScale = grad.Max(Math.Abs);
        foreach (var (dtype, tolerance) in new[] { (ScalarType.Float64, 1e-12), (ScalarType.Float32, 1e-5) })
        {
            var t = Torch(inputs, hidden, layers, outputs, p, xs, steps, targets, dtype);
            double yDiff = ys.Zip(t.Outputs, (a, b) => Math.Abs(a - b)).Max();
            double hDiff = hn.SelectMany(v => v).Zip(t.HN, (a, b) => Math.Abs(a - b)).Max();
            double gDiff = grad.Zip(t.Gradients, (a, b) => Math.Abs(a - b)).Max();
            output.WriteLine($"{inputs}→{hidden}×{layers}→{outputs}, torch {dtype}: outputs {yDiff:E2}, h_n {hDiff:E2}, loss {Math.Abs(loss - t.Loss):E2}, gradients {gDiff:E2} (largest {gradScale:E2})");
            Assert.True(yDiff <= tolerance, $"{dtype}: outputs differ by {yDiff:E2}");
            Assert.True(hDiff <= tolerance, $"{dtype}: h_n differs by {hDiff:E2}");
            Assert.True(gDiff <= tolerance * Math.Max(1, gradScale), $"{dtype}: gradients differ by {gDiff:E2}");
        }
    }

    [Fact]
    public void OneStepByHand()
    {
        // docs/maths.md §11: I = H = 1, every weight 0.5, biases 0, x_1 = 1, h_0 = 0
        double[] p = { 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0, 0, 0 };
        var (ys, _) = ReferenceGru.Forward(1, 1, 1, 0, p, new[] { 1.0 }, 1);
        Assert.Equal(0.174468020615041834, ys[0], 15);
    }

    [Fact]
    public void GradientsMatchCentralDifferences()
    {
        const int inputs = 3, hidden = 4, layers = 2, outputs = 2, steps = 7;
        double[] p = Values(ReferenceGru.ParameterCount(inputs, hidden, layers, outputs), 11, 0.6);
        double[] xs = Values(steps * inputs, 12, 1), targets = Values(steps * outputs, 13, 0.5);
        var (_, grad) = ReferenceGru.Gradients(inputs, hidden, layers, outputs, p, xs, steps, targets);
        double worst = 0;
        for (int k = 0; k < p.Length; k++)
        {
            double saved = p[k], eps = 1e-6;
            p[k] = saved + eps;
            double up = ReferenceGru.Loss(inputs, hidden, layers, outputs, p, xs, steps, targets);
            p[k] = saved - eps;
            double down = ReferenceGru.Loss(inputs, hidden, layers, outputs, p, xs, steps, targets);
            p[k] = saved;
            // central differences are good to about 1e-10 here (rounding of the loss over 2·eps): relative 1e-6, or 1e-9 absolute for tiny gradients
            double numeric = (up - down) / (2 * eps), error = Math.Abs(numeric - grad[k]) / (1e-6 * Math.Abs(numeric) + 1e-9);
            worst = Math.Max(worst, error);
            Assert.True(error <= 1, $"parameter {k}: analytic {grad[k]:G12}, numeric {numeric:G12}");
        }
        output.WriteLine($"{p.Length} parameters: worst difference to central differences at {worst:P0} of the tolerance");
    }
}
