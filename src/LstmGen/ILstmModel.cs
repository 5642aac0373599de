using System;

namespace LstmGen;

/// <summary>
/// What every generated model offers, so code can be written once for several models. Calls through the
/// concrete class are the fastest; this interface is for generic code, tools and tests.
/// </summary>
/// <typeparam name="TState">The model's nested <c>State</c> class.</typeparam>
public interface ILstmModel<TState> where TState : class, ILstmState
{
    /// <summary>The parameters in PyTorch order and layout.</summary>
    LstmParameters Parameters { get; }

    /// <summary>A new zero state with its scratch space.</summary>
    TState NewState();

    /// <summary>One time step: <paramref name="x"/> (InputSize values) in, <paramref name="y"/> (OutputSize values) out.</summary>
    void Step(ReadOnlySpan<float> x, TState state, Span<float> y);

    /// <summary>A whole sequence: T·InputSize values in, T·OutputSize (every step) or OutputSize (last step) out.</summary>
    void Forward(ReadOnlySpan<float> xs, TState state, Span<float> ys);

    /// <summary>A trainer for this model (see the generated <c>CreateTrainer</c>).</summary>
    Training.ILstmTrainer CreateTrainer(Training.Optimizer optimizer, Training.Loss loss, float clipNorm = 0f, float clipValue = 0f, int maxSequenceLength = 0);
}
