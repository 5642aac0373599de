namespace LstmGen;

/// <summary>The recurrent cells LstmGen generates: the gate table the packers use (<see cref="LstmPacking"/>).</summary>
/// <remarks>Public in the runtime, where generated code names it; the generator compiles this file as its own, internal copy.</remarks>
#if LSTMGEN_GENERATOR
internal
#else
public
#endif
enum CellKind
{
    /// <summary><c>torch.nn.LSTM</c>: gates i, f, g, o.</summary>
    Lstm = 0,
    /// <summary><c>torch.nn.GRU</c>: gates r, z, n.</summary>
    Gru = 1,
}

/// <summary>
/// The cells' gate tables: how many gates a unit has, their order (PyTorch's rows: i, f, g, o for the LSTM; r, z, n for
/// the GRU), the factor each gate's packed rows carry, and which gates' b_hh joins b_ih in the summed bias. The one
/// definition, like <see cref="TileShape"/>: the runtime packers use it and the generator compiles this same file
/// (linked, see LstmGen.Generator.csproj), so the packed layout and the kernels that read it cannot disagree. Plain C#
/// only: the file must compile for netstandard2.0 too.
/// </summary>
internal static class CellGates
{
    private static readonly string[] LstmNames = { "i", "f", "g", "o" };
    private static readonly string[] GruNames = { "r", "z", "n" };

    /// <summary>Gates per unit: the rows of W_ih, W_hh and the biases are Count·H.</summary>
    public static int Count(CellKind cell) => cell == CellKind.Gru ? 3 : 4;

    /// <summary>The gates in PyTorch's row order.</summary>
    public static string[] Names(CellKind cell) => cell == CellKind.Gru ? GruNames : LstmNames;

    /// <summary>
    /// The factor gate <paramref name="gate"/>'s packed weights and bias carry: ½ for the σ gates (the LSTM's i, f, o; the
    /// GRU's r, z), so that σ(a) = ½ + ½·tanh(a/2) costs one tanh in the kernels, and 1 for the tanh gate (the LSTM's g,
    /// the GRU's n: gate 2 in both tables).
    /// </summary>
    public static float PackScale(CellKind cell, int gate) => gate == 2 ? 1f : 0.5f;

    /// <summary>
    /// Whether gate <paramref name="gate"/>'s b_hh is added to its b_ih in the packed (summed) bias: every gate but the
    /// GRU's n, whose b_hn sits inside r ⊙ (W_hn·h + b_hn) and is packed apart (<see cref="LstmPacking.PackGruRecurrentBias"/>).
    /// </summary>
    public static bool SumsRecurrentBias(CellKind cell, int gate) => !(cell == CellKind.Gru && gate == 2);
}
