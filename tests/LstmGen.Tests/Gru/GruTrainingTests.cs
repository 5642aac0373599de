using System;
using System.Linq;
using LstmGen.Tests.Reference;
using LstmGen.Training;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Gru;

/// <summary>
/// The generated GRU backward pass (BPTT, GruCellGradients and the products around it) against the double-precision
/// reference's gradients (<see cref="ReferenceGru.Gradients"/>, checked by finite differences in ReferenceGruTests),
/// mean squared error over every output of every step, with the LSTM's tolerance (TrainingTests.Compare): per
/// parameter |g − g_ref| ≤ 1e-4·|g_ref| + 2e-6·max|g_ref|.
/// </summary>
public sealed class GruTrainingTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> Cases() => new()
    {
        { "Gru_1_1", 1 }, { "Gru_1_16", 2 }, { "Gru_1_40", 1 }, { "Gru_3_17", 2 }, { "Gru_40_17", 1 }, { "Gru_17_3_2", 2 },
        { "Gru_8_32_2_Head1", 2 }, { "Gru_3_17_2_Head3", 5 }, { "Gru_64_128", 1 },
        { "Gru_64_128", 4 }, // W_hh past L1: the group product into rows apart (ModelPlan.TrainGroupProduct)
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientsMatchReference(string name, int batch)
    {
        var c = GruModels.Get(name);
        int steps = c.H >= 128 ? 8 : 20, o = c.O > 0 ? c.O : c.H;
        var model = c.Create(31);
        var trainer = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, steps);
        float[] xs = Models.Inputs(batch * steps * c.I, 17);
        var random = new LstmRandom(23);
        float[] targets = new float[batch * steps * o];
        random.FillUniform(targets, 0.8f);
        float got = trainer.ComputeGradients(xs, targets, batch);

        double[] p = model.Parameters.Values.ToArray().Select(v => (double)v).ToArray();
        var expected = new double[p.Length];
        double loss = 0;
        for (int b = 0; b < batch; b++)
        {
            double[] x = xs.AsSpan(b * steps * c.I, steps * c.I).ToArray().Select(v => (double)v).ToArray();
            double[] t = targets.AsSpan(b * steps * o, steps * o).ToArray().Select(v => (double)v).ToArray();
            var (l, g) = ReferenceGru.Gradients(c.I, c.H, c.L, c.O, p, x, steps, t);
            loss += l / batch;
            for (int k = 0; k < g.Length; k++) expected[k] += g[k] / batch;
        }
        double ratio = TrainingTests.Compare(expected, trainer.Gradients.Values, out int worst);
        string where = worst < 0 ? "" : trainer.Gradients.Tensors.Last(t => t.Offset <= worst).Name;
        output.WriteLine($"{name} batch {batch} [{Gru_1_1.KernelPath}]: loss {got:G7} vs {loss:G7}; worst gradient at {where} uses {ratio:P1} of the tolerance");
        Assert.True(Math.Abs(got - loss) <= 1e-5 * Math.Max(1, Math.Abs(loss)), $"loss {got} vs {loss}");
        Assert.True(ratio <= 1, $"{name}: gradient {worst} ({where}) = {trainer.Gradients.Values[worst]:G7}, reference {expected[worst]:G7}");
    }
}
