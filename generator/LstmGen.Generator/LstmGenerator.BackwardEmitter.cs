using System;
using System.Collections.Generic;
using System.Linq;

namespace LstmGen.Generator;

public sealed partial class LstmGenerator
{
    /// <summary>
    /// Emits, inside one width's kernel class, the training kernels: the forward pass that keeps activations
    /// (<c>TrainGroup</c>) and back-propagation through time (<c>BackwardGroup</c>), docs/maths.md §4, for a group of
    /// sequences side by side. Buffers are laid out by the trainer (see <c>Trainer</c> in <see cref="Emitter"/>), one per
    /// sequence of the group, a run-time stride apart: per layer h_0..h_T, c_0..c_T, the gates i, f, g, o and tanh(c_t) of
    /// every step, each row padded to TrainHq floats.
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
            EmitTrainGroup();
            foreach (int k in LayerIndexByInputs())
                EmitTrainLayer(_plan.Tiling(k, _v!));
        }

        /// <summary>
        /// The backward pass, once per model (in the kernel host): it reads the PyTorch-layout weights, not the packed
        /// ones, and runs the runtime's products and the cell's element-wise gradients, so it is the same on every width.
        /// </summary>
        public void EmitBackward()
        {
            EmitBackwardGroup();
            foreach (int k in LayerIndexByInputs())
                EmitBackwardLayer(_plan.LayerInputs(k));
        }

        private IEnumerable<int> LayerIndexByInputs() => Enumerable.Range(0, L).GroupBy(_plan.LayerInputs).Select(g => g.First());

        /// <summary>The runtime's matrix products of the backward pass (one implementation for every width and size).</summary>
        private const string Products = "Training.GradientProducts";
        private string Gates => N(Cell.Gates);

        private string Tb(string offset) => $"ref {Unsafe}.Add(ref tb, {offset})";

        /// <summary>Layer k's input rows and their stride, as the training buffers hold them.</summary>
        private (string Source, string Stride) LayerSource(int k, string x) =>
            k == 0 ? (x, N(_plan.LayerInputs(0)))
            : _plan.TrainHasOut(k - 1) ? (Tb($"TrainOut({N(k - 1)}, maxT)"), N(Row))
            : (Tb($"TrainHs({N(k - 1)}, maxT) + TrainHq"), "TrainHq");

        private void EmitTrainGroup()
        {
            _w.Line("/// <summary>");
            _w.Line("/// Forward pass over n steps for training, for <paramref name=\"count\"/> sequences side by side: sequence s keeps every layer's");
            _w.Line("/// activations in its buffer at tb + s·bs and reads its input at x + s·xSeq.");
            _w.Line("/// </summary>");
            _w.Open("internal static void TrainGroup(ref float w, ref float tb, int bs, int count, ref float x, int xSeq, int n, int maxT)");
            for (int k = 0; k < L; k++)
            {
                int inputs = _plan.LayerInputs(k);
                var (source, stride) = LayerSource(k, "ref x");
                string sourceSeq = k == 0 ? "xSeq" : "bs";
                for (int d = 0; d < D; d++)
                {
                    int u = k * D + d;
                    string src = source, srcSeq = sourceSeq;
                    if (d == 1)
                    {
                        _w.Line($"// layer {N(k)} reverse: its input in reverse time order, so the same kernels run it forwards");
                        _w.Open("for (int s = 0; s < count; s++)");
                        _w.Line($"ref float tbs = ref {Unsafe}.Add(ref tb, s * bs);");
                        _w.Line($"{Core}.ReverseRows({Seq(source, sourceSeq)}, {stride}, {Tbs("TrainRevX(maxT)")}, {stride}, n, {N(inputs)});");
                        _w.Close();
                        src = Tb("TrainRevX(maxT)");
                        srcSeq = "bs";
                    }
                    string peep = Cell.PackedRows > 0 ? $"ref {Unsafe}.Add(ref w, {N(_plan.PackedCellOffset(_v!, u))}), " : "";
                    string proj = P > 0 ? $", ref {Unsafe}.Add(ref w, {N(_plan.PackedProjOffset(_v!, u))}), {Tb("TrainM(maxT)")}" : "";
                    string rd = RecDrop ? $", {Tb($"TrainHd({N(u)}, maxT)")}, {Tb($"TrainRMask({N(u)}, maxT)")}" : "";
                    _w.Line($"TrainLayer{N(inputs)}(ref {Unsafe}.Add(ref w, {N(_plan.PackedWeightOffset(_v!, u))}), ref {Unsafe}.Add(ref w, {N(_plan.PackedBiasOffset(_v!, u))}), {peep}{src}, {stride}, {srcSeq}, n, count, bs,");
                    // a cell that sums some h columns apart gets the group's recurrent product in rows of its own
                    string apart = ProductApart(_plan.Tiling(k, _v!)) ? $", {Tb("TrainProduct(maxT)")}" : "";
                    _w.Line($"    {Tb("TrainG(maxT)")}, {UnitRows(u)}{proj}{rd}{apart});");
                }
                if (_plan.TrainHasOut(k))
                {
                    bool drop = LayerDrop && k < L - 1;
                    _w.Line($"// layer {N(k)}'s output rows{(D == 2 ? " [forward ; reverse]" : "")}{(drop ? ", with dropout" : "")}: the next layer's input");
                    _w.Open("for (int s = 0; s < count; s++)");
                    _w.Line($"ref float tbs = ref {Unsafe}.Add(ref tb, s * bs);");
                    _w.Line($"{Core}.GatherOutput({Tbs($"TrainHs({N(k * D)}, maxT) + TrainHq")}, {(D == 2 ? Tbs($"TrainHs({N(k * D + 1)}, maxT) + TrainHq") : Tbs("0"))}, {(D == 2 ? "true" : "false")}, TrainHq, {N(Hp)}, {Tbs($"TrainOut({N(k)}, maxT)")}, {N(Row)}, {(drop ? Tbs($"TrainDMask({N(k)}, maxT)") : Tbs("0"))}, {(drop ? "true" : "false")}, n);");
                    _w.Close();
                }
            }
            _w.Close();
            _w.Line();
        }

        private void EmitBackwardGroup()
        {
            _w.Line("/// <summary>");
            _w.Line("/// Back-propagation through time over n steps for <paramref name=\"count\"/> sequences at once, from the top layer down:");
            _w.Line("/// sequence s has its buffer at tb + s·bs and its input at x + s·xSeq. ∂L/∂output of the top layer is in TrainDh(0);");
            _w.Line("/// each layer hands ∂L/∂x_t to the layer below through the other TrainDh buffer. Gradients accumulate into gr, sequence by");
            _w.Line("/// sequence; the bias and cell-row sums into sequence 0's buffer.");
            _w.Line("/// </summary>");
            _w.Open("internal static void BackwardGroup(ref float p, ref float gr, ref float tb, int bs, int count, ref float x, int xSeq, int n, int maxT)");
            for (int k = L - 1; k >= 0; k--)
            {
                int inputs = _plan.LayerInputs(k);
                var (source, stride) = LayerSource(k, "ref x");
                string sourceSeq = k == 0 ? "xSeq" : "bs";
                int above = (L - 1 - k) % 2, below = 1 - above;
                bool wantDx = k > 0;
                _w.Line($"// layer {N(k)}");
                for (int d = 0; d < D; d++)
                {
                    int u = k * D + d;
                    string src = source, srcSeq = sourceSeq, dhA = Tb($"TrainDh({N(above)}, maxT)"), dhStride = "TrainDhStride", dxOut = Tb($"TrainDh({N(below)}, maxT)");
                    if (d == 1)
                    {
                        _w.Line("// reverse direction: its input and its ∂L/∂h rows in its own (reversed) step order");
                        _w.Open("for (int s = 0; s < count; s++)");
                        _w.Line($"ref float tbs = ref {Unsafe}.Add(ref tb, s * bs);");
                        _w.Line($"{Core}.ReverseRows({Seq(source, sourceSeq)}, {stride}, {Tbs("TrainRevX(maxT)")}, {stride}, n, {N(inputs)});");
                        _w.Line($"{Core}.ReverseRows({Tbs($"TrainDh({N(above)}, maxT) + {N(Hp)}")}, TrainDhStride, {Tbs("TrainRevDh(maxT)")}, TrainHq, n, {N(Hp)});");
                        _w.Close();
                        src = Tb("TrainRevX(maxT)");
                        srcSeq = "bs";
                        dhA = Tb("TrainRevDh(maxT)");
                        dhStride = "TrainHq";
                        dxOut = Tb("TrainRevDx(maxT)");
                    }
                    string T(string kind) => N(_plan.UnitTensorOffset(kind, u));
                    string peep = Cell.TrainedRows > 0 ? $", {Tb($"Train{Cell.PackedRowsName}({N(u)}, maxT)")}, {Tb($"TrainD{Cell.PackedRowsName}({N(u)}, maxT)")}" : "";
                    string proj = P > 0 ? $", ref {Unsafe}.Add(ref p, {T("weight_hr")}), ref {Unsafe}.Add(ref gr, {T("weight_hr")}), {Tb("TrainDhP(maxT)")}, {Tb("TrainM(maxT)")}, {Tb("TrainDm(maxT)")}" : "";
                    string rd = RecDrop ? $", {Tb($"TrainHd({N(u)}, maxT)")}, {Tb($"TrainRMask({N(u)}, maxT)")}" : "";
                    _w.Line($"BackwardLayer{N(inputs)}(ref {Unsafe}.Add(ref p, {T("weight_ih")}), ref {Unsafe}.Add(ref p, {T("weight_hh")}),");
                    _w.Line($"    ref {Unsafe}.Add(ref gr, {T("weight_ih")}), ref {Unsafe}.Add(ref gr, {T("weight_hh")}), {Tb($"TrainBias({N(u)}, maxT)")},");
                    _w.Line($"    {src}, {stride}, {srcSeq}, n, count, bs, {UnitRows(u)},");
                    _w.Line($"    {Tb("TrainDa(maxT)")}, {dhA}, {dhStride}, {dxOut}, {(wantDx ? "true" : "false")},");
                    _w.Line($"    {string.Join(", ", new[] { "h" }.Concat(Cell.Carried.Select(v => v.Symbol)).Select(v => Tb($"TrainD{v}Next(maxT)")))}{peep}{proj}{rd});");
                    if (_plan.LearnInit)
                    {
                        _w.Line("// the learned initial state gets what flowed past the first step");
                        _w.Open("for (int s = 0; s < count; s++)");
                        _w.Line($"ref float tbs = ref {Unsafe}.Add(ref tb, s * bs);");
                        _w.Line($"{Core}.AddRow({Tbs("TrainDhNext(maxT)")}, ref {Unsafe}.Add(ref gr, {T("initial_h")}), {N(Hp)});");
                        foreach (var v in Cell.Carried)
                            _w.Line($"{Core}.AddRow({Tbs($"TrainD{v.Symbol}Next(maxT)")}, ref {Unsafe}.Add(ref gr, {T(v.Initial)}), {N(H)});");
                        _w.Close();
                    }
                }
                if (wantDx && (D == 2 || LayerDrop))
                {
                    _w.Open("for (int s = 0; s < count; s++)");
                    _w.Line($"ref float tbs = ref {Unsafe}.Add(ref tb, s * bs);");
                    if (D == 2)
                    {
                        _w.Line("// ∂L/∂x_t of the layer below: the forward direction's plus the reverse direction's (back in time order)");
                        _w.Line($"{Core}.AddReversedRows({Tbs("TrainRevDx(maxT)")}, {Tbs($"TrainDh({N(below)}, maxT)")}, TrainDhStride, n, {N(inputs)});");
                    }
                    if (LayerDrop)
                    {
                        _w.Line($"// through the dropout on layer {N(k - 1)}'s output");
                        _w.Line($"{Core}.MultiplyRows({Tbs($"TrainDh({N(below)}, maxT)")}, TrainDhStride, {Tbs($"TrainDMask({N(k - 1)}, maxT)")}, {N(Row)}, n, {N(inputs)});");
                    }
                    _w.Close();
                }
            }
            _w.Close();
            _w.Line();
        }

        /// <summary>The offset of row <paramref name="row"/> of step <paramref name="t"/> in da: "t * 64", or "t * 112 + 48".</summary>
        private string DaRow(string t, int row) => $"{t} * {N(Cell.DaRows * Hq)}" + (row > 0 ? $" + {N(row * Hq)}" : "");

        /// <summary>Whether a layer's training group product lands in rows of its own (see ModelPlan.RecurrentProductApart).</summary>
        private bool ProductApart(LayerPlan plan) => _plan.TrainGroupProduct(plan) && Cell.SplitsColumns;

        /// <summary>A reference into sequence s's buffer (inside a loop over s that declares tbs).</summary>
        private static string Tbs(string offset) => $"ref {Unsafe}.Add(ref tbs, {offset})";

        /// <summary>Sequence s's copy of a "ref …" argument whose sequences are <paramref name="seqStride"/> apart.</summary>
        private static string Seq(string reference, string seqStride) =>
            reference.StartsWith("ref " + Unsafe + ".Add(ref tb, ", StringComparison.Ordinal)
                ? "ref " + Unsafe + ".Add(ref tbs, " + reference.Substring(("ref " + Unsafe + ".Add(ref tb, ").Length)
                : $"ref {Unsafe}.Add({reference}, s * {seqStride})";

        private void EmitTrainLayer(LayerPlan plan)
        {
            int inputs = plan.Inputs;
            string peepParam = Cell.PackedParameter;
            string peepArg = Cell.PackedRows > 0 ? $"ref {Cell.PackedRowsName.ToLowerInvariant()}, " : "";
            _w.Line($"/// <summary>One layer with {N(inputs)} inputs over n steps for count sequences (rows bs floats apart, inputs xSeq): the hoisted projections, then the recurrence keeping {string.Concat(Cell.Carried.Select(v => v.Symbol + "_t, "))}h_t, {Cell.KeptDescription}.</summary>");
            bool apart = ProductApart(plan);
            _w.Open($"private static void TrainLayer{N(inputs)}(ref float w, ref float bias, {peepParam}ref float x, int xStride, int xSeq, int n, int count, int bs, ref float g, {UnitRowParameters}" +
                    (P > 0 ? ", ref float wr, ref float m" : "") + (RecDrop ? ", ref float hd, ref float rmask" : "") + (apart ? ", ref float product" : "") + ")");
            _w.Line("for (int s = 0; s < count; s++)");
            _w.Line("    " + KernelEmitter.ProjectCall(_plan, plan, reduced: false, "ref w", "ref bias", "", $"ref {Unsafe}.Add(ref x, s * xSeq)", "xStride", $"ref {Unsafe}.Add(ref g, s * bs)"));
            bool product = _plan.TrainGroupProduct(plan);
            _w.Open("for (int t = 0; t < n; t++)");
            // the row references of sequence s ("" for sequence 0's, which ProjectAdd offsets itself)
            string At(string reference, string offset, string sq) => $"ref {Unsafe}.Add(ref {reference}, {(sq.Length == 0 ? offset : offset == "0" ? sq : $"{sq} + {offset}")})";
            string z = RecDrop ? "hd" : "hs";
            _w.Open("for (int s = 0; s < count; s++)");
            foreach (string c in Cell.Carried.Select(v => v.Symbol))
            {
                _w.Line($"// {c}_t starts as a copy of {c}_(t-1), which stays in row t for the backward pass");
                _w.Line($"Copy({At(c + "s", "t * TrainHq", "s * bs")}, {At(c + "s", "(t + 1) * TrainHq", "s * bs")}, {N(H)});");
            }
            if (RecDrop)
            {
                _w.Line("// recurrent dropout: W_hh sees mask ⊙ h_(t-1), kept in hd for the backward pass");
                _w.Line($"{Core}.MultiplyRow({At("hs", "t * TrainHq", "s * bs")}, {At("rmask", "0", "s * bs")}, {At("hd", "t * TrainHq", "s * bs")}, {N(Hp)});");
            }
            string Args(string sq) =>
                $"ref {Unsafe}.Add(ref w, {N(plan.RecurrentWeightOffset)}), {At("g", $"t * {N(Cell.Gates * plan.PaddedHidden)}", sq)}, {peepArg}" +
                $"{At(z, "t * TrainHq", sq)}, " +
                string.Concat(Cell.Carried.Select(v => At(v.Symbol + "s", "(t + 1) * TrainHq", sq) + ", ")) +
                (P > 0 ? At("m", "0", sq) : At("hs", "(t + 1) * TrainHq", sq)) + ", " +
                string.Join(", ", Cell.Kept.Select(v => At(v.Symbol, $"t * {(v.Rows == 1 ? "TrainHq" : N(v.Rows * Hq))}", sq)));
            string recur = $"{K}.{KernelNames.Recur(_plan, plan, training: true, reduced: false)}";
            if (product)
            {
                _w.Close();
                _w.Open("if (count > 1)");
                if (apart)
                {
                    _w.Line("// P_s = W_hh·h_s(t-1) for the whole group into rows of their own (the cell sums some h columns apart), each weight");
                    _w.Line("// loaded once for the group; then the cell of each sequence, which routes P_s's rows to its accumulators");
                    _w.Line("for (int s = 0; s < count; s++)");
                    _w.Line($"    MemoryMarshal.CreateSpan(ref {Unsafe}.Add(ref product, s * bs), {N(Cell.Gates * plan.PaddedHidden)}).Clear();");
                }
                else
                    _w.Line("// G_s[t] += W_hh·h_s(t-1) for the whole group, each weight loaded once for it; then the cell of each sequence");
                _w.Line($"InputProjection.ProjectAdd(ref {Unsafe}.Add(ref w, {N(plan.RecurrentWeightOffset)}), {At(z, "t * TrainHq", "")}, bs, count, {(apart ? "ref product" : At("g", $"t * {N(Cell.Gates * plan.PaddedHidden)}", ""))}, bs,");
                _w.Line($"    {N(plan.Width.Lanes)}, {N(plan.Recurrent)}, {N(plan.Tiles)}, {N(plan.VectorsPerTile)}, {N(plan.TileStride)});");
                _w.Line("for (int s = 0; s < count; s++)");
                string args = Args("s * bs");
                if (apart)
                {
                    // the product row follows init in the cell-only kernel's parameters
                    string init = At("g", $"t * {N(Cell.Gates * plan.PaddedHidden)}", "s * bs") + ", ";
                    args = args.Replace(init, init + At("product", "0", "s * bs") + ", ");
                }
                _w.Line($"    {K}.{KernelNames.CellTrain(_plan, plan)}({args});");
                _w.Close();
                _w.Line("else");
                _w.Line($"    {recur}({Args("")});");
                if (P > 0)
                {
                    _w.Line("for (int s = 0; s < count; s++)");
                    _w.Line($"    {K}.{KernelNames.ProjectOut(_plan)}(ref wr, {At("m", "0", "s * bs")}, {At("hs", "(t + 1) * TrainHq", "s * bs")}); // h_t = W_hr·m_t");
                }
            }
            else
            {
                _w.Line($"{recur}({Args("s * bs")});");
                if (P > 0)
                    _w.Line($"{K}.{KernelNames.ProjectOut(_plan)}(ref wr, {At("m", "0", "s * bs")}, {At("hs", "(t + 1) * TrainHq", "s * bs")}); // h_t = W_hr·m_t");
                _w.Close();
            }
            _w.Close();
            _w.Close();
            _w.Line();
        }

        private void EmitBackwardLayer(int inputs)
        {
            // The per-sequence rows are parameters named with a trailing 0 (sequence 0's); sequence s's are bs floats further
            // (x: xSeq), declared under the plain names inside the loops over s, where the cell's backward step reads them.
            var perSequence = new List<string> { "hs" };
            perSequence.AddRange(Cell.Carried.Select(v => v.Symbol + "s"));
            perSequence.AddRange(Cell.Kept.Select(v => v.Symbol));
            perSequence.AddRange(new[] { "da", "dhAbove", "dxOut", "dhNext" });
            perSequence.AddRange(Cell.Carried.Select(v => $"d{v.Symbol}Next"));
            if (P > 0) perSequence.AddRange(new[] { "dhp", "m", "dm" });
            if (RecDrop) perSequence.AddRange(new[] { "hd", "rmask" });
            string Zero(string name) => name + "0";
            _w.Line($"/// <summary>BPTT for one layer with {N(inputs)} inputs over count sequences (docs/maths.md §4): da_t for t = n−1 … 0, each step's ∂L/∂h_(t-1) for all of them from one product with W_hh, then the weight gradients as matrix products over all steps.</summary>");
            _w.Line($"private static void BackwardLayer{N(inputs)}(ref float wih, ref float whh, ref float dwih, ref float dwhh, ref float db, ref float x0, int xStride, int xSeq, int n, int count, int bs,");
            _w.Open($"    {string.Join(", ", new[] { "hs" }.Concat(Cell.Carried.Select(v => v.Symbol + "s")).Concat(Cell.Kept.Select(v => v.Symbol)).Select(v => $"ref float {Zero(v)}"))}, ref float da0, ref float dhAbove0, int dhStride, ref float dxOut0, bool wantDx, ref float dhNext0" +
                    string.Concat(Cell.Carried.Select(v => $", ref float d{v.Symbol}Next0")) +
                    Cell.BackwardPackedParameters + (P > 0 ? ", ref float whr, ref float dwhr, ref float dhp0, ref float m0, ref float dm0" : "") + (RecDrop ? ", ref float hd0, ref float rmask0" : "") + ")");
            void Declare(IEnumerable<string> names)
            {
                foreach (string v in names)
                    _w.Line($"ref float {v} = ref {Unsafe}.Add(ref {Zero(v)}, s * bs);");
            }
            var next = new[] { "h" }.Concat(Cell.Carried.Select(v => v.Symbol)).ToList();
            _w.Line($"// {string.Join(" and ", next.Select(v => $"d{v}_next"))} are zero after the last step: gradients do not flow past the sequence (or window) end");
            _w.Line("for (int s = 0; s < count; s++)");
            _w.Line("{");
            foreach (string v in next)
                _w.Line($"    MemoryMarshal.CreateSpan(ref {Unsafe}.Add(ref d{v}Next0, s * bs), TrainHq).Clear();");
            _w.Line("}");
            _w.Open("for (int t = n - 1; t >= 0; t--)");
            _w.Open("for (int s = 0; s < count; s++)");
            Declare(perSequence.Where(v => v != "dxOut" && (v != "hs" || Cell.BackwardReadsH) && v != "hd" && v != "rmask"));
            _w.Line($"ref float dat = ref {Unsafe}.Add(ref da, t * {N(Cell.DaRows * Hq)});");
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
            _w.Close();
            _w.Line("// dh_next = W_hhᵀ · da_t for every sequence: one product, each weight read once for four sequences" + (RecDrop ? "; then through the recurrent dropout mask" : ""));
            _w.Line($"{Products}.MatTMat(ref whh, {Gates}, {N(H)}, {N(Hp)}, ref {Unsafe}.Add(ref da0, {DaRow("t", Cell.RecurrentDaRow)}), TrainHq, bs, count, ref dhNext0, bs);");
            if (Cell.DirectDaRow >= 0)
            {
                _w.Line("// and the direct path from h_(t-1) to h_t");
                _w.Line("for (int s = 0; s < count; s++)");
                _w.Line($"    {Core}.AddRow(ref {Unsafe}.Add(ref da0, s * bs + {DaRow("t", Cell.DirectDaRow)}), ref {Unsafe}.Add(ref dhNext0, s * bs), {N(Hp)});");
            }
            if (RecDrop)
            {
                _w.Line("for (int s = 0; s < count; s++)");
                _w.Line($"    {Core}.MultiplyRow(ref {Unsafe}.Add(ref dhNext0, s * bs), ref {Unsafe}.Add(ref rmask0, s * bs), ref {Unsafe}.Add(ref dhNext0, s * bs), {N(Hp)});");
            }
            _w.Close();
            _w.Open("for (int s = 0; s < count; s++)");
            Declare(perSequence.Where(v => v == "da" || v == "hs" || v == "dxOut" || v == "hd" || v == "dhp" || v == "m"));
            _w.Line($"ref float x = ref {Unsafe}.Add(ref x0, s * xSeq);");
            _w.Line(Cell.RecurrentDaRow == 0
                ? "// dW_ih += Σ_t da_t · x_tᵀ;  dW_hh += Σ_t da_t · h_(t-1)ᵀ;  db += Σ_t da_t"
                : $"// dW_ih += Σ_t da_t · x_tᵀ;  dW_hh += Σ_t da'_t · h_(t-1)ᵀ (da' = rows {N(Cell.RecurrentDaRow)}… of da);  db += Σ_t [da_t ; da'_t]");
            string daRows = $"ref da, TrainHq, {N(Cell.DaRows * Hq)}";
            string daRecurrent = Cell.RecurrentDaRow == 0 ? daRows : $"ref {Unsafe}.Add(ref da, {N(Cell.RecurrentDaRow * Hq)}), TrainHq, {N(Cell.DaRows * Hq)}";
            _w.Line($"{Products}.OuterAccumulate(ref dwih, {Gates}, {N(H)}, {N(inputs)}, {daRows}, ref x, xStride, n);");
            _w.Line($"{Products}.OuterAccumulate(ref dwhh, {Gates}, {N(H)}, {N(Hp)}, {daRecurrent}, ref {(RecDrop ? "hd" : "hs")}, TrainHq, n);");
            _w.Line($"{Products}.BiasAccumulate(ref db, ref da, {N(Cell.BiasDaRows * Hq)}, {N(Cell.DaRows * Hq)}, n);");
            if (P > 0)
            {
                _w.Line("// dW_hr += Σ_t dh_t · m_tᵀ");
                _w.Line($"{Products}.OuterAccumulate(ref dwhr, 1, {N(P)}, {N(H)}, ref dhp, 0, TrainHq, ref m, TrainHq, n);");
            }
            _w.Line("// dx_t = W_ihᵀ · da_t for every step, handed to the layer below: one product over the steps");
            _w.Line("if (wantDx)");
            _w.Line($"    {Products}.MatTMat(ref wih, {Gates}, {N(H)}, {N(inputs)}, ref da, TrainHq, {N(Cell.DaRows * Hq)}, n, ref dxOut, TrainDhStride);");
            _w.Close();
            _w.Close();
            _w.Line();
        }

    }
}
