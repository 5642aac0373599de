using System.Collections.Generic;

namespace LstmGen.Generator;

/// <summary>
/// The GRU cell, <c>torch.nn.GRU</c> (docs/maths.md §11): three gates per unit in PyTorch's row order r, z, n (the gate
/// table CellGates, shared with the runtime packers), r and z rows pre-scaled by ½ like the LSTM's σ gates. Per step:
/// <code>
/// r  = σ(a_r),  z = σ(a_z)                       a_r, a_z: W_i·x + b_i + W_h·h_(t-1) + b_h, summed in one accumulator
/// hn = a_hn + b_hn                               a_hn = W_hn·h_(t-1): the h columns of the n rows, summed apart
/// n  = tanh(a_n + r ⊙ hn)                        a_n  = W_in·x + b_in: the x columns of the n rows
/// h_t = (1 − z) ⊙ n + z ⊙ h_(t-1) = n + z ⊙ (h_(t-1) − n)
/// </code>
/// So the cell has four accumulators per block (r, z, n, hn), routes the h columns of its n rows to hn, carries nothing
/// beside h, and packs b_hn as its own row (the summed bias's n rows hold b_in alone). Its backward pass keeps r, z, n
/// and hn per step; W_hh and b_hh see the n rows' gradient multiplied by r, and h_(t-1) also reaches h_t directly.
/// </summary>
internal sealed class GruCell : RecurrentCell
{
    public GruCell(bool bias) => Bias = bias;

    /// <summary>Whether the layers have b_ih and b_hh (without them there is no b_hn row).</summary>
    public bool Bias { get; }

    public override string Name => "GRU";

    public override string AttributeName => "GruModel";

    public override CellKind Kind => CellKind.Gru;

    public override string ModelInterface => "IRecurrentModel";
    public override string StateInterface => "IRecurrentState";

    /// <summary>Every GRU kernel's name ends in "_gru", so it never shares a name with an LSTM kernel.</summary>
    public override string KernelSuffix => "_gru";

    public override int Gates => CellGates.Count(CellKind.Gru);

    public override IReadOnlyList<string> GateNames => CellGates.Names(CellKind.Gru);

    private static readonly string[] AccumulatorNames = { "r", "z", "n", "hn" };

    /// <summary>r, z, n (the x columns of n and, through the start value, b_in) and hn (the h columns of n).</summary>
    public override IReadOnlyList<string> Accumulators => AccumulatorNames;

    /// <summary>The n rows' h columns go to hn (accumulator 3): r multiplies them, with b_hn, after their sum.</summary>
    public override int RecurrentAccumulator(int gate) => gate == 2 ? 3 : gate;

    private static readonly CellVector[] KeptVectors = { new("gates", "Gates", Rows: CellGates.Count(CellKind.Gru)), new("hn", "Hn") };

    /// <summary>Nothing beside h.</summary>
    public override IReadOnlyList<CellVector> Carried => System.Array.Empty<CellVector>();

    /// <summary>The gates r, z, n (one row each) and hn = W_hn·h_(t-1) + b_hn.</summary>
    public override IReadOnlyList<CellVector> Kept => KeptVectors;

    public override string KeptDescription => "r, z, n and W_hn·h_(t-1) + b_hn";

    /// <summary>weight_ih (3H × I), weight_hh (3H × H), bias_ih, bias_hh (3H), and with a learned initial state initial_h.</summary>
    public override IEnumerable<(string Name, long Rows, long Columns)> UnitTensors(string s, long hidden, long inputs, long recurrent, bool bias, bool learnInitialState)
    {
        foreach (var t in GateTensors(s, hidden, inputs, recurrent, bias)) yield return t;
        if (learnInitialState) yield return ($"initial_h_l{s}", recurrent, 0);
    }

    /// <summary>b_hn, padded to PaddedHidden (zeros without bias, so that models with and without bias share their kernels).</summary>
    public override int PackedRows => 1;

    public override string PackedRowsName => "Bhn";

    public override string PackedRowsTensor => "bias_hh";

    /// <summary>b_hn is part of bias_hh, whose gradient BPTT's h-side rows give: no sums of its own.</summary>
    public override int TrainedRows => 0;

    public override void EmitPackRows(SourceWriter w, System.Func<string, string> tensor, int hidden, int lanes, string destination)
    {
        w.Line($"LstmPacking.PackGruRecurrentBias({(Bias ? tensor("bias_hh") : "default")}, {ModelPlan.N(hidden)}, {ModelPlan.N(lanes)}, {destination});");
    }

    public override void DescribeStep(SourceWriter w, bool projection)
    {
        w.Line("//   (the n rows' h columns are summed apart: a_n = W_in·x_t" + (Bias ? " + b_in" : "") + ", hn = W_hn·h_(t-1)" + (Bias ? " + b_hn" : "") + ")");
        w.Line("//   r = σ(a_r), z = σ(a_z), n = tanh(a_n + r ⊙ hn)");
        w.Line("//   h_t = (1 − z) ⊙ n + z ⊙ h_(t-1)");
    }

    private const string Math = "LstmMath";

    /// <summary>
    /// The forward element-wise step of one block from its accumulators r, z, n, hn:
    /// <code>
    /// r = σ(a_r), z = σ(a_z), hn = a_hn + b_hn, n = tanh(a_n + r ⊙ hn), h_t = n + z ⊙ (h_(t-1) − n)
    /// </code>
    /// Training also keeps r, z, n (rows <paramref name="keptRow"/> apart) and hn.
    /// </summary>
    public override void EmitForward(CellBlock b, string label, int keptRow = 0, bool training = false)
    {
        var w = b.Writer;
        var v = b.Width;
        string x = b.Suffix;
        string A(int accumulator) => b.PreActivation(accumulator);
        w.Line($"// {label}: r, z = σ(a) = 0.5 + 0.5·tanh(a/2) (those rows were pre-scaled by 0.5); n = tanh(a_n + r ⊙ (a_hn + b_hn))");
        w.Line($"{v.Type} r{x} = {v.MulAdd("half", $"{Math}.Tanh({A(0)})", "half")};");
        w.Line($"{v.Type} z{x} = {v.MulAdd("half", $"{Math}.Tanh({A(1)})", "half")};");
        w.Line($"{v.Type} hn{x} = {A(3)} + {v.Load("bhn", b.UnitInRow)};");
        w.Line($"{v.Type} n{x} = {Math}.Tanh({v.MulAdd("r" + x, "hn" + x, A(2))});");
        if (training)
        {
            w.Line("// kept for the backward pass: r, z, n (PyTorch row order, rows padded to TrainHq) and hn");
            for (int gate = 0; gate < Gates; gate++)
                w.Line(v.Store($"{GateNames[gate]}{x}", "gates", Add(b.UnitInRow, gate * keptRow)));
            w.Line(v.Store($"hn{x}", "hn", b.UnitInRow));
        }
        w.Line("// h_t = (1 − z) ⊙ n + z ⊙ h_(t-1) = n + z ⊙ (h_(t-1) − n)");
        w.Line($"{v.Type} hp{x} = {v.Load(b.HPrev, b.HPrevAt)};");
        w.Line(v.Store(v.MulAdd("z" + x, $"(hp{x} - n{x})", "n" + x), b.HOut, b.UnitInState));
    }

    public override int DaRows => 7;

    /// <summary>Rows 3–5 of da: r, z and r ⊙ da_n, what W_hh and b_hh see.</summary>
    public override int RecurrentDaRow => 3;

    /// <summary>Row 6: z ⊙ ∂L/∂h_t, the direct path to h_(t-1).</summary>
    public override int DirectDaRow => 6;

    public override bool BackwardReadsH => true;

    public override void EmitBackwardLocals(SourceWriter w, int rowLength) =>
        w.Line($"ref float gt = ref Unsafe.Add(ref gates, t * {ModelPlan.N(Gates * rowLength)});");

    /// <summary>
    /// The backward element-wise step for every unit of one layer and step t (docs/maths.md §11), the runtime's
    /// <c>GruCellGradients.Backward</c>: from dh = ∂L/∂h_t from above plus dh_next, the kept r, z, n, hn and h_(t-1),
    /// the seven rows of da (x side r, z, n; h side r, z, r ⊙ da_n; the direct term z ⊙ dh).
    /// </summary>
    public override void EmitBackwardStep(SourceWriter w, BackwardStep step)
    {
        string N(int value) => ModelPlan.N(value);
        w.Line($"Training.GruCellGradients.Backward({step.DhAbove}, {step.DhNext}, ref gt, ref Unsafe.Add(ref hn, t * TrainHq), ref Unsafe.Add(ref hs, t * TrainHq), " +
               $"ref dat, {N(step.RowLength)}, {N(step.RowLength)});");
    }

    /// <summary>"a + b", folded when a is a literal.</summary>
    private static string Add(string a, int b)
    {
        if (int.TryParse(a, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int value)) return ModelPlan.N(value + b);
        return b == 0 ? a : $"{a} + {ModelPlan.N(b)}";
    }
}
