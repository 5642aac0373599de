namespace LstmGen;

/// <summary>
/// The LSTM's gate table: how many gates a unit has, their order (PyTorch's rows: i, f, g, o) and the factor each gate's
/// packed rows carry. The one definition, like <see cref="TileShape"/>: the runtime packers use it and the generator
/// compiles this same file (linked, see LstmGen.Generator.csproj), so the packed layout and the kernels that read it
/// cannot disagree. Plain C# only: the file must compile for netstandard2.0 too.
/// </summary>
internal static class LstmGates
{
    /// <summary>Gates per unit: the rows of W_ih, W_hh and the biases are Count·H.</summary>
    public const int Count = 4;

    /// <summary>The gates in PyTorch's row order.</summary>
    public static readonly string[] Names = { "i", "f", "g", "o" };

    /// <summary>
    /// The factor gate <paramref name="gate"/>'s packed weights and bias carry: ½ for the σ gates (i, f, o), so that
    /// σ(a) = ½ + ½·tanh(a/2) costs one tanh in the kernels, and 1 for the cell gate g (tanh).
    /// </summary>
    public static float PackScale(int gate) => gate == 2 ? 1f : 0.5f;
}
