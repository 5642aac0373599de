using System;

namespace LstmGen;

/// <summary>
/// A small deterministic random source (SplitMix64) used for initialisation, so that the same seed gives the same
/// weights on every platform and .NET version.
/// </summary>
public struct LstmRandom
{
    private ulong _state;

    /// <summary>Starts the sequence for <paramref name="seed"/>.</summary>
    public LstmRandom(ulong seed) => _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A double uniformly distributed in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Fills <paramref name="destination"/> with values uniform in [-<paramref name="bound"/>, <paramref name="bound"/>).</summary>
    public void FillUniform(Span<float> destination, float bound)
    {
        for (int k = 0; k < destination.Length; k++)
            destination[k] = (float)((NextDouble() * 2.0 - 1.0) * bound);
    }
}
