using System;
using System.Collections.Generic;
using System.Linq;

namespace LstmGen.Tests.Gru;

// GRU models of awkward shapes (1, 3, 17, 40), stacked, with a head, bidirectional, without bias, batched, with a learned
// initial state: each compared with the double-precision reference (GruOracle) on every SIMD path CI runs.
[GruModel(InputSize = 1, HiddenSize = 1)] public partial class Gru_1_1 { }
[GruModel(InputSize = 1, HiddenSize = 16)] public partial class Gru_1_16 { }
[GruModel(InputSize = 1, HiddenSize = 40)] public partial class Gru_1_40 { }
[GruModel(InputSize = 3, HiddenSize = 17)] public partial class Gru_3_17 { }
[GruModel(InputSize = 40, HiddenSize = 17)] public partial class Gru_40_17 { }
[GruModel(InputSize = 17, HiddenSize = 3, NumLayers = 2)] public partial class Gru_17_3_2 { }
[GruModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1)] public partial class Gru_8_32_2_Head1 { }
[GruModel(InputSize = 64, HiddenSize = 128)] public partial class Gru_64_128 { }
[GruModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 3)] public partial class Gru_3_17_2_Head3 { }
[GruModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, Bias = false, OutputSize = 2)] public partial class Gru_3_17_2_NoBias { }
[GruModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, Bidirectional = true, OutputSize = 2)] public partial class Gru_3_17_2_Bi { }
[GruModel(InputSize = 5, HiddenSize = 12, NumLayers = 2, LearnInitialState = true, OutputSize = 1)] public partial class Gru_5_12_2_Init { }
[GruModel(InputSize = 3, HiddenSize = 17, BatchSize = 3, OutputSize = 2)] public partial class Gru_3_17_B3 { }
[GruModel(InputSize = 1, HiddenSize = 16, BatchSize = 8)] public partial class Gru_1_16_B8 { }
[GruModel(InputSize = 4, HiddenSize = 20, NumLayers = 3, Dropout = 0.25f, OutputSize = 2)] public partial class Gru_4_20_3_Dropout { }

/// <summary>One GRU test model behind a common face: its sizes and how to make one with a seed.</summary>
public sealed record GruCase(string Name, int I, int H, int L, int O, bool Bidirectional, int Batch, Func<int, IRecurrentModelDriver> Create);

/// <summary>A generated model through <see cref="IRecurrentModel{TState}"/>, so one test body runs every GRU model.</summary>
public interface IRecurrentModelDriver
{
    LstmParameters Parameters { get; }
    object NewState();
    void Step(ReadOnlySpan<float> x, object state, Span<float> y);
    void Forward(ReadOnlySpan<float> xs, object state, Span<float> ys);
    Span<float> Hidden(object state, int layer, int direction, int stream);
    Training.ILstmTrainer CreateTrainer(Training.Optimizer optimizer, Training.Loss loss, int maxT);
}

public sealed class RecurrentDriver<TModel, TState>(TModel model) : IRecurrentModelDriver
    where TModel : IRecurrentModel<TState> where TState : class, IRecurrentState
{
    public LstmParameters Parameters => model.Parameters;
    public object NewState() => model.NewState();
    public void Step(ReadOnlySpan<float> x, object state, Span<float> y) => model.Step(x, (TState)state, y);
    public void Forward(ReadOnlySpan<float> xs, object state, Span<float> ys) => model.Forward(xs, (TState)state, ys);
    public Span<float> Hidden(object state, int layer, int direction, int stream) => ((TState)state).Hidden(layer, direction, stream);
    public Training.ILstmTrainer CreateTrainer(Training.Optimizer optimizer, Training.Loss loss, int maxT) => model.CreateTrainer(optimizer, loss, maxSequenceLength: maxT);
}

public static class GruModels
{
    private static GruCase Case<TModel, TState>(string name, int i, int h, int l, int o, bool bi, int batch, Func<int, TModel> create)
        where TModel : IRecurrentModel<TState> where TState : class, IRecurrentState =>
        new(name, i, h, l, o, bi, batch, seed => new RecurrentDriver<TModel, TState>(create(seed)));

    public static readonly GruCase[] All =
    {
        Case<Gru_1_1, Gru_1_1.State>("Gru_1_1", 1, 1, 1, 0, false, 1, s => new Gru_1_1(s)),
        Case<Gru_1_16, Gru_1_16.State>("Gru_1_16", 1, 16, 1, 0, false, 1, s => new Gru_1_16(s)),
        Case<Gru_1_40, Gru_1_40.State>("Gru_1_40", 1, 40, 1, 0, false, 1, s => new Gru_1_40(s)),
        Case<Gru_3_17, Gru_3_17.State>("Gru_3_17", 3, 17, 1, 0, false, 1, s => new Gru_3_17(s)),
        Case<Gru_40_17, Gru_40_17.State>("Gru_40_17", 40, 17, 1, 0, false, 1, s => new Gru_40_17(s)),
        Case<Gru_17_3_2, Gru_17_3_2.State>("Gru_17_3_2", 17, 3, 2, 0, false, 1, s => new Gru_17_3_2(s)),
        Case<Gru_8_32_2_Head1, Gru_8_32_2_Head1.State>("Gru_8_32_2_Head1", 8, 32, 2, 1, false, 1, s => new Gru_8_32_2_Head1(s)),
        Case<Gru_64_128, Gru_64_128.State>("Gru_64_128", 64, 128, 1, 0, false, 1, s => new Gru_64_128(s)),
        Case<Gru_3_17_2_Head3, Gru_3_17_2_Head3.State>("Gru_3_17_2_Head3", 3, 17, 2, 3, false, 1, s => new Gru_3_17_2_Head3(s)),
        Case<Gru_3_17_2_NoBias, Gru_3_17_2_NoBias.State>("Gru_3_17_2_NoBias", 3, 17, 2, 2, false, 1, s => new Gru_3_17_2_NoBias(s)),
        Case<Gru_3_17_2_Bi, Gru_3_17_2_Bi.State>("Gru_3_17_2_Bi", 3, 17, 2, 2, true, 1, s => new Gru_3_17_2_Bi(s)),
        Case<Gru_5_12_2_Init, Gru_5_12_2_Init.State>("Gru_5_12_2_Init", 5, 12, 2, 1, false, 1, s => new Gru_5_12_2_Init(s)),
        Case<Gru_3_17_B3, Gru_3_17_B3.State>("Gru_3_17_B3", 3, 17, 1, 2, false, 3, s => new Gru_3_17_B3(s)),
        Case<Gru_1_16_B8, Gru_1_16_B8.State>("Gru_1_16_B8", 1, 16, 1, 0, false, 8, s => new Gru_1_16_B8(s)),
        Case<Gru_4_20_3_Dropout, Gru_4_20_3_Dropout.State>("Gru_4_20_3_Dropout", 4, 20, 3, 2, false, 1, s => new Gru_4_20_3_Dropout(s)),
    };

    public static GruCase Get(string name) => All.Single(c => c.Name == name);

    /// <summary>A model of <paramref name="c"/> from <paramref name="seed"/>, its learned initial state (if any) set away from zero so that h_0 is read from it.</summary>
    public static IRecurrentModelDriver CreateWithInitialState(GruCase c, int seed)
    {
        var model = c.Create(seed);
        var random = new LstmRandom((ulong)seed + 100);
        foreach (var t in model.Parameters.Tensors.Where(t => t.Name.StartsWith("initial_h", StringComparison.Ordinal)))
        {
            var values = new float[t.Length];
            random.FillUniform(values, 0.8f);
            t.CopyFrom(values);
        }
        return model;
    }

    public static IEnumerable<object[]> Names => All.Select(c => new object[] { c.Name });
}

// int8 gate weights (issue 19): the same shapes as Gru_3_17_2_Head3, Gru_64_128 and Gru_3_17_2_Bi, plus batch 3
[GruModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 3, WeightStorage = WeightStorage.Int8)] public partial class GruInt8_3_17_2_Head3 { }
[GruModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.Int8)] public partial class GruInt8_64_128 { }
[GruModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, Bidirectional = true, OutputSize = 2, WeightStorage = WeightStorage.Int8)] public partial class GruInt8_3_17_2_Bi { }
[GruModel(InputSize = 3, HiddenSize = 17, BatchSize = 3, OutputSize = 2, WeightStorage = WeightStorage.Int8)] public partial class GruInt8_3_17_B3 { }

// bf16 gate weights: odd tiles (1→16 and 1→40 on AVX-512: three vectors a block, one or three blocks) and even ones
[GruModel(InputSize = 1, HiddenSize = 16, WeightStorage = WeightStorage.BFloat16)] public partial class GruBf16_1_16 { }
[GruModel(InputSize = 1, HiddenSize = 40, WeightStorage = WeightStorage.BFloat16)] public partial class GruBf16_1_40 { }
[GruModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 3, WeightStorage = WeightStorage.BFloat16)] public partial class GruBf16_3_17_2_Head3 { }
[GruModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.BFloat16)] public partial class GruBf16_64_128 { }
[GruModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, Bidirectional = true, OutputSize = 2, WeightStorage = WeightStorage.BFloat16)] public partial class GruBf16_3_17_2_Bi { }
[GruModel(InputSize = 3, HiddenSize = 17, BatchSize = 3, OutputSize = 2, WeightStorage = WeightStorage.BFloat16)] public partial class GruBf16_3_17_B3 { }
