using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;
using LstmGen.Weights;

namespace LstmGen.Onnx;

/// <summary>Options of <see cref="OnnxExport"/>.</summary>
public sealed class OnnxExportOptions
{
    /// <summary>The activation after the dense head (the model's <c>OutputActivation</c>; the parameters do not record it).</summary>
    public OutputActivation OutputActivation { get; init; }

    /// <summary>The model's name in the file.</summary>
    public string GraphName { get; init; } = "lstmgen";
}

/// <summary>
/// Writes a model as an ONNX file (opset 17) that ONNX Runtime and other ONNX tools run: input <c>input</c>
/// (sequence, batch, InputSize), one <c>LSTM</c> node per layer (weights converted by <see cref="OnnxLayout"/>;
/// Squeeze, or Transpose and Reshape for a bidirectional layer, between layers), the dense head as MatMul + Add and its
/// activation, and outputs <c>output</c> (sequence, batch, OutputSize), <c>h_n</c> and <c>c_n</c>
/// (layers × directions, batch, HiddenSize), PyTorch's names and layouts. Sequence length and batch are free
/// dimensions; initial states are zero. A GRU's parameters (<see cref="LstmParameters.Cell"/>) give one <c>GRU</c> node per
/// layer with <c>linear_before_reset = 1</c> (PyTorch's cell) and no <c>c_n</c>.
/// </summary>
public static class OnnxExport
{
    /// <summary>The ONNX opset the file imports.</summary>
    public const long Opset = 17;

    /// <summary>The ONNX IR version of the file (8: ONNX 1.10 and later, ONNX Runtime 1.10 and later).</summary>
    public const long IrVersion = 8;

    /// <summary>Writes the ONNX model of <paramref name="parameters"/> to <paramref name="path"/>.</summary>
    public static void Save(string path, LstmParameters parameters, OnnxExportOptions? options = null) =>
        File.WriteAllBytes(path, ToBytes(parameters, options));

    /// <summary>The serialized ONNX ModelProto of <paramref name="parameters"/>.</summary>
    /// <exception cref="NotSupportedException">The model has a part the ONNX LSTM operator cannot express (projection, learned initial states).</exception>
    public static byte[] ToBytes(LstmParameters parameters, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        options ??= new OnnxExportOptions();
        var layers = OnnxLayout.Export(parameters);
        if (layers.Count == 0) throw new NotSupportedException("The parameters have no recurrent layer (no 'weight_ih_l0').");
        // a GRU's parameters become ONNX GRU nodes with linear_before_reset = 1 (PyTorch's cell), and there is no c_n
        bool gru = parameters.Cell == CellKind.Gru;
        int gates = gru ? 3 : 4;
        var g = new GraphProto { Name = options.GraphName };
        int input = layers[0].InputSize;
        g.Inputs.Add(new ValueInfoProto { Name = "input", Shape = ["sequence", "batch", input] });

        g.Initializers.Add(Int64s("squeeze_axes", 1));
        g.Initializers.Add(Int64s("merge_directions", 0, 0, -1));
        string x = "input";
        var hn = new List<string>();
        var cn = new List<string>();
        int width = 0;
        for (int k = 0; k < layers.Count; k++)
        {
            var layer = layers[k];
            string s = k.ToString(CultureInfo.InvariantCulture);
            int h = layer.HiddenSize, d = layer.Directions;
            g.Initializers.Add(Floats("W" + s, layer.W, d, gates * h, layer.InputSize));
            g.Initializers.Add(Floats("R" + s, layer.R, d, gates * h, h));
            var inputs = new List<string> { x, "W" + s, "R" + s, "" };
            if (layer.B is not null) { g.Initializers.Add(Floats("B" + s, layer.B, d, 2 * gates * h)); inputs[3] = "B" + s; }
            if (layer.P is not null) { g.Initializers.Add(Floats("P" + s, layer.P, d, 3 * h)); inputs.AddRange(["", "", "", "P" + s]); }
            while (inputs.Count > 3 && inputs[^1].Length == 0) inputs.RemoveAt(inputs.Count - 1);
            // Y (sequence, directions, batch, H), Y_h and Y_c (directions, batch, H)
            if (gru)
                g.Nodes.Add(Node("GRU", "gru_l" + s, inputs.ToArray(), ["Y" + s, "Y_h" + s],
                    AttributeProto.Int("hidden_size", h), AttributeProto.String("direction", d == 2 ? "bidirectional" : "forward"),
                    AttributeProto.Int("linear_before_reset", 1)));
            else
                g.Nodes.Add(Node("LSTM", "lstm_l" + s, inputs.ToArray(), ["Y" + s, "Y_h" + s, "Y_c" + s],
                    AttributeProto.Int("hidden_size", h), AttributeProto.String("direction", d == 2 ? "bidirectional" : "forward")));
            hn.Add("Y_h" + s);
            if (!gru) cn.Add("Y_c" + s);
            string next = "layer_output" + s;                      // (sequence, batch, D·H): PyTorch's per-step output of the layer
            if (d == 1)
                g.Nodes.Add(Node("Squeeze", "squeeze_l" + s, ["Y" + s, "squeeze_axes"], [next]));
            else
            {
                g.Nodes.Add(Node("Transpose", "transpose_l" + s, ["Y" + s], ["Y_t" + s], AttributeProto.Ints("perm", 0, 2, 1, 3)));
                g.Nodes.Add(Node("Reshape", "reshape_l" + s, ["Y_t" + s, "merge_directions"], [next]));
            }
            x = next;
            width = d * h;
        }

        string output = x;
        var head = FindHead(parameters);
        if (head is var (weight, bias))
        {
            int o = weight.Rows;
            var transposed = new float[weight.Length];                  // fc.weight (O, H)ᵀ = (H, O) for MatMul
            for (int r = 0; r < weight.Rows; r++)
                for (int c = 0; c < weight.Columns; c++)
                    transposed[c * o + r] = weight[r, c];
            g.Initializers.Add(Floats("fc_weight_t", transposed, weight.Columns, o));
            g.Initializers.Add(Floats("fc_bias", bias.Values.ToArray(), o));
            g.Nodes.Add(Node("MatMul", "fc_matmul", [x, "fc_weight_t"], ["fc_product"]));            // y = h · Wᵀ
            string z = options.OutputActivation == OutputActivation.None ? "output" : "fc_logits";
            g.Nodes.Add(Node("Add", "fc_add", ["fc_product", "fc_bias"], [z]));                     //     + b
            switch (options.OutputActivation)
            {
                case OutputActivation.None: break;
                case OutputActivation.Sigmoid: g.Nodes.Add(Node("Sigmoid", "fc_sigmoid", [z], ["output"])); break;
                case OutputActivation.Tanh: g.Nodes.Add(Node("Tanh", "fc_tanh", [z], ["output"])); break;
                case OutputActivation.Softmax: g.Nodes.Add(Node("Softmax", "fc_softmax", [z], ["output"], AttributeProto.Int("axis", -1))); break;
                default: throw new ArgumentOutOfRangeException(nameof(options), options.OutputActivation, "Unknown output activation.");
            }
            output = "output";
            width = o;
        }
        else
        {
            if (options.OutputActivation != OutputActivation.None) throw new ArgumentException("An output activation needs a dense head (fc.weight, fc.bias).", nameof(options));
            g.Nodes.Add(Node("Identity", "output_identity", [x], ["output"]));
            output = "output";
        }
        g.Nodes.Add(Node("Concat", "h_n_concat", hn.ToArray(), ["h_n"], AttributeProto.Int("axis", 0)));
        if (!gru) g.Nodes.Add(Node("Concat", "c_n_concat", cn.ToArray(), ["c_n"], AttributeProto.Int("axis", 0)));
        int states = 0;
        foreach (var l in layers) states += l.Directions;
        g.Outputs.Add(new ValueInfoProto { Name = output, Shape = ["sequence", "batch", width] });
        g.Outputs.Add(new ValueInfoProto { Name = "h_n", Shape = [states, "batch", layers[^1].HiddenSize] });
        if (!gru) g.Outputs.Add(new ValueInfoProto { Name = "c_n", Shape = [states, "batch", layers[^1].HiddenSize] });

        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "LstmGen.Onnx",
            ProducerVersion = "0.1.0",
            DocString = gru ? "GRU exported by LstmGen: input (sequence, batch, input_size); outputs as torch.nn.GRU (+ Linear head): output, h_n."
                            : "LSTM exported by LstmGen: input (sequence, batch, input_size); outputs as torch.nn.LSTM (+ Linear head): output, h_n, c_n.",
            Graph = g,
        };
        model.OpsetImport.Add(("", Opset));
        return model.ToByteArray();
    }

    private static (ParameterTensor Weight, ParameterTensor Bias)? FindHead(LstmParameters parameters)
    {
        ParameterTensor? weight = null, bias = null;
        foreach (var t in parameters.Tensors)
        {
            if (t.Name == "fc.weight") weight = t;
            else if (t.Name == "fc.bias") bias = t;
        }
        return weight is not null && bias is not null ? (weight, bias) : null;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = name, Inputs = inputs, Outputs = outputs };
        node.Attributes.AddRange(attributes);
        return node;
    }

    private static TensorProto Floats(string name, float[] values, params long[] dims)
    {
        var raw = new byte[values.Length * 4];
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(raw);
        else for (int k = 0; k < values.Length; k++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(4 * k), values[k]);
        return new TensorProto { Name = name, Dims = dims, DataType = TensorProto.Float, RawData = raw };
    }

    private static TensorProto Int64s(string name, params long[] values)
    {
        var raw = new byte[values.Length * 8];
        for (int k = 0; k < values.Length; k++) System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(8 * k), values[k]);
        return new TensorProto { Name = name, Dims = [values.Length], DataType = TensorProto.Int64Type, RawData = raw };
    }
}
