using System;
using System.Collections.Generic;
using System.Linq;

namespace LstmGen.Generator;

public sealed partial class LstmGenerator
{
    /// <summary>
    /// Emits, inside one width's kernel class, the training kernels: the forward pass that keeps activations
    /// (<c>TrainSequence</c>) and back-propagation through time (<c>BackwardSequence</c>), docs/maths.md §4.
    /// Buffers are laid out by the trainer (see <c>Trainer</c> in <see cref="Emitter"/>): per layer h_0..h_T, c_0..c_T,
    /// the gates i, f, g, o and tanh(c_t) of every step, each row padded to TrainHq floats.
    /// </summary>
    internal sealed class BackwardEmitter
    {
        private readonly ModelPlan _plan;
        /// <summary>The writer of the model's own path class, or of a shared kernel while <see cref="Shared"/> runs one.</summary>
        private SourceWriter _w;
        /// <summary>The width of <see cref="Emit"/>; null for <see cref="EmitBackward"/>, which is the same on every width.</summary>
        private readonly VectorWidth? _v;
        private readonly KernelSink? _sink;

        public BackwardEmitter(ModelPlan plan, SourceWriter writer, VectorWidth? width = null, KernelSink? sink = null)
        {
            _plan = plan;
            _w = writer;
            _v = width;
            _sink = sink;
        }

        /// <summary>The shared class this width's compute kernels are called through.</summary>
        private string K => SharedKernels.ClassName(_v!);

        private static string N(long value) => Emitter.N(value);
        private const string Unsafe = "Unsafe";
        /// <summary>The runtime's row operations (src/LstmGen/Training/TrainerCore.cs).</summary>
        private const string Core = "Training.TrainerCore";
        private RecurrentCell Cell => _plan.Cell;
        /// <summary>The trainer-buffer references of unit <paramref name="u"/>'s rows: h and the carried vectors ((T + 1) rows each), then the kept rows.</summary>
        private string UnitRows(int u) => string.Join(", ", new[] { Tb($"TrainHs({N(u)}, maxT)") }
            .Concat(Cell.Carried.Select(v => Tb($"Train{v.Pascal}s({N(u)}, maxT)")))
            .Concat(Cell.Kept.Select(v => Tb($"Train{v.Pascal}({N(u)}, maxT)"))));
        /// <summary>The matching parameters: "ref float hs, ref float cs, ref float gates, ref float tanhC".</summary>
        private string UnitRowParameters => "ref float hs, " + string.Concat(Cell.Carried.Select(v => $"ref float {v.Symbol}s, ")) + Cell.KeptParameters.Substring(2);
        private int H => _plan.LayerPlanHidden;
        private int L => _plan.LayerCount;
        private int Hq => _plan.TrainHq;
        private static string R(string reference, string offset) => offset == "0" ? $"ref {reference}" : $"ref {Unsafe}.Add(ref {reference}, {offset})";

        private int D => _plan.D;
        private int Hp => _plan.Hp;
        private int P => _plan.P;
        private bool RecDrop => _plan.RecurrentDropoutP > 0;
        private bool LayerDrop => _plan.DropoutP > 0;
        private int Row => _plan.HeadInputs;

        /// <summary>This width's part: the forward pass that keeps activations (it runs the width's kernels).</summary>
        public void Emit()
        {
            EmitTrainSequence();
            foreach (int k in LayerIndexByInputs())
                EmitTrainLayer(_plan.Tiling(k, _v!));
        }

        /// <summary>
        /// The backward pass, once per model (in the kernel host): it reads the PyTorch-layout weights, not the packed
        /// ones, and runs the runtime's products and the cell's element-wise gradients, so it is the same on every width.
        /// </summary>
        public void EmitBackward()
        {
            EmitBackwardSequence();
            foreach (int k in LayerIndexByInputs())
                EmitBackwardLayer(_plan.LayerInputs(k));
        }

        private IEnumerable<int> LayerIndexByInputs() => Enumerable.Range(0, L).GroupBy(_plan.LayerInputs).Select(g => g.First());

        /// <summary>The runtime's matrix products of the backward pass (one implementation for every width and size).</summary>
        private const string Products = "Training.GradientProducts";
        private string Gates => N(Cell.Gates);

        /// <summary>out = Wᵀ·da for a PyTorch-layout W of Gates × H rows and <paramref name="columns"/> columns.</summary>
        private string MatTVec(string w, string da, string output, int columns) =>
            $"{Products}.MatTVec({w}, {Gates}, {N(H)}, {N(columns)}, {da}, TrainHq, {output});";

        private string Tb(string offset) => $"ref {Unsafe}.Add(ref tb, {offset})";

        /// <summary>Layer k's input rows and their stride, as the training buffers hold them.</summary>
        private (string Source, string Stride) LayerSource(int k, string x) =>
            k == 0 ? (x, N(_plan.LayerInputs(0)))
            : _plan.TrainHasOut(k - 1) ? (Tb($"TrainOut({N(k - 1)}, maxT)"), N(Row))
            : (Tb($"TrainHs({N(k - 1)}, maxT) + TrainHq"), "TrainHq");

        private void EmitTrainSequence()
        {
            _w.Line("/// <summary>Forward pass over n steps for training: every layer's activations are kept in the trainer's buffer tb.</summary>");
            _w.Open("internal static void TrainSequence(ref float w, ref float tb, ref float x, int n, int maxT)");
            for (int k = 0; k < L; k++)
            {
                int inputs = _plan.LayerInputs(k);
                var (source, stride) = LayerSource(k, "ref x");
                for (int d = 0; d < D; d++)
                {
                    int u = k * D + d;
                    string src = source;
                    if (d == 1)
                    {
                        _w.Line($"// layer {N(k)} reverse: its input in reverse time order, so the same kernels run it forwards");
                        _w.Line($"{Core}.ReverseRows({source}, {stride}, {Tb("TrainRevX(maxT)")}, {stride}, n, {N(inputs)});");
                        src = Tb("TrainRevX(maxT)");
                    }
                    string peep = Cell.PackedRows > 0 ? $"ref {Unsafe}.Add(ref w, {N(_plan.PackedCellOffset(_v!, u))}), " : "";
                    string proj = P > 0 ? $", ref {Unsafe}.Add(ref w, {N(_plan.PackedProjOffset(_v!, u))}), {Tb("TrainM(maxT)")}" : "";
                    string rd = RecDrop ? $", {Tb($"TrainHd({N(u)}, maxT)")}, {Tb($"TrainRMask({N(u)}, maxT)")}" : "";
                    _w.Line($"TrainLayer{N(inputs)}(ref {Unsafe}.Add(ref w, {N(_plan.PackedWeightOffset(_v!, u))}), ref {Unsafe}.Add(ref w, {N(_plan.PackedBiasOffset(_v!, u))}), {peep}{src}, {stride}, n,");
                    _w.Line($"    {Tb("TrainG(maxT)")}, {UnitRows(u)}{proj}{rd});");
                }
                if (_plan.TrainHasOut(k))
                {
                    bool drop = LayerDrop && k < L - 1;
                    _w.Line($"// layer {N(k)}'s output rows{(D == 2 ? " [forward ; reverse]" : "")}{(drop ? ", with dropout" : "")}: the next layer's input");
                    _w.Line($"{Core}.GatherOutput({Tb($"TrainHs({N(k * D)}, maxT) + TrainHq")}, {(D == 2 ? Tb($"TrainHs({N(k * D + 1)}, maxT) + TrainHq") : Tb("0"))}, {(D == 2 ? "true" : "false")}, TrainHq, {N(Hp)}, {Tb($"TrainOut({N(k)}, maxT)")}, {N(Row)}, {(drop ? Tb($"TrainDMask({N(k)}, maxT)") : Tb("0"))}, {(drop ? "true" : "false")}, n);");
                }
            }
            _w.Close();
            _w.Line();
        }

        private void EmitBackwardSequence()
        {
            _w.Line("/// <summary>");
            _w.Line("/// Back-propagation through time over n steps, from the top layer down. ∂L/∂output of the top layer is in TrainDh(0);");
            _w.Line("/// each layer hands ∂L/∂x_t to the layer below through the other TrainDh buffer. Gradients accumulate into gr.");
            _w.Line("/// </summary>");
            _w.Open("internal static void BackwardSequence(ref float p, ref float gr, ref float tb, ref float x, int n, int maxT)");
            for (int k = L - 1; k >= 0; k--)
            {
                int inputs = _plan.LayerInputs(k);
                var (source, stride) = LayerSource(k, "ref x");
                int above = (L - 1 - k) % 2, below = 1 - above;
                bool wantDx = k > 0;
                _w.Line($"// layer {N(k)}");
                for (int d = 0; d < D; d++)
                {
                    int u = k * D + d;
                    string src = source, dhA = Tb($"TrainDh({N(above)}, maxT)"), dhStride = "TrainDhStride", dxOut = Tb($"TrainDh({N(below)}, maxT)");
                    if (d == 1)
                    {
                        _w.Line("// reverse direction: its input and its ∂L/∂h rows in its own (reversed) step order");
                        _w.Line($"{Core}.ReverseRows({source}, {stride}, {Tb("TrainRevX(maxT)")}, {stride}, n, {N(inputs)});");
                        _w.Line($"{Core}.ReverseRows({Tb($"TrainDh({N(above)}, maxT) + {N(Hp)}")}, TrainDhStride, {Tb("TrainRevDh(maxT)")}, TrainHq, n, {N(Hp)});");
                        src = Tb("TrainRevX(maxT)");
                        dhA = Tb("TrainRevDh(maxT)");
                        dhStride = "TrainHq";
                        dxOut = Tb("TrainRevDx(maxT)");
                    }
                    string T(string kind) => N(_plan.UnitTensorOffset(kind, u));
                    string peep = Cell.PackedRows > 0 ? $", {Tb($"Train{Cell.PackedRowsName}({N(u)}, maxT)")}, {Tb($"TrainD{Cell.PackedRowsName}({N(u)}, maxT)")}" : "";
                    string proj = P > 0 ? $", ref {Unsafe}.Add(ref p, {T("weight_hr")}), ref {Unsafe}.Add(ref gr, {T("weight_hr")}), {Tb("TrainDhP(maxT)")}, {Tb("TrainM(maxT)")}, {Tb("TrainDm(maxT)")}" : "";
                    string rd = RecDrop ? $", {Tb($"TrainHd({N(u)}, maxT)")}, {Tb($"TrainRMask({N(u)}, maxT)")}" : "";
                    _w.Line($"BackwardLayer{N(inputs)}(ref {Unsafe}.Add(ref p, {T("weight_ih")}), ref {Unsafe}.Add(ref p, {T("weight_hh")}),");
                    _w.Line($"    ref {Unsafe}.Add(ref gr, {T("weight_ih")}), ref {Unsafe}.Add(ref gr, {T("weight_hh")}), {Tb($"TrainBias({N(u)}, maxT)")},");
                    _w.Line($"    {src}, {stride}, n, {UnitRows(u)},");
                    _w.Line($"    {Tb("TrainDa(maxT)")}, {dhA}, {dhStride}, {dxOut}, {(wantDx ? "true" : "false")},");
                    _w.Line($"    {string.Join(", ", new[] { "h" }.Concat(Cell.Carried.Select(v => v.Symbol)).Select(v => Tb($"TrainD{v}Next(maxT)")))}{peep}{proj}{rd});");
                    if (_plan.LearnInit)
                    {
                        _w.Line("// the learned initial state gets what flowed past the first step");
                        _w.Line($"{Core}.AddRow({Tb("TrainDhNext(maxT)")}, ref {Unsafe}.Add(ref gr, {T("initial_h")}), {N(Hp)});");
                        foreach (var v in Cell.Carried)
                            _w.Line($"{Core}.AddRow({Tb($"TrainD{v.Symbol}Next(maxT)")}, ref {Unsafe}.Add(ref gr, {T(v.Initial)}), {N(H)});");
                    }
                }
                if (wantDx && D == 2)
                {
                    _w.Line("// ∂L/∂x_t of the layer below: the forward direction's plus the reverse direction's (back in time order)");
                    _w.Line($"{Core}.AddReversedRows({Tb("TrainRevDx(maxT)")}, {Tb($"TrainDh({N(below)}, maxT)")}, TrainDhStride, n, {N(inputs)});");
                }
                if (wantDx && LayerDrop)
                {
                    _w.Line($"// through the dropout on layer {N(k - 1)}'s output");
                    _w.Line($"{Core}.MultiplyRows({Tb($"TrainDh({N(below)}, maxT)")}, TrainDhStride, {Tb($"TrainDMask({N(k - 1)}, maxT)")}, {N(Row)}, n, {N(inputs)});");
                }
            }
            _w.Close();
            _w.Line();
        }

        private void EmitTrainLayer(LayerPlan plan)
        {
            int inputs = plan.Inputs;
            string peepParam = Cell.PackedParameter;
            string peepArg = Cell.PackedRows > 0 ? $"ref {Cell.PackedRowsName.ToLowerInvariant()}, " : "";
            _w.Line($"/// <summary>One layer with {N(inputs)} inputs over n steps: the hoisted projection, then the recurrence keeping {string.Concat(Cell.Carried.Select(v => v.Symbol + "_t, "))}h_t, {Cell.KeptDescription}.</summary>");
            _w.Open($"private static void TrainLayer{N(inputs)}(ref float w, ref float bias, {peepParam}ref float x, int xStride, int n, ref float g, {UnitRowParameters}" +
                    (P > 0 ? ", ref float wr, ref float m" : "") + (RecDrop ? ", ref float hd, ref float rmask" : "") + ")");
            _w.Line(KernelEmitter.ProjectCall(_plan, plan, reduced: false, "ref w", "ref bias", "", "ref x", "xStride", "ref g"));
            _w.Open("for (int t = 0; t < n; t++)");
            foreach (string c in Cell.Carried.Select(v => v.Symbol))
            {
                _w.Line($"// {c}_t starts as a copy of {c}_(t-1), which stays in row t for the backward pass");
                _w.Line($"ref float {c} = ref {Unsafe}.Add(ref {c}s, (t + 1) * TrainHq);");
                _w.Line($"Copy(ref {Unsafe}.Add(ref {c}s, t * TrainHq), ref {c}, {N(H)});");
            }
            string z = $"ref {Unsafe}.Add(ref hs, t * TrainHq)";
            if (RecDrop)
            {
                _w.Line("// recurrent dropout: W_hh sees mask ⊙ h_(t-1), kept in hd for the backward pass");
                _w.Line($"{Core}.MultiplyRow({z}, ref rmask, ref {Unsafe}.Add(ref hd, t * TrainHq), {N(Hp)});");
                z = $"ref {Unsafe}.Add(ref hd, t * TrainHq)";
            }
            string hOut = P > 0 ? "ref m" : $"ref {Unsafe}.Add(ref hs, (t + 1) * TrainHq)";
            string carried = string.Concat(Cell.Carried.Select(v => $"ref {v.Symbol}, "));
            string kept = string.Join(", ", Cell.Kept.Select(v => $"ref {Unsafe}.Add(ref {v.Symbol}, t * {(v.Rows == 1 ? "TrainHq" : N(v.Rows * Hq))})"));
            _w.Line($"{K}.{KernelNames.Recur(_plan, plan, training: true, reduced: false)}(ref {Unsafe}.Add(ref w, {N(plan.RecurrentWeightOffset(4))}), ref {Unsafe}.Add(ref g, t * {N(Cell.Gates * plan.PaddedHidden)}), {peepArg}{z}, {carried}{hOut},");
            _w.Line($"    {kept});");
            if (P > 0)
                _w.Line($"{K}.{KernelNames.ProjectOut(_plan)}(ref wr, ref m, ref {Unsafe}.Add(ref hs, (t + 1) * TrainHq)); // h_t = W_hr·m_t");
            _w.Close();
            _w.Close();
            _w.Line();
        }

        private void EmitBackwardLayer(int inputs)
        {
            _w.Line($"/// <summary>BPTT for one layer with {N(inputs)} inputs (docs/maths.md §4): da_t for t = n−1 … 0, then the weight gradients as matrix products over all steps.</summary>");
            _w.Line($"private static void BackwardLayer{N(inputs)}(ref float wih, ref float whh, ref float dwih, ref float dwhh, ref float db, ref float x, int xStride, int n,");
            _w.Open($"    {UnitRowParameters}, ref float da, ref float dhAbove, int dhStride, ref float dxOut, bool wantDx, ref float dhNext" + string.Concat(Cell.Carried.Select(v => $", ref float d{v.Symbol}Next")) +
                    Cell.BackwardPackedParameters + (P > 0 ? ", ref float whr, ref float dwhr, ref float dhp, ref float m, ref float dm" : "") + (RecDrop ? ", ref float hd, ref float rmask" : "") + ")");
            var next = new[] { "h" }.Concat(Cell.Carried.Select(v => v.Symbol)).ToList();
            _w.Line($"// {string.Join(" and ", next.Select(v => $"d{v}_next"))} are zero after the last step: gradients do not flow past the sequence (or window) end");
            foreach (string v in next)
                _w.Line($"MemoryMarshal.CreateSpan(ref d{v}Next, TrainHq).Clear();");
            _w.Open("for (int t = n - 1; t >= 0; t--)");
            _w.Line($"ref float dat = ref {Unsafe}.Add(ref da, t * {N(Cell.Gates * Hq)});");
            Cell.EmitBackwardLocals(_w, Hq);
            if (P > 0)
            {
                _w.Line("// projection: dh = ∂L/∂h_t + dh_next is kept for dW_hr; dm = W_hrᵀ·dh; and m_t = o ⊙ tanh(c_t) for dW_hr");
                _w.Line($"ref float dht = ref {Unsafe}.Add(ref dhp, t * TrainHq);");
                _w.Line($"{Core}.SumRow(ref {Unsafe}.Add(ref dhAbove, t * dhStride), ref dhNext, ref dht, {N(Hp)});");
                _w.Line($"{Products}.MatTVec(ref whr, 1, {N(P)}, {N(H)}, ref dht, 0, ref dm);");
                Cell.EmitBackwardStep(_w, new BackwardStep { DhAbove = "ref dm", DhNext = "ref dm", Projected = true, Hidden = H, RowLength = Hq, ProjectedInput = $"ref {Unsafe}.Add(ref m, t * TrainHq)" });
            }
            else
            {
                Cell.EmitBackwardStep(_w, new BackwardStep { DhAbove = $"ref {Unsafe}.Add(ref dhAbove, t * dhStride)", DhNext = "ref dhNext", Hidden = H, RowLength = Hq });
            }
            _w.Line("// dh_next = W_hhᵀ · da_t" + (RecDrop ? ", through the recurrent dropout mask" : ""));
            _w.Line(MatTVec("ref whh", "ref dat", "ref dhNext", Hp));
            if (RecDrop) _w.Line($"{Core}.MultiplyRow(ref dhNext, ref rmask, ref dhNext, {N(Hp)});");
            _w.Close();
            _w.Line("// dW_ih += Σ_t da_t · x_tᵀ;  dW_hh += Σ_t da_t · h_(t-1)ᵀ;  db += Σ_t da_t");
            string daRows = $"ref da, TrainHq, {N(Cell.Gates * Hq)}";
            _w.Line($"{Products}.OuterAccumulate(ref dwih, {Gates}, {N(H)}, {N(inputs)}, {daRows}, ref x, xStride, n);");
            _w.Line($"{Products}.OuterAccumulate(ref dwhh, {Gates}, {N(H)}, {N(Hp)}, {daRows}, ref {(RecDrop ? "hd" : "hs")}, TrainHq, n);");
            _w.Line($"{Products}.BiasAccumulate(ref db, ref da, {N(Cell.Gates * Hq)}, {N(Cell.Gates * Hq)}, n);");
            if (P > 0)
            {
                _w.Line("// dW_hr += Σ_t dh_t · m_tᵀ");
                _w.Line($"{Products}.OuterAccumulate(ref dwhr, 1, {N(P)}, {N(H)}, ref dhp, 0, TrainHq, ref m, TrainHq, n);");
            }
            _w.Line("// dx_t = W_ihᵀ · da_t, handed to the layer below");
            _w.Line("if (wantDx)");
            _w.Line("{");
            _w.Line("    for (int t = 0; t < n; t++)");
            _w.Line("        " + MatTVec("ref wih", $"ref {Unsafe}.Add(ref da, t * {N(Cell.Gates * Hq)})", $"ref {Unsafe}.Add(ref dxOut, t * TrainDhStride)", inputs));
            _w.Line("}");
            _w.Close();
            _w.Line();
        }

    }
}
