using System;
using System.Collections.Generic;

namespace LstmGen.Weights;

/// <summary>The inputs of one ONNX LSTM node: <c>W</c> (D, 4H, I), <c>R</c> (D, 4H, H), <c>B</c> (D, 8H), <c>P</c> (D, 3H).</summary>
/// <param name="Directions">D: 1, or 2 for a bidirectional layer (forward first).</param>
/// <param name="InputSize">I.</param>
/// <param name="HiddenSize">H.</param>
/// <param name="W">Input weights, gate order i, o, f, c.</param>
/// <param name="R">Recurrent weights, gate order i, o, f, c.</param>
/// <param name="B">[Wb ; Rb] per direction, or null for a layer without bias.</param>
/// <param name="P">Peepholes p_i, p_o, p_f per direction, or null.</param>
public sealed record OnnxLstmWeights(int Directions, int InputSize, int HiddenSize, float[] W, float[] R, float[]? B, float[]? P);

/// <summary>
/// The ONNX LSTM operator's layout (docs/maths.md §6): gate order i, o, f, c (PyTorch's i, f, g, o reordered), <c>B</c> =
/// [Wb ; Rb] holding PyTorch's two biases as they are, peepholes ordered i, o, f. Both directions are exact, bit for bit:
/// the conversion only moves values.
/// </summary>
public static class OnnxLayout
{
    /// <summary>ONNX gate block d holds PyTorch gate block <c>PyTorchBlock[d]</c>: ONNX (i, o, f, c) ← PyTorch (i, f, g, o).</summary>
    private static ReadOnlySpan<int> PyTorchBlock => [0, 3, 1, 2];

    /// <summary>A GRU's gate blocks: ONNX (z, r, h) ← PyTorch (r, z, n); Keras' GRU has ONNX's order.</summary>
    internal static ReadOnlySpan<int> GruBlock => [1, 0, 2];

    /// <summary>The gate-block map of <paramref name="cell"/>.</summary>
    internal static ReadOnlySpan<int> Blocks(CellKind cell) => cell == CellKind.Gru ? GruBlock : PyTorchBlock;

    /// <summary>A GRU's three gate blocks from PyTorch's order (r, z, n) to ONNX's and Keras' (z, r, h).</summary>
    public static void GruGatesFromPyTorch(ReadOnlySpan<float> pyTorch, int hiddenSize, int columns, Span<float> onnx) => Reorder(pyTorch, hiddenSize * columns, onnx, toOnnx: true, GruBlock);

    /// <summary>A GRU's three gate blocks from ONNX's and Keras' order (z, r, h) to PyTorch's (r, z, n).</summary>
    public static void GruGatesToPyTorch(ReadOnlySpan<float> onnx, int hiddenSize, int columns, Span<float> pyTorch) => Reorder(onnx, hiddenSize * columns, pyTorch, toOnnx: false, GruBlock);

    /// <summary>ONNX peephole block d holds PyTorch's (weight_ph: i, f, o) block: ONNX (i, o, f) ← (i, f, o).</summary>
    private static ReadOnlySpan<int> PeepholeBlock => [0, 2, 1];

    /// <summary>Reorders the four gate blocks (each H rows of <paramref name="columns"/> values) from PyTorch to ONNX order.</summary>
    public static void GatesFromPyTorch(ReadOnlySpan<float> pyTorch, int hiddenSize, int columns, Span<float> onnx) => Reorder(pyTorch, hiddenSize * columns, onnx, toOnnx: true, PyTorchBlock);

    /// <summary>Reorders the four gate blocks from ONNX to PyTorch order.</summary>
    public static void GatesToPyTorch(ReadOnlySpan<float> onnx, int hiddenSize, int columns, Span<float> pyTorch) => Reorder(onnx, hiddenSize * columns, pyTorch, toOnnx: false, PyTorchBlock);

    /// <summary>Peepholes from (p_i, p_f, p_o) to ONNX's (p_i, p_o, p_f).</summary>
    public static void PeepholesFromPyTorch(ReadOnlySpan<float> pyTorch, int hiddenSize, Span<float> onnx) => Reorder(pyTorch, hiddenSize, onnx, toOnnx: true, PeepholeBlock);

    /// <summary>Peepholes from ONNX's (p_i, p_o, p_f) to (p_i, p_f, p_o).</summary>
    public static void PeepholesToPyTorch(ReadOnlySpan<float> onnx, int hiddenSize, Span<float> pyTorch) => Reorder(onnx, hiddenSize, pyTorch, toOnnx: false, PeepholeBlock);

    /// <summary>Every layer's ONNX LSTM (or, for a GRU's parameters, GRU: W (D, 3H, I), R, B (D, 6H), P null) inputs, in layer order.</summary>
    /// <exception cref="NotSupportedException">The model has tensors the ONNX LSTM operator has no input for (projection, learned initial states).</exception>
    public static IReadOnlyList<OnnxLstmWeights> Export(LstmParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var list = new List<OnnxLstmWeights>();
        var blocks = Blocks(parameters.Cell).ToArray();
        foreach (var layer in Discover(parameters))
        {
            int dirs = layer.Length, i = layer[0].InputSize, h = layer[0].HiddenSize, g = layer[0].Gates * h;
            bool bias = layer[0].BiasIh is not null, peep = layer[0].Peepholes is not null;
            var w = new float[dirs * g * i];
            var r = new float[dirs * g * h];
            var b = bias ? new float[dirs * 2 * g] : null;
            var p = peep ? new float[dirs * 3 * h] : null;
            for (int d = 0; d < dirs; d++)
            {
                var x = layer[d];
                Reorder(x.WeightIh.Values, h * i, w.AsSpan(d * g * i, g * i), toOnnx: true, blocks);
                Reorder(x.WeightHh.Values, h * h, r.AsSpan(d * g * h, g * h), toOnnx: true, blocks);
                if (b is not null)
                {
                    Reorder(x.BiasIh!.Values, h, b.AsSpan(d * 2 * g, g), toOnnx: true, blocks);
                    Reorder(x.BiasHh!.Values, h, b.AsSpan(d * 2 * g + g, g), toOnnx: true, blocks);
                }
                if (p is not null) PeepholesFromPyTorch(x.Peepholes!.Values, h, p.AsSpan(d * 3 * h, 3 * h));
            }
            list.Add(new OnnxLstmWeights(dirs, i, h, w, r, b, p));
        }
        return list;
    }

    /// <summary>Sets every layer's parameters from ONNX LSTM inputs (the head's tensors are not touched).</summary>
    /// <exception cref="WeightsFormatException">The layers do not match the model's (count, directions, sizes, bias, peepholes).</exception>
    public static void Import(IReadOnlyList<OnnxLstmWeights> layers, LstmParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(parameters);
        var model = Discover(parameters);
        var blocks = Blocks(parameters.Cell).ToArray();
        if (layers.Count != model.Count)
            throw new WeightsFormatException(WeightsErrorKind.ShapeMismatch, "layers", $"{layers.Count} ONNX LSTM layers given; the model has {model.Count}.");
        var writes = new List<(ParameterTensor, float[])>();
        for (int k = 0; k < model.Count; k++)
        {
            var layer = model[k];
            var x = layers[k];
            int dirs = layer.Length, i = layer[0].InputSize, h = layer[0].HiddenSize, g = layer[0].Gates * h;
            string name = "layer " + k.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (x.Directions != dirs || x.InputSize != i || x.HiddenSize != h || x.W.Length != dirs * g * i || x.R.Length != dirs * g * h)
                throw new WeightsFormatException(WeightsErrorKind.ShapeMismatch, name, $"ONNX {name} is D={x.Directions}, I={x.InputSize}, H={x.HiddenSize} with {x.W.Length} W and {x.R.Length} R values; the model's is D={dirs}, I={i}, H={h}.");
            bool bias = layer[0].BiasIh is not null, peep = layer[0].Peepholes is not null;
            if ((x.B is not null && x.B.Length != dirs * 2 * g) || (x.P is not null && x.P.Length != dirs * 3 * h))
                throw new WeightsFormatException(WeightsErrorKind.ShapeMismatch, name, $"ONNX {name}: B must have D·{2 * layer[0].Gates}H = {dirs * 2 * g} values and P D·3H = {dirs * 3 * h}.");
            if (!bias && x.B is not null && Array.Exists(x.B, v => v != 0))
                throw new WeightsFormatException(WeightsErrorKind.UnexpectedTensor, name + ".B", $"ONNX {name} has a non-zero bias B; the model has no bias.");
            if (!peep && x.P is not null && Array.Exists(x.P, v => v != 0))
                throw new WeightsFormatException(WeightsErrorKind.UnexpectedTensor, name + ".P", $"ONNX {name} has non-zero peepholes P; the model has none.");
            if (peep && x.P is null)
                throw new WeightsFormatException(WeightsErrorKind.MissingTensor, name + ".P", $"ONNX {name} has no peepholes P; the model needs them.");
            for (int d = 0; d < dirs; d++)
            {
                var t = layer[d];
                var wih = new float[g * i];
                var whh = new float[g * h];
                Reorder(x.W.AsSpan(d * g * i, g * i), h * i, wih, toOnnx: false, blocks);
                Reorder(x.R.AsSpan(d * g * h, g * h), h * h, whh, toOnnx: false, blocks);
                writes.Add((t.WeightIh, wih));
                writes.Add((t.WeightHh, whh));
                if (bias)
                {
                    var bih = new float[g];
                    var bhh = new float[g];
                    if (x.B is not null)                       // an omitted B is zero, as the operator defines it
                    {
                        Reorder(x.B.AsSpan(d * 2 * g, g), h, bih, toOnnx: false, blocks);
                        Reorder(x.B.AsSpan(d * 2 * g + g, g), h, bhh, toOnnx: false, blocks);
                    }
                    writes.Add((t.BiasIh!, bih));
                    writes.Add((t.BiasHh!, bhh));
                }
                if (peep)
                {
                    var p = new float[3 * h];
                    PeepholesToPyTorch(x.P!.AsSpan(d * 3 * h, 3 * h), h, p);
                    writes.Add((t.Peepholes!, p));
                }
            }
        }
        foreach (var (target, values) in writes) target.CopyFrom(values);
    }

    internal static List<LstmDirection[]> Discover(LstmParameters parameters)
    {
        var layers = LstmLayers.Discover(parameters, out _, out _, out var unknown);
        if (unknown.Count > 0)
            throw new NotSupportedException($"The ONNX LSTM operator has no input for the tensor(s) {string.Join(", ", unknown)}.");
        foreach (var layer in layers)
            foreach (var d in layer)
                if (d.WeightHr is not null)
                    throw new NotSupportedException($"The ONNX LSTM operator has no projection ('{d.WeightHr.Name}').");
        return layers;
    }

    private static void Reorder(ReadOnlySpan<float> source, int block, Span<float> destination, bool toOnnx, ReadOnlySpan<int> map)
    {
        if (source.Length != map.Length * block || destination.Length != source.Length)
            throw new ArgumentException($"Expected {map.Length} blocks of {block} values in and out, got {source.Length} and {destination.Length}.");
        for (int d = 0; d < map.Length; d++)
        {
            var from = toOnnx ? source.Slice(map[d] * block, block) : source.Slice(d * block, block);
            var to = toOnnx ? destination.Slice(d * block, block) : destination.Slice(map[d] * block, block);
            from.CopyTo(to);
        }
    }
}
