using System;

namespace LstmGen.Tests.Reference;

/// <summary>
/// The test suite's own oracle: a stacked LSTM with runtime sizes, written straight from
/// docs/maths.md §1 and §3, scalar, in double precision, with exact tanh and σ.
/// Parameters come in PyTorch order (the layout <see cref="LstmParameters"/> uses).
/// </summary>
public sealed class ReferenceLstm
{
    public ReferenceLstm(int inputSize, int hiddenSize, int numLayers, bool bias, int outputSize, OutputActivation activation, ReadOnlySpan<float> parameters)
    {
        InputSize = inputSize; HiddenSize = hiddenSize; NumLayers = numLayers; Bias = bias; OutputSize = outputSize; Activation = activation;
        int h = hiddenSize, offset = 0;
        Wih = new double[numLayers][]; Whh = new double[numLayers][]; Bih = new double[numLayers][]; Bhh = new double[numLayers][];
        double[] Take(int n, ReadOnlySpan<float> p) { var a = new double[n]; for (int k = 0; k < n; k++) a[k] = p[offset + k]; offset += n; return a; }
        for (int l = 0; l < numLayers; l++)
        {
            int inputs = l == 0 ? inputSize : h;
            Wih[l] = Take(4 * h * inputs, parameters);
            Whh[l] = Take(4 * h * h, parameters);
            Bih[l] = bias ? Take(4 * h, parameters) : new double[4 * h];
            Bhh[l] = bias ? Take(4 * h, parameters) : new double[4 * h];
        }
        if (outputSize > 0)
        {
            Wfc = Take(outputSize * h, parameters);
            Bfc = Take(outputSize, parameters);
        }
        if (offset != parameters.Length) throw new ArgumentException($"Expected {offset} parameters, got {parameters.Length}.");
        Hs = new double[numLayers][]; Cs = new double[numLayers][];
        for (int l = 0; l < numLayers; l++) { Hs[l] = new double[h]; Cs[l] = new double[h]; }
    }

    public int InputSize { get; }
    public int HiddenSize { get; }
    public int NumLayers { get; }
    public bool Bias { get; }
    public int OutputSize { get; }
    public OutputActivation Activation { get; }
    public int OutputLength => OutputSize > 0 ? OutputSize : HiddenSize;

    private readonly double[][] Wih, Whh, Bih, Bhh;
    private readonly double[]? Wfc, Bfc;

    /// <summary>h of every layer after the last step.</summary>
    public double[][] Hs { get; }
    /// <summary>c of every layer after the last step.</summary>
    public double[][] Cs { get; }

    public static double Sigmoid(double a) => 1.0 / (1.0 + Math.Exp(-a));

    /// <summary>One step of every layer and the head; returns the step's output.</summary>
    public double[] Step(ReadOnlySpan<float> x)
    {
        int h = HiddenSize;
        double[] input = new double[x.Length];
        for (int k = 0; k < x.Length; k++) input[k] = x[k];
        for (int l = 0; l < NumLayers; l++)
        {
            int inputs = input.Length;
            double[] hPrev = Hs[l], cPrev = Cs[l];
            double[] hNew = new double[h], cNew = new double[h];
            for (int u = 0; u < h; u++)
            {
                // a = W_ih·x + b_ih + W_hh·h + b_hh, rows in gate order i, f, g, o
                double[] a = new double[4];
                for (int q = 0; q < 4; q++)
                {
                    int row = q * h + u;
                    double s = Bih[l][row] + Bhh[l][row];
                    for (int j = 0; j < inputs; j++) s += Wih[l][row * inputs + j] * input[j];
                    for (int j = 0; j < h; j++) s += Whh[l][row * h + j] * hPrev[j];
                    a[q] = s;
                }
                double i = Sigmoid(a[0]), f = Sigmoid(a[1]), g = Math.Tanh(a[2]), o = Sigmoid(a[3]);
                cNew[u] = f * cPrev[u] + i * g;
                hNew[u] = o * Math.Tanh(cNew[u]);
            }
            Hs[l] = hNew; Cs[l] = cNew;
            input = hNew;
        }
        if (OutputSize == 0) return (double[])input.Clone();
        var y = new double[OutputSize];
        for (int o = 0; o < OutputSize; o++)
        {
            double s = Bfc![o];
            for (int j = 0; j < h; j++) s += Wfc![o * h + j] * input[j];
            y[o] = s;
        }
        switch (Activation)
        {
            case OutputActivation.Sigmoid: for (int o = 0; o < y.Length; o++) y[o] = Sigmoid(y[o]); break;
            case OutputActivation.Tanh: for (int o = 0; o < y.Length; o++) y[o] = Math.Tanh(y[o]); break;
            case OutputActivation.Softmax:
                double max = double.NegativeInfinity; foreach (var v in y) max = Math.Max(max, v);
                double sum = 0; for (int o = 0; o < y.Length; o++) { y[o] = Math.Exp(y[o] - max); sum += y[o]; }
                for (int o = 0; o < y.Length; o++) y[o] /= sum;
                break;
        }
        return y;
    }

    /// <summary>Runs a whole sequence (T·InputSize values) and returns every step's output, time-major.</summary>
    public double[] Run(ReadOnlySpan<float> xs)
    {
        int steps = xs.Length / InputSize;
        var outputs = new double[steps * OutputLength];
        for (int t = 0; t < steps; t++)
            Step(xs.Slice(t * InputSize, InputSize)).CopyTo(outputs, t * OutputLength);
        return outputs;
    }
}
