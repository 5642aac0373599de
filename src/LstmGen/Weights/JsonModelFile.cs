using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace LstmGen.Weights;

/// <summary>What the JSON model-file readers (<see cref="GuitarMLJson"/>, <see cref="NamFile"/>, <see cref="RTNeuralJson"/>) share: reading, parsing, numbers.</summary>
internal static class JsonModelFile
{
    /// <summary>The file's bytes, refusing one above <paramref name="maxLength"/> before reading it.</summary>
    public static byte[] Read(string path, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(path);
        var info = new FileInfo(path);
        if (info.Exists && info.Length > maxLength)
            throw new WeightsFormatException(WeightsErrorKind.HeaderTooLarge, path, $"The file has {info.Length} bytes, above the {maxLength} this reader accepts.");
        return File.ReadAllBytes(path);
    }

    /// <summary>The parsed document; invalid UTF-8 or JSON is a <see cref="WeightsFormatException"/> (<paramref name="advice"/> follows the parser's message).</summary>
    public static JsonDocument Parse(ReadOnlySpan<byte> json, string advice = "")
    {
        // JsonDocument checks UTF-8 only when a string is read, which would surface as InvalidOperationException later
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, "json", "The file is not valid UTF-8 text.");
        try
        {
            // JsonDocument takes a ReadOnlyMemory; copying costs one allocation of the file's size at load time.
            return JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new WeightsFormatException(WeightsErrorKind.InvalidHeader, "json", $"The file is not valid JSON ({e.Message}).{advice}", e);
        }
    }

    /// <summary>A JSON number rounded to float32, as <c>torch.tensor(list)</c> does; <paramref name="subject"/> starts the messages ("Tensor 'x'").</summary>
    public static float Number(JsonElement element, string field, string subject)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out double d))
            throw new WeightsFormatException(WeightsErrorKind.ShapeMismatch, field, $"{subject} holds {element.ValueKind} where a number is expected.");
        float f = (float)d;
        if (!float.IsFinite(f))
            throw new WeightsFormatException(WeightsErrorKind.NonFiniteValue, field, $"{subject} holds {d}, which is not a finite float32.");
        return f;
    }

    /// <summary>What a JSON value is, for a shape error: "a list of 3 lists, the first of 4".</summary>
    public static string Describe(JsonElement value) => value.ValueKind == JsonValueKind.Array
        ? $"a list of {value.GetArrayLength()}" + (value.GetArrayLength() > 0 && value[0].ValueKind == JsonValueKind.Array ? $" lists, the first of {value[0].GetArrayLength()}" : "")
        : value.ValueKind.ToString();

    public static int IndexOf(IReadOnlyList<ParameterTensor> tensors, string name)
    {
        for (int k = 0; k < tensors.Count; k++)
            if (tensors[k].Name == name) return k;
        return -1;
    }
}
