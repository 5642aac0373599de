using System;

namespace LstmGen;

/// <summary>
/// What every generated model offers, LSTM and GRU alike, so code can be written once for several models. Calls
/// through the concrete class are the fastest; this interface is for generic code, tools and tests.
/// </summary>
/// <typeparam name="TState">The model's nested <c>State</c> class.</typeparam>
public interface IRecurrentModel<TState> where TState : class, IRecurrentState
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

/// <summary>The recurrent state of one stream of a generated model: h of every layer (an LSTM's also has c: <see cref="ILstmState"/>).</summary>
public interface IRecurrentState
{
    /// <summary>h of <paramref name="layer"/> (HiddenSize values), writable to give an initial state.</summary>
    Span<float> Hidden(int layer);

    /// <summary>h of one layer, direction (0 forward, 1 reverse) and stream (ProjectedSize values), writable.</summary>
    Span<float> Hidden(int layer, int direction, int stream = 0);

    /// <summary>Sets the state of every layer to its initial value (zero, or the model's learned initial state).</summary>
    void Reset();
}
