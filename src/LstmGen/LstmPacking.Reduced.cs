using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LstmGen;

public static partial class LstmPacking
{
    /// <summary>
    /// Packs one layer as <see cref="PackLayer(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int, int, int, Span{float}, Span{float}, CellKind)"/>
    /// does, with every weight rounded to bfloat16 (nearest even). Inside a column the vectors are stored in pairs
    /// (i with f, g with o): 32-bit lane k of a pair holds vector 2m's lane k in its low half and vector 2m+1's in its high
    /// half, so a kernel widens one 32-bit load into two float vectors with a shift and a mask, without shuffles. A tile
    /// with an odd number of vectors (a GRU's three gates per block, with an odd number of blocks) stores its last vector
    /// unpaired, <c>width</c> consecutive bfloat16 values at the end of each column.
    /// <c>weights</c> receives 2 bytes per packed weight; the bias is packed in float32 as for the float layout.
    /// </summary>
    public static void PackLayerBFloat16(
        ReadOnlySpan<float> weightIh, ReadOnlySpan<float> weightHh, ReadOnlySpan<float> biasIh, ReadOnlySpan<float> biasHh,
        int inputSize, int recurrentSize, int hiddenSize, int width, int blocksPerTile, Span<byte> weights, Span<float> bias,
        CellKind cell = CellKind.Lstm)
    {
        var shape = new ReducedShape(weightIh, weightHh, inputSize, recurrentSize, hiddenSize, width, blocksPerTile, weights.Length, 2, bias.Length, cell);
        ref ushort target = ref Unsafe.As<byte, ushort>(ref MemoryMarshal.GetReference(weights));
        for (int tile = 0; tile < shape.Tiles; tile++)
            for (int v = 0; v < shape.VectorsPerTile; v++)
                for (int lane = 0; lane < width; lane++)
                {
                    int row = shape.SourceRow(tile, v, lane, out float scale);
                    // element (tile, j, v, lane) of the float layout lands in pair v/2, half v%2; an odd tile's last vector alone
                    bool unpaired = v == shape.VectorsPerTile - 1 && shape.VectorsPerTile % 2 != 0;
                    int first = tile * shape.TileStride + (unpaired ? v * width + lane : (v / 2) * 2 * width + lane * 2 + (v & 1));
                    for (int j = 0; j < shape.Columns; j++)
                        Unsafe.Add(ref target, first + j * shape.ColumnStride) =
                            row < 0 ? (ushort)0 : LstmMath.ToBFloat16(scale * shape.Weight(weightIh, weightHh, row, j));
                }
        PackBias(biasIh, biasHh, hiddenSize, width, bias, cell);
    }

    /// <summary>
    /// Packs one layer with int8 weights for <see cref="Int8Product"/>: each row of W_ih and each row of W_hh gets its
    /// own symmetric scale s = max|row| / 127 and q = round(w / s) (nearest even), so w ≈ s·q. The rows are the bias's
    /// (block by block, gate by gate, <paramref name="width"/> units each, the σ gates pre-scaled by ½), and each of the two
    /// products is stored in int8 product order: rows in blocks of 8, columns in quads of 4, 32 bytes per block and quad
    /// (<see cref="Int8Product"/>). <c>weights</c> receives the W_ih product, then the W_hh product
    /// (<see cref="TileShape.Int8Bytes"/> bytes each); <c>scales</c> receives 2·G·RoundUp(H, width) floats (G gates) laid out like
    /// the bias: the W_ih row scales, then the W_hh row scales. <paramref name="blocksPerTile"/> is checked as for the
    /// other packers but does not change this layout.
    /// </summary>
    /// <exception cref="NotSupportedException">The input or recurrent size is above <see cref="Int8Product.MaxColumns"/>.</exception>
    public static void PackLayerInt8(
        ReadOnlySpan<float> weightIh, ReadOnlySpan<float> weightHh, ReadOnlySpan<float> biasIh, ReadOnlySpan<float> biasHh,
        int inputSize, int recurrentSize, int hiddenSize, int width, int blocksPerTile, Span<byte> weights, Span<float> bias, Span<float> scales,
        CellKind cell = CellKind.Lstm)
    {
        if (inputSize > Int8Product.MaxColumns || recurrentSize > Int8Product.MaxColumns)
            throw new NotSupportedException($"Int8 weights take at most {Int8Product.MaxColumns} inputs and {Int8Product.MaxColumns} hidden (or projection) columns per layer; this layer has {inputSize} and {recurrentSize}. Use WeightStorage.BFloat16 or Float32.");
        int gates = CellGates.Count(cell);
        var tiling = new TileShape(inputSize, recurrentSize, hiddenSize, width, blocksPerTile, gates);
        _ = new ReducedShape(weightIh, weightHh, inputSize, recurrentSize, hiddenSize, width, blocksPerTile, int.MaxValue, 1, bias.Length, cell); // checks the tiling, the sources and the bias
        int rows = tiling.BiasLength;
        if (weights.Length < tiling.Int8Length)
            throw new ArgumentException("The destination is too small for the packed layer.", nameof(weights));
        if (scales.Length < 2 * rows)
            throw new ArgumentException("The destination is too small for the layer's scales.", nameof(scales));
        weights.Slice(0, tiling.Int8Length).Clear();
        var ih = weights.Slice(0, tiling.Int8InputBytes);
        var hh = weights.Slice(tiling.Int8InputBytes);
        for (int r = 0; r < rows; r++)
        {
            // bias order: r = (block·G + gate)·width + lane
            int lane = r % width, gate = r / width % gates, block = r / width / gates;
            int unit = block * width + lane;
            if (unit >= hiddenSize)
            {
                scales[r] = 0f;
                scales[rows + r] = 0f;
                continue;
            }
            int row = gate * hiddenSize + unit;
            float scale = CellGates.PackScale(cell, gate);
            scales[r] = PackRowInt8(weightIh.Slice(row * inputSize, inputSize), scale, ih, r, inputSize);
            scales[rows + r] = PackRowInt8(weightHh.Slice(row * recurrentSize, recurrentSize), scale, hh, r, recurrentSize);
        }
        PackBias(biasIh, biasHh, hiddenSize, width, bias, cell);
    }

    /// <summary>Quantizes scale·row into row r of one int8 product (see <see cref="Int8Product"/>) and returns its scale.</summary>
    private static float PackRowInt8(ReadOnlySpan<float> row, float scale, Span<byte> product, int r, int columns)
    {
        float s = RowScale(row, scale);
        int quads = (columns + 3) / 4;
        for (int c = 0; c < columns; c++)
        {
            float q = MathF.Round(scale * row[c] / s);
            product[(r / 8 * quads + c / 4) * 32 + r % 8 * 4 + c % 4] = (byte)(sbyte)Math.Clamp(q, -127f, 127f);
        }
        return s;
    }

    /// <summary>max|scale·row| / 127, or 1 for an all-zero row (whose q are all 0, so any scale is exact).</summary>
    private static float RowScale(ReadOnlySpan<float> row, float scale)
    {
        float max = 0f;
        foreach (float w in row) max = MathF.Max(max, MathF.Abs(scale * w));
        float s = max / 127f;
        return s > 0f && float.IsFinite(s) ? s : 1f;
    }

    /// <summary>
    /// b_ih + b_hh (0 without bias) laid out like one column, the σ gates' rows pre-scaled by 0.5; the GRU's n rows take
    /// b_in alone (<see cref="CellGates.SumsRecurrentBias"/>); padded units get 0.
    /// </summary>
    private static void PackBias(ReadOnlySpan<float> biasIh, ReadOnlySpan<float> biasHh, int hiddenSize, int width, Span<float> bias, CellKind cell)
    {
        int hp = RoundUp(hiddenSize, width), gates = CellGates.Count(cell);
        for (int block = 0; block < hp / width; block++)
            for (int gate = 0; gate < gates; gate++)
                for (int lane = 0; lane < width; lane++)
                {
                    int unit = block * width + lane, row = gate * hiddenSize + unit;
                    float sum = unit >= hiddenSize || biasIh.IsEmpty ? 0f : biasIh[row] + (CellGates.SumsRecurrentBias(cell, gate) ? biasHh[row] : 0f);
                    bias[(block * gates + gate) * width + lane] = CellGates.PackScale(cell, gate) * sum;
                }
    }

    /// <summary>The tiling of one layer (<see cref="TileShape"/>) with the reduced packers' checks and source lookups.</summary>
    private readonly struct ReducedShape
    {
        public readonly int Tiles, VectorsPerTile, Columns, ColumnStride, TileStride, Inputs, Recurrent, Hidden, Width, BlocksPerTile, Gates;
        public readonly CellKind Cell;

        public ReducedShape(ReadOnlySpan<float> weightIh, ReadOnlySpan<float> weightHh, int inputSize, int recurrentSize, int hiddenSize,
            int width, int blocksPerTile, int weightBytes, int bytesPerWeight, int biasLength, CellKind cell)
        {
            Cell = cell;
            Gates = CellGates.Count(cell);
            var shape = new TileShape(inputSize, recurrentSize, hiddenSize, width, blocksPerTile, Gates);
            if (!shape.IsValid)
                throw new ArgumentException($"blocksPerTile {blocksPerTile} does not divide the {shape.Blocks} blocks.", nameof(blocksPerTile));
            Tiles = shape.Tiles;
            VectorsPerTile = shape.VectorsPerTile;
            Columns = shape.Columns;
            ColumnStride = shape.ColumnStride;
            TileStride = shape.TileStride;
            Inputs = inputSize;
            Recurrent = recurrentSize;
            Hidden = hiddenSize;
            Width = width;
            BlocksPerTile = blocksPerTile;
            if (weightBytes < (long)shape.WeightLength * bytesPerWeight || biasLength < shape.BiasLength)
                throw new ArgumentException("The destination is too small for the packed layer.");
            if (weightIh.Length != Gates * hiddenSize * inputSize || weightHh.Length != Gates * hiddenSize * recurrentSize)
                throw new ArgumentException("The source weights do not have the layer's shape.");
        }

        /// <summary>The PyTorch row of packed vector <paramref name="v"/>, lane <paramref name="lane"/> of a tile (−1 for padding), and its pre-scale.</summary>
        public int SourceRow(int tile, int v, int lane, out float scale)
        {
            int gate = v % Gates;
            int unit = (tile * BlocksPerTile + v / Gates) * Width + lane;
            scale = CellGates.PackScale(Cell, gate);
            return unit < Hidden ? gate * Hidden + unit : -1;
        }

        /// <summary>W[row, j] of z = [x; h]: W_ih for the first Inputs columns, then W_hh.</summary>
        public float Weight(ReadOnlySpan<float> weightIh, ReadOnlySpan<float> weightHh, int row, int j) =>
            j < Inputs ? weightIh[row * Inputs + j] : weightHh[row * Recurrent + j - Inputs];
    }
}
