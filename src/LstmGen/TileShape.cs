namespace LstmGen;

/// <summary>
/// The shape of one layer's packed gate weights: units padded to the vector width and grouped in blocks of
/// <see cref="Width"/> units, <see cref="BlocksPerTile"/> consecutive blocks to a tile; tile by tile, then column by column
/// of z = [x; h], then block by block and gate by gate (the cell's gates: i, f, g, o or r, z, n), <see cref="Width"/>
/// values each.
/// </summary>
/// <remarks>
/// The one definition of this arithmetic: the runtime packers (<see cref="LstmPacking"/>) use it, and the generator
/// compiles this same file (linked, see LstmGen.Generator.csproj) for its offsets, so the two cannot drift apart. Which
/// tiling a layer gets (<see cref="BlocksPerTile"/>) is the generator's choice; the packers are told it.
/// Plain integer arithmetic only: the file must compile for netstandard2.0 too.
/// </remarks>
internal readonly struct TileShape
{
    public TileShape(int inputs, int recurrent, int hidden, int width, int blocksPerTile, int gates)
    {
        Gates = gates;
        Inputs = inputs;
        Recurrent = recurrent;
        Hidden = hidden;
        Width = width;
        PaddedHidden = (hidden + width - 1) / width * width;
        Blocks = PaddedHidden / width;
        BlocksPerTile = blocksPerTile;
        Tiles = blocksPerTile > 0 ? Blocks / blocksPerTile : 0;
    }

    /// <summary>Gates per unit (<see cref="CellGates.Count"/>): packed weight vectors per block of a column.</summary>
    public int Gates { get; }
    /// <summary>Columns of x (the layer's input size).</summary>
    public int Inputs { get; }
    /// <summary>Columns of h_(t−1): the hidden size, or the projection size.</summary>
    public int Recurrent { get; }
    /// <summary>Units (rows per gate).</summary>
    public int Hidden { get; }
    /// <summary>Floats per vector: 16, 8, 4 or 1.</summary>
    public int Width { get; }
    public int PaddedHidden { get; }
    public int Blocks { get; }
    public int BlocksPerTile { get; }
    public int Tiles { get; }

    /// <summary>Whether <see cref="BlocksPerTile"/> divides the blocks (every tile full).</summary>
    public bool IsValid => BlocksPerTile > 0 && Blocks % BlocksPerTile == 0;
    public int Columns => Inputs + Recurrent;
    public int VectorsPerTile => BlocksPerTile * Gates;
    public int ColumnStride => VectorsPerTile * Width;
    public int TileStride => Columns * ColumnStride;
    /// <summary>Packed gate weights, in elements.</summary>
    public int WeightLength => Tiles * TileStride;
    /// <summary>The summed bias, laid out like one column of every tile in order.</summary>
    public int BiasLength => Gates * PaddedHidden;

    /// <summary>
    /// Bytes of one int8 product over <paramref name="rows"/> rows and <paramref name="columns"/> columns: rows in blocks
    /// of 8, columns in quads of 4, 32 bytes per block and quad (<see cref="Int8Product"/>).
    /// </summary>
    public static int Int8Bytes(int rows, int columns) => (rows + 7) / 8 * 32 * ((columns + 3) / 4);

    /// <summary>The int8 layout of a layer (<see cref="LstmPacking.PackLayerInt8"/>): the W_ih product, then the W_hh product, over the bias's rows.</summary>
    public int Int8InputBytes => Int8Bytes(BiasLength, Inputs);
    public int Int8Length => Int8InputBytes + Int8Bytes(BiasLength, Recurrent);
}
