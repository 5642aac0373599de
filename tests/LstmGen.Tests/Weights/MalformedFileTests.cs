using System;
using System.Buffers.Binary;
using System.Linq;
using System.Text;
using LstmGen.Weights;
using Xunit;

namespace LstmGen.Tests.Weights;

/// <summary>
/// Every kind of bad input, written by hand here (not by the code under test): the loader throws
/// <see cref="WeightsFormatException"/> of the right kind, naming the field or tensor, and leaves the model unchanged.
/// The model is Lstm_1_1_1: weight_ih_l0 (4, 1), weight_hh_l0 (4, 1), bias_ih_l0 (4,), bias_hh_l0 (4,), 16 bytes each in F32.
/// </summary>
public sealed class MalformedFileTests
{
    private const string Ih = "\"weight_ih_l0\":{\"dtype\":\"F32\",\"shape\":[4,1],\"data_offsets\":[0,16]}";
    private const string Hh = "\"weight_hh_l0\":{\"dtype\":\"F32\",\"shape\":[4,1],\"data_offsets\":[16,32]}";
    private const string Bi = "\"bias_ih_l0\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[32,48]}";
    private const string Bh = "\"bias_hh_l0\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[48,64]}";
    private static readonly string Valid = "{" + string.Join(",", Ih, Hh, Bi, Bh) + "}";

    /// <summary>Values 1..16 as little-endian float32.</summary>
    private static byte[] Data(int floats = 16)
    {
        var data = new byte[4 * floats];
        for (int k = 0; k < floats; k++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4 * k), k + 1);
        return data;
    }

    private static byte[] File(string header, byte[] data, ulong? length = null)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, length ?? (ulong)json.Length);
        json.CopyTo(file, 8);
        data.CopyTo(file, 8 + json.Length);
        return file;
    }

    private static WeightsFormatException Fails(byte[] file, WeightsErrorKind kind, string field, SafetensorsOptions? options = null)
    {
        var model = new Lstm_1_1_1(seed: 3);
        float[] before = model.Parameters.Values.ToArray();
        var e = Assert.Throws<WeightsFormatException>(() => Safetensors.Load(file, model.Parameters, options));
        Assert.Equal(kind, e.Kind);
        Assert.Equal(field, e.Field);
        // The message names the tensor (quoted) or the field.
        string named = field;
        foreach (string suffix in new[] { ".dtype", ".shape", ".data_offsets" })
            if (named.EndsWith(suffix, StringComparison.Ordinal)) named = named.Substring(0, named.Length - suffix.Length);
        if (named.StartsWith("__metadata__.", StringComparison.Ordinal)) named = named.Substring("__metadata__.".Length);
        Assert.Contains(named is "header" or "header length" or "data" or "__metadata__" ? named : "'" + named + "'", e.Message);
        Assert.Equal(before, model.Parameters.Values.ToArray());      // nothing written
        return e;
    }

    [Fact]
    public void ValidFileLoads()
    {
        var model = new Lstm_1_1_1(seed: 3);
        Safetensors.Load(File(Valid, Data()), model.Parameters);
        Assert.Equal(Enumerable.Range(1, 16).Select(k => (float)k), model.Parameters.Values.ToArray());
        // Escaped names, padding spaces and metadata are valid too.
        string escaped = "{\"__metadata__\":{\"format\":\"pt\"}," + Ih.Replace("weight_ih", "weight\\u005fih", StringComparison.Ordinal) + "," + Hh + "," + Bi + "," + Bh + "}     ";
        var other = new Lstm_1_1_1(seed: 4);
        Safetensors.Load(File(escaped, Data()), other.Parameters);
        Assert.Equal(model.Parameters.Values.ToArray(), other.Parameters.Values.ToArray());
    }

    [Fact] public void FileShorterThanTheLengthField() => Fails(new byte[] { 1, 2, 3, 4, 5 }, WeightsErrorKind.Truncated, "header length");
    [Fact] public void HeaderLengthBeyondTheFile() => Fails(File(Valid, Data(), length: 100_000), WeightsErrorKind.Truncated, "header length");
    [Fact] public void HeaderLengthAboveTheCap() => Fails(File(Valid, Data(), length: 100_000_001), WeightsErrorKind.HeaderTooLarge, "header length");
    [Fact] public void HeaderLengthHuge() => Fails(File(Valid, Data(), length: ulong.MaxValue), WeightsErrorKind.HeaderTooLarge, "header length");
    [Fact] public void EmptyHeader() => Fails(File("", Data(), length: 0), WeightsErrorKind.InvalidHeader, "header");
    [Fact] public void TruncatedData() => Fails(File(Valid, Data(15)), WeightsErrorKind.OffsetsOutOfRange, "bias_hh_l0.data_offsets");
    [Fact] public void TruncatedHeader() => Fails(File(Valid.Substring(0, 60), Array.Empty<byte>()), WeightsErrorKind.InvalidHeader, "header");
    [Fact] public void HeaderNotAnObject() => Fails(File("[1,2,3]", Data()), WeightsErrorKind.InvalidHeader, "header");
    [Fact] public void ContentAfterTheHeaderObject() => Fails(File(Valid + " {}", Data()), WeightsErrorKind.InvalidHeader, "header");
    [Fact] public void InvalidJsonToken() => Fails(File(Valid.Replace("[4,1]", "[4,1,]", StringComparison.Ordinal), Data()), WeightsErrorKind.InvalidHeader, "header");

    [Fact]
    public void UnknownDType()
    {
        var e = Fails(File(Valid.Replace("\"dtype\":\"F32\",\"shape\":[4,1],\"data_offsets\":[16", "\"dtype\":\"F33\",\"shape\":[4,1],\"data_offsets\":[16", StringComparison.Ordinal), Data()),
            WeightsErrorKind.UnknownDType, "weight_hh_l0.dtype");
        Assert.Contains("F33", e.Message);
    }

    [Fact]
    public void DTypeThatIsNotAFloat()
    {
        var e = Fails(File(Valid.Replace("\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[32", "\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[32", StringComparison.Ordinal), Data()),
            WeightsErrorKind.UnsupportedDType, "bias_ih_l0");
        Assert.Contains("I32", e.Message);
    }

    [Fact] public void OffsetsPastTheData() => Fails(File(Valid.Replace("[48,64]", "[64,80]", StringComparison.Ordinal), Data()), WeightsErrorKind.OffsetsOutOfRange, "bias_hh_l0.data_offsets");
    [Fact] public void OffsetsReversed() => Fails(File(Valid.Replace("[16,32]", "[32,16]", StringComparison.Ordinal), Data()), WeightsErrorKind.OffsetsOutOfRange, "weight_hh_l0.data_offsets");
    [Fact] public void OffsetsNotWholeNumbers() => Fails(File(Valid.Replace("[16,32]", "[16.5,32]", StringComparison.Ordinal), Data()), WeightsErrorKind.InvalidHeader, "weight_hh_l0.data_offsets");
    [Fact] public void OffsetsNegative() => Fails(File(Valid.Replace("[16,32]", "[-16,32]", StringComparison.Ordinal), Data()), WeightsErrorKind.InvalidHeader, "weight_hh_l0.data_offsets");
    [Fact] public void OffsetsThreeNumbers() => Fails(File(Valid.Replace("[16,32]", "[16,32,48]", StringComparison.Ordinal), Data()), WeightsErrorKind.InvalidHeader, "weight_hh_l0.data_offsets");

    [Fact]
    public void OverlappingTensors()
    {
        var e = Fails(File(Valid.Replace("[16,32]", "[0,16]", StringComparison.Ordinal), Data()), WeightsErrorKind.OverlappingData, "weight_hh_l0");
        Assert.Contains("'weight_ih_l0'", e.Message);
    }

    [Fact]
    public void GapBetweenTensors() =>
        Fails(File(Valid.Replace("[48,64]", "[52,68]", StringComparison.Ordinal), Data(17)), WeightsErrorKind.UncoveredData, "bias_hh_l0");

    [Fact] public void TrailingBytesAfterTheLastTensor() => Fails(File(Valid, Data(18)), WeightsErrorKind.UncoveredData, "data");

    [Fact]
    public void ByteLengthNotDTypeTimesShape()
    {
        var e = Fails(File(Valid.Replace("\"shape\":[4,1],\"data_offsets\":[0,16]", "\"shape\":[4,2],\"data_offsets\":[0,16]", StringComparison.Ordinal), Data()),
            WeightsErrorKind.ByteLengthMismatch, "weight_ih_l0");
        Assert.Contains("32", e.Message);   // what F32 (4, 2) needs
    }

    [Fact] public void MissingTensor() => Fails(File("{" + string.Join(",", Ih, Hh, Bi) + "}", Data(12)), WeightsErrorKind.MissingTensor, "bias_hh_l0");

    [Fact]
    public void ExtraTensor() =>
        Fails(File("{" + string.Join(",", Ih, Hh, Bi, Bh, "\"extra\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[64,68]}") + "}", Data(17)), WeightsErrorKind.UnexpectedTensor, "extra");

    [Fact]
    public void DuplicateTensor() =>
        Fails(File("{" + string.Join(",", Ih, Hh, Bi, Bh, "\"weight_ih_l0\":{\"dtype\":\"F32\",\"shape\":[4,1],\"data_offsets\":[64,80]}") + "}", Data(20)), WeightsErrorKind.DuplicateTensor, "weight_ih_l0");

    [Fact]
    public void ShapeMismatch()
    {
        var e = Fails(File(Valid.Replace("\"shape\":[4,1],\"data_offsets\":[0,16]", "\"shape\":[2,2],\"data_offsets\":[0,16]", StringComparison.Ordinal), Data()),
            WeightsErrorKind.ShapeMismatch, "weight_ih_l0");
        Assert.Contains("(2, 2)", e.Message);
        Assert.Contains("(4, 1)", e.Message);
    }

    [Fact]
    public void RankMismatch() =>
        Fails(File(Valid.Replace("\"shape\":[4],\"data_offsets\":[48", "\"shape\":[4,1],\"data_offsets\":[48", StringComparison.Ordinal), Data()), WeightsErrorKind.ShapeMismatch, "bias_hh_l0");

    [Fact]
    public void NonFiniteValue()
    {
        var data = Data();
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(32 + 8), float.PositiveInfinity);   // bias_ih_l0[2]
        var e = Fails(File(Valid, data), WeightsErrorKind.NonFiniteValue, "bias_ih_l0");
        Assert.Contains("index 2", e.Message);
    }

    [Fact] public void MetadataNotAnObject() => Fails(File("{\"__metadata__\":[1]," + Valid.Substring(1), Data()), WeightsErrorKind.InvalidMetadata, "__metadata__");
    [Fact] public void MetadataValueNotAString() => Fails(File("{\"__metadata__\":{\"epoch\":3}," + Valid.Substring(1), Data()), WeightsErrorKind.InvalidMetadata, "__metadata__.epoch");
    [Fact] public void MetadataTwice() => Fails(File("{\"__metadata__\":{},\"__metadata__\":{}," + Valid.Substring(1), Data()), WeightsErrorKind.InvalidMetadata, "__metadata__");
    [Fact] public void FieldMissing() => Fails(File(Valid.Replace("\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[32,48]", "\"shape\":[4],\"data_offsets\":[32,48]", StringComparison.Ordinal), Data()), WeightsErrorKind.InvalidHeader, "bias_ih_l0.dtype");
    [Fact] public void FieldOfTheWrongType() => Fails(File(Valid.Replace("\"shape\":[4],\"data_offsets\":[32", "\"shape\":\"4\",\"data_offsets\":[32", StringComparison.Ordinal), Data()), WeightsErrorKind.InvalidHeader, "bias_ih_l0.shape");
    [Fact] public void FieldTwice() => Fails(File(Valid.Replace("\"shape\":[4],\"data_offsets\":[32", "\"shape\":[4],\"shape\":[4],\"data_offsets\":[32", StringComparison.Ordinal), Data()), WeightsErrorKind.InvalidHeader, "bias_ih_l0.shape");
    [Fact] public void NegativeDimension() => Fails(File(Valid.Replace("[4,1],\"data_offsets\":[0", "[-4,1],\"data_offsets\":[0", StringComparison.Ordinal), Data()), WeightsErrorKind.InvalidHeader, "weight_ih_l0.shape");
    [Fact] public void ShapeOverflows() => Fails(File(Valid.Replace("[4,1],\"data_offsets\":[0", "[4611686018427387904,4],\"data_offsets\":[0", StringComparison.Ordinal), Data()), WeightsErrorKind.InvalidHeader, "weight_ih_l0.shape");
    [Fact] public void EntryNotAnObject() => Fails(File("{\"weight_ih_l0\":5," + string.Join(",", Hh, Bi, Bh) + "}", Data()), WeightsErrorKind.InvalidHeader, "weight_ih_l0");

    [Fact]
    public void AmbiguousModulePrefix()
    {
        string two = "{" + Ih.Replace("\"weight_ih", "\"a.weight_ih", StringComparison.Ordinal) + "," + Hh + "," + Bi + "," + Bh + ","
                     + "\"b.weight_ih_l0\":{\"dtype\":\"F32\",\"shape\":[4,1],\"data_offsets\":[64,80]}}";
        var e = Fails(File(two, Data(20)), WeightsErrorKind.AmbiguousPrefix, "weight_ih_l0");
        Assert.Contains("'a.'", e.Message);
        Assert.Contains("'b.'", e.Message);
    }

    [Fact]
    public void WrongPrefixSaysWhichTensorIsMissing()
    {
        var e = Fails(File(Valid, Data()), WeightsErrorKind.MissingTensor, "lstm.weight_ih_l0", new SafetensorsOptions { LstmPrefix = "lstm." });
        Assert.Contains("'lstm.weight_ih_l0'", e.Message);
    }

    [Fact]
    public void GeneralReaderRejectsTheSameFiles()
    {
        var e = Assert.Throws<WeightsFormatException>(() => SafetensorsFile.Parse(File(Valid.Replace("[16,32]", "[0,16]", StringComparison.Ordinal), Data())));
        Assert.Equal(WeightsErrorKind.OverlappingData, e.Kind);
        var d = Assert.Throws<WeightsFormatException>(() => SafetensorsFile.Parse(File("{" + string.Join(",", Ih, Hh, Bi, Bh, "\"bias_hh_l0\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[64,64]}") + "}", Data())));
        Assert.Equal(WeightsErrorKind.DuplicateTensor, d.Kind);
        Assert.Equal("bias_hh_l0", d.Field);
    }
}
