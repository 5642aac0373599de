using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace LstmGen.Weights;

/// <summary>
/// Builds a safetensors file: tensors in the order added (data laid out one after another), a <c>__metadata__</c>
/// object of strings, the header padded with spaces to a multiple of 8 bytes as the reference implementation does.
/// </summary>
public sealed class SafetensorsWriter
{
    private readonly List<(string Name, SafetensorsDType DType, long[] Shape, byte[] Data)> _tensors = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>Strings written to the header's <c>__metadata__</c> (omitted when empty).</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Number of tensors added.</summary>
    public int Count => _tensors.Count;

    /// <summary>Adds a tensor from raw little-endian bytes of <paramref name="dtype"/>.</summary>
    /// <exception cref="ArgumentException">The name is empty, taken or reserved, or the byte count does not match dtype × shape.</exception>
    public void Add(string name, SafetensorsDType dtype, ReadOnlySpan<long> shape, ReadOnlySpan<byte> littleEndianData)
    {
        long elements = CheckName(name, shape);
        if (littleEndianData.Length != elements * SafetensorsDTypes.SizeOf(dtype))
            throw new ArgumentException($"Tensor '{name}': {littleEndianData.Length} bytes do not hold {elements} values of {SafetensorsDTypes.NameOf(dtype)}.", nameof(littleEndianData));
        Append(name, dtype, shape, littleEndianData.ToArray());
    }

    /// <summary>Adds a tensor of float32 values, stored as <paramref name="storeAs"/> (F32 exactly; F16, BF16 rounded to nearest even; F64).</summary>
    /// <exception cref="ArgumentException">The name is empty, taken or reserved, or the value count does not match the shape.</exception>
    public void Add(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values, SafetensorsDType storeAs = SafetensorsDType.F32)
    {
        long elements = CheckName(name, shape);
        if (values.Length != elements)
            throw new ArgumentException($"Tensor '{name}': {values.Length} values for shape {SafetensorsHeader.FormatShape(shape)} ({elements} elements).", nameof(values));
        var data = new byte[checked(values.Length * SafetensorsDTypes.SizeOf(storeAs))];
        SafetensorsDTypes.FromFloat32(values, storeAs, data);
        Append(name, storeAs, shape, data);
    }

    /// <summary>Total size of the file in bytes.</summary>
    public long Length => 8 + Header().Length + DataLength;

    private long DataLength
    {
        get
        {
            long n = 0;
            foreach (var t in _tensors) n += t.Data.Length;
            return n;
        }
    }

    /// <summary>Writes the file to <paramref name="stream"/>.</summary>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] header = Header();
        Span<byte> length = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var t in _tensors) stream.Write(t.Data);
    }

    /// <summary>The file's bytes.</summary>
    public byte[] ToArray()
    {
        using var stream = new MemoryStream();
        WriteTo(stream);
        return stream.ToArray();
    }

    /// <summary>Writes the file to <paramref name="path"/> atomically (temporary file in the same folder, flushed, renamed over).</summary>
    public void Save(string path) => AtomicFile.Write(path, WriteTo);

    private long CheckName(string name, ReadOnlySpan<long> shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved for the header's metadata.", nameof(name));
        if (_names.Contains(name)) throw new ArgumentException($"A tensor named '{name}' was already added.", nameof(name));
        if (shape.Length > SafetensorsHeader.MaxRank) throw new ArgumentException($"Tensor '{name}' has more than {SafetensorsHeader.MaxRank} dimensions.", nameof(shape));
        long elements = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw new ArgumentException($"Tensor '{name}' has a negative dimension.", nameof(shape));
            elements = checked(elements * d);
        }
        return elements;
    }

    private void Append(string name, SafetensorsDType dtype, ReadOnlySpan<long> shape, byte[] data)
    {
        _names.Add(name);
        _tensors.Add((name, dtype, shape.ToArray(), data));
    }

    private byte[] Header()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (Metadata.Count > 0)
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in Metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, dtype, shape, data) in _tensors)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", SafetensorsDTypes.NameOf(dtype));
                json.WriteStartArray("shape");
                foreach (long d in shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + data.Length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += data.Length;
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }
}
