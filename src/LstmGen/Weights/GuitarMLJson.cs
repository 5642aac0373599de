using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace LstmGen.Weights;

/// <summary>What a GuitarML / Automated-GuitarAmpModelling JSON file says about its model (its <c>model_data</c>).</summary>
/// <param name="UnitType">The recurrent cell: <c>LSTM</c> or <c>GRU</c> (loaded into a <c>[GruModel]</c>).</param>
/// <param name="InputSize">Input channels (1 for a plain amp or pedal; more when knob positions are inputs too).</param>
/// <param name="HiddenSize">Units of the recurrent layer(s).</param>
/// <param name="NumLayers">Stacked recurrent layers.</param>
/// <param name="OutputSize">Outputs of the dense head (<c>lin</c>).</param>
/// <param name="Skip">The skip connection: input channels added to the output (0 for none).</param>
/// <param name="HeadBias">Whether the head has a bias (<c>bias_fl</c>); without one the model's <c>fc.bias</c> is set to 0.</param>
public sealed record GuitarMLModelInfo(string UnitType, int InputSize, int HiddenSize, int NumLayers, int OutputSize, int Skip, bool HeadBias);

/// <summary>
/// Reads the JSON model files of Automated-GuitarAmpModelling's <c>SimpleRNN</c> (CoreAudioML's <c>save_model</c>), the
/// format GuitarML's NeuralPi, Proteus and Chameleon plug-ins load: <c>{"model_data": {…}, "state_dict": {…}}</c>, the
/// state dict's tensors as nested lists of numbers under the names <c>rec.weight_ih_l0</c>, …, <c>lin.weight</c>,
/// <c>lin.bias</c>. The model is <c>nn.LSTM(input_size, hidden_size, num_layers)</c>, then <c>nn.Linear(hidden_size,
/// output_size, bias = bias_fl)</c>, plus the input's first <c>skip</c> channels: declare it as
/// <c>[LstmModel(InputSize = …, HiddenSize = …, NumLayers = …, OutputSize = …, Skip = …)]</c>. A file with
/// <c>"unit_type": "GRU"</c> is <c>nn.GRU</c> with the same names: declare <c>[GruModel(…)]</c> with the same arguments.
/// </summary>
/// <remarks>
/// Everything is checked before the first value is written, so a file that does not fit leaves the parameters as they
/// were; every problem is a <see cref="WeightsFormatException"/> naming the field or tensor. Numbers are read as double
/// and rounded to float32, as <c>torch.tensor(list)</c> does. Reflection-free (<see cref="JsonDocument"/>) and Native AOT safe.
/// </remarks>
public static class GuitarMLJson
{
    /// <summary>The largest file read, in bytes (a 3-layer LSTM(128) written as JSON text is about 10 MB).</summary>
    public const int MaxFileLength = 256 * 1024 * 1024;

    private const string LstmPrefix = "rec.", HeadPrefix = "lin.";

    /// <summary>Loads the model in the JSON file at <paramref name="path"/> into <paramref name="target"/>.</summary>
    /// <returns>What the file says about its model.</returns>
    /// <exception cref="WeightsFormatException">The file is malformed or describes another model.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static GuitarMLModelInfo Load(string path, LstmParameters target) => Load(JsonModelFile.Read(path, MaxFileLength), target);

    /// <summary>Loads the model in <paramref name="json"/> (UTF-8) into <paramref name="target"/>.</summary>
    /// <inheritdoc cref="Load(string, LstmParameters)"/>
    public static GuitarMLModelInfo Load(ReadOnlySpan<byte> json, LstmParameters target)
    {
        ArgumentNullException.ThrowIfNull(target);
        using var document = Parse(json);
        var root = document.RootElement;
        var model = ReadInfo(root);
        CheckModel(model, target);

        if (!root.TryGetProperty("state_dict", out var stateDict) || stateDict.ValueKind != JsonValueKind.Object)
            throw Invalid("state_dict", "The file has no \"state_dict\" object (it was saved with save_state off): it holds the model's shape but not its weights.");

        var tensors = target.Tensors;
        var values = new float[target.Count];
        var seen = new bool[tensors.Count];
        foreach (var property in stateDict.EnumerateObject())
        {
            string name = property.Name;
            string modelName = name.StartsWith(LstmPrefix, StringComparison.Ordinal) ? name.Substring(LstmPrefix.Length)
                : name.StartsWith(HeadPrefix, StringComparison.Ordinal) ? TensorPrefixes.ModelHeadPrefix + name.Substring(HeadPrefix.Length)
                : "";
            int k = IndexOf(tensors, modelName);
            if (k < 0)
                throw new WeightsFormatException(WeightsErrorKind.UnexpectedTensor, name,
                    $"The state dict has a tensor '{name}' that the model does not have (its tensors are 'rec.' + the LSTM's names and 'lin.weight', 'lin.bias').");
            if (seen[k])
                throw new WeightsFormatException(WeightsErrorKind.DuplicateTensor, name, $"Tensor '{name}' appears twice in the state dict.");
            seen[k] = true;
            ReadTensor(name, property.Value, tensors[k], values.AsSpan(tensors[k].Offset, tensors[k].Length));
        }
        for (int k = 0; k < tensors.Count; k++)
        {
            if (seen[k]) continue;
            string name = tensors[k].Name;
            if (name == TensorPrefixes.ModelHeadPrefix + "bias" && !model.HeadBias) continue;   // bias_fl = false: fc.bias stays 0
            string fileName = name.StartsWith(TensorPrefixes.ModelHeadPrefix, StringComparison.Ordinal)
                ? HeadPrefix + name.Substring(TensorPrefixes.ModelHeadPrefix.Length) : LstmPrefix + name;
            throw new WeightsFormatException(WeightsErrorKind.MissingTensor, fileName, $"The state dict has no tensor '{fileName}' (the model's '{name}').");
        }

        // Everything is checked: write.
        values.CopyTo(target.GetWritableValues());
        return model;
    }

    /// <summary>What the JSON file's <c>model_data</c> says, without loading it (to choose or check the attribute's sizes).</summary>
    /// <exception cref="WeightsFormatException">The file is not such a JSON file.</exception>
    public static GuitarMLModelInfo ReadInfo(ReadOnlySpan<byte> json)
    {
        using var document = Parse(json);
        return ReadInfo(document.RootElement);
    }

    private static JsonDocument Parse(ReadOnlySpan<byte> json) => JsonModelFile.Parse(json,
        " A NaN or Infinity written by Python's json module is not JSON either: fix the weights and save again.");

    private static GuitarMLModelInfo ReadInfo(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model_data", out var data) || data.ValueKind != JsonValueKind.Object)
            throw Invalid("model_data", "The file has no \"model_data\" object: it is not an Automated-GuitarAmpModelling / GuitarML model file.");
        string model = String(data, "model", "SimpleRNN");
        if (model != "SimpleRNN")
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "model_data.model",
                $"The file's model is '{model}'; only SimpleRNN (one recurrent unit and a linear head) is read.");
        string unit = String(data, "unit_type", "LSTM");
        if (unit != "LSTM" && unit != "GRU")
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "model_data.unit_type",
                $"The file's recurrent unit is '{unit}'; LSTM and GRU models are read.");
        return new GuitarMLModelInfo(unit,
            Integer(data, "input_size", null), Integer(data, "hidden_size", null), Integer(data, "num_layers", 1),
            Integer(data, "output_size", null), Integer(data, "skip", 0), Boolean(data, "bias_fl", true));
    }

    /// <summary>The file's model against the one loading it: sizes from the target's tensors, the skip connection from <see cref="LstmParameters.Skip"/>.</summary>
    private static void CheckModel(GuitarMLModelInfo file, LstmParameters target)
    {
        string cell = target.Cell == CellKind.Gru ? "GRU" : "LSTM", attribute = target.Cell == CellKind.Gru ? "GruModel" : "LstmModel";
        if (file.UnitType != cell)
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "model_data.unit_type",
                $"The file's recurrent unit is {file.UnitType}; the model loading it is an {cell}. Declare it with [{(file.UnitType == "GRU" ? "GruModel" : "LstmModel")}(…)] and the same sizes.");
        int layers = 0;
        while (IndexOf(target.Tensors, "weight_ih_l" + layers) >= 0) layers++;
        int hidden = layers > 0 ? target["weight_hh_l0"].Columns : 0;
        int inputs = layers > 0 ? target["weight_ih_l0"].Columns : 0;
        int head = IndexOf(target.Tensors, TensorPrefixes.ModelHeadPrefix + "weight");
        int outputs = head >= 0 ? target.Tensors[head].Rows : 0;
        bool plain = layers > 0 && target.Tensors.Count == 4 * layers + (head >= 0 ? 2 : 0);
        if (!plain || file.InputSize != inputs || file.HiddenSize != hidden || file.NumLayers != layers || file.OutputSize != outputs)
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "model_data",
                $"The file's model is {cell}(input_size {file.InputSize}, hidden_size {file.HiddenSize}, num_layers {file.NumLayers}) → Linear({file.OutputSize}); " +
                (plain ? $"the model loading it is {cell}({inputs}, {hidden}, {layers}) → " + (outputs > 0 ? $"Linear({outputs})" : "no head")
                       : "the model loading it has other tensors (bias-free, bidirectional, projection, peepholes or learned initial state)") +
                $". Declare [{attribute}(InputSize = {file.InputSize}, HiddenSize = {file.HiddenSize}, NumLayers = {file.NumLayers}, OutputSize = {file.OutputSize}" +
                (file.Skip > 0 ? $", Skip = {file.Skip}" : "") + ")].");
        if (file.Skip != target.Skip)
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "model_data.skip",
                file.Skip > 0
                    ? $"The file's model adds its first {file.Skip} input channel(s) to the output (skip = {file.Skip}); the model loading it does not: declare it with Skip = {file.Skip} on [{attribute}]."
                    : $"The file's model has no skip connection (skip = 0), but the model loading it has Skip = {target.Skip}: remove Skip from [{attribute}].");
    }

    /// <summary>A tensor's nested lists, checked against its shape, rounded to float32.</summary>
    private static void ReadTensor(string name, JsonElement value, ParameterTensor tensor, Span<float> destination)
    {
        string shape = tensor.Rank == 2 ? $"[{tensor.Rows}, {tensor.Columns}]" : $"[{tensor.Rows}]";
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() != tensor.Rows)
            throw Mismatch(name, shape, value);
        int i = 0;
        foreach (var row in value.EnumerateArray())
        {
            if (tensor.Rank == 1)
            {
                destination[i++] = Number(name, row);
                continue;
            }
            if (row.ValueKind != JsonValueKind.Array || row.GetArrayLength() != tensor.Columns)
                throw Mismatch(name, shape, value);
            foreach (var element in row.EnumerateArray())
                destination[i++] = Number(name, element);
        }
    }

    private static float Number(string name, JsonElement element) => JsonModelFile.Number(element, name, $"Tensor '{name}'");

    private static WeightsFormatException Mismatch(string name, string shape, JsonElement value) =>
        new(WeightsErrorKind.ShapeMismatch, name, $"Tensor '{name}' is not a {shape} list of numbers as the model's tensor is (found {Describe(value)}).");

    private static string Describe(JsonElement value) => JsonModelFile.Describe(value);

    private static int IndexOf(IReadOnlyList<ParameterTensor> tensors, string name) => JsonModelFile.IndexOf(tensors, name);

    private static string String(JsonElement data, string field, string fallback) =>
        !data.TryGetProperty(field, out var v) ? fallback
        : v.ValueKind == JsonValueKind.String ? v.GetString()!
        : throw Invalid("model_data." + field, $"model_data.{field} must be a string.");

    private static int Integer(JsonElement data, string field, int? fallback)
    {
        if (!data.TryGetProperty(field, out var v))
            return fallback ?? throw Invalid("model_data." + field, $"model_data has no \"{field}\".");
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int value) || value < 0)
            throw Invalid("model_data." + field, $"model_data.{field} must be a whole number ≥ 0.");
        return value;
    }

    private static bool Boolean(JsonElement data, string field, bool fallback) =>
        !data.TryGetProperty(field, out var v) ? fallback
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n is 0 or 1 ? n == 1   // 0/1 as some exporters write it
        : throw Invalid("model_data." + field, $"model_data.{field} must be true or false.");

    private static WeightsFormatException Invalid(string field, string message) => new(WeightsErrorKind.InvalidHeader, field, message);
}
