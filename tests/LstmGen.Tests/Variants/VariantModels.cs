using System;
using System.Collections.Generic;
using System.Linq;
using LstmGen.Tests.Reference;
using LstmGen.Training;

namespace LstmGen.Tests.Variants;

// Every option of issue 6, alone and together, on awkward sizes (1, 3, 17, 40) and the benchmark shapes A and C.
[LstmModel(InputSize = 3, HiddenSize = 17, Bidirectional = true)] public partial class Bi_3_17_1 { }
[LstmModel(InputSize = 5, HiddenSize = 8, NumLayers = 2, Bidirectional = true, OutputSize = 3)] public partial class Bi_5_8_2_3 { }
[LstmModel(InputSize = 1, HiddenSize = 1, Bidirectional = true, Peepholes = true)] public partial class BiPeep_1_1_1 { }
[LstmModel(InputSize = 8, HiddenSize = 32, ProjSize = 12)] public partial class Proj_8_32_P12 { }
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, ProjSize = 5, OutputSize = 2)] public partial class Proj_3_17_2_P5_2 { }
[LstmModel(InputSize = 4, HiddenSize = 16, NumLayers = 2, Bidirectional = true, ProjSize = 6)] public partial class BiProj_4_16_2_P6 { }
[LstmModel(InputSize = 40, HiddenSize = 40, ProjSize = 17, Peepholes = true)] public partial class ProjPeep_40_40_P17 { }
[LstmModel(InputSize = 3, HiddenSize = 17, Peepholes = true)] public partial class Peep_3_17_1 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, Peepholes = true, OutputSize = 1)] public partial class Peep_8_32_2_1 { }
[LstmModel(InputSize = 5, HiddenSize = 16, NumLayers = 3, Dropout = 0.25f, OutputSize = 1)] public partial class Drop_5_16_3_1 { }
[LstmModel(InputSize = 3, HiddenSize = 17, RecurrentDropout = 0.3f, OutputSize = 2)] public partial class RecDrop_3_17_1_2 { }
[LstmModel(InputSize = 1, HiddenSize = 16, BatchSize = 8)] public partial class Batch_1_16_B8 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, BatchSize = 8)] public partial class Batch_8_32_2_B8 { }
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, BatchSize = 3, ProjSize = 7, Peepholes = true, OutputSize = 2)] public partial class Batch_3_17_2_B3_P7 { }
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, LearnInitialState = true, OutputSize = 1)] public partial class Learn_3_17_2_1 { }
[LstmModel(InputSize = 5, HiddenSize = 12, NumLayers = 2, Bidirectional = true, ProjSize = 5, Peepholes = true, LearnInitialState = true,
    Dropout = 0.2f, RecurrentDropout = 0.1f, OutputSize = 2)] public partial class All_5_12_2 { }

/// <summary>A variant model behind a uniform face for table-driven tests.</summary>
public interface IVariantDriver
{
    LstmParameters Parameters { get; }
    ILstmState NewState();
    /// <summary>Null for bidirectional models (no streaming step).</summary>
    Action<float[], ILstmState, float[]>? Step { get; }
    void Forward(ReadOnlySpan<float> xs, ILstmState state, Span<float> ys);
    ILstmTrainer CreateTrainer(Optimizer optimizer, Loss loss, int maxT, int seed);
    /// <summary>The last sequence's masks as the reference takes them (layer masks per layer, recurrent masks per unit), or nulls.</summary>
    (double[][]? Layer, double[][]? Recurrent) Masks(ILstmTrainer trainer, int steps);
}

public sealed class VariantDriver<TModel, TState>(TModel model, Func<TModel, Optimizer, Loss, int, int, ILstmTrainer> createTrainer,
    Func<ILstmTrainer, int, (double[][]?, double[][]?)>? masks = null) : IVariantDriver
    where TModel : ILstmModel<TState> where TState : class, ILstmState
{
    public TModel Model { get; } = model;
    public LstmParameters Parameters => Model.Parameters;
    public ILstmState NewState() => Model.NewState();
    public Action<float[], ILstmState, float[]>? Step { get; init; }
    public void Forward(ReadOnlySpan<float> xs, ILstmState state, Span<float> ys) => Model.Forward(xs, (TState)state, ys);
    public ILstmTrainer CreateTrainer(Optimizer optimizer, Loss loss, int maxT, int seed) => createTrainer(Model, optimizer, loss, maxT, seed);
    public (double[][]? Layer, double[][]? Recurrent) Masks(ILstmTrainer trainer, int steps) => masks?.Invoke(trainer, steps) ?? (null, null);
}

public sealed record VariantCase(string Name, VariantConfig Config, int Batch, float Dropout, float RecurrentDropout, Func<int, IVariantDriver> Create)
{
    public bool Bidirectional => Config.D == 2;
    public override string ToString() => Name;
}

public static class VariantModels
{
    private static double[] D(ReadOnlySpan<float> v) => VariantReference.ToDouble(v);

    private static VariantCase Case<TModel, TState>(VariantConfig cfg, Func<int, TModel> create,
        Func<TModel, Optimizer, Loss, int, int, ILstmTrainer> trainer, Action<TModel, float[], TState, float[]>? step,
        int batch = 1, float dropout = 0, float recurrentDropout = 0, Func<ILstmTrainer, int, (double[][]?, double[][]?)>? masks = null)
        where TModel : ILstmModel<TState> where TState : class, ILstmState =>
        new(typeof(TModel).Name, cfg, batch, dropout, recurrentDropout, seed =>
        {
            var model = create(seed);
            return new VariantDriver<TModel, TState>(model, trainer, masks)
            {
                Step = step is null ? null : (x, s, y) => step(model, x, (TState)s, y),
            };
        });

    private static VariantConfig Cfg(int i, int h, int l = 1, int d = 1, int p = 0, bool peep = false, int o = 0, bool learn = false) =>
        new(i, h, l, d, p, peep, true, o, learn);

    public static readonly VariantCase[] All =
    {
        Case<Bi_3_17_1, Bi_3_17_1.State>(Cfg(3, 17, d: 2), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), null),
        Case<Bi_5_8_2_3, Bi_5_8_2_3.State>(Cfg(5, 8, 2, d: 2, o: 3), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), null),
        Case<BiPeep_1_1_1, BiPeep_1_1_1.State>(Cfg(1, 1, d: 2, peep: true), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), null),
        Case<Proj_8_32_P12, Proj_8_32_P12.State>(Cfg(8, 32, p: 12), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y)),
        Case<Proj_3_17_2_P5_2, Proj_3_17_2_P5_2.State>(Cfg(3, 17, 2, p: 5, o: 2), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y)),
        Case<BiProj_4_16_2_P6, BiProj_4_16_2_P6.State>(Cfg(4, 16, 2, d: 2, p: 6), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), null),
        Case<ProjPeep_40_40_P17, ProjPeep_40_40_P17.State>(Cfg(40, 40, p: 17, peep: true), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y)),
        Case<Peep_3_17_1, Peep_3_17_1.State>(Cfg(3, 17, peep: true), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y)),
        Case<Peep_8_32_2_1, Peep_8_32_2_1.State>(Cfg(8, 32, 2, peep: true, o: 1), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y)),
        Case<Drop_5_16_3_1, Drop_5_16_3_1.State>(Cfg(5, 16, 3, o: 1), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y),
            dropout: 0.25f, masks: (tr, n) => (Enumerable.Range(0, 2).Select(k => D(((Drop_5_16_3_1.Trainer)tr).DropoutMask(k, n))).ToArray(), null)),
        Case<RecDrop_3_17_1_2, RecDrop_3_17_1_2.State>(Cfg(3, 17, o: 2), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y),
            recurrentDropout: 0.3f, masks: (tr, n) => (null, new[] { D(((RecDrop_3_17_1_2.Trainer)tr).RecurrentDropoutMask(0)) })),
        Case<Batch_1_16_B8, Batch_1_16_B8.State>(Cfg(1, 16), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y), batch: 8),
        Case<Batch_8_32_2_B8, Batch_8_32_2_B8.State>(Cfg(8, 32, 2), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y), batch: 8),
        Case<Batch_3_17_2_B3_P7, Batch_3_17_2_B3_P7.State>(Cfg(3, 17, 2, p: 7, peep: true, o: 2), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y), batch: 3),
        Case<Learn_3_17_2_1, Learn_3_17_2_1.State>(Cfg(3, 17, 2, o: 1, learn: true), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), (m, x, s, y) => m.Step(x, s, y)),
        Case<All_5_12_2, All_5_12_2.State>(Cfg(5, 12, 2, d: 2, p: 5, peep: true, o: 2, learn: true), s => new(s), (m, opt, loss, t, seed) => m.CreateTrainer(opt, loss, maxSequenceLength: t, seed: seed), null,
            dropout: 0.2f, recurrentDropout: 0.1f, masks: (tr, n) =>
            {
                var t = (All_5_12_2.Trainer)tr;
                return (new[] { D(t.DropoutMask(0, n)) }, Enumerable.Range(0, 4).Select(u => D(t.RecurrentDropoutMask(u / 2, u % 2))).ToArray());
            }),
    };

    public static VariantCase Get(string name) => All.Single(c => c.Name == name);
    public static IEnumerable<object[]> Names => All.Select(c => new object[] { c.Name });

    /// <summary>Every parameter uniform in [-0.5, 0.5) (so learned initial states and peepholes are not zero) from a fixed seed.</summary>
    public static void Randomize(LstmParameters parameters, ulong seed)
    {
        var values = Models.Inputs(parameters.Count, seed);
        for (int k = 0; k < values.Length; k++) values[k] *= 0.5f;
        parameters.CopyFrom(values);
    }
}
