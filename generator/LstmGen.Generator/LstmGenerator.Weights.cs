using System;
using System.Collections.Immutable;
using System.Globalization;
using System.IO;
using System.Threading;
using LstmGen.Generator.Model;
using Microsoft.CodeAnalysis;

namespace LstmGen.Generator;

public sealed partial class LstmGenerator
{
    /// <summary>The largest model whose weights are compiled in (16 Mi parameters, 64 MiB of float32 data in the assembly).</summary>
    internal const int MaxCompiledParameters = 1 << 24;

    /// <summary>
    /// A model with its compiled-in weights resolved, and the diagnostics found doing it. The diagnostics have no location
    /// yet: the generator reports them at the <c>Weights</c> argument, found by <paramref name="HintName"/>.
    /// </summary>
    internal sealed record WeightsResult(string HintName, LstmModelSpec? Model, EquatableArray<DiagnosticInfo> Diagnostics);

    /// <summary>
    /// Compiled-in weights: finds the file named by <c>Weights</c> among the AdditionalFiles, checks it against the tensors
    /// the emitter declares (<see cref="Emitter.Tensors"/>: one list for both) and attaches the float32 values to the
    /// model. Models without <c>Weights</c> pass through unchanged.
    /// </summary>
    internal static class CompiledWeights
    {
        public static WeightsResult Resolve(LstmModelSpec spec, ImmutableArray<AdditionalText> files, CancellationToken cancellationToken)
        {
            if (spec.Weights is null) return new WeightsResult(spec.HintName, spec, EquatableArray<DiagnosticInfo>.Empty);
            WeightsResult Fail(string id, params string[] args) =>
                new(spec.HintName, null, new EquatableArray<DiagnosticInfo>(ImmutableArray.Create(new DiagnosticInfo(id, null, new EquatableArray<string>(ImmutableArray.Create(args))))));

            string wanted = Normalize(spec.Weights);
            if (wanted.Length == 0) return Fail("LSTM028");
            AdditionalText? match = null;
            foreach (var file in files)
            {
                string path = Normalize(file.Path);
                if (path == wanted || path.EndsWith("/" + wanted, StringComparison.Ordinal)) { match = file; break; }
            }
            if (match is null) return Fail("LSTM020", spec.Weights);

            byte[] bytes;
            try
            {
                // AdditionalText only offers the file as decoded text; a binary file must be read as bytes. This reads
                // exactly the file the user listed in AdditionalFiles and named in the attribute, nothing else.
#pragma warning disable RS1035 // File IO in an analyzer
                bytes = File.ReadAllBytes(match.Path);
#pragma warning restore RS1035
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Fail("LSTM021", spec.Weights, "the file cannot be read (" + e.Message + ")");
            }
            cancellationToken.ThrowIfCancellationRequested();

            // The model's shape: what the attribute left out from the file, what it gave checked against the file.
            var parsed = WeightsFile.Parse(spec.Weights, bytes, out var unread);
            if (parsed is null) return Fail(unread!.Id, unread.Arguments);
            var fileModel = WeightsFile.Describe(parsed, spec.Bidirectional, spec.ProjSize, spec.LstmPrefix, spec.HeadPrefix, out var described, spec.Cell);
            if (fileModel is null) return Fail(described!.Id, described.Arguments);
            var shapeProblems = ImmutableArray.CreateBuilder<DiagnosticInfo>();
            spec = FileShape.Apply(spec, fileModel, (id, args) => shapeProblems.Add(new DiagnosticInfo(id, null, new EquatableArray<string>(ImmutableArray.Create(args)))));
            if (shapeProblems.Count > 0) return new WeightsResult(spec.HintName, null, new EquatableArray<DiagnosticInfo>(shapeProblems.ToImmutable()));

            var tensors = new ModelPlan(spec).Tensors();
            long count = 0;
            foreach (var t in tensors) count += (long)t.Rows * Math.Max(1, t.Columns);
            if (count > MaxCompiledParameters) return Fail("LSTM027", count.ToString(CultureInfo.InvariantCulture), MaxCompiledParameters.ToString(CultureInfo.InvariantCulture));

            byte[]? values = WeightsFile.Convert(parsed, tensors, out var problem, spec.LstmPrefix, spec.HeadPrefix, spec.Skip, spec.OutputActivation, spec.Cell);
            if (values is null) return Fail(problem!.Id, problem.Arguments);
            return new WeightsResult(spec.HintName, spec with { CompiledWeights = new EquatableArray<byte>(ImmutableArray.Create(values)) }, EquatableArray<DiagnosticInfo>.Empty);
        }

        private static string Normalize(string path) => path.Replace('\\', '/').TrimStart('.', '/');
    }

    /// <summary>
    /// The shape-from-file rule of compiled-in weights: a property the attribute left out (<see cref="LstmModelSpec.FromFile"/>)
    /// takes the file's value, or its default when the file does not say; one it gave must equal the file's (LSTM031,
    /// naming both). Then the checks the parser left for these values: limits, the head's activation, the skip connection,
    /// the projection and the parameter count, with the parser's diagnostics.
    /// </summary>
    internal static class FileShape
    {
        public static LstmModelSpec Apply(LstmModelSpec spec, WeightsFile.FileModel file, Action<string, string[]> report)
        {
            static string S(long v) => v.ToString(CultureInfo.InvariantCulture);
            bool Left(string name) => System.Linq.Enumerable.Contains(spec.FromFile, name);
            int Size(string name, int given, int? fromFile, int fallback)
            {
                if (Left(name)) return fromFile ?? fallback;
                if (fromFile is int f && f != given) report("LSTM031", new[] { spec.Weights!, name, S(f), S(given) });
                return given;
            }
            string Activation(int v) => v >= 0 && v < OutputActivationValues.Names.Length ? "OutputActivation." + OutputActivationValues.Names[v] : S(v);
            int inputs = Size("InputSize", spec.InputSize, file.InputSize, 0);
            int hidden = Size("HiddenSize", spec.HiddenSize, file.HiddenSize, 0);
            int layers = Size("NumLayers", spec.NumLayers, file.NumLayers, 1);
            int outputs = Size("OutputSize", spec.OutputSize, file.OutputSize, 0);
            int skip = Size("Skip", spec.Skip, file.Skip, 0);
            int activation = spec.OutputActivation;
            if (Left("OutputActivation")) activation = file.OutputActivation ?? OutputActivationValues.None;
            else if (file.OutputActivation is int a && a != activation && outputs > 0)
                report("LSTM031", new[] { spec.Weights!, "OutputActivation", Activation(a), Activation(activation) });
            bool learn = spec.LearnInitialState;
            if (Left("LearnInitialState")) learn = file.LearnInitialState ?? false;
            else if (file.LearnInitialState is bool l && l != learn)
                report("LSTM031", new[] { spec.Weights!, "LearnInitialState", l ? "true" : "false", learn ? "true" : "false" });

            foreach (var (name, value) in new[] { ("InputSize", inputs), ("HiddenSize", hidden) })
                if (value == 0) report("LSTM007", new[] { name });
            void Limit(string name, int value, long max, string reason)
            {
                if (Left(name) && value > max) report("LSTM003", new[] { name, S(value), S(max), reason });
            }
            Limit("InputSize", inputs, Limits.MaxInputSize, Limits.SizeReason);
            Limit("HiddenSize", hidden, Limits.MaxHiddenSize, Limits.SizeReason);
            Limit("NumLayers", layers, Limits.MaxNumLayers, Limits.LayersReason);
            Limit("OutputSize", outputs, Limits.MaxOutputSize, Limits.SizeReason);
            var filled = spec with
            {
                InputSize = inputs, HiddenSize = hidden, NumLayers = layers, OutputSize = outputs, OutputActivation = activation,
                Skip = skip, LearnInitialState = learn, FromFile = EquatableArray<string>.Empty,
            };
            if (inputs == 0 || hidden == 0) return filled;
            if (activation != OutputActivationValues.None && outputs == 0)
                report("LSTM005", new[] { OutputActivationValues.Names[activation] });
            if (Parser.SkipProblem(skip, outputs, activation, inputs) is string why)
                report("LSTM014", new[] { S(skip), why });
            if (spec.ProjSize > 0 && spec.ProjSize >= hidden)
                report("LSTM009", new[] { S(spec.ProjSize), S(hidden) });
            long count = ModelPlan.CountParameters(filled);
            if (count > Limits.MaxParameters)
                report("LSTM008", new[] { S(count), S(Limits.MaxParameters) });
            return filled;
        }
    }

    internal sealed partial class Emitter
    {
        /// <summary>
        /// With compiled-in weights: the values as read-only data (a <c>ReadOnlySpan&lt;byte&gt;</c> over a constant
        /// array, which the compiler stores in the assembly's data section) and a parameterless constructor that copies
        /// them into <see cref="LstmParameters"/>, so nothing is read or parsed at start-up.
        /// </summary>
        private void EmitCompiledWeights()
        {
            if (_spec.CompiledWeights.Count == 0) return;
            _w.Line("/// <summary>");
            _w.Line($"/// Creates the model with the weights compiled in from <c>{Escape(_spec.Weights!)}</c> at build time (PyTorch order,");
            _w.Line("/// little-endian float32): no file is read and nothing is parsed. <c>new Model(seed)</c> gives PyTorch's random initialisation instead.");
            _w.Line("/// </summary>");
            _w.Open($"public {_spec.ClassName}() : this(NewParameters())");
            _w.Line("// parameters = the compiled-in tensors, in Parameters' order");
            _w.Line("global::System.Span<float> values = _parameters.GetWritableValues();");
            _w.Line("if (global::System.BitConverter.IsLittleEndian)");
            _w.Line("    CompiledWeights.CopyTo(global::System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));");
            _w.Line("else");
            _w.Line("    for (int k = 0; k < values.Length; k++)");
            _w.Line("        values[k] = global::System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(CompiledWeights.Slice(4 * k));");
            _w.Close();
            _w.Line();
            _w.Line($"/// <summary>The compiled-in weights from <c>{Escape(_spec.Weights!)}</c>: {N(_spec.CompiledWeights.Count / 4)} float32 values, little-endian.</summary>");
            _w.Line("private static global::System.ReadOnlySpan<byte> CompiledWeights => new byte[]");
            _w.Line("{");
            var line = new System.Text.StringBuilder();
            for (int k = 0; k < _spec.CompiledWeights.Count; k++)
            {
                line.Append(_spec.CompiledWeights[k].ToString(CultureInfo.InvariantCulture)).Append(',');
                if (k % 32 == 31 || k == _spec.CompiledWeights.Count - 1)
                {
                    _w.Line("    " + line);
                    line.Clear();
                }
            }
            _w.Line("};");
            _w.Line();
        }

        private static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
    }
}
