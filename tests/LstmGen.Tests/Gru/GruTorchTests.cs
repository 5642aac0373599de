using System;
using System.Linq;
using LstmGen.Tests.Oracles;
using LstmGen.Training;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Gru;

/// <summary>
/// The generated GRUs against libtorch's <c>torch.nn.GRU</c> (TorchGruOracle): every model's Forward on several
/// sequences (1e-5 absolute, as ForwardTests), gradients of the mean squared error against autograd (TrainingTests'
/// tolerance), and five Adam steps against torch.optim.Adam (parameters within 1e-5, as TrainingOracleTests).
/// </summary>
public sealed class GruTorchTests(ITestOutputHelper output)
{
    private static TorchGruOracle.Shape ShapeOf(GruCase c, LstmParameters p) =>
        new(c.I, c.H, c.L, c.Bidirectional, p.Tensors.Any(t => t.Name == "bias_ih_l0"), c.O, p.Tensors.Any(t => t.Name == "initial_h_l0"));

    private static IRecurrentModelDriver Create(GruCase c, int seed) => GruModels.CreateWithInitialState(c, seed);

    [Theory]
    [MemberData(nameof(GruModels.Names), MemberType = typeof(GruModels))]
    public void ForwardMatchesLibTorch(string name)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        var c = GruModels.Get(name);
        const int steps = 50;
        var model = Create(c, 12);
        var shape = ShapeOf(c, model.Parameters);
        float[] xs = Models.Inputs(c.Batch * steps * c.I, 13);
        var ys = new float[c.Batch * steps * shape.C];
        model.Forward(xs, model.NewState(), ys);
        float[] expected = TorchGruOracle.Forward(shape, model.Parameters, xs, steps, c.Batch);
        double max = expected.Zip(ys, (a, b) => (double)Math.Abs(a - b)).Max();
        output.WriteLine($"{name} [{Gru_1_1.KernelPath}]: max |ours − nn.GRU| {max:E2} over {steps} steps × {c.Batch}");
        Assert.True(max <= 1e-5, $"{name}: {max:E3}");
    }

    public static TheoryData<string> GradientModels() => new(new[] { "Gru_1_16", "Gru_3_17", "Gru_17_3_2", "Gru_8_32_2_Head1", "Gru_3_17_2_NoBias", "Gru_3_17_2_Bi", "Gru_5_12_2_Init", "Gru_64_128" });

    [Theory]
    [MemberData(nameof(GradientModels))]
    public void GradientsMatchLibTorchAutograd(string name)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        var c = GruModels.Get(name);
        const int steps = 12, batch = 3;
        var model = Create(c, 77);
        var shape = ShapeOf(c, model.Parameters);
        float[] xs = Models.Inputs(batch * steps * c.I, 41);
        var targets = new float[batch * steps * shape.C];
        new LstmRandom(43).FillUniform(targets, 0.8f);
        var trainer = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, steps);
        float ours = trainer.ComputeGradients(xs, targets, batch);
        var (torchLoss, torchGrad) = TorchGruOracle.Gradients(shape, model.Parameters, xs, targets, steps, batch);
        double ratio = TrainingTests.Compare(torchGrad.Select(g => (double)g).ToArray(), trainer.Gradients.Values, out int worst);
        string where = worst < 0 ? "" : trainer.Gradients.Tensors.Last(t => t.Offset <= worst).Name;
        output.WriteLine($"{name} [{Gru_1_1.KernelPath}]: loss {ours:G7} vs libtorch {torchLoss:G7}; worst gradient ({where}) at {ratio:P1} of the tolerance");
        Assert.True(Math.Abs(ours - torchLoss) <= 1e-5 * Math.Max(1, Math.Abs(torchLoss)));
        Assert.True(ratio <= 1, $"gradient {worst} ({where}): ours {trainer.Gradients.Values[worst]:G7}, libtorch {torchGrad[worst]:G7}");
    }

    [Theory]
    [InlineData("Gru_3_17_2_Head3")]
    [InlineData("Gru_3_17_2_Bi")]
    public void AdamStepsMatchTorchOptim(string name)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        var c = GruModels.Get(name);
        const int steps = 10, batch = 4, count = 5;
        var model = Create(c, 5);
        var shape = ShapeOf(c, model.Parameters);
        float[] xs = Models.Inputs(batch * steps * c.I, 6);
        var targets = new float[batch * steps * shape.C];
        new LstmRandom(7).FillUniform(targets, 0.8f);
        float[] expected = TorchGruOracle.TrainAdam(shape, model.Parameters, xs, targets, steps, batch, 0.01f, count);
        var trainer = model.CreateTrainer(new Adam(0.01f), Loss.MeanSquaredError, steps);
        for (int k = 0; k < count; k++) trainer.Step(xs, targets, batch);
        double max = expected.Zip(model.Parameters.Values.ToArray(), (a, b) => (double)Math.Abs(a - b)).Max();
        output.WriteLine($"{name} [{Gru_1_1.KernelPath}]: {count} Adam steps, max |ours − torch.optim| {max:E2}");
        Assert.True(max <= 1e-5, $"{name}: {max:E3}");
    }
}

/// <summary>
/// The generated GRUs against ONNX Runtime's GRU operator (OnnxGruOracle, <c>linear_before_reset = 1</c>): Forward of
/// every model without a learned initial state on one 50-step sequence, within 1e-5 (the tolerance of ForwardTests).
/// </summary>
public sealed class GruOnnxTests(ITestOutputHelper output)
{
    public static TheoryData<string> Names() => new(GruModels.All.Where(c => c.Name != "Gru_5_12_2_Init").Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Names))]
    public void ForwardMatchesOnnxRuntime(string name)
    {
        Assert.True(OnnxOracle.IsAvailable, OnnxOracle.UnavailableReason);
        var c = GruModels.Get(name);
        const int steps = 50;
        var model = c.Create(21);
        int width = c.O > 0 ? c.O : (c.Bidirectional ? 2 : 1) * c.H;
        float[] xs = Models.Inputs(c.Batch * steps * c.I, 22);
        var ys = new float[c.Batch * steps * width];
        model.Forward(xs, model.NewState(), ys);
        double max = 0;
        for (int b = 0; b < c.Batch; b++)
        {
            float[] expected = OnnxGruOracle.Run(c.I, c.H, c.L, c.Bidirectional, c.O, model.Parameters, xs.AsSpan(b * steps * c.I, steps * c.I), steps);
            for (int k = 0; k < expected.Length; k++) max = Math.Max(max, Math.Abs(expected[k] - ys[b * steps * width + k]));
        }
        output.WriteLine($"{name} [{Gru_1_1.KernelPath}]: max |ours − ORT GRU| {max:E2} over {steps} steps × {c.Batch}");
        Assert.True(max <= 1e-5, $"{name}: {max:E3}");
    }
}
