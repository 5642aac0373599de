using System;
using System.Linq;
using LstmGen.Tests.Variants;
using LstmGen.Training;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests;

/// <summary>
/// Mini-batch training on several threads: the batch is cut into chunks by its size alone and the chunks' gradients are
/// added in chunk order, so any thread count gives the same bits; a batch's gradients are the mean of its sequences';
/// CarryState keeps one state per stream.
/// </summary>
public sealed class BatchTrainingTests(ITestOutputHelper output)
{
    /// <summary>A model, the values it outputs per step, and a trainer on it with a given thread count.</summary>
    public sealed record Case(string Name, int Inputs, int Outputs, Func<int, (ILstmTrainer Trainer, LstmParameters Parameters)> Create)
    {
        public override string ToString() => Name;
    }

    private const int MaxT = 12;

    public static readonly Case[] Cases =
    {
        new("ShapeT", 8, 1, t => { var m = new ShapeT(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, threads: t), m.Parameters); }),
        new("Peep_8_32_2_1", 8, 1, t => { var m = new Peep_8_32_2_1(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, threads: t), m.Parameters); }),
        new("Proj_3_17_2_P5_2", 3, 2, t => { var m = new Proj_3_17_2_P5_2(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, threads: t), m.Parameters); }),
        new("BiProj_4_16_2_P6", 4, 12, t => { var m = new BiProj_4_16_2_P6(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, threads: t), m.Parameters); }),
        new("Bi_5_8_2_3", 5, 3, t => { var m = new Bi_5_8_2_3(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, threads: t), m.Parameters); }),
        // every option at once, dropout included (no mean-of-sequences check: each sequence draws its own masks)
        new("All_5_12_2", 5, 2, t => { var m = new All_5_12_2(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, seed: 4, threads: t), m.Parameters); }),
        new("Learn_3_17_2_1", 3, 1, t => { var m = new Learn_3_17_2_1(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, threads: t), m.Parameters); }),
        new("Drop_5_16_3_1", 5, 1, t => { var m = new Drop_5_16_3_1(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, seed: 4, threads: t), m.Parameters); }),
        new("RecDrop_3_17_1_2", 3, 2, t => { var m = new RecDrop_3_17_1_2(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, seed: 4, threads: t), m.Parameters); }),
        // W_hh larger than L1: a group's recurrent product is one InputProjection.ProjectAdd per step, then the cell alone
        new("WidePeep_5_72_2_2", 5, 2, t => { var m = new WidePeep_5_72_2_2(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, threads: t), m.Parameters); }),
        new("WideProj_3_80_P40", 3, 1, t => { var m = new WideProj_3_80_P40(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, threads: t), m.Parameters); }),
        new("WideRecDrop_4_64_1", 4, 1, t => { var m = new WideRecDrop_4_64_1(3); return (m.CreateTrainer(new Adam(1e-2f), Loss.MeanSquaredError, maxSequenceLength: MaxT, seed: 4, threads: t), m.Parameters); }),
    };

    public static TheoryData<string> Names() => new(Cases.Select(c => c.Name));
    private static Case Get(string name) => Cases.Single(c => c.Name == name);

    [Theory]
    [MemberData(nameof(Names))]
    public void AnyThreadCountGivesTheSameBits(string name)
    {
        var c = Get(name);
        // 13 sequences: eight chunks of one or two (uneven), 3 threads take them in whatever order they come
        const int batch = 13, steps = 10;
        float[] xs = Models.Inputs(batch * steps * c.Inputs, 31);
        float[] ys = Models.Inputs(batch * steps * c.Outputs, 32);
        float[]? reference = null;
        float[]? referenceLosses = null;
        foreach (int threads in new[] { 1, 2, 3, 8 })
        {
            var (trainer, parameters) = c.Create(threads);
            var losses = new float[4];
            for (int k = 0; k < losses.Length; k++) losses[k] = trainer.Step(xs, ys, batch);
            float[] weights = parameters.Values.ToArray();
            ((IDisposable)trainer).Dispose();
            if (reference == null) { reference = weights; referenceLosses = losses; continue; }
            Assert.Equal(referenceLosses, losses);
            int differing = weights.Where((w, k) => BitConverter.SingleToInt32Bits(w) != BitConverter.SingleToInt32Bits(reference[k])).Count();
            Assert.True(differing == 0, $"{threads} threads: {differing} of {weights.Length} weights differ from 1 thread's after 4 steps");
        }
        output.WriteLine($"{name}: 1, 2, 3 and 8 threads give the same weights, bit for bit, after 4 Adam steps at batch {batch}");
    }

    [Theory]
    [InlineData("ShapeT")]
    [InlineData("Peep_8_32_2_1")]
    [InlineData("Proj_3_17_2_P5_2")]
    [InlineData("BiProj_4_16_2_P6")]
    [InlineData("Learn_3_17_2_1")]
    [InlineData("Bi_5_8_2_3")]
    [InlineData("WidePeep_5_72_2_2")]
    [InlineData("WideProj_3_80_P40")]
    public void BatchGradientsAreTheMeanOfTheSequences(string name)
    {
        var c = Get(name);
        const int batch = 11, steps = 9;
        float[] xs = Models.Inputs(batch * steps * c.Inputs, 41);
        float[] ys = Models.Inputs(batch * steps * c.Outputs, 42);
        var (trainer, _) = c.Create(2);
        float loss = trainer.ComputeGradients(xs, ys, batch);
        float[] got = trainer.Gradients.Values.ToArray();

        var (single, _) = c.Create(1);
        var mean = new double[got.Length];
        double meanLoss = 0;
        for (int b = 0; b < batch; b++)
        {
            meanLoss += single.ComputeGradients(xs.AsSpan(b * steps * c.Inputs, steps * c.Inputs), ys.AsSpan(b * steps * c.Outputs, steps * c.Outputs)) / batch;
            var g = single.Gradients.Values;
            for (int k = 0; k < mean.Length; k++) mean[k] += g[k] / (double)batch;
        }
        double scale = mean.Max(Math.Abs), worst = 0;
        for (int k = 0; k < got.Length; k++) worst = Math.Max(worst, Math.Abs(got[k] - mean[k]));
        output.WriteLine($"{name}: batch {batch} against the mean of {batch} single-sequence gradients: worst |difference| {worst:E2} (largest gradient {scale:E2}); loss {loss} against {meanLoss}");
        // The batch runs its sequences in groups, whose products sum in another order than one sequence's (one FMA chain per
        // output instead of four partial sums), so the two differ by float32 rounding: seen up to 1.2e-6 of the largest
        // gradient on the scalar path, where nothing is fused, and 5.5e-7 with FMA.
        Assert.True(worst <= 4e-6 * scale, $"worst difference {worst:E2} above 4e-6 of the largest gradient ({scale:E2})");
        Assert.Equal(meanLoss, loss, 1e-6 * Math.Abs(meanLoss));
    }

    [Fact]
    public void CarryStateKeepsOneStatePerStream()
    {
        // Three streams of two windows each. The batch trainer's second window must give the mean of three batch-1
        // trainers' second windows, each carrying its own stream's state, and the same carried state per stream.
        const int streams = 3, window = 8;
        int I = Tiny_3_4_2_2.InputSize, O = Tiny_3_4_2_2.OutputSize;
        float[] xs = Models.Inputs(streams * 2 * window * I, 51); // stream s: 2·window steps
        float[] ys = Models.Inputs(streams * 2 * window * O, 52);
        float[] Window(float[] data, int width, int w, int s0, int count)
        {
            var result = new float[count * window * width];
            for (int s = 0; s < count; s++)
                Array.Copy(data, ((s0 + s) * 2 * window + w * window) * width, result, s * window * width, window * width);
            return result;
        }

        var model = new Tiny_3_4_2_2(seed: 6);
        var batched = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, maxSequenceLength: window, threads: 2);
        batched.CarryState = true;
        batched.ComputeGradients(Window(xs, I, 0, 0, streams), Window(ys, O, 0, 0, streams), streams);
        batched.ComputeGradients(Window(xs, I, 1, 0, streams), Window(ys, O, 1, 0, streams), streams);
        float[] got = batched.Gradients.Values.ToArray();

        var mean = new double[got.Length];
        for (int s = 0; s < streams; s++)
        {
            var one = model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, maxSequenceLength: window, threads: 1);
            one.CarryState = true;
            one.ComputeGradients(Window(xs, I, 0, s, 1), Window(ys, O, 0, s, 1));
            one.ComputeGradients(Window(xs, I, 1, s, 1), Window(ys, O, 1, s, 1));
            for (int k = 0; k < mean.Length; k++) mean[k] += one.Gradients.Values[k] / (double)streams;
            for (int l = 0; l < Tiny_3_4_2_2.NumLayers; l++)
            {
                Assert.Equal(one.CarriedState.Hidden(l).ToArray(), batched.GetCarriedState(s).Hidden(l).ToArray());
                Assert.Equal(one.CarriedState.Cell(l).ToArray(), batched.GetCarriedState(s).Cell(l).ToArray());
            }
        }
        double scale = mean.Max(Math.Abs), worst = 0;
        for (int k = 0; k < got.Length; k++) worst = Math.Max(worst, Math.Abs(got[k] - mean[k]));
        // The batch runs its sequences in groups, whose products sum in another order than one sequence's (one FMA chain per
        // output instead of four partial sums), so the two differ by float32 rounding: seen up to 1.2e-6 of the largest
        // gradient on the scalar path, where nothing is fused, and 5.5e-7 with FMA.
        Assert.True(worst <= 4e-6 * scale, $"worst difference {worst:E2} above 4e-6 of the largest gradient ({scale:E2})");
        // and the streams really differ: stream 1's carried state is not stream 0's
        Assert.NotEqual(batched.GetCarriedState(0).Hidden(1).ToArray(), batched.GetCarriedState(1).Hidden(1).ToArray());
        batched.ResetState();
        Assert.All(batched.GetCarriedState(2).Hidden(1).ToArray(), v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(8, 1)]
    [InlineData(8, 2)]
    [InlineData(32, 2)]
    [InlineData(32, 4)]
    [InlineData(8, 2, true)]
    public void BatchStepsAllocateNothing(int batch, int threads, bool wide = false)
    {
        // ShapeT's layers step one kernel per sequence; WidePeep_5_72_2_2's groups run through InputProjection.ProjectAdd
        ILstmTrainer trainer = wide
            ? new WidePeep_5_72_2_2(3).CreateTrainer(new Adam(1e-3f), Loss.MeanSquaredError, maxSequenceLength: MaxT, threads: threads)
            : new ShapeT(3).CreateTrainer(new Adam(1e-3f), Loss.MeanSquaredError, maxSequenceLength: MaxT, threads: threads);
        int inputs = wide ? 5 : 8, outputs = wide ? 2 : 1;
        float[] xs = Models.Inputs(batch * MaxT * inputs, 61), ys = Models.Inputs(batch * MaxT * outputs, 62);
        long onWorkers = 0;
        // the calling thread's bytes, and the workers' (each worker thread counts its own, summed over the process: the
        // trainers of tests running beside this one allocate nothing on their workers either, their buffers being made
        // on the calling thread)
        long onCaller = AllocationTests.Allocated(() =>
        {
            long before = BatchWorkers.WorkerAllocatedBytes;
            for (int k = 0; k < 20; k++) trainer.Step(xs, ys, batch);
            onWorkers = BatchWorkers.WorkerAllocatedBytes - before;
        });
        ((IDisposable)trainer).Dispose();
        Assert.Equal(0, onCaller);
        Assert.Equal(0, onWorkers);
    }

    [Fact]
    public void ThreadsIsAnOptionWithADefault()
    {
        var model = new ShapeT(3);
        Assert.Equal(BatchWorkers.DefaultThreads, model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError).Threads);
        Assert.Equal(3, model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, threads: 3).Threads);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateTrainer(new Sgd(0.1f), Loss.MeanSquaredError, threads: -1));
    }
}


/// <summary>Counts the process's threads, so it runs alone.</summary>
[CollectionDefinition(nameof(ProcessThreads), DisableParallelization = true)]
public sealed class ProcessThreads;

[Collection(nameof(ProcessThreads))]
public sealed class BatchWorkerLifetimeTests(ITestOutputHelper output)
{
    [Fact]
    public void AbandonedTrainersStopTheirThreads()
    {
        // Each trainer starts a worker thread at its first batch step and is then dropped without Dispose: once the
        // trainers are collected their threads must end (else 100 trainers would leave 100 parked threads).
        float[] xs = Models.Inputs(8 * 10 * 8, 71), ys = Models.Inputs(8 * 10, 72);
        static int Threads() => System.Diagnostics.Process.GetCurrentProcess().Threads.Count;
        static void Collect() { GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect(); System.Threading.Thread.Sleep(300); }
        Collect();
        int before = Threads();
        for (int k = 0; k < 100; k++)
        {
            var trainer = new ShapeT(k).CreateTrainer(new Sgd(1e-3f), Loss.MeanSquaredError, maxSequenceLength: 10, threads: 2);
            trainer.Step(xs, ys, 8);
        }
        Collect();
        int after = Threads();
        output.WriteLine($"threads before {before}, after 100 abandoned two-thread trainers and a collection {after}");
        Assert.True(after <= before + 5, $"{after - before} more threads than before 100 abandoned trainers");
    }
}

// Layers whose W_hh is larger than L1 (4 · 80 · 72 floats, 4 · 80 · 40 and 4 · 64 · 64 on AVX-512): training runs a group's
// recurrent product as InputProjection.ProjectAdd and then the cell alone (ModelPlan.TrainGroupProduct).
[LstmModel(InputSize = 5, HiddenSize = 72, NumLayers = 2, Peepholes = true, OutputSize = 2)] public partial class WidePeep_5_72_2_2 { }
[LstmModel(InputSize = 3, HiddenSize = 80, ProjSize = 40, OutputSize = 1)] public partial class WideProj_3_80_P40 { }
[LstmModel(InputSize = 4, HiddenSize = 64, RecurrentDropout = 0.2f, OutputSize = 1)] public partial class WideRecDrop_4_64_1 { }
