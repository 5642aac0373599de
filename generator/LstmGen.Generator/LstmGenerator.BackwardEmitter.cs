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
        private readonly VectorWidth _v;
        private readonly KernelSink _sink;

        public BackwardEmitter(ModelPlan plan, SourceWriter writer, VectorWidth width, KernelSink sink)
        {
            _plan = plan;
            _w = writer;
            _v = width;
            _sink = sink;
        }

        /// <summary>The shared class this width's compute kernels are called through.</summary>
        private string K => SharedKernels.ClassName(_v);

        /// <summary>Writes a compute kernel into the assembly's shared class for this width (once per name; see SharedKernels).</summary>
        private void Shared(string name, Action body)
        {
            var host = _w;
            _sink.Add(_v, name, writer => { _w = writer; body(); });
            _w = host;
        }

        private static string N(long value) => Emitter.N(value);
        private const string Unsafe = "Unsafe";
        private int H => _plan.LayerPlanHidden;
        private int L => _plan.LayerCount;
        private int Hq => _plan.TrainHq;
        private int Lanes => _v.Lanes;
        private string V => _v.Type;
        private static string R(string reference, string offset) => offset == "0" ? $"ref {reference}" : $"ref {Unsafe}.Add(ref {reference}, {offset})";

        private int D => _plan.D;
        private int Hp => _plan.Hp;
        private int P => _plan.P;
        private bool Peep => _plan.Peep;
        private bool RecDrop => _plan.RecurrentDropoutP > 0;
        private bool LayerDrop => _plan.DropoutP > 0;
        private int Row => _plan.HeadInputs;

        public void Emit()
        {
            EmitTrainSequence();
            EmitBackwardSequence();
            foreach (int k in Enumerable.Range(0, L).GroupBy(_plan.LayerInputs).Select(g => g.First()))
            {
                EmitTrainLayer(_plan.Tiling(k, _v));
                EmitBackwardLayer(_plan.LayerInputs(k));
            }
            Shared(KernelNames.CellBackward(_plan), EmitCellBackward);
            foreach (int columns in _plan.LayerShapes().Append(Hp).Distinct())
            {
                Shared(KernelNames.MatTVec(_plan, columns), () => EmitMatTVec(columns));
                Shared(KernelNames.OuterAccumulate(_plan, columns), () => EmitOuterAccumulate(columns));
            }
            Shared(KernelNames.BiasAccumulate(_plan), EmitBiasAccumulate);
            if (P > 0)
            {
                Shared(KernelNames.ProjectBack(_plan), EmitProjectBack);
                Shared(KernelNames.ProjectOuter(_plan), EmitProjectOuter);
            }
        }

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
                        _w.Line($"ReverseRows({source}, {stride}, {Tb("TrainRevX(maxT)")}, {stride}, n, {N(inputs)});");
                        src = Tb("TrainRevX(maxT)");
                    }
                    string peep = Peep ? $"ref {Unsafe}.Add(ref w, {N(_plan.PackedPeepOffset(_v, u))}), " : "";
                    string proj = P > 0 ? $", ref {Unsafe}.Add(ref w, {N(_plan.PackedProjOffset(_v, u))}), {Tb("TrainM(maxT)")}" : "";
                    string rd = RecDrop ? $", {Tb($"TrainHd({N(u)}, maxT)")}, {Tb($"TrainRMask({N(u)}, maxT)")}" : "";
                    _w.Line($"TrainLayer{N(inputs)}(ref {Unsafe}.Add(ref w, {N(_plan.PackedWeightOffset(_v, u))}), ref {Unsafe}.Add(ref w, {N(_plan.PackedBiasOffset(_v, u))}), {peep}{src}, {stride}, n,");
                    _w.Line($"    {Tb("TrainG(maxT)")}, {Tb($"TrainHs({N(u)}, maxT)")}, {Tb($"TrainCs({N(u)}, maxT)")}, {Tb($"TrainGates({N(u)}, maxT)")}, {Tb($"TrainTanhC({N(u)}, maxT)")}{proj}{rd});");
                }
                if (_plan.TrainHasOut(k))
                {
                    bool drop = LayerDrop && k < L - 1;
                    _w.Line($"// layer {N(k)}'s output rows{(D == 2 ? " [forward ; reverse]" : "")}{(drop ? ", with dropout" : "")}: the next layer's input");
                    _w.Line($"GatherOutput({Tb($"TrainHs({N(k * D)}, maxT) + TrainHq")}, {(D == 2 ? Tb($"TrainHs({N(k * D + 1)}, maxT) + TrainHq") : Tb("0"))}, {Tb($"TrainOut({N(k)}, maxT)")}, {(drop ? Tb($"TrainDMask({N(k)}, maxT)") : Tb("0"))}, {(drop ? "true" : "false")}, n);");
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
                        _w.Line($"ReverseRows({source}, {stride}, {Tb("TrainRevX(maxT)")}, {stride}, n, {N(inputs)});");
                        _w.Line($"ReverseRows({Tb($"TrainDh({N(above)}, maxT) + {N(Hp)}")}, TrainDhStride, {Tb("TrainRevDh(maxT)")}, TrainHq, n, {N(Hp)});");
                        src = Tb("TrainRevX(maxT)");
                        dhA = Tb("TrainRevDh(maxT)");
                        dhStride = "TrainHq";
                        dxOut = Tb("TrainRevDx(maxT)");
                    }
                    string T(string kind) => N(_plan.UnitTensorOffset(kind, u));
                    string peep = Peep ? $", {Tb($"TrainPeep({N(u)}, maxT)")}, {Tb($"TrainDPeep({N(u)}, maxT)")}" : "";
                    string proj = P > 0 ? $", ref {Unsafe}.Add(ref p, {T("weight_hr")}), ref {Unsafe}.Add(ref gr, {T("weight_hr")}), {Tb("TrainDhP(maxT)")}, {Tb("TrainM(maxT)")}, {Tb("TrainDm(maxT)")}" : "";
                    string rd = RecDrop ? $", {Tb($"TrainHd({N(u)}, maxT)")}, {Tb($"TrainRMask({N(u)}, maxT)")}" : "";
                    _w.Line($"BackwardLayer{N(inputs)}(ref {Unsafe}.Add(ref p, {T("weight_ih")}), ref {Unsafe}.Add(ref p, {T("weight_hh")}),");
                    _w.Line($"    ref {Unsafe}.Add(ref gr, {T("weight_ih")}), ref {Unsafe}.Add(ref gr, {T("weight_hh")}), {Tb($"TrainBias({N(u)}, maxT)")},");
                    _w.Line($"    {src}, {stride}, n, {Tb($"TrainHs({N(u)}, maxT)")}, {Tb($"TrainCs({N(u)}, maxT)")}, {Tb($"TrainGates({N(u)}, maxT)")}, {Tb($"TrainTanhC({N(u)}, maxT)")},");
                    _w.Line($"    {Tb("TrainDa(maxT)")}, {dhA}, {dhStride}, {dxOut}, {(wantDx ? "true" : "false")},");
                    _w.Line($"    {Tb("TrainDhNext(maxT)")}, {Tb("TrainDcNext(maxT)")}{peep}{proj}{rd});");
                    if (_plan.LearnInit)
                    {
                        _w.Line("// the learned initial state gets what flowed past the first step");
                        _w.Line($"AddRow({Tb("TrainDhNext(maxT)")}, ref {Unsafe}.Add(ref gr, {T("initial_h")}), {N(Hp)});");
                        _w.Line($"AddRow({Tb("TrainDcNext(maxT)")}, ref {Unsafe}.Add(ref gr, {T("initial_c")}), {N(H)});");
                    }
                }
                if (wantDx && D == 2)
                {
                    _w.Line("// ∂L/∂x_t of the layer below: the forward direction's plus the reverse direction's (back in time order)");
                    _w.Line($"AddReversedRows({Tb("TrainRevDx(maxT)")}, {Tb($"TrainDh({N(below)}, maxT)")}, TrainDhStride, n, {N(inputs)});");
                }
                if (wantDx && LayerDrop)
                {
                    _w.Line($"// through the dropout on layer {N(k - 1)}'s output");
                    _w.Line($"MultiplyRows({Tb($"TrainDh({N(below)}, maxT)")}, TrainDhStride, {Tb($"TrainDMask({N(k - 1)}, maxT)")}, {N(Row)}, n, {N(inputs)});");
                }
            }
            _w.Close();
            _w.Line();
        }

        private void EmitTrainLayer(LayerPlan plan)
        {
            int inputs = plan.Inputs;
            string peepParam = Peep ? "ref float peep, " : "";
            string peepArg = Peep ? "ref peep, " : "";
            _w.Line($"/// <summary>One layer with {N(inputs)} inputs over n steps: the hoisted projection, then the recurrence keeping c_t, h_t, the gates and tanh(c_t).</summary>");
            _w.Open($"private static void TrainLayer{N(inputs)}(ref float w, ref float bias, {peepParam}ref float x, int xStride, int n, ref float g, ref float hs, ref float cs, ref float gates, ref float tanhC" +
                    (P > 0 ? ", ref float wr, ref float m" : "") + (RecDrop ? ", ref float hd, ref float rmask" : "") + ")");
            _w.Line($"{K}.{KernelNames.Project(_plan, plan, reduced: false)}(ref w, ref bias, ref x, xStride, n, ref g);");
            _w.Open("for (int t = 0; t < n; t++)");
            _w.Line("// c_t starts as a copy of c_(t-1), which stays in row t for the backward pass");
            _w.Line($"ref float c = ref {Unsafe}.Add(ref cs, (t + 1) * TrainHq);");
            _w.Line($"Copy(ref {Unsafe}.Add(ref cs, t * TrainHq), ref c, {N(H)});");
            string z = $"ref {Unsafe}.Add(ref hs, t * TrainHq)";
            if (RecDrop)
            {
                _w.Line("// recurrent dropout: W_hh sees mask ⊙ h_(t-1), kept in hd for the backward pass");
                _w.Line($"MultiplyRow({z}, ref rmask, ref {Unsafe}.Add(ref hd, t * TrainHq), {N(Hp)});");
                z = $"ref {Unsafe}.Add(ref hd, t * TrainHq)";
            }
            string hOut = P > 0 ? "ref m" : $"ref {Unsafe}.Add(ref hs, (t + 1) * TrainHq)";
            _w.Line($"{K}.{KernelNames.Recur(_plan, plan, training: true, reduced: false)}(ref {Unsafe}.Add(ref w, {N(plan.RecurrentWeightOffset(4))}), ref {Unsafe}.Add(ref g, t * {N(LstmCell.Gates * plan.PaddedHidden)}), {peepArg}{z}, ref c, {hOut},");
            _w.Line($"    ref {Unsafe}.Add(ref gates, t * {N(LstmCell.Gates * Hq)}), ref {Unsafe}.Add(ref tanhC, t * TrainHq));");
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
            _w.Open("    ref float hs, ref float cs, ref float gates, ref float tanhC, ref float da, ref float dhAbove, int dhStride, ref float dxOut, bool wantDx, ref float dhNext, ref float dcNext" +
                    (Peep ? ", ref float peep, ref float dpeep" : "") + (P > 0 ? ", ref float whr, ref float dwhr, ref float dhp, ref float m, ref float dm" : "") + (RecDrop ? ", ref float hd, ref float rmask" : "") + ")");
            _w.Line("// dh_next and dc_next are zero after the last step: gradients do not flow past the sequence (or window) end");
            _w.Line($"MemoryMarshal.CreateSpan(ref dhNext, TrainHq).Clear();");
            _w.Line($"MemoryMarshal.CreateSpan(ref dcNext, TrainHq).Clear();");
            _w.Open("for (int t = n - 1; t >= 0; t--)");
            _w.Line($"ref float dat = ref {Unsafe}.Add(ref da, t * {N(LstmCell.Gates * Hq)});");
            _w.Line($"ref float gt = ref {Unsafe}.Add(ref gates, t * {N(LstmCell.Gates * Hq)});");
            string peepArgs = Peep ? $"ref {Unsafe}.Add(ref cs, (t + 1) * TrainHq), ref peep, ref dpeep, " : "";
            if (P > 0)
            {
                _w.Line("// projection: dh = ∂L/∂h_t + dh_next is kept for dW_hr; dm = W_hrᵀ·dh; and m_t = o ⊙ tanh(c_t) for dW_hr");
                _w.Line($"ref float dht = ref {Unsafe}.Add(ref dhp, t * TrainHq);");
                _w.Line($"SumRow(ref {Unsafe}.Add(ref dhAbove, t * dhStride), ref dhNext, ref dht, {N(Hp)});");
                _w.Line($"{K}.{KernelNames.ProjectBack(_plan)}(ref whr, ref dht, ref dm);");
                _w.Line($"MultiplyRow(ref {Unsafe}.Add(ref gt, {N(3 * Hq)}), ref {Unsafe}.Add(ref tanhC, t * TrainHq), ref {Unsafe}.Add(ref m, t * TrainHq), {N(H)});");
                _w.Line($"{K}.{KernelNames.CellBackward(_plan)}(ref dm, ref dcNext, ref gt, ref {Unsafe}.Add(ref tanhC, t * TrainHq), ref {Unsafe}.Add(ref cs, t * TrainHq), {peepArgs}ref dat);");
            }
            else
            {
                _w.Line($"{K}.{KernelNames.CellBackward(_plan)}(ref {Unsafe}.Add(ref dhAbove, t * dhStride), ref dhNext, ref dcNext, ref gt, ref {Unsafe}.Add(ref tanhC, t * TrainHq), ref {Unsafe}.Add(ref cs, t * TrainHq), {peepArgs}ref dat);");
            }
            _w.Line("// dh_next = W_hhᵀ · da_t" + (RecDrop ? ", through the recurrent dropout mask" : ""));
            _w.Line($"{K}.{KernelNames.MatTVec(_plan, Hp)}(ref whh, ref dat, ref dhNext);");
            if (RecDrop) _w.Line($"MultiplyRow(ref dhNext, ref rmask, ref dhNext, {N(Hp)});");
            _w.Close();
            _w.Line("// dW_ih += Σ_t da_t · x_tᵀ;  dW_hh += Σ_t da_t · h_(t-1)ᵀ;  db += Σ_t da_t");
            _w.Line($"{K}.{KernelNames.OuterAccumulate(_plan, inputs)}(ref dwih, ref da, ref x, xStride, n);");
            _w.Line($"{K}.{KernelNames.OuterAccumulate(_plan, Hp)}(ref dwhh, ref da, ref {(RecDrop ? "hd" : "hs")}, TrainHq, n);");
            _w.Line($"{K}.{KernelNames.BiasAccumulate(_plan)}(ref db, ref da, n);");
            if (P > 0)
            {
                _w.Line("// dW_hr += Σ_t dh_t · m_tᵀ");
                _w.Line($"{K}.{KernelNames.ProjectOuter(_plan)}(ref dwhr, ref dhp, ref m, n);");
            }
            _w.Line("// dx_t = W_ihᵀ · da_t, handed to the layer below");
            _w.Line("if (wantDx)");
            _w.Line("{");
            _w.Line("    for (int t = 0; t < n; t++)");
            _w.Line($"        {K}.{KernelNames.MatTVec(_plan, inputs)}(ref wih, ref {Unsafe}.Add(ref da, t * {N(LstmCell.Gates * Hq)}), ref {Unsafe}.Add(ref dxOut, t * TrainDhStride));");
            _w.Line("}");
            _w.Close();
            _w.Line();
        }

        private void EmitCellBackward()
        {
            _w.Line("/// <summary>The element-wise part of one backward step, for every unit" + (Peep ? ", with the peephole terms" : "") + ".</summary>");
            string dhParams = P > 0 ? "ref float dm" : "ref float dhAbove, ref float dhNext";
            _w.Open($"internal static void {KernelNames.CellBackward(_plan)}({dhParams}, ref float dcNext, ref float gates, ref float tanhC, ref float cPrev, {(Peep ? "ref float cNew, ref float peep, ref float dpeep, " : "")}ref float da)");
            new LstmCell(Peep).EmitBackward(_w, _v, H, Hq, projection: P > 0);
            _w.Close();
            _w.Line();
        }

        /// <summary>The projection's backward kernels: dm = W_hrᵀ·dh and dW_hr += Σ_t dh_t·m_tᵀ (W_hr is P × H, row-major).</summary>
        private void EmitProjectBack()
        {
            int whole = H / Lanes * Lanes;
            _w.Line($"/// <summary>dm = W_hrᵀ·dh for the {N(P)}×{N(H)} projection.</summary>");
            _w.Open($"internal static void {KernelNames.ProjectBack(_plan)}(ref float whr, ref float dh, ref float dm)");
            if (whole > 0)
            {
                _w.Open($"for (int j = 0; j < {N(whole)}; j += {N(Lanes)})");
                _w.Line($"{V} a0 = {_v.Zero}, a1 = {_v.Zero};");
                _w.Line("int r = 0;");
                _w.Open($"for (; r + 2 <= {N(P)}; r += 2)");
                _w.Line($"a0 = MulAdd(Load(ref whr, r * {N(H)} + j), Splat(At(ref dh, r)), a0);");
                _w.Line($"a1 = MulAdd(Load(ref whr, (r + 1) * {N(H)} + j), Splat(At(ref dh, r + 1)), a1);");
                _w.Close();
                _w.Line($"if (r < {N(P)}) a0 = MulAdd(Load(ref whr, r * {N(H)} + j), Splat(At(ref dh, r)), a0);");
                _w.Line("Store(a0 + a1, ref dm, j);");
                _w.Close();
            }
            if (whole < H)
            {
                _w.Open($"for (int j = {N(whole)}; j < {N(H)}; j++)");
                _w.Line("float sum = 0f;");
                _w.Line($"for (int r = 0; r < {N(P)}; r++) sum = LstmMath.MulAdd(At(ref whr, r * {N(H)} + j), At(ref dh, r), sum);");
                _w.Line($"{Unsafe}.Add(ref dm, j) = sum;");
                _w.Close();
            }
            _w.Close();
            _w.Line();
        }

        private void EmitProjectOuter()
        {
            int whole = H / Lanes * Lanes;
            _w.Line($"/// <summary>dW_hr[r, :] += Σ_t dh_t[r]·m_t for the {N(P)}×{N(H)} projection; rows of dh and m are {N(Hq)} apart.</summary>");
            _w.Open($"internal static void {KernelNames.ProjectOuter(_plan)}(ref float dwhr, ref float dh, ref float m, int n)");
            _w.Open($"for (int r = 0; r < {N(P)}; r++)");
            _w.Line($"ref float row = ref {Unsafe}.Add(ref dwhr, r * {N(H)});");
            if (whole > 0)
            {
                _w.Open($"for (int j = 0; j < {N(whole)}; j += {N(Lanes)})");
                _w.Line($"{V} a = Load(ref row, j);");
                _w.Line($"for (int t = 0; t < n; t++) a = MulAdd(Load(ref m, t * {N(Hq)} + j), Splat(At(ref dh, t * {N(Hq)} + r)), a);");
                _w.Line("Store(a, ref row, j);");
                _w.Close();
            }
            if (whole < H)
            {
                _w.Open($"for (int j = {N(whole)}; j < {N(H)}; j++)");
                _w.Line($"float a = {Unsafe}.Add(ref row, j);");
                _w.Line($"for (int t = 0; t < n; t++) a = LstmMath.MulAdd(At(ref m, t * {N(Hq)} + j), At(ref dh, t * {N(Hq)} + r), a);");
                _w.Line($"{Unsafe}.Add(ref row, j) = a;");
                _w.Close();
            }
            _w.Close();
            _w.Close();
            _w.Line();
        }

        private int Budget => _v.AccumulatorBudget;

        private static int LargestDivisorAtMost(int value, int limit)
        {
            for (int d = Math.Min(value, limit); d >= 1; d--)
                if (value % d == 0) return d;
            return 1;
        }

        /// <summary>out[j] = Σ_r W[r, j]·da[r] for a canonical (4H × C) weight matrix: the transposed product, by rows.</summary>
        private void EmitMatTVec(int columns)
        {
            int cv = columns / Lanes, ct = columns % Lanes;
            int partials = cv > 0 && cv * 4 <= Budget ? 4 : 1; // one FMA chain per gate while registers allow
            int tile = cv == 0 ? 0 : LargestDivisorAtMost(cv, Math.Max(1, Budget / partials));
            _w.Line($"/// <summary>out = Wᵀ·da for a PyTorch-layout W of {N(LstmCell.Gates * H)} rows and {N(columns)} columns (da rows padded per gate to TrainHq).</summary>");
            _w.Open($"internal static void {KernelNames.MatTVec(_plan, columns)}(ref float w, ref float da, ref float output)");
            if (cv > 0)
            {
                _w.Open($"for (int v0 = 0; v0 < {N(cv * Lanes)}; v0 += {N(tile * Lanes)})");
                for (int p = 0; p < partials; p++)
                    for (int v = 0; v < tile; v++)
                        _w.Line($"{V} a{N(p)}_{N(v)} = {_v.Zero};");
                _w.Open($"for (int u = 0; u < {N(H)}; u++)");
                for (int q = 0; q < 4; q++)
                {
                    int p = partials == 4 ? q : 0;
                    _w.Line($"{V} d{N(q)} = Splat(At(ref da, {N(q * Hq)} + u));");
                    _w.Line($"ref float row{N(q)} = ref {Unsafe}.Add(ref w, ({N(q * H)} + u) * {N(columns)} + v0);");
                    for (int v = 0; v < tile; v++)
                        _w.Line($"a{N(p)}_{N(v)} = MulAdd(Load(ref row{N(q)}, {N(v * Lanes)}), d{N(q)}, a{N(p)}_{N(v)});");
                }
                _w.Close();
                for (int v = 0; v < tile; v++)
                {
                    string sum = string.Join(" + ", Enumerable.Range(0, partials).Select(p => $"a{N(p)}_{N(v)}"));
                    _w.Line($"Store({sum}, ref output, v0 + {N(v * Lanes)});");
                }
                _w.Close();
            }
            if (ct > 0)
            {
                _w.Line("// the columns past the last whole vector");
                _w.Open($"for (int j = {N(cv * Lanes)}; j < {N(columns)}; j++)");
                _w.Line("float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;");
                _w.Open($"for (int u = 0; u < {N(H)}; u++)");
                for (int q = 0; q < 4; q++)
                    _w.Line($"s{N(q)} = LstmMath.MulAdd(At(ref w, ({N(q * H)} + u) * {N(columns)} + j), At(ref da, {N(q * Hq)} + u), s{N(q)});");
                _w.Close();
                _w.Line($"{Unsafe}.Add(ref output, j) = s0 + s1 + s2 + s3;");
                _w.Close();
            }
            _w.Close();
            _w.Line();
        }

        /// <summary>dW[r, :] += Σ_t da_t[r]·x_t for a canonical (4H × C) gradient: rows blocked so each x_t load feeds several rows.</summary>
        private void EmitOuterAccumulate(int columns)
        {
            int cv = columns / Lanes, ct = columns % Lanes;
            int tile = cv == 0 ? 0 : LargestDivisorAtMost(cv, Math.Max(1, Budget / 2));
            int rows = cv == 0 ? 1 : Math.Max(1, Math.Min(4, Budget / tile));
            _w.Line($"/// <summary>dW += Σ_t da_t·x_tᵀ for a PyTorch-layout dW of {N(LstmCell.Gates * H)} rows and {N(columns)} columns; x_t rows are xStride apart.</summary>");
            _w.Open($"internal static void {KernelNames.OuterAccumulate(_plan, columns)}(ref float dw, ref float da, ref float x, int xStride, int n)");
            _w.Open("for (int q = 0; q < 4; q++)");
            _w.Line("int u = 0;");
            if (cv > 0)
            {
                if (rows > 1)
                {
                    _w.Open($"for (; u + {N(rows)} <= {N(H)}; u += {N(rows)})");
                    EmitOuterBlock(columns, tile, rows, cv);
                    _w.Close();
                }
                _w.Open($"for (; u < {N(H)}; u++)");
                EmitOuterBlock(columns, tile, 1, cv);
                _w.Close();
            }
            int tail = cv * Lanes;
            // Columns past the last whole vector: first with narrower vectors (a 512-bit path can always use 256- and
            // 128-bit ones), so a small input size such as 8 under 16 lanes still runs vectorized.
            foreach (var narrow in VectorWidth.All)
            {
                if (narrow.IsScalar || narrow.Lanes >= Lanes) continue;
                while (columns - tail >= narrow.Lanes)
                {
                    EmitOuterNarrowBlock(columns, tail, narrow);
                    tail += narrow.Lanes;
                }
            }
            if (tail < columns)
            {
                _w.Line("// the last columns: time outermost, so the updates of different elements overlap");
                _w.Open("for (int t = 0; t < n; t++)");
                _w.Line($"ref float xt = ref {Unsafe}.Add(ref x, t * xStride);");
                _w.Open($"for (u = 0; u < {N(H)}; u++)");
                _w.Line($"float d = At(ref da, t * {N(LstmCell.Gates * Hq)} + q * {N(Hq)} + u);");
                _w.Line($"ref float row = ref {Unsafe}.Add(ref dw, (q * {N(H)} + u) * {N(columns)});");
                _w.Line($"for (int j = {N(tail)}; j < {N(columns)}; j++)");
                _w.Line($"    {Unsafe}.Add(ref row, j) = LstmMath.MulAdd(d, At(ref xt, j), {Unsafe}.Add(ref row, j));");
                _w.Close();
                _w.Close();
            }
            _w.Close();
            _w.Close();
            _w.Line();
        }

        /// <summary>dW[:, first .. first + narrow.Lanes) for every row of gate q, four rows at a time, with a narrower vector.</summary>
        private void EmitOuterNarrowBlock(int columns, int first, VectorWidth narrow)
        {
            _w.Line($"// columns {N(first)}..{N(first + narrow.Lanes - 1)} with {narrow.Name}");
            foreach (int rows in new[] { 4, 1 })
            {
                _w.Open(rows == 4 ? $"for (u = 0; u + 4 <= {N(H)}; u += 4)" : $"for (; u < {N(H)}; u++)");
                for (int r = 0; r < rows; r++)
                {
                    _w.Line($"ref float dw{N(r)} = ref {Unsafe}.Add(ref dw, (q * {N(H)} + u + {N(r)}) * {N(columns)} + {N(first)});");
                    _w.Line($"{narrow.Type} a{N(r)} = {narrow.Load($"dw{N(r)}", "0")};");
                }
                _w.Open("for (int t = 0; t < n; t++)");
                _w.Line($"{narrow.Type} xv = {narrow.Load("x", $"t * xStride + {N(first)}")};");
                _w.Line($"ref float dat = ref {Unsafe}.Add(ref da, t * {N(LstmCell.Gates * Hq)} + q * {N(Hq)} + u);");
                for (int r = 0; r < rows; r++)
                    _w.Line($"a{N(r)} = {narrow.MulAdd("xv", narrow.Broadcast(VectorWidth.At("dat", N(r))), $"a{N(r)}")};");
                _w.Close();
                for (int r = 0; r < rows; r++)
                    _w.Line(narrow.Store($"a{N(r)}", $"dw{N(r)}", "0"));
                _w.Close();
            }
            _w.Line("u = 0;");
        }

        private void EmitOuterBlock(int columns, int tile, int rows, int cv)
        {
            _w.Open($"for (int v0 = 0; v0 < {N(cv * Lanes)}; v0 += {N(tile * Lanes)})");
            for (int r = 0; r < rows; r++)
            {
                _w.Line($"ref float dw{N(r)} = ref {Unsafe}.Add(ref dw, (q * {N(H)} + u + {N(r)}) * {N(columns)} + v0);");
                for (int v = 0; v < tile; v++)
                    _w.Line($"{V} a{N(r)}_{N(v)} = Load(ref dw{N(r)}, {N(v * Lanes)});");
            }
            _w.Open("for (int t = 0; t < n; t++)");
            _w.Line($"ref float xt = ref {Unsafe}.Add(ref x, t * xStride + v0);");
            _w.Line($"ref float dat = ref {Unsafe}.Add(ref da, t * {N(LstmCell.Gates * Hq)} + q * {N(Hq)} + u);");
            for (int v = 0; v < tile; v++)
                _w.Line($"{V} x{N(v)} = Load(ref xt, {N(v * Lanes)});");
            for (int r = 0; r < rows; r++)
            {
                _w.Line($"{V} d{N(r)} = Splat(At(ref dat, {N(r)}));");
                for (int v = 0; v < tile; v++)
                    _w.Line($"a{N(r)}_{N(v)} = MulAdd(x{N(v)}, d{N(r)}, a{N(r)}_{N(v)});");
            }
            _w.Close();
            for (int r = 0; r < rows; r++)
                for (int v = 0; v < tile; v++)
                    _w.Line($"Store(a{N(r)}_{N(v)}, ref dw{N(r)}, {N(v * Lanes)});");
            _w.Close();
        }

        private void EmitBiasAccumulate()
        {
            _w.Line("/// <summary>db += Σ_t da_t, on the padded rows (copied into b_ih and b_hh by the trainer).</summary>");
            _w.Open($"internal static void {KernelNames.BiasAccumulate(_plan)}(ref float db, ref float da, int n)");
            _w.Open("for (int t = 0; t < n; t++)");
            _w.Line($"ref float dat = ref {Unsafe}.Add(ref da, t * {N(LstmCell.Gates * Hq)});");
            _w.Line($"for (int k = 0; k < {N(LstmCell.Gates * Hq)}; k += {N(Lanes)})");
            _w.Line("    Store(Load(ref db, k) + Load(ref dat, k), ref db, k);");
            _w.Close();
            _w.Close();
            _w.Line();
        }
    }
}
