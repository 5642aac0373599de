using System;
using System.Linq;
using LstmGen.Training;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests;

[LstmModel(InputSize = 2, HiddenSize = 24, OutputSize = 1, SequenceLength = 50)] public partial class AddingModel { }
[LstmModel(InputSize = 1, HiddenSize = 16, OutputSize = 1, SequenceLength = 40)] public partial class SineModel { }

/// <summary>What training must do beyond matching an oracle: learn, stay allocation-free, guard against NaN, clip, repeat.</summary>
public sealed class TrainingBehaviourTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("sgd")]
    [InlineData("nesterov")]
    [InlineData("adam")]
    [InlineData("adamw")]
    public void TrainingStepAllocatesNothing(string kind)
    {
        var model = new ShapeT(seed: 1);
        Optimizer optimizer = kind switch
        {
            "sgd" => new Sgd(0.01f, momentum: 0.9f, weightDecay: 1e-4f, schedule: LearningRateSchedule.Cosine(1000)),
            "nesterov" => new Sgd(0.01f, momentum: 0.9f, nesterov: true, schedule: LearningRateSchedule.StepDecay(10, 0.5f)),
            "adam" => new Adam(1e-3f),
            _ => new AdamW(1e-3f),
        };
        var trainer = model.CreateTrainer(optimizer, Loss.MeanSquaredError, clipNorm: 1f, clipValue: 5f);
        float[] xs = Models.Inputs(50 * 8, 1), ys = Models.Inputs(50, 2);
        float[] xs4 = Models.Inputs(4 * 50 * 8, 3), ys4 = Models.Inputs(4 * 50, 4);
        Assert.Equal(0, AllocationTests.Allocated(() => { for (int k = 0; k < 50; k++) { trainer.Step(xs, ys); trainer.Step(xs4, ys4, 4); } }));
    }

    [Fact]
    public void LearnsTheAddingProblem()
    {
        // Hochreiter & Schmidhuber's adding problem over 50 steps: input channel 0 is noise in [0, 1), channel 1 marks two
        // positions (one in each half); the target at the last step is the sum of the two marked values. Predicting the mean
        // (≈ 1.0) gives MSE ≈ 0.167; the model must carry both values across the sequence to do better.
        const int T = 50, batch = 16, steps = 1500;
        var model = new AddingModel(seed: 3);
        var trainer = model.CreateTrainer(new Adam(0.01f), Loss.MeanSquaredError, clipNorm: 1f);
        var random = new LstmRandom(99);
        var xs = new float[batch * T * 2];
        var ys = new float[batch];
        void Batch()
        {
            for (int b = 0; b < batch; b++)
            {
                int first = (int)(random.NextDouble() * (T / 2)), second = T / 2 + (int)(random.NextDouble() * (T / 2));
                float sum = 0;
                for (int t = 0; t < T; t++)
                {
                    float v = (float)random.NextDouble();
                    bool marked = t == first || t == second;
                    xs[(b * T + t) * 2] = v;
                    xs[(b * T + t) * 2 + 1] = marked ? 1f : 0f;
                    if (marked) sum += v;
                }
                ys[b] = sum;
            }
        }
        float recent = 0;
        for (int step = 1; step <= steps; step++)
        {
            Batch();
            float loss = trainer.Step(xs, ys, batch);
            recent = step == 1 ? loss : 0.95f * recent + 0.05f * loss;
            if (step % 250 == 0) output.WriteLine($"step {step}: loss (moving average) {recent:F4}");
        }
        // held-out evaluation
        double mse = 0; int n = 0;
        var y = new float[1];
        for (int k = 0; k < 8; k++)
        {
            Batch();
            for (int b = 0; b < batch; b++)
            {
                var state = model.NewState();
                model.Forward(xs.AsSpan(b * T * 2, T * 2), state, y);
                mse += (y[0] - ys[b]) * (y[0] - ys[b]); n++;
            }
        }
        mse /= n;
        output.WriteLine($"held-out MSE after {steps} steps: {mse:F4} (predicting the mean: ≈ 0.167)");
        Assert.True(mse < 0.02, $"adding problem not learned: held-out MSE {mse:F4}");
    }

    [Fact]
    public void LearnsNextValueOfANoisySine()
    {
        const int T = 40;
        var model = new SineModel(seed: 5);
        var trainer = model.CreateTrainer(new Adam(0.01f), Loss.MeanSquaredError);
        var random = new LstmRandom(6);
        var xs = new float[T];
        var ys = new float[T];
        float Signal(double t) => (float)(Math.Sin(0.3 * t) + 0.05 * (random.NextDouble() * 2 - 1));
        float first = 0, last = 0;
        for (int step = 0; step < 400; step++)
        {
            double phase = random.NextDouble() * 100;
            float previous = Signal(phase);
            for (int t = 0; t < T; t++) { xs[t] = previous; previous = Signal(phase + t + 1); ys[t] = previous; }
            float loss = trainer.Step(xs, ys);
            if (step == 0) first = loss;
            last = step < 390 ? last : last + loss / 10;
        }
        output.WriteLine($"noisy sine: first loss {first:F4}, mean of the last 10 {last:F4} (noise floor ≈ 0.0008)");
        Assert.True(last < 0.01f && last < first / 20, $"next-value prediction not learned: {first} → {last}");
    }

    [Fact]
    public void SameSeedGivesTheSameLossCurve()
    {
        float[] Curve()
        {
            var model = new Tiny_3_4_2_2(seed: 11);
            var trainer = model.CreateTrainer(new Adam(0.01f), Loss.MeanSquaredError);
            float[] xs = Models.Inputs(12 * 3, 1), ys = Models.Inputs(12 * 2, 2);
            return Enumerable.Range(0, 20).Select(_ => trainer.Step(xs, ys)).ToArray();
        }
        Assert.Equal(Curve(), Curve());
    }

    [Fact]
    public void NonFiniteLossStopsTheStepAndKeepsTheWeights()
    {
        var model = new Tiny_3_4_2_2(seed: 2);
        var trainer = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError);
        float[] xs = Models.Inputs(12 * 3, 1), ys = Models.Inputs(12 * 2, 2);
        trainer.Step(xs, ys);
        float[] before = model.Parameters.Values.ToArray();
        xs[7] = float.NaN;
        var ex = Assert.Throws<NonFiniteTrainingException>(() => trainer.Step(xs, ys));
        Assert.Equal("loss", ex.Where);
        Assert.Contains("weights are unchanged", ex.Message);
        Assert.Equal(before, model.Parameters.Values.ToArray());
        xs[7] = 0.5f;
        trainer.Step(xs, ys); // still usable
        Assert.NotEqual(before, model.Parameters.Values.ToArray());
    }

    [Fact]
    public void NonFiniteGradientIsNamedAndTheWeightsKept()
    {
        // A weight of 1e38 makes a'·x overflow to ∞ in the gradients (the loss stays finite because σ saturates).
        var model = new Tiny_3_4_2_2(seed: 2);
        var trainer = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError);
        model.Parameters["fc.weight"][0] = 3e38f;
        model.Parameters["fc.weight"][1] = 3e38f;
        float[] before = model.Parameters.Values.ToArray();
        float[] xs = Models.Inputs(12 * 3, 1), ys = Models.Inputs(12 * 2, 2);
        var ex = Assert.Throws<NonFiniteTrainingException>(() => trainer.Step(xs, ys));
        output.WriteLine(ex.Message);
        Assert.NotEqual("", ex.Where);
        Assert.Equal(before, model.Parameters.Values.ToArray());
    }

    [Fact]
    public void ClippingBoundsTheUpdate()
    {
        float[] xs = Models.Inputs(12 * 3, 1);
        float[] ys = Enumerable.Repeat(50f, 24).ToArray(); // unreachable targets: huge gradients
        float Change(float clipNorm, float clipValue)
        {
            var model = new Tiny_3_4_2_2(seed: 2);
            float[] before = model.Parameters.Values.ToArray();
            var trainer = model.CreateTrainer(new Sgd(1f), Loss.MeanSquaredError, clipNorm, clipValue);
            trainer.Step(xs, ys);
            Assert.True(trainer.LastGradientNorm > 1f);
            var after = model.Parameters.Values;
            double sum = 0; float max = 0;
            for (int k = 0; k < before.Length; k++) { float d = after[k] - before[k]; sum += d * d; max = Math.Max(max, Math.Abs(d)); }
            return clipValue > 0 ? max : (float)Math.Sqrt(sum);
        }
        Assert.True(Change(0, 0) > 1.5f, "without clipping the update is large");
        Assert.InRange(Change(0.5f, 0), 0.49f, 0.5f); // SGD with lr 1: ‖Δw‖ = clipped norm
        Assert.InRange(Change(0, 0.01f), 0.0099f, 0.01001f); // every |Δw| ≤ clip value, and some reach it
    }

    [Fact]
    public void BadTrainingInputGetsClearErrors()
    {
        var model = new Tiny_3_4_2_2();
        var trainer = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError);
        Assert.Equal(12, trainer.MaxSequenceLength);
        var e = Assert.Throws<ArgumentException>(() => trainer.Step(new float[13 * 3], new float[13 * 2]));
        Assert.Contains("at most 12", e.Message);
        e = Assert.Throws<ArgumentException>(() => trainer.Step(new float[12 * 3], new float[5]));
        Assert.Contains("expected 24 (every step) or 2 (last step only)", e.Message);
        Assert.Throws<ArgumentException>(() => trainer.Step(new float[10], new float[2]));
        var ce = model.CreateTrainer(new Sgd(0.1f), Loss.CrossEntropy);
        e = Assert.Throws<ArgumentException>(() => ce.Step(new float[12 * 3], new float[] { 2f }));
        Assert.Contains("class indices", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Lstm_3_17_1().CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(-1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(0.01f, beta1: 1f));
    }
}
