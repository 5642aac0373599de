namespace LstmGen.Generator;

/// <summary>
/// What the element-wise part of a cell step needs from the matrix-product kernel around it: the writer, the width, the
/// names of the gate pre-activations of one block of units, and where that block's state lives.
/// </summary>
internal sealed class CellBlock
{
    public CellBlock(SourceWriter writer, VectorWidth width, System.Func<int, string> preActivation, string suffix, string cell, string unitInState,
                     string unitInRow, string hOut, int paddedHidden)
    {
        Writer = writer;
        Width = width;
        PreActivation = preActivation;
        Suffix = suffix;
        Cell = cell;
        UnitInState = unitInState;
        UnitInRow = unitInRow;
        HOut = hOut;
        PaddedHidden = paddedHidden;
    }

    public SourceWriter Writer { get; }
    public VectorWidth Width { get; }
    /// <summary>The accumulator holding gate g's pre-activation a_g for this block (g in the cell's gate order).</summary>
    public System.Func<int, string> PreActivation { get; }
    /// <summary>Appended to the names of this block's locals (block, or stream and block).</summary>
    public string Suffix { get; }
    /// <summary>The reference c_(t-1) is read from and c_t written to.</summary>
    public string Cell { get; }
    /// <summary>The block's first unit within the stream's state rows (c, h).</summary>
    public string UnitInState { get; }
    /// <summary>The block's first unit within the layer's rows (peephole weights, kept gates): no stream offset.</summary>
    public string UnitInRow { get; }
    /// <summary>The reference h_t (or m_t before a projection) is written to.</summary>
    public string HOut { get; }
    /// <summary>Units per gate in the packed peephole rows.</summary>
    public int PaddedHidden { get; }
}

/// <summary>
/// The LSTM cell (docs/maths.md §1–§2, §4); its gate table (count, order, packing scale) is LstmGates, shared with the
/// runtime packers.: four gates per unit in PyTorch's row order i, f, g, o; σ rows pre-scaled by
/// ½ in the packed weights so that σ(a) = ½ + ½·tanh(a/2) needs no extra multiply; optional peepholes. The matrix-product
/// kernels (KernelEmitter) sum each gate's pre-activation and call <see cref="EmitForward"/> for each block of units; the
/// backward walk (BackwardEmitter) calls <see cref="EmitBackward"/>.
/// </summary>
internal sealed class LstmCell
{
    public LstmCell(bool peepholes) => Peepholes = peepholes;

    /// <summary>Gates per unit: the rows of W_ih and W_hh are Gates·H (the gate table shared with the packers).</summary>
    public const int Gates = LstmGates.Count;

    /// <summary>The gates in PyTorch's row order.</summary>
    public static readonly string[] GateNames = LstmGates.Names;

    public bool Peepholes { get; }

    private const string Math = "LstmMath";

    /// <summary>Peephole vectors per unit (p_i, p_f, p_o): the rows of weight_ph are PeepholeGates·H.</summary>
    public const int PeepholeGates = 3;

    /// <summary>The cell's equations from the gate pre-activations a, for the emitted file's description.</summary>
    public void DescribeStep(SourceWriter w, bool projection)
    {
        w.Line(Peepholes
            ? "//   i = σ(a_i + p_i ⊙ c_(t-1)), f = σ(a_f + p_f ⊙ c_(t-1)), g = tanh(a_g)"
            : "//   i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o)");
        w.Line("//   c_t = f ⊙ c_(t-1) + i ⊙ g");
        if (Peepholes) w.Line("//   o = σ(a_o + p_o ⊙ c_t)");
        w.Line(projection ? "//   h_t = W_hr·(o ⊙ tanh(c_t))" : "//   h_t = o ⊙ tanh(c_t)");
    }

    /// <summary>
    /// The forward element-wise step of one block, from the gate pre-activations a:
    /// <code>
    /// i = σ(a_i [+ p_i ⊙ c_(t-1)]), f = σ(a_f [+ p_f ⊙ c_(t-1)]), g = tanh(a_g)
    /// c_t = f ⊙ c_(t-1) + i ⊙ g
    /// o = σ(a_o [+ p_o ⊙ c_t]),  out = o ⊙ tanh(c_t)
    /// </code>
    /// Training also keeps i, f, g, o (rows <paramref name="gateRow"/> apart) and tanh(c_t) for the backward pass.
    /// </summary>
    public void EmitForward(CellBlock b, string label, int gateRow = 0, bool training = false)
    {
        var w = b.Writer;
        var v = b.Width;
        string x = b.Suffix;
        string A(int gate) => b.PreActivation(gate);
        w.Line($"// {label}: i, f, o = σ(a) = 0.5 + 0.5·tanh(a/2) (those rows were pre-scaled by 0.5); g = tanh(a)");
        w.Line($"{v.Type} cp{x} = {v.Load(b.Cell, b.UnitInState)};");
        if (Peepholes)
        {
            w.Line("// peepholes: the input and forget gates see c_(t-1) (weights pre-scaled by 0.5 like their rows)");
            w.Line($"{A(0)} = {v.MulAdd(v.Load("peep", b.UnitInRow), "cp" + x, A(0))};");
            w.Line($"{A(1)} = {v.MulAdd(v.Load("peep", Add(b.UnitInRow, b.PaddedHidden)), "cp" + x, A(1))};");
        }
        w.Line($"{v.Type} i{x} = {v.MulAdd("half", $"{Math}.Tanh({A(0)})", "half")};");
        w.Line($"{v.Type} f{x} = {v.MulAdd("half", $"{Math}.Tanh({A(1)})", "half")};");
        w.Line($"{v.Type} g{x} = {Math}.Tanh({A(2)});");
        w.Line("// c_t = f ⊙ c_(t-1) + i ⊙ g");
        w.Line($"{v.Type} c{x} = {v.MulAdd($"f{x}", "cp" + x, $"i{x} * g{x}")};");
        w.Line(v.Store($"c{x}", b.Cell, b.UnitInState));
        if (Peepholes)
        {
            w.Line("// peephole: the output gate sees the new c_t");
            w.Line($"{A(3)} = {v.MulAdd(v.Load("peep", Add(b.UnitInRow, 2 * b.PaddedHidden)), "c" + x, A(3))};");
        }
        w.Line($"{v.Type} o{x} = {v.MulAdd("half", $"{Math}.Tanh({A(3)})", "half")};");
        if (training)
        {
            w.Line("// kept for the backward pass: the gates (PyTorch row order, rows padded to TrainHq) and tanh(c_t)");
            for (int gate = 0; gate < Gates; gate++)
                w.Line(v.Store($"{GateNames[gate]}{x}", "gates", Add(b.UnitInRow, gate * gateRow)));
            w.Line($"{v.Type} tc{x} = {Math}.Tanh(c{x});");
            w.Line(v.Store($"tc{x}", "tanhC", b.UnitInRow));
            w.Line("// out = o ⊙ tanh(c_t): h_t, or m_t when a projection follows");
            w.Line(v.Store($"o{x} * tc{x}", b.HOut, b.UnitInState));
        }
        else
        {
            w.Line("// out = o ⊙ tanh(c_t): h_t, or m_t when a projection follows");
            w.Line(v.Store($"o{x} * {Math}.Tanh(c{x})", b.HOut, b.UnitInState));
        }
    }

    /// <summary>
    /// The call of the backward element-wise step for every unit of one layer and step (docs/maths.md §4): the runtime's
    /// <c>LstmCellGradients.Backward</c>, with the equations above its code. dh is ∂L/∂h_t from above plus dh_next, or
    /// with a projection dm = W_hrᵀ·dh alone; the kept gates give da (rows <paramref name="gateRow"/> apart), dc_next for
    /// the step before, and with peepholes their gradients (the caller's <c>peep</c> and <c>dpeep</c>).
    /// </summary>
    public string BackwardCall(string dhAbove, string dhNext, bool projected, string dcNext, string gates, string tanhC, string cPrev,
                               string cNew, string da, string gateRow)
    {
        string peep = Peepholes ? $"{cNew}, true, ref peep, ref dpeep" : $"{cNew}, false, {da}, {da}";
        return $"Training.LstmCellGradients.Backward({dhAbove}, {dhNext}, {(projected ? "true" : "false")}, {dcNext}, {gates}, {tanhC}, {cPrev}, {peep}, {da}, {gateRow}, {gateRow});";
    }

    /// <summary>"a + b", folded when a is a literal.</summary>
    private static string Add(string a, int b)
    {
        if (int.TryParse(a, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int value)) return ModelPlan.N(value + b);
        return b == 0 ? a : $"{a} + {ModelPlan.N(b)}";
    }
}
