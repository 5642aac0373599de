using System;
using System.Linq;
using LstmGen.Tests.Generator;
using LstmGen.Training;
using Microsoft.CodeAnalysis;
using Xunit;

namespace LstmGen.Tests.Variants;

// The skip connection of GuitarML's SimpleRNN, y = lin(h) + x[:, :, 0:skip], beside the same models without it.
[LstmModel(InputSize = 1, HiddenSize = 20, OutputSize = 1, Skip = 1)] public partial class Skip_1_20_1 { }
[LstmModel(InputSize = 1, HiddenSize = 20, OutputSize = 1)] public partial class NoSkip_1_20_1 { }
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, Skip = 2)] public partial class Skip_3_17_2_2 { }
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2)] public partial class NoSkip_3_17_2_2 { }
[LstmModel(InputSize = 2, HiddenSize = 8, OutputSize = 3, Skip = 1, Bidirectional = true)] public partial class SkipBi_2_8_3 { }
[LstmModel(InputSize = 2, HiddenSize = 8, OutputSize = 3, Bidirectional = true)] public partial class NoSkipBi_2_8_3 { }
[LstmModel(InputSize = 2, HiddenSize = 8, OutputSize = 2, Skip = 2, BatchSize = 3)] public partial class SkipBatch_2_8_2_B3 { }
[LstmModel(InputSize = 2, HiddenSize = 8, OutputSize = 2, BatchSize = 3)] public partial class NoSkipBatch_2_8_2_B3 { }

/// <summary>
/// The skip connection adds the input to the head's output in Step, Forward (every step and last only, across chunk
/// boundaries), bidirectional and batched models, and training; it has no parameters. Checked against the same model
/// without it, which the oracle tests hold to libtorch: y_skip = y_plain + x_t[0] (Skip = 1, every output) or
/// + x_t[j] (Skip = OutputSize), bit for bit, since the head adds x last.
/// </summary>
public sealed class SkipTests
{
    private static float Expected(float plain, float[] xs, int t, int inputs, int o, int skip) => plain + xs[t * inputs + (skip == 1 ? 0 : o)];

    private static void AssertSkipped(float[] plain, float[] skipped, float[] xs, int steps, int inputs, int outputs, int skip, int firstStep = 0)
    {
        for (int t = 0; t < steps; t++)
            for (int o = 0; o < outputs; o++)
                Assert.Equal(Expected(plain[t * outputs + o], xs, firstStep + t, inputs, o, skip), skipped[t * outputs + o]);
    }

    [Fact]
    public void StepAndForwardAddTheFirstInputToEveryOutput()
    {
        const int steps = 150;   // more than one chunk of Forward
        var plain = new NoSkip_1_20_1(seed: 3);
        var skip = new Skip_1_20_1(seed: 3);
        Assert.Equal(plain.Parameters.Values.ToArray(), skip.Parameters.Values.ToArray());   // same tensors: the skip has no parameters
        float[] xs = Models.Inputs(steps, 9);

        var a = new float[steps];
        var b = new float[steps];
        plain.Forward(xs, plain.NewState(), a);
        skip.Forward(xs, skip.NewState(), b);
        AssertSkipped(a, b, xs, steps, 1, 1, 1);

        var lastA = new float[1];
        var lastB = new float[1];
        plain.Forward(xs, plain.NewState(), lastA);
        skip.Forward(xs, skip.NewState(), lastB);
        Assert.Equal(lastA[0] + xs[steps - 1], lastB[0]);

        var sa = plain.NewState();
        var sb = skip.NewState();
        var ya = new float[1];
        var yb = new float[1];
        for (int t = 0; t < steps; t++)
        {
            plain.Step(xs.AsSpan(t, 1), sa, ya);
            skip.Step(xs.AsSpan(t, 1), sb, yb);
            Assert.Equal(ya[0] + xs[t], yb[0]);
            Assert.Equal(b[t], yb[0], 1e-6f);   // Step and Forward sum in different orders (Forward hoists W_ih·x)
        }
    }

    [Fact]
    public void SkipEqualToOutputSizeAddsChannelByChannel()
    {
        const int steps = 70, inputs = 3, outputs = 2;
        var plain = new NoSkip_3_17_2_2(seed: 5);
        var skip = new Skip_3_17_2_2(seed: 5);
        float[] xs = Models.Inputs(steps * inputs, 4);
        var a = new float[steps * outputs];
        var b = new float[steps * outputs];
        plain.Forward(xs, plain.NewState(), a);
        skip.Forward(xs, skip.NewState(), b);
        AssertSkipped(a, b, xs, steps, inputs, outputs, 2);
    }

    [Fact]
    public void BidirectionalAndBatchedModelsAddTheirOwnInputs()
    {
        const int steps = 40;
        float[] xs = Models.Inputs(steps * 2, 6);
        var pb = new NoSkipBi_2_8_3(seed: 2);
        var sb = new SkipBi_2_8_3(seed: 2);
        var a = new float[steps * 3];
        var b = new float[steps * 3];
        pb.Forward(xs, pb.NewState(), a);
        sb.Forward(xs, sb.NewState(), b);
        AssertSkipped(a, b, xs, steps, 2, 3, 1);

        // three streams, batch-first: stream k's rows come from its own inputs
        float[] xb = Models.Inputs(3 * steps * 2, 7);
        var p3 = new NoSkipBatch_2_8_2_B3(seed: 8);
        var s3 = new SkipBatch_2_8_2_B3(seed: 8);
        var c = new float[3 * steps * 2];
        var d = new float[3 * steps * 2];
        p3.Forward(xb, p3.NewState(), c);
        s3.Forward(xb, s3.NewState(), d);
        AssertSkipped(c, d, xb, 3 * steps, 2, 2, 2);
        var yc = new float[3 * 2];
        var yd = new float[3 * 2];
        var stc = p3.NewState();
        var std = s3.NewState();
        p3.Step(xb.AsSpan(0, 6), stc, yc);
        s3.Step(xb.AsSpan(0, 6), std, yd);
        AssertSkipped(yc, yd, xb.AsSpan(0, 6).ToArray(), 3, 2, 2, 2);
    }

    [Fact]
    public void TrainingSeesTheSkippedOutput()
    {
        // With MSE, training the skip model on targets y equals training the plain model on y − x_t[0]: the same
        // gradients up to rounding, so the same weights after a few steps (to 1e-6), and the loss is that of Forward.
        const int steps = 60;
        float[] xs = Models.Inputs(steps, 11);
        float[] ys = Models.Inputs(steps, 12).Select(v => 0.5f * v).ToArray();
        float[] shifted = ys.Select((v, t) => v - xs[t]).ToArray();
        var plain = new NoSkip_1_20_1(seed: 4);
        var skip = new Skip_1_20_1(seed: 4);
        var tp = plain.CreateTrainer(new Sgd(0.05f), Loss.MeanSquaredError, maxSequenceLength: steps);
        var ts = skip.CreateTrainer(new Sgd(0.05f), Loss.MeanSquaredError, maxSequenceLength: steps);

        var out0 = new float[steps];
        skip.Forward(xs, skip.NewState(), out0);
        double mse = 0;
        for (int t = 0; t < steps; t++) mse += (out0[t] - ys[t]) * (double)(out0[t] - ys[t]);
        mse /= steps;

        for (int k = 0; k < 5; k++)
        {
            float lp = tp.Step(xs, shifted);
            float ls = ts.Step(xs, ys);
            if (k == 0) Assert.Equal(mse, ls, 5e-6);
            Assert.Equal(lp, ls, 1e-5f);
        }
        float[] wp = plain.Parameters.Values.ToArray(), ws = skip.Parameters.Values.ToArray();
        for (int i = 0; i < wp.Length; i++) Assert.True(Math.Abs(wp[i] - ws[i]) <= 1e-6f, $"parameter {i}: {wp[i]} vs {ws[i]}");
    }

    [Theory]
    [InlineData("OutputSize = 1, Skip = -1", "must be 0 (none)")]
    [InlineData("Skip = 1", "give OutputSize")]
    [InlineData("OutputSize = 1, OutputActivation = OutputActivation.Tanh, Skip = 1", "remove the activation")]
    [InlineData("OutputSize = 3, Skip = 2", "Skip must be 1")]
    [InlineData("OutputSize = 4, Skip = 4", "Skip must be at most InputSize")]
    public void ImpossibleSkipIsLstm014WithWhatToChange(string arguments, string advice)
    {
        string source = $"using LstmGen; [LstmModel(InputSize = 2, HiddenSize = 4, {arguments})] public partial class Model {{ }}";
        var (diagnostics, output, _) = GeneratorHarness.Run(source);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LSTM014", d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Contains(advice, d.GetMessage());
        Assert.StartsWith("Skip = ", source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
        Assert.Empty(output.SyntaxTrees.Skip(1));
    }
}
