using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using LstmGen.Training;

namespace LstmGen.Weights;

/// <summary>What a checkpoint holds besides the parameters.</summary>
/// <param name="FormatVersion">The checkpoint format version (<see cref="Checkpoint.FormatVersion"/>).</param>
/// <param name="StepCount">The optimizer's update count when it was saved (0 without an optimizer).</param>
/// <param name="Optimizer">The optimizer's kind (<c>Sgd</c>, <c>Adam</c>, <c>AdamW</c>, <c>none</c> or a custom type's name).</param>
/// <param name="Metadata">Every <c>__metadata__</c> string of the file, the checkpoint's own (<c>lstmgen.*</c>) and the caller's.</param>
public sealed record CheckpointInfo(int FormatVersion, int StepCount, string Optimizer, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Training checkpoints: parameters, optimizer state and step count in one file, saved atomically.
/// </summary>
/// <remarks>
/// <para>A checkpoint is a safetensors file. Its tensors are the parameters under their PyTorch names (F32), so any
/// safetensors reader (and <see cref="Safetensors.Load(string, LstmParameters, SafetensorsOptions?)"/> with
/// <see cref="SafetensorsOptions.AllowExtraTensors"/>) reads the weights, plus <c>optimizer.state</c> (F32, the
/// optimizer's <see cref="Optimizer.State"/>: Adam's m then v, SGD's momentum buffer) when the optimizer has state.
/// Its <c>__metadata__</c> holds <c>lstmgen.format</c> = <c>checkpoint</c>, <c>lstmgen.format_version</c> = <c>1</c>,
/// <c>lstmgen.optimizer</c>, <c>lstmgen.step_count</c> and <c>lstmgen.parameter_count</c>, plus the caller's strings.</para>
/// <para>Saving writes a temporary file in the same folder, flushes it to the disk and renames it over the old
/// checkpoint: a save interrupted at any point (exception, killed process, full disk) leaves the previous checkpoint
/// whole and loadable. Durability of the rename itself across a power cut is the file system's (ext4, XFS, APFS
/// and NTFS journal it).</para>
/// </remarks>
public static class Checkpoint
{
    /// <summary>The format version this library writes and reads.</summary>
    public const int FormatVersion = 1;

    /// <summary>Name of the optimizer-state tensor.</summary>
    public const string OptimizerStateTensor = "optimizer.state";

    private const string KeyFormat = "lstmgen.format", KeyVersion = "lstmgen.format_version", KeyOptimizer = "lstmgen.optimizer",
        KeySteps = "lstmgen.step_count", KeyCount = "lstmgen.parameter_count";

    /// <summary>Saves <paramref name="parameters"/> and the state of <paramref name="optimizer"/> (if any) to <paramref name="path"/>, atomically.</summary>
    /// <param name="path">The checkpoint file; replaced only once the new one is completely on disk.</param>
    /// <param name="parameters">The model's parameters.</param>
    /// <param name="optimizer">The optimizer whose state and step count to keep; null for weights only.</param>
    /// <param name="metadata">Extra strings to keep (keys must not start with <c>lstmgen.</c>).</param>
    public static void Save(string path, LstmParameters parameters, Optimizer? optimizer = null, IReadOnlyDictionary<string, string>? metadata = null) =>
        Save(path, parameters, optimizer, metadata, wrap: null);

    /// <summary><see cref="Save(string, LstmParameters, Optimizer?, IReadOnlyDictionary{string, string}?)"/> with a stream decorator, for failure-injection tests.</summary>
    internal static void Save(string path, LstmParameters parameters, Optimizer? optimizer, IReadOnlyDictionary<string, string>? metadata, Func<Stream, Stream>? wrap)
    {
        var writer = CreateWriter(parameters, optimizer, metadata);
        AtomicFile.Write(path, writer.WriteTo, wrap);
    }

    /// <summary>Writes a checkpoint to a stream (not atomic: use <see cref="Save(string, LstmParameters, Optimizer?, IReadOnlyDictionary{string, string}?)"/> for files).</summary>
    public static void Write(Stream stream, LstmParameters parameters, Optimizer? optimizer = null, IReadOnlyDictionary<string, string>? metadata = null) =>
        CreateWriter(parameters, optimizer, metadata).WriteTo(stream);

    /// <summary>
    /// Loads a checkpoint into <paramref name="parameters"/> and, when given, <paramref name="optimizer"/> (initialised
    /// for the parameters if it is not yet). Everything is checked before anything is changed.
    /// </summary>
    /// <exception cref="WeightsFormatException">The file is malformed, not a checkpoint of this version, or does not fit the model or optimizer.</exception>
    public static CheckpointInfo Load(string path, LstmParameters parameters, Optimizer? optimizer = null) =>
        Load(File.ReadAllBytes(path), parameters, optimizer);

    /// <summary>Loads a checkpoint from its bytes; see <see cref="Load(string, LstmParameters, Optimizer?)"/>.</summary>
    public static CheckpointInfo Load(ReadOnlyMemory<byte> file, LstmParameters parameters, Optimizer? optimizer = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var parsed = SafetensorsFile.Parse(file);
        var meta = parsed.Metadata;
        if (!meta.TryGetValue(KeyFormat, out var format) || format != "checkpoint")
            throw Bad(KeyFormat, $"The file is not an LstmGen checkpoint: its __metadata__ has no '{KeyFormat}' = 'checkpoint' (a plain weights file loads with Safetensors.Load).");
        int version = ReadInt(meta, KeyVersion);
        if (version != FormatVersion)
            throw Bad(KeyVersion, $"The checkpoint has format version {version}; this library reads version {FormatVersion}.");
        int steps = ReadInt(meta, KeySteps);
        int count = ReadInt(meta, KeyCount);
        if (count != parameters.Count)
            throw Bad(KeyCount, $"The checkpoint holds {count} parameters; the model has {parameters.Count}.");
        string kind = meta.TryGetValue(KeyOptimizer, out var k) ? k : throw Bad(KeyOptimizer, $"The checkpoint's __metadata__ has no '{KeyOptimizer}'.");

        foreach (var tensor in parsed.Tensors)
            if (tensor.Name != OptimizerStateTensor && !IsParameter(parameters, tensor.Name))
                throw new WeightsFormatException(WeightsErrorKind.UnexpectedTensor, tensor.Name, $"The checkpoint has a tensor '{tensor.Name}' that is neither a parameter of the model nor '{OptimizerStateTensor}'.");

        float[]? state = null;
        if (optimizer is not null)
        {
            if (kind != KindOf(optimizer))
                throw Bad(KeyOptimizer, $"The checkpoint was saved with optimizer {kind}; it cannot restore a {KindOf(optimizer)}.");
            if (optimizer.ParameterCount == 0) optimizer.Initialize(parameters.Count);
            else if (optimizer.ParameterCount != parameters.Count)
                throw new ArgumentException($"The optimizer is set up for {optimizer.ParameterCount} parameters; the model has {parameters.Count}.", nameof(optimizer));
            int expected = optimizer.State.Length;
            var info = parsed.Find(OptimizerStateTensor);
            if (expected == 0)
            {
                if (info is not null && info.ElementCount != 0)
                    throw new WeightsFormatException(WeightsErrorKind.InvalidCheckpoint, OptimizerStateTensor, $"The checkpoint has {info.ElementCount} optimizer-state values; this {kind} keeps none.");
            }
            else
            {
                if (info is null)
                    throw new WeightsFormatException(WeightsErrorKind.MissingTensor, OptimizerStateTensor, $"The checkpoint has no '{OptimizerStateTensor}' tensor; the {kind} needs {expected} values.");
                if (info.DType != SafetensorsDType.F32 || info.Shape.Length != 1 || info.ElementCount != expected)
                    throw new WeightsFormatException(WeightsErrorKind.ShapeMismatch, OptimizerStateTensor,
                        $"Tensor '{OptimizerStateTensor}' is {info}; the {kind} needs F32 ({expected},).");
                state = parsed.ReadFloat32(OptimizerStateTensor);
                for (int i = 0; i < state.Length; i++)
                    if (!float.IsFinite(state[i]))
                        throw new WeightsFormatException(WeightsErrorKind.NonFiniteValue, OptimizerStateTensor, $"Tensor '{OptimizerStateTensor}' holds a NaN or infinity at index {i}.");
            }
        }

        // Parameters last but one: this checks every tensor before writing any.
        Safetensors.Load(file.Span, parameters, new SafetensorsOptions { LstmPrefix = "", HeadPrefix = "fc.", AllowExtraTensors = true });
        optimizer?.Restore(steps, state ?? []);
        return new CheckpointInfo(version, steps, kind, meta);
    }

    private static SafetensorsWriter CreateWriter(LstmParameters parameters, Optimizer? optimizer, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var writer = Safetensors.CreateWriter(parameters);
        if (metadata is not null)
            foreach (var (key, value) in metadata)
            {
                if (key.StartsWith("lstmgen.", StringComparison.Ordinal))
                    throw new ArgumentException($"Metadata key '{key}': keys starting with 'lstmgen.' are the checkpoint's own.", nameof(metadata));
                writer.Metadata[key] = value;
            }
        writer.Metadata[KeyFormat] = "checkpoint";
        writer.Metadata[KeyVersion] = Str(FormatVersion);
        writer.Metadata[KeyOptimizer] = optimizer is null ? "none" : KindOf(optimizer);
        writer.Metadata[KeySteps] = Str(optimizer?.StepCount ?? 0);
        writer.Metadata[KeyCount] = Str(parameters.Count);
        if (optimizer is not null && optimizer.State.Length > 0)
            writer.Add(OptimizerStateTensor, [optimizer.State.Length], optimizer.State);
        return writer;
    }

    private static bool IsParameter(LstmParameters parameters, string name)
    {
        foreach (var t in parameters.Tensors)
            if (t.Name == name) return true;
        return false;
    }

    private static string KindOf(Optimizer optimizer) => optimizer switch
    {
        AdamW => "AdamW",
        Adam => "Adam",
        Sgd => "Sgd",
        _ => "custom",
    };

    private static int ReadInt(IReadOnlyDictionary<string, string> meta, string key) =>
        meta.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw Bad(key, $"The checkpoint's __metadata__ '{key}' is missing or not a whole number.");

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static WeightsFormatException Bad(string field, string message) => new(WeightsErrorKind.InvalidCheckpoint, field, message);
}
