using System;
using System.Collections.Generic;
using System.Linq;

namespace LstmGen.Generator;

public sealed partial class LstmGenerator
{
    /// <summary>
    /// Emits, inside one width's kernel class, the training kernels: the forward pass that keeps activations
    /// (<c>TrainSequence</c>) and back-propagation through time (<c>BackwardSequence</c>), lstm.md §4.
    /// Buffers are laid out by the trainer (see <c>Trainer</c> in <see cref="Emitter"/>): per layer h_0..h_T, c_0..c_T,
    /// the gates i, f, g, o and tanh(c_t) of every step, each row padded to TrainHq floats.
    /// </summary>
    internal sealed class BackwardEmitter
    {
        private readonly Emitter _model;
        private readonly SourceWriter _w;
        private readonly VectorWidth _v;

        public BackwardEmitter(Emitter model, SourceWriter writer, VectorWidth width)
        {
            _model = model;
            _w = writer;
            _v = width;
        }

        private static string N(long value) => Emitter.N(value);
        private const string Unsafe = Emitter.Unsafe;
        private int H => _model.LayerPlanHidden;
        private int L => _model.LayerCount;
        private int Hq => _model.TrainHq;
        private int Lanes => _v.Lanes;
        private string V => _v.Type;
        private static string R(string reference, string offset) => offset == "0" ? $"ref {reference}" : $"ref {Unsafe}.Add(ref {reference}, {offset})";

        public void Emit()
        {
            EmitTrainSequence();
            EmitBackwardSequence();
            foreach (int inputs in _model.LayerShapes())
            {
                EmitTrainLayer(new LayerPlan(inputs, H, _v));
                EmitBackwardLayer(inputs);
            }
            EmitCellBackward();
            foreach (int columns in _model.LayerShapes().Append(H).Distinct())
            {
                EmitMatTVec(columns);
                EmitOuterAccumulate(columns);
            }
            EmitBiasAccumulate();
        }

        private void EmitTrainSequence()
        {
            _w.Line("/// <summary>Forward pass over n steps for training: every layer's activations are kept in the trainer's buffer tb.</summary>");
            _w.Open("internal static void TrainSequence(ref float w, ref float tb, ref float x, int n, int maxT)");
            for (int k = 0; k < L; k++)
            {
                int inputs = _model.LayerInputs(k);
                string source = k == 0 ? "ref x" : $"ref {Unsafe}.Add(ref tb, TrainHs({N(k - 1)}, maxT) + TrainHq)";
                string stride = k == 0 ? N(inputs) : "TrainHq";
                _w.Line($"TrainLayer{N(inputs)}(ref {Unsafe}.Add(ref w, {N(_model.PackedWeightOffset(_v, k))}), ref {Unsafe}.Add(ref w, {N(_model.PackedBiasOffset(_v, k))}), {source}, {stride}, n,");
                _w.Line($"    ref {Unsafe}.Add(ref tb, TrainG(maxT)), ref {Unsafe}.Add(ref tb, TrainHs({N(k)}, maxT)), ref {Unsafe}.Add(ref tb, TrainCs({N(k)}, maxT)), ref {Unsafe}.Add(ref tb, TrainGates({N(k)}, maxT)), ref {Unsafe}.Add(ref tb, TrainTanhC({N(k)}, maxT)));");
            }
            _w.Close();
            _w.Line();
        }

        private void EmitBackwardSequence()
        {
            _w.Line("/// <summary>");
            _w.Line("/// Back-propagation through time over n steps, from the top layer down. ∂L/∂h_t of the top layer is in TrainDh(0);");
            _w.Line("/// each layer hands ∂L/∂x_t to the layer below through the other TrainDh buffer. Gradients accumulate into gr.");
            _w.Line("/// </summary>");
            _w.Open("internal static void BackwardSequence(ref float p, ref float gr, ref float tb, ref float x, int n, int maxT)");
            for (int k = L - 1; k >= 0; k--)
            {
                int inputs = _model.LayerInputs(k);
                int t = k * _model.TensorsPerLayer;
                string source = k == 0 ? "ref x" : $"ref {Unsafe}.Add(ref tb, TrainHs({N(k - 1)}, maxT) + TrainHq)";
                string stride = k == 0 ? N(inputs) : "TrainHq";
                int above = (L - 1 - k) % 2, below = 1 - above;
                _w.Line($"// layer {N(k)}");
                _w.Line($"BackwardLayer{N(inputs)}(ref {Unsafe}.Add(ref p, {N(_model.TensorOffset(t))}), ref {Unsafe}.Add(ref p, {N(_model.TensorOffset(t + 1))}),");
                _w.Line($"    ref {Unsafe}.Add(ref gr, {N(_model.TensorOffset(t))}), ref {Unsafe}.Add(ref gr, {N(_model.TensorOffset(t + 1))}), ref {Unsafe}.Add(ref tb, TrainBias({N(k)}, maxT)),");
                _w.Line($"    {source}, {stride}, n, ref {Unsafe}.Add(ref tb, TrainHs({N(k)}, maxT)), ref {Unsafe}.Add(ref tb, TrainCs({N(k)}, maxT)), ref {Unsafe}.Add(ref tb, TrainGates({N(k)}, maxT)), ref {Unsafe}.Add(ref tb, TrainTanhC({N(k)}, maxT)),");
                _w.Line($"    ref {Unsafe}.Add(ref tb, TrainDa(maxT)), ref {Unsafe}.Add(ref tb, TrainDh({N(above)}, maxT)), ref {Unsafe}.Add(ref tb, TrainDh({N(below)}, maxT)), {(k > 0 ? "true" : "false")},");
                _w.Line($"    ref {Unsafe}.Add(ref tb, TrainDhNext(maxT)), ref {Unsafe}.Add(ref tb, TrainDcNext(maxT)));");
            }
            _w.Close();
            _w.Line();
        }

        private void EmitTrainLayer(LayerPlan plan)
        {
            int inputs = plan.Inputs;
            _w.Line($"/// <summary>One layer with {N(inputs)} inputs over n steps: the hoisted projection, then the recurrence keeping c_t, h_t, the gates and tanh(c_t).</summary>");
            _w.Open($"private static void TrainLayer{N(inputs)}(ref float w, ref float bias, ref float x, int xStride, int n, ref float g, ref float hs, ref float cs, ref float gates, ref float tanhC)");
            _w.Line($"Project{N(inputs)}(ref w, ref bias, ref x, xStride, n, ref g);");
            _w.Open("for (int t = 0; t < n; t++)");
            _w.Line("// c_t starts as a copy of c_(t-1), which stays in row t for the backward pass");
            _w.Line($"ref float c = ref {Unsafe}.Add(ref cs, (t + 1) * TrainHq);");
            _w.Line($"Copy(ref {Unsafe}.Add(ref cs, t * TrainHq), ref c);");
            _w.Line($"RecurTrain{N(inputs)}(ref w, ref {Unsafe}.Add(ref g, t * {N(4 * plan.PaddedHidden)}), ref {Unsafe}.Add(ref hs, t * TrainHq), ref c, ref {Unsafe}.Add(ref hs, (t + 1) * TrainHq),");
            _w.Line($"    ref {Unsafe}.Add(ref gates, t * {N(4 * Hq)}), ref {Unsafe}.Add(ref tanhC, t * TrainHq));");
            _w.Close();
            _w.Close();
            _w.Line();
        }

        private void EmitBackwardLayer(int inputs)
        {
            _w.Line($"/// <summary>BPTT for one layer with {N(inputs)} inputs (lstm.md §4): da_t for t = n−1 … 0, then the weight gradients as matrix products over all steps.</summary>");
            _w.Line($"private static void BackwardLayer{N(inputs)}(ref float wih, ref float whh, ref float dwih, ref float dwhh, ref float db, ref float x, int xStride, int n,");
            _w.Open("    ref float hs, ref float cs, ref float gates, ref float tanhC, ref float da, ref float dhAbove, ref float dxOut, bool wantDx, ref float dhNext, ref float dcNext)");
            _w.Line("// dh_next and dc_next are zero after the last step: gradients do not flow past the sequence (or window) end");
            _w.Line($"{Emitter.MemoryMarshal}.CreateSpan(ref dhNext, TrainHq).Clear();");
            _w.Line($"{Emitter.MemoryMarshal}.CreateSpan(ref dcNext, TrainHq).Clear();");
            _w.Open("for (int t = n - 1; t >= 0; t--)");
            _w.Line($"ref float dat = ref {Unsafe}.Add(ref da, t * {N(4 * Hq)});");
            _w.Line($"CellBackward(ref {Unsafe}.Add(ref dhAbove, t * TrainHq), ref dhNext, ref dcNext, ref {Unsafe}.Add(ref gates, t * {N(4 * Hq)}), ref {Unsafe}.Add(ref tanhC, t * TrainHq), ref {Unsafe}.Add(ref cs, t * TrainHq), ref dat);");
            _w.Line("// dh_next = W_hhᵀ · da_t");
            _w.Line($"MatTVec{N(H)}(ref whh, ref dat, ref dhNext);");
            _w.Close();
            _w.Line("// dW_ih += Σ_t da_t · x_tᵀ;  dW_hh += Σ_t da_t · h_(t-1)ᵀ;  db += Σ_t da_t");
            _w.Line($"OuterAccumulate{N(inputs)}(ref dwih, ref da, ref x, xStride, n);");
            _w.Line($"OuterAccumulate{N(H)}(ref dwhh, ref da, ref hs, TrainHq, n);");
            _w.Line("BiasAccumulate(ref db, ref da, n);");
            _w.Line("// dx_t = W_ihᵀ · da_t, handed to the layer below");
            _w.Line("if (wantDx)");
            _w.Line("{");
            _w.Line("    for (int t = 0; t < n; t++)");
            _w.Line($"        MatTVec{N(inputs)}(ref wih, ref {Unsafe}.Add(ref da, t * {N(4 * Hq)}), ref {Unsafe}.Add(ref dxOut, t * TrainHq));");
            _w.Line("}");
            _w.Close();
            _w.Line();
        }

        private void EmitCellBackward()
        {
            int padded = (H + Lanes - 1) / Lanes * Lanes;
            _w.Line("/// <summary>The element-wise part of one backward step, for every unit.</summary>");
            _w.Open("private static void CellBackward(ref float dhAbove, ref float dhNext, ref float dcNext, ref float gates, ref float tanhC, ref float cPrev, ref float da)");
            _w.Line($"{V} one = Splat(1f);");
            _w.Open($"for (int u = 0; u < {N(padded)}; u += {N(Lanes)})");
            _w.Line("// dh = ∂L/∂h_t from above + dh_next");
            _w.Line($"{V} dh = Load(ref dhAbove, u) + Load(ref dhNext, u);");
            _w.Line($"{V} i = Load(ref gates, u), f = Load(ref gates, {N(Hq)} + u), g = Load(ref gates, {N(2 * Hq)} + u), o = Load(ref gates, {N(3 * Hq)} + u);");
            _w.Line($"{V} tc = Load(ref tanhC, u);");
            _w.Line("// dc = dc_next + dh ⊙ o ⊙ (1 − tanh²(c_t))");
            _w.Line($"{V} dc = MulAdd(dh * o, one - tc * tc, Load(ref dcNext, u));");
            _w.Line("// da_i = dc ⊙ g ⊙ i ⊙ (1 − i)");
            _w.Line("Store(dc * g * i * (one - i), ref da, u);");
            _w.Line("// da_f = dc ⊙ c_(t-1) ⊙ f ⊙ (1 − f)");
            _w.Line($"Store(dc * Load(ref cPrev, u) * f * (one - f), ref da, {N(Hq)} + u);");
            _w.Line("// da_g = dc ⊙ i ⊙ (1 − g²)");
            _w.Line($"Store(dc * i * (one - g * g), ref da, {N(2 * Hq)} + u);");
            _w.Line("// da_o = dh ⊙ tanh(c_t) ⊙ o ⊙ (1 − o)");
            _w.Line($"Store(dh * tc * o * (one - o), ref da, {N(3 * Hq)} + u);");
            _w.Line("// dc_next = dc ⊙ f");
            _w.Line("Store(dc * f, ref dcNext, u);");
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
            _w.Line($"/// <summary>out = Wᵀ·da for a PyTorch-layout W of {N(4 * H)} rows and {N(columns)} columns (da rows padded per gate to TrainHq).</summary>");
            _w.Open($"private static void MatTVec{N(columns)}(ref float w, ref float da, ref float output)");
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
                    _w.Line($"s{N(q)} = global::LstmGen.LstmMath.MulAdd(At(ref w, ({N(q * H)} + u) * {N(columns)} + j), At(ref da, {N(q * Hq)} + u), s{N(q)});");
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
            _w.Line($"/// <summary>dW += Σ_t da_t·x_tᵀ for a PyTorch-layout dW of {N(4 * H)} rows and {N(columns)} columns; x_t rows are xStride apart.</summary>");
            _w.Open($"private static void OuterAccumulate{N(columns)}(ref float dw, ref float da, ref float x, int xStride, int n)");
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
                _w.Line($"float d = At(ref da, t * {N(4 * Hq)} + q * {N(Hq)} + u);");
                _w.Line($"ref float row = ref {Unsafe}.Add(ref dw, (q * {N(H)} + u) * {N(columns)});");
                _w.Line($"for (int j = {N(tail)}; j < {N(columns)}; j++)");
                _w.Line($"    {Unsafe}.Add(ref row, j) = global::LstmGen.LstmMath.MulAdd(d, At(ref xt, j), {Unsafe}.Add(ref row, j));");
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
                _w.Line($"ref float dat = ref {Unsafe}.Add(ref da, t * {N(4 * Hq)} + q * {N(Hq)} + u);");
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
            _w.Line($"ref float dat = ref {Unsafe}.Add(ref da, t * {N(4 * Hq)} + q * {N(Hq)} + u);");
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
            _w.Open("private static void BiasAccumulate(ref float db, ref float da, int n)");
            _w.Open("for (int t = 0; t < n; t++)");
            _w.Line($"ref float dat = ref {Unsafe}.Add(ref da, t * {N(4 * Hq)});");
            _w.Line($"for (int k = 0; k < {N(4 * Hq)}; k += {N(Lanes)})");
            _w.Line("    Store(Load(ref db, k) + Load(ref dat, k), ref db, k);");
            _w.Close();
            _w.Close();
            _w.Line();
        }
    }
}
