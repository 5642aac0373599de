using System;

namespace LstmGen.Generator;

/// <summary>One vector width the generated code has a path for.</summary>
internal sealed class VectorWidth
{
    public static readonly VectorWidth[] All =
    {
        // Accumulator budgets: AVX-512 has 32 zmm registers, AVX2 16 ymm; Vector128 (SSE/NEON) and scalar keep to 8 to stay spill-free on x64.
        new VectorWidth(16, "Vector512", accumulatorBudget: 16, projectionVectors: 4),
        new VectorWidth(8, "Vector256", accumulatorBudget: 8, projectionVectors: 2),
        new VectorWidth(4, "Vector128", accumulatorBudget: 8, projectionVectors: 2),
        new VectorWidth(1, "Scalar", accumulatorBudget: 8, projectionVectors: 2),
    };

    private VectorWidth(int lanes, string name, int accumulatorBudget, int projectionVectors)
    {
        Lanes = lanes;
        Name = name;
        AccumulatorBudget = accumulatorBudget;
        ProjectionVectors = projectionVectors;
    }

    public int Lanes { get; }
    public string Name { get; }
    public int AccumulatorBudget { get; }
    public int ProjectionVectors { get; }
    public bool IsScalar => Lanes == 1;

    public string ClassName => "Kernels" + Name;
    public string Type => IsScalar ? "float" : $"global::System.Runtime.Intrinsics.{Name}<float>";
    private string Static => $"global::System.Runtime.Intrinsics.{Name}";

    public string IsAcceleratedCondition => IsScalar ? "true" : $"{Static}.IsHardwareAccelerated";

    // The kernel classes define Load, Store, Splat, MulAdd and Tanh helpers for their width (EmitHelpers), so emitted lines stay short.
    public string Load(string reference, string offset) => $"Load(ref {reference}, {offset})";

    public string Store(string value, string reference, string offset) => $"Store({value}, ref {reference}, {offset});";

    public string Broadcast(string value) => $"Splat({value})";

    public string StaticClass => Static;

    public string Zero => IsScalar ? "0f" : $"{Type}.Zero";
}

/// <summary>
/// How one layer shape (inputs <c>Ik</c>, hidden <c>H</c>) is tiled for one vector width. Derived from the
/// constant sizes by the generator, so the emitted code has no runtime remainder handling.
/// </summary>
internal sealed class LayerPlan
{
    /// <summary>Fully unroll the column loop up to this many columns (the unroll policy, see README).</summary>
    public const int MaxUnrolledColumns = 48;

    /// <summary>Unroll the input-projection's column loop up to this many inputs.</summary>
    public const int MaxUnrolledProjectionColumns = 16;

    public LayerPlan(int inputs, int hidden, VectorWidth width)
    {
        Inputs = inputs;
        Hidden = hidden;
        Width = width;
        PaddedHidden = (hidden + width.Lanes - 1) / width.Lanes * width.Lanes;
        Blocks = PaddedHidden / width.Lanes;
        int maxBlocksPerTile = Math.Max(1, width.AccumulatorBudget / 4);
        BlocksPerTile = 1;
        for (int b = Math.Min(maxBlocksPerTile, Blocks); b >= 1; b--)
            if (Blocks % b == 0) { BlocksPerTile = b; break; }
        Tiles = Blocks / BlocksPerTile;
    }

    public int Inputs { get; }
    public int Hidden { get; }
    public VectorWidth Width { get; }
    public int PaddedHidden { get; }
    public int Blocks { get; }
    public int BlocksPerTile { get; }
    public int Tiles { get; }
    public int Columns => Inputs + Hidden;
    public int VectorsPerTile => BlocksPerTile * 4;
    public int ColumnStride => VectorsPerTile * Width.Lanes;
    public int TileStride => Columns * ColumnStride;
    public int WeightLength => Tiles * TileStride;
    public int BiasLength => 4 * PaddedHidden;

    /// <summary>
    /// Independent partial sums per accumulator over <paramref name="columns"/> columns: split the FMA chain while
    /// the whole layer is one tile and the extra accumulators still fit the register budget.
    /// </summary>
    public int Splits(int columns)
    {
        if (Tiles != 1 || columns < 8) return 1;
        return Math.Max(1, Math.Min(4, Width.AccumulatorBudget / VectorsPerTile));
    }
}
