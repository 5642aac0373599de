using System;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using LstmGen.Training;

namespace LstmGen.Bench;

/// <summary>
/// Shape T of shared/spec/bench.md: one SGD training step (lr 0.01, no momentum) of C (8→32, 2 layers) + Linear(32→1)
/// on 50-step sequences, MSE over every step, at batch 1 and batch 32. Every row reports one training step per invoke
/// (one <c>Trainer.Step</c> call / one torch zero_grad-forward-backward-step, whatever the batch).
/// The naive C# LSTM has no backward pass, so it has no row here.
/// </summary>
[MemoryDiagnoser]
public class T_Train_8x32x2x1
{
    public const int InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1, Steps = 50;
    public const float LearningRate = 0.01f;
    public const int Seed = 42;

    /// <summary>First-step loss: |LstmGen − torch| / |torch| must be at most this.</summary>
    public const float LossTolerance = 1e-5f;

    /// <summary>After <see cref="CheckSteps"/> steps of each, every parameter must agree within this (absolute).</summary>
    public const float ParameterTolerance = 1e-4f;

    public const int CheckSteps = 5;

    /// <summary>Sequences per training step.</summary>
    [Params(1, 8, 32)]
    public int Batch { get; set; }

    private ShapeT _model = null!;
    private ShapeT.Trainer _trainer = null!;
    private ShapeT.Trainer _trainerOneThread = null!;
    private TorchTrainingPeer? _torch;
    private float[] _xs = Array.Empty<float>();   // B·T·I
    private float[] _ys = Array.Empty<float>();   // B·T·O
    private float _lastLoss = float.NaN;

    /// <summary>
    /// x_t[j] = 0.5·sin(0.05·t + j + φ_b), target_t = x_{t+1}[0], with the phase φ_b = 0.7·b of sequence b
    /// (φ_0 = 0: batch 1 is sequence 0 of batch 32).
    /// </summary>
    public static (float[] Inputs, float[] Targets) MakeData(int batch)
    {
        var xs = new float[batch * Steps * InputSize];
        var ys = new float[batch * Steps * OutputSize];
        for (int b = 0; b < batch; b++)
        {
            double phase = 0.7 * b;
            for (int t = 0; t < Steps; t++)
            {
                for (int j = 0; j < InputSize; j++)
                    xs[(b * Steps + t) * InputSize + j] = (float)(0.5 * Math.Sin(0.05 * t + j + phase));
                ys[b * Steps + t] = (float)(0.5 * Math.Sin(0.05 * (t + 1) + phase));
            }
        }
        return (xs, ys);
    }

    [GlobalSetup]
    public void Setup()
    {
        (_xs, _ys) = MakeData(Batch);
        _model = new ShapeT(Seed);
        float[] initial = _model.Parameters.Values.ToArray();
        _torch = new TorchTrainingPeer(InputSize, HiddenSize, NumLayers, OutputSize, _model.Parameters.Tensors, initial, _xs, _ys, Steps, Batch, LearningRate);
        Validate(initial);
        // back to the initial weights, and a fresh trainer/optimizer for the timed steps
        _model.LoadParameters(initial);
        _torch.Load(_model.Parameters.Tensors, initial);
        _trainer = _model.CreateTrainer(new Sgd(LearningRate), Loss.MeanSquaredError, clipNorm: 0f, clipValue: 0f, maxSequenceLength: Steps);
        _trainerOneThread = _model.CreateTrainer(new Sgd(LearningRate), Loss.MeanSquaredError, clipNorm: 0f, clipValue: 0f, maxSequenceLength: Steps, threads: 1);
    }

    /// <summary>A benchmark of a wrong training step is worthless: same loss, same weights after a few steps, or no run.</summary>
    private void Validate(float[] initial)
    {
        var trainer = _model.CreateTrainer(new Sgd(LearningRate), Loss.MeanSquaredError, clipNorm: 0f, clipValue: 0f, maxSequenceLength: Steps);
        float genLoss = trainer.Step(_xs, _ys, Batch);
        float torchLoss = _torch!.StepWithLoss();
        float relative = MathF.Abs(genLoss - torchLoss) / MathF.Abs(torchLoss);
        if (!(relative <= LossTolerance))
            throw new InvalidOperationException(
                $"T batch {Batch}: first-step loss LstmGen {genLoss:G9} vs torch {torchLoss:G9} (relative difference {relative:G3} > {LossTolerance:G3}). " +
                "Refusing to benchmark a wrong training step.");
        float genLast = genLoss, torchLast = torchLoss;
        for (int s = 1; s < CheckSteps; s++)
        {
            genLast = trainer.Step(_xs, _ys, Batch);
            torchLast = _torch.StepWithLoss();
        }

        ReadOnlySpan<float> gen = _model.Parameters.Values;
        float[] tor = _torch.Parameters();
        if (tor.Length != gen.Length)
            throw new InvalidOperationException($"T batch {Batch}: torch has {tor.Length} parameters, LstmGen {gen.Length}.");
        float worst = 0, moved = 0; int at = 0;
        for (int k = 0; k < gen.Length; k++)
        {
            float d = MathF.Abs(gen[k] - tor[k]);
            if (!(d <= worst)) { worst = d; at = k; }   // NaN counts as worst
            moved = MathF.Max(moved, MathF.Abs(gen[k] - initial[k]));
        }
        if (!(worst <= ParameterTolerance))
        {
            string name = "?";
            foreach (var t in _model.Parameters.Tensors)
                if (at >= t.Offset && at < t.Offset + t.Length) name = $"{t.Name}[{at - t.Offset}]";
            throw new InvalidOperationException(
                $"T batch {Batch}: after {CheckSteps} SGD steps {name} is {gen[at]:G9} in LstmGen, {tor[at]:G9} in torch " +
                $"(difference {worst:G3} > {ParameterTolerance:G3}). Refusing to benchmark a wrong training step.");
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"// T batch {Batch} check: first loss LstmGen {genLoss:G7}, torch {torchLoss:G7} (relative {relative:G2}); " +
            $"loss at step {CheckSteps}: {genLast:G7} vs {torchLast:G7}; max |Δparameter| after {CheckSteps} steps {worst:G2} " +
            $"(largest parameter change {moved:G2})"));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // The benchmarks keep training on the same data: show the loss went down rather than blowing up.
        if (!float.IsNaN(_lastLoss))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"// T batch {Batch}: LstmGen loss after the timed steps {_lastLoss:G7}"));
        else if (_torch is not null)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"// T batch {Batch}: torch loss after the timed steps {_torch.StepWithLoss():G7}"));
        _torch?.Dispose();
        _torch = null;
    }

    /// <summary>LstmGen: one <c>Trainer.Step</c> (forward, BPTT, SGD update) on <see cref="Batch"/> sequences, on every core (the default).</summary>
    [Benchmark(Baseline = true, Description = "LstmGen training step")]
    public float LstmGenTrain() => _lastLoss = _trainer.Step(_xs, _ys, Batch);

    /// <summary>As <see cref="LstmGenTrain"/> on one thread (<c>threads: 1</c>).</summary>
    [Benchmark(Description = "LstmGen training step, 1 thread")]
    public float LstmGenTrainOneThread() => _lastLoss = _trainerOneThread.Step(_xs, _ys, Batch);

    /// <summary>libtorch: zero_grad, nn.LSTM + nn.Linear forward on (B, 50, 8), mse_loss, backward, SGD step.</summary>
    [Benchmark(Description = "torch training step")]
    public void TorchTrain() => _torch!.Step();
}
