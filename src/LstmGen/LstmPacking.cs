using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LstmGen;

/// <summary>
/// Packs one layer's PyTorch-layout weights into the order the generated kernels stream them.
/// </summary>
/// <remarks>
/// Units are padded to <c>Hp = ceil(H / width)·width</c> and grouped in blocks of <c>width</c> units; a tile is
/// <c>blocksPerTile</c> consecutive blocks. Weights are stored tile by tile; inside a tile, column by column of
/// <c>z = [x; h]</c>; inside a column, block by block, gate by gate (the cell's gates, <see cref="CellGates"/>: i, f, g, o
/// or r, z, n), <c>width</c> units each. So the kernel's accumulators for one tile are fed by one linear stream, with one
/// broadcast of <c>z_j</c> per column. Biases are pre-summed (<c>b_ih + b_hh</c>; the GRU's n rows take b_in alone, its
/// b_hn is packed apart) and laid out like one column, for all tiles in order. The σ gates' rows (weights and bias:
/// i, f and o; r and z) are pre-scaled by 0.5 so that σ(a) = 0.5 + 0.5·tanh(a/2) costs one tanh.
/// Padded units get zero weights and bias, so their c and h stay exactly 0.
/// </remarks>
public static partial class LstmPacking
{
    /// <summary>Number of floats the packed weights of a layer take (the bias follows them).</summary>
    public static int PackedWeightLength(int inputSize, int hiddenSize, int width) =>
        4 * RoundUp(hiddenSize, width) * (inputSize + hiddenSize);

    /// <summary>Rounds <paramref name="value"/> up to a multiple of <paramref name="multiple"/>.</summary>
    public static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>Packs one layer. <paramref name="biasIh"/> and <paramref name="biasHh"/> are empty for a layer without bias.</summary>
    public static void PackLayer(
        ReadOnlySpan<float> weightIh, ReadOnlySpan<float> weightHh, ReadOnlySpan<float> biasIh, ReadOnlySpan<float> biasHh,
        int inputSize, int hiddenSize, int width, int blocksPerTile, Span<float> weights, Span<float> bias) =>
        PackLayer(weightIh, weightHh, biasIh, biasHh, inputSize, hiddenSize, hiddenSize, width, blocksPerTile, weights, bias);

    /// <summary>
    /// Packs one layer of a <paramref name="cell"/> whose recurrent input has <paramref name="recurrentSize"/> values (the
    /// projection size with <c>proj_size</c>, else the hidden size): W_hh is (G·H × recurrentSize), G the cell's gates, and
    /// z = [x; h] has inputSize + recurrentSize columns.
    /// </summary>
    public static void PackLayer(
        ReadOnlySpan<float> weightIh, ReadOnlySpan<float> weightHh, ReadOnlySpan<float> biasIh, ReadOnlySpan<float> biasHh,
        int inputSize, int recurrentSize, int hiddenSize, int width, int blocksPerTile, Span<float> weights, Span<float> bias,
        CellKind cell = CellKind.Lstm)
    {
        int h = hiddenSize, r = recurrentSize, k = inputSize + recurrentSize, gates = CellGates.Count(cell);
        var shape = new TileShape(inputSize, recurrentSize, hiddenSize, width, blocksPerTile, gates);
        if (!shape.IsValid)
            throw new ArgumentException($"blocksPerTile {blocksPerTile} does not divide the {shape.Blocks} blocks.", nameof(blocksPerTile));
        int tiles = shape.Tiles, columnStride = shape.ColumnStride, tileStride = shape.TileStride;
        if (weights.Length < shape.WeightLength || bias.Length < shape.BiasLength)
            throw new ArgumentException("The destination is too small for the packed layer.");
        if (weightIh.Length != gates * h * inputSize || weightHh.Length != gates * h * r)
            throw new ArgumentException("The source weights do not have the layer's shape.");

        for (int tile = 0; tile < tiles; tile++)
        {
            for (int b = 0; b < blocksPerTile; b++)
            {
                int block = tile * blocksPerTile + b;
                for (int gate = 0; gate < gates; gate++)
                {
                    float scale = CellGates.PackScale(cell, gate);
                    for (int lane = 0; lane < width; lane++)
                    {
                        int unit = block * width + lane;
                        int dst = tile * tileStride + (b * gates + gate) * width + lane;
                        if (unit >= h)
                        {
                            for (int j = 0; j < k; j++) weights[dst + j * columnStride] = 0f;
                            continue;
                        }
                        int row = gate * h + unit;
                        // sizes were checked above: copy the row into its strided column slots without bounds checks
                        ref float target = ref Unsafe.Add(ref MemoryMarshal.GetReference(weights), dst);
                        ref float sourceIh = ref Unsafe.Add(ref MemoryMarshal.GetReference(weightIh), row * inputSize);
                        for (int j = 0; j < inputSize; j++)
                            Unsafe.Add(ref target, j * columnStride) = scale * Unsafe.Add(ref sourceIh, j);
                        target = ref Unsafe.Add(ref target, inputSize * columnStride);
                        ref float sourceHh = ref Unsafe.Add(ref MemoryMarshal.GetReference(weightHh), row * r);
                        for (int j = 0; j < r; j++)
                            Unsafe.Add(ref target, j * columnStride) = scale * Unsafe.Add(ref sourceHh, j);
                    }
                }
            }
        }
        PackBias(biasIh, biasHh, h, width, bias, cell);
    }

    /// <summary>
    /// Packs a GRU layer's b_hn (the n rows of <paramref name="biasHh"/>, 3·H values, r, z, n) as one run of
    /// <c>RoundUp(H, width)</c> values: the kernels add it to W_hn·h before r multiplies them. n is a tanh gate, so the run
    /// carries no pre-scale; padded units get 0, and every unit of a layer without bias (an empty <paramref name="biasHh"/>).
    /// </summary>
    public static void PackGruRecurrentBias(ReadOnlySpan<float> biasHh, int hiddenSize, int width, Span<float> packed)
    {
        int hp = RoundUp(hiddenSize, width);
        if ((!biasHh.IsEmpty && biasHh.Length != 3 * hiddenSize) || packed.Length < hp)
            throw new ArgumentException("The bias tensor or its destination does not have the layer's shape.");
        packed.Slice(0, hp).Clear();
        if (!biasHh.IsEmpty) biasHh.Slice(2 * hiddenSize, hiddenSize).CopyTo(packed);
    }

    /// <summary>
    /// Packs peephole weights <c>[p_i ; p_f ; p_o]</c> (3·H values) as three runs of <c>RoundUp(H, width)</c> values,
    /// pre-scaled by 0.5 like the gate rows they add to; padded units get 0.
    /// </summary>
    public static void PackPeepholes(ReadOnlySpan<float> peepholes, int hiddenSize, int width, Span<float> packed)
    {
        int hp = RoundUp(hiddenSize, width);
        if (peepholes.Length != 3 * hiddenSize || packed.Length < 3 * hp)
            throw new ArgumentException("The peephole tensor or its destination does not have the layer's shape.");
        packed.Slice(0, 3 * hp).Clear();
        for (int gate = 0; gate < 3; gate++)
            for (int unit = 0; unit < hiddenSize; unit++)
                packed[gate * hp + unit] = 0.5f * peepholes[gate * hiddenSize + unit];
    }

    /// <summary>
    /// Packs a projection W_hr (P × H, row-major) column by column: column j (the weights that m_j feeds) is
    /// <c>RoundUp(P, width)</c> values, so the kernel broadcasts m_j and streams one run; padded rows get 0.
    /// </summary>
    public static void PackProjection(ReadOnlySpan<float> weightHr, int projSize, int hiddenSize, int width, Span<float> packed)
    {
        int pp = RoundUp(projSize, width);
        if (weightHr.Length != projSize * hiddenSize || packed.Length < hiddenSize * pp)
            throw new ArgumentException("The projection tensor or its destination does not have the layer's shape.");
        packed.Slice(0, hiddenSize * pp).Clear();
        for (int row = 0; row < projSize; row++)
            for (int j = 0; j < hiddenSize; j++)
                packed[j * pp + row] = weightHr[row * hiddenSize + j];
    }
}
