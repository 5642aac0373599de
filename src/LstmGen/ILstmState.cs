using System;

namespace LstmGen;

/// <summary>The recurrent state of one stream of a generated LSTM: h and c of every layer.</summary>
public interface ILstmState : IRecurrentState
{
    /// <summary>c of <paramref name="layer"/> (HiddenSize values), writable to give an initial state.</summary>
    Span<float> Cell(int layer);

    /// <summary>c of one layer, direction (0 forward, 1 reverse) and stream (HiddenSize values), writable.</summary>
    Span<float> Cell(int layer, int direction, int stream = 0);
}
