using System;
using System.Collections.Generic;
using System.Linq;

namespace LstmGen.Generator;

public sealed partial class LstmGenerator
{
    /// <summary>
    /// Emits one nested static class of kernels for one vector width: packing, the streaming step, the hoisted input
    /// projection and the recurrence of whole-sequence mode. Every size is a constant here.
    /// </summary>
    internal sealed class KernelEmitter
    {
        private readonly Emitter _model;
        private readonly SourceWriter _w;
        private readonly VectorWidth _v;

        public KernelEmitter(Emitter model, SourceWriter writer, VectorWidth width)
        {
            _model = model;
            _w = writer;
            _v = width;
        }

        private static string N(long value) => Emitter.N(value);
        private const string Unsafe = Emitter.Unsafe;
        private const string Math = Emitter.Math;

        private int H => _model.LayerPlanHidden;
        private int L => _model.LayerCount;

        private LayerPlan Plan(int layer) => new(_model.LayerInputs(layer), H, _v);

        public void Emit()
        {
            _w.Line($"/// <summary>Kernels for the {_v.Name} path ({(_v.IsScalar ? "no vector hardware" : N(_v.Lanes) + " floats per vector")}).</summary>");
            _w.Open($"private static class {_v.ClassName}");
            foreach (int inputs in _model.LayerShapes())
            {
                var plan = new LayerPlan(inputs, H, _v);
                _w.Line($"// Layers with {N(inputs)} inputs: {N(plan.Tiles)} tile(s) of {N(plan.BlocksPerTile)} block(s) of {N(_v.Lanes)} unit(s), {N(plan.Columns)} columns of z = [x; h];");
                _w.Line($"// column loop {(plan.Columns <= LayerPlan.MaxUnrolledColumns ? "unrolled" : "a loop")}, {N(plan.Splits(plan.Columns))} partial sum(s) per accumulator in Step, {N(plan.Splits(plan.Hidden))} in the recurrence.");
            }
            _w.Line();
            EmitHelpers();
            EmitPack();
            EmitStep();
            EmitForwardChunk();
            foreach (int inputs in _model.LayerShapes())
            {
                var plan = new LayerPlan(inputs, H, _v);
                EmitCell(plan, recurrentOnly: false);
                EmitCell(plan, recurrentOnly: true);
                EmitCell(plan, recurrentOnly: true, training: true);
                EmitProjection(plan);
            }
            new BackwardEmitter(_model, _w, _v).Emit();
            EmitCopy();
            _w.Close();
            _w.Line();
        }

        private const string Inline = "[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]";

        /// <summary>Short names for this width's operations; all inlined.</summary>
        private void EmitHelpers()
        {
            string t = _v.Type;
            if (_v.IsScalar)
            {
                _w.Line($"{Inline} private static float Load(ref float source, int offset) => {Unsafe}.Add(ref source, offset);");
                _w.Line($"{Inline} private static void Store(float value, ref float destination, int offset) => {Unsafe}.Add(ref destination, offset) = value;");
                _w.Line($"{Inline} private static float Splat(float value) => value;");
            }
            else
            {
                _w.Line($"{Inline} private static {t} Load(ref float source, int offset) => {_v.StaticClass}.LoadUnsafe(ref source, (nuint)offset);");
                _w.Line($"{Inline} private static void Store({t} value, ref float destination, int offset) => {_v.StaticClass}.StoreUnsafe(value, ref destination, (nuint)offset);");
                _w.Line($"{Inline} private static {t} Splat(float value) => {_v.StaticClass}.Create(value);");
            }
            _w.Line($"{Inline} private static float At(ref float source, int offset) => {Unsafe}.Add(ref source, offset);");
            _w.Line($"{Inline} private static {t} MulAdd({t} a, {t} b, {t} c) => {Math}.MulAdd(a, b, c);");
            _w.Line($"{Inline} private static {t} Tanh({t} x) => {Math}.Tanh(x);");
            _w.Line();
        }

        /// <summary>"a + b", folded when a is a literal.</summary>
        private static string Add(string a, int b)
        {
            if (a.Length == 0) return N(b);
            if (int.TryParse(a, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int value)) return N(value + b);
            return b == 0 ? a : $"{a} + {N(b)}";
        }

        private void EmitPack()
        {
            _w.Line("/// <summary>Packs the PyTorch-layout parameters into this path's stream order (see LstmPacking).</summary>");
            _w.Open("internal static void Pack(global::System.Collections.Generic.IReadOnlyList<global::LstmGen.ParameterTensor> tensors, global::System.Span<float> packed)");
            for (int k = 0; k < L; k++)
            {
                var plan = Plan(k);
                int t = k * _model.TensorsPerLayer;
                string bih = _model.HasBias ? $"tensors[{N(t + 2)}].Values" : "default";
                string bhh = _model.HasBias ? $"tensors[{N(t + 3)}].Values" : "default";
                _w.Line($"global::LstmGen.LstmPacking.PackLayer(tensors[{N(t)}].Values, tensors[{N(t + 1)}].Values, {bih}, {bhh}, {N(plan.Inputs)}, {N(H)}, {N(_v.Lanes)}, {N(plan.BlocksPerTile)},");
                _w.Line($"    packed.Slice({N(_model.PackedWeightOffset(_v, k))}, {N(plan.WeightLength)}), packed.Slice({N(_model.PackedBiasOffset(_v, k))}, {N(plan.BiasLength)}));");
            }
            _w.Close();
            _w.Line();
        }

        private string W(int layer) => $"ref {Unsafe}.Add(ref w, {N(_model.PackedWeightOffset(_v, layer))})";
        private string B(int layer) => $"ref {Unsafe}.Add(ref w, {N(_model.PackedBiasOffset(_v, layer))})";
        private static string S(string offset) => $"ref {Unsafe}.Add(ref s, {offset})";

        private void EmitStep()
        {
            _w.Line("/// <summary>One time step of every layer; the input is already in z_0's x slot.</summary>");
            _w.Open("internal static void Step(ref float w, ref float s)");
            for (int k = 0; k < L; k++)
            {
                int inputs = _model.LayerInputs(k);
                bool oneTile = Plan(k).Tiles == 1;
                string hSlot = "StateZ" + N(k) + " + " + N(inputs);
                _w.Line($"// layer {N(k)}: a = b + W·[x; h_(t-1)], then c_t and h_t");
                if (oneTile)
                {
                    // One tile reads all of z before it writes any of h, so h_t can go straight into z.
                    _w.Line($"Cell{N(inputs)}({W(k)}, {B(k)}, {S("StateZ" + N(k))}, {S("StateC" + N(k))}, {S(hSlot)});");
                    if (k + 1 < L)
                        _w.Line($"Copy({S(hSlot)}, {S("StateZ" + N(k + 1))}); // h_t is layer {N(k + 1)}'s input");
                }
                else
                {
                    _w.Line($"Cell{N(inputs)}({W(k)}, {B(k)}, {S("StateZ" + N(k))}, {S("StateC" + N(k))}, {S("StateHNew")});");
                    _w.Line($"// h_t replaces h_(t-1) in z_{N(k)}" + (k + 1 < L ? $" and is layer {N(k + 1)}'s input" : ""));
                    _w.Line($"Copy({S("StateHNew")}, {S(hSlot)});");
                    if (k + 1 < L)
                        _w.Line($"Copy({S("StateHNew")}, {S("StateZ" + N(k + 1))});");
                }
            }
            _w.Close();
            _w.Line();
        }

        private void EmitForwardChunk()
        {
            _w.Line("/// <summary>Runs <paramref name=\"n\"/> steps of every layer: each layer's input projection for the whole chunk first, then its recurrence.</summary>");
            _w.Open("internal static void ForwardChunk(ref float w, ref float s, ref float x, int n)");
            for (int k = 0; k < L; k++)
            {
                var plan = Plan(k);
                int inputs = plan.Inputs;
                string source = k == 0 ? "ref x" : S(_model.StateSeqName(k - 1));
                _w.Line($"// layer {N(k)}: G[t] = b + W_ih·x_t for the chunk, then per step a = G[t] + W_hh·h_(t-1)");
                _w.Line($"Project{N(inputs)}({W(k)}, {B(k)}, {source}, {N(inputs)}, n, {S("StateG")});");
                _w.Open("for (int t = 0; t < n; t++)");
                _w.Line($"Recur{N(inputs)}({W(k)}, {S("StateG + t * " + N(4 * plan.PaddedHidden))}, {S("StateZ" + N(k) + " + " + N(inputs))}, {S("StateC" + N(k))}, {S("StateHNew")});");
                _w.Line($"Copy({S("StateHNew")}, {S("StateZ" + N(k) + " + " + N(inputs))});");
                _w.Line($"Copy({S("StateHNew")}, {S(_model.StateSeqName(k) + " + t * " + N(H))});");
                _w.Close();
            }
            _w.Close();
            _w.Line();
        }

        private void EmitCopy()
        {
            _w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            _w.Line($"private static void Copy(ref float source, ref float destination) => {Unsafe}.CopyBlockUnaligned(ref {Unsafe}.As<float, byte>(ref destination), ref {Unsafe}.As<float, byte>(ref source), {N(H * 4)});");
        }

        /// <summary>
        /// Emits a cell kernel. The full step (<c>Cell{Ik}</c>) starts each accumulator from the bias and runs over all
        /// columns of z = [x; h]; the recurrence (<c>Recur{Ik}</c>) starts from the hoisted G row and runs over the h columns.
        /// </summary>
        private void EmitCell(LayerPlan plan, bool recurrentOnly, bool training = false)
        {
            int first = recurrentOnly ? plan.Inputs : 0;
            int columns = plan.Columns - first;
            int splits = plan.Splits(columns);
            int vectors = plan.VectorsPerTile;
            int lanes = _v.Lanes;
            bool unrolled = columns <= LayerPlan.MaxUnrolledColumns;
            string name = (training ? "RecurTrain" : recurrentOnly ? "Recur" : "Cell") + N(plan.Inputs);

            _w.Line(training
                ? "/// <summary>One training step of the recurrence: as Recur, and also keeps i, f, g, o and tanh(c_t) for the backward pass.</summary>"
                : recurrentOnly
                ? "/// <summary>One step of the recurrence: a = G[t] + W_hh·h_(t-1) (the input half was hoisted; z is h_(t-1)), then the cell update.</summary>"
                : "/// <summary>One step of one layer: a = (b_ih + b_hh) + W·[x; h_(t-1)], then the cell update.</summary>");
            _w.Open($"private static void {name}(ref float w, ref float init, ref float z, ref float c, ref float hOut{(training ? ", ref float gates, ref float tanhC" : "")})");
            bool tileLoop = plan.Tiles > 1;
            if (tileLoop)
                _w.Open($"for (int tile = 0; tile < {N(plan.Tiles)}; tile++)");
            string tileW = tileLoop ? $"tile * {N(plan.TileStride)} + {N(first * plan.ColumnStride)}" : N(first * plan.ColumnStride);
            _w.Line($"ref float wt = ref {Unsafe}.Add(ref w, {tileW});");
            _w.Line($"ref float it = ref {Unsafe}.Add(ref init, {(tileLoop ? "tile * " + N(vectors * lanes) : "0")});");

            _w.Line("// a = start value (bias or hoisted input projection), one accumulator per gate and block of units");
            for (int v = 0; v < vectors; v++)
                _w.Line($"{_v.Type} a{N(v)} = {_v.Load("it", N(v * lanes))};");
            for (int p = 1; p < splits; p++)
            {
                _w.Line($"// partial sum {N(p)}: an independent FMA chain, added in after the column loop");
                for (int v = 0; v < vectors; v++)
                    _w.Line($"{_v.Type} p{N(p)}_{N(v)} = {_v.Zero};");
            }

            string Acc(int partial, int v) => partial == 0 ? "a" + N(v) : $"p{N(partial)}_{N(v)}";

            void EmitColumn(string columnOffsetInZ, string weightRef, string weightOffset, int partial)
            {
                _w.Line($"zj = {_v.Broadcast(VectorWidth.At("z", columnOffsetInZ))};");
                for (int v = 0; v < vectors; v++)
                {
                    _w.Line($"{Acc(partial, v)} = {_v.MulAdd(_v.Load(weightRef, Add(weightOffset, v * lanes)), "zj", Acc(partial, v))};");
                }
            }

            _w.Line($"// a += W[:, j] · z_j for each column j of z = [x; h]{(recurrentOnly ? " (h columns only)" : "")}");
            _w.Line($"{_v.Type} zj;");
            if (unrolled)
            {
                for (int j = 0; j < columns; j++)
                    EmitColumn(N(j), "wt", N(j * plan.ColumnStride), j % splits);
            }
            else
            {
                int loopColumns = columns / splits * splits;
                _w.Line($"ref float wj = ref wt;");
                _w.Open($"for (int j = 0; j < {N(loopColumns)}; j += {N(splits)})");
                for (int p = 0; p < splits; p++)
                    EmitColumn(p == 0 ? "j" : "j + " + N(p), "wj", p == 0 ? "" : N(p * plan.ColumnStride), p);
                _w.Line($"wj = ref {Unsafe}.Add(ref wj, {N(splits * plan.ColumnStride)});");
                _w.Close();
                for (int j = loopColumns; j < columns; j++)
                    EmitColumn(N(j), "wt", N(j * plan.ColumnStride), j % splits);
            }
            if (splits > 1)
            {
                _w.Line("// sum the partial chains");
                for (int v = 0; v < vectors; v++)
                {
                    // a pairwise tree: two adds deep for four chains
                    string sum = splits switch
                    {
                        2 => $"a{N(v)} + {Acc(1, v)}",
                        3 => $"(a{N(v)} + {Acc(1, v)}) + {Acc(2, v)}",
                        _ => $"(a{N(v)} + {Acc(1, v)}) + ({Acc(2, v)} + {Acc(3, v)})",
                    };
                    _w.Line($"a{N(v)} = {sum};");
                }
            }

            string half = _v.Broadcast("0.5f");
            _w.Line($"{_v.Type} half = {half};");
            for (int b = 0; b < plan.BlocksPerTile; b++)
            {
                string unit = tileLoop ? $"tile * {N(plan.BlocksPerTile * lanes)} + {N(b * lanes)}" : N(b * lanes);
                int q = b * 4;
                _w.Line($"// block {N(b)}: i, f, o = σ(a) = 0.5 + 0.5·tanh(a/2) (those rows were pre-scaled by 0.5); g = tanh(a)");
                _w.Line($"{_v.Type} i{N(b)} = {_v.MulAdd("half", $"{Math}.Tanh(a{N(q)})", "half")};");
                _w.Line($"{_v.Type} f{N(b)} = {_v.MulAdd("half", $"{Math}.Tanh(a{N(q + 1)})", "half")};");
                _w.Line($"{_v.Type} g{N(b)} = {Math}.Tanh(a{N(q + 2)});");
                _w.Line($"{_v.Type} o{N(b)} = {_v.MulAdd("half", $"{Math}.Tanh(a{N(q + 3)})", "half")};");
                _w.Line("// c_t = f ⊙ c_(t-1) + i ⊙ g");
                _w.Line($"{_v.Type} c{N(b)} = {_v.MulAdd($"f{N(b)}", _v.Load("c", unit), $"i{N(b)} * g{N(b)}")};");
                _w.Line(_v.Store($"c{N(b)}", "c", unit));
                if (training)
                {
                    _w.Line("// kept for the backward pass: the gates (PyTorch row order, rows padded to TrainHq) and tanh(c_t)");
                    string[] gateNames = { "i", "f", "g", "o" };
                    for (int gate = 0; gate < 4; gate++)
                        _w.Line(_v.Store($"{gateNames[gate]}{N(b)}", "gates", Add(unit, gate * _model.TrainHq)));
                    _w.Line($"{_v.Type} tc{N(b)} = {Math}.Tanh(c{N(b)});");
                    _w.Line(_v.Store($"tc{N(b)}", "tanhC", unit));
                    _w.Line("// h_t = o ⊙ tanh(c_t)");
                    _w.Line(_v.Store($"o{N(b)} * tc{N(b)}", "hOut", unit));
                }
                else
                {
                    _w.Line("// h_t = o ⊙ tanh(c_t)");
                    _w.Line(_v.Store($"o{N(b)} * {Math}.Tanh(c{N(b)})", "hOut", unit));
                }
            }
            if (tileLoop) _w.Close();
            _w.Close();
            _w.Line();
        }

        /// <summary>
        /// Emits the hoisted input projection: G[t] = b + W_ih·x_t for the n steps of a chunk, register-blocked over
        /// a few gate vectors and four time steps so each weight load feeds four FMAs.
        /// </summary>
        private void EmitProjection(LayerPlan plan)
        {
            const int TimeBlock = 4;
            int lanes = _v.Lanes;
            int group = System.Math.Min(_v.ProjectionVectors, plan.VectorsPerTile);
            int groups = plan.VectorsPerTile / group;
            int inputs = plan.Inputs;
            int gStride = 4 * plan.PaddedHidden;
            bool unrolled = inputs <= LayerPlan.MaxUnrolledProjectionColumns;

            _w.Line("/// <summary>G[t] = (b_ih + b_hh) + W_ih·x_t for t in [0, n): the input half of every step, as one blocked matrix product.</summary>");
            _w.Open($"private static void Project{N(inputs)}(ref float w, ref float bias, ref float x, int xStride, int n, ref float g)");
            _w.Open($"for (int tile = 0; tile < {N(plan.Tiles)}; tile++)");
            _w.Open($"for (int grp = 0; grp < {N(groups)}; grp++)");
            _w.Line($"ref float wg = ref {Unsafe}.Add(ref w, tile * {N(plan.TileStride)} + grp * {N(group * lanes)});");
            _w.Line($"int vector = tile * {N(plan.VectorsPerTile * lanes)} + grp * {N(group * lanes)};");
            _w.Line("int t = 0;");
            EmitProjectionBlock(plan, TimeBlock, group, inputs, gStride, unrolled, "for (; t + " + N(TimeBlock) + " <= n; t += " + N(TimeBlock) + ")");
            EmitProjectionBlock(plan, 1, group, inputs, gStride, unrolled, "for (; t < n; t++)");
            _w.Close();
            _w.Close();
            _w.Close();
            _w.Line();
        }

        private void EmitProjectionBlock(LayerPlan plan, int steps, int group, int inputs, int gStride, bool unrolled, string loopHeader)
        {
            int lanes = _v.Lanes;
            _w.Open(loopHeader);
            _w.Line($"ref float xt = ref {Unsafe}.Add(ref x, t * xStride);");
            for (int s = 0; s < steps; s++)
                for (int v = 0; v < group; v++)
                    _w.Line($"{_v.Type} a{N(s)}_{N(v)} = {_v.Load("bias", Add("vector", v * lanes))};");
            void Column(string j, string wRef, string wOff)
            {
                for (int v = 0; v < group; v++)
                    _w.Line($"{_v.Type} w{N(v)} = {_v.Load(wRef, Add(wOff, v * lanes))};");
                for (int s = 0; s < steps; s++)
                {
                    string xIndex = s == 0 ? j : s == 1 ? $"{j} + xStride" : $"{j} + {N(s)} * xStride";
                    _w.Line($"{_v.Type} x{N(s)} = {_v.Broadcast(VectorWidth.At("xt", xIndex))};");
                    for (int v = 0; v < group; v++)
                        _w.Line($"a{N(s)}_{N(v)} = {_v.MulAdd($"w{N(v)}", $"x{N(s)}", $"a{N(s)}_{N(v)}")};");
                }
            }
            if (unrolled)
            {
                for (int j = 0; j < inputs; j++)
                {
                    _w.Open("");
                    Column(N(j), "wg", N(j * plan.ColumnStride));
                    _w.Close();
                }
            }
            else
            {
                _w.Line("ref float wj = ref wg;");
                _w.Open($"for (int j = 0; j < {N(inputs)}; j++)");
                Column("j", "wj", "");
                _w.Line($"wj = ref {Unsafe}.Add(ref wj, {N(plan.ColumnStride)});");
                _w.Close();
            }
            for (int s = 0; s < steps; s++)
                for (int v = 0; v < group; v++)
                    _w.Line(_v.Store($"a{N(s)}_{N(v)}", "g", $"(t + {N(s)}) * {N(gStride)} + vector + {N(v * lanes)}"));
            _w.Close();
        }
    }
}
