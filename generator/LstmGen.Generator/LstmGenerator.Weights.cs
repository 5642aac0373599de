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

            var tensors = new ModelPlan(spec).Tensors();
            long count = 0;
            foreach (var t in tensors) count += (long)t.Rows * Math.Max(1, t.Columns);
            if (count > MaxCompiledParameters) return Fail("LSTM027", count.ToString(CultureInfo.InvariantCulture), MaxCompiledParameters.ToString(CultureInfo.InvariantCulture));

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
            byte[]? values = WeightsFile.Convert(spec.Weights, bytes, tensors, out var problem, spec.LstmPrefix, spec.HeadPrefix, spec.Skip);
            if (values is null) return Fail(problem!.Id, problem.Arguments);
            return new WeightsResult(spec.HintName, spec with { CompiledWeights = new EquatableArray<byte>(ImmutableArray.Create(values)) }, EquatableArray<DiagnosticInfo>.Empty);
        }

        private static string Normalize(string path) => path.Replace('\\', '/').TrimStart('.', '/');
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
