using System;

namespace LstmGen.Bench;

/// <summary>
/// The obvious scalar C# LSTM: runtime sizes, flat float arrays per layer, PyTorch semantics (gate rows i, f, g, o;
/// both biases), exact <see cref="MathF.Exp"/> / <see cref="MathF.Tanh"/>. No vectors, no packing, no unrolling —
/// the "what generation buys" row. <see cref="Step"/> allocates nothing.
/// </summary>
public sealed class NaiveLstm
{
    private readonly int _inputSize, _hiddenSize, _numLayers;
    private readonly float[][] _wih, _whh, _bih, _bhh;
    private readonly float[][] _h, _c;
    private readonly float[] _gates;

    /// <param name="parameters">Flat, PyTorch order: per layer weight_ih, weight_hh, bias_ih, bias_hh.</param>
    public NaiveLstm(int inputSize, int hiddenSize, int numLayers, ReadOnlySpan<float> parameters)
    {
        _inputSize = inputSize; _hiddenSize = hiddenSize; _numLayers = numLayers;
        int h = hiddenSize, offset = 0;
        _wih = new float[numLayers][]; _whh = new float[numLayers][]; _bih = new float[numLayers][]; _bhh = new float[numLayers][];
        _h = new float[numLayers][]; _c = new float[numLayers][];
        for (int l = 0; l < numLayers; l++)
        {
            int inputs = l == 0 ? inputSize : h;
            _wih[l] = parameters.Slice(offset, 4 * h * inputs).ToArray(); offset += 4 * h * inputs;
            _whh[l] = parameters.Slice(offset, 4 * h * h).ToArray(); offset += 4 * h * h;
            _bih[l] = parameters.Slice(offset, 4 * h).ToArray(); offset += 4 * h;
            _bhh[l] = parameters.Slice(offset, 4 * h).ToArray(); offset += 4 * h;
            _h[l] = new float[h]; _c[l] = new float[h];
        }
        if (offset != parameters.Length) throw new ArgumentException($"Expected {offset} parameters, got {parameters.Length}.");
        _gates = new float[4 * h];
    }

    public void Reset()
    {
        for (int l = 0; l < _numLayers; l++) { Array.Clear(_h[l]); Array.Clear(_c[l]); }
    }

    private static float Sigmoid(float a) => 1f / (1f + MathF.Exp(-a));

    /// <summary>One step of every layer; <paramref name="y"/> receives the last layer's h.</summary>
    public void Step(ReadOnlySpan<float> x, Span<float> y)
    {
        int hs = _hiddenSize;
        float[] gates = _gates;
        ReadOnlySpan<float> input = x;
        for (int l = 0; l < _numLayers; l++)
        {
            int inputs = l == 0 ? _inputSize : hs;
            float[] wih = _wih[l], whh = _whh[l], bih = _bih[l], bhh = _bhh[l], h = _h[l], c = _c[l];
            for (int r = 0; r < 4 * hs; r++)
            {
                float s = bih[r] + bhh[r];
                for (int j = 0; j < inputs; j++) s += wih[r * inputs + j] * input[j];
                for (int j = 0; j < hs; j++) s += whh[r * hs + j] * h[j];
                gates[r] = s;
            }
            for (int u = 0; u < hs; u++)
            {
                float i = Sigmoid(gates[u]);
                float f = Sigmoid(gates[hs + u]);
                float g = MathF.Tanh(gates[2 * hs + u]);
                float o = Sigmoid(gates[3 * hs + u]);
                c[u] = f * c[u] + i * g;
                h[u] = o * MathF.Tanh(c[u]);
            }
            input = h;
        }
        input.CopyTo(y);
    }
}
