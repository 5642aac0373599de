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
/// For a GRU's parameters (<see cref="LstmParameters.Cell"/>) the whole-model methods use Keras' <c>GRU</c> with
/// <c>reset_after=True</c> (TensorFlow 2's default, PyTorch's cell): <c>kernel</c> (I, 3H), <c>recurrent_kernel</c> (H, 3H),
/// <c>bias</c> (2, 3H) = [input ; recurrent], gate order z, r, h, layers named <c>gru</c>, <c>gru_1</c>, … (bidirectional:
/// <c>forward_gru</c>, <c>backward_gru</c>); both biases carry over, so both directions of conversion are exact. A bias of
/// shape (3H) is a <c>reset_after=False</c> GRU, a different cell, and is refused.
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
        bool gru = parameters.Cell == CellKind.Gru;
        for (int k = 0; k < layers.Count; k++)
            foreach (var (d, prefix) in Named(layers[k], k, gru ? "gru" : "lstm"))
            {
                int i = d.InputSize, h = d.HiddenSize;
                if (gru)
                {
                    list.Add(new LayoutTensor(prefix + "kernel", [i, 3 * h], GruKernel(d.WeightIh.Values, h, i)));
                    list.Add(new LayoutTensor(prefix + "recurrent_kernel", [h, 3 * h], GruKernel(d.WeightHh.Values, h, h)));
                    if (d.BiasIh is not null)
                    {
                        var both = new float[6 * h];
                        OnnxLayout.GruGatesFromPyTorch(d.BiasIh.Values, h, 1, both.AsSpan(0, 3 * h));
                        OnnxLayout.GruGatesFromPyTorch(d.BiasHh!.Values, h, 1, both.AsSpan(3 * h));
                        list.Add(new LayoutTensor(prefix + "bias", [2, 3 * h], both));
                    }
                    continue;
                }
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
        bool gru = parameters.Cell == CellKind.Gru;
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
            foreach (var (d, prefix) in Named(layers[k], k, gru ? "gru" : "lstm"))
            {
                int i = d.InputSize, h = d.HiddenSize;
                if (gru)
                {
                    writes.Add((d.WeightIh, GruFromKernel(Get(prefix + "kernel", i, 3 * h).Values, h, i)));
                    writes.Add((d.WeightHh, GruFromKernel(Get(prefix + "recurrent_kernel", h, 3 * h).Values, h, h)));
                    if (d.BiasIh is not null)
                    {
                        if (byName.TryGetValue(prefix + "bias", out var one) && one.Shape.Length == 1)
                            throw new WeightsFormatException(WeightsErrorKind.ShapeMismatch, prefix + "bias",
                                $"Keras weight '{prefix}bias' has shape ({string.Join(", ", one.Shape)}): a GRU built with reset_after=False, which applies r to h before " +
                                "recurrent_kernel. That is a different cell from torch.nn.GRU, the one LstmGen builds (Keras' reset_after=True, TensorFlow 2's default, " +
                                "with a bias of shape (2, 3H)); train the Keras model with reset_after=True to use it here.");
                        var both = Get(prefix + "bias", 2, 3 * h).Values;
                        var inputBias = new float[3 * h];
                        var recurrentBias = new float[3 * h];
                        OnnxLayout.GruGatesToPyTorch(both.AsSpan(0, 3 * h), h, 1, inputBias);
                        OnnxLayout.GruGatesToPyTorch(both.AsSpan(3 * h), h, 1, recurrentBias);
                        writes.Add((d.BiasIh, inputBias));
                        writes.Add((d.BiasHh!, recurrentBias));
                    }
                    continue;
                }
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
            throw new NotSupportedException($"Keras' {(parameters.Cell == CellKind.Gru ? "GRU" : "LSTM")} layer has no place for the tensor(s) {string.Join(", ", unknown)}.");
        foreach (var layer in layers)
            foreach (var d in layer)
                if (d.WeightHr is not null || d.Peepholes is not null)
                    throw new NotSupportedException($"Keras' LSTM layer has no projection or peepholes ('{(d.WeightHr ?? d.Peepholes)!.Name}').");
        return layers;
    }

    private static IEnumerable<(LstmDirection, string)> Named(LstmDirection[] layer, int k, string unit)
    {
        string n = k == 0 ? "" : "_" + k.ToString(CultureInfo.InvariantCulture);
        if (layer.Length == 1) yield return (layer[0], unit + n + "/");
        else
        {
            yield return (layer[0], "bidirectional" + n + "/forward_" + unit + "/");
            yield return (layer[1], "bidirectional" + n + "/backward_" + unit + "/");
        }
    }

    /// <summary>A GRU's PyTorch weight (3H × columns, gates r, z, n) as a Keras kernel (columns × 3H, gates z, r, h).</summary>
    private static float[] GruKernel(ReadOnlySpan<float> weight, int h, int columns)
    {
        var keras = new float[weight.Length];
        OnnxLayout.GruGatesFromPyTorch(weight, h, columns, keras);
        var kernel = new float[weight.Length];
        Transpose(keras, 3 * h, columns, kernel);
        return kernel;
    }

    /// <summary>A Keras GRU kernel (columns × 3H, gates z, r, h) as PyTorch's weight (3H × columns, gates r, z, n).</summary>
    private static float[] GruFromKernel(float[] kernel, int h, int columns)
    {
        var keras = new float[kernel.Length];
        Transpose(kernel, columns, 3 * h, keras);
        var weight = new float[kernel.Length];
        OnnxLayout.GruGatesToPyTorch(keras, h, columns, weight);
        return weight;
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
