using System;

namespace LstmGen.Generator;

/// <summary>One vector width the generated code has a path for.</summary>
internal sealed class VectorWidth
{
    public static readonly VectorWidth[] All =
    {
        // Accumulator budgets: AVX-512 has 32 zmm registers (24 accumulators leave room for the broadcast and
        // activation temporaries), AVX2 16 ymm; Vector128 (SSE/NEON) keeps to 8 to stay spill-free on x64. The scalar
        // path runs only with hardware intrinsics switched off and is not a speed path: one unit (four gates) per tile.
        new VectorWidth(16, "Vector512", accumulatorBudget: 24),
        new VectorWidth(8, "Vector256", accumulatorBudget: 8),
        new VectorWidth(4, "Vector128", accumulatorBudget: 8),
        new VectorWidth(1, "Scalar", accumulatorBudget: 4),
    };

    private VectorWidth(int lanes, string name, int accumulatorBudget)
    {
        Lanes = lanes;
        Name = name;
        AccumulatorBudget = accumulatorBudget;
    }

    public int Lanes { get; }
    public string Name { get; }
    public int AccumulatorBudget { get; }
    public bool IsScalar => Lanes == 1;

    public string ClassName => "Kernels" + Name;
    public string Type => TypeOf("float");

    /// <summary>This width's vector of <paramref name="element"/> (a C# keyword type), or the element itself for the scalar path.</summary>
    // The kernels are written inside LstmGen.Generated under `using` directives (Emitter.KernelUsings): plain names.
    public string TypeOf(string element) => IsScalar ? element : $"{Name}<{element}>";
    private string Static => Name;

    /// <summary>The dispatch condition, for the model class (fully qualified: it is inside the user's class).</summary>
    public string IsAcceleratedCondition => IsScalar ? "true" : $"global::System.Runtime.Intrinsics.{Name}.IsHardwareAccelerated";

    // The hot kernels use the intrinsics directly (no helper calls): in large unrolled bodies the JIT stops inlining
    // helpers once its inlining budget is spent, and each non-inlined helper costs a call per FMA.
    private const string UnsafeClass = "Unsafe";

    private static string Unsigned(string offset) =>
        int.TryParse(offset, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out _) ? offset : $"(nuint)({offset})";

    public string Load(string reference, string offset) =>
        IsScalar ? $"{UnsafeClass}.Add(ref {reference}, {offset})" : $"{Static}.LoadUnsafe(ref {reference}, {Unsigned(offset)})";

    public string Store(string value, string reference, string offset) =>
        IsScalar ? $"{UnsafeClass}.Add(ref {reference}, {offset}) = {value};" : $"{Static}.StoreUnsafe({value}, ref {reference}, {Unsigned(offset)});";

    public string Broadcast(string value) => IsScalar ? value : $"{Static}.Create({value})";

    /// <summary>An element of a float run: z_j, x_t[j].</summary>
    public static string At(string reference, string offset) => $"{UnsafeClass}.Add(ref {reference}, {offset})";

    /// <summary>a·b + c, fused where the hardware has FMA (a JIT/AOT-time constant), else multiply and add.</summary>
    public string MulAdd(string a, string b, string c) => Lanes switch
    {
        16 => $"{Static}.FusedMultiplyAdd({a}, {b}, {c})", // AVX-512 implies FMA
        8 => $"(Fma.IsSupported ? {Static}.FusedMultiplyAdd({a}, {b}, {c}) : {a} * {b} + {c})",
        4 => $"(Fma.IsSupported || AdvSimd.IsSupported ? {Static}.FusedMultiplyAdd({a}, {b}, {c}) : {a} * {b} + {c})",
        _ => $"(Fma.IsSupported || AdvSimd.IsSupported ? MathF.FusedMultiplyAdd({a}, {b}, {c}) : {a} * {b} + {c})",
    };

    public string StaticClass => Static;

    /// <summary>
    /// One unpaired bfloat16 vector (<see cref="Lanes"/> consecutive bf16 values at byte <paramref name="byteOffset"/> of
    /// a byte reference) widened to float32: the last vector of a tile with an odd count (LstmPacking.PackLayerBFloat16).
    /// </summary>
    public string WidenBFloat16One(string reference, string byteOffset) => Lanes switch
    {
        16 => $"Vector512.AsSingle(Vector512.WidenLower(Vector256.LoadUnsafe(ref {reference}, {Unsigned(byteOffset)}).AsUInt16().ToVector512Unsafe()) << 16)",
        8 => $"Vector256.AsSingle(Vector256.WidenLower(Vector128.LoadUnsafe(ref {reference}, {Unsigned(byteOffset)}).AsUInt16().ToVector256Unsafe()) << 16)",
        4 => $"Vector128.AsSingle(Vector128.WidenLower(Vector64.LoadUnsafe(ref {reference}, {Unsigned(byteOffset)}).AsUInt16().ToVector128Unsafe()) << 16)",
        _ => $"BitConverter.UInt32BitsToSingle((uint){UnsafeClass}.ReadUnaligned<ushort>(ref {UnsafeClass}.Add(ref {reference}, {byteOffset})) << 16)",
    };

    public string Zero => IsScalar ? "0f" : $"{Type}.Zero";
}

/// <summary>
/// How one layer shape (inputs <c>Ik</c>, hidden <c>H</c>) is tiled for one vector width. Derived from the
/// constant sizes by the generator, so the emitted code has no runtime remainder handling.
/// </summary>
internal sealed class LayerPlan
{
    /// <summary>
    /// Fully unroll a column loop while it has at most this many FMAs (columns × vectors per tile). The small audio
    /// shapes (1 → 16: 68 on AVX-512, 136 on AVX2) keep their straight-line step, whose dependent chain is what bounds
    /// them (a loop there cost 40% on the 1 → 16 step); above it a loop with one iteration per partial-sum chain runs
    /// at the same speed (1 → 40, 8 → 32 × 2 and the training shape T measured within 1.5% either way) in a
    /// fraction of the code.
    /// </summary>
    public const int MaxUnrolledFmas = 192;


    /// <param name="inputs">Columns of x (the layer's input size).</param>
    /// <param name="recurrent">Columns of h_(t-1): the hidden size, or the projection size with proj_size.</param>
    /// <param name="hidden">Units (rows per gate).</param>
    /// <param name="width">The vector width.</param>
    /// <param name="gates">The cell's gates per unit: packed weight vectors per block of a column.</param>
    /// <param name="accumulatorsPerBlock">The cell's accumulators per block of units (its gates, and those it keeps apart).</param>
    /// <param name="blockLimit">At most this many blocks per tile (1 for batched models, whose streams take the registers).</param>
    public LayerPlan(int inputs, int recurrent, int hidden, VectorWidth width, int gates, int accumulatorsPerBlock, int blockLimit = 4)
    {
        Width = width;
        _accumulatorsPerBlock = accumulatorsPerBlock;
        // The tiling choice: the most blocks per tile (at most 16 accumulators, within the register budget) that divide
        // the blocks. The arithmetic of the resulting layout is TileShape's, shared with the runtime packers.
        int blocks = (hidden + width.Lanes - 1) / width.Lanes;
        Shape = new TileShape(inputs, recurrent, hidden, width.Lanes, BlocksPerTileFor(blocks, width, accumulatorsPerBlock, blockLimit), gates);
        _naturalBlocksPerTile = BlocksPerTileFor(blocks, width, accumulatorsPerBlock, 4);
    }

    private readonly int _accumulatorsPerBlock;

    private static int BlocksPerTileFor(int blocks, VectorWidth width, int accumulatorsPerBlock, int blockLimit)
    {
        int maxBlocksPerTile = Math.Max(1, Math.Min(blockLimit, width.AccumulatorBudget / accumulatorsPerBlock));
        for (int b = Math.Min(maxBlocksPerTile, blocks); b >= 1; b--)
            if (blocks % b == 0) return b;
        return 1;
    }

    /// <summary>The packed layout (shared with src/LstmGen's packers).</summary>
    public TileShape Shape { get; }
    public VectorWidth Width { get; }
    public int Inputs => Shape.Inputs;
    public int Recurrent => Shape.Recurrent;
    public int Hidden => Shape.Hidden;
    public int PaddedHidden => Shape.PaddedHidden;
    public int Blocks => Shape.Blocks;
    public int BlocksPerTile => Shape.BlocksPerTile;
    public int Tiles => Shape.Tiles;
    public int Columns => Shape.Columns;
    public int VectorsPerTile => Shape.VectorsPerTile;
    public int ColumnStride => Shape.ColumnStride;
    public int TileStride => Shape.TileStride;
    public int WeightLength => Shape.WeightLength;
    public int BiasLength => Shape.BiasLength;
    /// <summary>Accumulators of one tile in a kernel: the cell's per block, for every block of the tile.</summary>
    public int Accumulators => BlocksPerTile * _accumulatorsPerBlock;

    /// <summary>
    /// Independent partial sums per accumulator over <paramref name="columns"/> columns: split the FMA chain while the
    /// extra accumulators still fit the register budget. Also for a layer of several tiles (each tile's chains are then
    /// shorter): 1 → 40 on AVX2, five tiles of one block, went from 301 to 286 ns a step with two chains per accumulator.
    /// </summary>
    public int Splits(int columns)
    {
        if (columns < 8 || Width.IsScalar) return 1;
        return Math.Max(1, Math.Min(4, Width.AccumulatorBudget / Accumulators));
    }

    /// <summary>
    /// Whether a column loop of <paramref name="columns"/> columns is unrolled. The scalar path, which runs only with
    /// hardware intrinsics switched off, is the reference for such builds, not a speed path: it is always a loop with a
    /// constant trip count, and never splits its chains.
    /// </summary>
    public bool UnrollColumns(int columns) => !Width.IsScalar && columns * VectorsPerTile <= MaxUnrolledFmas;

    /// <summary>
    /// The sizes a kernel over this tiling depends on, for its name: inputs × units ("6x32"), then "p5" when h has
    /// another size than the units (a projection), and "k1" when the tile holds fewer blocks than the register budget
    /// allows (batched models, whose streams take the registers).
    /// </summary>
    public string Key => Inv(Inputs) + "x" + RecurrentKey;

    /// <summary>As <see cref="Key"/> without the inputs: what a one-tile recurrence (which reads only the h columns) depends on.</summary>
    public string RecurrentKey => Inv(Hidden) + (Recurrent != Hidden ? "p" + Inv(Recurrent) : "") + (BlocksPerTile != _naturalBlocksPerTile ? "k" + Inv(BlocksPerTile) : "");

    private readonly int _naturalBlocksPerTile;

    private static string Inv(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Where the h columns start in this layer's float32 packed weights, in floats.</summary>
    public int RecurrentWeightOffset => Inputs * ColumnStride;

    /// <summary>Streams a batched kernel runs together: each weight load then feeds this many FMAs.</summary>
    public int StreamGroup(int batch)
    {
        int limit = Math.Max(1, Width.AccumulatorBudget / Accumulators);
        for (int s = Math.Min(limit, batch); s >= 1; s--)
            if (batch % s == 0) return s;
        return 1;
    }
}

/// <summary>
/// The names of the shared compute kernels (<see cref="SharedKernels"/>). A name says what the kernel computes and
/// carries every size and option its text depends on, so equal names mean equal code across the models of an assembly.
/// </summary>
internal static class KernelNames
{
    private static string N(long value) => ModelPlan.N(value);
    private static string Storage(ModelPlan m, bool reduced) => reduced ? (m.Int8 ? "Int8" : "Bf16") : "";
    /// <summary>The cell and its options (RecurrentCell.KernelSuffix): kernels of different cells never share a name.</summary>
    private static string Peep(ModelPlan m) => m.Cell.KernelSuffix;

    /// <summary>One step of one layer: bias + W·[x; h], then the cell update (batched: all streams, StreamStride apart). Float32 weights only.</summary>
    public static string Cell(ModelPlan m, LayerPlan p, int batch) =>
        $"Cell_{p.Key}{Peep(m)}" + (batch > 1 ? $"_b{N(batch)}s{N(m.StreamStride)}" : "");

    /// <summary>
    /// One step of the recurrence from a hoisted G row (training: also keeps the gates). The caller passes the weights
    /// from the first h column on, so a one-tile recurrence does not depend on the layer's input size and serves every
    /// layer; with several tiles the tile stride does, and the inputs stay in the name. (Sizes stay constants in the
    /// kernels: with a column count or tile stride as an argument, the Native AOT x64-v3 build ran the 8 → 32 × 2 step
    /// at half speed.)
    /// </summary>
    public static string Recur(ModelPlan m, LayerPlan p, bool training, bool reduced) =>
        $"{(training ? "RecurTrain" : "Recur")}{Storage(m, reduced)}_{(p.Tiles == 1 ? p.RecurrentKey : p.Key)}{Peep(m)}";

    /// <summary>The training cell update alone, from complete pre-activations (a group of sequences, whose products are InputProjection.ProjectAdd).</summary>
    public static string CellTrain(ModelPlan m, LayerPlan p) => $"CellTrain_{p.RecurrentKey}{Peep(m)}";

    /// <summary>The inference cell update alone, from complete pre-activations (an int8 model's, whose products are the runtime's Int8Product).</summary>
    public static string CellOnly(ModelPlan m, LayerPlan p) => $"CellOnly_{p.RecurrentKey}{Peep(m)}";

    /// <summary>h = W_hr·m (proj_size).</summary>
    public static string ProjectOut(ModelPlan m) => $"ProjectOut_{N(m.P)}x{N(m.H)}";

}
