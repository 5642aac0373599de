using System;
using System.Collections.Generic;
using System.IO;
using Google.Protobuf;

namespace LstmGen.Onnx;

// The few ONNX messages an LSTM graph needs, hand-written over Google.Protobuf's CodedOutputStream. Field numbers and
// types are those of onnx/onnx.proto (proto2 syntax: repeated scalars are written unpacked).

/// <summary>A message that writes its fields; nested messages are written length-delimited.</summary>
internal abstract class OnnxMessage
{
    public abstract void WriteFields(CodedOutputStream output);

    public byte[] ToByteArray()
    {
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        WriteFields(output);
        output.Flush();
        return stream.ToArray();
    }

    protected static void String(CodedOutputStream o, int field, string? value)
    {
        if (value is null) return;
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteString(value);
    }

    protected static void Int64(CodedOutputStream o, int field, long value)
    {
        o.WriteTag(field, WireFormat.WireType.Varint);
        o.WriteInt64(value);
    }

    protected static void Bytes(CodedOutputStream o, int field, ReadOnlyMemory<byte> value)
    {
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(UnsafeByteOperations.UnsafeWrap(value));
    }

    protected static void Message(CodedOutputStream o, int field, OnnxMessage message) => Bytes(o, field, message.ToByteArray());
}

/// <summary>ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6, graph = 7, opset_import = 8.</summary>
internal sealed class ModelProto : OnnxMessage
{
    public long IrVersion;
    public string? ProducerName, ProducerVersion, DocString;
    public GraphProto Graph = new();
    public List<(string Domain, long Version)> OpsetImport = new();

    public override void WriteFields(CodedOutputStream o)
    {
        Int64(o, 1, IrVersion);
        String(o, 2, ProducerName);
        String(o, 3, ProducerVersion);
        String(o, 6, DocString);
        Message(o, 7, Graph);
        foreach (var (domain, version) in OpsetImport) Message(o, 8, new OperatorSetId(domain, version));
    }

    /// <summary>OperatorSetIdProto: domain = 1, version = 2.</summary>
    private sealed class OperatorSetId(string domain, long version) : OnnxMessage
    {
        public override void WriteFields(CodedOutputStream o)
        {
            String(o, 1, domain);
            Int64(o, 2, version);
        }
    }
}

/// <summary>GraphProto: node = 1, name = 2, initializer = 5, doc_string = 10, input = 11, output = 12.</summary>
internal sealed class GraphProto : OnnxMessage
{
    public string Name = "graph";
    public List<NodeProto> Nodes = new();
    public List<TensorProto> Initializers = new();
    public List<ValueInfoProto> Inputs = new(), Outputs = new();

    public override void WriteFields(CodedOutputStream o)
    {
        foreach (var n in Nodes) Message(o, 1, n);
        String(o, 2, Name);
        foreach (var t in Initializers) Message(o, 5, t);
        foreach (var v in Inputs) Message(o, 11, v);
        foreach (var v in Outputs) Message(o, 12, v);
    }
}

/// <summary>NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.</summary>
internal sealed class NodeProto : OnnxMessage
{
    public string[] Inputs = [], Outputs = [];
    public string Name = "", OpType = "";
    public List<AttributeProto> Attributes = new();

    public override void WriteFields(CodedOutputStream o)
    {
        foreach (var i in Inputs) String(o, 1, i);
        foreach (var x in Outputs) String(o, 2, x);
        String(o, 3, Name);
        String(o, 4, OpType);
        foreach (var a in Attributes) Message(o, 5, a);
    }
}

/// <summary>AttributeProto: name = 1, i = 3, s = 4, ints = 8, type = 20 (INT = 2, STRING = 3, INTS = 7).</summary>
internal sealed class AttributeProto : OnnxMessage
{
    private AttributeProto(string name, int type) { Name = name; Type = type; }
    public string Name { get; }
    public int Type { get; }
    private long _int;
    private string? _string;
    private long[]? _ints;

    public static AttributeProto Int(string name, long value) => new(name, 2) { _int = value };
    public static AttributeProto String(string name, string value) => new(name, 3) { _string = value };
    public static AttributeProto Ints(string name, params long[] values) => new(name, 7) { _ints = values };

    public override void WriteFields(CodedOutputStream o)
    {
        String(o, 1, Name);
        switch (Type)
        {
            case 2: Int64(o, 3, _int); break;
            case 3: Bytes(o, 4, System.Text.Encoding.UTF8.GetBytes(_string!)); break;
            default: foreach (long v in _ints!) Int64(o, 8, v); break;
        }
        Int64(o, 20, Type);
    }
}

/// <summary>TensorProto: dims = 1, data_type = 2 (FLOAT = 1, INT64 = 7), name = 8, raw_data = 9 (little-endian).</summary>
internal sealed class TensorProto : OnnxMessage
{
    public const int Float = 1, Int64Type = 7;
    public string Name = "";
    public long[] Dims = [];
    public int DataType;
    public byte[] RawData = [];

    public override void WriteFields(CodedOutputStream o)
    {
        foreach (long d in Dims) Int64(o, 1, d);
        Int64(o, 2, DataType);
        String(o, 8, Name);
        Bytes(o, 9, RawData);
    }
}

/// <summary>ValueInfoProto (name = 1, type = 2) of a tensor: TypeProto.tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 | dim_param = 2 } } }.</summary>
internal sealed class ValueInfoProto : OnnxMessage
{
    public string Name = "";
    public int ElemType = TensorProto.Float;
    /// <summary>Each dimension: a size, or a symbolic name.</summary>
    public object[] Shape = [];

    public override void WriteFields(CodedOutputStream o)
    {
        String(o, 1, Name);
        Message(o, 2, new Wrapper(1, new TensorType(ElemType, Shape)));
    }

    private sealed class Wrapper(int field, OnnxMessage inner) : OnnxMessage
    {
        public override void WriteFields(CodedOutputStream o) => Message(o, field, inner);
    }

    private sealed class TensorType(int elemType, object[] shape) : OnnxMessage
    {
        public override void WriteFields(CodedOutputStream o)
        {
            Int64(o, 1, elemType);
            Message(o, 2, new ShapeProto(shape));
        }
    }

    private sealed class ShapeProto(object[] shape) : OnnxMessage
    {
        public override void WriteFields(CodedOutputStream o)
        {
            foreach (var d in shape) Message(o, 1, new Dimension(d));
        }
    }

    private sealed class Dimension(object value) : OnnxMessage
    {
        public override void WriteFields(CodedOutputStream o)
        {
            if (value is string name) String(o, 2, name);
            else Int64(o, 1, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
