using System;
using System.Collections.Generic;
using System.Linq;
using LstmGen.Tests.Reference;
using LstmGen.Tests.Variants;
using LstmGen.Training;

namespace LstmGen.Tests.Reduced;

// Issue 8: the same shapes with bf16 and int8 gate weights. Awkward sizes (1, 3, 17, 40), an unrolled and a looped column
// loop, several tiles (128 units), every layer option that changes the kernels (bidirectional, projection, peepholes),
// and the batched step.
[LstmModel(InputSize = 1, HiddenSize = 1, WeightStorage = WeightStorage.BFloat16)] public partial class Bf16_1_1 { }
[LstmModel(InputSize = 1, HiddenSize = 1, WeightStorage = WeightStorage.Int8)] public partial class I8_1_1 { }
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, WeightStorage = WeightStorage.BFloat16)] public partial class Bf16_3_17_2_2 { }
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, WeightStorage = WeightStorage.Int8)] public partial class I8_3_17_2_2 { }
[LstmModel(InputSize = 40, HiddenSize = 40, WeightStorage = WeightStorage.BFloat16)] public partial class Bf16_40_40 { }
[LstmModel(InputSize = 40, HiddenSize = 40, WeightStorage = WeightStorage.Int8)] public partial class I8_40_40 { }
[LstmModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.BFloat16)] public partial class Bf16_64_128 { }
[LstmModel(InputSize = 64, HiddenSize = 128, WeightStorage = WeightStorage.Int8)] public partial class I8_64_128 { }
[LstmModel(InputSize = 5, HiddenSize = 12, NumLayers = 2, Bidirectional = true, ProjSize = 5, Peepholes = true, OutputSize = 2,
    WeightStorage = WeightStorage.BFloat16)] public partial class Bf16_BiProjPeep { }
[LstmModel(InputSize = 5, HiddenSize = 12, NumLayers = 2, Bidirectional = true, ProjSize = 5, Peepholes = true, OutputSize = 2,
    WeightStorage = WeightStorage.Int8)] public partial class I8_BiProjPeep { }
[LstmModel(InputSize = 3, HiddenSize = 17, ProjSize = 7, Peepholes = true, OutputSize = 1, WeightStorage = WeightStorage.Int8)] public partial class I8_ProjPeep_3_17 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, BatchSize = 8, WeightStorage = WeightStorage.BFloat16)] public partial class Bf16_8_32_2_B8 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, BatchSize = 8, WeightStorage = WeightStorage.Int8)] public partial class I8_8_32_2_B8 { }
[LstmModel(InputSize = 3, HiddenSize = 17, BatchSize = 3, WeightStorage = WeightStorage.Int8)] public partial class I8_3_17_B3 { }
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2)] public partial class F32_3_17_2_2 { }

// The benchmark shapes A–E (no head: the outputs are the last layer's h), for the error against float32 (Models.cs).
[LstmModel(InputSize = 1, HiddenSize = 16, WeightStorage = WeightStorage.BFloat16)] public partial class Bf16_A { }
[LstmModel(InputSize = 1, HiddenSize = 16, WeightStorage = WeightStorage.Int8)] public partial class I8_A { }
[LstmModel(InputSize = 1, HiddenSize = 40, WeightStorage = WeightStorage.BFloat16)] public partial class Bf16_B { }
[LstmModel(InputSize = 1, HiddenSize = 40, WeightStorage = WeightStorage.Int8)] public partial class I8_B { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, WeightStorage = WeightStorage.BFloat16)] public partial class Bf16_C { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, WeightStorage = WeightStorage.Int8)] public partial class I8_C { }
[LstmModel(InputSize = 256, HiddenSize = 256, WeightStorage = WeightStorage.BFloat16)] public partial class Bf16_E { }
[LstmModel(InputSize = 256, HiddenSize = 256, WeightStorage = WeightStorage.Int8)] public partial class I8_E { }

public sealed record ReducedCase(string Name, Storage Storage, VariantConfig Config, int Batch, Func<IVariantDriver> Create)
{
    public override string ToString() => Name;
}

public static class ReducedModels
{
    private static ReducedCase Case<TModel, TState>(Storage storage, VariantConfig cfg, Func<TModel> create, Action<TModel, float[], TState, float[]>? step, int batch = 1)
        where TModel : ILstmModel<TState> where TState : class, ILstmState =>
        new(typeof(TModel).Name, storage, cfg, batch, () =>
        {
            var model = create();
            return new VariantDriver<TModel, TState>(model, (_, _, _, _, _) => throw new NotSupportedException())
            {
                Step = step is null ? null : (x, s, y) => step(model, x, (TState)s, y),
            };
        });

    private static VariantConfig Cfg(int i, int h, int l = 1, int d = 1, int p = 0, bool peep = false, int o = 0) => new(i, h, l, d, p, peep, true, o, false);

    public static readonly ReducedCase[] All =
    {
        Case<Bf16_1_1, Bf16_1_1.State>(Storage.BFloat16, Cfg(1, 1), () => new(), (m, x, s, y) => m.Step(x, s, y)),
        Case<I8_1_1, I8_1_1.State>(Storage.Int8, Cfg(1, 1), () => new(), (m, x, s, y) => m.Step(x, s, y)),
        Case<Bf16_3_17_2_2, Bf16_3_17_2_2.State>(Storage.BFloat16, Cfg(3, 17, 2, o: 2), () => new(), (m, x, s, y) => m.Step(x, s, y)),
        Case<I8_3_17_2_2, I8_3_17_2_2.State>(Storage.Int8, Cfg(3, 17, 2, o: 2), () => new(), (m, x, s, y) => m.Step(x, s, y)),
        Case<Bf16_40_40, Bf16_40_40.State>(Storage.BFloat16, Cfg(40, 40), () => new(), (m, x, s, y) => m.Step(x, s, y)),
        Case<I8_40_40, I8_40_40.State>(Storage.Int8, Cfg(40, 40), () => new(), (m, x, s, y) => m.Step(x, s, y)),
        Case<Bf16_64_128, Bf16_64_128.State>(Storage.BFloat16, Cfg(64, 128), () => new(), (m, x, s, y) => m.Step(x, s, y)),
        Case<I8_64_128, I8_64_128.State>(Storage.Int8, Cfg(64, 128), () => new(), (m, x, s, y) => m.Step(x, s, y)),
        Case<Bf16_BiProjPeep, Bf16_BiProjPeep.State>(Storage.BFloat16, Cfg(5, 12, 2, d: 2, p: 5, peep: true, o: 2), () => new(), null),
        Case<I8_BiProjPeep, I8_BiProjPeep.State>(Storage.Int8, Cfg(5, 12, 2, d: 2, p: 5, peep: true, o: 2), () => new(), null),
        Case<I8_ProjPeep_3_17, I8_ProjPeep_3_17.State>(Storage.Int8, Cfg(3, 17, p: 7, peep: true, o: 1), () => new(), (m, x, s, y) => m.Step(x, s, y)),
        Case<Bf16_8_32_2_B8, Bf16_8_32_2_B8.State>(Storage.BFloat16, Cfg(8, 32, 2), () => new(), (m, x, s, y) => m.Step(x, s, y), batch: 8),
        Case<I8_8_32_2_B8, I8_8_32_2_B8.State>(Storage.Int8, Cfg(8, 32, 2), () => new(), (m, x, s, y) => m.Step(x, s, y), batch: 8),
        Case<I8_3_17_B3, I8_3_17_B3.State>(Storage.Int8, Cfg(3, 17), () => new(), (m, x, s, y) => m.Step(x, s, y), batch: 3),
    };

    public static ReducedCase Get(string name) => All.Single(c => c.Name == name);
    public static IEnumerable<object[]> Names => All.Select(c => new object[] { c.Name });
}

