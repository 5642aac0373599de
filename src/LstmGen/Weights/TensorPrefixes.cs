using System;
using System.Collections.Generic;

namespace LstmGen.Weights;

/// <summary>
/// How a weights file's tensor names map to the model's when the file was saved from a larger PyTorch module: the
/// module prefixes of the LSTM (<c>rec.weight_ih_l0</c>) and of the dense head (<c>lin.weight</c>, <c>lin.bias</c>).
/// </summary>
/// <remarks>
/// The one definition of these rules: the runtime loader uses it, and the generator compiles this same file (linked) for
/// compiled-in weights, so the two cannot drift apart. Plain C# only: it must compile for netstandard2.0 too.
/// </remarks>
internal static class TensorPrefixes
{
    /// <summary>The tensor whose prefix is the LSTM's module prefix.</summary>
    public const string LstmAnchor = "weight_ih_l0";

    /// <summary>The head's prefix in the model's own names (<c>fc.weight</c>, <c>fc.bias</c>).</summary>
    public const string ModelHeadPrefix = "fc.";

    /// <summary>The LSTM prefixes in <paramref name="names"/>: the part before every name ending in <see cref="LstmAnchor"/>, distinct, sorted (ordinal).</summary>
    public static List<string> LstmCandidates(IEnumerable<string> names)
    {
        var found = new List<string>();
        foreach (string name in names)
            if (name.EndsWith(LstmAnchor, StringComparison.Ordinal))
            {
                string prefix = name.Substring(0, name.Length - LstmAnchor.Length);
                if (!found.Contains(prefix)) found.Add(prefix);
            }
        found.Sort(StringComparer.Ordinal);
        return found;
    }

    /// <summary>
    /// The head prefixes in a file: every P (empty or ending in '.') for which the file has a tensor P + "weight" of
    /// shape [outputs, inputs] and a tensor P + "bias" of shape [outputs], sorted (ordinal). One candidate is the head;
    /// none or several, and the caller must be told which (its error names these).
    /// </summary>
    public static List<string> HeadCandidates(IEnumerable<KeyValuePair<string, long[]>> tensors, long outputs, long inputs)
    {
        var weights = new List<string>();
        var biases = new List<string>();
        foreach (var tensor in tensors)
        {
            long[] shape = tensor.Value;
            if (Prefix(tensor.Key, "weight") is { } w && shape.Length == 2 && shape[0] == outputs && shape[1] == inputs) weights.Add(w);
            else if (Prefix(tensor.Key, "bias") is { } b && shape.Length == 1 && shape[0] == outputs) biases.Add(b);
        }
        var candidates = new List<string>();
        foreach (string w in weights)
            if (biases.Contains(w) && !candidates.Contains(w)) candidates.Add(w);
        candidates.Sort(StringComparer.Ordinal);
        return candidates;
    }

    /// <summary>The candidates as a message lists them: 'lin.', 'fc.' (or "none").</summary>
    public static string Describe(List<string> candidates) =>
        candidates.Count == 0 ? "none" : "'" + string.Join("', '", candidates) + "'";

    /// <summary>The prefix of <paramref name="name"/> before <paramref name="leaf"/>, when it is empty or ends in '.'; else null.</summary>
    private static string? Prefix(string name, string leaf)
    {
        if (!name.EndsWith(leaf, StringComparison.Ordinal)) return null;
        string prefix = name.Substring(0, name.Length - leaf.Length);
        return prefix.Length == 0 || prefix[prefix.Length - 1] == '.' ? prefix : null;
    }
}
