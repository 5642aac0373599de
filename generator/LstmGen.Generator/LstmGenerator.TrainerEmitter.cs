using System.Linq;
using LstmGen.Generator.Model;

namespace LstmGen.Generator;

public sealed partial class LstmGenerator
{
    /// <summary>
    /// Emits <c>CreateTrainer</c> and the nested <c>Trainer</c> class: buffers sized once, the loss on the head, the
    /// dense head's backward pass, dispatch to the width's BPTT kernels, clipping, the non-finite guard and the update.
    /// </summary>
    internal sealed class TrainerEmitter
    {
        private readonly ModelPlan _plan;
        private readonly SourceWriter _w;
        private readonly LstmModelSpec _spec;

        public TrainerEmitter(ModelPlan plan, SourceWriter writer, LstmModelSpec spec)
        {
            _plan = plan;
            _w = writer;
            _spec = spec;
        }

        private static string N(long value) => Emitter.N(value);
        /// <summary>The runtime's shape-independent trainer code (src/LstmGen/Training/TrainerCore.cs).</summary>
        private const string Core = "global::LstmGen.Training.TrainerCore";
        private const string Unsafe = Emitter.Unsafe;
        private const string MemoryMarshal = Emitter.MemoryMarshal;
        private int H => _spec.HiddenSize;
        private int L => _spec.NumLayers;
        private int Hq => _plan.TrainHq;
        private bool HasHead => _spec.OutputSize > 0;
        private int O => _plan.OutputValues;
        private int Oq => ModelPlan.Align16(O);

        public void Emit()
        {
            EmitLayout();
            EmitCreate();
            EmitTrainer();
        }

        private int D => _plan.D;
        private int Hp => _plan.Hp;
        private int P => _plan.P;
        private RecurrentCell Cell => _plan.Cell;
        /// <summary>Rows of the cell's own packed vectors (the LSTM's peepholes), padded to TrainHq in the trainer's buffer.</summary>
        private int CellRows => Cell.TrainedRows;
        private string RowsName => Cell.PackedRowsName;
        private int U => _plan.UnitCount;
        private int Row => _plan.HeadInputs;
        private bool RecDrop => _plan.RecurrentDropoutP > 0;
        private bool LayerDrop => _plan.DropoutP > 0;

        /// <summary>The trainer buffer's layout functions and row helpers (the model class and the kernel host both read them).</summary>
        internal void EmitLayout()
        {
            // Per unit (layer, direction): h_0..h_T and the cell's carried vectors (the LSTM's c_0..c_T), (T+1)·Hq each; the
            // rows the cell keeps per step (the LSTM's gates, T·4Hq, and tanh(c_t), T·Hq) [, recurrent dropout: mask ⊙ h_(t-1)
            // (T·Hq) and the mask (Hq)]; then per layer the output rows, and shared buffers.
            int stateRows = 1 + Cell.Carried.Count;
            int perUnitT = (stateRows + Cell.KeptRows) * Hq + (RecDrop ? Hq : 0), perUnitConst = stateRows * Hq + (RecDrop ? Hq : 0);
            int dhStride = ModelPlan.Align16(Row);
            string Sz(int perT, int constant) => $"maxT * {N(perT)} + {N(constant)}";
            _w.Line("// Trainer buffer layout, in floats, for sequences of up to maxT steps; rows are TrainHq floats (HiddenSize rounded up to 16).");
            _w.Line($"private const int TrainHq = {N(Hq)};");
            _w.Line($"private const int TrainDhStride = {N(dhStride)}; // rows of ∂L/∂(layer output): {N(Row)} values, padded");
            _w.Line($"private static int TrainHs(int unit, int maxT) => unit * ({Sz(perUnitT, perUnitConst)});");
            // each region starts where the one before ends: (name, its length)
            string previous = "TrainHs", length = "(maxT + 1) * TrainHq";
            foreach (var v in Cell.Carried)
            {
                _w.Line($"private static int Train{v.Pascal}s(int unit, int maxT) => {previous}(unit, maxT) + {length};");
                previous = $"Train{v.Pascal}s";
            }
            foreach (var v in Cell.Kept)
            {
                _w.Line($"private static int Train{v.Pascal}(int unit, int maxT) => {previous}(unit, maxT) + {length};");
                previous = $"Train{v.Pascal}";
                length = v.Rows == 1 ? "maxT * TrainHq" : $"maxT * {N(v.Rows * Hq)}";
            }
            _w.Line($"private static int TrainHd(int unit, int maxT) => {previous}(unit, maxT) + {length};");
            _w.Line("private static int TrainRMask(int unit, int maxT) => TrainHd(unit, maxT) + maxT * TrainHq;");
            int outs = Enumerable.Range(0, L).Count(_plan.TrainHasOut) > 0 ? L : 0;
            _w.Line($"private static int TrainOut(int layer, int maxT) => TrainHs({N(U)}, maxT) + layer * maxT * {N(Row)};");
            _w.Line($"private static int TrainDMask(int layer, int maxT) => TrainOut({N(outs)}, maxT) + layer * maxT * {N(Row)};");
            _w.Line($"private static int TrainG(int maxT) => TrainDMask({N(LayerDrop ? L : 0)}, maxT);");
            int revStride = System.Math.Max(_spec.InputSize, Row);
            _w.Line($"private static int TrainRevX(int maxT) => TrainG(maxT) + maxT * {N(Cell.Gates * Hq)};");
            _w.Line($"private static int TrainDa(int maxT) => TrainRevX(maxT) + maxT * {N(D == 2 ? revStride : 0)};");
            _w.Line($"private static int TrainDh(int which, int maxT) => TrainDa(maxT) + maxT * {N(Cell.DaRows * Hq)} + which * maxT * TrainDhStride;");
            _w.Line($"private static int TrainRevDh(int maxT) => TrainDh(2, maxT);");
            _w.Line($"private static int TrainRevDx(int maxT) => TrainRevDh(maxT) + maxT * {N(D == 2 ? Hq : 0)};");
            _w.Line($"private static int TrainDhP(int maxT) => TrainRevDx(maxT) + maxT * {N(D == 2 ? dhStride : 0)};");
            _w.Line($"private static int TrainM(int maxT) => TrainDhP(maxT) + maxT * {N(P > 0 ? Hq : 0)};");
            _w.Line($"private static int TrainDm(int maxT) => TrainM(maxT) + maxT * {N(P > 0 ? Hq : 0)};");
            _w.Line($"private static int TrainDhNext(int maxT) => TrainDm(maxT) + {N(P > 0 ? Hq : 0)};");
            string next = "TrainDhNext";
            foreach (var v in Cell.Carried)
            {
                _w.Line($"private static int TrainD{v.Symbol}Next(int maxT) => {next}(maxT) + TrainHq;");
                next = $"TrainD{v.Symbol}Next";
            }
            _w.Line($"private static int TrainFixed(int maxT) => {next}(maxT) + TrainHq;");
            _w.Line("// fixed-size per-unit sums: the bias gradients, the cell's own rows padded (the LSTM's peephole weights) and their gradients");
            int gateRows = U * Cell.BiasDaRows * Hq, cellRows = U * CellRows * Hq;
            _w.Line($"private static int TrainBias(int unit, int maxT) => TrainFixed(maxT) + unit * {N(Cell.BiasDaRows * Hq)};");
            if (CellRows > 0)
            {
                _w.Line($"private static int Train{RowsName}(int unit, int maxT) => TrainFixed(maxT) + {N(gateRows)} + unit * {N(CellRows * Hq)};");
                _w.Line($"private static int TrainD{RowsName}(int unit, int maxT) => TrainFixed(maxT) + {N(gateRows + cellRows)} + unit * {N(CellRows * Hq)};");
            }
            _w.Line($"private static int TrainLogits(int maxT) => TrainFixed(maxT) + {N(gateRows + 2 * cellRows)};");
            _w.Line($"private static int TrainDLogits(int maxT) => TrainLogits(maxT) + maxT * {N(Oq)};");
            if (Cell.SplitsColumns)
            {
                // a cell that sums some h columns apart: the rows the training group product lands in (see TrainLayer)
                _w.Line($"private static int TrainProduct(int maxT) => TrainDLogits(maxT) + maxT * {N(Oq)};");
                _w.Line($"private static int TrainLength(int maxT) => TrainProduct(maxT) + {N(Cell.Gates * Hq)};");
            }
            else
                _w.Line($"private static int TrainLength(int maxT) => TrainDLogits(maxT) + maxT * {N(Oq)};");

            _w.Line("private static int TrainStride(int maxT) => (TrainLength(maxT) + 15) & ~15; // from one sequence's buffer to the next in a group");
        }

        private void EmitCreate()
        {
            string defaultLength = _spec.SequenceLength > 0 ? "SequenceLength" : "0";
            if (_spec.SequenceLength > 0)
            {
                _w.Line("/// <summary>The sequence length training is sized for (the attribute's SequenceLength).</summary>");
                _w.Line($"public const int SequenceLength = {N(_spec.SequenceLength)};");
                _w.Line();
            }
            _w.Line("/// <summary>");
            _w.Line("/// Creates a trainer: forward pass, back-propagation through time and an update per call of <see cref=\"Trainer.Step(global::System.ReadOnlySpan{float}, global::System.ReadOnlySpan{float})\"/>.");
            _w.Line("/// All its memory is allocated here; steps allocate nothing.");
            _w.Line("/// </summary>");
            _w.Line("/// <param name=\"optimizer\">The update rule (Sgd, Adam, AdamW); one optimizer per trainer.</param>");
            _w.Line("/// <param name=\"loss\">The objective, on the head's output (see <see cref=\"global::LstmGen.Training.Loss\"/>).</param>");
            _w.Line("/// <param name=\"clipNorm\">If above 0, gradients are scaled so their global L2 norm is at most this.</param>");
            _w.Line("/// <param name=\"clipValue\">If above 0, every gradient is clamped to [−clipValue, clipValue].</param>");
            _w.Line($"/// <param name=\"maxSequenceLength\">The longest sequence a step will see{(_spec.SequenceLength > 0 ? "; defaults to SequenceLength" : "")}.</param>");
            _w.Line("/// <param name=\"seed\">Seeds the dropout masks (if the model has dropout): the same seed gives the same masks.</param>");
            _w.Line("/// <param name=\"threads\">Threads a mini-batch step may use, the caller's included; 0 (the default) is every processor, at most 8.");
            _w.Line("/// The result does not depend on it: any number of threads gives the same bits.</param>");
            _w.Open($"public Trainer CreateTrainer(global::LstmGen.Training.Optimizer optimizer, global::LstmGen.Training.Loss loss, float clipNorm = 0f, float clipValue = 0f, int maxSequenceLength = {defaultLength}, int seed = 0, int threads = 0)");
            _w.Line($"{Core}.CheckCreate(optimizer, clipNorm, clipValue, maxSequenceLength);");
            _w.Line("if (threads < 0) throw new global::System.ArgumentOutOfRangeException(nameof(threads), threads, \"threads must be 0 (every processor, at most 8) or more.\");");
            _w.Line("return new Trainer(this, optimizer, loss, clipNorm, clipValue, maxSequenceLength, seed, threads == 0 ? global::LstmGen.Training.BatchWorkers.DefaultThreads : threads);");
            _w.Close();
            _w.Line();
            _w.Line($"global::LstmGen.Training.ILstmTrainer global::LstmGen.IRecurrentModel<State>.CreateTrainer(global::LstmGen.Training.Optimizer optimizer, global::LstmGen.Training.Loss loss, float clipNorm, float clipValue, int maxSequenceLength) =>");
            _w.Line($"    CreateTrainer(optimizer, loss, clipNorm, clipValue, maxSequenceLength > 0 ? maxSequenceLength : {defaultLength});");
            _w.Line();
        }

        private void EmitDispatch(string call) => Emitter.EmitDispatch(_w, _plan, call);

        private void EmitTrainer()
        {
            string cls = _spec.ClassName;
            _w.Line("/// <summary>");
            _w.Line($"/// Trains a <see cref=\"{cls}\"/>: forward pass keeping activations, BPTT (docs/maths.md §4), clipping, a NaN/∞ guard and the");
            _w.Line("/// optimizer's update, allocation-free. Deterministic: the same seed, data and settings give the same weights.");
            _w.Line("/// </summary>");
            _w.Open("public sealed class Trainer : global::LstmGen.Training.ILstmTrainer, global::LstmGen.Training.IBatchChunks, global::System.IDisposable");
            _w.Line($"private readonly {cls} _model;");
            _w.Line("private readonly global::LstmGen.Training.Optimizer _optimizer;");
            _w.Line("private readonly global::LstmGen.Training.Loss _loss;");
            _w.Line("private readonly float _clipNorm, _clipValue;");
            _w.Line("private readonly int _maxT;");
            _w.Line("// A batch is cut into at most MaxChunks chunks, a number that depends only on the batch size; each chunk sums its own");
            _w.Line("// gradients, and the chunks are added in order: the same bits for any number of threads.");
            _w.Line("private const int MaxChunks = 8;");
            _w.Line("// A chunk's sequences run in groups of up to GroupSize side by side (each with its own part of the worker's buffer),");
            _w.Line("// so the backward pass reads each weight once per step for the group.");
            _w.Line($"private const int GroupSize = {N(ModelPlan.TrainGroup)};");
            _w.Line("private readonly global::LstmGen.AlignedBuffer?[] _buffers; // one per worker thread (room for a group), created by the calling thread at the first step that needs it");
            _w.Line("private global::LstmGen.AlignedBuffer _lastBuffer; // the buffer that ran the batch's last sequence (the dropout masks), at _lastOffset");
            _w.Line("private int _lastOffset;");
            _w.Line("private global::LstmGen.AlignedBuffer? _chunkGradients; // MaxChunks · ParameterCount, created at the first batch of two or more");
            _w.Line("private readonly double[] _chunkLoss = new double[MaxChunks];");
            _w.Line("private readonly global::LstmGen.Training.BatchWorkers _workers;");
            _w.Line("private int _steps, _targetRows, _perStep, _batch, _chunks;");
            _w.Line("private float _scale;");
            if (_plan.Reduced)
            {
                _w.Line("private readonly global::LstmGen.AlignedBuffer _packed = new global::LstmGen.AlignedBuffer(PackedTrainingLength); // float32 weights for the training kernels");
                _w.Line("private int _packedVersion = -1;");
            }
            _w.Line("private State[] _carried; // one per stream of a CarryState batch");
            _w.Line("private global::LstmGen.LstmRandom _random;");
            if (LayerDrop || RecDrop)
                _w.Line("private ulong[] _maskSeeds = new ulong[1]; // per sequence of the step, drawn in sequence order");
            _w.Line();
            _w.Open($"internal Trainer({cls} model, global::LstmGen.Training.Optimizer optimizer, global::LstmGen.Training.Loss loss, float clipNorm, float clipValue, int maxT, int seed, int threads)");
            _w.Line("_model = model; _optimizer = optimizer; _loss = loss; _clipNorm = clipNorm; _clipValue = clipValue; _maxT = maxT;");
            _w.Line("_random = new global::LstmGen.LstmRandom(0x5DEECE66DUL ^ (ulong)(uint)seed);");
            _w.Line("_workers = new global::LstmGen.Training.BatchWorkers(threads);");
            _w.Line("_buffers = new global::LstmGen.AlignedBuffer?[threads];");
            _w.Line("_lastBuffer = Buffer(0, 1);");
            _w.Line("_carried = new[] { model.NewState() };");
            _w.Line($"Gradients = {Core}.NewGradients(model._parameters);");
            _w.Line("optimizer.Initialize(ParameterCount);");
            _w.Close();
            _w.Line();
            _w.Line("/// <summary>∂loss/∂parameter from the last step, in the same order, layout and names as <see cref=\"Parameters\"/> (after clipping).</summary>");
            _w.Line("public global::LstmGen.LstmParameters Gradients { get; }");
            _w.Line();
            _w.Line("/// <summary>The longest sequence a step accepts.</summary>");
            _w.Line("public int MaxSequenceLength => _maxT;");
            _w.Line();
            _w.Line("/// <summary>Global L2 norm of the gradients of the last step, before clipping.</summary>");
            _w.Line("public float LastGradientNorm { get; private set; }");
            _w.Line();
            _w.Line("/// <summary>");
            _w.Line("/// Truncated BPTT: when true, each step starts from the state the previous step ended in (the next window of a long");
            _w.Line("/// stream), with gradients cut at the window's start. When false (the default) every sequence starts from zero.");
            _w.Line("/// </summary>");
            _w.Line("public bool CarryState { get; set; }");
            _w.Line();
            _w.Line("/// <summary>The state carried between windows when <see cref=\"CarryState\"/> is set (of stream 0 in a batch).</summary>");
            _w.Line("public State CarriedState => _carried[0];");
            _w.Line();
            _w.Line("/// <summary>The state carried for stream <paramref name=\"stream\"/> (sequence <paramref name=\"stream\"/> of every batch) when <see cref=\"CarryState\"/> is set.</summary>");
            _w.Open("public State GetCarriedState(int stream)");
            _w.Line("if (stream < 0) throw new global::System.ArgumentOutOfRangeException(nameof(stream), stream, \"stream must be 0 or more.\");");
            _w.Line("EnsureStreams(stream + 1);");
            _w.Line("return _carried[stream];");
            _w.Close();
            _w.Line();
            _w.Line("/// <summary>Zeroes the carried state of every stream (the start of new streams).</summary>");
            _w.Line("public void ResetState() { foreach (var state in _carried) state.Reset(); }");
            _w.Line();
            _w.Line("/// <summary>Threads a mini-batch step may use, the caller's included.</summary>");
            _w.Line("public int Threads => _workers.Threads;");
            _w.Line();
            _w.Line("/// <summary>Stops the trainer's worker threads now (else they end when the trainer is collected); a later step starts them again.</summary>");
            _w.Line("public void Dispose() => _workers.Dispose();");
            _w.Line();

            // Step overloads
            _w.Line("/// <summary>One training step on one sequence: forward, BPTT and an update. Returns the loss before the update.</summary>");
            _w.Line("/// <param name=\"inputs\">T·InputSize values, time-major, T ≤ MaxSequenceLength.</param>");
            _w.Line("/// <param name=\"targets\">Targets for every step (T rows) or for the last step only (one row); see <see cref=\"global::LstmGen.Training.Loss\"/>.</param>");
            _w.Line("/// <exception cref=\"global::LstmGen.Training.NonFiniteTrainingException\">The loss or a gradient is NaN or infinite; the weights are unchanged.</exception>");
            _w.Line("public float Step(global::System.ReadOnlySpan<float> inputs, global::System.ReadOnlySpan<float> targets) => Step(inputs, targets, BatchSize);");
            _w.Line();
            _w.Line("/// <summary>");
            _w.Line("/// One training step on a mini-batch of <paramref name=\"batchSize\"/> independent sequences of equal length, laid out one");
            _w.Line("/// after another: gradients are averaged over the batch, then one update. Returns the mean loss before the update.");
            _w.Line("/// </summary>");
            _w.Open("public float Step(global::System.ReadOnlySpan<float> inputs, global::System.ReadOnlySpan<float> targets, int batchSize)");
            _w.Line("float loss = ComputeGradients(inputs, targets, batchSize);");
            _w.Line("_optimizer.Update(_model._parameters.GetWritableValues(), Gradients.Values);");
            _w.Line("return loss;");
            _w.Close();
            _w.Line();

            _w.Line("/// <summary>Forward and BPTT without the update: fills <see cref=\"Gradients\"/> (clipped) and returns the loss.</summary>");
            _w.Open("public float ComputeGradients(global::System.ReadOnlySpan<float> inputs, global::System.ReadOnlySpan<float> targets, int batchSize = 1)");
            _w.Line($"int steps = {Core}.CheckStep(inputs.Length, targets.Length, batchSize, CarryState, {(D == 2 ? "true" : "false")}, InputSize, _maxT, _loss, {N(O)}, out int targetRows, out int perStep);");
            _w.Line();
            if (_plan.Reduced)
            {
                _w.Line("// the trainer runs on its own float32 pack of the master parameters; the model's reduced copy is rebuilt on its next use");
                _w.Line("if (_packedVersion != _model._parameters.Version) { _model.PackTraining(_packed.Span); _packedVersion = _model._parameters.Version; }");
            }
            else
            {
                _w.Line("_model.EnsurePacked();");
            }
            _w.Line($"global::System.Span<float> gradients = Gradients.GetWritableValues();");
            _w.Line("gradients.Clear();");
            _w.Line("_steps = steps; _targetRows = targetRows; _perStep = perStep; _batch = batchSize; _scale = 1f / batchSize;");
            _w.Line("_chunks = global::LstmGen.Training.BatchWorkers.ChunkCount(batchSize, GroupSize, MaxChunks);");
            _w.Line("if (CarryState) EnsureStreams(batchSize);");
            if (LayerDrop || RecDrop)
            {
                _w.Line("// the masks' seeds, one per sequence in sequence order: the masks do not depend on which thread draws them");
                _w.Line("if (_maskSeeds.Length < batchSize) _maskSeeds = new ulong[batchSize];");
                _w.Line("for (int b = 0; b < batchSize; b++) _maskSeeds[b] = _random.NextUInt64();");
            }
            _w.Line("if (_chunks > 1 && _chunkGradients == null) _chunkGradients = new global::LstmGen.AlignedBuffer(MaxChunks * ParameterCount);");
            _w.Line("int group = global::System.Math.Min(GroupSize, (batchSize + _chunks - 1) / _chunks); // the largest group a chunk runs");
            _w.Line("for (int w = 0; w < global::System.Math.Min(_workers.Threads, _chunks); w++) Buffer(w, group); // created here, so a worker thread never allocates");
            _w.Line("_workers.Run(this, _chunks, inputs, targets);");
            _w.Line("double total = 0;");
            _w.Line("for (int k = 0; k < _chunks; k++) total += _chunkLoss[k];");
            _w.Line("// the chunks' sums, added in chunk order (one chunk wrote into the gradients directly)");
            _w.Line("for (int k = 0; _chunks > 1 && k < _chunks; k++)");
            _w.Line($"    {Core}.Accumulate(gradients, _chunkGradients!.Span.Slice(k * ParameterCount, ParameterCount));");
            _w.Line("float loss = (float)(total / batchSize);");
            _w.Line($"{Core}.CheckLoss(loss);");
            _w.Line("// non-finite guard (names the tensor and index), then clipping by value and by global norm");
            _w.Line($"LastGradientNorm = {Core}.FinishGradients(gradients, Gradients, _clipNorm, _clipValue);");
            _w.Line("return loss;");
            _w.Close();
            _w.Line();
            EmitRunChunk();

            EmitSequence();
            _w.Close();
            _w.Line();
        }

        private void EmitRunChunk()
        {
            _w.Line("/// <summary>The buffer of worker <paramref name=\"worker\"/>, with room for <paramref name=\"streams\"/> sequences side by side; made anew only when it has less.</summary>");
            _w.Open("private global::LstmGen.AlignedBuffer Buffer(int worker, int streams)");
            _w.Line("var buffer = _buffers[worker];");
            _w.Line("if (buffer == null || buffer.Length < streams * TrainStride(_maxT)) _buffers[worker] = buffer = new global::LstmGen.AlignedBuffer(streams * TrainStride(_maxT));");
            _w.Line("return buffer;");
            _w.Close();
            _w.Line();
            _w.Line("/// <summary>Carried states for at least <paramref name=\"streams\"/> streams (new streams start from zero).</summary>");
            _w.Open("private void EnsureStreams(int streams)");
            _w.Line("if (_carried.Length >= streams) return;");
            _w.Line("int old = _carried.Length;");
            _w.Line("global::System.Array.Resize(ref _carried, streams);");
            _w.Line("for (int b = old; b < streams; b++) _carried[b] = _model.NewState();");
            _w.Close();
            _w.Line();
            _w.Line("/// <summary>");
            _w.Line("/// One chunk of the step's batch, on one worker's buffer: its sequences in order, their gradients summed into the chunk's");
            _w.Line("/// own sums (the trainer's gradients when the batch is one chunk), and its loss.");
            _w.Line("/// </summary>");
            _w.Open("void global::LstmGen.Training.IBatchChunks.RunChunk(int chunk, int worker, global::System.ReadOnlySpan<float> inputs, global::System.ReadOnlySpan<float> targets)");
            _w.Line("var buffer = _buffers[worker]!;");
            _w.Line("ref float tb = ref buffer.Reference;");
            _w.Line("int steps = _steps, targetRows = _targetRows, perStep = _perStep;");
            _w.Line("global::System.Span<float> gradients = _chunks == 1 ? Gradients.GetWritableValues() : _chunkGradients!.Span.Slice(chunk * ParameterCount, ParameterCount);");
            _w.Line("if (_chunks > 1) gradients.Clear();");
            _w.Line($"{MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref tb, TrainBias(0, _maxT)), {N(U * Cell.BiasDaRows * Hq)}).Clear();");
            if (CellRows > 0)
            {
                _w.Line($"// the cell's own rows ({Cell.PackedRowsTensor}), padded to TrainHq per row, and their gradient sums");
                _w.Line($"{MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref tb, Train{RowsName}(0, _maxT)), {N(2 * U * CellRows * Hq)}).Clear();");
                _w.Open($"for (int unit = 0; unit < {N(U)}; unit++)");
                _w.Line($"int offset = {_plan.UnitSwitch(u => _plan.UnitTensorOffset(Cell.PackedRowsTensor, u))};");
                _w.Line($"for (int gate = 0; gate < {N(CellRows)}; gate++)");
                _w.Line($"    _model._parameters.Values.Slice(offset + gate * HiddenSize, HiddenSize).CopyTo({MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref tb, Train{RowsName}(unit, _maxT) + gate * TrainHq), HiddenSize));");
                _w.Close();
            }
            _w.Line("int first = chunk * _batch / _chunks, end = (chunk + 1) * _batch / _chunks;");
            _w.Line("double total = 0;");
            _w.Line("int bs = TrainStride(_maxT);");
            _w.Open("for (int b = first; b < end; b += GroupSize)");
            _w.Line("int count = global::System.Math.Min(GroupSize, end - b);");
            _w.Line("Forward(ref tb, bs, b, count, inputs, steps);");
            _w.Open("for (int s = 0; s < count; s++)");
            _w.Line("var x = inputs.Slice((b + s) * steps * InputSize, steps * InputSize);");
            _w.Line("var t = targets.Slice((b + s) * targetRows * perStep, targetRows * perStep);");
            _w.Line($"total += Head(ref {Unsafe}.Add(ref tb, s * bs), x, t, steps, targetRows, _scale, gradients);");
            _w.Close();
            _w.Line("Backward(ref tb, bs, b, count, inputs, steps, gradients);");
            _w.Close();
            _w.Line("_chunkLoss[chunk] = total;");
            _w.Line("if (end == _batch) { _lastBuffer = buffer; _lastOffset = (end - 1 - first) % GroupSize * bs; }");
            EmitBiasCopy();
            _w.Close();
            _w.Line();
        }

        private void EmitBiasCopy()
        {
            if (_spec.Bias && Cell.RecurrentDaRow > 0)
            {
                _w.Line($"// ∂L/∂b_ih = Σ_t da_t and ∂L/∂b_hh = Σ_t da'_t (rows {N(Cell.RecurrentDaRow)}… of the sums): copy the padded per-gate sums into the two bias tensors");
                _w.Open($"for (int unit = 0; unit < {N(U)}; unit++)");
                _w.Line($"int bih = {_plan.UnitSwitch(u => _plan.UnitTensorOffset("bias_ih", u))};");
                _w.Line($"ref float db = ref {Unsafe}.Add(ref tb, TrainBias(unit, _maxT));");
                _w.Line($"for (int row = 0; row < {N(Cell.BiasDaRows)}; row++)");
                _w.Line($"    {MemoryMarshal}.CreateReadOnlySpan(ref {Unsafe}.Add(ref db, row * TrainHq), HiddenSize).CopyTo(gradients.Slice(bih + (row < {N(Cell.RecurrentDaRow)} ? row : {N(Cell.Gates)} + row - {N(Cell.RecurrentDaRow)}) * HiddenSize, HiddenSize));");
                _w.Close();
            }
            else if (_spec.Bias)
            {
                _w.Line("// ∂L/∂b_ih = ∂L/∂b_hh = Σ_t da_t: copy the padded per-gate sums into both bias tensors");
                _w.Open($"for (int unit = 0; unit < {N(U)}; unit++)");
                _w.Line($"int bih = {_plan.UnitSwitch(u => _plan.UnitTensorOffset("bias_ih", u))};");
                _w.Line($"ref float db = ref {Unsafe}.Add(ref tb, TrainBias(unit, _maxT));");
                _w.Line($"for (int gate = 0; gate < {N(Cell.Gates)}; gate++)");
                _w.Line("{");
                _w.Line($"    var sums = {MemoryMarshal}.CreateReadOnlySpan(ref {Unsafe}.Add(ref db, gate * TrainHq), HiddenSize);");
                _w.Line("    sums.CopyTo(gradients.Slice(bih + gate * HiddenSize, HiddenSize));");
                _w.Line($"    sums.CopyTo(gradients.Slice(bih + {N(Cell.Gates * H)} + gate * HiddenSize, HiddenSize));");
                _w.Line("}");
                _w.Close();
            }
            if (CellRows > 0)
            {
                _w.Line($"// ∂L/∂{Cell.PackedRowsTensor} from the padded sums");
                _w.Open($"for (int unit = 0; unit < {N(U)}; unit++)");
                _w.Line($"int offset = {_plan.UnitSwitch(u => _plan.UnitTensorOffset(Cell.PackedRowsTensor, u))};");
                _w.Line($"for (int gate = 0; gate < {N(CellRows)}; gate++)");
                _w.Line($"    {MemoryMarshal}.CreateReadOnlySpan(ref {Unsafe}.Add(ref tb, TrainD{RowsName}(unit, _maxT) + gate * TrainHq), HiddenSize).CopyTo(gradients.Slice(offset + gate * HiddenSize, HiddenSize));");
                _w.Close();
            }
        }

        private void EmitSequence()
        {
            _w.Line("/// <summary>The forward pass of sequences first … first + count − 1 side by side, each in its buffer at tb + s·bs.</summary>");
            _w.Open("private void Forward(ref float tb, int bs, int first, int count, global::System.ReadOnlySpan<float> inputs, int steps)");
            _w.Line(_plan.Reduced ? "ref float w = ref _packed.Reference;" : "ref float w = ref _model._packed.Reference;");
            _w.Line($"ref float x = ref {MemoryMarshal}.GetReference(inputs.Slice(first * steps * InputSize));");
            _w.Line("int maxT = _maxT, xSeq = steps * InputSize;");
            _w.Line($"for (int s = 0; s < count; s++) Prepare(ref {Unsafe}.Add(ref tb, s * bs), first + s);");
            EmitDispatch("TrainGroup(ref w, ref tb, bs, count, ref x, xSeq, steps, maxT);");
            _w.Close();
            _w.Line();
            _w.Line("/// <summary>The initial state of one sequence (zero, learned or carried) and its dropout masks, in its buffer.</summary>");
            _w.Open("private void Prepare(ref float tb, int sequence)");
            _w.Line("int maxT = _maxT;");
            var carried = Cell.Carried;
            _w.Line($"// {string.Join(" and ", new[] { "h" }.Concat(carried.Select(v => v.Symbol)).Select(v => v + "_0"))} of every layer{(D == 2 ? " and direction" : "")}: {(_plan.LearnInit ? "the learned initial state" : "zero")}, or the carried state");
            _w.Open($"for (int unit = 0; unit < {N(U)}; unit++)");
            _w.Line($"var h0 = {MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref tb, TrainHs(unit, maxT)), ProjectedSize);");
            foreach (var v in carried)
                _w.Line($"var {v.Symbol}0 = {MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref tb, Train{v.Pascal}s(unit, maxT)), HiddenSize);");
            _w.Line($"if (CarryState) {{ _carried[sequence].Hidden(unit / {N(D)}, unit % {N(D)}).CopyTo(h0);{string.Concat(carried.Select(v => $" _carried[sequence].{v.Accessor}(unit / {N(D)}, unit % {N(D)}).CopyTo({v.Symbol}0);"))} }}");
            if (_plan.LearnInit)
            {
                _w.Open("else");
                _w.Line($"int ih = {_plan.UnitSwitch(u => _plan.UnitTensorOffset("initial_h", u))};");
                foreach (var v in carried)
                    _w.Line($"int i{v.Symbol} = {_plan.UnitSwitch(u => _plan.UnitTensorOffset(v.Initial, u))};");
                _w.Line("_model._parameters.Values.Slice(ih, ProjectedSize).CopyTo(h0);");
                foreach (var v in carried)
                    _w.Line($"_model._parameters.Values.Slice(i{v.Symbol}, HiddenSize).CopyTo({v.Symbol}0);");
                _w.Close();
            }
            else
            {
                _w.Line($"else {{ h0.Clear();{string.Concat(carried.Select(v => $" {v.Symbol}0.Clear();"))} }}");
            }
            _w.Close();
            if (LayerDrop || RecDrop)
            {
                _w.Line("// dropout masks for this sequence: each value kept with probability 1 − p and then scaled by 1/(1 − p)");
                _w.Line("var random = new global::LstmGen.LstmRandom(_maskSeeds[sequence]);");
                if (LayerDrop)
                {
                    string pd = _plan.DropoutP.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
                    _w.Line($"FillMask({MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref tb, TrainDMask(0, maxT)), {N(L - 1)} * maxT * {N(Row)}), {pd}f, ref random);");
                }
                if (RecDrop)
                {
                    string pr = _plan.RecurrentDropoutP.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
                    _w.Line($"for (int unit = 0; unit < {N(U)}; unit++)");
                    _w.Line($"    FillMask({MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref tb, TrainRMask(unit, maxT)), ProjectedSize), {pr}f, ref random);");
                }
            }
            _w.Close();
            _w.Line();
            _w.Line("/// <summary>");
            _w.Line("/// The head of one sequence after its forward pass, its loss and the head's backward pass: adds the head's gradients");
            _w.Line("/// (scaled by <paramref name=\"scale\"/>), leaves ∂L/∂(top layer output) in the buffer for <see cref=\"Backward\"/> and returns the loss.");
            _w.Line("/// </summary>");
            _w.Open("private float Head(ref float tb, global::System.ReadOnlySpan<float> inputs, global::System.ReadOnlySpan<float> targets, int steps, int targetRows, float scale, global::System.Span<float> gradients)");
            _w.Line($"ref float x = ref {MemoryMarshal}.GetReference(inputs);");
            _w.Line("int maxT = _maxT;");
            _w.Line($"ref float p = ref {MemoryMarshal}.GetReference(_model._parameters.Values);");
            bool topOut = _plan.TrainHasOut(L - 1);
            string topStride = topOut ? N(Row) : "TrainHq";
            _w.Line($"// the head: z_t = W_fc·h_t + b_fc on the top layer's h_t{(HasHead ? "" : " (no head: z_t = h_t)")}");
            _w.Line(topOut
                ? $"ref float top = ref {Unsafe}.Add(ref tb, TrainOut({N(L - 1)}, maxT)); // [forward ; reverse] rows"
                : $"ref float top = ref {Unsafe}.Add(ref tb, TrainHs({N(L - 1)}, maxT) + TrainHq);");
            _w.Line($"ref float logits = ref {Unsafe}.Add(ref tb, TrainLogits(maxT));");
            if (HasHead)
            {
                _w.Line($"global::LstmGen.Training.TrainerCore.HeadForward(ref top, {topStride}, steps, ref p, HeadWeightOffset, HeadBiasOffset, {N(Row)}, OutputSize, ref logits);");
                if (_spec.Skip > 0)
                    _w.Line($"global::LstmGen.Training.TrainerCore.AddSkip(ref x, InputSize, steps, ref logits, OutputSize, {N(_spec.Skip)}); // the skip connection: no parameters, so no gradient");
            }
            else
            {
                _w.Open("for (int t = 0; t < steps; t++)");
                _w.Line($"ref float h = ref {Unsafe}.Add(ref top, t * {topStride});");
                _w.Line($"{MemoryMarshal}.CreateReadOnlySpan(ref h, OutputSize).CopyTo({MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref logits, t * OutputSize), OutputSize));");
                _w.Close();
            }
            _w.Line($"ref float dLogits = ref {Unsafe}.Add(ref tb, TrainDLogits(maxT));");
            string act = "global::LstmGen.OutputActivation." + OutputActivationValues.Names[_spec.OutputActivation];
            _w.Line($"float loss = global::LstmGen.Training.LossFunctions.Compute(_loss, {act}, {MemoryMarshal}.CreateReadOnlySpan(ref logits, steps * OutputSize), steps, OutputSize,");
            _w.Line($"    targets, targetRows, scale, {MemoryMarshal}.CreateSpan(ref dLogits, steps * OutputSize));");
            _w.Line();
            _w.Line($"// ∂L/∂h_t of the top layer{(HasHead ? " = W_fcᵀ·dz_t; and dW_fc += dz_t·h_tᵀ, db_fc += dz_t" : " = dz_t")}");
            _w.Line($"ref float dTop = ref {Unsafe}.Add(ref tb, TrainDh(0, maxT));");
            if (HasHead)
            {
                _w.Line($"global::LstmGen.Training.TrainerCore.HeadBackward(ref top, {topStride}, steps, ref p, gradients, HeadWeightOffset, HeadBiasOffset, {N(Row)}, OutputSize, ref dLogits, ref dTop, TrainDhStride);");
            }
            else
            {
                _w.Open("for (int t = 0; t < steps; t++)");
                _w.Line($"var dh = {MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref dTop, t * TrainDhStride), {N(Row)});");
                _w.Line($"{MemoryMarshal}.CreateReadOnlySpan(ref {Unsafe}.Add(ref dLogits, t * OutputSize), OutputSize).CopyTo(dh);");
                _w.Close();
            }

            _w.Line("return loss;");
            _w.Close();
            _w.Line();
            _w.Line("/// <summary>Back-propagation through time for sequences first … first + count − 1, whose forward passes are in the buffers at tb + s·bs; then their carried states.</summary>");
            _w.Open("private void Backward(ref float tb, int bs, int first, int count, global::System.ReadOnlySpan<float> inputs, int steps, global::System.Span<float> gradients)");
            _w.Line($"ref float p = ref {MemoryMarshal}.GetReference(_model._parameters.Values);");
            _w.Line($"ref float gr = ref {MemoryMarshal}.GetReference(gradients);");
            _w.Line($"ref float x = ref {MemoryMarshal}.GetReference(inputs.Slice(first * steps * InputSize));");
            _w.Line("int maxT = _maxT;");
            _w.Line("// BPTT, top layer first: the same code on every width (it reads the PyTorch-layout weights)");
            _w.Line($"global::LstmGen.Generated.{_plan.KernelHost}.BackwardGroup(ref p, ref gr, ref tb, bs, count, ref x, steps * InputSize, steps, maxT);");
            _w.Line("if (!CarryState) return;");
            _w.Open("for (int s = 0; s < count; s++)");
            _w.Line($"ref float tbs = ref {Unsafe}.Add(ref tb, s * bs);");
            _w.Open($"for (int unit = 0; unit < {N(U)}; unit++)");
            _w.Line($"{MemoryMarshal}.CreateReadOnlySpan(ref {Unsafe}.Add(ref tbs, TrainHs(unit, maxT) + steps * TrainHq), ProjectedSize).CopyTo(_carried[first + s].Hidden(unit / {N(D)}, unit % {N(D)}));");
            foreach (var v in Cell.Carried)
                _w.Line($"{MemoryMarshal}.CreateReadOnlySpan(ref {Unsafe}.Add(ref tbs, Train{v.Pascal}s(unit, maxT) + steps * TrainHq), HiddenSize).CopyTo(_carried[first + s].{v.Accessor}(unit / {N(D)}, unit % {N(D)}));");
            _w.Close();
            _w.Close();
            _w.Close();
            _w.Line();
            if (LayerDrop || RecDrop)
            {
                _w.Line("/// <summary>Fills <paramref name=\"mask\"/> with 0 (probability <paramref name=\"p\"/>) or 1/(1 − p).</summary>");
                _w.Open("private static void FillMask(global::System.Span<float> mask, float p, ref global::LstmGen.LstmRandom random)");
                _w.Line("float keep = 1f / (1f - p);");
                _w.Line("for (int k = 0; k < mask.Length; k++) mask[k] = random.NextDouble() < p ? 0f : keep;");
                _w.Close();
                _w.Line();
            }
            if (LayerDrop)
            {
                _w.Line("/// <summary>The dropout mask of the last sequence on layer <paramref name=\"layer\"/>'s output (0 or 1/(1 − p) per value; steps × " + N(Row) + ").</summary>");
                _w.Open("public global::System.ReadOnlySpan<float> DropoutMask(int layer, int steps)");
                _w.Line($"if ((uint)layer >= {N(L - 1)}) throw new global::System.ArgumentOutOfRangeException(nameof(layer), layer, \"Dropout applies to the output of layers 0 to NumLayers − 2.\");");
                _w.Line("if ((uint)steps > (uint)_maxT) throw new global::System.ArgumentOutOfRangeException(nameof(steps));");
                _w.Line($"return _lastBuffer.Span.Slice(_lastOffset + TrainDMask(layer, _maxT), steps * {N(Row)});");
                _w.Close();
                _w.Line();
            }
            if (RecDrop)
            {
                _w.Line("/// <summary>The recurrent dropout mask of the last sequence for one layer and direction (0 or 1/(1 − p) per value of h).</summary>");
                _w.Open("public global::System.ReadOnlySpan<float> RecurrentDropoutMask(int layer, int direction = 0)");
                _w.Line($"if ((uint)layer >= NumLayers || (uint)direction >= NumDirections) throw new global::System.ArgumentOutOfRangeException(nameof(layer));");
                _w.Line("return _lastBuffer.Span.Slice(_lastOffset + TrainRMask(layer * NumDirections + direction, _maxT), ProjectedSize);");
                _w.Close();
                _w.Line();
            }
        }
    }
}
