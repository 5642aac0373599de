using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Immutable;

namespace LstmGen.Generator.Model;

/// <summary>An immutable array that compares by value, so it can live in an incremental pipeline's model.</summary>
internal readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IEnumerable<T>
    where T : IEquatable<T>
{
    private readonly ImmutableArray<T> _items;

    public EquatableArray(ImmutableArray<T> items) => _items = items;

    public int Count => _items.IsDefault ? 0 : _items.Length;

    public T this[int index] => _items[index];

    public bool Equals(EquatableArray<T> other)
    {
        if (Count != other.Count) return false;
        for (int k = 0; k < Count; k++)
            if (!_items[k].Equals(other._items[k])) return false;
        return true;
    }

    public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

    public override int GetHashCode()
    {
        int hash = 17;
        for (int k = 0; k < Count; k++) hash = unchecked(hash * 31 + _items[k].GetHashCode());
        return hash;
    }

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(_items.IsDefault ? ImmutableArray<T>.Empty : _items)).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public static EquatableArray<T> Empty => new(ImmutableArray<T>.Empty);
}
