using System;
using System.Collections.Generic;
using System.Linq;
using LstmGen.Tests.Oracles;

namespace LstmGen.Tests;

// The shapes every numeric test runs on: the list, the benchmark shapes, and awkward sizes that are
// multiples of no vector width (1, 3, 17, 40), with and without a head, bias, stacking.
[LstmModel(InputSize = 1, HiddenSize = 1)] public partial class Lstm_1_1_1 { }
[LstmModel(InputSize = 1, HiddenSize = 16)] public partial class Lstm_1_16_1 { }
[LstmModel(InputSize = 1, HiddenSize = 40)] public partial class Lstm_1_40_1 { }
[LstmModel(InputSize = 3, HiddenSize = 17)] public partial class Lstm_3_17_1 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2)] public partial class Lstm_8_32_2 { }
[LstmModel(InputSize = 5, HiddenSize = 40, NumLayers = 3)] public partial class Lstm_5_40_3 { }
[LstmModel(InputSize = 64, HiddenSize = 128)] public partial class Lstm_64_128_1 { }
[LstmModel(InputSize = 256, HiddenSize = 256)] public partial class Lstm_256_256_1 { }
[LstmModel(InputSize = 40, HiddenSize = 17)] public partial class Lstm_40_17_1 { }
[LstmModel(InputSize = 17, HiddenSize = 3, NumLayers = 2)] public partial class Lstm_17_3_2 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1)] public partial class Head_8_32_2_1 { }
[LstmModel(InputSize = 3, HiddenSize = 17, OutputSize = 4, OutputActivation = OutputActivation.Softmax)] public partial class Head_3_17_1_4_Softmax { }
[LstmModel(InputSize = 5, HiddenSize = 40, NumLayers = 3, OutputSize = 3, OutputActivation = OutputActivation.Sigmoid)] public partial class Head_5_40_3_3_Sigmoid { }
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, Bias = false, OutputSize = 2, OutputActivation = OutputActivation.Tanh)] public partial class NoBias_3_17_2_2_Tanh { }

/// <summary>A generated model behind a uniform, non-generic face, for table-driven tests.</summary>
public interface IModelDriver
{
    LstmParameters Parameters { get; }
    ILstmState NewState();
    void Step(ReadOnlySpan<float> x, ILstmState state, Span<float> y);
    void Forward(ReadOnlySpan<float> xs, ILstmState state, Span<float> ys);
    LstmGen.Training.ILstmTrainer CreateTrainer(LstmGen.Training.Optimizer optimizer, LstmGen.Training.Loss loss, float clipNorm = 0, float clipValue = 0, int maxT = 64);
}

public sealed class Driver<TModel, TState>(TModel model) : IModelDriver
    where TModel : ILstmModel<TState> where TState : class, ILstmState
{
    public TModel Model { get; } = model;
    public LstmParameters Parameters => Model.Parameters;
    public ILstmState NewState() => Model.NewState();
    public void Step(ReadOnlySpan<float> x, ILstmState state, Span<float> y) => Model.Step(x, (TState)state, y);
    public void Forward(ReadOnlySpan<float> xs, ILstmState state, Span<float> ys) => Model.Forward(xs, (TState)state, ys);
    public LstmGen.Training.ILstmTrainer CreateTrainer(LstmGen.Training.Optimizer optimizer, LstmGen.Training.Loss loss, float clipNorm = 0, float clipValue = 0, int maxT = 64) =>
        Model.CreateTrainer(optimizer, loss, clipNorm, clipValue, maxT);
}

public sealed record ModelCase(string Name, int I, int H, int L, bool Bias, int O, OutputActivation Activation, Func<int, IModelDriver> Create)
{
    public int OutputLength => O > 0 ? O : H;
    public HeadActivation OracleActivation => (HeadActivation)(int)Activation;
    public override string ToString() => Name;
}

public static class Models
{
    private static ModelCase Case<TModel, TState>(int i, int h, int l, Func<int, TModel> create, bool bias = true, int o = 0, OutputActivation act = OutputActivation.None)
        where TModel : ILstmModel<TState> where TState : class, ILstmState =>
        new(typeof(TModel).Name, i, h, l, bias, o, act, seed => new Driver<TModel, TState>(create(seed)));

    public static readonly ModelCase[] All =
    {
        Case<Lstm_1_1_1, Lstm_1_1_1.State>(1, 1, 1, s => new(s)),
        Case<Lstm_1_16_1, Lstm_1_16_1.State>(1, 16, 1, s => new(s)),
        Case<Lstm_1_40_1, Lstm_1_40_1.State>(1, 40, 1, s => new(s)),
        Case<Lstm_3_17_1, Lstm_3_17_1.State>(3, 17, 1, s => new(s)),
        Case<Lstm_8_32_2, Lstm_8_32_2.State>(8, 32, 2, s => new(s)),
        Case<Lstm_5_40_3, Lstm_5_40_3.State>(5, 40, 3, s => new(s)),
        Case<Lstm_64_128_1, Lstm_64_128_1.State>(64, 128, 1, s => new(s)),
        Case<Lstm_256_256_1, Lstm_256_256_1.State>(256, 256, 1, s => new(s)),
        Case<Lstm_40_17_1, Lstm_40_17_1.State>(40, 17, 1, s => new(s)),
        Case<Lstm_17_3_2, Lstm_17_3_2.State>(17, 3, 2, s => new(s)),
        Case<Head_8_32_2_1, Head_8_32_2_1.State>(8, 32, 2, s => new(s), o: 1),
        Case<Head_3_17_1_4_Softmax, Head_3_17_1_4_Softmax.State>(3, 17, 1, s => new(s), o: 4, act: OutputActivation.Softmax),
        Case<Head_5_40_3_3_Sigmoid, Head_5_40_3_3_Sigmoid.State>(5, 40, 3, s => new(s), o: 3, act: OutputActivation.Sigmoid),
        Case<NoBias_3_17_2_2_Tanh, NoBias_3_17_2_2_Tanh.State>(3, 17, 2, s => new(s), bias: false, o: 2, act: OutputActivation.Tanh),
    };

    public static ModelCase Get(string name) => All.Single(c => c.Name == name);

    public static IEnumerable<object[]> Names => All.Select(c => new object[] { c.Name });

    /// <summary>Inputs uniform in [-1, 1) from a fixed seed.</summary>
    public static float[] Inputs(int count, ulong seed)
    {
        var random = new LstmRandom(seed);
        var xs = new float[count];
        random.FillUniform(xs, 1f);
        return xs;
    }
}
