using System;
using System.Collections.Generic;
using System.Globalization;

namespace LstmGen.Weights;

/// <summary>A named array in another library's layout (row-major, C order).</summary>
/// <param name="Name">The name, e.g. <c>lstm_1/recurrent_kernel</c>.</param>
/// <param name="Shape">The dimensions.</param>
/// <param name="Values">The values, row-major.</param>
public sealed record LayoutTensor(string Name, int[] Shape, float[] Values);

/// <summary>
/// Keras' LSTM layout (docs/maths.md §6): <c>kernel</c> (I, 4H), <c>recurrent_kernel</c> (H, 4H), <c>bias</c> (4H), gate order
/// i, f, c, o (c is PyTorch's g, so the order is the same), transposed relative to PyTorch, and one bias.
/// </summary>
/// <remarks>
/// Keras has one bias where PyTorch has two: export writes <c>bias = b_ih + b_hh</c>; import sets <c>b_ih = bias</c>,
/// <c>b_hh = 0</c>. So Keras → PyTorch → Keras is exact bit for bit, and PyTorch → Keras → PyTorch is exact for every
/// weight and gives the same model with the biases summed into b_ih (one float32 addition per value).
/// </remarks>
public static class KerasLayout
{
    /// <summary>One layer (one direction) from PyTorch to Keras. Empty bias spans mean a layer without bias (Keras <c>use_bias=False</c>).</summary>
    public static void FromPyTorch(int inputSize, int hiddenSize,
        ReadOnlySpan<float> weightIh, ReadOnlySpan<float> weightHh, ReadOnlySpan<float> biasIh, ReadOnlySpan<float> biasHh,
        Span<float> kernel, Span<float> recurrentKernel, Span<float> bias)
    {
        int g = 4 * hiddenSize;
        Check(weightIh.Length == g * inputSize && kernel.Length == g * inputSize && weightHh.Length == g * hiddenSize && recurrentKernel.Length == g * hiddenSize,
            "weights", inputSize, hiddenSize);
        Check(biasIh.Length == biasHh.Length && bias.Length == biasIh.Length && (bias.Length == 0 || bias.Length == g), "biases", inputSize, hiddenSize);
        Transpose(weightIh, g, inputSize, kernel);            // kernel[j, r] = W_ih[r, j]
        Transpose(weightHh, g, hiddenSize, recurrentKernel);
        for (int r = 0; r < bias.Length; r++) bias[r] = biasIh[r] + biasHh[r];
    }

    /// <summary>One layer (one direction) from Keras to PyTorch: <c>b_ih = bias</c>, <c>b_hh = 0</c>.</summary>
    public static void ToPyTorch(int inputSize, int hiddenSize,
        ReadOnlySpan<float> kernel, ReadOnlySpan<float> recurrentKernel, ReadOnlySpan<float> bias,
        Span<float> weightIh, Span<float> weightHh, Span<float> biasIh, Span<float> biasHh)
    {
        int g = 4 * hiddenSize;
        Check(weightIh.Length == g * inputSize && kernel.Length == g * inputSize && weightHh.Length == g * hiddenSize && recurrentKernel.Length == g * hiddenSize,
            "weights", inputSize, hiddenSize);
        Check(biasIh.Length == biasHh.Length && bias.Length == biasIh.Length && (bias.Length == 0 || bias.Length == g), "biases", inputSize, hiddenSize);
        Transpose(kernel, inputSize, g, weightIh);
        Transpose(recurrentKernel, hiddenSize, g, weightHh);
        bias.CopyTo(biasIh);
        biasHh.Clear();
    }

    /// <summary>
    /// The model's weights as Keras' <c>model.get_weights()</c> lists them for <c>Sequential([LSTM(H, return_sequences=True), …, Dense(O)])</c>:
    /// per layer <c>lstm_{k}/kernel</c>, <c>lstm_{k}/recurrent_kernel</c>, <c>lstm_{k}/bias</c> (a bidirectional layer:
    /// <c>bidirectional_{k}/forward_lstm/…</c> then <c>…/backward_lstm/…</c>), then <c>dense/kernel</c> (H, O) and <c>dense/bias</c>.
    /// </summary>
    /// <exception cref="NotSupportedException">The model has tensors Keras' LSTM has no place for (projection, peepholes, learned initial states).</exception>
    public static IReadOnlyList<LayoutTensor> Export(LstmParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var layers = Discover(parameters, out var headWeight, out var headBias);
        var list = new List<LayoutTensor>();
        for (int k = 0; k < layers.Count; k++)
            foreach (var (d, prefix) in Named(layers[k], k))
            {
                int i = d.InputSize, h = d.HiddenSize;
                var kernel = new float[4 * h * i];
                var recurrent = new float[4 * h * h];
                var bias = new float[d.BiasIh is null ? 0 : 4 * h];
                FromPyTorch(i, h, d.WeightIh.Values, d.WeightHh.Values, d.BiasIh is null ? default : d.BiasIh.Values, d.BiasHh is null ? default : d.BiasHh.Values, kernel, recurrent, bias);
                list.Add(new LayoutTensor(prefix + "kernel", [i, 4 * h], kernel));
                list.Add(new LayoutTensor(prefix + "recurrent_kernel", [h, 4 * h], recurrent));
                if (bias.Length > 0) list.Add(new LayoutTensor(prefix + "bias", [4 * h], bias));
            }
        if (headWeight is not null)
        {
            var kernel = new float[headWeight.Length];
            Transpose(headWeight.Values, headWeight.Rows, headWeight.Columns, kernel);
            list.Add(new LayoutTensor("dense/kernel", [headWeight.Columns, headWeight.Rows], kernel));
            if (headBias is not null) list.Add(new LayoutTensor("dense/bias", [headBias.Length], headBias.Values.ToArray()));
        }
        return list;
    }

    /// <summary>Sets the model's parameters from Keras weights named as <see cref="Export"/> names them (b_hh becomes 0).</summary>
    /// <exception cref="WeightsFormatException">A weight is missing, has the wrong shape, or is not one of the model's.</exception>
    public static void Import(IReadOnlyList<LayoutTensor> weights, LstmParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(parameters);
        var byName = new Dictionary<string, LayoutTensor>(StringComparer.Ordinal);
        foreach (var w in weights)
            if (!byName.TryAdd(w.Name, w)) throw new WeightsFormatException(WeightsErrorKind.DuplicateTensor, w.Name, $"Keras weight '{w.Name}' is given twice.");
        var layers = Discover(parameters, out var headWeight, out var headBias);
        var used = new HashSet<string>(StringComparer.Ordinal);
        LayoutTensor Get(string name, params int[] shape)
        {
            if (!byName.TryGetValue(name, out var t)) throw new WeightsFormatException(WeightsErrorKind.MissingTensor, name, $"There is no Keras weight '{name}'.");
            if (!t.Shape.AsSpan().SequenceEqual(shape) || t.Values.Length != Product(shape))
                throw new WeightsFormatException(WeightsErrorKind.ShapeMismatch, name, $"Keras weight '{name}' has shape ({string.Join(", ", t.Shape)}) and {t.Values.Length} values; the model needs ({string.Join(", ", shape)}).");
            used.Add(name);
            return t;
        }

        // Check everything, convert into new arrays, then write.
        var writes = new List<(ParameterTensor Target, float[] Values)>();
        for (int k = 0; k < layers.Count; k++)
            foreach (var (d, prefix) in Named(layers[k], k))
            {
                int i = d.InputSize, h = d.HiddenSize;
                var kernel = Get(prefix + "kernel", i, 4 * h);
                var recurrent = Get(prefix + "recurrent_kernel", h, 4 * h);
                var bias = d.BiasIh is null ? null : Get(prefix + "bias", 4 * h);
                var wih = new float[d.WeightIh.Length];
                var whh = new float[d.WeightHh.Length];
                var bih = new float[bias is null ? 0 : 4 * h];
                var bhh = new float[bih.Length];
                ToPyTorch(i, h, kernel.Values, recurrent.Values, bias is null ? default : bias.Values, wih, whh, bih, bhh);
                writes.Add((d.WeightIh, wih));
                writes.Add((d.WeightHh, whh));
                if (d.BiasIh is not null) { writes.Add((d.BiasIh, bih)); writes.Add((d.BiasHh!, bhh)); }
            }
        if (headWeight is not null)
        {
            var kernel = Get("dense/kernel", headWeight.Columns, headWeight.Rows);
            var w = new float[headWeight.Length];
            Transpose(kernel.Values, headWeight.Columns, headWeight.Rows, w);
            writes.Add((headWeight, w));
            if (headBias is not null) writes.Add((headBias, Get("dense/bias", headBias.Length).Values));
        }
        foreach (var name in byName.Keys)
            if (!used.Contains(name)) throw new WeightsFormatException(WeightsErrorKind.UnexpectedTensor, name, $"Keras weight '{name}' is not one of the model's.");
        foreach (var (target, values) in writes) target.CopyFrom(values);
    }

    private static List<LstmDirection[]> Discover(LstmParameters parameters, out ParameterTensor? headWeight, out ParameterTensor? headBias)
    {
        var layers = LstmLayers.Discover(parameters, out headWeight, out headBias, out var unknown);
        if (unknown.Count > 0)
            throw new NotSupportedException($"Keras' LSTM layer has no place for the tensor(s) {string.Join(", ", unknown)}.");
        foreach (var layer in layers)
            foreach (var d in layer)
                if (d.WeightHr is not null || d.Peepholes is not null)
                    throw new NotSupportedException($"Keras' LSTM layer has no projection or peepholes ('{(d.WeightHr ?? d.Peepholes)!.Name}').");
        return layers;
    }

    private static IEnumerable<(LstmDirection, string)> Named(LstmDirection[] layer, int k)
    {
        string n = k == 0 ? "" : "_" + k.ToString(CultureInfo.InvariantCulture);
        if (layer.Length == 1) yield return (layer[0], "lstm" + n + "/");
        else
        {
            yield return (layer[0], "bidirectional" + n + "/forward_lstm/");
            yield return (layer[1], "bidirectional" + n + "/backward_lstm/");
        }
    }

    internal static void Transpose(ReadOnlySpan<float> source, int rows, int columns, Span<float> destination)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                destination[c * rows + r] = source[r * columns + c];
    }

    private static int Product(int[] shape)
    {
        int n = 1;
        foreach (int d in shape) n *= d;
        return n;
    }

    private static void Check(bool ok, string what, int inputSize, int hiddenSize)
    {
        if (!ok) throw new ArgumentException($"The {what} do not have the lengths of a layer with input size {inputSize} and hidden size {hiddenSize}.");
    }
}
