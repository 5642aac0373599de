using System;

namespace LstmGen.Training;

/// <summary>The training objectives. All use PyTorch's default 'mean' reduction.</summary>
public enum Loss
{
    /// <summary>
    /// Mean squared error over every output value (torch.nn.MSELoss), computed on the model's output after the head's
    /// activation. Targets: T·OutputSize values (every step) or OutputSize (last step only).
    /// </summary>
    MeanSquaredError,

    /// <summary>
    /// Softmax cross-entropy on the head's logits (torch.nn.CrossEntropyLoss), whatever the head's activation.
    /// Targets: one class index per step (T values) or one for the last step, as floats holding whole numbers.
    /// </summary>
    CrossEntropy,

    /// <summary>
    /// Binary cross-entropy with logits (torch.nn.BCEWithLogitsLoss) on the head's logits, whatever the head's
    /// activation. Targets in [0, 1]: T·OutputSize values or OutputSize (last step only).
    /// </summary>
    BinaryCrossEntropyWithLogits,
}

/// <summary>Loss values and their gradients with respect to the head's logits; used by the generated trainers.</summary>
public static class LossFunctions
{
    /// <summary>
    /// Computes the loss of <paramref name="steps"/> rows of <paramref name="logits"/> (each <paramref name="width"/> wide)
    /// against <paramref name="targets"/>, and writes ∂loss/∂logits scaled by <paramref name="scale"/> into
    /// <paramref name="gradient"/> (same shape as the logits). <paramref name="targetRows"/> is <paramref name="steps"/> (targets for
    /// every step) or 1 (the last step only; the other rows get zero gradient).
    /// </summary>
    /// <exception cref="ArgumentException">A target is not a valid class index or probability.</exception>
    public static float Compute(Loss loss, OutputActivation activation, ReadOnlySpan<float> logits, int steps, int width,
        ReadOnlySpan<float> targets, int targetRows, float scale, Span<float> gradient)
    {
        gradient.Slice(0, steps * width).Clear();
        int firstRow = steps - targetRows;
        double total = 0;
        switch (loss)
        {
            case Loss.MeanSquaredError:
            {
                float norm = 1f / (targetRows * width);
                for (int r = 0; r < targetRows; r++)
                {
                    int row = (firstRow + r) * width;
                    for (int k = 0; k < width; k++)
                    {
                        float z = logits[row + k];
                        float y = Activate(activation, logits.Slice(row, width), k, z);
                        float d = y - targets[r * width + k];
                        total += (double)d * d;
                        // ∂/∂z of (y − t)²/N = 2(y − t)/N · act'(z)
                        gradient[row + k] = scale * 2f * d * norm * Derivative(activation, y);
                    }
                    if (activation == OutputActivation.Softmax)
                        SoftmaxBackward(logits.Slice(row, width), gradient.Slice(row, width), targets.Slice(r * width, width), scale * 2f * norm);
                }
                return (float)(total * norm);
            }
            case Loss.CrossEntropy:
            {
                float norm = 1f / targetRows;
                for (int r = 0; r < targetRows; r++)
                {
                    int row = (firstRow + r) * width;
                    float target = targets[r];
                    int cls = (int)target;
                    if (cls != target || cls < 0 || cls >= width)
                        throw new ArgumentException($"Cross-entropy target {r} is {target}; class indices must be whole numbers from 0 to {width - 1}.", nameof(targets));
                    ReadOnlySpan<float> z = logits.Slice(row, width);
                    float max = float.NegativeInfinity;
                    for (int k = 0; k < width; k++) max = MathF.Max(max, z[k]);
                    double sum = 0;
                    for (int k = 0; k < width; k++) sum += Math.Exp(z[k] - max);
                    double logSum = Math.Log(sum) + max;
                    total += logSum - z[cls];
                    // ∂/∂z = softmax(z) − onehot(cls), over N
                    for (int k = 0; k < width; k++)
                        gradient[row + k] = scale * norm * ((float)Math.Exp(z[k] - logSum) - (k == cls ? 1f : 0f));
                }
                return (float)(total * norm);
            }
            case Loss.BinaryCrossEntropyWithLogits:
            {
                float norm = 1f / (targetRows * width);
                for (int r = 0; r < targetRows; r++)
                {
                    int row = (firstRow + r) * width;
                    for (int k = 0; k < width; k++)
                    {
                        float z = logits[row + k], t = targets[r * width + k];
                        if (!(t >= 0f && t <= 1f))
                            throw new ArgumentException($"Binary cross-entropy target {r * width + k} is {t}; targets must be in [0, 1].", nameof(targets));
                        // max(z, 0) − z·t + log(1 + e^(−|z|)), the stable form torch uses
                        total += Math.Max(z, 0) - (double)z * t + Math.Log(1 + Math.Exp(-Math.Abs((double)z)));
                        gradient[row + k] = scale * norm * ((float)(1 / (1 + Math.Exp(-(double)z))) - t);
                    }
                }
                return (float)(total * norm);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(loss), loss, "Unknown loss.");
        }
    }

    /// <summary>The number of target values one step needs for <paramref name="loss"/>.</summary>
    public static int TargetsPerStep(Loss loss, int outputSize) => loss == Loss.CrossEntropy ? 1 : outputSize;

    private static float Activate(OutputActivation activation, ReadOnlySpan<float> row, int k, float z) => activation switch
    {
        OutputActivation.Sigmoid => 1f / (1f + MathF.Exp(-z)),
        OutputActivation.Tanh => MathF.Tanh(z),
        OutputActivation.Softmax => Softmax(row, k),
        _ => z,
    };

    private static float Derivative(OutputActivation activation, float y) => activation switch
    {
        OutputActivation.Sigmoid => y * (1f - y),
        OutputActivation.Tanh => 1f - y * y,
        OutputActivation.Softmax => 0f, // handled by SoftmaxBackward (the Jacobian is not diagonal)
        _ => 1f,
    };

    private static float Softmax(ReadOnlySpan<float> row, int k)
    {
        float max = float.NegativeInfinity;
        foreach (float v in row) max = MathF.Max(max, v);
        float sum = 0;
        foreach (float v in row) sum += MathF.Exp(v - max);
        return MathF.Exp(row[k] - max) / sum;
    }

    // MSE through softmax: ∂L/∂z_k = Σ_j c·(y_j − t_j)·y_j·(δ_jk − y_k) = c·y_k·((y_k − t_k) − Σ_j (y_j − t_j)·y_j)
    private static void SoftmaxBackward(ReadOnlySpan<float> z, Span<float> gradient, ReadOnlySpan<float> targets, float c)
    {
        int n = z.Length;
        float dot = 0;
        for (int j = 0; j < n; j++) { float y = Softmax(z, j); dot += (y - targets[j]) * y; }
        for (int k = 0; k < n; k++) { float y = Softmax(z, k); gradient[k] = c * y * ((y - targets[k]) - dot); }
    }
}
