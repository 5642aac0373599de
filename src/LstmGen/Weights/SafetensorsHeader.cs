using System;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace LstmGen.Weights;

/// <summary>One tensor entry of a header as the walker sees it; the name is read from <c>nameReader</c>.</summary>
internal readonly struct HeaderEntry
{
    private readonly long[] _shape;
    private readonly int _rank;

    public HeaderEntry(int index, SafetensorsDType dtype, long[] shape, int rank, long elementCount, long begin, long end)
    {
        Index = index; DType = dtype; _shape = shape; _rank = rank; ElementCount = elementCount; Begin = begin; End = end;
    }

    public int Index { get; }
    public SafetensorsDType DType { get; }
    public ReadOnlySpan<long> Shape => new(_shape, 0, _rank);
    public long ElementCount { get; }
    public long Begin { get; }
    public long End { get; }
}

/// <summary>Receives the header's entries; implemented by structs so the walk allocates nothing per entry.</summary>
internal interface IHeaderSink
{
    /// <summary>A tensor entry; <paramref name="nameReader"/> is positioned on its property name.</summary>
    void OnTensor(ref Utf8JsonReader nameReader, in HeaderEntry entry);

    /// <summary>One <c>__metadata__</c> pair; the readers are positioned on the key and on the string value.</summary>
    void OnMetadata(ref Utf8JsonReader key, ref Utf8JsonReader value);
}

/// <summary>
/// The safetensors layout: an unsigned 64-bit little-endian header length N, N bytes of UTF-8 JSON, then the data.
/// The header maps each tensor name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (offsets relative to
/// the data section) and may hold <c>"__metadata__"</c>, an object of strings. As in the reference implementation
/// the tensors' byte ranges must tile the data section exactly: no overlap, no gap, no trailing bytes.
/// </summary>
/// <remarks>
/// The walk reads the header twice with <see cref="Utf8JsonReader"/> (a ref struct: no allocation): once to check
/// the JSON and count the entries, once to check each entry and hand it to a sink. Its only allocation is one array of
/// 24 bytes per tensor entry for the overlap check; an entry takes at least 40 bytes of JSON, so that array is smaller
/// than the header.
/// </remarks>
internal static class SafetensorsHeader
{
    /// <summary>Maximum rank accepted (PyTorch allows 64 dimensions).</summary>
    public const int MaxRank = 64;

    private const int MaxNameInMessage = 120;

    /// <summary>Splits a file into header and data; throws for a short file or a header length out of bounds.</summary>
    public static void Split(ReadOnlySpan<byte> file, out ReadOnlySpan<byte> header, out ReadOnlySpan<byte> data)
    {
        if (file.Length < 8)
            throw new WeightsFormatException(WeightsErrorKind.Truncated, "header length",
                $"The file has {file.Length} bytes; a safetensors file starts with an 8-byte header length.");
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (length > Safetensors.MaxHeaderLength)
            throw new WeightsFormatException(WeightsErrorKind.HeaderTooLarge, "header length",
                $"The header length is {length} bytes, above the limit of {Safetensors.MaxHeaderLength} bytes (100 MB, as the reference implementation).");
        if (length > (ulong)(file.Length - 8))
            throw new WeightsFormatException(WeightsErrorKind.Truncated, "header length",
                $"The header length is {length} bytes but only {file.Length - 8} bytes follow it: the file is truncated or not safetensors.");
        if (length < 2)
            throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, "header",
                $"The header length is {length} bytes; the header must be a JSON object, at least '{{}}'.");
        header = file.Slice(8, (int)length);
        data = file.Slice(8 + (int)length);
    }

    /// <summary>Checks the whole header and passes every entry to <paramref name="sink"/>; returns the number of tensors.</summary>
    /// <param name="header">The header bytes.</param>
    /// <param name="dataLength">Bytes in the data section.</param>
    /// <param name="sink">Receives the entries.</param>
    /// <param name="count">The result of <see cref="CountEntries"/> when the caller ran it already.</param>
    public static int Walk<TSink>(ReadOnlySpan<byte> header, long dataLength, ref TSink sink, int count = -1) where TSink : struct, IHeaderSink
    {
        if (count < 0) count = CountEntries(header);
        var ranges = count == 0 ? Array.Empty<Range>() : new Range[count];
        var shape = new long[MaxRank];                           // one small array per walk (a stackalloc'd span cannot be passed beside the ref reader)
        var reader = new Utf8JsonReader(header);
        int index = 0;
        bool metadataSeen = false;
        try
        {
            reader.Read();                                        // StartObject, checked by CountEntries
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("__metadata__"u8))
                {
                    if (metadataSeen) throw Invalid(WeightsErrorKind.InvalidMetadata, "__metadata__", "'__metadata__' appears twice in the header.");
                    metadataSeen = true;
                    ReadMetadata(ref reader, ref sink);
                    continue;
                }
                var nameReader = reader;
                var entry = ReadEntry(ref reader, ref nameReader, index, dataLength, shape);
                ranges[index] = new Range(entry.Begin, entry.End, index);
                sink.OnTensor(ref nameReader, entry);
                index++;
            }
        }
        catch (JsonException ex)
        {
            throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, "header", JsonMessage(ex), ex);
        }
        catch (InvalidOperationException ex)
        {
            throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, "header", "The header is not valid JSON text: " + Shorten(ex.Message), ex);
        }
        CheckTiling(header, ranges, dataLength);
        return index;
    }

    /// <summary>First pass: the JSON is well formed, the root is an object, and nothing follows it. Counts tensor entries.</summary>
    public static int CountEntries(ReadOnlySpan<byte> header)
    {
        CheckWords(header);
        var reader = new Utf8JsonReader(header);
        int count = 0;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, "header", "The header must be a JSON object mapping tensor names to their dtype, shape and data_offsets.");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!reader.ValueTextEquals("__metadata__"u8)) count++;
                reader.Read();
                reader.Skip();
            }
            if (reader.Read())                                    // anything after the root object
                throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, "header", "The header has content after its JSON object.");
        }
        catch (JsonException ex)
        {
            throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, "header", JsonMessage(ex), ex);
        }
        catch (InvalidOperationException ex)
        {
            throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, "header", "The header is not valid JSON text: " + Shorten(ex.Message), ex);
        }
        return count;
    }

    /// <summary>
    /// Words outside strings must be <c>true</c>, <c>false</c> or <c>null</c>. Checked before the JSON reader sees them:
    /// its message for a bad literal quotes the rest of the input, an allocation as large as the header.
    /// </summary>
    private static void CheckWords(ReadOnlySpan<byte> header)
    {
        bool inString = false;
        for (int i = 0; i < header.Length; i++)
        {
            byte b = header[i];
            if (inString)
            {
                if (b == (byte)'\\') i++;
                else if (b == (byte)'"') inString = false;
                continue;
            }
            if (b == (byte)'"') { inString = true; continue; }
            if (!IsLetter(b)) continue;
            int end = i;
            while (end < header.Length && IsLetter(header[end])) end++;
            bool inNumber = i > 0 && (char.IsAsciiDigit((char)header[i - 1]) || header[i - 1] == (byte)'.');   // an exponent: the reader checks numbers
            var word = header.Slice(i, end - i);
            if (!inNumber && !word.SequenceEqual("true"u8) && !word.SequenceEqual("false"u8) && !word.SequenceEqual("null"u8))
                throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, "header",
                    $"The header is not valid JSON: at byte {i} a word that is not true, false or null.");
            i = end - 1;
        }
    }

    private static bool IsLetter(byte b) => (uint)((b | 0x20) - 'a') <= 'z' - 'a';

    private static string JsonMessage(JsonException ex) =>
        $"The header is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine}): {Shorten(ex.Message)}";

    private static string Shorten(string text) => text.Length <= 200 ? text : string.Concat(text.AsSpan(0, 200), "…");

    private static void ReadMetadata<TSink>(ref Utf8JsonReader reader, ref TSink sink) where TSink : struct, IHeaderSink
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Invalid(WeightsErrorKind.InvalidMetadata, "__metadata__", $"'__metadata__' must be an object of strings, not {Describe(reader.TokenType)}.");
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var key = reader;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
                throw Invalid(WeightsErrorKind.InvalidMetadata, "__metadata__." + SafeName(ref key),
                    $"'__metadata__' entry '{SafeName(ref key)}' must be a string, not {Describe(reader.TokenType)}.");
            sink.OnMetadata(ref key, ref reader);
        }
    }

    private static HeaderEntry ReadEntry(ref Utf8JsonReader reader, ref Utf8JsonReader nameReader, int index, long dataLength, long[] shape)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Invalid(WeightsErrorKind.InvalidHeader, SafeName(ref nameReader),
                $"Tensor '{SafeName(ref nameReader)}' must be an object with dtype, shape and data_offsets, not {Describe(reader.TokenType)}.");
        SafetensorsDType dtype = default;
        int rank = -1;
        long begin = -1, end = -1;
        bool hasDType = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("dtype"u8))
            {
                if (hasDType) throw Repeated(ref nameReader, "dtype");
                hasDType = true;
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                    throw Invalid(WeightsErrorKind.InvalidHeader, SafeName(ref nameReader) + ".dtype", $"Tensor '{SafeName(ref nameReader)}': dtype must be a string, not {Describe(reader.TokenType)}.");
                dtype = ParseDType(ref reader, ref nameReader);
            }
            else if (reader.ValueTextEquals("shape"u8))
            {
                if (rank >= 0) throw Repeated(ref nameReader, "shape");
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                    throw Invalid(WeightsErrorKind.InvalidHeader, SafeName(ref nameReader) + ".shape", $"Tensor '{SafeName(ref nameReader)}': shape must be an array of sizes, not {Describe(reader.TokenType)}.");
                rank = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (rank == MaxRank)
                        throw Invalid(WeightsErrorKind.InvalidHeader, SafeName(ref nameReader) + ".shape", $"Tensor '{SafeName(ref nameReader)}' has more than {MaxRank} dimensions.");
                    shape[rank++] = ReadNonNegative(ref reader, ref nameReader, "shape");
                }
            }
            else if (reader.ValueTextEquals("data_offsets"u8))
            {
                if (begin >= 0) throw Repeated(ref nameReader, "data_offsets");
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                    throw Invalid(WeightsErrorKind.InvalidHeader, SafeName(ref nameReader) + ".data_offsets", $"Tensor '{SafeName(ref nameReader)}': data_offsets must be an array [begin, end], not {Describe(reader.TokenType)}.");
                int n = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    long value = ReadNonNegative(ref reader, ref nameReader, "data_offsets");
                    if (n == 0) begin = value; else if (n == 1) end = value;
                    n++;
                }
                if (n != 2)
                    throw Invalid(WeightsErrorKind.InvalidHeader, SafeName(ref nameReader) + ".data_offsets", $"Tensor '{SafeName(ref nameReader)}': data_offsets must hold exactly two numbers [begin, end], not {n}.");
            }
            else
            {
                reader.Read();                                    // unknown fields are ignored, as the reference implementation does
                reader.Skip();
            }
        }
        string? missing = !hasDType ? "dtype" : rank < 0 ? "shape" : begin < 0 ? "data_offsets" : null;
        if (missing is not null)
            throw Invalid(WeightsErrorKind.InvalidHeader, SafeName(ref nameReader) + "." + missing, $"Tensor '{SafeName(ref nameReader)}' has no '{missing}'.");

        long elements = 1;
        for (int k = 0; k < rank; k++)
        {
            if (shape[k] != 0 && elements > long.MaxValue / shape[k])
                throw Invalid(WeightsErrorKind.InvalidHeader, SafeName(ref nameReader) + ".shape", $"Tensor '{SafeName(ref nameReader)}': the shape's element count overflows 64 bits.");
            elements *= shape[k];
        }
        int size = SafetensorsDTypes.SizeOf(dtype);
        if (end < begin || end > dataLength)
            throw Invalid(WeightsErrorKind.OffsetsOutOfRange, SafeName(ref nameReader) + ".data_offsets",
                $"Tensor '{SafeName(ref nameReader)}': data_offsets [{begin}, {end}] are not a range inside the {dataLength} bytes of data.");
        if (elements > long.MaxValue / size || end - begin != elements * size)
            throw Invalid(WeightsErrorKind.ByteLengthMismatch, SafeName(ref nameReader),
                $"Tensor '{SafeName(ref nameReader)}' has {end - begin} bytes of data, but {SafetensorsDTypes.NameOf(dtype)} of shape {FormatShape(shape.AsSpan(0, rank))} needs {(elements > long.MaxValue / size ? "more than 2^63" : (elements * size).ToString(System.Globalization.CultureInfo.InvariantCulture))}.");
        return new HeaderEntry(index, dtype, shape, rank, elements, begin, end);
    }

    private static SafetensorsDType ParseDType(ref Utf8JsonReader reader, ref Utf8JsonReader nameReader)
    {
        var names = SafetensorsDTypes.Utf8Names;
        for (int k = 0; k < names.Length; k++)
            if (reader.ValueTextEquals(names[k])) return (SafetensorsDType)k;
        throw Invalid(WeightsErrorKind.UnknownDType, SafeName(ref nameReader) + ".dtype",
            $"Tensor '{SafeName(ref nameReader)}' has dtype '{SafeName(ref reader)}', which safetensors does not define (F32, F16 and BF16 are read).");
    }

    private static long ReadNonNegative(ref Utf8JsonReader reader, ref Utf8JsonReader nameReader, string field)
    {
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long value) || value < 0)
            throw Invalid(WeightsErrorKind.InvalidHeader, SafeName(ref nameReader) + "." + field,
                $"Tensor '{SafeName(ref nameReader)}': {field} must hold whole numbers from 0 to 2^63 - 1.");
        return value;
    }

    /// <summary>Sorted by offset, the ranges must tile [0, dataLength): no overlap, no gap, nothing after the last.</summary>
    private static void CheckTiling(ReadOnlySpan<byte> header, Range[] ranges, long dataLength)
    {
        ranges.AsSpan().Sort();
        long position = 0;
        int previous = -1;
        foreach (var r in ranges)
        {
            if (r.Begin < position)
            {
                string a = EntryName(header, previous), b = EntryName(header, r.Entry);
                throw new WeightsFormatException(WeightsErrorKind.OverlappingData, b, $"Tensor '{b}' (bytes {r.Begin} to {r.End}) overlaps tensor '{a}' (which ends at {position}).");
            }
            if (r.Begin > position)
            {
                string b = EntryName(header, r.Entry);
                throw new WeightsFormatException(WeightsErrorKind.UncoveredData, b, $"Bytes {position} to {r.Begin} of the data, before tensor '{b}', belong to no tensor.");
            }
            if (r.End > position) { position = r.End; previous = r.Entry; }
        }
        if (position != dataLength)
            throw new WeightsFormatException(WeightsErrorKind.UncoveredData, "data",
                $"The data section has {dataLength} bytes but the tensors end at {position}: {dataLength - position} trailing bytes belong to no tensor.");
    }

    /// <summary>The name of tensor entry <paramref name="index"/> (error path only: walks the header again).</summary>
    internal static string EntryName(ReadOnlySpan<byte> header, int index)
    {
        var reader = new Utf8JsonReader(header);
        reader.Read();
        int k = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool metadata = reader.ValueTextEquals("__metadata__"u8);
            if (!metadata && k++ == index) return SafeName(ref reader);
            reader.Read();
            reader.Skip();
        }
        return "?";
    }

    /// <summary>A name for a message: the unescaped text, shortened, with invalid UTF-8 replaced; never throws.</summary>
    internal static string SafeName(ref Utf8JsonReader reader)
    {
        ReadOnlySpan<byte> raw = reader.HasValueSequence ? default : reader.ValueSpan;
        string text;
        try
        {
            text = raw.Length > 4 * MaxNameInMessage ? Encoding.UTF8.GetString(raw.Slice(0, 4 * MaxNameInMessage)) : reader.GetString() ?? "";
        }
        catch (InvalidOperationException)
        {
            text = Encoding.UTF8.GetString(raw.Slice(0, Math.Min(raw.Length, 4 * MaxNameInMessage)));
        }
        return text.Length > MaxNameInMessage ? string.Concat(text.AsSpan(0, MaxNameInMessage), "…") : text;
    }

    internal static string FormatShape(ReadOnlySpan<long> shape)
    {
        var sb = new StringBuilder("(");
        for (int k = 0; k < shape.Length; k++)
        {
            if (k > 0) sb.Append(", ");
            sb.Append(shape[k].ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return sb.Append(shape.Length == 1 ? ",)" : ")").ToString();
    }

    private static WeightsFormatException Repeated(ref Utf8JsonReader nameReader, string field) =>
        Invalid(WeightsErrorKind.InvalidHeader, SafeName(ref nameReader) + "." + field, $"Tensor '{SafeName(ref nameReader)}' has '{field}' twice.");

    private static WeightsFormatException Invalid(WeightsErrorKind kind, string field, string message) => new(kind, field, message);

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    private readonly record struct Range(long Begin, long End, int Entry) : IComparable<Range>
    {
        public int CompareTo(Range other) => Begin != other.Begin ? Begin.CompareTo(other.Begin) : End.CompareTo(other.End);
    }
}
