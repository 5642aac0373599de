using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace LstmGen.Weights;

/// <summary>What an RTNeural (Keras-style) JSON model file says about its model.</summary>
/// <param name="InputSize">Inputs per step (the last entry of <c>in_shape</c>).</param>
/// <param name="HiddenSize">Units of every LSTM layer.</param>
/// <param name="NumLayers">Stacked LSTM layers.</param>
/// <param name="OutputSize">Outputs of the dense layer, or 0 when the file has none (the model's output is h).</param>
/// <param name="OutputActivation">The dense layer's activation (its own, or an activation layer after it).</param>
/// <param name="Skip">AIDA-X's <c>in_skip</c>: input channels added to the output (0 for none).</param>
/// <param name="OutputGainDb">AIDA-X's <c>out_gain</c> in dB, or null. The plug-in applies it after the model; LstmGen
/// reports it and leaves it to the caller.</param>
public sealed record RTNeuralModelInfo(int InputSize, int HiddenSize, int NumLayers, int OutputSize, OutputActivation OutputActivation, int Skip, double? OutputGainDb);

/// <summary>
/// Reads the Keras-style JSON model files RTNeural loads (<c>RTNeural::json_parser</c>), the format of AIDA-X's amp
/// models and of RTNeural's Keras and PyTorch exporters: <c>{"in_shape": [null, null, I], "layers": [ … ]}</c>, each
/// layer <c>{"type", "activation", "shape": [null, null, units], "weights"}</c>. Read here: one or more <c>"lstm"</c>
/// layers of one size (weights <c>[kernel, recurrent_kernel, bias]</c> as Keras stores them: kernel I × 4H,
/// recurrent_kernel H × 4H, bias 4H, gates in the order i, f, c, o, which is PyTorch's i, f, g, o), then at most one
/// <c>"dense"</c> (or <c>"time-distributed-dense"</c>) layer (weights <c>[kernel (H × O), bias (O)]</c>) with activation
/// "" (none), "linear", "tanh", "sigmoid" or "softmax", given on the layer or by one <c>"activation"</c> layer after it;
/// and AIDA-X's <c>in_skip</c> (the skip connection) and <c>out_gain</c> (reported, not applied). Anything else (GRU,
/// convolution, LSTM layers with another activation, a ReLU head) is refused with the layer it is.
/// </summary>
/// <remarks>
/// Keras' LSTM has one bias: it goes to <c>bias_ih</c> and <c>bias_hh</c> is set to zero. Declare the model as
/// <c>[LstmModel(InputSize = …, HiddenSize = …, NumLayers = …, OutputSize = …, OutputActivation = …, Skip = …)]</c>.
/// Everything is checked before the first value is written, so a file that does not fit leaves the parameters as they
/// were; every problem is a <see cref="WeightsFormatException"/> naming the field. Reflection-free and Native AOT safe.
/// </remarks>
public static class RTNeuralJson
{
    /// <summary>The largest file read, in bytes.</summary>
    public const int MaxFileLength = 256 * 1024 * 1024;

    /// <summary>Loads the model in the JSON file at <paramref name="path"/> into <paramref name="target"/>.</summary>
    /// <returns>What the file says about its model.</returns>
    /// <exception cref="WeightsFormatException">The file is malformed or describes another model.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static RTNeuralModelInfo Load(string path, LstmParameters target) => Load(JsonModelFile.Read(path, MaxFileLength), target);

    /// <summary>Loads the model in <paramref name="json"/> (UTF-8) into <paramref name="target"/>.</summary>
    /// <inheritdoc cref="Load(string, LstmParameters)"/>
    public static RTNeuralModelInfo Load(ReadOnlySpan<byte> json, LstmParameters target)
    {
        ArgumentNullException.ThrowIfNull(target);
        using var document = JsonModelFile.Parse(json);
        var (model, lstm, dense) = Read(document.RootElement);
        CheckModel(model, target);

        var values = new float[target.Count];
        int h = model.HiddenSize;
        for (int k = 0; k < lstm.Count; k++)
        {
            var (index, weights) = lstm[k];
            string field = $"layers[{index}].weights";
            if (weights.ValueKind != JsonValueKind.Array || weights.GetArrayLength() != 3)
                throw new WeightsFormatException(WeightsErrorKind.ShapeMismatch, field,
                    $"An LSTM layer's weights are [kernel, recurrent_kernel, bias]; {field} is {Describe(weights)}.");
            int inputs = k == 0 ? model.InputSize : h;
            var wih = target["weight_ih_l" + k];
            var whh = target["weight_hh_l" + k];
            // Keras stores x·kernel: kernel[i][r] is PyTorch's weight_ih[r][i], and likewise for the recurrent kernel.
            ReadMatrix(weights[0], field + "[0] (kernel)", inputs, 4 * h, (i, r, v) => values[wih.Offset + r * inputs + i] = v);
            ReadMatrix(weights[1], field + "[1] (recurrent_kernel)", h, 4 * h, (i, r, v) => values[whh.Offset + r * h + i] = v);
            var bih = target["bias_ih_l" + k];
            ReadVector(weights[2], field + "[2] (bias)", 4 * h, (r, v) => values[bih.Offset + r] = v);   // bias_hh_l{k} stays 0
        }
        if (dense is JsonElement denseWeights)
        {
            string field = $"layers[{lstm.Count}].weights";
            if (denseWeights.ValueKind != JsonValueKind.Array || denseWeights.GetArrayLength() != 2)
                throw new WeightsFormatException(WeightsErrorKind.ShapeMismatch, field,
                    $"A dense layer's weights are [kernel, bias]; {field} is {Describe(denseWeights)}.");
            int outputs = model.OutputSize;
            var fcw = target[TensorPrefixes.ModelHeadPrefix + "weight"];
            var fcb = target[TensorPrefixes.ModelHeadPrefix + "bias"];
            ReadMatrix(denseWeights[0], field + "[0] (kernel)", h, outputs, (i, o, v) => values[fcw.Offset + o * h + i] = v);
            ReadVector(denseWeights[1], field + "[1] (bias)", outputs, (o, v) => values[fcb.Offset + o] = v);
        }

        // Everything is checked: write.
        values.CopyTo(target.GetWritableValues());
        return model;
    }

    /// <summary>What the file says about its model, without loading it (to choose or check the attribute's sizes).</summary>
    /// <exception cref="WeightsFormatException">The file is not an RTNeural JSON model LstmGen can read.</exception>
    public static RTNeuralModelInfo ReadInfo(ReadOnlySpan<byte> json)
    {
        using var document = JsonModelFile.Parse(json);
        return Read(document.RootElement).Model;
    }

    /// <summary>The model the file describes, and its LSTM layers' and dense layer's weights (not yet read).</summary>
    private static (RTNeuralModelInfo Model, List<(int Index, JsonElement Weights)> Lstm, JsonElement? Dense) Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
            throw Invalid("layers", "The file has no \"layers\" list: it is not an RTNeural (Keras-style) model file.");
        int inputs = LastSize(root, "in_shape", "in_shape");

        var lstm = new List<(int, JsonElement)>();
        JsonElement? dense = null;
        int hidden = 0, outputs = 0, index = 0;
        string? activation = null;
        bool activationLayer = false;
        foreach (var layer in layers.EnumerateArray())
        {
            string field = $"layers[{index}]";
            if (layer.ValueKind != JsonValueKind.Object || !layer.TryGetProperty("type", out var typeValue) || typeValue.ValueKind != JsonValueKind.String)
                throw Invalid(field, $"{field} has no \"type\" string.");
            string type = typeValue.GetString()!;
            string layerActivation = Activation(layer, field);
            switch (type)
            {
                case "lstm":
                    if (dense is not null)
                        throw Refused(field, "an LSTM layer after the dense layer; LstmGen's models are LSTM layers, then at most one dense layer");
                    int units = LastSize(layer, "shape", field + ".shape");
                    if (lstm.Count > 0 && units != hidden)
                        throw Refused(field, $"LSTM layers of {hidden} and {units} units; LstmGen's stacked layers share one hidden size");
                    if (layerActivation is not ("" or "tanh"))
                        throw Refused(field + ".activation", $"an LSTM layer with activation '{layerActivation}'; LstmGen's LSTM uses tanh (and σ for its gates), as Keras' default");
                    hidden = units;
                    lstm.Add((index, Weights(layer, field)));
                    break;
                case "dense":
                case "time-distributed-dense":
                    if (lstm.Count == 0)
                        throw Refused(field, "a dense layer before any LSTM layer; LstmGen's models are LSTM layers, then at most one dense layer");
                    if (dense is not null)
                        throw Refused(field, "a second dense layer; LstmGen's head is one dense layer");
                    outputs = LastSize(layer, "shape", field + ".shape");
                    activation = layerActivation;
                    dense = Weights(layer, field);
                    break;
                case "activation":
                    if (dense is null || activationLayer || activation is not ("" or "linear"))
                        throw Refused(field, "an activation layer that does not directly follow a dense layer without an activation of its own; LstmGen has one activation, on its head");
                    activation = layerActivation;
                    activationLayer = true;
                    break;
                case "gru":
                    throw Refused(field, "a GRU layer; this version reads LSTM models only (GRU is planned)");
                default:
                    throw Refused(field, $"a '{type}' layer; LstmGen reads LSTM layers, then at most one dense layer");
            }
            index++;
        }
        if (lstm.Count == 0)
            throw Refused("layers", "no LSTM layer");

        var outputActivation = (activation ?? "") switch
        {
            "" or "linear" => OutputActivation.None,
            "tanh" => OutputActivation.Tanh,
            "sigmoid" => OutputActivation.Sigmoid,
            "softmax" => OutputActivation.Softmax,
            _ => throw Refused(activationLayer ? $"layers[{index - 1}].activation" : $"layers[{lstm.Count}].activation",
                $"a dense layer with activation '{activation}'; LstmGen's OutputActivation is None, Sigmoid, Tanh or Softmax"),
        };

        int skip = 0;
        if (root.TryGetProperty("in_skip", out var inSkip) && inSkip.ValueKind != JsonValueKind.Null)
            skip = inSkip.ValueKind == JsonValueKind.Number && inSkip.TryGetInt32(out int s) && s >= 0 ? s
                : throw Invalid("in_skip", "in_skip must be a whole number ≥ 0 (AIDA-X writes 0 or 1).");
        double? gain = null;
        if (root.TryGetProperty("out_gain", out var outGain) && outGain.ValueKind != JsonValueKind.Null)
            gain = outGain.ValueKind == JsonValueKind.Number && outGain.TryGetDouble(out double g) && double.IsFinite(g) ? g
                : throw Invalid("out_gain", "out_gain must be a number (dB).");
        return (new RTNeuralModelInfo(inputs, hidden, lstm.Count, outputs, outputActivation, skip, gain), lstm, dense);
    }

    /// <summary>The file's model against the one loading it: its tensors must be exactly the LSTM's and the head's.</summary>
    private static void CheckModel(RTNeuralModelInfo file, LstmParameters target)
    {
        var tensors = target.Tensors;
        int layers = 0;
        while (JsonModelFile.IndexOf(tensors, "weight_ih_l" + layers) >= 0) layers++;
        int hidden = layers > 0 ? target["weight_hh_l0"].Columns : 0;
        int inputs = layers > 0 ? target["weight_ih_l0"].Columns : 0;
        int head = JsonModelFile.IndexOf(tensors, TensorPrefixes.ModelHeadPrefix + "weight");
        int outputs = head >= 0 ? tensors[head].Rows : 0;
        bool plain = layers > 0 && JsonModelFile.IndexOf(tensors, "bias_ih_l0") >= 0 && tensors.Count == 4 * layers + (head >= 0 ? 2 : 0);
        string declare = "Declare " + Declaration(file) + ".";
        string fileModel = $"LSTM(input_size {file.InputSize}, hidden_size {file.HiddenSize}, num_layers {file.NumLayers})" +
                           (file.OutputSize > 0 ? $" → Dense({file.OutputSize})" : " without a dense layer");
        if (!plain || file.InputSize != inputs || file.HiddenSize != hidden || file.NumLayers != layers || file.OutputSize != outputs)
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "layers",
                $"The file's model is {fileModel}; " +
                (plain ? $"the model loading it is LSTM({inputs}, {hidden}, {layers}) → " + (outputs > 0 ? $"Linear({outputs})" : "no head")
                       : "the model loading it has other tensors (bias-free, bidirectional, projection, peepholes or learned initial state)") + ". " + declare);
        if (file.OutputSize > 0 && file.OutputActivation != target.OutputActivation)
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "activation",
                $"The file's dense layer has activation {file.OutputActivation}; the model loading it has OutputActivation {target.OutputActivation}. {declare}");
        if (file.Skip != target.Skip)
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "in_skip",
                file.Skip > 0
                    ? $"The file's model adds its first {file.Skip} input channel(s) to the output (in_skip = {file.Skip}); the model loading it does not: declare it with Skip = {file.Skip} on [LstmModel]."
                    : $"The file's model has no skip connection, but the model loading it has Skip = {target.Skip}: remove Skip from [LstmModel].");
    }

    /// <summary>The attribute that declares the file's model.</summary>
    internal static string Declaration(RTNeuralModelInfo m) =>
        $"[LstmModel(InputSize = {m.InputSize}, HiddenSize = {m.HiddenSize}" + (m.NumLayers > 1 ? $", NumLayers = {m.NumLayers}" : "") +
        (m.OutputSize > 0 ? $", OutputSize = {m.OutputSize}" : "") +
        (m.OutputSize > 0 && m.OutputActivation != OutputActivation.None ? $", OutputActivation = OutputActivation.{m.OutputActivation}" : "") +
        (m.Skip > 0 ? $", Skip = {m.Skip}" : "") + ")]";

    /// <summary>The last entry of a shape list (<c>[null, null, 40]</c> → 40).</summary>
    private static int LastSize(JsonElement owner, string property, string field)
    {
        if (!owner.TryGetProperty(property, out var shape) || shape.ValueKind != JsonValueKind.Array || shape.GetArrayLength() == 0)
            throw Invalid(field, $"{field} must be a shape list such as [null, null, 40].");
        var last = shape[shape.GetArrayLength() - 1];
        return last.ValueKind == JsonValueKind.Number && last.TryGetInt32(out int size) && size >= 1 ? size
            : throw Invalid(field, $"The last entry of {field} must be a whole number ≥ 1 (the layer's size).");
    }

    private static string Activation(JsonElement layer, string field) =>
        !layer.TryGetProperty("activation", out var a) || a.ValueKind == JsonValueKind.Null ? ""
        : a.ValueKind == JsonValueKind.String ? a.GetString()!
        : throw Invalid(field + ".activation", $"{field}.activation must be a string.");

    private static JsonElement Weights(JsonElement layer, string field) =>
        layer.TryGetProperty("weights", out var w) ? w : throw Invalid(field + ".weights", $"{field} has no \"weights\".");

    /// <summary>A rows × columns list of lists of numbers, each value handed to <paramref name="store"/>(row, column, value).</summary>
    private static void ReadMatrix(JsonElement value, string field, int rows, int columns, Action<int, int, float> store)
    {
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() != rows)
            throw Mismatch(field, $"[{rows}, {columns}]", value);
        int i = 0;
        foreach (var row in value.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array || row.GetArrayLength() != columns)
                throw Mismatch(field, $"[{rows}, {columns}]", value);
            int j = 0;
            foreach (var element in row.EnumerateArray())
                store(i, j++, JsonModelFile.Number(element, field, field));
            i++;
        }
    }

    private static void ReadVector(JsonElement value, string field, int length, Action<int, float> store)
    {
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() != length)
            throw Mismatch(field, $"[{length}]", value);
        int i = 0;
        foreach (var element in value.EnumerateArray())
            store(i++, JsonModelFile.Number(element, field, field));
    }

    private static WeightsFormatException Mismatch(string field, string shape, JsonElement value) =>
        new(WeightsErrorKind.ShapeMismatch, field, $"{field} is not a {shape} list of numbers as the model needs (found {Describe(value)}).");

    private static string Describe(JsonElement value) => JsonModelFile.Describe(value);

    private static WeightsFormatException Refused(string field, string what) =>
        new(WeightsErrorKind.ModelMismatch, field, $"The file has {what}.");

    private static WeightsFormatException Invalid(string field, string message) => new(WeightsErrorKind.InvalidHeader, field, message);
}
