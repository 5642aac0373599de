using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LstmGen.Training;

/// <summary>
/// The part of every generated <c>Trainer</c> that does not depend on the model's shape: argument checks, the gradient
/// tensors, the non-finite guard and clipping. Generated code calls it; the shape-dependent part (buffers, the forward
/// and backward kernels, the head) stays generated. Not meant to be called directly.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class TrainerCore
{
    /// <summary>The checks of <c>CreateTrainer</c>.</summary>
    public static void CheckCreate(Optimizer optimizer, float clipNorm, float clipValue, int maxSequenceLength)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (maxSequenceLength <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxSequenceLength), maxSequenceLength, "Give the longest training sequence: maxSequenceLength > 0, or SequenceLength on [LstmModel].");
        if (!(clipNorm >= 0f) || !(clipValue >= 0f))
            throw new ArgumentOutOfRangeException(nameof(clipNorm), "clipNorm and clipValue must be 0 (off) or above.");
    }

    /// <summary>Zero gradients with the tensors (names, shapes, offsets) of <paramref name="parameters"/>.</summary>
    public static LstmParameters NewGradients(LstmParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var shapes = new (string Name, int Rows, int Columns)[parameters.Tensors.Count];
        for (int k = 0; k < shapes.Length; k++)
        {
            var tensor = parameters.Tensors[k];
            shapes[k] = (tensor.Name, tensor.Rows, tensor.Rank == 1 ? 0 : tensor.Columns);
        }
        return new LstmParameters(shapes);
    }

    /// <summary>
    /// The checks of a training step on <paramref name="batchSize"/> sequences: returns their length T and how many rows
    /// of targets each has (T, or 1 for the last step only) and the targets per row.
    /// </summary>
    /// <param name="inputs">Length of the inputs (batchSize·T·inputSize).</param>
    /// <param name="targets">Length of the targets.</param>
    /// <param name="batchSize">Sequences in the batch.</param>
    /// <param name="carryState">The trainer's <c>CarryState</c>.</param>
    /// <param name="bidirectional">Whether the model is bidirectional (no truncated BPTT).</param>
    /// <param name="inputSize">The model's input size.</param>
    /// <param name="maxSequenceLength">The longest sequence the trainer was created for.</param>
    /// <param name="loss">The loss (it decides the targets per step).</param>
    /// <param name="outputs">The values the model outputs per step.</param>
    /// <param name="targetRows">T or 1.</param>
    /// <param name="perStep">Targets per row.</param>
    public static int CheckStep(int inputs, int targets, int batchSize, bool carryState, bool bidirectional, int inputSize, int maxSequenceLength,
                                Loss loss, int outputs, out int targetRows, out int perStep)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        if (carryState && bidirectional)
            throw new InvalidOperationException("CarryState (truncated BPTT) needs a model that runs forwards in time; a bidirectional model's reverse direction starts from each window's end.");
        if (inputs == 0 || inputs % (batchSize * inputSize) != 0)
            throw new ArgumentException($"inputs has length {inputs}; expected batchSize·T·InputSize values (batchSize = {batchSize}, InputSize = {inputSize}).", nameof(inputs));
        int steps = inputs / (batchSize * inputSize);
        if (steps > maxSequenceLength)
            throw new ArgumentException($"The sequences have {steps} steps; this trainer was created for at most {maxSequenceLength} (maxSequenceLength).", nameof(inputs));
        perStep = LossFunctions.TargetsPerStep(loss, outputs);
        if (targets == batchSize * steps * perStep) targetRows = steps;
        else if (targets == batchSize * perStep) targetRows = 1;
        else throw new ArgumentException($"targets has length {targets}; expected {batchSize * steps * perStep} (every step) or {batchSize * perStep} (last step only) for {loss} with batchSize {batchSize}.", nameof(targets));
        return steps;
    }

    /// <summary><paramref name="sums"/>[k] += <paramref name="chunk"/>[k]: one chunk's gradients added to a batch's (each value's additions in chunk order).</summary>
    public static void Accumulate(Span<float> sums, ReadOnlySpan<float> chunk)
    {
        if (chunk.Length != sums.Length) throw new ArgumentException("The chunk's gradients and the sums differ in length.", nameof(chunk));
        ref float s = ref MemoryMarshal.GetReference(sums);
        ref float c = ref MemoryMarshal.GetReference(chunk);
        int k = 0;
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
            for (; k <= sums.Length - 8; k += 8)
                System.Runtime.Intrinsics.Vector256.StoreUnsafe(
                    System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref s, (nuint)k) + System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref c, (nuint)k), ref s, (nuint)k);
        for (; k < sums.Length; k++) Unsafe.Add(ref s, k) += Unsafe.Add(ref c, k);
    }

    /// <summary>Throws <see cref="NonFiniteTrainingException"/> when the step's loss is NaN or infinite.</summary>
    public static void CheckLoss(float loss)
    {
        if (!float.IsFinite(loss))
            throw new NonFiniteTrainingException($"The loss is {loss}; the step was abandoned and the weights are unchanged. Check the inputs and targets for NaN, or lower the learning rate.", "loss", -1);
    }

    /// <summary>
    /// The end of a step's gradient computation: the global norm (summed in double, finite exactly when every gradient
    /// is, so one pass checks both; a non-finite gradient throws <see cref="NonFiniteTrainingException"/> naming its
    /// tensor and index), then clipping by value and by global norm. Returns the norm before clipping.
    /// </summary>
    public static float FinishGradients(Span<float> gradients, LstmParameters tensors, float clipNorm, float clipValue)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        float norm = GradientTools.GlobalNorm(gradients);
        if (!float.IsFinite(norm))
        {
            int bad = Math.Max(0, GradientTools.IndexOfNonFinite(gradients));
            var list = tensors.Tensors;
            var tensor = list[0];
            for (int k = list.Count - 1; k > 0; k--)
                if (bad >= list[k].Offset) { tensor = list[k]; break; }
            throw new NonFiniteTrainingException($"The gradient of {tensor.Name}[{bad - tensor.Offset}] is {gradients[bad]}; the step was abandoned and the weights are unchanged. Lower the learning rate or set clipNorm.", tensor.Name, bad - tensor.Offset);
        }
        if (clipValue > 0f) GradientTools.ClipByValue(gradients, clipValue);
        if (clipNorm > 0f) GradientTools.ClipByGlobalNorm(gradients, clipNorm);
        return norm;
    }

    /// <summary>
    /// The dense head over a sequence: z_t = W·r_t + b for t &lt; <paramref name="steps"/>, with W (<paramref name="outputs"/> ×
    /// <paramref name="inputs"/>, row-major) and b at their offsets in <paramref name="parameters"/>, r_t the top layer's
    /// output rows (<paramref name="rowStride"/> apart) and z_t written to <paramref name="logits"/> (outputs per row).
    /// </summary>
    public static void HeadForward(ref float rows, int rowStride, int steps, ref float parameters, int weightOffset, int biasOffset,
                                   int inputs, int outputs, ref float logits)
    {
        for (int t = 0; t < steps; t++)
        {
            ref float r = ref Unsafe.Add(ref rows, t * rowStride);
            for (int o = 0; o < outputs; o++)
                Unsafe.Add(ref logits, t * outputs + o) = LstmMath.Dot(ref Unsafe.Add(ref parameters, weightOffset + o * inputs), ref r, inputs) + Unsafe.Add(ref parameters, biasOffset + o);
        }
    }

    /// <summary>
    /// The dense head's backward pass (docs/maths.md §4): ∂L/∂r_t = Wᵀ·dz_t into rows of <paramref name="dRows"/>
    /// (<paramref name="dRowStride"/> apart), and dW += dz_t·r_tᵀ, db += dz_t into <paramref name="gradients"/> at the
    /// head's offsets, as matrix products over the steps (<see cref="GradientProducts"/>).
    /// </summary>
    public static void HeadBackward(ref float rows, int rowStride, int steps, ref float parameters, Span<float> gradients, int weightOffset, int biasOffset,
                                    int inputs, int outputs, ref float dLogits, ref float dRows, int dRowStride)
    {
        // three products over all steps (dz_t rows are outputs floats apart): db += Σ_t dz_t; dW += Σ_t dz_t·r_tᵀ; and
        // [∂L/∂r_0 … ∂L/∂r_(T-1)] = Wᵀ·[dz_0 … dz_(T-1)]
        ref float g = ref MemoryMarshal.GetReference(gradients);
        GradientProducts.BiasAccumulate(ref Unsafe.Add(ref g, biasOffset), ref dLogits, outputs, outputs, steps);
        GradientProducts.OuterAccumulate(ref Unsafe.Add(ref g, weightOffset), 1, outputs, inputs, ref dLogits, 0, outputs, ref rows, rowStride, steps);
        GradientProducts.MatTMat(ref Unsafe.Add(ref parameters, weightOffset), 1, outputs, inputs, ref dLogits, 0, outputs, steps, ref dRows, dRowStride);
    }

    /// <summary>
    /// The skip connection (<c>[LstmModel(Skip = …)]</c>): z_t += x_t[0 .. skip) for t &lt; <paramref name="steps"/>, with
    /// PyTorch's broadcasting (skip = 1 adds x_t[0] to every output; skip = outputs adds x_t[j] to output j).
    /// </summary>
    public static void AddSkip(ref float x, int inputs, int steps, ref float logits, int outputs, int skip)
    {
        for (int t = 0; t < steps; t++)
            for (int o = 0; o < outputs; o++)
                Unsafe.Add(ref logits, t * outputs + o) += Unsafe.Add(ref x, t * inputs + (skip == 1 ? 0 : o));
    }

    // Row operations of the training passes: O(H) per step, beside O(H²) products, so plain loops.

    /// <summary>Row t of src (srcStride apart) to row n−1−t of dst (dstStride apart), count values each.</summary>
    public static void ReverseRows(ref float src, int srcStride, ref float dst, int dstStride, int n, int count)
    {
        for (int t = 0; t < n; t++)
            MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref src, t * srcStride), count).CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref dst, (n - 1 - t) * dstStride), count));
    }

    /// <summary>dst[t] += src[n−1−t] for n rows of count values (rows stride apart in both).</summary>
    public static void AddReversedRows(ref float src, ref float dst, int stride, int n, int count)
    {
        for (int t = 0; t < n; t++)
            AddRow(ref Unsafe.Add(ref src, (n - 1 - t) * stride), ref Unsafe.Add(ref dst, t * stride), count);
    }

    /// <summary>dst += src, count values.</summary>
    public static void AddRow(ref float src, ref float dst, int count)
    {
        for (int k = 0; k < count; k++) Unsafe.Add(ref dst, k) += Unsafe.Add(ref src, k);
    }

    /// <summary>dst = a + b, count values.</summary>
    public static void SumRow(ref float a, ref float b, ref float dst, int count)
    {
        for (int k = 0; k < count; k++) Unsafe.Add(ref dst, k) = Unsafe.Add(ref a, k) + Unsafe.Add(ref b, k);
    }

    /// <summary>dst = a ⊙ b, count values.</summary>
    public static void MultiplyRow(ref float a, ref float b, ref float dst, int count)
    {
        for (int k = 0; k < count; k++) Unsafe.Add(ref dst, k) = Unsafe.Add(ref a, k) * Unsafe.Add(ref b, k);
    }

    /// <summary>rows[t] ⊙= mask[t] for n rows of count values (rows stride apart, mask rows maskStride apart).</summary>
    public static void MultiplyRows(ref float rows, int stride, ref float mask, int maskStride, int n, int count)
    {
        for (int t = 0; t < n; t++)
            MultiplyRow(ref Unsafe.Add(ref rows, t * stride), ref Unsafe.Add(ref mask, t * maskStride), ref Unsafe.Add(ref rows, t * stride), count);
    }

    /// <summary>
    /// A layer's output rows (rowLength values, rowLength apart) for n steps: the forward direction's h_t (rows
    /// hStride apart, hp values) and, when <paramref name="bidirectional"/>, the reverse direction's h_t after it (kept in
    /// its own reversed step order); times the dropout mask (rows rowLength apart) when <paramref name="drop"/>.
    /// </summary>
    public static void GatherOutput(ref float forward, ref float reverse, bool bidirectional, int hStride, int hp, ref float output, int rowLength,
                                    ref float mask, bool drop, int n)
    {
        for (int t = 0; t < n; t++)
        {
            ref float row = ref Unsafe.Add(ref output, t * rowLength);
            MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref forward, t * hStride), hp).CopyTo(MemoryMarshal.CreateSpan(ref row, hp));
            if (bidirectional)
                MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref reverse, (n - 1 - t) * hStride), hp).CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref row, hp), hp));
            if (drop) MultiplyRow(ref row, ref Unsafe.Add(ref mask, t * rowLength), ref row, rowLength);
        }
    }
}
