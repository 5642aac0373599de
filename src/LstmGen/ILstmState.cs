using System;

namespace LstmGen;

/// <summary>The recurrent state of one stream of a generated model: h and c of every layer.</summary>
public interface ILstmState
{
    /// <summary>h of <paramref name="layer"/> (HiddenSize values), writable to give an initial state.</summary>
    Span<float> Hidden(int layer);

    /// <summary>c of <paramref name="layer"/> (HiddenSize values), writable to give an initial state.</summary>
    Span<float> Cell(int layer);

    /// <summary>h of one layer, direction (0 forward, 1 reverse) and stream (ProjectedSize values), writable.</summary>
    Span<float> Hidden(int layer, int direction, int stream = 0);

    /// <summary>c of one layer, direction (0 forward, 1 reverse) and stream (HiddenSize values), writable.</summary>
    Span<float> Cell(int layer, int direction, int stream = 0);

    /// <summary>Sets h and c of every layer to their initial values (zero, or the model's learned initial state).</summary>
    void Reset();
}
