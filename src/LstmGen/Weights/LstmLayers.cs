using System;
using System.Collections.Generic;
using System.Globalization;

namespace LstmGen.Weights;

/// <summary>One direction of one layer, found by its PyTorch names (docs/maths.md §6); <paramref name="Gates"/> is the cell's gate count.</summary>
internal sealed record LstmDirection(ParameterTensor WeightIh, ParameterTensor WeightHh, ParameterTensor? BiasIh, ParameterTensor? BiasHh,
    ParameterTensor? WeightHr, ParameterTensor? Peepholes, int Gates = 4)
{
    public int HiddenSize => WeightHh.Rows / Gates;
    public int InputSize => WeightIh.Columns;
}

/// <summary>Finds the layers of a parameter set from the tensor names, so converters work for every shape the generator emits.</summary>
internal static class LstmLayers
{
    /// <summary>
    /// The layers, each with one direction (or two: forward then <c>_reverse</c>), and the head (<c>fc.weight</c>,
    /// <c>fc.bias</c>) when there is one. A tensor the converters do not know is reported in <paramref name="unknown"/>.
    /// </summary>
    public static List<LstmDirection[]> Discover(LstmParameters parameters, out ParameterTensor? headWeight, out ParameterTensor? headBias, out List<string> unknown)
    {
        var byName = new Dictionary<string, ParameterTensor>(StringComparer.Ordinal);
        foreach (var t in parameters.Tensors) byName[t.Name] = t;
        var used = new HashSet<string>(StringComparer.Ordinal);
        ParameterTensor? Take(string name)
        {
            if (!byName.TryGetValue(name, out var t)) return null;
            used.Add(name);
            return t;
        }

        var layers = new List<LstmDirection[]>();
        for (int k = 0; ; k++)
        {
            var directions = new List<LstmDirection>();
            foreach (string suffix in new[] { "", "_reverse" })
            {
                string l = "_l" + k.ToString(CultureInfo.InvariantCulture) + suffix;
                var ih = Take("weight_ih" + l);
                if (ih is null) continue;
                var hh = Take("weight_hh" + l) ?? throw new NotSupportedException($"The parameters have 'weight_ih{l}' but no 'weight_hh{l}'.");
                directions.Add(new LstmDirection(ih, hh, Take("bias_ih" + l), Take("bias_hh" + l), Take("weight_hr" + l), Take("weight_ph" + l), CellGates.Count(parameters.Cell)));
            }
            if (directions.Count == 0) break;
            layers.Add(directions.ToArray());
        }
        headWeight = Take("fc.weight");
        headBias = Take("fc.bias");
        unknown = new List<string>();
        foreach (var t in parameters.Tensors)
            if (!used.Contains(t.Name)) unknown.Add(t.Name);
        return layers;
    }

    public static void Copy(ReadOnlySpan<float> source, ParameterTensor target) => target.CopyFrom(source);
}
