using System;
using System.Collections.Generic;
using System.Linq;
using LstmGen.Generator.Model;

namespace LstmGen.Generator;

public sealed partial class LstmGenerator
{
    /// <summary>
    /// Emits one nested static class of kernels for one vector width: packing, the streaming step, the hoisted input
    /// projection and the recurrence of whole-sequence mode. Every size is a constant here.
    /// </summary>
    internal sealed class KernelEmitter
    {
        private readonly ModelPlan _plan;
        /// <summary>The writer of the model's own path class, or of a shared kernel while <see cref="Shared"/> runs one.</summary>
        private SourceWriter _w;
        private readonly VectorWidth _v;
        private readonly KernelSink _sink;
        /// <summary>The cell whose element-wise step follows each block's matrix product.</summary>
        private readonly RecurrentCell _cell;

        public KernelEmitter(ModelPlan plan, SourceWriter writer, VectorWidth width, KernelSink sink)
        {
            _plan = plan;
            _w = writer;
            _v = width;
            _sink = sink;
            _cell = plan.Cell;
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
        private const string Math = "LstmMath";

        private int H => _plan.LayerPlanHidden;
        private int L => _plan.LayerCount;

        private LayerPlan Plan(int layer) => _plan.Tiling(layer, _v);
        private int D => _plan.D;
        private int Hp => _plan.Hp;
        private int P => _plan.P;
        private int Batch => _plan.Batch;
        private int Units => _plan.UnitCount;
        /// <summary>Whether the inference kernels read bf16 or int8 gate weights (training kernels always read float32).</summary>
        private bool Reduced => _plan.Reduced;
        private bool Int8 => _plan.Int8;
        /// <summary>Bytes per stored gate weight in the inference layout.</summary>
        private int Bpe => WeightStorageValues.Bytes(_plan.Storage);

        public void Emit()
        {
            _w.Line($"/// <summary>Kernels for the {_v.Name} path ({(_v.IsScalar ? "no vector hardware" : N(_v.Lanes) + " floats per vector")}).</summary>");
            _w.Open($"internal static class {_v.ClassName}");
            foreach (int k in LayerIndexByShape())
            {
                var plan = Plan(k);
                _w.Line($"// Layers with {N(plan.Inputs)} inputs: {N(plan.Tiles)} tile(s) of {N(plan.BlocksPerTile)} block(s) of {N(_v.Lanes)} unit(s), {N(plan.Columns)} columns of z = [x; h];");
                _w.Line($"// column loop {(plan.UnrollColumns(plan.Columns) ? "unrolled" : "a loop")}, {N(plan.Splits(plan.Columns))} partial sum(s) per accumulator in Step, {N(plan.Splits(plan.Recurrent))} in the recurrence" +
                        (Batch > 1 ? $"; {N(plan.StreamGroup(Batch))} stream(s) share each weight load in the batched step." : "."));
            }
            _w.Line();
            EmitPack();
            if (!_plan.Bidirectional && Reduced) EmitReducedStep();
            else if (!_plan.Bidirectional) EmitStep();
            // a batched model whose Forward steps its streams together (ModelPlan.ForwardStreamsTogether) calls Step instead
            if (_plan.Bidirectional) EmitForwardBidirectional(); else if (!_plan.ForwardStreamsTogether) EmitForwardChunk();
            foreach (int k in LayerIndexByShape())
            {
                var plan = Plan(k);
                if (!_plan.Bidirectional && !Reduced)
                    EmitCell(plan, recurrentOnly: false, batch: Batch);
                if (!_plan.ForwardStreamsTogether && Int8) // int8: the recurrent product is the runtime's Int8Product, then the cell alone
                    EmitCell(plan, recurrentOnly: true, cellOnly: true);
                else if (!_plan.ForwardStreamsTogether) // the recurrence of ForwardChunk
                    EmitCell(plan, recurrentOnly: true, reduced: Reduced);
                EmitCell(plan, recurrentOnly: true, training: true);
                if (_plan.TrainGroupProduct(plan)) // a group of sequences: the product is InputProjection.ProjectAdd, then the cell alone
                    EmitCell(plan, recurrentOnly: true, training: true, cellOnly: true);
                // the input projections are the runtime's InputProjection (every storage)
            }
            if (P > 0) EmitProjectOut();
            new BackwardEmitter(_plan, _w, _v, _sink).Emit();
            EmitCopy();
            _w.Close();
            _w.Line();
        }

        /// <summary>One layer index per distinct layer shape (the kernels are named by the input size).</summary>
        private IEnumerable<int> LayerIndexByShape() => Enumerable.Range(0, L).GroupBy(_plan.LayerInputs).Select(g => g.First());

        private const string Inline = "[MethodImpl(MethodImplOptions.AggressiveInlining)]";

        /// <summary>Short names for this width's operations; all inlined.</summary>
        internal static void EmitHelpers(SourceWriter w, VectorWidth v)
        {
            var _w = w;
            var _v = v;
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
            if (Reduced)
            {
                EmitPackBody("Pack", $"Packs the PyTorch-layout parameters into this path's stream order with {WeightStorageValues.Names[_plan.Storage]} gate weights (see LstmPacking).", reduced: true);
                EmitPackBody("PackTraining", "Packs the PyTorch-layout parameters in float32 for the training kernels (see LstmPacking).", reduced: false);
            }
            else
            {
                EmitPackBody("Pack", "Packs the PyTorch-layout parameters into this path's stream order (see LstmPacking).", reduced: false);
            }
        }

        private void EmitPackBody(string name, string summary, bool reduced)
        {
            _w.Line($"/// <summary>{summary}</summary>");
            _w.Open($"internal static void {name}(System.Collections.Generic.IReadOnlyList<ParameterTensor> tensors, Span<float> packed)");
            for (int u = 0; u < Units; u++)
            {
                var plan = Plan(u / D);
                string T(string kind) => $"tensors[{N(_plan.UnitTensorIndex(kind, u))}].Values";
                string bih = _plan.HasBias ? T("bias_ih") : "default";
                string bhh = _plan.HasBias ? T("bias_hh") : "default";
                string weights = $"packed.Slice({N(_plan.PackedWeightOffset(_v, u, reduced))}, {N(_plan.PackedWeightFloats(plan, reduced))})";
                string bias = $"packed.Slice({N(_plan.PackedBiasOffset(_v, u, reduced))}, {N(plan.BiasLength)})";
                string shape = $"{N(plan.Inputs)}, {N(Hp)}, {N(H)}, {N(_v.Lanes)}, {N(plan.BlocksPerTile)}";
                // float32: PackLayer(...); bf16: PackLayerBFloat16(..., bytes, bias); int8: PackLayerInt8(..., bytes, bias, scales)
                string packer = reduced ? "PackLayer" + WeightStorageValues.Names[_plan.Storage] : "PackLayer";
                string destination = (!reduced ? $"{weights}, {bias}" : $"MemoryMarshal.AsBytes({weights}), {bias}" +
                    (Int8 ? $", packed.Slice({N(_plan.PackedScaleOffset(_v, u, true))}, {N(ModelPlan.Int8ScaleRuns * plan.BiasLength)})" : "")) + _cell.PackerCellArgument;
                _w.Line($"LstmPacking.{packer}({T("weight_ih")}, {T("weight_hh")}, {bih}, {bhh}, {shape},");
                _w.Line($"    {destination});");
                _cell.EmitPackRows(_w, T, H, _v.Lanes, $"packed.Slice({N(_plan.PackedCellOffset(_v, u, reduced))}, {N(_cell.PackedRows * plan.PaddedHidden)})");
                if (P > 0)
                    _w.Line($"LstmPacking.PackProjection({T("weight_hr")}, {N(P)}, {N(H)}, {N(_v.Lanes)}, packed.Slice({N(_plan.PackedProjOffset(_v, u, reduced))}, {N(H * _plan.PaddedProjection(_v))}));");
            }
            _w.Close();
            _w.Line();
        }

        // Arguments of the inference kernels: offsets in the inference layout (reduced for bf16/int8 models).
        private string W(int unit) => $"ref {Unsafe}.Add(ref w, {N(_plan.PackedWeightOffset(_v, unit, Reduced))})";
        private string B(int unit) => $"ref {Unsafe}.Add(ref w, {N(_plan.PackedBiasOffset(_v, unit, Reduced))})";
        /// <summary>The int8 W_ih scales argument of the input projection (with its trailing comma), or nothing for other storage types.</summary>
        private string ScaleArg(int unit) => Int8 ? $"ref {Unsafe}.Add(ref w, {N(_plan.PackedScaleOffset(_v, unit, true))}), " : "";
        /// <summary>The argument for the cell's own packed rows (with its trailing comma), or nothing for a cell without them.</summary>
        private string CellRowsArg(int unit) => _cell.PackedRows > 0 ? $"ref {Unsafe}.Add(ref w, {N(_plan.PackedCellOffset(_v, unit, Reduced))}), " : "";
        private string WR(int unit) => $"ref {Unsafe}.Add(ref w, {N(_plan.PackedProjOffset(_v, unit, Reduced))})";
        private static string S(string offset) => $"ref {Unsafe}.Add(ref s, {offset})";
        private static string Sh(string offset) => $"ref {Unsafe}.Add(ref sh, {offset})";

        private void EmitStep()
        {
            _w.Line("/// <summary>One time step of every layer" + (Batch > 1 ? " for every stream (stream b's block starts at b·StreamStride)" : "") + "; the input is already in z_0's x slot.</summary>");
            _w.Open("internal static void Step(ref float w, ref float s)");
            for (int k = 0; k < L; k++)
            {
                int inputs = _plan.LayerInputs(k);
                bool oneTile = Plan(k).Tiles == 1;
                string hSlot = "StateZ" + N(k) + " + " + N(inputs);
                _w.Line($"// layer {N(k)}: a = b + W·[x; h_(t-1)], then c_t and h_t");
                // With a projection the cell writes m_t to its own scratch, so h_t can always go straight into z (all of z was read).
                string cellOut = P > 0 ? "StateM" : oneTile ? hSlot : "StateHNew";
                _w.Line(CellCall(Plan(k), recurrentOnly: false, W(k), B(k), k, S("StateZ" + N(k)), S(cellOut)));
                if (Batch > 1) _w.Open($"for (int b = 0; b < {N(Batch)}; b++)");
                string sb = Batch > 1 ? "b * StreamStride + " : "";
                if (P > 0)
                {
                    _w.Line($"{K}.{KernelNames.ProjectOut(_plan)}({WR(k)}, {S(sb + "StateM")}, {S(sb + hSlot)}); // h_t = W_hr·m_t");
                }
                else if (!oneTile)
                {
                    _w.Line($"Copy({S(sb + "StateHNew")}, {S(sb + hSlot)}, {N(Hp)}); // h_t replaces h_(t-1) in z_{N(k)}");
                }
                if (k + 1 < L)
                    _w.Line($"Copy({S(sb + hSlot)}, {S(sb + "StateZ" + N(k + 1))}, {N(Hp)}); // h_t is layer {N(k + 1)}'s input");
                if (Batch > 1) _w.Close();
            }
            _w.Close();
            _w.Line();
        }

        /// <summary>
        /// The step of a bf16 or int8 model: per layer, one step of the input projection into the G row, then the
        /// recurrence exactly as the sequence <c>Forward</c> runs it (so the two give the same bits). These models are for
        /// the shapes whose weights no longer fit the fast caches, where a step is bound by the bytes of weights it reads and
        /// a fused cell kernel would gain nothing over the two passes; it would double the emitted kernels.
        /// </summary>
        private void EmitReducedStep()
        {
            _w.Line("/// <summary>One time step of every layer" + (Batch > 1 ? " for every stream (stream b's block starts at b·StreamStride)" : "") + "; the input is already in z_0's x slot.</summary>");
            _w.Open("internal static void Step(ref float w, ref float sh)");
            if (Batch > 1) _w.Open($"for (int b = 0; b < {N(Batch)}; b++)");
            _w.Line($"ref float s = ref {(Batch > 1 ? $"{Unsafe}.Add(ref sh, b * StreamStride)" : "sh")};");
            for (int k = 0; k < L; k++)
            {
                var plan = Plan(k);
                string hSlot = "StateZ" + N(k) + " + " + N(plan.Inputs);
                _w.Line($"// layer {N(k)}: G = b + W_ih·x, then a = G + W_hh·h_(t-1), c_t and h_t");
                _w.Line(ProjectCall(_plan, plan, Reduced, W(k), B(k), ScaleArg(k), S("StateZ" + N(k)), N(plan.Inputs), Sh("StateG"), steps: "1"));
                EmitRecurStep(k, Sh("StateG"));
                if (k + 1 < L)
                    _w.Line($"Copy({S(hSlot)}, {S("StateZ" + N(k + 1))}, {N(Hp)}); // h_t is layer {N(k + 1)}'s input");
            }
            if (Batch > 1) _w.Close();
            _w.Close();
            _w.Line();
        }

        /// <summary>One step of the recurrence of unit <paramref name="unit"/> from the G row <paramref name="gRow"/>; h_t lands in StateHNew and z's h slot.</summary>
        private void EmitRecurStep(int unit, string gRow)
        {
            int inputs = _plan.UnitInputs(unit);
            string hSlot = "StateZ" + N(unit) + " + " + N(inputs);
            var plan = Plan(unit / D);
            if (Int8)
            {
                // a = G[t] + s_hh·s_h·Σ q·q(h_(t-1)) (Int8Product), then the cell alone; a cell that sums some h columns
                // apart gets the product in its own row (StateR), which the cell-only kernel routes
                string wq = $"ref {Unsafe}.Add(ref w, {N(_plan.PackedWeightOffset(_v, unit, true) + plan.Shape.Int8InputBytes / 4)})";
                string shh = $"ref {Unsafe}.Add(ref w, {N(_plan.PackedScaleOffset(_v, unit, true) + plan.BiasLength)})";
                string product = _plan.RecurrentProductApart ? Sh("StateR") : gRow;
                if (_plan.RecurrentProductApart)
                    _w.Line($"MemoryMarshal.CreateSpan({product}, {N(plan.BiasLength)}).Clear();");
                _w.Line($"Int8Product.MultiplyAdd(ref {Unsafe}.As<float, byte>({wq}), {shh}, {S(hSlot)}, {N(plan.Recurrent)}, {N(plan.BiasLength)}, {product});");
                var carriedState = new[] { S(hSlot) }.Concat(_cell.Carried.Select(v => S($"State{v.Pascal}{N(unit)}"))).Concat(new[] { S(P > 0 ? "StateM" : "StateHNew") });
                _w.Line($"{K}.{KernelNames.CellOnly(_plan, plan)}(ref w, {gRow}, {(_plan.RecurrentProductApart ? product + ", " : "")}{CellRowsArg(unit)}{string.Join(", ", carriedState)});");
            }
            else
            {
                // the first h column, in bytes: with bf16 weights and an odd count of vectors and inputs (a GRU's scalar path)
                // it is not a whole float, so the reference is then taken at the byte
                long bytes = 4L * _plan.PackedWeightOffset(_v, unit, Reduced) + (long)plan.Inputs * plan.ColumnStride * (Reduced ? Bpe : 4);
                string wh = bytes % 4 == 0 ? $"ref {Unsafe}.Add(ref w, {N(bytes / 4)})"
                    : $"ref {Unsafe}.As<byte, float>(ref {Unsafe}.Add(ref {Unsafe}.As<float, byte>(ref w), {N(bytes)}))";
                _w.Line(CellCall(plan, recurrentOnly: true, wh, gRow, unit, S(hSlot), S(P > 0 ? "StateM" : "StateHNew")));
            }
            if (P > 0) _w.Line($"{K}.{KernelNames.ProjectOut(_plan)}({WR(unit)}, {S("StateM")}, {S("StateHNew")});");
            _w.Line($"Copy({S("StateHNew")}, {S(hSlot)}, {N(Hp)});");
        }

        private void EmitForwardChunk()
        {
            _w.Line("/// <summary>Runs <paramref name=\"n\"/> steps of every layer of one stream (block s; the shared chunk buffers at sh): each layer's input projection for the whole chunk first, then its recurrence.</summary>");
            _w.Open("internal static void ForwardChunk(ref float w, ref float s, ref float sh, ref float x, int n)");
            for (int k = 0; k < L; k++)
            {
                var plan = Plan(k);
                int inputs = plan.Inputs;
                string source = k == 0 ? "ref x" : Sh(_plan.StateSeqName(k - 1));
                _w.Line($"// layer {N(k)}: G[t] = b + W_ih·x_t for the chunk, then per step a = G[t] + W_hh·h_(t-1)");
                _w.Line(ProjectCall(_plan, plan, Reduced, W(k), B(k), ScaleArg(k), source, N(inputs), Sh("StateG")));
                _w.Open("for (int t = 0; t < n; t++)");
                EmitRecurStep(k, Sh("StateG + t * " + N(_cell.Gates * plan.PaddedHidden)));
                _w.Line($"Copy({S("StateHNew")}, {Sh(_plan.StateSeqName(k) + " + t * " + N(Hp))}, {N(Hp)});");
                _w.Close();
            }
            _w.Close();
            _w.Line();
        }

        private void EmitForwardBidirectional()
        {
            int row = _plan.HeadInputs;
            _w.Line("/// <summary>");
            _w.Line("/// A whole sequence of one stream through every bidirectional layer: per layer, the forward direction over chunks from the start,");
            _w.Line("/// then the reverse direction over chunks from the end. Layer k's outputs [forward ; reverse] go to seq, in half (k mod 2).");
            _w.Line("/// </summary>");
            _w.Open("internal static void ForwardBidirectional(ref float w, ref float s, ref float sh, ref float x, int steps, ref float seq)");
            for (int k = 0; k < L; k++)
            {
                var plan = Plan(k);
                int inputs = plan.Inputs;
                string source = k == 0 ? "x" : "src" + N(k);
                string stride = k == 0 ? N(inputs) : N(row);
                if (k > 0) _w.Line($"ref float src{N(k)} = ref {Unsafe}.Add(ref seq, {N((k - 1) % 2)} * steps * {N(row)});");
                _w.Line($"ref float dst{N(k)} = ref {Unsafe}.Add(ref seq, {N(k % 2)} * steps * {N(row)});");
                _w.Line($"// layer {N(k)}, forward direction");
                _w.Open($"for (int t0 = 0; t0 < steps; t0 += ChunkLength)");
                _w.Line("int n = Math.Min(ChunkLength, steps - t0);");
                _w.Line(ProjectCall(_plan, plan, Reduced, W(2 * k), B(2 * k), ScaleArg(2 * k), $"ref {Unsafe}.Add(ref {source}, t0 * {stride})", stride, Sh("StateG")));
                _w.Open("for (int j = 0; j < n; j++)");
                EmitRecurStep(2 * k, Sh("StateG + j * " + N(_cell.Gates * plan.PaddedHidden)));
                _w.Line($"Copy({S("StateHNew")}, ref {Unsafe}.Add(ref dst{N(k)}, (t0 + j) * {N(row)}), {N(Hp)});");
                _w.Close();
                _w.Close();
                _w.Line($"// layer {N(k)}, reverse direction: chunks from the end, steps within a chunk backwards");
                _w.Open("for (int end = steps; end > 0; )");
                _w.Line("int n = Math.Min(ChunkLength, end);");
                _w.Line("int t0 = end - n;");
                _w.Line(ProjectCall(_plan, plan, Reduced, W(2 * k + 1), B(2 * k + 1), ScaleArg(2 * k + 1), $"ref {Unsafe}.Add(ref {source}, t0 * {stride})", stride, Sh("StateG")));
                _w.Open("for (int j = n - 1; j >= 0; j--)");
                EmitRecurStep(2 * k + 1, Sh("StateG + j * " + N(_cell.Gates * plan.PaddedHidden)));
                _w.Line($"Copy({S("StateHNew")}, ref {Unsafe}.Add(ref dst{N(k)}, (t0 + j) * {N(row)} + {N(Hp)}), {N(Hp)});");
                _w.Close();
                _w.Line("end = t0;");
                _w.Close();
            }
            _w.Close();
            _w.Line();
        }

        private void EmitCopy()
        {
            _w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
            _w.Line($"private static void Copy(ref float source, ref float destination, int count) => {Unsafe}.CopyBlockUnaligned(ref {Unsafe}.As<float, byte>(ref destination), ref {Unsafe}.As<float, byte>(ref source), (uint)count * 4);");
        }

        /// <summary>h = W_hr·m: the projection (proj_size), column by column of the packed W_hr with one broadcast of m_j each.</summary>
        private void EmitProjectOut() => Shared(KernelNames.ProjectOut(_plan), EmitProjectOutBody);

        private void EmitProjectOutBody()
        {
            int lanes = _v.Lanes;
            int pp = _plan.PaddedProjection(_v);
            int vectors = pp / lanes;
            int group = System.Math.Max(1, System.Math.Min(vectors, _v.AccumulatorBudget / 2));
            int chains = vectors <= _v.AccumulatorBudget / 2 ? 2 : 1;
            _w.Line($"/// <summary>h = W_hr·m for a {N(P)}×{N(H)} projection (packed column-major, {N(pp)} rows per column).</summary>");
            _w.Open($"internal static void {KernelNames.ProjectOut(_plan)}(ref float wr, ref float m, ref float h)");
            for (int v0 = 0; v0 < vectors; v0 += group)
            {
                int g = System.Math.Min(group, vectors - v0);
                _w.Open("");
                for (int c = 0; c < chains; c++)
                    for (int v = 0; v < g; v++)
                        _w.Line($"{_v.Type} a{N(c)}_{N(v)} = {_v.Zero};");
                _w.Line("int j = 0;");
                if (chains == 2)
                {
                    _w.Open($"for (; j + 2 <= {N(H)}; j += 2)");
                    for (int c = 0; c < 2; c++)
                    {
                        _w.Line($"{_v.Type} m{N(c)} = {_v.Broadcast(VectorWidth.At("m", c == 0 ? "j" : "j + 1"))};");
                        for (int v = 0; v < g; v++)
                            _w.Line($"a{N(c)}_{N(v)} = {_v.MulAdd(_v.Load("wr", $"(j + {N(c)}) * {N(pp)} + {N((v0 + v) * lanes)}"), $"m{N(c)}", $"a{N(c)}_{N(v)}")};");
                    }
                    _w.Close();
                }
                _w.Open($"for (; j < {N(H)}; j++)");
                _w.Line($"{_v.Type} mj = {_v.Broadcast(VectorWidth.At("m", "j"))};");
                for (int v = 0; v < g; v++)
                    _w.Line($"a0_{N(v)} = {_v.MulAdd(_v.Load("wr", $"j * {N(pp)} + {N((v0 + v) * lanes)}"), "mj", $"a0_{N(v)}")};");
                _w.Close();
                for (int v = 0; v < g; v++)
                    _w.Line(_v.Store(chains == 2 ? $"a0_{N(v)} + a1_{N(v)}" : $"a0_{N(v)}", "h", N((v0 + v) * lanes)));
                _w.Close();
            }
            _w.Close();
            _w.Line();
        }

        /// <summary>
        /// Emits a cell kernel. The full step (<c>Cell{Ik}</c>) starts each accumulator from the bias and runs over all
        /// columns of z = [x; h]; the recurrence (<c>Recur{Ik}</c>) starts from the hoisted G row and runs over the h columns.
        /// </summary>
        private void EmitCell(LayerPlan plan, bool recurrentOnly, bool training = false, int batch = 1, bool reduced = false, bool cellOnly = false)
        {
            string name = cellOnly ? (training ? KernelNames.CellTrain(_plan, plan) : KernelNames.CellOnly(_plan, plan)) : recurrentOnly ? KernelNames.Recur(_plan, plan, training, reduced) : KernelNames.Cell(_plan, plan, batch);
            Shared(name, () => EmitCellBody(name, plan, recurrentOnly, training, batch, reduced, cellOnly));
        }

        /// <summary>The call of a cell step over the columns from <paramref name="weights"/> on (a Cell over [x; h], or a Recur over h).</summary>
        private string CellCall(LayerPlan plan, bool recurrentOnly, string weights, string init, int unit, string z, string hOut)
        {
            string name = recurrentOnly ? KernelNames.Recur(_plan, plan, training: false, Reduced) : KernelNames.Cell(_plan, plan, Batch);
            var state = new[] { z }.Concat(_cell.Carried.Select(v => S($"State{v.Pascal}{N(unit)}"))).Concat(new[] { hOut });
            return $"{K}.{name}({weights}, {init}, {CellRowsArg(unit)}{string.Join(", ", state)});";
        }

        /// <remarks>
        /// bf16 weights (<paramref name="reduced"/>) come only in the recurrence of one stream: those models run
        /// their Step as one step of the input projection plus this recurrence (EmitReducedStep).
        /// </remarks>
        /// <param name="cellOnly">No columns: init holds the whole pre-activation (a training group's G[t] after
        /// InputProjection.ProjectAdd added W_hh·h_(t-1)), and the kernel is the cell update alone.</param>
        private void EmitCellBody(string name, LayerPlan plan, bool recurrentOnly, bool training, int batch, bool reduced, bool cellOnly = false)
        {
            int first = recurrentOnly ? plan.Inputs : 0;
            int columns = cellOnly ? 0 : plan.Columns - first;
            int streams = batch > 1 ? plan.StreamGroup(batch) : 1;
            int splits = streams == 1 ? plan.Splits(columns) : 1;
            int vectors = plan.VectorsPerTile;
            int lanes = _v.Lanes;
            int stride = _plan.StreamStride;
            // The training recurrence is always a loop: a training step's time goes to the backward products and the
            // hoisted projections, not to the latency of one step's chain.
            bool unrolled = !training && plan.UnrollColumns(columns);
            // weight offsets: floats into a float ref, or bytes into a byte ref for reduced storage
            int bytes = reduced ? Bpe : 1;
            _w.Line(cellOnly && !training
                ? "/// <summary>One step of the cell alone, from complete pre-activations in init (an int8 model's G[t] plus its recurrent product, Int8Product).</summary>"
                : cellOnly
                ? $"/// <summary>One training step of the cell alone, from complete pre-activations in init (G[t] + W_hh·h_(t-1), summed for a group of sequences by InputProjection.ProjectAdd); keeps {_cell.KeptDescription}.</summary>"
                : training
                ? $"/// <summary>One training step of the recurrence: as Recur, and also keeps {_cell.KeptDescription} for the backward pass.</summary>"
                : recurrentOnly
                ? "/// <summary>One step of the recurrence: a = G[t] + W_hh·h_(t-1) (the input half was hoisted; z is h_(t-1)), then the cell update.</summary>"
                : batch > 1
                ? $"/// <summary>One step of one layer for all {N(batch)} streams ({string.Join(", ", new[] { "z" }.Concat(_cell.Carried.Select(v => v.Symbol)))} and hOut of stream b are b·StreamStride apart), {N(streams)} at a time: each weight load feeds {N(streams)} FMAs.</summary>"
                : "/// <summary>One step of one layer: a = (b_ih + b_hh) + W·[x; h_(t-1)], then the cell update.</summary>");
            if (reduced)
                _w.Line("/// <remarks>bf16 weights: each 32-bit load holds two gate vectors, widened to float32 in registers by a shift and a mask.</remarks>");
            // a cell-only kernel of a cell that sums some h columns apart reads the recurrent product from its own row
            bool productRow = cellOnly && _cell.SplitsColumns;
            _w.Open($"internal static void {name}(ref float w, ref float init, {(productRow ? "ref float product, " : "")}{_cell.PackedParameter}ref float z, {_cell.CarriedParameters}ref float hOut{(training ? _cell.KeptParameters : "")})");
            bool tileLoop = plan.Tiles > 1;
            bool groupLoop = batch / streams > 1;
            if (reduced)
                _w.Line($"ref byte wb = ref {Unsafe}.As<float, byte>(ref w);");
            if (tileLoop)
                _w.Open($"for (int tile = 0; tile < {N(plan.Tiles)}; tile++)");
            if (groupLoop)
                _w.Open($"for (int sg = 0; sg < {N(batch)}; sg += {N(streams)})");
            // a recurrence gets its weights from the first h column on (the caller adds that offset): see RecurrenceName
            int startW = recurrentOnly ? 0 : first * plan.ColumnStride * bytes;
            string tileW = tileLoop ? $"tile * {N(plan.TileStride * bytes)} + {N(startW)}" : N(startW);
            if (columns > 0)
                _w.Line(reduced ? $"ref byte wt = ref {Unsafe}.Add(ref wb, {tileW});" : $"ref float wt = ref {Unsafe}.Add(ref w, {tileW});");
            _w.Line($"ref float it = ref {Unsafe}.Add(ref init, {(tileLoop ? "tile * " + N(vectors * lanes) : "0")});");
            string zr = "z", hr = "hOut";
            var carried = _cell.Carried.Select(v => v.Symbol).ToList();
            if (groupLoop)
            {
                _w.Line($"ref float zs = ref {Unsafe}.Add(ref z, sg * {N(stride)});");
                foreach (string c in _cell.Carried.Select(v => v.Symbol))
                    _w.Line($"ref float {c}s = ref {Unsafe}.Add(ref {c}, sg * {N(stride)});");
                _w.Line($"ref float hs = ref {Unsafe}.Add(ref hOut, sg * {N(stride)});");
                zr = "zs"; hr = "hs";
                carried = carried.Select(c => c + "s").ToList();
            }

            // Weight vector v of a column is gate v mod G of block v / G (the packed order). Accumulators are named for
            // what they sum and their block: with the cell's accumulator list (by default its gates, i, f, g, o for the
            // LSTM), accumulator k of a tile is the list's k mod A of block k / A, so ai0 sums the input gate's rows of
            // block 0; a partial chain p1_ai0 is added into it after the column loop.
            int gates = _cell.Gates, perBlock = _cell.Accumulators.Count;
            int accumulators = plan.BlocksPerTile * perBlock;
            string Gate(int k) => "a" + _cell.Accumulators[k % perBlock] + N(k / perBlock);
            string Acc(int partial, int st, int k) => partial == 0 ? (streams == 1 ? Gate(k) : $"s{N(st)}_{Gate(k)}") : $"p{N(partial)}_{Gate(k)}";
            // the accumulator weight vector v of an x column (or an h column) is summed into
            int Target(int v, bool hColumn) => v / gates * perBlock + (hColumn ? _cell.RecurrentAccumulator(v % gates) : _cell.InputAccumulator(v % gates));
            // the start-value row of accumulator k: the gates' own accumulators start from it, the cell's extra ones from zero
            int StartRow(int k) => k % perBlock < gates ? k / perBlock * gates + k % perBlock : -1;

            _w.Line("// a = start value (bias or hoisted input projection), one accumulator per gate and block of units" + (streams > 1 ? " and stream" : ""));
            for (int st = 0; st < streams; st++)
                for (int k = 0; k < accumulators; k++)
                    _w.Line($"{_v.Type} {Acc(0, st, k)} = {(StartRow(k) < 0 ? _v.Zero : _v.Load("it", N(StartRow(k) * lanes)))};");
            if (productRow)
            {
                _w.Line("// the recurrent product's rows (W_hh·h_(t-1)), each gate's into the accumulator the cell routes its h columns to");
                _w.Line($"ref float pt = ref {Unsafe}.Add(ref product, {(tileLoop ? "tile * " + N(vectors * lanes) : "0")});");
                for (int v = 0; v < vectors; v++)
                    _w.Line($"{Acc(0, 0, Target(v, hColumn: true))} += {_v.Load("pt", N(v * lanes))};");
            }
            for (int p = 1; p < splits; p++)
            {
                _w.Line($"// partial sum {N(p)}: an independent FMA chain, added in after the column loop");
                for (int k = 0; k < accumulators; k++)
                    _w.Line($"{_v.Type} {Acc(p, 0, k)} = {_v.Zero};");
            }

            // One column of z: every weight vector v times z_j into its accumulator (hColumn: an h column, else an x column).
            void EmitColumn(string columnOffsetInZ, string weightRef, string weightOffset, int partial, bool hColumn)
            {
                int T(int v) => Target(v, hColumn);
                if (reduced && streams == 1)
                {
                    // widen a pair of bf16 vectors and use it at once: few widened vectors are live
                    _w.Line($"zj = {_v.Broadcast(VectorWidth.At(zr, columnOffsetInZ))};");
                    EmitDecode(weightRef, weightOffset, vectors, v => "wv" + N(v), v =>
                        _w.Line($"{Acc(partial, 0, T(v))} = {_v.MulAdd("wv" + N(v), "zj", Acc(partial, 0, T(v)))};"));
                    return;
                }
                if (streams == 1)
                {
                    _w.Line($"zj = {_v.Broadcast(VectorWidth.At(zr, columnOffsetInZ))};");
                    for (int v = 0; v < vectors; v++)
                        _w.Line($"{Acc(partial, 0, T(v))} = {_v.MulAdd(reduced ? "wv" + N(v) : _v.Load(weightRef, Add(weightOffset, v * lanes)), "zj", Acc(partial, 0, T(v)))};");
                    return;
                }
                for (int v = 0; v < vectors; v++)
                    _w.Line($"wv{N(v)} = {_v.Load(weightRef, Add(weightOffset, v * lanes))};");
                for (int st = 0; st < streams; st++)
                {
                    _w.Line($"zj = {_v.Broadcast(VectorWidth.At(zr, st == 0 ? columnOffsetInZ : $"{N(st * stride)} + {columnOffsetInZ}"))};");
                    for (int v = 0; v < vectors; v++)
                        _w.Line($"{Acc(0, st, T(v))} = {_v.MulAdd("wv" + N(v), "zj", Acc(0, st, T(v)))};");
                }
            }

            // Columns [start, start + count) of this kernel's z, unrolled or as one plain loop with `splits` chains. Column j
            // is an h column from the first h column on; a looped range lies within x or within h when the cell routes them apart.
            bool IsH(int j) => recurrentOnly || j >= plan.Inputs;
            void EmitRange(int start, int count)
            {
                if (unrolled)
                {
                    for (int j = start; j < start + count; j++)
                        EmitColumn(N(j), "wt", N(j * plan.ColumnStride * bytes), j % splits, IsH(j));
                    return;
                }
                int loopColumns = count / splits * splits;
                _w.Open("");
                _w.Line($"ref {(reduced ? "byte" : "float")} wj = ref {(start == 0 ? "wt" : $"{Unsafe}.Add(ref wt, {N(start * plan.ColumnStride * bytes)})")};");
                _w.Open($"for (int j = {N(start)}; j < {N(start + loopColumns)}; j += {N(splits)})");
                for (int p = 0; p < splits; p++)
                    EmitColumn(p == 0 ? "j" : "j + " + N(p), "wj", p == 0 ? "" : N(p * plan.ColumnStride * bytes), p, IsH(start));
                _w.Line($"wj = ref {Unsafe}.Add(ref wj, {N(splits * plan.ColumnStride * bytes)});");
                _w.Close();
                _w.Close();
                for (int j = start + loopColumns; j < start + count; j++)
                    EmitColumn(N(j), "wt", N(j * plan.ColumnStride * bytes), j % splits, IsH(j));
            }

            if (columns > 0)
            {
                _w.Line($"// a += W[:, j] · z_j for each column j of z = [x; h]{(recurrentOnly ? " (h columns only)" : "")}");
                _w.Line($"{_v.Type} zj;");
            }
            if (streams > 1 || reduced)
                _w.Line($"{_v.Type} {string.Join(", ", Enumerable.Range(0, vectors).Select(v => "wv" + N(v)))};");
            if (reduced)
                EmitDecodeLocals();
            if (_cell.SplitsColumns && !recurrentOnly && !unrolled)
            {
                EmitRange(0, plan.Inputs);
                EmitRange(plan.Inputs, columns - plan.Inputs);
            }
            else if (columns > 0)
            {
                EmitRange(0, columns);
            }
            if (splits > 1)
            {
                _w.Line("// sum the partial chains");
                for (int v = 0; v < accumulators; v++)
                {
                    // a pairwise tree: two adds deep for four chains
                    string sum = splits switch
                    {
                        2 => $"{Acc(0, 0, v)} + {Acc(1, 0, v)}",
                        3 => $"({Acc(0, 0, v)} + {Acc(1, 0, v)}) + {Acc(2, 0, v)}",
                        _ => $"({Acc(0, 0, v)} + {Acc(1, 0, v)}) + ({Acc(2, 0, v)} + {Acc(3, 0, v)})",
                    };
                    _w.Line($"{Acc(0, 0, v)} = {sum};");
                }
            }
            string half = _v.Broadcast("0.5f");
            _w.Line($"{_v.Type} half = {half};");
            for (int st = 0; st < streams; st++)
            {
                string so = st == 0 ? "" : N(st * stride) + " + ";
                for (int b = 0; b < plan.BlocksPerTile; b++)
                {
                    string unit = tileLoop ? $"tile * {N(plan.BlocksPerTile * lanes)} + {N(b * lanes)}" : N(b * lanes);
                    string su = so + unit;
                    string x = streams == 1 ? N(b) : $"{N(st)}_{N(b)}";
                    int q = b * perBlock;
                    string A(int k) => Acc(0, st, q + k);
                    // h_(t-1) of this block: z's h columns (all of z in a recurrence)
                    string hPrevAt = recurrentOnly ? su : Add(su, plan.Inputs);
                    _cell.EmitForward(new CellBlock(_w, _v, A, x, carried, su, unit, hr, plan.PaddedHidden, zr, hPrevAt),
                        $"{(streams > 1 ? $"stream {N(st)}, " : "")}block {N(b)}", _plan.TrainHq, training);
                }
            }
            if (groupLoop) _w.Close();
            if (tileLoop) _w.Close();
            _w.Close();
            _w.Line();
        }

        /// <summary>The locals the decode of reduced weights assigns: the 32-bit load and the mask constant.</summary>
        private void EmitDecodeLocals()
        {
            _w.Line($"{_v.TypeOf("uint")} wu, top16 = {(_v.IsScalar ? "0xFFFF0000u" : $"{_v.StaticClass}.Create(0xFFFF0000u)")};");
        }

        /// <summary>
        /// Emits the widening of <paramref name="vectors"/> packed gate vectors (bf16 pairs, see LstmPacking)
        /// starting at byte <paramref name="byteOffset"/> of <paramref name="reference"/> into the float variables named by <paramref name="target"/>.
        /// bf16: the low half shifted up is vector 2m, the high half masked is vector 2m+1 (a bf16 is the top of a float32).
        /// </summary>
        private void EmitDecode(string reference, string byteOffset, int vectors, Func<int, string> target, Action<int>? use = null)
        {
            int lanes = _v.Lanes;
            string Load(string type, int offset)
            {
                string at = Add(byteOffset, offset);
                if (_v.IsScalar) return $"{Unsafe}.ReadUnaligned<{type}>(ref {Unsafe}.Add(ref {reference}, {at}))";
                string u = int.TryParse(at, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out _) ? at : $"(nuint)({at})";
                return $"{_v.StaticClass}.AsUInt32({_v.StaticClass}.LoadUnsafe(ref {reference}, {u}))";
            }
            string Float(string bits) => _v.IsScalar ? $"BitConverter.UInt32BitsToSingle({bits})" : $"{_v.StaticClass}.AsSingle({bits})";
            for (int m = 0; m < vectors / 2; m++)
            {
                _w.Line($"wu = {Load("uint", m * 4 * lanes)};");
                _w.Line($"{target(2 * m)} = {Float("wu << 16")};");
                _w.Line($"{target(2 * m + 1)} = {Float("wu & top16")};");
                if (use is not null) { use(2 * m); use(2 * m + 1); }
            }
            if (vectors % 2 != 0)
            {
                // an odd tile's last vector is stored unpaired: lanes consecutive bf16 values
                _w.Line($"{target(vectors - 1)} = {_v.WidenBFloat16One(reference, Add(byteOffset, (vectors - 1) * 2 * lanes))};");
                use?.Invoke(vectors - 1);
            }
        }

        /// <summary>
        /// The call of a layer's hoisted input projection over n steps: the runtime's InputProjection, for every weight
        /// storage (a long blocked product, which does not need constant sizes; bf16 weights are widened on load; int8 ones are the runtime's Int8Product).
        /// </summary>
        internal static string ProjectCall(ModelPlan model, LayerPlan plan, bool reduced, string w, string bias, string scaleArg, string x, string xStride, string g, string steps = "n")
        {
            if (reduced && model.Int8) // the int8 products' order does not depend on the tiling: see Int8Product
                return $"InputProjection.ProjectInt8({w}, {bias}, {scaleArg}{x}, {xStride}, {steps}, {g}, {N(plan.Inputs)}, {N(model.Cell.Gates * plan.PaddedHidden)});";
            string method = !reduced ? "Project" : "ProjectBFloat16";
            return $"InputProjection.{method}({w}, {bias}, {scaleArg}{x}, {xStride}, {steps}, {g}, {N(plan.Width.Lanes)}, {N(plan.Inputs)}, {N(plan.Tiles)}, " +
                   $"{N(plan.VectorsPerTile)}, {N(plan.TileStride)}, {N(model.Cell.Gates * plan.PaddedHidden)});";
        }
    }
}
