using System;
using Xunit;

namespace LstmGen.Tests;

/// <summary>Steady state allocates nothing: 10,000 Step calls and repeated Forward calls, measured per thread.</summary>
public sealed class AllocationTests
{
    /// <summary>
    /// Bytes allocated on this thread by <paramref name="body"/> in steady state: it runs three times first, with pauses
    /// that let tiered compilation install its optimized code (the runtime's own bookkeeping during tier-up is not the
    /// code under test), then once measured.
    /// </summary>
    internal static long Allocated(Action body)
    {
        for (int k = 0; k < 3; k++)
        {
            body();
            System.Threading.Thread.Sleep(100);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        body();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Theory]
    [MemberData(nameof(Models.Names), MemberType = typeof(Models))]
    public void StepAllocatesNothing(string name)
    {
        var c = Models.Get(name);
        var model = c.Create(1);
        var state = model.NewState();
        float[] x = Models.Inputs(c.I, 1);
        var y = new float[c.OutputLength];
        long allocated = Allocated(() => { for (int k = 0; k < 10_000; k++) model.Step(x, state, y); });
        Assert.Equal(0, allocated);
    }

    [Theory]
    [MemberData(nameof(Models.Names), MemberType = typeof(Models))]
    public void ForwardAllocatesNothing(string name)
    {
        var c = Models.Get(name);
        var model = c.Create(1);
        var state = model.NewState();
        const int steps = 150;
        float[] xs = Models.Inputs(steps * c.I, 2);
        var ys = new float[steps * c.OutputLength];
        var last = new float[c.OutputLength];
        long allocated = Allocated(() => { for (int k = 0; k < 20; k++) { model.Forward(xs, state, ys); model.Forward(xs, state, last); } });
        Assert.Equal(0, allocated);
    }

    [Theory]
    [MemberData(nameof(Gru.GruModels.Names), MemberType = typeof(Gru.GruModels))]
    public void GruStepForwardAndTrainingStepAllocateNothing(string name)
    {
        var c = Gru.GruModels.Get(name);
        var model = c.Create(1);
        var state = model.NewState();
        int o = (c.O > 0 ? c.O : (c.Bidirectional ? 2 : 1) * c.H) * c.Batch;
        const int steps = 40;
        float[] xs = Models.Inputs(c.Batch * steps * c.I, 2);
        var ys = new float[steps * o];
        if (!c.Bidirectional)
        {
            float[] x = Models.Inputs(c.Batch * c.I, 1);
            var y = new float[o];
            Assert.Equal(0, Allocated(() => { for (int k = 0; k < 10_000; k++) model.Step(x, state, y); }));
        }
        Assert.Equal(0, Allocated(() => { for (int k = 0; k < 20; k++) model.Forward(xs, state, ys); }));
        var trainer = model.CreateTrainer(new Training.Adam(1e-3f), Training.Loss.MeanSquaredError, steps);
        float[] tx = Models.Inputs(2 * steps * c.I, 3), targets = Models.Inputs(2 * steps * o / c.Batch, 4);
        Assert.Equal(0, Allocated(() => { for (int k = 0; k < 3; k++) trainer.Step(tx, targets, 2); }));
    }

    [Fact]
    public void ParameterWriteAndRepackAllocateNothing()
    {
        var model = new Lstm_8_32_2(1);
        var state = model.NewState();
        var x = new float[Lstm_8_32_2.InputSize];
        var y = new float[Lstm_8_32_2.OutputSize];
        var tensor = model.Parameters["weight_hh_l1"];
        Assert.Equal(0, Allocated(() =>
        {
            for (int k = 0; k < 100; k++)
            {
                tensor[k] = 0.01f * k;
                model.Step(x, state, y);
            }
        }));
    }
}
