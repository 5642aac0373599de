using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LstmGen;

/// <summary>
/// A float buffer whose first element sits on a 64-byte boundary (a cache line, and one 512-bit vector), allocated
/// once on the pinned object heap. Plain arrays are only 8-byte aligned, which makes vector stores straddle cache
/// lines and slows the recurrent read-back of h.
/// </summary>
public sealed class AlignedBuffer
{
    /// <summary>The alignment in floats: 16 floats = 64 bytes.</summary>
    public const int AlignmentInFloats = 16;

    private readonly float[] _array;
    private readonly int _offset;

    /// <summary>Allocates <paramref name="length"/> zeroed floats, 64-byte aligned.</summary>
    public AlignedBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _array = GC.AllocateArray<float>(length + AlignmentInFloats, pinned: true);
        long address = (long)Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0);
        int misalignment = (int)(address & 63);
        _offset = misalignment == 0 ? 0 : (64 - misalignment) / sizeof(float);
        Length = length;
    }

    /// <summary>Number of usable floats.</summary>
    public int Length { get; }

    /// <summary>The buffer as a span.</summary>
    public Span<float> Span => _array.AsSpan(_offset, Length);

    /// <summary>A reference to the first (aligned) element, for the kernels.</summary>
    public ref float Reference
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_array), _offset);
    }

    /// <summary>Sets every element to zero.</summary>
    public void Clear() => Span.Clear();
}
