using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LstmGen.Generator.Model;

namespace LstmGen.Generator;

public sealed partial class LstmGenerator
{
    /// <summary>
    /// Emits the model class: constants, parameters (PyTorch order), state, the public API and the dispatch to one
    /// kernel class per vector width (<see cref="KernelEmitter"/>).
    /// </summary>
    internal sealed partial class Emitter
    {
        internal const string Unsafe = "global::System.Runtime.CompilerServices.Unsafe";
        internal const string MemoryMarshal = "global::System.Runtime.InteropServices.MemoryMarshal";
        internal const string Math = "global::LstmGen.LstmMath";
        private const string Span = "global::System.Span<float>";
        private const string ReadOnlySpan = "global::System.ReadOnlySpan<float>";

        private readonly LstmModelSpec _spec;
        private readonly SourceWriter _w = new();

        public Emitter(LstmModelSpec spec) => _spec = spec;

        private int I => _spec.InputSize;
        private int H => _spec.HiddenSize;
        private int L => _spec.NumLayers;
        private bool HasHead => _spec.OutputSize > 0;
        private int O => HasHead ? _spec.OutputSize : HeadInputs;

        /// <summary>Directions: 2 for a bidirectional model.</summary>
        internal int D => _spec.Bidirectional ? 2 : 1;
        internal bool Bidirectional => _spec.Bidirectional;
        /// <summary>The projection size (0 = none).</summary>
        internal int P => _spec.ProjSize;
        /// <summary>Values of h per direction: the projection size, or the hidden size.</summary>
        internal int Hp => P > 0 ? P : H;
        internal bool Peep => _spec.Peepholes;
        internal int Batch => _spec.BatchSize;
        internal bool LearnInit => _spec.LearnInitialState;
        internal float DropoutP => _spec.Dropout;
        /// <summary>The inference kernels' gate-weight storage (WeightStorageValues); training always packs float32.</summary>
        internal int Storage => _spec.WeightStorage;
        /// <summary>Whether inference reads reduced-precision gate weights (bf16 or int8) from its own packed layout.</summary>
        internal bool Reduced => Storage != WeightStorageValues.Float32;
        internal bool Int8 => Storage == WeightStorageValues.Int8;
        internal float RecurrentDropoutP => _spec.RecurrentDropout;
        /// <summary>Values a layer outputs per step (both directions): the next layer's input size and the head's.</summary>
        internal int HeadInputs => D * Hp;
        internal int OutputValues => O;

        /// <summary>Whether the trainer materializes layer k's output rows (both directions, or dropout before the next layer).</summary>
        internal bool TrainHasOut(int layer) => D == 2 || (DropoutP > 0 && layer < L - 1);

        internal int LayerPlanHidden => H;
        internal int TrainHq => Align16(H);
        internal int LayerCount => L;
        internal int UnitCount => L * D;
        internal bool HasBias => _spec.Bias;

        internal static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

        internal static int Align16(int value) => (value + 15) / 16 * 16;

        internal int LayerInputs(int layer) => layer == 0 ? I : D * Hp;
        internal int UnitInputs(int unit) => LayerInputs(unit / D);
        internal static string Suffix(int direction) => direction == 1 ? "_reverse" : "";
        internal string UnitName(int unit) => $"l{N(unit / D)}{Suffix(unit % D)}";

        /// <summary>How layer <paramref name="layer"/> is tiled for <paramref name="width"/>; batched models keep one block per tile.</summary>
        internal LayerPlan Plan(int layer, VectorWidth width) => new(LayerInputs(layer), Hp, H, width, Batch > 1 ? 1 : 4);

        /// <summary>The distinct input sizes of the layers (layer 0, and the layers above when there are any).</summary>
        internal IEnumerable<int> LayerShapes() => Enumerable.Range(0, L).Select(LayerInputs).Distinct();

        // ---- State layout (floats; every region starts on a 64-byte boundary) ----
        // Per stream, per unit u = (layer, direction): z_u = [x ; h_u] (the kernel's column input; h_u 64-byte aligned), c_u;
        // then h_new and m scratch. After all streams: the chunk's G rows and two ping-pong buffers of layer outputs.
        internal int PaddedHidden16 => Align16(H);
        private int RegionStart(int unit) => Enumerable.Range(0, unit).Sum(u => Align16(UnitInputs(u)) + 2 * PaddedHidden16);
        internal int StateH(int unit) => RegionStart(unit) + Align16(UnitInputs(unit));
        internal int StateZ(int unit) => StateH(unit) - UnitInputs(unit);
        internal int StateC(int unit) => StateH(unit) + PaddedHidden16;
        internal int StateHNew => RegionStart(UnitCount);
        internal int StateM => StateHNew + PaddedHidden16;
        internal int StreamStride => StateM + PaddedHidden16;
        internal int StateG => Batch * StreamStride;
        internal int ChunkLength => System.Math.Max(4, System.Math.Min(64, 16384 / (4 * PaddedHidden16) / 4 * 4));
        internal int StateSeqA => StateG + ChunkLength * 4 * PaddedHidden16;
        internal int StateSeqB => StateSeqA + Align16(ChunkLength * Hp);
        internal int StateLength => StateSeqB + Align16(ChunkLength * Hp);
        internal string StateSeqName(int layer) => layer % 2 == 0 ? "StateSeqA" : "StateSeqB";

        // ---- Parameters (PyTorch order: per layer, per direction) ----
        private List<(string Name, int Rows, int Columns)>? _tensors;

        internal List<(string Name, int Rows, int Columns)> Tensors()
        {
            if (_tensors is not null) return _tensors;
            var list = new List<(string, int, int)>();
            for (int k = 0; k < L; k++)
            {
                for (int d = 0; d < D; d++)
                {
                    string s = N(k) + Suffix(d);
                    list.Add(($"weight_ih_l{s}", 4 * H, LayerInputs(k)));
                    list.Add(($"weight_hh_l{s}", 4 * H, Hp));
                    if (_spec.Bias)
                    {
                        list.Add(($"bias_ih_l{s}", 4 * H, 0));
                        list.Add(($"bias_hh_l{s}", 4 * H, 0));
                    }
                    if (P > 0) list.Add(($"weight_hr_l{s}", P, H));
                    if (Peep) list.Add(($"weight_ph_l{s}", 3 * H, 0));
                    if (LearnInit)
                    {
                        list.Add(($"initial_h_l{s}", Hp, 0));
                        list.Add(($"initial_c_l{s}", H, 0));
                    }
                }
            }
            if (HasHead)
            {
                list.Add(("fc.weight", _spec.OutputSize, HeadInputs));
                list.Add(("fc.bias", _spec.OutputSize, 0));
            }
            return _tensors = list;
        }

        private static int Length((string Name, int Rows, int Columns) t) => t.Rows * System.Math.Max(1, t.Columns);

        /// <summary>Position of the tensor named <paramref name="name"/> in PyTorch order.</summary>
        internal int TensorIndex(string name) => Tensors().FindIndex(t => t.Name == name);

        /// <summary>Offset of the tensor named <paramref name="name"/> in the flat parameter array.</summary>
        internal int TensorOffset(string name) => Tensors().Take(TensorIndex(name)).Sum(Length);

        /// <summary>Offset of unit <paramref name="unit"/>'s tensor of kind <paramref name="kind"/> (e.g. "weight_ih").</summary>
        internal int UnitTensorOffset(string kind, int unit) => TensorOffset(kind + "_" + UnitName(unit));
        internal int UnitTensorIndex(string kind, int unit) => TensorIndex(kind + "_" + UnitName(unit));

        /// <summary>A C# switch expression on the emitted variable <c>unit</c> giving <paramref name="value"/> of each unit.</summary>
        internal string UnitSwitch(Func<int, int> value) =>
            $"unit switch {{ {string.Join(", ", Enumerable.Range(0, UnitCount).Select(u => $"{N(u)} => {N(value(u))}"))}, _ => 0 }}";

        private int LstmParameterCount => Tensors().Where(t => !t.Name.StartsWith("fc.", StringComparison.Ordinal)).Sum(Length);
        private int ParameterCount => Tensors().Sum(Length);

        public string Emit()
        {
            _w.Line("// <auto-generated/>");
            _w.Line("// Generated by LstmGen from [LstmModel] on " + _spec.ClassName + ". Do not edit: change the attribute instead.");
            _w.Line("#nullable enable");
            _w.Line("#pragma warning disable CS1591");
            _w.Line();
            if (_spec.Namespace is not null) _w.Open("namespace " + _spec.Namespace);

            var extras = new List<string>();
            if (Bidirectional) extras.Add("bidirectional");
            if (P > 0) extras.Add($"projection to {N(P)}");
            if (Peep) extras.Add("peepholes");
            if (DropoutP > 0) extras.Add($"dropout {DropoutP.ToString("R", CultureInfo.InvariantCulture)} between layers");
            if (RecurrentDropoutP > 0) extras.Add($"recurrent dropout {RecurrentDropoutP.ToString("R", CultureInfo.InvariantCulture)}");
            if (LearnInit) extras.Add("learned initial state");
            if (Batch > 1) extras.Add($"{N(Batch)} streams per step");
            _w.Line("/// <summary>");
            _w.Line($"/// LSTM with input size {N(I)}, hidden size {N(H)}, {N(L)} layer(s){(_spec.Bias ? "" : ", no bias")}" +
                    (extras.Count > 0 ? ", " + string.Join(", ", extras) : "") +
                    (HasHead ? $" and a dense head of {N(_spec.OutputSize)} output(s) ({OutputActivationValues.Names[_spec.OutputActivation]})" : "") +
                    ", generated by LstmGen with PyTorch semantics.");
            _w.Line("/// </summary>");
            _w.Line("/// <remarks>");
            _w.Line("/// A model instance can be shared by many threads for inference as long as each thread steps its own <see cref=\"State\"/>;");
            _w.Line("/// writes to <see cref=\"Parameters\"/> must not race with a step.");
            _w.Line("/// </remarks>");
            _w.Open($"partial class {_spec.ClassName} : global::LstmGen.ILstmModel<{_spec.ClassName}.State>");
            EmitConstants();
            EmitFields();
            EmitConstructor();
            EmitCompiledWeights();
            EmitApi();
            EmitHead();
            EmitPacking();
            EmitState();
            new TrainerEmitter(this, _w, _spec).Emit();
            foreach (var width in VectorWidth.All)
                new KernelEmitter(this, _w, width).Emit();
            _w.Close();

            if (_spec.Namespace is not null) _w.Close();
            return _w.ToString();
        }

        private void EmitConstants()
        {
            _w.Line("/// <summary>Features per input step (<c>input_size</c>).</summary>");
            _w.Line($"public const int InputSize = {N(I)};");
            _w.Line("/// <summary>Features in each layer's cell state (<c>hidden_size</c>).</summary>");
            _w.Line($"public const int HiddenSize = {N(H)};");
            _w.Line("/// <summary>Stacked layers (<c>num_layers</c>).</summary>");
            _w.Line($"public const int NumLayers = {N(L)};");
            _w.Line("/// <summary>Directions: 2 for a bidirectional model, else 1.</summary>");
            _w.Line($"public const int NumDirections = {N(D)};");
            _w.Line("/// <summary>Values of h per layer and direction: <c>proj_size</c> if there is a projection, else <c>hidden_size</c>.</summary>");
            _w.Line($"public const int ProjectedSize = {N(Hp)};");
            _w.Line("/// <summary>Independent streams per call of Step and Forward.</summary>");
            _w.Line($"public const int BatchSize = {N(Batch)};");
            _w.Line(HasHead
                ? "/// <summary>Values produced per step and stream: the outputs of the dense head.</summary>"
                : "/// <summary>Values produced per step and stream: the last layer's h (both directions, concatenated), as there is no dense head.</summary>");
            _w.Line($"public const int OutputSize = {N(O)};");
            _w.Line("/// <summary>Number of parameters; equals <c>sum(p.numel() for p in model.parameters())</c> of the same torch.nn.LSTM" + (HasHead ? " + torch.nn.Linear" : "") + (Peep || LearnInit ? ", plus the peephole and initial-state tensors PyTorch does not have" : "") + ".</summary>");
            _w.Line($"public const int ParameterCount = {N(ParameterCount)};");
            _w.Line();
            _w.Line("// State layout, in floats; every region starts on a 64-byte boundary. Offsets within one stream's block.");
            for (int u = 0; u < UnitCount; u++)
            {
                _w.Line($"private const int StateZ{u} = {N(StateZ(u))}; // z = [x ; h] of layer {N(u / D)}{(D == 2 ? (u % D == 0 ? " forward" : " reverse") : "")} (h 64-byte aligned)");
                _w.Line($"private const int StateC{u} = {N(StateC(u))}; // its c");
            }
            _w.Line($"private const int StateHNew = {N(StateHNew)}; // h_t of the layer being stepped, before it replaces h_(t-1)");
            _w.Line($"private const int StateM = {N(StateM)}; // m_t = o ⊙ tanh(c_t) before the projection");
            _w.Line($"private const int StreamStride = {N(StreamStride)}; // floats per stream");
            _w.Line($"private const int StateG = {N(StateG)}; // whole-sequence mode: W_ih·x_t + b for each step of a chunk");
            _w.Line($"private const int StateSeqA = {N(StateSeqA)}; // whole-sequence mode: outputs of layers 0, 2, ... for a chunk");
            _w.Line($"private const int StateSeqB = {N(StateSeqB)}; // whole-sequence mode: outputs of layers 1, 3, ... for a chunk");
            _w.Line($"private const int StateLength = {N(StateLength)};");
            _w.Line($"private const int ChunkLength = {N(ChunkLength)}; // steps per chunk in whole-sequence mode (G stays within 64 KiB)");
            _w.Line($"private const int PackedLength = {N(VectorWidth.All.Max(w => PackedLength(w, Reduced)))};{(Reduced ? $" // the {WeightStorageValues.Names[Storage]} inference copy" : "")}");
            if (Reduced)
                _w.Line($"private const int PackedTrainingLength = {N(VectorWidth.All.Max(w => PackedLength(w, false)))}; // the trainer's float32 copy");
            if (HasHead)
            {
                _w.Line($"private const int HeadWeightOffset = {N(TensorOffset("fc.weight"))};");
                _w.Line($"private const int HeadBiasOffset = {N(TensorOffset("fc.bias"))};");
            }
            _w.Line();
        }

        // ---- Packed layout per width: per unit, weights, summed bias, then (optional) int8 scales, peepholes and projection.
        // The reduced layout (bf16/int8 models' inference copy) stores the gate weights in 2 or 1 bytes; everything else is float32.
        internal int PackedPeepLength(VectorWidth width, int unit) => Peep ? Align16(3 * Plan(unit / D, width).PaddedHidden) : 0;
        internal int PaddedProjection(VectorWidth width) => (P + width.Lanes - 1) / width.Lanes * width.Lanes;
        internal int PackedProjLength(VectorWidth width) => P > 0 ? Align16(H * PaddedProjection(width)) : 0;

        /// <summary>Floats the packed gate weights of a plan take: 4-byte floats, or bf16/int8 bytes counted in floats.</summary>
        internal int PackedWeightFloats(LayerPlan plan, bool reduced) => reduced ? plan.WeightLength * WeightStorageValues.Bytes(Storage) / 4 : plan.WeightLength;
        internal int PackedScaleLength(VectorWidth width, int unit, bool reduced) => reduced && Int8 ? Align16(3 * Plan(unit / D, width).BiasLength) : 0;

        private int PackedUnitLength(VectorWidth width, int unit, bool reduced)
        {
            var plan = Plan(unit / D, width);
            return Align16(PackedWeightFloats(plan, reduced)) + Align16(plan.BiasLength) + PackedScaleLength(width, unit, reduced) + PackedPeepLength(width, unit) + PackedProjLength(width);
        }

        internal int PackedWeightOffset(VectorWidth width, int unit, bool reduced = false) => Enumerable.Range(0, unit).Sum(u => PackedUnitLength(width, u, reduced));
        internal int PackedBiasOffset(VectorWidth width, int unit, bool reduced = false) => PackedWeightOffset(width, unit, reduced) + Align16(PackedWeightFloats(Plan(unit / D, width), reduced));
        internal int PackedScaleOffset(VectorWidth width, int unit, bool reduced = false) => PackedBiasOffset(width, unit, reduced) + Align16(Plan(unit / D, width).BiasLength);
        internal int PackedPeepOffset(VectorWidth width, int unit, bool reduced = false) => PackedScaleOffset(width, unit, reduced) + PackedScaleLength(width, unit, reduced);
        internal int PackedProjOffset(VectorWidth width, int unit, bool reduced = false) => PackedPeepOffset(width, unit, reduced) + PackedPeepLength(width, unit);

        private int PackedLength(VectorWidth width, bool reduced) => PackedWeightOffset(width, UnitCount, reduced);

        private void EmitFields()
        {
            _w.Line("private readonly global::LstmGen.LstmParameters _parameters;");
            _w.Line("private readonly global::LstmGen.AlignedBuffer _packed = new global::LstmGen.AlignedBuffer(PackedLength);");
            _w.Line("private int _packedVersion = -1;");
            _w.Line();
        }

        private void EmitConstructor()
        {
            var tensors = Tensors();
            _w.Line("/// <summary>");
            _w.Line("/// Creates the model with PyTorch's default initialisation, U(-1/√H, 1/√H) for every LSTM parameter and");
            _w.Line("/// U(-1/√in, 1/√in) for the dense head, drawn from a deterministic generator seeded by <paramref name=\"seed\"/>" + (LearnInit ? "; learned initial states start at zero" : "") + ".");
            _w.Line("/// All memory the model needs is allocated here.");
            _w.Line("/// </summary>");
            _w.Open($"public {_spec.ClassName}(int seed{(_spec.CompiledWeights.Count > 0 ? "" : " = 0")}) : this(NewParameters())");   // with compiled-in weights, new Model() loads them
            _w.Line("var random = new global::LstmGen.LstmRandom((ulong)(uint)seed);");
            _w.Line($"{Span} values = _parameters.GetWritableValues();");
            _w.Line($"random.FillUniform(values.Slice(0, {N(LstmParameterCount)}), 1f / global::System.MathF.Sqrt({N(H)}f));");
            if (LearnInit)
            {
                for (int u = 0; u < UnitCount; u++)
                {
                    _w.Line($"values.Slice({N(UnitTensorOffset("initial_h", u))}, {N(Hp)}).Clear();");
                    _w.Line($"values.Slice({N(UnitTensorOffset("initial_c", u))}, {N(H)}).Clear();");
                }
            }
            if (HasHead)
                _w.Line($"random.FillUniform(values.Slice(HeadWeightOffset), 1f / global::System.MathF.Sqrt({N(HeadInputs)}f));");
            _w.Close();
            _w.Line();
            _w.Line("private " + _spec.ClassName + "(global::LstmGen.LstmParameters parameters) => _parameters = parameters;");
            _w.Line();
            _w.Line("/// <summary>Zeroed parameters with this model's tensors, in PyTorch order.</summary>");
            _w.Open("private static global::LstmGen.LstmParameters NewParameters()");
            _w.Line("global::System.ReadOnlySpan<(string Name, int Rows, int Columns)> tensors = new (string, int, int)[]");
            _w.Line("{");
            foreach (var (name, rows, cols) in tensors)
                _w.Line($"    (\"{name}\", {N(rows)}, {N(cols)}),");
            _w.Line("};");
            _w.Line("return new global::LstmGen.LstmParameters(tensors);");
            _w.Close();
            _w.Line();
        }

        private void EmitApi()
        {
            _w.Line("/// <summary>");
            _w.Line("/// The parameters in PyTorch order and layout (<c>weight_ih_l0</c>, <c>weight_hh_l0</c>, <c>bias_ih_l0</c>, <c>bias_hh_l0</c>, ...,");
            _w.Line("/// then <c>fc.weight</c>, <c>fc.bias</c>), with a named view of each tensor. Writes take effect on the next step.");
            _w.Line("/// </summary>");
            _w.Line("public global::LstmGen.LstmParameters Parameters => _parameters;");
            _w.Line();
            _w.Line("/// <summary>Replaces every parameter with <paramref name=\"values\"/>, in PyTorch order (see <see cref=\"Parameters\"/>).</summary>");
            _w.Line($"public void LoadParameters({ReadOnlySpan} values) => _parameters.CopyFrom(values);");
            _w.Line();
            _w.Line($"/// <summary>A new state (h and c of every layer{(D == 2 ? " and direction" : "")}{(Batch > 1 ? " for each stream" : "")}, {(LearnInit ? "the learned initial values" : "zero")}), with its scratch space. Keep one per stream{(Batch > 1 ? " group" : "")}.</summary>");
            _w.Line("public State NewState() => new State(this);");
            _w.Line();
            _w.Line("/// <summary>Name of the kernel path this process runs: Vector512, Vector256, Vector128 or Scalar.</summary>");
            _w.Line("public static string KernelPath =>");
            _w.Line("    global::System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? \"Vector512\" :");
            _w.Line("    global::System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? \"Vector256\" :");
            _w.Line("    global::System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? \"Vector128\" : \"Scalar\";");
            _w.Line();
            EmitStepApi();
            EmitForwardApi();
            _w.Line("[global::System.Diagnostics.CodeAnalysis.DoesNotReturn]");
            _w.Line("private static void ThrowLength(string name, int actual, int expected, string what) =>");
            _w.Line($"    throw new global::System.ArgumentException($\"{{name}} has length {{actual}}; {_spec.ClassName} expects {{expected}} values ({{what}}).\", name);");
            _w.Line();
        }

        private void EmitStepApi()
        {
            string batchNote = Batch > 1 ? " for each of the BatchSize streams" : "";
            _w.Line("/// <summary>");
            _w.Line($"/// Advances <paramref name=\"state\"/> by one time step{batchNote} with input <paramref name=\"x\"/> and writes the step's output");
            _w.Line("/// to <paramref name=\"y\"/>. Allocation-free.");
            _w.Line("/// </summary>");
            _w.Line(Batch > 1
                ? "/// <param name=\"x\">The inputs, stream after stream: BatchSize·<see cref=\"InputSize\"/> values.</param>"
                : "/// <param name=\"x\">The input, <see cref=\"InputSize\"/> values.</param>");
            _w.Line("/// <param name=\"state\">The stream's state; updated in place.</param>");
            _w.Line(Batch > 1
                ? "/// <param name=\"y\">Receives BatchSize·<see cref=\"OutputSize\"/> values, stream after stream.</param>"
                : "/// <param name=\"y\">Receives <see cref=\"OutputSize\"/> values.</param>");
            _w.Line("/// <exception cref=\"global::System.ArgumentException\">A span has the wrong length.</exception>");
            if (Bidirectional)
            {
                // A reverse direction needs the whole sequence before its first output: there is no streaming step.
                string message = $"{_spec.ClassName} is bidirectional: its reverse direction starts from the end of the sequence, so no output exists until the whole sequence is known. Call Forward with the whole sequence, or remove Bidirectional to stream step by step.";
                _w.Line($"[global::System.Obsolete(\"{message}\", error: true, DiagnosticId = \"{DiagnosticDescriptors.StepOnBidirectionalId}\")]");
                _w.Line($"public void Step({ReadOnlySpan} x, State state, {Span} y) => throw new global::System.NotSupportedException(\"{message}\");");
                _w.Line();
                _w.Line($"void global::LstmGen.ILstmModel<State>.Step({ReadOnlySpan} x, State state, {Span} y) => throw new global::System.NotSupportedException(\"{message}\");");
                _w.Line();
                return;
            }
            _w.Open($"public void Step({ReadOnlySpan} x, State state, {Span} y)");
            _w.Line("global::System.ArgumentNullException.ThrowIfNull(state);");
            _w.Line($"if (x.Length != {(Batch > 1 ? "BatchSize * " : "")}InputSize) ThrowLength(nameof(x), x.Length, {(Batch > 1 ? "BatchSize * " : "")}InputSize, \"{(Batch > 1 ? "BatchSize·" : "")}InputSize\");");
            _w.Line($"if (y.Length != {(Batch > 1 ? "BatchSize * " : "")}OutputSize) ThrowLength(nameof(y), y.Length, {(Batch > 1 ? "BatchSize * " : "")}OutputSize, \"{(Batch > 1 ? "BatchSize·" : "")}OutputSize\");");
            _w.Line("EnsurePacked();");
            _w.Line("ref float s = ref state.Buffer.Reference;");
            _w.Line("ref float w = ref _packed.Reference;");
            if (Batch > 1)
            {
                _w.Line("for (int b = 0; b < BatchSize; b++)");
                _w.Line($"    x.Slice(b * InputSize, InputSize).CopyTo({MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref s, b * StreamStride + StateZ0), InputSize));");
                EmitDispatch("Step(ref w, ref s);");
                _w.Line("for (int b = 0; b < BatchSize; b++)");
                _w.Line($"    Head(ref {Unsafe}.Add(ref s, b * StreamStride + StateZ{UnitCount - 1} + {N(LayerInputs(L - 1))}), y.Slice(b * OutputSize, OutputSize));");
            }
            else
            {
                _w.Line($"x.CopyTo({MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref s, StateZ0), InputSize));");
                EmitDispatch("Step(ref w, ref s);");
                _w.Line($"Head(ref {Unsafe}.Add(ref s, StateZ{UnitCount - 1} + {N(LayerInputs(L - 1))}), y);");
            }
            _w.Close();
            _w.Line();
        }

        private void EmitForwardApi()
        {
            string perStream = Batch > 1 ? "BatchSize·" : "";
            _w.Line("/// <summary>");
            _w.Line("/// Runs a whole sequence from <paramref name=\"state\"/> and leaves the final h and c in it" + (D == 2 ? " (PyTorch's h_n and c_n: the forward direction's at the last step, the reverse direction's at the first)" : "") + ".");
            _w.Line(D == 2
                ? "/// Each layer runs forward over the whole sequence, then backward; the first call with a longer sequence than before grows the state's sequence buffer (see <see cref=\"NewState\"/>), later calls allocate nothing."
                : "/// The input projection W_ih·x_t is computed for a chunk of steps at once, ahead of the recurrence. Allocation-free.");
            _w.Line("/// </summary>");
            _w.Line($"/// <param name=\"xs\">{(Batch > 1 ? "BatchSize sequences one after another (batch-first), each " : "")}T steps of input, time-major: {perStream}T·<see cref=\"InputSize\"/> values, T ≥ 1.</param>");
            _w.Line("/// <param name=\"state\">The stream's state; updated in place.</param>");
            _w.Line($"/// <param name=\"ys\">Receives every step's output ({perStream}T·<see cref=\"OutputSize\"/> values, Keras return_sequences) or only the last step's ({perStream}<see cref=\"OutputSize\"/> values).</param>");
            _w.Line("/// <exception cref=\"global::System.ArgumentException\">A span has the wrong length.</exception>");
            _w.Open($"public void Forward({ReadOnlySpan} xs, State state, {Span} ys)");
            _w.Line("global::System.ArgumentNullException.ThrowIfNull(state);");
            _w.Line("const int PerCall = BatchSize * InputSize;");
            _w.Line("if (xs.Length == 0 || xs.Length % PerCall != 0)");
            _w.Line($"    throw new global::System.ArgumentException($\"xs has length {{xs.Length}}; {_spec.ClassName}.Forward expects {perStream}T·InputSize values (InputSize = {N(I)}{(Batch > 1 ? $", BatchSize = {N(Batch)}" : "")}, T ≥ 1).\", nameof(xs));");
            _w.Line("int steps = xs.Length / PerCall;");
            _w.Line("bool everyStep = ys.Length == BatchSize * steps * OutputSize;");
            _w.Line("if (!everyStep && ys.Length != BatchSize * OutputSize)");
            _w.Line($"    throw new global::System.ArgumentException($\"ys has length {{ys.Length}}; {_spec.ClassName}.Forward expects {{BatchSize * steps * OutputSize}} values (every step: {perStream}T·OutputSize) or {{BatchSize * OutputSize}} (the last step only).\", nameof(ys));");
            _w.Line("EnsurePacked();");
            if (D == 2) _w.Line("state.EnsureSequence(steps);");
            _w.Line("int rows = everyStep ? steps : 1;");
            _w.Line("for (int b = 0; b < BatchSize; b++)");
            _w.Line("    ForwardStream(xs.Slice(b * steps * InputSize, steps * InputSize), state, b, steps, ys.Slice(b * rows * OutputSize, rows * OutputSize), everyStep);");
            _w.Close();
            _w.Line();

            _w.Open($"private void ForwardStream({ReadOnlySpan} xs, State state, int stream, int steps, {Span} ys, bool everyStep)");
            _w.Line("ref float shared = ref state.Buffer.Reference;");
            _w.Line($"ref float s = ref {Unsafe}.Add(ref shared, stream * StreamStride);");
            _w.Line("ref float w = ref _packed.Reference;");
            _w.Line($"ref float x0 = ref {MemoryMarshal}.GetReference(xs);");
            if (D == 2)
            {
                _w.Line("ref float seq = ref state.Sequence.Reference;");
                EmitDispatch("ForwardBidirectional(ref w, ref s, ref shared, ref x0, steps, ref seq);");
                _w.Line($"ref float top = ref {Unsafe}.Add(ref seq, {(L - 1) % 2} * steps * {N(HeadInputs)}); // the last layer's outputs, [forward ; reverse] per step");
                EmitHeads("top", HeadInputs, "steps", "0", lastOnly: "else");
            }
            else
            {
                _w.Open("for (int t0 = 0; t0 < steps; t0 += ChunkLength)");
                _w.Line("int n = global::System.Math.Min(ChunkLength, steps - t0);");
                _w.Line($"ref float xc = ref {Unsafe}.Add(ref x0, t0 * InputSize);");
                EmitDispatch("ForwardChunk(ref w, ref s, ref shared, ref xc, n);");
                _w.Line($"ref float hs = ref {Unsafe}.Add(ref shared, {StateSeqName(L - 1)}); // the last layer's h_t for each step of the chunk");
                EmitHeads("hs", Hp, "n", "t0", lastOnly: "else if (t0 + n == steps)");
                _w.Close();
            }
            _w.Close();
            _w.Line();
        }

        /// <summary>
        /// The head on <paramref name="count"/> rows of layer output (<paramref name="stride"/> floats apart) starting at
        /// step <paramref name="first"/>: into every row of ys, or, under <paramref name="lastOnly"/>, the last row into ys.
        /// </summary>
        private void EmitHeads(string rows, int stride, string count, string first, string lastOnly)
        {
            string row = first == "0" ? "t" : $"({first} + t)";
            _w.Line("if (everyStep)");
            _w.Line("{");
            _w.Line($"    for (int t = 0; t < {count}; t++)");
            _w.Line($"        Head(ref {Unsafe}.Add(ref {rows}, t * {N(stride)}), ys.Slice({row} * OutputSize, OutputSize));");
            _w.Line("}");
            _w.Line(lastOnly);
            _w.Line("{");
            _w.Line($"    Head(ref {Unsafe}.Add(ref {rows}, ({count} - 1) * {N(stride)}), ys);");
            _w.Line("}");
        }

        private void EmitDispatch(string call) => EmitDispatch(_w, call);

        /// <summary>Calls <paramref name="call"/> on the widest kernel class the hardware accelerates.</summary>
        internal static void EmitDispatch(SourceWriter w, string call)
        {
            // Each condition is a JIT/AOT-time constant, so only one branch survives compilation.
            for (int k = 0; k < VectorWidth.All.Length; k++)
            {
                var width = VectorWidth.All[k];
                if (width.IsScalar)
                    w.Line($"else {width.ClassName}.{call}");
                else
                    w.Line($"{(k == 0 ? "if" : "else if")} ({width.IsAcceleratedCondition}) {width.ClassName}.{call}");
            }
        }

        private void EmitHead()
        {
            _w.Line(HasHead
                ? "/// <summary>y = act(W_fc·h + b_fc): the dense head, on one step's last-layer h.</summary>"
                : "/// <summary>y = h: without a dense head the output is the last layer's hidden state.</summary>");
            _w.Open($"private void Head(ref float h, {Span} y)");
            if (HasHead)
            {
                _w.Line($"ref float weights = ref {MemoryMarshal}.GetReference(_parameters.Values);");
                _w.Line("for (int o = 0; o < OutputSize; o++)");
                _w.Line($"    y[o] = {Math}.Dot(ref {Unsafe}.Add(ref weights, HeadWeightOffset + o * {N(HeadInputs)}), ref h, {N(HeadInputs)}) + {Unsafe}.Add(ref weights, HeadBiasOffset + o);");
                if (_spec.OutputActivation != OutputActivationValues.None)
                    _w.Line($"{Math}.ApplyActivation(global::LstmGen.OutputActivation.{OutputActivationValues.Names[_spec.OutputActivation]}, y);");
            }
            else
            {
                _w.Line($"{MemoryMarshal}.CreateReadOnlySpan(ref h, OutputSize).CopyTo(y);");
            }
            _w.Close();
            _w.Line();
        }

        private void EmitPacking()
        {
            _w.Line("/// <summary>Repacks the kernels' copy of the weights if the parameters changed since the last pack.</summary>");
            _w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            _w.Open("private void EnsurePacked()");
            _w.Line("if (_packedVersion != _parameters.Version) Repack();");
            _w.Close();
            _w.Line();
            _w.Open("private void Repack()");
            _w.Line("int version = _parameters.Version;");
            _w.Line("var tensors = _parameters.Tensors;");
            _w.Line($"{Span} packed = _packed.Span;");
            EmitDispatch("Pack(tensors, packed);");
            _w.Line("_packedVersion = version;");
            _w.Close();
            _w.Line();
            if (Reduced)
            {
                _w.Line("/// <summary>Packs the float32 master parameters in the training kernels' layout (the inference copy is " + WeightStorageValues.Names[Storage] + ").</summary>");
                _w.Open($"internal void PackTraining({Span} packed)");
                _w.Line("var tensors = _parameters.Tensors;");
                EmitDispatch("PackTraining(tensors, packed);");
                _w.Close();
                _w.Line();
            }
        }

        private void EmitState()
        {
            string where = (D == 2 ? "layer and direction" : "layer") + (Batch > 1 ? ", for each stream" : "");
            _w.Line("/// <summary>");
            _w.Line($"/// The recurrent state: h and c of every {where} ({(LearnInit ? "the learned initial values" : "zero")} when new), plus the scratch space the kernels use,");
            _w.Line("/// 64-byte aligned. Equivalent to PyTorch's <c>(h_n, c_n)</c>.");
            _w.Line("/// </summary>");
            _w.Open("public sealed class State : global::LstmGen.ILstmState");
            _w.Line("internal readonly global::LstmGen.AlignedBuffer Buffer = new global::LstmGen.AlignedBuffer(StateLength);");
            _w.Line($"private readonly {_spec.ClassName}? _model;");
            if (D == 2)
                _w.Line("internal global::LstmGen.AlignedBuffer Sequence = new global::LstmGen.AlignedBuffer(16);");
            _w.Line();
            _w.Line($"/// <summary>A {(LearnInit ? "zero " : "")}state not tied to a model instance{(LearnInit ? " (Reset gives zeros, not the learned initial state: use the model's NewState)" : "")}.</summary>");
            _w.Line("public State() { }");
            _w.Line();
            _w.Open($"internal State({_spec.ClassName} model)");
            _w.Line("_model = model;");
            _w.Line("Reset();");
            _w.Close();
            _w.Line();
            if (D == 2)
            {
                _w.Line("/// <summary>Makes room for whole-sequence runs of up to <paramref name=\"maxSequenceLength\"/> steps now, so Forward never allocates.</summary>");
                _w.Open("public void EnsureSequence(int maxSequenceLength)");
                _w.Line($"long needed = 2L * maxSequenceLength * {N(HeadInputs)};");
                _w.Line("if (needed > Sequence.Length) Sequence = new global::LstmGen.AlignedBuffer(checked((int)needed));");
                _w.Close();
                _w.Line();
            }
            string args = "int layer, int direction = 0, int stream = 0";
            _w.Line($"/// <summary>h of <paramref name=\"layer\"/>{(D == 2 ? ", <paramref name=\"direction\"/> (0 forward, 1 reverse)" : "")}{(Batch > 1 ? " and <paramref name=\"stream\"/>" : "")} (<see cref=\"ProjectedSize\"/> values); writable, to give an initial state.</summary>");
            _w.Line($"public {Span} Hidden(int layer) => Hidden(layer, 0, 0);");
            _w.Line();
            _w.Line($"/// <summary>h of one layer, direction and stream (<see cref=\"ProjectedSize\"/> values); writable.</summary>");
            _w.Open($"public {Span} Hidden({args})");
            _w.Line("return Buffer.Span.Slice(stream * StreamStride + UnitH(Unit(layer, direction, stream)), ProjectedSize);");
            _w.Close();
            _w.Line();
            _w.Line("/// <summary>c of <paramref name=\"layer\"/> (<see cref=\"HiddenSize\"/> values); writable, to give an initial state.</summary>");
            _w.Line($"public {Span} Cell(int layer) => Cell(layer, 0, 0);");
            _w.Line();
            _w.Line($"/// <summary>c of one layer, direction and stream (<see cref=\"HiddenSize\"/> values); writable.</summary>");
            _w.Open($"public {Span} Cell({args})");
            _w.Line("return Buffer.Span.Slice(stream * StreamStride + UnitC(Unit(layer, direction, stream)), HiddenSize);");
            _w.Close();
            _w.Line();
            _w.Line(LearnInit
                ? "/// <summary>Sets h and c of every layer to the model's learned initial values, as at the start of a new sequence.</summary>"
                : "/// <summary>Sets h and c of every layer to zero, as at the start of a new sequence.</summary>");
            _w.Open("public void Reset()");
            _w.Line("Buffer.Clear();");
            if (LearnInit)
            {
                _w.Line("if (_model is null) return;");
                _w.Line("var p = _model._parameters.Values;");
                _w.Open("for (int b = 0; b < BatchSize; b++)");
                for (int u = 0; u < UnitCount; u++)
                {
                    _w.Line($"p.Slice({N(UnitTensorOffset("initial_h", u))}, ProjectedSize).CopyTo(Buffer.Span.Slice(b * StreamStride + {N(StateH(u))}, ProjectedSize));");
                    _w.Line($"p.Slice({N(UnitTensorOffset("initial_c", u))}, HiddenSize).CopyTo(Buffer.Span.Slice(b * StreamStride + {N(StateC(u))}, HiddenSize));");
                }
                _w.Close();
            }
            _w.Close();
            _w.Line();
            _w.Line("/// <summary>Copies h and c of every layer from <paramref name=\"other\"/>.</summary>");
            _w.Line("public void CopyFrom(State other) { global::System.ArgumentNullException.ThrowIfNull(other); other.Buffer.Span.CopyTo(Buffer.Span); }");
            _w.Line();
            _w.Line($"private static int UnitH(int unit) => {UnitSwitch(StateH)};");
            _w.Line($"private static int UnitC(int unit) => {UnitSwitch(StateC)};");
            _w.Line();
            _w.Open("private static int Unit(int layer, int direction, int stream)");
            _w.Line("if ((uint)layer >= NumLayers)");
            _w.Line("    throw new global::System.ArgumentOutOfRangeException(nameof(layer), $\"layer is {layer}; the model has {NumLayers} layer(s), numbered from 0.\");");
            _w.Line("if ((uint)direction >= NumDirections)");
            _w.Line("    throw new global::System.ArgumentOutOfRangeException(nameof(direction), $\"direction is {direction}; the model has {NumDirections} direction(s): 0 forward\" + (NumDirections == 2 ? \", 1 reverse.\" : \".\"));");
            _w.Line("if ((uint)stream >= BatchSize)");
            _w.Line("    throw new global::System.ArgumentOutOfRangeException(nameof(stream), $\"stream is {stream}; the model steps {BatchSize} stream(s), numbered from 0.\");");
            _w.Line("return layer * NumDirections + direction;");
            _w.Close();
            _w.Close();
            _w.Line();
        }
    }
}
