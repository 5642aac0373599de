using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace LstmGen.Weights;

/// <summary>What a Neural Amp Modeler <c>.nam</c> file says about its LSTM model (its <c>config</c> and a few fields).</summary>
/// <param name="InputSize">Inputs per step (1: the guitar signal).</param>
/// <param name="HiddenSize">Units of every layer.</param>
/// <param name="NumLayers">Stacked LSTM layers.</param>
/// <param name="SampleRate">The sample rate the model was trained at (<c>sample_rate</c>), or null when the file has none.</param>
/// <param name="Version">The file format's version string (<c>version</c>), or null.</param>
public sealed record NamModelInfo(int InputSize, int HiddenSize, int NumLayers, double? SampleRate, string? Version);

/// <summary>
/// Reads the LSTM models of Neural Amp Modeler (<c>.nam</c> files with <c>"architecture": "LSTM"</c>): a JSON document
/// whose <c>config</c> gives <c>num_layers</c>, <c>input_size</c> and <c>hidden_size</c>, and whose <c>weights</c> is one
/// flat list of numbers holding, for each layer k, W = [W_ih | W_hh] (4H rows of I_k + H columns, row by row, gates in
/// PyTorch's order i, f, g, o), the summed bias b_ih + b_hh (4H), the learned initial h and c (H each), then the head's
/// weights (H) and bias (1). The model is a stack of <c>nn.LSTM</c> layers started from that learned state, and
/// y = w·h + b on the top layer's h: declare it as <c>[LstmModel(InputSize = …, HiddenSize = …, NumLayers = …,
/// OutputSize = 1, LearnInitialState = true)]</c>.
/// </summary>
/// <remarks>
/// The summed bias goes to <c>bias_ih</c> and <c>bias_hh</c> is set to zero: the model computes the same sums. The
/// initial state goes to <c>initial_h</c>/<c>initial_c</c>, which a new <c>State</c> (and <c>Reset</c>) starts from.
/// Everything is checked before the first value is written, so a file that does not fit leaves the parameters as they
/// were; every problem is a <see cref="WeightsFormatException"/> naming the field. Numbers are read as double and
/// rounded to float32. Reflection-free (<see cref="JsonDocument"/>) and Native AOT safe.
/// </remarks>
public static class NamFile
{
    /// <summary>The largest file read, in bytes.</summary>
    public const int MaxFileLength = 256 * 1024 * 1024;

    /// <summary>Loads the LSTM model in the <c>.nam</c> file at <paramref name="path"/> into <paramref name="target"/>.</summary>
    /// <returns>What the file says about its model.</returns>
    /// <exception cref="WeightsFormatException">The file is malformed, is not an LSTM model, or describes another model.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static NamModelInfo Load(string path, LstmParameters target) => Load(JsonModelFile.Read(path, MaxFileLength), target);

    /// <summary>Loads the LSTM model in <paramref name="json"/> (a <c>.nam</c> file's UTF-8 text) into <paramref name="target"/>.</summary>
    /// <inheritdoc cref="Load(string, LstmParameters)"/>
    public static NamModelInfo Load(ReadOnlySpan<byte> json, LstmParameters target)
    {
        ArgumentNullException.ThrowIfNull(target);
        using var document = Parse(json);
        var root = document.RootElement;
        var model = ReadInfo(root);
        CheckModel(model, target);

        if (!root.TryGetProperty("weights", out var weights) || weights.ValueKind != JsonValueKind.Array)
            throw Invalid("weights", "The file has no \"weights\" list.");
        long expected = WeightCount(model);
        if (weights.GetArrayLength() != expected)
            throw new WeightsFormatException(WeightsErrorKind.ShapeMismatch, "weights",
                $"The file's \"weights\" list has {weights.GetArrayLength()} numbers; LSTM(input_size {model.InputSize}, hidden_size {model.HiddenSize}, " +
                $"num_layers {model.NumLayers}) with its initial state and a one-output head has {expected}.");

        var values = new float[target.Count];
        var it = weights.EnumerateArray();
        int h = model.HiddenSize;
        for (int k = 0; k < model.NumLayers; k++)
        {
            int inputs = k == 0 ? model.InputSize : h;
            var wih = target["weight_ih_l" + k];
            var whh = target["weight_hh_l" + k];
            for (int row = 0; row < 4 * h; row++)
            {
                for (int j = 0; j < inputs; j++) values[wih.Offset + row * inputs + j] = Next(ref it, k);
                for (int j = 0; j < h; j++) values[whh.Offset + row * h + j] = Next(ref it, k);
            }
            var bih = target["bias_ih_l" + k];
            for (int i = 0; i < 4 * h; i++) values[bih.Offset + i] = Next(ref it, k);   // bias_hh_l{k} stays 0
            var h0 = target["initial_h_l" + k];
            for (int i = 0; i < h; i++) values[h0.Offset + i] = Next(ref it, k);
            var c0 = target["initial_c_l" + k];
            for (int i = 0; i < h; i++) values[c0.Offset + i] = Next(ref it, k);
        }
        var fcw = target[TensorPrefixes.ModelHeadPrefix + "weight"];
        for (int i = 0; i < h; i++) values[fcw.Offset + i] = Next(ref it, -1);
        values[target[TensorPrefixes.ModelHeadPrefix + "bias"].Offset] = Next(ref it, -1);

        // Everything is checked: write.
        values.CopyTo(target.GetWritableValues());
        return model;
    }

    /// <summary>What the <c>.nam</c> file says about its model, without loading it (to choose or check the attribute's sizes).</summary>
    /// <exception cref="WeightsFormatException">The file is not a <c>.nam</c> file of an LSTM model.</exception>
    public static NamModelInfo ReadInfo(ReadOnlySpan<byte> json)
    {
        using var document = Parse(json);
        return ReadInfo(document.RootElement);
    }

    /// <summary>Numbers in the <c>weights</c> list of a model of this shape.</summary>
    private static long WeightCount(NamModelInfo m)
    {
        long h = m.HiddenSize, total = h + 1;
        for (int k = 0; k < m.NumLayers; k++)
            total += 4 * h * ((k == 0 ? m.InputSize : h) + h) + 4 * h + 2 * h;
        return total;
    }

    private static JsonDocument Parse(ReadOnlySpan<byte> json) => JsonModelFile.Parse(json);

    private static NamModelInfo ReadInfo(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("architecture", out var architecture) || architecture.ValueKind != JsonValueKind.String)
            throw Invalid("architecture", "The file has no \"architecture\" string: it is not a Neural Amp Modeler (.nam) model file.");
        string name = architecture.GetString()!;
        if (name != "LSTM")
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "architecture",
                $"The file's model is a '{name}'; LstmGen reads the LSTM models of Neural Amp Modeler (\"architecture\": \"LSTM\").");
        if (!root.TryGetProperty("config", out var config) || config.ValueKind != JsonValueKind.Object)
            throw Invalid("config", "The file has no \"config\" object.");
        double? sampleRate = null;
        if (root.TryGetProperty("sample_rate", out var rate) && rate.ValueKind != JsonValueKind.Null)
            sampleRate = rate.ValueKind == JsonValueKind.Number && rate.TryGetDouble(out double r) && r > 0 && double.IsFinite(r)
                ? r : throw Invalid("sample_rate", "sample_rate must be a positive number.");
        string? version = root.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        return new NamModelInfo(Integer(config, "input_size", 1), Integer(config, "hidden_size", null), Integer(config, "num_layers", null), sampleRate, version);
    }

    /// <summary>The file's model against the one loading it: its tensors must be exactly the LSTM's, the initial state's and a one-output head's.</summary>
    private static void CheckModel(NamModelInfo file, LstmParameters target)
    {
        var tensors = target.Tensors;
        int layers = 0;
        while (IndexOf(tensors, "weight_ih_l" + layers) >= 0) layers++;
        int hidden = layers > 0 ? target["weight_hh_l0"].Columns : 0;
        int inputs = layers > 0 ? target["weight_ih_l0"].Columns : 0;
        int head = IndexOf(tensors, TensorPrefixes.ModelHeadPrefix + "weight");
        int outputs = head >= 0 ? tensors[head].Rows : 0;
        bool initial = layers > 0 && IndexOf(tensors, "initial_h_l0") >= 0;
        bool biased = layers > 0 && IndexOf(tensors, "bias_ih_l0") >= 0;
        bool plain = layers > 0 && biased && tensors.Count == (initial ? 6 : 4) * layers + (head >= 0 ? 2 : 0);
        string declare = $"Declare [LstmModel(InputSize = {file.InputSize}, HiddenSize = {file.HiddenSize}, NumLayers = {file.NumLayers}, OutputSize = 1, LearnInitialState = true)].";
        if (!plain || file.InputSize != inputs || file.HiddenSize != hidden || file.NumLayers != layers || outputs != 1)
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "config",
                $"The file's model is LSTM(input_size {file.InputSize}, hidden_size {file.HiddenSize}, num_layers {file.NumLayers}) → one output; " +
                (plain ? $"the model loading it is LSTM({inputs}, {hidden}, {layers}) → " + (outputs > 0 ? $"{outputs} output(s)" : "no head")
                       : "the model loading it has other tensors (bias-free, bidirectional, projection or peepholes)") + ". " + declare);
        if (!initial)
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "weights",
                "The file's model starts from a learned initial h and c, which the model loading it has no place for. " + declare);
        if (target.Skip != 0)
            throw new WeightsFormatException(WeightsErrorKind.ModelMismatch, "config",
                $"The file's model has no skip connection, but the model loading it has Skip = {target.Skip}: remove Skip from [LstmModel].");
    }

    private static float Next(ref JsonElement.ArrayEnumerator it, int layer)
    {
        it.MoveNext();
        string where = layer >= 0 ? $"weights (layer {layer})" : "weights (head)";
        return JsonModelFile.Number(it.Current, where, $"The {where} list");
    }

    private static int IndexOf(IReadOnlyList<ParameterTensor> tensors, string name) => JsonModelFile.IndexOf(tensors, name);

    private static int Integer(JsonElement config, string field, int? fallback)
    {
        if (!config.TryGetProperty(field, out var v))
            return fallback ?? throw Invalid("config." + field, $"config has no \"{field}\".");
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int value) || value < 1)
            throw Invalid("config." + field, $"config.{field} must be a whole number ≥ 1.");
        return value;
    }

    private static WeightsFormatException Invalid(string field, string message) => new(WeightsErrorKind.InvalidHeader, field, message);
}
