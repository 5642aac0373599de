using System;
using System.Collections.Generic;

namespace LstmGen;

/// <summary>
/// A model's parameters in PyTorch's order and layout (the order of <c>model.state_dict()</c> for
/// <c>torch.nn.LSTM</c> followed by the <c>torch.nn.Linear</c> head), as one flat float32 array with a named view of
/// each tensor.
/// </summary>
/// <remarks>
/// The generated kernels read a pre-packed copy of these values. Every write goes through a method of this class
/// or of <see cref="ParameterTensor"/>, and each bumps <see cref="Version"/>; the model repacks on its next step
/// when the version has moved, so a write is never silently ignored.
/// </remarks>
public sealed class LstmParameters
{
    private readonly float[] _values;
    private readonly ParameterTensor[] _tensors;
    private readonly Dictionary<string, ParameterTensor> _byName;

    /// <summary>
    /// Creates zeroed parameters for the given tensors, laid out one after another in the given order.
    /// <c>Columns = 0</c> declares a 1-D tensor of <c>Rows</c> values.
    /// </summary>
    public LstmParameters(ReadOnlySpan<(string Name, int Rows, int Columns)> tensors)
    {
        _tensors = new ParameterTensor[tensors.Length];
        _byName = new Dictionary<string, ParameterTensor>(tensors.Length, StringComparer.Ordinal);
        int offset = 0;
        for (int k = 0; k < tensors.Length; k++)
        {
            var (name, rows, columns) = tensors[k];
            var tensor = new ParameterTensor(this, name, offset, rows, columns);
            _tensors[k] = tensor;
            _byName.Add(name, tensor);
            offset = checked(offset + tensor.Length);
        }
        _values = new float[offset];
    }

    /// <summary>
    /// The model's skip connection (its <c>[LstmModel(Skip = …)]</c>; 0 for none). It has no parameters; loaders of
    /// formats that record it (GuitarML's JSON) check it against the file.
    /// </summary>
    public int Skip { get; init; }

    /// <summary>
    /// The activation on the model's dense head (its <c>[LstmModel(OutputActivation = …)]</c>). It has no parameters;
    /// loaders of formats that record it (RTNeural's JSON) check it against the file.
    /// </summary>
    public OutputActivation OutputActivation { get; init; }

    /// <summary>
    /// The cell the parameters belong to (<see cref="CellKind.Lstm"/> unless a <c>[GruModel]</c> made them): the converters
    /// (Keras and ONNX layouts, ONNX export) read their gate count and order from it.
    /// </summary>
    public CellKind Cell { get; init; }

    /// <summary>Total number of parameters (<c>sum(p.numel() for p in model.parameters())</c>).</summary>
    public int Count => _values.Length;

    /// <summary>Increases with every write; the model compares it with the version it last packed.</summary>
    public int Version { get; private set; }

    /// <summary>All values, read-only, in PyTorch order.</summary>
    public ReadOnlySpan<float> Values => _values;

    /// <summary>The tensors in PyTorch order.</summary>
    public IReadOnlyList<ParameterTensor> Tensors => _tensors;

    /// <summary>The tensor named <paramref name="name"/> (PyTorch state-dict name, e.g. <c>weight_ih_l0</c>, <c>fc.bias</c>).</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name; the message lists the names there are.</exception>
    public ParameterTensor this[string name] =>
        _byName.TryGetValue(name, out var tensor)
            ? tensor
            : throw new KeyNotFoundException($"No parameter tensor is named '{name}'. The tensors are: {string.Join(", ", _byName.Keys)}.");

    /// <summary>Replaces every value.</summary>
    /// <exception cref="ArgumentException"><paramref name="source"/> does not have <see cref="Count"/> values.</exception>
    public void CopyFrom(ReadOnlySpan<float> source)
    {
        if (source.Length != _values.Length)
            throw new ArgumentException($"Expected {_values.Length} parameter values (ParameterCount), got {source.Length}.", nameof(source));
        source.CopyTo(_values);
        Version++;
    }

    /// <summary>Copies every value into <paramref name="destination"/>.</summary>
    public void CopyTo(Span<float> destination)
    {
        if (destination.Length != _values.Length)
            throw new ArgumentException($"Expected a destination of {_values.Length} values (ParameterCount), got {destination.Length}.", nameof(destination));
        _values.CopyTo(destination);
    }

    /// <summary>
    /// The values for writing in place, for optimizers and loaders. Calling it marks the parameters changed; a write
    /// made after the model's next step needs another call, or the model will not see it.
    /// </summary>
    public Span<float> GetWritableValues()
    {
        Version++;
        return _values;
    }

    internal float Get(int index) => _values[index];

    internal void Set(int index, float value)
    {
        _values[index] = value;
        Version++;
    }

    internal void CopyRange(ReadOnlySpan<float> source, int offset)
    {
        source.CopyTo(_values.AsSpan(offset));
        Version++;
    }

    internal ReadOnlySpan<float> Slice(int offset, int length) => _values.AsSpan(offset, length);
}

/// <summary>A named tensor inside <see cref="LstmParameters"/>: a row-major view of one PyTorch parameter.</summary>
public sealed class ParameterTensor
{
    private readonly LstmParameters _owner;

    internal ParameterTensor(LstmParameters owner, string name, int offset, int rows, int columns)
    {
        _owner = owner;
        Name = name;
        Offset = offset;
        Rows = rows;
        Rank = columns == 0 ? 1 : 2;
        Columns = Math.Max(columns, 1);
        Length = checked(rows * Columns);
    }

    /// <summary>The PyTorch state-dict name, e.g. <c>weight_hh_l1</c>.</summary>
    public string Name { get; }

    /// <summary>Offset of the first value in <see cref="LstmParameters.Values"/>.</summary>
    public int Offset { get; }

    /// <summary>Rows of the tensor (its first dimension).</summary>
    public int Rows { get; }

    /// <summary>Columns of a matrix; 1 for a vector (a PyTorch 1-D tensor, see <see cref="Rank"/>).</summary>
    public int Columns { get; }

    /// <summary>1 for a vector (a bias), 2 for a matrix.</summary>
    public int Rank { get; }

    /// <summary>Number of values.</summary>
    public int Length { get; }

    /// <summary>The values, read-only, row-major.</summary>
    public ReadOnlySpan<float> Values => _owner.Slice(Offset, Length);

    /// <summary>One value by flat (row-major) index.</summary>
    public float this[int index]
    {
        get { CheckIndex(index); return _owner.Get(Offset + index); }
        set { CheckIndex(index); _owner.Set(Offset + index, value); }
    }

    /// <summary>One value by row and column.</summary>
    public float this[int row, int column]
    {
        get => this[Index(row, column)];
        set => this[Index(row, column)] = value;
    }

    /// <summary>Replaces the tensor's values.</summary>
    /// <exception cref="ArgumentException"><paramref name="source"/> does not have <see cref="Length"/> values.</exception>
    public void CopyFrom(ReadOnlySpan<float> source)
    {
        if (source.Length != Length)
            throw new ArgumentException($"Tensor '{Name}' has {Length} values, got {source.Length}.", nameof(source));
        _owner.CopyRange(source, Offset);
    }

    private int Index(int row, int column)
    {
        if ((uint)row >= (uint)Rows || (uint)column >= (uint)Columns)
            throw new ArgumentOutOfRangeException(nameof(row), $"({row}, {column}) is outside tensor '{Name}' of shape ({Rows}, {Columns}).");
        return row * Columns + column;
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Length)
            throw new ArgumentOutOfRangeException(nameof(index), $"Index {index} is outside tensor '{Name}' of {Length} values.");
    }
}
