using System;

namespace LstmGen.Training;

/// <summary>What every generated model's <c>Trainer</c> offers, for code written once over several models.</summary>
public interface ILstmTrainer
{
    /// <summary>∂loss/∂parameter from the last step, in the model's parameter order and names.</summary>
    LstmParameters Gradients { get; }

    /// <summary>Global L2 norm of the last step's gradients, before clipping.</summary>
    float LastGradientNorm { get; }

    /// <summary>The longest sequence a step accepts.</summary>
    int MaxSequenceLength { get; }

    /// <summary>Truncated BPTT: each step starts from the state the previous one ended in.</summary>
    bool CarryState { get; set; }

    /// <summary>Zeroes the carried state.</summary>
    void ResetState();

    /// <summary>Forward, BPTT and an update on one sequence; returns the loss before the update.</summary>
    float Step(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets);

    /// <summary>Forward, BPTT and one update on a batch of equal-length sequences; returns the mean loss.</summary>
    float Step(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int batchSize);

    /// <summary>Forward and BPTT without the update; returns the loss.</summary>
    float ComputeGradients(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int batchSize = 1);
}
