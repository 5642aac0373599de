using System;

namespace LstmGen;

/// <summary>The recurrent state of one stream of a generated model: h and c of every layer.</summary>
public interface ILstmState
{
    /// <summary>h of <paramref name="layer"/> (HiddenSize values), writable to give an initial state.</summary>
    Span<float> Hidden(int layer);

    /// <summary>c of <paramref name="layer"/> (HiddenSize values), writable to give an initial state.</summary>
    Span<float> Cell(int layer);

    /// <summary>Sets h and c of every layer to zero.</summary>
    void Reset();
}
