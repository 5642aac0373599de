using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace LstmGen.Weights;

/// <summary>One tensor listed in a safetensors header.</summary>
public sealed class SafetensorsTensorInfo
{
    internal SafetensorsTensorInfo(string name, SafetensorsDType dtype, long[] shape, long elementCount, long begin, long end)
    {
        Name = name; DType = dtype; _shape = shape; ElementCount = elementCount; DataBegin = begin; DataEnd = end;
    }

    private readonly long[] _shape;

    /// <summary>The tensor's name, e.g. <c>lstm.weight_ih_l0</c>.</summary>
    public string Name { get; }

    /// <summary>Its element type.</summary>
    public SafetensorsDType DType { get; }

    /// <summary>Its shape (empty for a scalar).</summary>
    public ReadOnlySpan<long> Shape => _shape;

    /// <summary>Number of elements (the product of the shape).</summary>
    public long ElementCount { get; }

    /// <summary>Offset of its first byte in the data section.</summary>
    public long DataBegin { get; }

    /// <summary>Offset just past its last byte in the data section.</summary>
    public long DataEnd { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {SafetensorsDTypes.NameOf(DType)} {SafetensorsHeader.FormatShape(Shape)}";
}

/// <summary>
/// A parsed safetensors file: the tensors it lists (in header order), its <c>__metadata__</c>, and each tensor's data
/// as raw bytes or float32. Parsing checks the whole header and the layout of the data (see <see cref="Safetensors"/>);
/// any problem is a <see cref="WeightsFormatException"/>.
/// </summary>
public sealed class SafetensorsFile
{
    private readonly ReadOnlyMemory<byte> _data;
    private readonly List<SafetensorsTensorInfo> _tensors;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;

    private SafetensorsFile(ReadOnlyMemory<byte> data, List<SafetensorsTensorInfo> tensors, Dictionary<string, SafetensorsTensorInfo> byName, Dictionary<string, string> metadata)
    {
        _data = data; _tensors = tensors; _byName = byName; Metadata = metadata;
    }

    /// <summary>The tensors in header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors => _tensors;

    /// <summary>The header's <c>__metadata__</c> (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Reads and parses the file at <paramref name="path"/> (up to 2 GB).</summary>
    /// <exception cref="WeightsFormatException">The file is malformed.</exception>
    public static SafetensorsFile Open(string path) => Parse(File.ReadAllBytes(path));

    /// <summary>Parses safetensors bytes; the result refers to <paramref name="file"/>, which must not change.</summary>
    /// <exception cref="WeightsFormatException">The bytes are malformed.</exception>
    public static SafetensorsFile Parse(ReadOnlyMemory<byte> file)
    {
        SafetensorsHeader.Split(file.Span, out var header, out var data);
        var sink = new ListSink(new List<SafetensorsTensorInfo>(), new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal), new Dictionary<string, string>(StringComparer.Ordinal));
        SafetensorsHeader.Walk(header, data.Length, ref sink);
        return new SafetensorsFile(file.Slice(8 + header.Length), sink.List, sink.ByName, sink.Metadata);
    }

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    public SafetensorsTensorInfo? Find(string name) => _byName.TryGetValue(name, out var info) ? info : null;

    /// <summary>The tensor named <paramref name="name"/>.</summary>
    /// <exception cref="WeightsFormatException">There is none (<see cref="WeightsErrorKind.MissingTensor"/>).</exception>
    public SafetensorsTensorInfo this[string name] => Find(name)
        ?? throw new WeightsFormatException(WeightsErrorKind.MissingTensor, name, $"The file has no tensor '{name}'.");

    /// <summary>The raw little-endian bytes of a tensor.</summary>
    public ReadOnlySpan<byte> GetBytes(SafetensorsTensorInfo tensor) =>
        _data.Span.Slice((int)tensor.DataBegin, (int)(tensor.DataEnd - tensor.DataBegin));

    /// <summary>A tensor's values as float32 (row-major).</summary>
    /// <exception cref="WeightsFormatException">No such tensor, or its dtype does not convert to float32.</exception>
    public float[] ReadFloat32(string name)
    {
        var tensor = this[name];
        CheckConvertible(tensor);
        var values = new float[tensor.ElementCount];
        SafetensorsDTypes.ToFloat32(tensor.DType, GetBytes(tensor), values);
        return values;
    }

    /// <summary>Reads a tensor's values as float32 into <paramref name="destination"/>, which must have <see cref="SafetensorsTensorInfo.ElementCount"/> values.</summary>
    public void ReadFloat32(string name, Span<float> destination)
    {
        var tensor = this[name];
        CheckConvertible(tensor);
        if (destination.Length != tensor.ElementCount)
            throw new ArgumentException($"Tensor '{name}' has {tensor.ElementCount} values; the destination holds {destination.Length}.", nameof(destination));
        SafetensorsDTypes.ToFloat32(tensor.DType, GetBytes(tensor), destination);
    }

    private static void CheckConvertible(SafetensorsTensorInfo tensor)
    {
        if (!SafetensorsDTypes.ConvertsToFloat32(tensor.DType))
            throw new WeightsFormatException(WeightsErrorKind.UnsupportedDType, tensor.Name,
                $"Tensor '{tensor.Name}' has dtype {SafetensorsDTypes.NameOf(tensor.DType)}, which does not convert to float32 (F32, F16, BF16, F64 do).");
    }

    private readonly struct ListSink(List<SafetensorsTensorInfo> list, Dictionary<string, SafetensorsTensorInfo> byName, Dictionary<string, string> metadata) : IHeaderSink
    {
        public List<SafetensorsTensorInfo> List { get; } = list;
        public Dictionary<string, SafetensorsTensorInfo> ByName { get; } = byName;
        public Dictionary<string, string> Metadata { get; } = metadata;

        public void OnTensor(ref Utf8JsonReader nameReader, in HeaderEntry entry)
        {
            string name = ReadString(ref nameReader, "tensor name");
            var info = new SafetensorsTensorInfo(name, entry.DType, entry.Shape.ToArray(), entry.ElementCount, entry.Begin, entry.End);
            if (!ByName.TryAdd(name, info))
                throw new WeightsFormatException(WeightsErrorKind.DuplicateTensor, name, $"Tensor '{SafetensorsHeader.SafeName(ref nameReader)}' appears twice in the header.");
            List.Add(info);
        }

        public void OnMetadata(ref Utf8JsonReader key, ref Utf8JsonReader value)
        {
            string k = ReadString(ref key, "__metadata__ key");
            if (!Metadata.TryAdd(k, ReadString(ref value, "__metadata__." + k)))
                throw new WeightsFormatException(WeightsErrorKind.InvalidMetadata, "__metadata__." + SafetensorsHeader.SafeName(ref key), $"'__metadata__' has the key '{SafetensorsHeader.SafeName(ref key)}' twice.");
        }

        private static string ReadString(ref Utf8JsonReader reader, string field)
        {
            try
            {
                return reader.GetString() ?? "";
            }
            catch (InvalidOperationException ex)
            {
                throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, field, $"The header's {field} '{SafetensorsHeader.SafeName(ref reader)}' is not valid UTF-8 text.", ex);
            }
        }
    }
}
