using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json;

namespace LstmGen.Weights;

/// <summary>How <see cref="Safetensors.Load(ReadOnlySpan{byte}, LstmParameters, SafetensorsOptions?)"/> maps file tensors to the model's.</summary>
public sealed class SafetensorsOptions
{
    /// <summary>
    /// The module prefix of the LSTM tensors, e.g. <c>"lstm."</c> for a PyTorch module with <c>self.lstm = nn.LSTM(...)</c>.
    /// <c>null</c> (the default) detects it: the prefix of the one tensor named <c>…weight_ih_l0</c> (empty for a bare
    /// <c>nn.LSTM</c>'s state dict). When several prefixes hold such a tensor, loading fails with
    /// <see cref="WeightsErrorKind.AmbiguousPrefix"/> and this must say which.
    /// </summary>
    public string? LstmPrefix { get; init; }

    /// <summary>
    /// The module prefix of the dense head (<c>fc.weight</c>, <c>fc.bias</c> in the model), e.g. <c>"lin."</c> for a
    /// module with <c>self.lin = nn.Linear(...)</c>. <c>null</c> (the default) detects it: the one prefix P for which the
    /// file has P<c>weight</c> and P<c>bias</c> with the head's shapes. When no pair or several pairs have those shapes,
    /// loading fails with an error that names the candidates, and this must say which.
    /// </summary>
    public string? HeadPrefix { get; init; }

    /// <summary>Ignore tensors the model does not have (other modules of a larger network). Default false: they are an error.</summary>
    public bool AllowExtraTensors { get; init; }

    /// <summary>Reject NaN and infinite values (default true). Set false to load them as they are.</summary>
    public bool RejectNonFinite { get; init; } = true;
}

/// <summary>How <see cref="Safetensors.Save(string, LstmParameters, SafetensorsSaveOptions?)"/> writes a model's tensors.</summary>
public sealed class SafetensorsSaveOptions
{
    /// <summary>Prefix for the LSTM tensors (e.g. <c>"lstm."</c> to match a module's state dict); default none.</summary>
    public string LstmPrefix { get; init; } = "";

    /// <summary>Prefix for the head's tensors in place of <c>"fc."</c>; default <c>"fc."</c>.</summary>
    public string HeadPrefix { get; init; } = "fc.";

    /// <summary>Element type on disk: <see cref="SafetensorsDType.F32"/> (default, exact), F16 or BF16 (rounded to nearest even).</summary>
    public SafetensorsDType DType { get; init; } = SafetensorsDType.F32;

    /// <summary>Strings stored in the header's <c>__metadata__</c>.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>
/// Reads and writes model parameters as safetensors (docs/maths.md §6), the format of
/// <c>safetensors.torch.save_file(model.state_dict(), path)</c>: tensors named as PyTorch names them
/// (<c>weight_ih_l0</c>, …, <c>fc.weight</c>), little-endian F32, F16 or BF16 (converted to float32 on load).
/// </summary>
/// <remarks>
/// Every malformed or unfitting file throws <see cref="WeightsFormatException"/> naming the field or tensor, and the
/// target parameters are left unchanged: everything is checked before the first value is written. Loading from a span
/// allocates 24 bytes per tensor entry plus a constant (with an exception, its message): never more than the file's
/// length plus 16 KiB over a million mutated files (see <c>tests/LstmGen.Fuzz/RESULTS.md</c>). Reflection-free and
/// Native AOT safe.
/// </remarks>
public static class Safetensors
{
    /// <summary>The largest header accepted, in bytes (100 MB, the reference implementation's limit).</summary>
    public const int MaxHeaderLength = 100_000_000;

    /// <summary>Loads every tensor of <paramref name="target"/> from the safetensors file at <paramref name="path"/>.</summary>
    /// <exception cref="WeightsFormatException">The file is malformed or does not fit the model.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static void Load(string path, LstmParameters target, SafetensorsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        Load(File.ReadAllBytes(path), target, options);
    }

    /// <summary>Loads every tensor of <paramref name="target"/> from safetensors bytes.</summary>
    /// <exception cref="WeightsFormatException">The bytes are malformed or do not fit the model.</exception>
    public static void Load(ReadOnlySpan<byte> file, LstmParameters target, SafetensorsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        options ??= Default;
        SafetensorsHeader.Split(file, out var header, out var data);

        int entries = SafetensorsHeader.CountEntries(header);      // the JSON is checked before the prefix is looked for
        var tensors = target.Tensors;
        byte[]? lstmPrefix = options.LstmPrefix is null ? DetectPrefix(header) : Encoding.UTF8.GetBytes(options.LstmPrefix);
        string? headPrefixText = options.HeadPrefix ?? DetectHeadPrefix(header, data.Length, tensors, entries);
        byte[] headPrefix = Encoding.UTF8.GetBytes(headPrefixText ?? TensorPrefixes.ModelHeadPrefix);
        var sink = new LoadSink(tensors.Count, options.AllowExtraTensors);
        for (int k = 0; k < tensors.Count; k++)
        {
            string name = tensors[k].Name;
            sink.Names[k] = name.StartsWith("fc.", StringComparison.Ordinal)
                ? Concat(headPrefix, name.AsSpan(3))
                : Concat(lstmPrefix ?? [], name.AsSpan());
            sink.Tensors[k] = tensors[k];
        }
        SafetensorsHeader.Walk(header, data.Length, ref sink, entries);

        for (int k = 0; k < tensors.Count; k++)
            if (sink.Begin[k] < 0)
            {
                string fileName = Encoding.UTF8.GetString(sink.Names[k]);
                bool head = tensors[k].Name.StartsWith(TensorPrefixes.ModelHeadPrefix, StringComparison.Ordinal);
                string hint = head
                    ? options.HeadPrefix is null ? " (no pair of tensors '…weight' and '…bias' with the head's shapes was found: set SafetensorsOptions.HeadPrefix to the head's module prefix)" : ""
                    : options.LstmPrefix is null ? $" (LSTM prefix detected: '{Encoding.UTF8.GetString(lstmPrefix ?? [])}')" : "";
                throw new WeightsFormatException(WeightsErrorKind.MissingTensor, fileName,
                    $"The file has no tensor '{fileName}' (the model's '{tensors[k].Name}'){hint}.");
            }

        if (!sink.AllowExtra && sink.FirstExtra[0] >= 0)
        {
            string name = SafetensorsHeader.EntryName(header, sink.FirstExtra[0]);
            throw new WeightsFormatException(WeightsErrorKind.UnexpectedTensor, name,
                $"The file has a tensor '{name}' that the model does not have (set SafetensorsOptions.AllowExtraTensors to ignore it, or LstmPrefix/HeadPrefix if the names have a different module prefix).");
        }

        if (options.RejectNonFinite)
            for (int k = 0; k < tensors.Count; k++)
            {
                var dtype = sink.DTypes[k];
                var bytes = data.Slice((int)sink.Begin[k], tensors[k].Length * SafetensorsDTypes.SizeOf(dtype));
                for (int i = 0; i < tensors[k].Length; i++)
                    if (!SafetensorsDTypes.IsFinite(dtype, bytes, i))
                    {
                        string fileName = Encoding.UTF8.GetString(sink.Names[k]);
                        throw new WeightsFormatException(WeightsErrorKind.NonFiniteValue, fileName,
                            $"Tensor '{fileName}' holds a NaN or infinity at flat index {i} (set SafetensorsOptions.RejectNonFinite = false to load it anyway).");
                    }
            }

        // Everything is checked: write.
        Span<float> values = target.GetWritableValues();
        for (int k = 0; k < tensors.Count; k++)
        {
            var dtype = sink.DTypes[k];
            var bytes = data.Slice((int)sink.Begin[k], tensors[k].Length * SafetensorsDTypes.SizeOf(dtype));
            SafetensorsDTypes.ToFloat32(dtype, bytes, values.Slice(tensors[k].Offset, tensors[k].Length));
        }
    }

    /// <summary>
    /// Writes <paramref name="source"/> to <paramref name="path"/> as safetensors, atomically: a temporary file in the
    /// same folder is written, flushed to disk and renamed over <paramref name="path"/>, so an interrupted save leaves
    /// the previous file as it was.
    /// </summary>
    public static void Save(string path, LstmParameters source, SafetensorsSaveOptions? options = null)
    {
        var writer = CreateWriter(source, options);
        AtomicFile.Write(path, writer.WriteTo);
    }

    /// <summary>Writes <paramref name="source"/> as safetensors to a stream.</summary>
    public static void Write(Stream stream, LstmParameters source, SafetensorsSaveOptions? options = null) =>
        CreateWriter(source, options).WriteTo(stream);

    /// <summary>The safetensors bytes of <paramref name="source"/>.</summary>
    public static byte[] ToBytes(LstmParameters source, SafetensorsSaveOptions? options = null) => CreateWriter(source, options).ToArray();

    /// <summary>A writer holding every tensor of <paramref name="source"/> (PyTorch names, with the options' prefixes), to add more tensors to.</summary>
    public static SafetensorsWriter CreateWriter(LstmParameters source, SafetensorsSaveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= DefaultSave;
        var writer = new SafetensorsWriter();
        if (options.Metadata is not null)
            foreach (var (key, value) in options.Metadata) writer.Metadata[key] = value;
        Span<long> shape = stackalloc long[2];
        foreach (var tensor in source.Tensors)
        {
            string name = tensor.Name.StartsWith("fc.", StringComparison.Ordinal)
                ? options.HeadPrefix + tensor.Name.Substring(3)
                : options.LstmPrefix + tensor.Name;
            shape[0] = tensor.Rows;
            shape[1] = tensor.Columns;
            writer.Add(name, shape.Slice(0, tensor.Rank), tensor.Values, options.DType);
        }
        return writer;
    }

    private static readonly SafetensorsOptions Default = new();
    private static readonly SafetensorsSaveOptions DefaultSave = new();
    private static ReadOnlySpan<byte> PrefixAnchor => "weight_ih_l0"u8;

    private static byte[] Concat(ReadOnlySpan<byte> prefix, ReadOnlySpan<char> name)
    {
        var bytes = new byte[prefix.Length + Encoding.UTF8.GetByteCount(name)];
        prefix.CopyTo(bytes);
        Encoding.UTF8.GetBytes(name, bytes.AsSpan(prefix.Length));
        return bytes;
    }

    /// <summary>The prefix of the one tensor named <c>…weight_ih_l0</c>; null when there is none.</summary>
    private static byte[]? DetectPrefix(ReadOnlySpan<byte> header)
    {
        byte[]? found = null;
        var reader = new Utf8JsonReader(header);
        var buffer = new byte[256];
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;   // the walk reports it
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                ReadOnlySpan<byte> name = default;
                if (!reader.ValueIsEscaped) name = reader.ValueSpan;
                else if (reader.ValueSpan.Length <= buffer.Length) name = buffer.AsSpan(0, reader.CopyString(buffer));
                if (name.EndsWith(PrefixAnchor))
                {
                    var prefix = name.Slice(0, name.Length - PrefixAnchor.Length);
                    if (found is null) found = prefix.ToArray();
                    else if (!prefix.SequenceEqual(found))
                        throw new WeightsFormatException(WeightsErrorKind.AmbiguousPrefix, "weight_ih_l0",
                            $"The file has the tensor 'weight_ih_l0' under two module prefixes, '{Encoding.UTF8.GetString(found)}' and '{Encoding.UTF8.GetString(prefix)}': set SafetensorsOptions.LstmPrefix to the one to load.");
                }
                reader.Read();
                reader.Skip();
            }
        }
        catch (JsonException) { }                  // the walk reports malformed JSON with its field
        catch (InvalidOperationException) { }
        return found;
    }

    /// <summary>
    /// The head's module prefix (TensorPrefixes.HeadCandidates) when the model has a head and exactly one pair of the
    /// file's tensors has its shapes; null when there is no head or no such pair (the missing tensor is then reported).
    /// </summary>
    private static string? DetectHeadPrefix(ReadOnlySpan<byte> header, long dataLength, IReadOnlyList<ParameterTensor> tensors, int entries)
    {
        ParameterTensor? weight = null;
        foreach (var t in tensors)
            if (t.Name == TensorPrefixes.ModelHeadPrefix + "weight") weight = t;
        if (weight is null) return null;
        var sink = new HeadShapeSink(weight.Rows, weight.Columns);
        SafetensorsHeader.Walk(header, dataLength, ref sink, entries);
        var candidates = TensorPrefixes.HeadCandidates(sink.Found, weight.Rows, weight.Columns);
        if (candidates.Count > 1)
            throw new WeightsFormatException(WeightsErrorKind.AmbiguousPrefix, candidates[0] + "weight",
                $"The file has {candidates.Count} pairs of tensors shaped like the dense head ({TensorPrefixes.Describe(candidates)} + weight/bias): set SafetensorsOptions.HeadPrefix to the one to load.");
        return candidates.Count == 1 ? candidates[0] : null;
    }

    /// <summary>Collects the entries shaped like the head's weight [rows, columns] or bias [rows] (names only for those).</summary>
    private readonly struct HeadShapeSink(int rows, int columns) : IHeaderSink
    {
        public readonly List<KeyValuePair<string, long[]>> Found = new();

        public void OnTensor(ref Utf8JsonReader nameReader, in HeaderEntry entry)
        {
            var shape = entry.Shape;
            bool weightShaped = shape.Length == 2 && shape[0] == rows && shape[1] == columns;
            bool biasShaped = shape.Length == 1 && shape[0] == rows;
            if (weightShaped || biasShaped) Found.Add(new(Name(ref nameReader), shape.ToArray()));
        }

        /// <summary>The entry's name; invalid UTF-8 (which Utf8JsonReader leaves to GetString to find) becomes U+FFFD.</summary>
        private static string Name(ref Utf8JsonReader reader)
        {
            if (!reader.ValueIsEscaped) return Encoding.UTF8.GetString(reader.ValueSpan);
            try { return reader.GetString() ?? ""; }
            catch (InvalidOperationException) { return "\uFFFD"; }    // never a head candidate: not a '…weight' or '…bias'
        }

        public void OnMetadata(ref Utf8JsonReader key, ref Utf8JsonReader value) { }
    }

    /// <summary>Matches entries to the model's tensors by their UTF-8 names, checking dtype and shape.</summary>
    private struct LoadSink(int count, bool allowExtra) : IHeaderSink
    {
        public readonly byte[][] Names = new byte[count][];
        public readonly ParameterTensor[] Tensors = new ParameterTensor[count];
        public readonly long[] Begin = NewBegin(count);
        public readonly SafetensorsDType[] DTypes = new SafetensorsDType[count];
        public readonly int[] FirstExtra = [-1];
        public readonly bool AllowExtra = allowExtra;

        private static long[] NewBegin(int count)
        {
            var begin = new long[count];
            begin.AsSpan().Fill(-1);
            return begin;
        }

        public readonly void OnTensor(ref Utf8JsonReader nameReader, in HeaderEntry entry)
        {
            for (int k = 0; k < Names.Length; k++)
            {
                if (!nameReader.ValueTextEquals(Names[k])) continue;
                if (Begin[k] >= 0)
                    throw Error(WeightsErrorKind.DuplicateTensor, Names[k], "Tensor '{0}' appears twice in the header.");
                if (!SafetensorsDTypes.ConvertsToFloat32(entry.DType))
                    throw Error(WeightsErrorKind.UnsupportedDType, Names[k],
                        "Tensor '{0}' has dtype " + SafetensorsDTypes.NameOf(entry.DType) + "; parameters load from F32, F16, BF16 or F64.");
                var t = Tensors[k];
                bool fits = entry.Shape.Length == t.Rank && entry.Shape[0] == t.Rows && (t.Rank == 1 || entry.Shape[1] == t.Columns);
                if (!fits)
                {
                    Span<long> expected = [t.Rows, t.Columns];
                    throw Error(WeightsErrorKind.ShapeMismatch, Names[k],
                        "Tensor '{0}' has shape " + SafetensorsHeader.FormatShape(entry.Shape) + " in the file; the model's '" + t.Name + "' is " + SafetensorsHeader.FormatShape(expected.Slice(0, t.Rank)) + ".");
                }
                Begin[k] = entry.Begin;
                DTypes[k] = entry.DType;
                return;
            }
            if (FirstExtra[0] < 0) FirstExtra[0] = entry.Index;   // reported after the missing tensors, which say more
        }

        private static WeightsFormatException Error(WeightsErrorKind kind, byte[] utf8Name, string message)
        {
            string name = Encoding.UTF8.GetString(utf8Name);
            return new WeightsFormatException(kind, name, message.Replace("{0}", name, StringComparison.Ordinal));
        }

        public readonly void OnMetadata(ref Utf8JsonReader key, ref Utf8JsonReader value) { }
    }
}
