using System.Collections.Generic;

namespace LstmGen.Generator;

/// <summary>
/// The LSTM cell (docs/maths.md §1–§2, §4); its gate table (count, order, packing scale) is CellGates, shared with the
/// runtime packers: four gates per unit in PyTorch's row order i, f, g, o; σ rows pre-scaled by
/// ½ in the packed weights so that σ(a) = ½ + ½·tanh(a/2) needs no extra multiply; optional peepholes. The matrix-product
/// kernels (KernelEmitter) sum each gate's pre-activation and call <see cref="EmitForward"/> for each block of units; the
/// backward walk (BackwardEmitter) calls <see cref="EmitBackward"/>.
/// </summary>
internal sealed class LstmCell : RecurrentCell
{
    public LstmCell(bool peepholes, bool projection)
    {
        Peepholes = peepholes;
        Projection = projection;
    }

    public override string Name => "LSTM";

    public override string AttributeName => "LstmModel";

    public override CellKind Kind => CellKind.Lstm;

    public override string ModelInterface => "ILstmModel";
    public override string StateInterface => "ILstmState";

    /// <summary>The LSTM is the generator's first cell: its kernels carry no cell name, only "_peep" with peepholes.</summary>
    public override string KernelSuffix => Peepholes ? "_peep" : "";

    /// <summary>Gates per unit: the rows of W_ih and W_hh are Gates·H (the gate table shared with the packers).</summary>
    public override int Gates => CellGates.Count(CellKind.Lstm);

    /// <summary>The gates in PyTorch's row order.</summary>
    public override IReadOnlyList<string> GateNames => CellGates.Names(CellKind.Lstm);

    public bool Peepholes { get; }

    /// <summary>Whether h_t = W_hr·m_t (proj_size): then h has the projection's size and the cell's output is m_t.</summary>
    public bool Projection { get; }

    private static readonly CellVector[] CarriedVectors = { new("c", "C", Accessor: "Cell", Initial: "initial_c") };
    private static readonly CellVector[] KeptVectors = { new("gates", "Gates", Rows: CellGates.Count(CellKind.Lstm)), new("tanhC", "TanhC") };

    /// <summary>The cell state c.</summary>
    public override IReadOnlyList<CellVector> Carried => CarriedVectors;

    /// <summary>The gates i, f, g, o (one row each) and tanh(c_t).</summary>
    public override IReadOnlyList<CellVector> Kept => KeptVectors;

    public override string KeptDescription => "i, f, g, o and tanh(c_t)";

    /// <summary>
    /// weight_ih (4H × I), weight_hh (4H × h), bias_ih, bias_hh (4H), then the options: weight_hr (P × H, proj_size),
    /// weight_ph (3H: p_i, p_f, p_o), initial_h and initial_c.
    /// </summary>
    public override IEnumerable<(string Name, long Rows, long Columns)> UnitTensors(string s, long hidden, long inputs, long recurrent, bool bias, bool learnInitialState)
    {
        foreach (var t in GateTensors(s, hidden, inputs, recurrent, bias)) yield return t;
        if (Projection) yield return ($"weight_hr_l{s}", recurrent, hidden);
        if (Peepholes) yield return ($"weight_ph_l{s}", PeepholeGates * hidden, 0);
        if (learnInitialState)
        {
            yield return ($"initial_h_l{s}", recurrent, 0);
            yield return ($"initial_c_l{s}", hidden, 0);
        }
    }

    /// <summary>The peepholes p_i, p_f, p_o, each padded to PaddedHidden.</summary>
    public override int PackedRows => Peepholes ? PeepholeGates : 0;

    public override string PackedRowsName => "Peep";

    public override string PackedRowsTensor => "weight_ph";

    public override void EmitPackRows(SourceWriter w, System.Func<string, string> tensor, int hidden, int lanes, string destination)
    {
        if (Peepholes)
            w.Line($"LstmPacking.PackPeepholes({tensor("weight_ph")}, {ModelPlan.N(hidden)}, {ModelPlan.N(lanes)}, {destination});");
    }

    private const string Math = "LstmMath";

    /// <summary>Peephole vectors per unit (p_i, p_f, p_o): the rows of weight_ph are PeepholeGates·H.</summary>
    public const int PeepholeGates = 3;

    /// <summary>The cell's equations from the gate pre-activations a, for the emitted file's description.</summary>
    public override void DescribeStep(SourceWriter w, bool projection)
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
    /// Training also keeps i, f, g, o (rows <paramref name="keptRow"/> apart) and tanh(c_t) for the backward pass.
    /// </summary>
    public override void EmitForward(CellBlock b, string label, int keptRow = 0, bool training = false)
    {
        var w = b.Writer;
        var v = b.Width;
        string x = b.Suffix;
        string A(int gate) => b.PreActivation(gate);
        w.Line($"// {label}: i, f, o = σ(a) = 0.5 + 0.5·tanh(a/2) (those rows were pre-scaled by 0.5); g = tanh(a)");
        w.Line($"{v.Type} cp{x} = {v.Load(b.Carried[0], b.UnitInState)};");
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
        w.Line(v.Store($"c{x}", b.Carried[0], b.UnitInState));
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
                w.Line(v.Store($"{GateNames[gate]}{x}", "gates", Add(b.UnitInRow, gate * keptRow)));
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

    public override void EmitBackwardLocals(SourceWriter w, int rowLength) =>
        w.Line($"ref float gt = ref Unsafe.Add(ref gates, t * {ModelPlan.N(Gates * rowLength)});");

    /// <summary>
    /// The backward element-wise step for every unit of one layer and step t (docs/maths.md §4), the runtime's
    /// <c>LstmCellGradients.Backward</c>, with the equations above its code. dh is ∂L/∂h_t from above plus dh_next, or
    /// with a projection dm = W_hrᵀ·dh alone (and m_t = o ⊙ tanh(c_t) is rebuilt first, for dW_hr); the kept gates give
    /// da, dc_next for the step before, and with peepholes their gradients (the layer's <c>peep</c> and <c>dpeep</c>).
    /// </summary>
    public override void EmitBackwardStep(SourceWriter w, BackwardStep step)
    {
        string N(int value) => ModelPlan.N(value);
        string tanhC = "ref Unsafe.Add(ref tanhC, t * TrainHq)";
        if (step.Projected)
            w.Line($"Training.TrainerCore.MultiplyRow(ref Unsafe.Add(ref gt, {N(3 * step.RowLength)}), {tanhC}, {step.ProjectedInput}, {N(step.Hidden)});");
        string cNew = "ref Unsafe.Add(ref cs, (t + 1) * TrainHq)";
        string peep = Peepholes ? $"{cNew}, true, ref peep, ref dpeep" : $"{cNew}, false, ref dat, ref dat";
        w.Line($"Training.LstmCellGradients.Backward({step.DhAbove}, {step.DhNext}, {(step.Projected ? "true" : "false")}, ref dcNext, ref gt, {tanhC}, " +
               $"ref Unsafe.Add(ref cs, t * TrainHq), {peep}, ref dat, {N(step.RowLength)}, {N(step.RowLength)});");
    }

    /// <summary>"a + b", folded when a is a literal.</summary>
    private static string Add(string a, int b)
    {
        if (int.TryParse(a, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int value)) return ModelPlan.N(value + b);
        return b == 0 ? a : $"{a} + {ModelPlan.N(b)}";
    }
}
