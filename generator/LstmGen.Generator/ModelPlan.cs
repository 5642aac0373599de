using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LstmGen.Generator.Model;

namespace LstmGen.Generator;

/// <summary>
/// Every number derived from a <see cref="LstmModelSpec"/>, computed in one place: the sizes, the tensors in PyTorch
/// order with their offsets and the parameter count, the state layout, the per-width tiling and packed layout, and the
/// trainer's layout sizes. The emitters read the plan, never each other; the parser (the size limit) and compiled-in
/// weights (the tensor list a file must match) read the same plan.
/// </summary>
internal sealed class ModelPlan
{
    private readonly LstmModelSpec _spec;

    public ModelPlan(LstmModelSpec spec)
    {
        _spec = spec;
        Cell = RecurrentCell.For(spec);
    }

    public LstmModelSpec Spec => _spec;

    /// <summary>The model's cell: its gates, tensors, state, and element-wise steps (see <see cref="RecurrentCell"/>).</summary>
    internal RecurrentCell Cell { get; }

    internal int I => _spec.InputSize;
    internal int H => _spec.HiddenSize;
    internal int L => _spec.NumLayers;
    internal bool HasHead => _spec.OutputSize > 0;
    /// <summary>Values per step the model writes: the head's outputs, or the top layer's h (both directions).</summary>
    internal int O => HasHead ? _spec.OutputSize : HeadInputs;

    /// <summary>Directions: 2 for a bidirectional model.</summary>
    internal int D => _spec.Bidirectional ? 2 : 1;
    internal bool Bidirectional => _spec.Bidirectional;
    /// <summary>The projection size (0 = none).</summary>
    internal int P => _spec.ProjSize;
    /// <summary>Values of h per direction: the projection size, or the hidden size.</summary>
    internal int Hp => P > 0 ? P : H;
    internal bool Peep => _spec.Peepholes;
    internal int Batch => _spec.BatchSize;
    internal bool LearnInit => _spec.LearnInitialState;
    internal float DropoutP => _spec.Dropout;
    /// <summary>The inference kernels' gate-weight storage (WeightStorageValues); training always packs float32.</summary>
    internal int Storage => _spec.WeightStorage;
    /// <summary>Whether inference reads reduced-precision gate weights (bf16 or int8) from its own packed layout.</summary>
    internal bool Reduced => Storage != WeightStorageValues.Float32;
    internal bool Int8 => Storage == WeightStorageValues.Int8;
    internal float RecurrentDropoutP => _spec.RecurrentDropout;
    /// <summary>Values a layer outputs per step (both directions): the next layer's input size and the head's.</summary>
    internal int HeadInputs => D * Hp;
    internal int OutputValues => O;

    /// <summary>Whether the trainer materializes layer k's output rows (both directions, or dropout before the next layer).</summary>
    internal bool TrainHasOut(int layer) => D == 2 || (DropoutP > 0 && layer < L - 1);

    internal int LayerPlanHidden => H;
    internal int TrainHq => Align16(H);
    /// <summary>Sequences a training chunk runs side by side (the trainer's GroupSize): one weight load per step feeds all of them.</summary>
    internal const int TrainGroup = 4;

    /// <summary>
    /// Whether training steps a group of sequences through one product with W_hh per step (InputProjection.ProjectAdd:
    /// each weight loaded once for the group) and then the cell alone, rather than one recurrent kernel per sequence:
    /// where W_hh is larger than L1 (32 KB), so that reading it once per sequence and step is what the step waits for.
    /// For a cell that sums some gate's h columns apart (the GRU) the product lands in rows of its own (the trainer's
    /// TrainProduct), which the cell-only kernel routes, as an int8 step's does (RecurrentProductApart).
    /// </summary>
    internal bool TrainGroupProduct(LayerPlan plan) => (long)Cell.Gates * plan.PaddedHidden * plan.Recurrent * 4 > 32 * 1024;
    internal int LayerCount => L;
    internal int UnitCount => L * D;
    internal bool HasBias => _spec.Bias;

    internal static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    internal static int Align16(int value) => (value + 15) / 16 * 16;

    internal int LayerInputs(int layer) => layer == 0 ? I : D * Hp;
    internal int UnitInputs(int unit) => LayerInputs(unit / D);
    internal static string Suffix(int direction) => direction == 1 ? "_reverse" : "";
    internal string UnitName(int unit) => $"l{N(unit / D)}{Suffix(unit % D)}";

    /// <summary>
    /// Whether Forward of a batched model advances all streams together through Step's kernel rather than running each
    /// stream's sequence with the hoisted input projection. Together wins where one stream's step is a short, latency-bound
    /// chain (every layer's single-stream step straight-line on AVX-512: the 1 → 16 shape at batch 8 ran 332 against
    /// 513 ns per step); where it is a loop over many columns the hoisted projection wins (8 → 32 × 2 at batch 8: 3,497
    /// together against 2,914 ns). bf16/int8 models step their streams one after another, so they keep the hoisted path.
    /// </summary>
    internal bool ForwardStreamsTogether => Batch > 1 && D == 1 && !Reduced &&
        Enumerable.Range(0, L).All(k => new LayerPlan(LayerInputs(k), Hp, H, VectorWidth.All[0], Cell.Gates, Cell.Accumulators.Count).UnrollColumns(LayerInputs(k) + Hp));

    /// <summary>How layer <paramref name="layer"/> is tiled for <paramref name="width"/>; batched models keep one block per tile.</summary>
    internal LayerPlan Tiling(int layer, VectorWidth width) => new(LayerInputs(layer), Hp, H, width, Cell.Gates, Cell.Accumulators.Count, Batch > 1 ? 1 : 4);

    /// <summary>The distinct input sizes of the layers (layer 0, and the layers above when there are any).</summary>
    internal IEnumerable<int> LayerShapes() => Enumerable.Range(0, L).Select(LayerInputs).Distinct();

    // ---- State layout (floats; every region starts on a 64-byte boundary) ----
    // Per stream, per unit u = (layer, direction): z_u = [x ; h_u] (the kernel's column input; h_u 64-byte aligned), then
    // the cell's carried vectors (the LSTM's c_u); then h_new and m scratch. After all streams: the chunk's G rows and two
    // ping-pong buffers of layer outputs.
    internal int PaddedHidden16 => Align16(H);
    private int RegionStart(int unit) => Enumerable.Range(0, unit).Sum(u => Align16(UnitInputs(u)) + (1 + Cell.Carried.Count) * PaddedHidden16);
    internal int StateH(int unit) => RegionStart(unit) + Align16(UnitInputs(unit));
    internal int StateZ(int unit) => StateH(unit) - UnitInputs(unit);
    /// <summary>Where carried vector <paramref name="index"/> of the cell (<see cref="RecurrentCell.Carried"/>) of a unit starts.</summary>
    internal int StateCarried(int unit, int index) => StateH(unit) + (1 + index) * PaddedHidden16;
    internal int StateHNew => RegionStart(UnitCount);
    internal int StateM => StateHNew + PaddedHidden16;
    internal int StreamStride => StateM + PaddedHidden16;
    internal int StateG => Batch * StreamStride;
    internal int ChunkLength => Math.Max(4, Math.Min(64, 16384 / (Cell.Gates * PaddedHidden16) / 4 * 4));
    internal int StateSeqA => StateG + ChunkLength * Cell.Gates * PaddedHidden16;
    internal int StateSeqB => StateSeqA + Align16(ChunkLength * Hp);
    /// <summary>
    /// Whether an int8 model's recurrent product (Int8Product over W_hh) lands in a row of its own, StateR, instead of being
    /// added to the G row: where the cell sums some gate's h columns apart from its x columns (the GRU's n), the cell-only
    /// kernel then routes the row's gates to their accumulators.
    /// </summary>
    internal bool RecurrentProductApart => Int8 && Cell.SplitsColumns;
    internal int StateR => StateSeqB + Align16(ChunkLength * Hp);
    internal int StateLength => StateR + (RecurrentProductApart ? Align16(Cell.Gates * PaddedHidden16) : 0);
    internal string StateSeqName(int layer) => layer % 2 == 0 ? "StateSeqA" : "StateSeqB";

    // ---- Parameters (PyTorch order: per layer, per direction) ----

    /// <summary>
    /// The tensors of a model in PyTorch order, with long sizes: the one definition behind <see cref="Tensors"/>, the
    /// parameter count and the parser's size limit (which runs before the sizes are known to fit an int).
    /// </summary>
    internal static IEnumerable<(string Name, long Rows, long Columns)> TensorShapes(LstmModelSpec spec)
    {
        var cell = RecurrentCell.For(spec);
        long h = spec.HiddenSize, p = spec.ProjSize, hp = p > 0 ? p : h;
        int d = spec.Bidirectional ? 2 : 1;
        for (int k = 0; k < spec.NumLayers; k++)
        {
            long inputs = k == 0 ? spec.InputSize : d * hp;
            for (int dir = 0; dir < d; dir++)
                foreach (var tensor in cell.UnitTensors(N(k) + Suffix(dir), h, inputs, hp, spec.Bias, spec.LearnInitialState))
                    yield return tensor;
        }
        if (spec.OutputSize > 0)
        {
            yield return ("fc.weight", spec.OutputSize, d * hp);
            yield return ("fc.bias", spec.OutputSize, 0);
        }
    }

    /// <summary>The number of float parameters of <paramref name="spec"/>, in long (checked against the limit before anything else).</summary>
    internal static long CountParameters(LstmModelSpec spec) => TensorShapes(spec).Sum(t => t.Rows * Math.Max(1L, t.Columns));

    private List<(string Name, int Rows, int Columns)>? _tensors;

    internal List<(string Name, int Rows, int Columns)> Tensors() =>
        _tensors ??= TensorShapes(_spec).Select(t => (t.Name, checked((int)t.Rows), checked((int)t.Columns))).ToList();

    private static int Length((string Name, int Rows, int Columns) t) => t.Rows * Math.Max(1, t.Columns);

    /// <summary>Position of the tensor named <paramref name="name"/> in PyTorch order.</summary>
    internal int TensorIndex(string name) => Tensors().FindIndex(t => t.Name == name);

    /// <summary>Offset of the tensor named <paramref name="name"/> in the flat parameter array.</summary>
    internal int TensorOffset(string name) => Tensors().Take(TensorIndex(name)).Sum(Length);

    /// <summary>Offset of unit <paramref name="unit"/>'s tensor of kind <paramref name="kind"/> (e.g. "weight_ih").</summary>
    internal int UnitTensorOffset(string kind, int unit) => TensorOffset(kind + "_" + UnitName(unit));
    internal int UnitTensorIndex(string kind, int unit) => TensorIndex(kind + "_" + UnitName(unit));

    /// <summary>A C# switch expression on the emitted variable <c>unit</c> giving <paramref name="value"/> of each unit.</summary>
    internal string UnitSwitch(Func<int, int> value) =>
        $"unit switch {{ {string.Join(", ", Enumerable.Range(0, UnitCount).Select(u => $"{N(u)} => {N(value(u))}"))}, _ => 0 }}";

    internal int LstmParameterCount => Tensors().Where(t => !t.Name.StartsWith("fc.", StringComparison.Ordinal)).Sum(Length);
    internal int ParameterCount => Tensors().Sum(Length);

    // ---- Packed layout per width: per unit, weights, summed bias, then (optional) int8 scales, the cell's own rows (peepholes) and projection.
    // The reduced layout (bf16/int8 models' inference copy) stores the gate weights in 2 or 1 bytes; everything else is float32.
    internal int PackedCellLength(VectorWidth width, int unit) => Cell.PackedRows > 0 ? Align16(Cell.PackedRows * Tiling(unit / D, width).PaddedHidden) : 0;
    internal int PaddedProjection(VectorWidth width) => (P + width.Lanes - 1) / width.Lanes * width.Lanes;
    internal int PackedProjLength(VectorWidth width) => P > 0 ? Align16(H * PaddedProjection(width)) : 0;

    /// <summary>
    /// Floats the packed gate weights of a plan take: 4-byte floats, bf16 bytes counted in floats, or int8's two products
    /// (W_ih, then W_hh, in the runtime's Int8Product order, which does not depend on the tiling).
    /// </summary>
    internal int PackedWeightFloats(LayerPlan plan, bool reduced) =>
        !reduced ? plan.WeightLength : Int8 ? plan.Shape.Int8Length / 4 : (plan.WeightLength * WeightStorageValues.Bytes(Storage) + 3) / 4; // whole floats: a GRU's scalar bf16 pack can be an odd number of bf16 values
    /// <summary>Runs of per-row int8 scales, each laid out like the bias: s_ih, then s_hh (LstmPacking.PackLayerInt8).</summary>
    internal const int Int8ScaleRuns = 2;
    internal int PackedScaleLength(VectorWidth width, int unit, bool reduced) => reduced && Int8 ? Align16(Int8ScaleRuns * Tiling(unit / D, width).BiasLength) : 0;

    private int PackedUnitLength(VectorWidth width, int unit, bool reduced)
    {
        var plan = Tiling(unit / D, width);
        return Align16(PackedWeightFloats(plan, reduced)) + Align16(plan.BiasLength) + PackedScaleLength(width, unit, reduced) + PackedCellLength(width, unit) + PackedProjLength(width);
    }

    internal int PackedWeightOffset(VectorWidth width, int unit, bool reduced = false) => Enumerable.Range(0, unit).Sum(u => PackedUnitLength(width, u, reduced));
    internal int PackedBiasOffset(VectorWidth width, int unit, bool reduced = false) => PackedWeightOffset(width, unit, reduced) + Align16(PackedWeightFloats(Tiling(unit / D, width), reduced));
    internal int PackedScaleOffset(VectorWidth width, int unit, bool reduced = false) => PackedBiasOffset(width, unit, reduced) + Align16(Tiling(unit / D, width).BiasLength);
    internal int PackedCellOffset(VectorWidth width, int unit, bool reduced = false) => PackedScaleOffset(width, unit, reduced) + PackedScaleLength(width, unit, reduced);
    internal int PackedProjOffset(VectorWidth width, int unit, bool reduced = false) => PackedCellOffset(width, unit, reduced) + PackedCellLength(width, unit);

    internal int PackedLength(VectorWidth width, bool reduced) => PackedWeightOffset(width, UnitCount, reduced);

    /// <summary>The file-local class in namespace LstmGen.Generated that holds this model's kernels.</summary>
    internal string KernelHost => _spec.ClassName + "Kernels";
}
