using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace LstmGen.Tests.Oracles;

/// <summary>An ONNX node attribute (only the kinds the oracles need).</summary>
internal sealed class OnnxAttribute
{
    private OnnxAttribute(string name, int type) { Name = name; Type = type; }
    public string Name { get; }
    /// <summary>AttributeProto.AttributeType: FLOAT=1, INT=2, STRING=3, FLOATS=6, INTS=7.</summary>
    public int Type { get; }
    public long Int { get; private init; }
    public float Float { get; private init; }
    public string? String { get; private init; }
    public long[]? Ints { get; private init; }
    public float[]? Floats { get; private init; }

    public static OnnxAttribute Of(string name, long value) => new(name, 2) { Int = value };
    public static OnnxAttribute Of(string name, float value) => new(name, 1) { Float = value };
    public static OnnxAttribute Of(string name, string value) => new(name, 3) { String = value };
    public static OnnxAttribute Of(string name, long[] values) => new(name, 7) { Ints = values };
    public static OnnxAttribute Of(string name, float[] values) => new(name, 6) { Floats = values };
}

/// <summary>
/// Builds a single-graph ONNX ModelProto and serializes it with a hand-written protobuf
/// encoder (field numbers from onnx/onnx.proto; no protobuf package). Tensors are float32
/// (elem_type 1) or int64 (elem_type 7); initializers are written as raw_data (little-endian).
/// </summary>
internal sealed class OnnxModelWriter
{
    private const int Float32 = 1, Int64 = 7;

    private readonly long _irVersion, _opset;
    private readonly List<(string Name, int ElemType, long[] Shape)> _inputs = new();
    private readonly List<(string Name, int ElemType, long[] Shape)> _outputs = new();
    private readonly List<(string Name, int ElemType, long[] Dims, byte[] Raw)> _initializers = new();
    private readonly List<(string Op, string[] Inputs, string[] Outputs, OnnxAttribute[] Attrs)> _nodes = new();

    public OnnxModelWriter(long opset = 14, long irVersion = 7)
    {
        _opset = opset;
        _irVersion = irVersion;
    }

    public void AddInput(string name, params long[] shape) => _inputs.Add((name, Float32, shape));
    public void AddOutput(string name, params long[] shape) => _outputs.Add((name, Float32, shape));

    public void AddInitializer(string name, long[] dims, ReadOnlySpan<float> data)
    {
        CheckCount(name, dims, data.Length);
        _initializers.Add((name, Float32, dims, ToLittleEndian(MemoryMarshal.AsBytes(data))));
    }

    public void AddInitializer(string name, long[] dims, ReadOnlySpan<long> data)
    {
        CheckCount(name, dims, data.Length);
        _initializers.Add((name, Int64, dims, ToLittleEndianInt64(data)));
    }

    /// <summary>Adds a node; an empty string in <paramref name="inputs"/> marks an omitted optional input.</summary>
    public void AddNode(string opType, string[] inputs, string[] outputs, params OnnxAttribute[] attributes)
        => _nodes.Add((opType, inputs, outputs, attributes));

    public byte[] ToBytes()
    {
        var model = new ProtoWriter();
        model.WriteInt64(1, _irVersion);                       // ir_version
        model.WriteString(2, "LstmGen.Tests.OnnxOracle");      // producer_name
        model.WriteMessage(7, WriteGraph);                     // graph
        model.WriteMessage(8, o => { o.WriteString(1, ""); o.WriteInt64(2, _opset); }); // opset_import
        return model.ToArray();
    }

    private void WriteGraph(ProtoWriter g)
    {
        int n = 0;
        foreach (var (op, inputs, outputs, attrs) in _nodes)
        {
            string nodeName = op + "_" + n++.ToString(System.Globalization.CultureInfo.InvariantCulture);
            g.WriteMessage(1, node =>                           // GraphProto.node
            {
                foreach (var i in inputs) node.WriteString(1, i);   // NodeProto.input
                foreach (var o in outputs) node.WriteString(2, o);  // NodeProto.output
                node.WriteString(3, nodeName);                      // NodeProto.name
                node.WriteString(4, op);                            // NodeProto.op_type
                foreach (var a in attrs) node.WriteMessage(5, w => WriteAttribute(w, a));
            });
        }
        g.WriteString(2, "lstm_oracle");                        // GraphProto.name
        foreach (var (name, elemType, dims, raw) in _initializers)
        {
            g.WriteMessage(5, t =>                              // GraphProto.initializer (TensorProto)
            {
                foreach (var d in dims) t.WriteInt64(1, d);     // dims
                t.WriteInt64(2, elemType);                      // data_type
                t.WriteString(8, name);                         // name
                t.WriteBytes(9, raw);                           // raw_data
            });
        }
        foreach (var v in _inputs) g.WriteMessage(11, w => WriteValueInfo(w, v.Name, v.ElemType, v.Shape));
        foreach (var v in _outputs) g.WriteMessage(12, w => WriteValueInfo(w, v.Name, v.ElemType, v.Shape));
    }

    private static void WriteValueInfo(ProtoWriter w, string name, int elemType, long[] shape)
    {
        w.WriteString(1, name);                                 // ValueInfoProto.name
        w.WriteMessage(2, type =>                               // ValueInfoProto.type (TypeProto)
            type.WriteMessage(1, tensor =>                      // TypeProto.tensor_type
            {
                tensor.WriteInt64(1, elemType);                 // elem_type
                tensor.WriteMessage(2, s =>                     // shape (TensorShapeProto)
                {
                    foreach (var d in shape) s.WriteMessage(1, dim => dim.WriteInt64(1, d)); // dim { dim_value }
                });
            }));
    }

    private static void WriteAttribute(ProtoWriter w, OnnxAttribute a)
    {
        w.WriteString(1, a.Name);                               // AttributeProto.name
        switch (a.Type)
        {
            case 1: w.WriteFloat(2, a.Float); break;            // f
            case 2: w.WriteInt64(3, a.Int); break;              // i
            case 3: w.WriteBytes(4, Encoding.UTF8.GetBytes(a.String!)); break; // s
            case 6: foreach (var f in a.Floats!) w.WriteFloat(7, f); break;    // floats
            case 7: foreach (var i in a.Ints!) w.WriteInt64(8, i); break;      // ints
            default: throw new InvalidOperationException("attribute type " + a.Type);
        }
        w.WriteInt64(20, a.Type);                               // type
    }

    private static void CheckCount(string name, long[] dims, int count)
    {
        long n = 1;
        foreach (var d in dims) n *= d;
        if (n != count)
            throw new ArgumentException($"initializer '{name}': {count} values for shape [{string.Join(",", dims)}]");
    }

    private static byte[] ToLittleEndian(ReadOnlySpan<byte> bytes)
    {
        var raw = bytes.ToArray();
        if (!BitConverter.IsLittleEndian)
            for (int k = 0; k < raw.Length; k += 4) Array.Reverse(raw, k, 4);
        return raw;
    }

    private static byte[] ToLittleEndianInt64(ReadOnlySpan<long> values)
    {
        var raw = new byte[values.Length * 8];
        for (int k = 0; k < values.Length; k++)
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(8 * k), values[k]);
        return raw;
    }

    /// <summary>Minimal protobuf wire-format writer (varint, fixed32, length-delimited).</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _s = new();

        public byte[] ToArray() => _s.ToArray();

        private void Varint(ulong v)
        {
            while (v >= 0x80) { _s.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _s.WriteByte((byte)v);
        }

        private void Tag(int field, int wireType) => Varint(((ulong)field << 3) | (uint)wireType);

        public void WriteInt64(int field, long v) { Tag(field, 0); Varint((ulong)v); } // negative: 10-byte two's complement, as protobuf does

        public void WriteFloat(int field, float v)
        {
            Tag(field, 5);
            Span<byte> b = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(b, v);
            _s.Write(b);
        }

        public void WriteBytes(int field, ReadOnlySpan<byte> bytes)
        {
            Tag(field, 2);
            Varint((ulong)bytes.Length);
            _s.Write(bytes);
        }

        public void WriteString(int field, string s) => WriteBytes(field, Encoding.UTF8.GetBytes(s));

        public void WriteMessage(int field, Action<ProtoWriter> body)
        {
            var inner = new ProtoWriter();
            body(inner);
            WriteBytes(field, inner._s.GetBuffer().AsSpan(0, (int)inner._s.Length));
        }
    }
}
