using System.Collections.Generic;
using System.Linq;
using LstmGen.Generator.Model;

namespace LstmGen.Generator;

/// <summary>
/// A vector of H floats per unit that a cell carries from one step to the next beside h (the LSTM's c), or keeps per
/// step for its backward pass (the LSTM's gates and tanh(c_t)). The names are how the emitted code spells it.
/// </summary>
/// <param name="Symbol">The local and parameter name: <c>c</c> (state) or <c>tanhC</c> (kept).</param>
/// <param name="Pascal">In the layout constants and functions: <c>StateC0</c>, <c>TrainCs</c>, <c>TrainTanhC</c>.</param>
/// <param name="Rows">Rows of TrainHq floats per step (the gates: one per gate).</param>
/// <param name="Accessor">The State member that exposes it (carried vectors only): <c>Cell(layer)</c>.</param>
/// <param name="Initial">The learned-initial-state tensor kind (carried vectors only): <c>initial_c</c>.</param>
internal sealed record CellVector(string Symbol, string Pascal, int Rows = 1, string Accessor = "", string Initial = "");

/// <summary>
/// What the element-wise part of a cell step needs from the matrix-product kernel around it: the writer, the width, the
/// names of the gate pre-activations of one block of units, and where that block's state lives.
/// </summary>
internal sealed class CellBlock
{
    public CellBlock(SourceWriter writer, VectorWidth width, System.Func<int, string> preActivation, string suffix, IReadOnlyList<string> carried,
                     string unitInState, string unitInRow, string hOut, int paddedHidden, string hPrev = "", string hPrevAt = "")
    {
        HPrev = hPrev;
        HPrevAt = hPrevAt;
        Writer = writer;
        Width = width;
        PreActivation = preActivation;
        Suffix = suffix;
        Carried = carried;
        UnitInState = unitInState;
        UnitInRow = unitInRow;
        HOut = hOut;
        PaddedHidden = paddedHidden;
    }

    public SourceWriter Writer { get; }
    public VectorWidth Width { get; }
    /// <summary>The accumulator holding accumulator a's pre-activation for this block (a in the cell's accumulator order).</summary>
    public System.Func<int, string> PreActivation { get; }
    /// <summary>Appended to the names of this block's locals (block, or stream and block).</summary>
    public string Suffix { get; }
    /// <summary>The references the cell's carried vectors (<see cref="RecurrentCell.Carried"/>, in order) are read from and written to.</summary>
    public IReadOnlyList<string> Carried { get; }
    /// <summary>The block's first unit within the stream's state rows (h and the carried vectors).</summary>
    public string UnitInState { get; }
    /// <summary>The block's first unit within the layer's rows (the cell's own packed vectors, kept rows): no stream offset.</summary>
    public string UnitInRow { get; }
    /// <summary>The reference h_t (or the cell's output before a projection) is written to.</summary>
    public string HOut { get; }
    /// <summary>Units per gate in the cell's packed rows.</summary>
    public int PaddedHidden { get; }
    /// <summary>The reference h_(t-1) of this block is read from (the kernel's z), and the offset of its first unit there.</summary>
    public string HPrev { get; }
    public string HPrevAt { get; }
}

/// <summary>
/// The cell abstraction: everything that differs between recurrent cells, behind one interface the planner, the
/// matrix-product kernels (KernelEmitter), the training forward and backward walks (BackwardEmitter) and the trainer
/// (TrainerEmitter) read without knowing which cell it is.
/// <list type="bullet">
/// <item>the gate table: gates per unit, their names in PyTorch's row order (the packers' order, src/LstmGen's gate table);</item>
/// <item>the tensors of one layer and direction, in PyTorch order;</item>
/// <item>the state it carries beside h, and the rows its backward pass keeps per step;</item>
/// <item>its accumulators: which accumulator each gate's x columns and h columns are summed into (a GRU keeps the h
/// columns of its n gate apart, because r multiplies them after their bias);</item>
/// <item>the forward element-wise step after the matrix product, and the backward element-wise step of BPTT, each with
/// its equations written above the code;</item>
/// <item>its own packed per-unit vectors beside W and b (the LSTM's peepholes) and the kernel parameters that carry them.</item>
/// </list>
/// The emitters loop over these lists; the emitted names (<c>StateC0</c>, <c>TrainTanhC</c>, <c>ref float c</c>) come
/// from the cell.
/// </summary>
internal abstract class RecurrentCell
{
    /// <summary>The planner rule: the cell a model declares ([LstmModel] or [GruModel]).</summary>
    public static RecurrentCell For(LstmModelSpec spec) =>
        spec.Cell == CellKind.Gru ? new GruCell(spec.Bias) : new LstmCell(spec.Peepholes, spec.ProjSize > 0);

    /// <summary>The layer type as PyTorch names it, for the emitted description: "LSTM".</summary>
    public abstract string Name { get; }

    /// <summary>The attribute that declares a model of this cell, without "Attribute": "LstmModel".</summary>
    public abstract string AttributeName { get; }

    /// <summary>The runtime's name for the cell's gate table (CellGates), which its packers are told.</summary>
    public abstract CellKind Kind { get; }

    /// <summary>The argument that tells a runtime packer the cell's gate table, with its leading comma: nothing for the LSTM (the packers' default).</summary>
    public string PackerCellArgument => Kind == CellKind.Lstm ? "" : ", CellKind." + Kind;

    /// <summary>The runtime interfaces the model class and its State implement (src/LstmGen: ILstmModel, IRecurrentModel, ...).</summary>
    public abstract string ModelInterface { get; }
    public abstract string StateInterface { get; }

    /// <summary>What the shared kernels' names carry for this cell and its options (the LSTM: "" or "_peep").</summary>
    public abstract string KernelSuffix { get; }

    /// <summary>Gates per unit: the rows of W_ih, W_hh and each bias are Gates·H.</summary>
    public abstract int Gates { get; }

    /// <summary>The gates in PyTorch's row order.</summary>
    public abstract IReadOnlyList<string> GateNames { get; }

    /// <summary>
    /// The accumulators of one block of units, named for what they sum. By default one per gate; a cell that needs a
    /// gate's x and h columns apart adds one after the gates and routes them with <see cref="InputAccumulator"/> and
    /// <see cref="RecurrentAccumulator"/>. The first <see cref="Gates"/> accumulators start from the start value (the
    /// summed bias, or the hoisted input projection); those after them start from zero (a bias they need is one of the
    /// cell's own packed rows, added in its element-wise step).
    /// </summary>
    public virtual IReadOnlyList<string> Accumulators => GateNames;

    /// <summary>The accumulator gate <paramref name="gate"/>'s x columns are summed into.</summary>
    public virtual int InputAccumulator(int gate) => gate;

    /// <summary>The accumulator gate <paramref name="gate"/>'s h columns are summed into.</summary>
    public virtual int RecurrentAccumulator(int gate) => gate;

    /// <summary>Whether some gate's x and h columns go to different accumulators (then a column loop stops at the first h column).</summary>
    public bool SplitsColumns => Enumerable.Range(0, Gates).Any(g => InputAccumulator(g) != RecurrentAccumulator(g));

    /// <summary>Vectors carried from step to step beside h, H floats each per unit (state layout, State accessors, trainer).</summary>
    public abstract IReadOnlyList<CellVector> Carried { get; }

    /// <summary>The state vectors of a unit for documentation: "h and c".</summary>
    public string StateNames => string.Join(" and ", new[] { "h" }.Concat(Carried.Select(v => v.Symbol)));

    /// <summary>PyTorch's names for the final state, as its module returns them: "(h_n, c_n)".</summary>
    public string FinalStateNames => "(" + string.Join(", ", new[] { "h" }.Concat(Carried.Select(v => v.Symbol)).Select(v => v + "_n")) + ")";

    /// <summary>Rows the training forward pass keeps per step for the backward element-wise step.</summary>
    public abstract IReadOnlyList<CellVector> Kept { get; }

    /// <summary>
    /// The tensors of one layer and direction in PyTorch order (<paramref name="s"/> is the name suffix, e.g. "0_reverse"):
    /// long sizes, because the parser checks the parameter count before the sizes are known to fit an int.
    /// </summary>
    public abstract IEnumerable<(string Name, long Rows, long Columns)> UnitTensors(string s, long hidden, long inputs, long recurrent, bool bias, bool learnInitialState);

    /// <summary>weight_ih (G·H × inputs), weight_hh (G·H × recurrent) and, with bias, bias_ih and bias_hh (G·H): what every cell's tensors start with.</summary>
    protected IEnumerable<(string Name, long Rows, long Columns)> GateTensors(string s, long hidden, long inputs, long recurrent, bool bias)
    {
        yield return ($"weight_ih_l{s}", Gates * hidden, inputs);
        yield return ($"weight_hh_l{s}", Gates * hidden, recurrent);
        if (bias)
        {
            yield return ($"bias_ih_l{s}", Gates * hidden, 0);
            yield return ($"bias_hh_l{s}", Gates * hidden, 0);
        }
    }

    /// <summary>Rows of PaddedHidden floats of the cell's own packed per-unit vectors (the LSTM's peepholes); 0 for none.</summary>
    public abstract int PackedRows { get; }

    /// <summary>The name of <see cref="PackedRows"/> in the emitted code ("Peep": the parameter peep, the trainer's TrainPeep and TrainDPeep).</summary>
    public virtual string PackedRowsName => "Rows";

    /// <summary>The tensor kind <see cref="PackedRows"/> are packed from (each row H values of it, padded): "weight_ph".</summary>
    public virtual string PackedRowsTensor => "";

    /// <summary>The inference and training kernels' parameter for <see cref="PackedRows"/>, with its trailing comma (or nothing).</summary>
    public string PackedParameter => PackedRows > 0 ? $"ref float {PackedRowsName.ToLowerInvariant()}, " : "";

    /// <summary>Emits the packing of the cell's own vectors into <paramref name="destination"/> (nothing without <see cref="PackedRows"/>).</summary>
    /// <param name="tensor">The expression of a tensor of this unit by kind (e.g. "weight_ph").</param>
    public abstract void EmitPackRows(SourceWriter w, System.Func<string, string> tensor, int hidden, int lanes, string destination);

    /// <summary>The kernels' parameters for the carried vectors, with a trailing comma: "ref float c, ".</summary>
    public string CarriedParameters => string.Concat(Carried.Select(v => "ref float " + v.Symbol + ", "));

    /// <summary>The training kernels' parameters for the kept rows, with a leading comma: ", ref float gates, ref float tanhC".</summary>
    public string KeptParameters => string.Concat(Kept.Select(v => ", ref float " + v.Symbol));

    /// <summary>What the kept rows hold, for the kernels' documentation: "i, f, g, o and tanh(c_t)".</summary>
    public abstract string KeptDescription { get; }

    /// <summary>Rows a step's kept vectors take.</summary>
    public int KeptRows => Kept.Sum(v => v.Rows);

    /// <summary>Writes the cell's equations from its accumulators for the emitted file's description.</summary>
    public abstract void DescribeStep(SourceWriter w, bool projection);

    /// <summary>
    /// The forward element-wise step of one block from its accumulators: the carried state updated in place, h_t (or
    /// the value a projection maps to h_t) written to <see cref="CellBlock.HOut"/>; in training also the kept rows (each
    /// <paramref name="keptRow"/> floats per gate row apart).
    /// </summary>
    public abstract void EmitForward(CellBlock b, string label, int keptRow = 0, bool training = false);

    /// <summary>
    /// The backward element-wise step of one unit and step t inside BPTT (docs/maths.md §4), given the names the backward
    /// layer kernel uses: it turns ∂L/∂h_t (and the carried vectors' gradients from step t + 1, <c>d{Symbol}Next</c>)
    /// into the pre-activation gradients da_t (<c>dat</c>) and the carried gradients for step t − 1.
    /// </summary>
    public abstract void EmitBackwardStep(SourceWriter w, BackwardStep step);

    /// <summary>The locals the backward step reads at step t (declared after <c>dat</c>, before the projection's lines).</summary>
    public abstract void EmitBackwardLocals(SourceWriter w, int rowLength);

    /// <summary>The backward layer kernel's parameters for the cell's own packed vectors and their gradients (with a leading comma).</summary>
    public string BackwardPackedParameters => TrainedRows > 0 ? $", ref float {PackedRowsName.ToLowerInvariant()}, ref float d{PackedRowsName.ToLowerInvariant()}" : "";

    /// <summary>
    /// <see cref="PackedRows"/> that are parameters of their own, with a gradient the trainer sums (the LSTM's peepholes);
    /// 0 when the packed rows are a copy of part of another tensor (the GRU's b_hn, whose gradient is bias_hh's).
    /// </summary>
    public virtual int TrainedRows => PackedRows;

    /// <summary>
    /// Rows of Hq floats BPTT keeps per step in da (the pre-activation gradients): by default one per gate, which W_ih,
    /// W_hh and both biases all read. A cell whose h side sees other gradients than its x side keeps them as further rows
    /// from <see cref="RecurrentDaRow"/> on, and a cell with a direct path from h_(t-1) to h_t keeps its gradient in row
    /// <see cref="DirectDaRow"/>.
    /// </summary>
    public virtual int DaRows => Gates;

    /// <summary>The first of the <see cref="Gates"/> rows of da that W_hh and b_hh see (0: the same as W_ih and b_ih).</summary>
    public virtual int RecurrentDaRow => 0;

    /// <summary>The row of da added to ∂L/∂h_(t-1) after W_hhᵀ·da (the cell's direct path from h_(t-1) to h_t), or −1 for none.</summary>
    public virtual int DirectDaRow => -1;

    /// <summary>Rows of bias-gradient sums per unit: b_ih's, then (from <see cref="RecurrentDaRow"/>) b_hh's when they differ.</summary>
    public int BiasDaRows => RecurrentDaRow + Gates;

    /// <summary>Whether the backward element-wise step reads h_(t-1) (the backward layer then declares <c>hs</c> in its step loop).</summary>
    public virtual bool BackwardReadsH => false;
}

/// <summary>The names and sizes the backward element-wise step is emitted with (see <see cref="RecurrentCell.EmitBackwardStep"/>).</summary>
internal sealed class BackwardStep
{
    /// <summary>∂L/∂h_t from above for this step (a reference expression); with a projection, dm = W_hrᵀ·dh.</summary>
    public string DhAbove { get; set; } = "";
    /// <summary>∂L/∂h_t from step t + 1 (a reference expression).</summary>
    public string DhNext { get; set; } = "";
    /// <summary>Whether a projection sits between the cell's output and h_t (so <see cref="DhAbove"/> already holds dh_next).</summary>
    public bool Projected { get; set; }
    /// <summary>Hidden size, and the padded row length of the kept and gradient rows.</summary>
    public int Hidden { get; set; }
    public int RowLength { get; set; }
    /// <summary>Projection only: the reference the cell's output before the projection is written to, for dW_hr.</summary>
    public string ProjectedInput { get; set; } = "";
}
