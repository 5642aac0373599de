using System;
using System.Linq;
using LstmGen.Tests.Oracles;
using LstmGen.Training;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests;

/// <summary>
/// Training against libtorch: gradients against autograd (same weights, inputs, loss), and five optimizer steps against
/// torch.optim. Gradient tolerance as in <see cref="TrainingTests"/> (1e-4 relative with a floor of 2e-6 of the largest
/// gradient); parameters after five steps within 1e-5 absolute.
/// </summary>
public sealed class TrainingOracleTests(ITestOutputHelper output)
{
    public static TheoryData<string, Loss, bool> Cases()
    {
        var data = new TheoryData<string, Loss, bool>();
        foreach (string name in new[] { "Lstm_1_16_1", "Lstm_3_17_1", "Lstm_8_32_2", "Lstm_5_40_3", "Head_8_32_2_1", "Lstm_64_128_1", "NoBias_3_17_2_2_Tanh" })
            data.Add(name, Loss.MeanSquaredError, false);
        data.Add("Head_3_17_1_4_Softmax", Loss.CrossEntropy, false);
        data.Add("Head_3_17_1_4_Softmax", Loss.MeanSquaredError, true);
        data.Add("Head_5_40_3_3_Sigmoid", Loss.BinaryCrossEntropyWithLogits, true);
        data.Add("Head_5_40_3_3_Sigmoid", Loss.MeanSquaredError, false);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientsMatchLibTorchAutograd(string name, Loss loss, bool lastOnly)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        var c = Models.Get(name);
        const int steps = 12, batch = 3;
        var model = c.Create(77);
        float[] xs = Models.Inputs(batch * steps * c.I, 41);
        float[] targets = TrainingTests.Targets(c, loss, steps, batch, lastOnly, 43);
        var trainer = model.CreateTrainer(new Sgd(0.1f), loss, maxT: steps);
        float ours = trainer.ComputeGradients(xs, targets, batch);
        var (torchLoss, torchGrad) = TorchTrainingOracle.Gradients(c.I, c.H, c.L, c.Bias, c.O, c.OracleActivation, (OracleLoss)(int)loss,
            model.Parameters.Values, xs, steps, batch, targets, lastOnly);
        double ratio = TrainingTests.Compare(torchGrad.Select(g => (double)g).ToArray(), trainer.Gradients.Values, out int worst);
        string where = worst < 0 ? "" : trainer.Gradients.Tensors.Last(t => t.Offset <= worst).Name;
        output.WriteLine($"{name} {loss} lastOnly={lastOnly} [{Lstm_1_1_1.KernelPath}]: loss {ours:G7} vs libtorch {torchLoss:G7}; worst gradient ({where}) at {ratio:P1} of the tolerance");
        Assert.True(Math.Abs(ours - torchLoss) <= 1e-5 * Math.Max(1, Math.Abs(torchLoss)));
        Assert.True(ratio <= 1, $"gradient {worst} ({where}): ours {trainer.Gradients.Values[worst]:G7}, libtorch {torchGrad[worst]:G7}");
    }

    public static TheoryData<OracleOptimizer, float, float, float> Optimizers() => new()
    {
        { OracleOptimizer.Sgd, 0.1f, 0.9f, 0f },
        { OracleOptimizer.Sgd, 0.1f, 0f, 0.01f },
        { OracleOptimizer.SgdNesterov, 0.05f, 0.9f, 0.001f },
        { OracleOptimizer.Adam, 0.01f, 0f, 0f },
        { OracleOptimizer.Adam, 0.01f, 0f, 0.01f },
        { OracleOptimizer.AdamW, 0.01f, 0f, 0.05f },
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void FiveOptimizerStepsMatchTorchOptim(OracleOptimizer kind, float lr, float momentum, float decay)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        var c = Models.Get("Head_8_32_2_1");
        const int steps = 10;
        var model = c.Create(12);
        float[] start = model.Parameters.Values.ToArray();
        float[] xs = Models.Inputs(steps * c.I, 7);
        float[] targets = TrainingTests.Targets(c, Loss.MeanSquaredError, steps, 1, false, 8);
        Optimizer optimizer = kind switch
        {
            OracleOptimizer.Sgd => new Sgd(lr, momentum, nesterov: false, weightDecay: decay),
            OracleOptimizer.SgdNesterov => new Sgd(lr, momentum, nesterov: true, weightDecay: decay),
            OracleOptimizer.Adam => new Adam(lr, weightDecay: decay),
            _ => new AdamW(lr, weightDecay: decay),
        };
        var trainer = model.CreateTrainer(optimizer, Loss.MeanSquaredError, maxT: steps);
        var (expected, losses) = TorchTrainingOracle.Train(c.I, c.H, c.L, c.Bias, c.O, c.OracleActivation, OracleLoss.MeanSquaredError,
            start, xs, steps, 1, targets, false, kind, lr, momentum, decay, 0f, 5);
        // Adam divides each gradient by its own magnitude plus eps = 1e-8. For a parameter whose gradient is itself at the
        // level of eps (here down to 1e-9), the first steps scale a gradient's float32 rounding (about 1e-11 absolute) by
        // lr/eps = 1e6: those few parameters are compared at 1e-4, every other one at 1e-5.
        var probe = model.CreateTrainer(new Sgd(lr), Loss.MeanSquaredError, maxT: steps);
        probe.ComputeGradients(xs, targets);
        float[] g0 = probe.Gradients.Values.ToArray();
        bool adam = kind is OracleOptimizer.Adam or OracleOptimizer.AdamW;
        double worst = 0, worstNearZero = 0;
        for (int k = 0; k < 5; k++)
        {
            float loss = trainer.Step(xs, targets);
            Assert.True(Math.Abs(loss - losses[k]) <= 1e-5 * Math.Max(1, losses[k]), $"step {k + 1}: loss {loss} vs {losses[k]}");
            var p = model.Parameters.Values;
            for (int j = 0; j < p.Length; j++)
            {
                double d = Math.Abs(p[j] - expected[k][j]);
                if (adam && Math.Abs(g0[j]) < 1e-7) worstNearZero = Math.Max(worstNearZero, d);
                else worst = Math.Max(worst, d);
            }
        }
        output.WriteLine($"{kind} lr={lr} momentum={momentum} decay={decay}: max |w - w_torch| over 5 steps {worst:E2}" +
                         (adam ? $"; for the {g0.Count(v => Math.Abs(v) < 1e-7)} parameters with |g| < 1e-7: {worstNearZero:E2}" : ""));
        Assert.True(worst <= 1e-5, $"parameters differ from torch.optim by {worst:E3}");
        Assert.True(worstNearZero <= 1e-4, $"parameters with gradients near Adam's eps differ from torch.optim by {worstNearZero:E3}");
    }

    [Fact]
    public void ClipByNormMatchesTorch()
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        var c = Models.Get("Head_8_32_2_1");
        var model = c.Create(13);
        float[] start = model.Parameters.Values.ToArray();
        float[] xs = Models.Inputs(10 * c.I, 9);
        float[] targets = Enumerable.Repeat(5f, 10).ToArray(); // far from reachable: large gradients
        var trainer = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, clipNorm: 0.05f, maxT: 10);
        var (expected, _) = TorchTrainingOracle.Train(c.I, c.H, c.L, c.Bias, c.O, c.OracleActivation, OracleLoss.MeanSquaredError,
            start, xs, 10, 1, targets, false, OracleOptimizer.Sgd, 0.1f, 0f, 0f, 0.05f, 2);
        trainer.Step(xs, targets);
        Assert.True(trainer.LastGradientNorm > 0.05f, "the test needs gradients above the clip norm");
        trainer.Step(xs, targets);
        double worst = 0;
        for (int j = 0; j < start.Length; j++) worst = Math.Max(worst, Math.Abs(model.Parameters.Values[j] - expected[1][j]));
        Assert.True(worst <= 1e-6, $"clipped SGD differs from torch by {worst:E3}");
    }
}
