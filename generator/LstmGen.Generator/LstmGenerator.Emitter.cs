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

        /// <summary>The namespaces the kernel host's code is written against (plain names in the kernels).</summary>
        internal static readonly string[] KernelUsings =
        {
            "System", "System.Runtime.CompilerServices", "System.Runtime.InteropServices", "System.Runtime.Intrinsics",
            "System.Runtime.Intrinsics.Arm", "System.Runtime.Intrinsics.X86",
        };
        internal const string MemoryMarshal = "global::System.Runtime.InteropServices.MemoryMarshal";
        internal const string Math = "global::LstmGen.LstmMath";
        private const string Span = "global::System.Span<float>";
        private const string ReadOnlySpan = "global::System.ReadOnlySpan<float>";

        private readonly LstmModelSpec _spec;
        private SourceWriter _w = new();
        private readonly KernelSink _sink = new();

        /// <summary>The compute kernels the model calls, for the assembly's shared kernel file (filled by <see cref="Emit"/>).</summary>
        internal EquatableArray<SharedKernel> Kernels => _sink.ToArray();

        public Emitter(LstmModelSpec spec)
        {
            _spec = spec;
            _plan = new ModelPlan(spec);
        }

        private readonly ModelPlan _plan;

        /// <summary>The plan this emitter writes out (every derived number).</summary>
        internal ModelPlan Plan => _plan;

        internal static string N(long value) => ModelPlan.N(value);

        /// <summary>The state layout and packed sizes, as constants (the model class and the kernel host both read them).</summary>
        private void EmitLayoutConstants()
        {
            _w.Line("// State layout, in floats; every region starts on a 64-byte boundary. Offsets within one stream's block.");
            for (int u = 0; u < _plan.UnitCount; u++)
            {
                _w.Line($"private const int StateZ{u} = {N(_plan.StateZ(u))}; // z = [x ; h] of layer {N(u / _plan.D)}{(_plan.D == 2 ? (u % _plan.D == 0 ? " forward" : " reverse") : "")} (h 64-byte aligned)");
                for (int i = 0; i < _plan.Cell.Carried.Count; i++)
                    _w.Line($"private const int State{_plan.Cell.Carried[i].Pascal}{u} = {N(_plan.StateCarried(u, i))}; // its {_plan.Cell.Carried[i].Symbol}");
            }
            _w.Line($"private const int StateHNew = {N(_plan.StateHNew)}; // h_t of the layer being stepped, before it replaces h_(t-1)");
            _w.Line($"private const int StateM = {N(_plan.StateM)}; // m_t = o ⊙ tanh(c_t) before the projection");
            _w.Line($"private const int StreamStride = {N(_plan.StreamStride)}; // floats per stream");
            _w.Line($"private const int StateG = {N(_plan.StateG)}; // whole-sequence mode: W_ih·x_t + b for each step of a chunk");
            _w.Line($"private const int StateSeqA = {N(_plan.StateSeqA)}; // whole-sequence mode: outputs of layers 0, 2, ... for a chunk");
            _w.Line($"private const int StateSeqB = {N(_plan.StateSeqB)}; // whole-sequence mode: outputs of layers 1, 3, ... for a chunk");
            if (_plan.RecurrentProductApart)
                _w.Line($"private const int StateR = {N(_plan.StateR)}; // an int8 step's recurrent product W_hh·h_(t-1), apart from G (the cell sums some h columns apart)");
            _w.Line($"private const int StateLength = {N(_plan.StateLength)};");
            _w.Line($"private const int ChunkLength = {N(_plan.ChunkLength)}; // steps per chunk in whole-sequence mode (G stays within 64 KiB)");
            _w.Line($"private const int PackedLength = {N(VectorWidth.All.Max(w => _plan.PackedLength(w, _plan.Reduced)))};{(_plan.Reduced ? $" // the {WeightStorageValues.Names[_plan.Storage]} inference copy" : "")}");
            if (_plan.Reduced)
                _w.Line($"private const int PackedTrainingLength = {N(VectorWidth.All.Max(w => _plan.PackedLength(w, false)))}; // the trainer's float32 copy");
            if (_plan.HasHead)
            {
                _w.Line($"private const int HeadWeightOffset = {N(_plan.TensorOffset("fc.weight"))};");
                _w.Line($"private const int HeadBiasOffset = {N(_plan.TensorOffset("fc.bias"))};");
            }
        }

        /// <summary>
        /// The file's opening description, read from the plan: what the model computes (the equations of its options), its
        /// tensors in PyTorch order with shapes and offsets, the state layout, and each width's tiling.
        /// </summary>
        private void EmitDescription()
        {
            var p = _plan;
            _w.Line("// Description:");
            _w.Line($"// {N(p.L)} {p.Cell.Name} layer(s){(p.D == 2 ? " × 2 directions" : "")}, input {N(p.I)}, hidden {N(p.H)}" +
                    (p.P > 0 ? $", projection {N(p.P)}" : "") + (p.HasHead ? $", dense head {N(p.HeadInputs)} → {N(_spec.OutputSize)} ({OutputActivationValues.Names[_spec.OutputActivation]})" : "") +
                    (p.Batch > 1 ? $", {N(p.Batch)} streams" : "") + $", {WeightStorageValues.Names[p.Storage]} gate weights. Maths: docs/maths.md.");
            _w.Line("// Per step t, layer k" + (p.D == 2 ? ", direction d (the reverse one runs t = T-1 … 0)" : "") + ":");
            _w.Line("//   a = W_ih·x_t" + (p.HasBias ? " + b_ih" : "") + " + W_hh·" + (p.RecurrentDropoutP > 0 ? "(ρ ⊙ h_(t-1))" : "h_(t-1)") + (p.HasBias ? " + b_hh" : "") + $", rows in gate order {string.Join(", ", p.Cell.GateNames)}");
            if (p.RecurrentDropoutP > 0) _w.Line("//   (ρ: one recurrent-dropout mask per sequence, training only)");
            p.Cell.DescribeStep(_w, projection: p.P > 0);
            if (p.D == 2) _w.Line("//   layer output = [h_t(forward) ; h_t(reverse)]");
            if (p.DropoutP > 0 && p.L > 1) _w.Line("//   training: dropout on every layer's output but the last");
            if (p.HasHead)
                _w.Line(_spec.OutputActivation == OutputActivationValues.None
                    ? "//   y_t = W_fc·r_t + b_fc" + (_spec.Skip == 1 ? " + x_t[0]" : _spec.Skip > 1 ? $" + x_t[0 .. {N(_spec.Skip)})" : "") + "   (r_t: the top layer's output" + (_spec.Skip > 0 ? "; the skip connection adds the input" : "") + ")"
                    : $"//   y_t = {OutputActivationValues.Names[_spec.OutputActivation].ToLowerInvariant()}(W_fc·r_t + b_fc)   (r_t: the top layer's output)");
            _w.Line($"// Tensors (PyTorch order; {N(p.ParameterCount)} parameters):");
            foreach (var t in p.Tensors())
                _w.Line($"//   {t.Name,-20} ({N(t.Rows)}{(t.Columns > 0 ? ", " + N(t.Columns) : "")}) at {N(p.TensorOffset(t.Name))}");
            _w.Line($"// State ({N(p.StateLength)} floats; per stream {N(p.StreamStride)}):");
            for (int u = 0; u < p.UnitCount; u++)
                _w.Line($"//   {p.UnitName(u)}: z = [x ; h] at {N(p.StateZ(u))}, h at {N(p.StateH(u))}" + string.Concat(p.Cell.Carried.Select((v, i) => $", {v.Symbol} at {N(p.StateCarried(u, i))}")));
            _w.Line($"//   scratch h_new at {N(p.StateHNew)}, m at {N(p.StateM)}; hoisted G rows at {N(p.StateG)} ({N(p.ChunkLength)} steps a chunk)");
            _w.Line("// Paths, one class per width (only the width the JIT/AOT compiler finds accelerated survives); each orchestrates the");
            _w.Line("// compute kernels of LstmGen.Generated.<width>Kernels, which the assembly's LstmGen.Kernels.g.cs holds once for all models:");
            foreach (var width in VectorWidth.All)
            {
                _w.Line($"//   {width.ClassName}: " + string.Join("; ", Enumerable.Range(0, p.L).Select(k =>
                {
                    var tiling = p.Tiling(k, width);
                    return $"layer {N(k)} {N(tiling.Tiles)} tile(s) of {N(tiling.BlocksPerTile)} block(s), columns {(tiling.UnrollColumns(tiling.Columns) ? "unrolled" : "looped")}";
                })) + ";");
                var kernels = _sink.ToArray().Where(k => k.Width == width.Name).Select(k => k.Name).ToList();
                for (int k = 0; k < kernels.Count; k += 6)
                    _w.Line("//     " + (k == 0 ? "calls " : "      ") + string.Join(", ", kernels.Skip(k).Take(6)));
            }
            _w.Line();
        }

        public string Emit()
        {
            // The description lists the kernels each width calls, so it is written last, into its own writer, and put first.
            var body = _w;
            _w = new SourceWriter();
            _w.Line("#nullable enable");
            _w.Line("#pragma warning disable CS1591");
            _w.Line();
            if (_spec.Namespace is not null) _w.Open("namespace " + _spec.Namespace);

            var extras = new List<string>();
            if (_plan.Bidirectional) extras.Add("bidirectional");
            if (_plan.P > 0) extras.Add($"projection to {N(_plan.P)}");
            if (_plan.Peep) extras.Add("peepholes");
            if (_plan.DropoutP > 0) extras.Add($"dropout {_plan.DropoutP.ToString("R", CultureInfo.InvariantCulture)} between layers");
            if (_plan.RecurrentDropoutP > 0) extras.Add($"recurrent dropout {_plan.RecurrentDropoutP.ToString("R", CultureInfo.InvariantCulture)}");
            if (_plan.LearnInit) extras.Add("learned initial state");
            if (_plan.Batch > 1) extras.Add($"{N(_plan.Batch)} streams per step");
            _w.Line("/// <summary>");
            _w.Line($"/// {_plan.Cell.Name} with input size {N(_plan.I)}, hidden size {N(_plan.H)}, {N(_plan.L)} layer(s){(_spec.Bias ? "" : ", no bias")}" +
                    (extras.Count > 0 ? ", " + string.Join(", ", extras) : "") +
                    (_plan.HasHead ? $" and a dense head of {N(_spec.OutputSize)} output(s) ({OutputActivationValues.Names[_spec.OutputActivation]})" : "") +
                    ", generated by LstmGen with PyTorch semantics.");
            _w.Line("/// </summary>");
            _w.Line("/// <remarks>");
            _w.Line("/// A model instance can be shared by many threads for inference as long as each thread steps its own <see cref=\"State\"/>;");
            _w.Line("/// writes to <see cref=\"Parameters\"/> must not race with a step.");
            _w.Line("/// </remarks>");
            _w.Open($"partial class {_spec.ClassName} : global::LstmGen.{_plan.Cell.ModelInterface}<{_spec.ClassName}.State>");
            EmitConstants();
            EmitFields();
            EmitConstructor();
            EmitCompiledWeights();
            EmitApi();
            EmitHead();
            EmitPacking();
            EmitState();
            new TrainerEmitter(_plan, _w, _spec).Emit();
            _w.Close();
            if (_spec.Namespace is not null) _w.Close();

            // The kernels live outside the user's class, in a file-local class of their own namespace: nothing the user
            // declares can shadow a name in them, so they use plain names under these usings.
            _w.Line();
            _w.Open("namespace LstmGen.Generated");
            foreach (string ns in KernelUsings) _w.Line($"using {ns};");
            _w.Line();
            _w.Line($"/// <summary>The kernels of <see cref=\"{(_spec.Namespace is null ? "" : "global::" + _spec.Namespace + ".")}{_spec.ClassName}\"/>, one class per vector width, and the layout constants they read.</summary>");
            _w.Open($"file static class {_plan.KernelHost}");
            EmitLayoutConstants();
            new TrainerEmitter(_plan, _w, _spec).EmitLayout();
            _w.Line();
            foreach (var width in VectorWidth.All)
                new KernelEmitter(_plan, _w, width, _sink).Emit();
            new BackwardEmitter(_plan, _w).EmitBackward();
            _w.Close();
            _w.Close();
            string rest = _w.ToString();
            _w = body;
            _w.Line("// <auto-generated/>");
            _w.Line("// Generated by LstmGen from [" + _plan.Cell.AttributeName + "] on " + _spec.ClassName + ". Do not edit: change the attribute instead.");
            EmitDescription();
            return _w.ToString() + rest;
        }

        private void EmitConstants()
        {
            _w.Line("/// <summary>Features per input step (<c>input_size</c>).</summary>");
            _w.Line($"public const int InputSize = {N(_plan.I)};");
            _w.Line("/// <summary>Features in each layer's cell state (<c>hidden_size</c>).</summary>");
            _w.Line($"public const int HiddenSize = {N(_plan.H)};");
            _w.Line("/// <summary>Stacked layers (<c>num_layers</c>).</summary>");
            _w.Line($"public const int NumLayers = {N(_plan.L)};");
            _w.Line("/// <summary>Directions: 2 for a bidirectional model, else 1.</summary>");
            _w.Line($"public const int NumDirections = {N(_plan.D)};");
            _w.Line("/// <summary>Values of h per layer and direction: <c>proj_size</c> if there is a projection, else <c>hidden_size</c>.</summary>");
            _w.Line($"public const int ProjectedSize = {N(_plan.Hp)};");
            _w.Line("/// <summary>Independent streams per call of Step and Forward.</summary>");
            _w.Line($"public const int BatchSize = {N(_plan.Batch)};");
            _w.Line(_plan.HasHead
                ? "/// <summary>Values produced per step and stream: the outputs of the dense head.</summary>"
                : "/// <summary>Values produced per step and stream: the last layer's h (both directions, concatenated), as there is no dense head.</summary>");
            _w.Line($"public const int OutputSize = {N(_plan.O)};");
            _w.Line("/// <summary>Number of parameters; equals <c>sum(p.numel() for p in model.parameters())</c> of the same torch.nn." + _plan.Cell.Name + (_plan.HasHead ? " + torch.nn.Linear" : "") + (_plan.Peep || _plan.LearnInit ? ", plus the peephole and initial-state tensors PyTorch does not have" : "") + ".</summary>");
            _w.Line($"public const int ParameterCount = {N(_plan.ParameterCount)};");
            _w.Line();
            EmitLayoutConstants();
            _w.Line();
        }


        private void EmitFields()
        {
            _w.Line("private readonly global::LstmGen.LstmParameters _parameters;");
            _w.Line("private readonly global::LstmGen.AlignedBuffer _packed = new global::LstmGen.AlignedBuffer(PackedLength);");
            _w.Line("private int _packedVersion = -1;");
            _w.Line();
        }

        private void EmitConstructor()
        {
            var tensors = _plan.Tensors();
            _w.Line("/// <summary>");
            _w.Line("/// Creates the model with PyTorch's default initialisation, U(-1/√H, 1/√H) for every " + _plan.Cell.Name + " parameter and");
            _w.Line("/// U(-1/√in, 1/√in) for the dense head, drawn from a deterministic generator seeded by <paramref name=\"seed\"/>" + (_plan.LearnInit ? "; learned initial states start at zero" : "") + ".");
            _w.Line("/// All memory the model needs is allocated here.");
            _w.Line("/// </summary>");
            _w.Open($"public {_spec.ClassName}(int seed{(_spec.CompiledWeights.Count > 0 ? "" : " = 0")}) : this(NewParameters())");   // with compiled-in weights, new Model() loads them
            _w.Line("var random = new global::LstmGen.LstmRandom((ulong)(uint)seed);");
            _w.Line($"{Span} values = _parameters.GetWritableValues();");
            _w.Line($"random.FillUniform(values.Slice(0, {N(_plan.LstmParameterCount)}), 1f / global::System.MathF.Sqrt({N(_plan.H)}f));");
            if (_plan.LearnInit)
            {
                for (int u = 0; u < _plan.UnitCount; u++)
                {
                    _w.Line($"values.Slice({N(_plan.UnitTensorOffset("initial_h", u))}, {N(_plan.Hp)}).Clear();");
                    foreach (var v in _plan.Cell.Carried)
                        _w.Line($"values.Slice({N(_plan.UnitTensorOffset(v.Initial, u))}, {N(_plan.H)}).Clear();");
                }
            }
            if (_plan.HasHead)
                _w.Line($"random.FillUniform(values.Slice(HeadWeightOffset), 1f / global::System.MathF.Sqrt({N(_plan.HeadInputs)}f));");
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
            var known = new List<string>();
            if (_spec.Skip > 0) known.Add($"Skip = {N(_spec.Skip)}");
            if (_spec.OutputActivation != OutputActivationValues.None) known.Add($"OutputActivation = global::LstmGen.OutputActivation.{OutputActivationValues.Names[_spec.OutputActivation]}");
            if (_plan.Cell.Kind != CellKind.Lstm) known.Add($"Cell = global::LstmGen.CellKind.{_plan.Cell.Kind}");
            _w.Line("return new global::LstmGen.LstmParameters(tensors)" + (known.Count > 0 ? $" {{ {string.Join(", ", known)} }}" : "") + ";");
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
            _w.Line($"/// <summary>A new state ({_plan.Cell.StateNames} of every layer{(_plan.D == 2 ? " and direction" : "")}{(_plan.Batch > 1 ? " for each stream" : "")}, {(_plan.LearnInit ? "the learned initial values" : "zero")}), with its scratch space. Keep one per stream{(_plan.Batch > 1 ? " group" : "")}.</summary>");
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
            string batchNote = _plan.Batch > 1 ? " for each of the BatchSize streams" : "";
            _w.Line("/// <summary>");
            _w.Line($"/// Advances <paramref name=\"state\"/> by one time step{batchNote} with input <paramref name=\"x\"/> and writes the step's output");
            _w.Line("/// to <paramref name=\"y\"/>. Allocation-free.");
            _w.Line("/// </summary>");
            _w.Line(_plan.Batch > 1
                ? "/// <param name=\"x\">The inputs, stream after stream: BatchSize·<see cref=\"InputSize\"/> values.</param>"
                : "/// <param name=\"x\">The input, <see cref=\"InputSize\"/> values.</param>");
            _w.Line("/// <param name=\"state\">The stream's state; updated in place.</param>");
            _w.Line(_plan.Batch > 1
                ? "/// <param name=\"y\">Receives BatchSize·<see cref=\"OutputSize\"/> values, stream after stream.</param>"
                : "/// <param name=\"y\">Receives <see cref=\"OutputSize\"/> values.</param>");
            _w.Line("/// <exception cref=\"global::System.ArgumentException\">A span has the wrong length.</exception>");
            if (_plan.Bidirectional)
            {
                // A reverse direction needs the whole sequence before its first output: there is no streaming step.
                string message = $"{_spec.ClassName} is bidirectional: its reverse direction starts from the end of the sequence, so no output exists until the whole sequence is known. Call Forward with the whole sequence, or remove Bidirectional to stream step by step.";
                _w.Line($"[global::System.Obsolete(\"{message}\", error: true, DiagnosticId = \"{DiagnosticDescriptors.StepOnBidirectionalId}\")]");
                _w.Line($"public void Step({ReadOnlySpan} x, State state, {Span} y) => throw new global::System.NotSupportedException(\"{message}\");");
                _w.Line();
                _w.Line($"void global::LstmGen.IRecurrentModel<State>.Step({ReadOnlySpan} x, State state, {Span} y) => throw new global::System.NotSupportedException(\"{message}\");");
                _w.Line();
                return;
            }
            _w.Open($"public void Step({ReadOnlySpan} x, State state, {Span} y)");
            _w.Line("global::System.ArgumentNullException.ThrowIfNull(state);");
            _w.Line($"if (x.Length != {(_plan.Batch > 1 ? "BatchSize * " : "")}InputSize) ThrowLength(nameof(x), x.Length, {(_plan.Batch > 1 ? "BatchSize * " : "")}InputSize, \"{(_plan.Batch > 1 ? "BatchSize·" : "")}InputSize\");");
            _w.Line($"if (y.Length != {(_plan.Batch > 1 ? "BatchSize * " : "")}OutputSize) ThrowLength(nameof(y), y.Length, {(_plan.Batch > 1 ? "BatchSize * " : "")}OutputSize, \"{(_plan.Batch > 1 ? "BatchSize·" : "")}OutputSize\");");
            _w.Line("EnsurePacked();");
            _w.Line("ref float s = ref state.Buffer.Reference;");
            _w.Line("ref float w = ref _packed.Reference;");
            if (_plan.Batch > 1)
            {
                _w.Line("for (int b = 0; b < BatchSize; b++)");
                _w.Line($"    x.Slice(b * InputSize, InputSize).CopyTo({MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref s, b * StreamStride + StateZ0), InputSize));");
                EmitDispatch("Step(ref w, ref s);");
                _w.Line("for (int b = 0; b < BatchSize; b++)");
                _w.Line("    " + HeadCall($"ref {Unsafe}.Add(ref s, b * StreamStride + StateZ{_plan.UnitCount - 1} + {N(_plan.LayerInputs(_plan.L - 1))})", $"ref {Unsafe}.Add(ref s, b * StreamStride + StateZ0)", "y.Slice(b * OutputSize, OutputSize)"));
            }
            else
            {
                _w.Line($"x.CopyTo({MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref s, StateZ0), InputSize));");
                EmitDispatch("Step(ref w, ref s);");
                _w.Line(HeadCall($"ref {Unsafe}.Add(ref s, StateZ{_plan.UnitCount - 1} + {N(_plan.LayerInputs(_plan.L - 1))})", $"ref {Unsafe}.Add(ref s, StateZ0)", "y"));
            }
            _w.Close();
            _w.Line();
        }

        private void EmitForwardApi()
        {
            string perStream = _plan.Batch > 1 ? "BatchSize·" : "";
            _w.Line("/// <summary>");
            _w.Line($"/// Runs a whole sequence from <paramref name=\"state\"/> and leaves the final {_plan.Cell.StateNames} in it" + (_plan.D == 2 ? $" (PyTorch's {_plan.Cell.FinalStateNames.Trim('(', ')').Replace(", ", " and ")}: the forward direction's at the last step, the reverse direction's at the first)" : "") + ".");
            _w.Line(_plan.D == 2
                ? "/// Each layer runs forward over the whole sequence, then backward; the first call with a longer sequence than before grows the state's sequence buffer (see <see cref=\"NewState\"/>), later calls allocate nothing."
                : _plan.ForwardStreamsTogether
                ? "/// All BatchSize streams advance together, one step at a time, in Step's kernel (each weight load serves a group of streams). Allocation-free."
                : "/// The input projection W_ih·x_t is computed for a chunk of steps at once, ahead of the recurrence. Allocation-free.");
            _w.Line("/// </summary>");
            _w.Line($"/// <param name=\"xs\">{(_plan.Batch > 1 ? "BatchSize sequences one after another (batch-first), each " : "")}T steps of input, time-major: {perStream}T·<see cref=\"InputSize\"/> values, T ≥ 1.</param>");
            _w.Line("/// <param name=\"state\">The stream's state; updated in place.</param>");
            _w.Line($"/// <param name=\"ys\">Receives every step's output ({perStream}T·<see cref=\"OutputSize\"/> values, Keras return_sequences) or only the last step's ({perStream}<see cref=\"OutputSize\"/> values).</param>");
            _w.Line("/// <exception cref=\"global::System.ArgumentException\">A span has the wrong length.</exception>");
            _w.Open($"public void Forward({ReadOnlySpan} xs, State state, {Span} ys)");
            _w.Line("global::System.ArgumentNullException.ThrowIfNull(state);");
            _w.Line("const int PerCall = BatchSize * InputSize;");
            _w.Line("if (xs.Length == 0 || xs.Length % PerCall != 0)");
            _w.Line($"    throw new global::System.ArgumentException($\"xs has length {{xs.Length}}; {_spec.ClassName}.Forward expects {perStream}T·InputSize values (InputSize = {N(_plan.I)}{(_plan.Batch > 1 ? $", BatchSize = {N(_plan.Batch)}" : "")}, T ≥ 1).\", nameof(xs));");
            _w.Line("int steps = xs.Length / PerCall;");
            _w.Line("bool everyStep = ys.Length == BatchSize * steps * OutputSize;");
            _w.Line("if (!everyStep && ys.Length != BatchSize * OutputSize)");
            _w.Line($"    throw new global::System.ArgumentException($\"ys has length {{ys.Length}}; {_spec.ClassName}.Forward expects {{BatchSize * steps * OutputSize}} values (every step: {perStream}T·OutputSize) or {{BatchSize * OutputSize}} (the last step only).\", nameof(ys));");
            _w.Line("EnsurePacked();");
            if (_plan.D == 2) _w.Line("state.EnsureSequence(steps);");
            _w.Line("int rows = everyStep ? steps : 1;");
            if (_plan.ForwardStreamsTogether)
            {
                // all streams together, one step at a time: Step's kernel, whose every weight load feeds a group of streams
                _w.Line("ref float s = ref state.Buffer.Reference;");
                _w.Line("ref float w = ref _packed.Reference;");
                _w.Line($"ref float x0 = ref {MemoryMarshal}.GetReference(xs);");
                _w.Open("for (int t = 0; t < steps; t++)");
                _w.Line("for (int b = 0; b < BatchSize; b++)");
                _w.Line($"    {MemoryMarshal}.CreateReadOnlySpan(ref {Unsafe}.Add(ref x0, (b * steps + t) * InputSize), InputSize).CopyTo({MemoryMarshal}.CreateSpan(ref {Unsafe}.Add(ref s, b * StreamStride + StateZ0), InputSize));");
                EmitDispatch("Step(ref w, ref s);");
                _w.Line("if (!everyStep && t != steps - 1) continue;");
                _w.Line("for (int b = 0; b < BatchSize; b++)");
                _w.Line("    " + HeadCall($"ref {Unsafe}.Add(ref s, b * StreamStride + StateZ{_plan.UnitCount - 1} + {N(_plan.LayerInputs(_plan.L - 1))})", $"ref {Unsafe}.Add(ref x0, (b * steps + t) * InputSize)", "ys.Slice((b * rows + (everyStep ? t : 0)) * OutputSize, OutputSize)"));
                _w.Close();
                _w.Close();
                _w.Line();
                return;
            }
            _w.Line("for (int b = 0; b < BatchSize; b++)");
            _w.Line("    ForwardStream(xs.Slice(b * steps * InputSize, steps * InputSize), state, b, steps, ys.Slice(b * rows * OutputSize, rows * OutputSize), everyStep);");
            _w.Close();
            _w.Line();

            _w.Open($"private void ForwardStream({ReadOnlySpan} xs, State state, int stream, int steps, {Span} ys, bool everyStep)");
            _w.Line("ref float shared = ref state.Buffer.Reference;");
            _w.Line($"ref float s = ref {Unsafe}.Add(ref shared, stream * StreamStride);");
            _w.Line("ref float w = ref _packed.Reference;");
            _w.Line($"ref float x0 = ref {MemoryMarshal}.GetReference(xs);");
            if (_plan.D == 2)
            {
                _w.Line("ref float seq = ref state.Sequence.Reference;");
                EmitDispatch("ForwardBidirectional(ref w, ref s, ref shared, ref x0, steps, ref seq);");
                _w.Line($"ref float top = ref {Unsafe}.Add(ref seq, {(_plan.L - 1) % 2} * steps * {N(_plan.HeadInputs)}); // the last layer's outputs, [forward ; reverse] per step");
                EmitHeads("top", _plan.HeadInputs, "x0", "steps", "0", lastOnly: "else");
            }
            else
            {
                _w.Open("for (int t0 = 0; t0 < steps; t0 += ChunkLength)");
                _w.Line("int n = global::System.Math.Min(ChunkLength, steps - t0);");
                _w.Line($"ref float xc = ref {Unsafe}.Add(ref x0, t0 * InputSize);");
                EmitDispatch("ForwardChunk(ref w, ref s, ref shared, ref xc, n);");
                _w.Line($"ref float hs = ref {Unsafe}.Add(ref shared, {_plan.StateSeqName(_plan.L - 1)}); // the last layer's h_t for each step of the chunk");
                EmitHeads("hs", _plan.Hp, "xc", "n", "t0", lastOnly: "else if (t0 + n == steps)");
                _w.Close();
            }
            _w.Close();
            _w.Line();
        }

        /// <summary>
        /// The head on <paramref name="count"/> rows of layer output (<paramref name="stride"/> floats apart) starting at
        /// step <paramref name="first"/>: into every row of ys, or, under <paramref name="lastOnly"/>, the last row into ys.
        /// </summary>
        private void EmitHeads(string rows, int stride, string xRows, string count, string first, string lastOnly)
        {
            string row = first == "0" ? "t" : $"({first} + t)";
            _w.Line("if (everyStep)");
            _w.Line("{");
            _w.Line($"    for (int t = 0; t < {count}; t++)");
            _w.Line("        " + HeadCall($"ref {Unsafe}.Add(ref {rows}, t * {N(stride)})", $"ref {Unsafe}.Add(ref {xRows}, t * InputSize)", $"ys.Slice({row} * OutputSize, OutputSize)"));
            _w.Line("}");
            _w.Line(lastOnly);
            _w.Line("{");
            _w.Line("    " + HeadCall($"ref {Unsafe}.Add(ref {rows}, ({count} - 1) * {N(stride)})", $"ref {Unsafe}.Add(ref {xRows}, ({count} - 1) * InputSize)", "ys"));
            _w.Line("}");
        }

        /// <summary>The head on one step: its last-layer row h, and with a skip connection its input row x.</summary>
        private string HeadCall(string h, string x, string y) => _spec.Skip > 0 ? $"Head({h}, {x}, {y});" : $"Head({h}, {y});";

        private void EmitDispatch(string call) => EmitDispatch(_w, _plan, call);

        /// <summary>Calls <paramref name="call"/> on the widest kernel class the hardware accelerates.</summary>
        internal static void EmitDispatch(SourceWriter w, ModelPlan plan, string call)
        {
            string host = "global::LstmGen.Generated." + plan.KernelHost;
            // Each condition is a JIT/AOT-time constant, so only one branch survives compilation.
            for (int k = 0; k < VectorWidth.All.Length; k++)
            {
                var width = VectorWidth.All[k];
                if (width.IsScalar)
                    w.Line($"else {host}.{width.ClassName}.{call}");
                else
                    w.Line($"{(k == 0 ? "if" : "else if")} ({width.IsAcceleratedCondition}) {host}.{width.ClassName}.{call}");
            }
        }

        private void EmitHead()
        {
            _w.Line(_plan.HasHead
                ? "/// <summary>y = act(W_fc·h + b_fc): the dense head, on one step's last-layer h.</summary>"
                : "/// <summary>y = h: without a dense head the output is the last layer's hidden state.</summary>");
            if (_spec.Skip > 0)
                _w.Line($"/// <remarks>With the skip connection: y += x[0 .. {N(_spec.Skip)}){(_spec.Skip == 1 ? ", x_0 added to every output" : "")}.</remarks>");
            _w.Open($"private void Head(ref float h, {(_spec.Skip > 0 ? "ref float x, " : "")}{Span} y)");
            if (_plan.HasHead)
            {
                _w.Line($"ref float weights = ref {MemoryMarshal}.GetReference(_parameters.Values);");
                _w.Line("for (int o = 0; o < OutputSize; o++)");
                _w.Line($"    y[o] = {Math}.Dot(ref {Unsafe}.Add(ref weights, HeadWeightOffset + o * {N(_plan.HeadInputs)}), ref h, {N(_plan.HeadInputs)}) + {Unsafe}.Add(ref weights, HeadBiasOffset + o)" +
                        (_spec.Skip == 1 ? " + x" : _spec.Skip > 1 ? $" + {Unsafe}.Add(ref x, o)" : "") + ";");
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
            if (_plan.Reduced)
            {
                _w.Line("/// <summary>Packs the float32 master parameters in the training kernels' layout (the inference copy is " + WeightStorageValues.Names[_plan.Storage] + ").</summary>");
                _w.Open($"internal void PackTraining({Span} packed)");
                _w.Line("var tensors = _parameters.Tensors;");
                EmitDispatch("PackTraining(tensors, packed);");
                _w.Close();
                _w.Line();
            }
        }

        private void EmitState()
        {
            string where = (_plan.D == 2 ? "layer and direction" : "layer") + (_plan.Batch > 1 ? ", for each stream" : "");
            _w.Line("/// <summary>");
            _w.Line($"/// The recurrent state: {_plan.Cell.StateNames} of every {where} ({(_plan.LearnInit ? "the learned initial values" : "zero")} when new), plus the scratch space the kernels use,");
            _w.Line($"/// 64-byte aligned. Equivalent to PyTorch's <c>{_plan.Cell.FinalStateNames}</c>.");
            _w.Line("/// </summary>");
            _w.Open($"public sealed class State : global::LstmGen.{_plan.Cell.StateInterface}");
            _w.Line("internal readonly global::LstmGen.AlignedBuffer Buffer = new global::LstmGen.AlignedBuffer(StateLength);");
            _w.Line($"private readonly {_spec.ClassName}? _model;");
            if (_plan.D == 2)
                _w.Line("internal global::LstmGen.AlignedBuffer Sequence = new global::LstmGen.AlignedBuffer(16);");
            _w.Line();
            _w.Line($"/// <summary>A {(_plan.LearnInit ? "zero " : "")}state not tied to a model instance{(_plan.LearnInit ? " (Reset gives zeros, not the learned initial state: use the model's NewState)" : "")}.</summary>");
            _w.Line("public State() { }");
            _w.Line();
            _w.Open($"internal State({_spec.ClassName} model)");
            _w.Line("_model = model;");
            _w.Line("Reset();");
            _w.Close();
            _w.Line();
            if (_plan.D == 2)
            {
                _w.Line("/// <summary>Makes room for whole-sequence runs of up to <paramref name=\"maxSequenceLength\"/> steps now, so Forward never allocates.</summary>");
                _w.Open("public void EnsureSequence(int maxSequenceLength)");
                _w.Line($"long needed = 2L * maxSequenceLength * {N(_plan.HeadInputs)};");
                _w.Line("if (needed > Sequence.Length) Sequence = new global::LstmGen.AlignedBuffer(checked((int)needed));");
                _w.Close();
                _w.Line();
            }
            string args = "int layer, int direction = 0, int stream = 0";
            _w.Line($"/// <summary>h of <paramref name=\"layer\"/>{(_plan.D == 2 ? ", <paramref name=\"direction\"/> (0 forward, 1 reverse)" : "")}{(_plan.Batch > 1 ? " and <paramref name=\"stream\"/>" : "")} (<see cref=\"ProjectedSize\"/> values); writable, to give an initial state.</summary>");
            _w.Line($"public {Span} Hidden(int layer) => Hidden(layer, 0, 0);");
            _w.Line();
            _w.Line($"/// <summary>h of one layer, direction and stream (<see cref=\"ProjectedSize\"/> values); writable.</summary>");
            _w.Open($"public {Span} Hidden({args})");
            _w.Line("return Buffer.Span.Slice(stream * StreamStride + UnitH(Unit(layer, direction, stream)), ProjectedSize);");
            _w.Close();
            _w.Line();
            foreach (var v in _plan.Cell.Carried)
            {
                _w.Line($"/// <summary>{v.Symbol} of <paramref name=\"layer\"/> (<see cref=\"HiddenSize\"/> values); writable, to give an initial state.</summary>");
                _w.Line($"public {Span} {v.Accessor}(int layer) => {v.Accessor}(layer, 0, 0);");
                _w.Line();
                _w.Line($"/// <summary>{v.Symbol} of one layer, direction and stream (<see cref=\"HiddenSize\"/> values); writable.</summary>");
                _w.Open($"public {Span} {v.Accessor}({args})");
                _w.Line($"return Buffer.Span.Slice(stream * StreamStride + Unit{v.Pascal}(Unit(layer, direction, stream)), HiddenSize);");
                _w.Close();
                _w.Line();
            }
            _w.Line(_plan.LearnInit
                ? $"/// <summary>Sets {_plan.Cell.StateNames} of every layer to the model's learned initial values, as at the start of a new sequence.</summary>"
                : $"/// <summary>Sets {_plan.Cell.StateNames} of every layer to zero, as at the start of a new sequence.</summary>");
            _w.Open("public void Reset()");
            _w.Line("Buffer.Clear();");
            if (_plan.LearnInit)
            {
                _w.Line("if (_model is null) return;");
                _w.Line("var p = _model._parameters.Values;");
                _w.Open("for (int b = 0; b < BatchSize; b++)");
                for (int u = 0; u < _plan.UnitCount; u++)
                {
                    _w.Line($"p.Slice({N(_plan.UnitTensorOffset("initial_h", u))}, ProjectedSize).CopyTo(Buffer.Span.Slice(b * StreamStride + {N(_plan.StateH(u))}, ProjectedSize));");
                    for (int i = 0; i < _plan.Cell.Carried.Count; i++)
                        _w.Line($"p.Slice({N(_plan.UnitTensorOffset(_plan.Cell.Carried[i].Initial, u))}, HiddenSize).CopyTo(Buffer.Span.Slice(b * StreamStride + {N(_plan.StateCarried(u, i))}, HiddenSize));");
                }
                _w.Close();
            }
            _w.Close();
            _w.Line();
            _w.Line($"/// <summary>Copies {_plan.Cell.StateNames} of every layer from <paramref name=\"other\"/>.</summary>");
            _w.Line("public void CopyFrom(State other) { global::System.ArgumentNullException.ThrowIfNull(other); other.Buffer.Span.CopyTo(Buffer.Span); }");
            _w.Line();
            _w.Line($"private static int UnitH(int unit) => {_plan.UnitSwitch(_plan.StateH)};");
            for (int i = 0; i < _plan.Cell.Carried.Count; i++)
                _w.Line($"private static int Unit{_plan.Cell.Carried[i].Pascal}(int unit) => {_plan.UnitSwitch(u => _plan.StateCarried(u, i))};");
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
