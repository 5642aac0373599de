using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LstmGen.Tests.Oracles;
using LstmGen.Weights;
using TorchSharp;
using Xunit;

namespace LstmGen.Tests.Weights;

/// <summary>
/// PyTorch to LstmGen through safetensors: libtorch builds nn.LSTM + nn.Linear with its own random initialisation, the
/// state dict goes to a safetensors file written by our writer from the torch tensors' bytes, the generated model loads
/// it, and its outputs must equal libtorch's forward within 1e-5 (the forward tolerance of <see cref="OracleComparisonTests"/>).
/// </summary>
public sealed class SafetensorsTorchTests
{
    public static TheoryData<string> Shapes() => new() { "Lstm_3_17_1", "Head_8_32_2_1", "Head_3_17_1_4_Softmax", "NoBias_3_17_2_2_Tanh", "Head_5_40_3_3_Sigmoid" };

    private static TorchNet Net(ModelCase c, long seed) => new(c.I, c.H, c.L, c.Bias, c.O, c.Activation, seed);

    private static float MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float m = 0;
        for (int k = 0; k < a.Length; k++) m = Math.Max(m, Math.Abs(a[k] - b[k]));
        return m;
    }

    private static float[] Run(IModelDriver model, ModelCase c, float[] xs, int steps)
    {
        var ys = new float[steps * c.OutputLength];
        model.Forward(xs, model.NewState(), ys);
        return ys;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void StateDictOfTorchLoadsAndMatchesLibTorch(string name)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        var c = Models.Get(name);
        using var net = Net(c, 11);
        const int steps = 50;
        float[] xs = Models.Inputs(steps * c.I, 5);
        float[] expected = net.Forward(xs, steps);

        foreach (string prefix in new[] { "", "lstm." })
        {
            byte[] file = net.Safetensors(prefix);
            var model = c.Create(999);                     // different random weights first: the load must replace them all
            Safetensors.Load(file, model.Parameters);      // prefix detected
            Assert.Equal(net.FlatValues(), model.Parameters.Values.ToArray());   // bit for bit
            float diff = MaxDiff(expected, Run(model, c, xs, steps));
            Assert.True(diff <= 1e-5f, $"{name} (prefix '{prefix}'): max |libtorch - LstmGen| = {diff:E2} > 1e-5");
        }
    }

    [Fact]
    public void OneLineImportFromAFileWithModulePrefix()
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        var c = Models.Get("Head_8_32_2_1");
        using var net = Net(c, 3);
        string path = Path.Combine(Path.GetTempPath(), $"lstmgen-{Guid.NewGuid():N}.safetensors");
        try
        {
            File.WriteAllBytes(path, net.Safetensors("lstm.", metadata: new Dictionary<string, string> { ["format"] = "pt" }));
            var model = new Head_8_32_2_1(seed: 5);
            model.Parameters.LoadSafetensors(path);
            Assert.Equal(net.FlatValues(), model.Parameters.Values.ToArray());
            var explicitPrefix = new Head_8_32_2_1(seed: 6);
            explicitPrefix.Parameters.LoadSafetensors(path, new SafetensorsOptions { LstmPrefix = "lstm." });
            Assert.Equal(model.Parameters.Values.ToArray(), explicitPrefix.Parameters.Values.ToArray());
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData(torch.ScalarType.Float16)]
    [InlineData(torch.ScalarType.BFloat16)]
    [InlineData(torch.ScalarType.Float64)]
    public void ReducedPrecisionFilesConvertAsTorchDoes(torch.ScalarType dtype)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        var c = Models.Get("Head_3_17_1_4_Softmax");
        using var net = Net(c, 21);
        byte[] file = net.Safetensors("lstm.", dtype);
        var parsed = SafetensorsFile.Parse(file);
        Assert.All(parsed.Tensors, t => Assert.Equal(TorchNet.DTypeOf(dtype), t.DType));
        var model = c.Create(1);
        Safetensors.Load(file, model.Parameters);
        // torch's own conversion (to the dtype and back to float32) is the expectation, bit for bit.
        Assert.Equal(net.FlatValues(dtype), model.Parameters.Values.ToArray());
    }

    [Theory]
    [InlineData(torch.ScalarType.Float16)]
    [InlineData(torch.ScalarType.BFloat16)]
    public void SavingAsReducedPrecisionRoundsAsTorchDoes(torch.ScalarType dtype)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        // Values that exercise rounding: random normals at several scales, ties, subnormals, overflow, ±0 (NaN bit patterns are not compared).
        var values = new List<float> { 0f, -0f, 1f, -1f, 65504f, 65520f, 1e5f, -1e-8f, 6e-8f, 3e-38f, float.PositiveInfinity, float.NegativeInfinity, 1.00390625f, 1.001953125f };
        var random = new LstmRandom(7);
        for (int k = 0; k < 4000; k++) values.Add((float)((random.NextDouble() - 0.5) * Math.Pow(10, k % 12 - 6)));
        var source = values.ToArray();
        using var t = torch.tensor(source);
        using var converted = t.to_type(dtype);
        byte[] expected = converted.bytes.ToArray();

        var actual = new byte[source.Length * 2];
        SafetensorsDTypes.FromFloat32(source, TorchNet.DTypeOf(dtype), actual);
        Assert.Equal(expected, actual);

        var back = new float[source.Length];
        SafetensorsDTypes.ToFloat32(TorchNet.DTypeOf(dtype), actual, back);
        using var torchBack = converted.to_type(torch.ScalarType.Float32);
        Assert.Equal(torchBack.data<float>().ToArray(), back);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void SaveThenLoadIsExactAndTheFileEqualsTheTorchWrittenOne(string name)
    {
        Assert.True(TorchOracle.IsAvailable, TorchOracle.UnavailableReason);
        var c = Models.Get(name);
        using var net = Net(c, 4);
        byte[] fromTorch = net.Safetensors("lstm.");
        var model = c.Create(2);
        Safetensors.Load(fromTorch, model.Parameters);
        // Our writer, given the loaded parameters, writes the very bytes written from torch's tensors.
        byte[] saved = Safetensors.ToBytes(model.Parameters, new SafetensorsSaveOptions { LstmPrefix = "lstm." });
        Assert.Equal(fromTorch, saved);

        var again = c.Create(3);
        Safetensors.Load(saved, again.Parameters);
        Assert.Equal(model.Parameters.Values.ToArray(), again.Parameters.Values.ToArray());
    }

    [Fact]
    public void GeneralReaderListsTensorsMetadataAndValues()
    {
        var writer = new SafetensorsWriter();
        writer.Metadata["format"] = "pt";
        writer.Metadata["note"] = "é \"quoted\"";
        writer.Add("a.weight", [2, 3], new float[] { 1, 2, 3, 4, 5, 6 });
        writer.Add("b", [4], new float[] { -1, 0.5f, 2, 3 }, SafetensorsDType.BF16);
        writer.Add("steps", SafetensorsDType.I64, [1], BitConverter.GetBytes(42L));
        writer.Add("empty", [0, 5], ReadOnlySpan<float>.Empty);
        writer.Add("scalar", [], new float[] { 7 });
        byte[] bytes = writer.ToArray();
        Assert.Equal(writer.Length, bytes.Length);
        Assert.Equal(0, (int)BitConverter.ToUInt64(bytes, 0) % 8);   // header padded to 8 bytes

        var file = SafetensorsFile.Parse(bytes);
        Assert.Equal(new[] { "a.weight", "b", "steps", "empty", "scalar" }, file.Tensors.Select(t => t.Name));
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("é \"quoted\"", file.Metadata["note"]);
        Assert.Equal(new long[] { 2, 3 }, file["a.weight"].Shape.ToArray());
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, file.ReadFloat32("a.weight"));
        Assert.Equal(new float[] { -1, 0.5f, 2, 3 }, file.ReadFloat32("b"));
        Assert.Equal(SafetensorsDType.I64, file["steps"].DType);
        Assert.Equal(42L, BitConverter.ToInt64(file.GetBytes(file["steps"])));
        Assert.Equal(0, file["empty"].ElementCount);
        Assert.Equal(new float[] { 7 }, file.ReadFloat32("scalar"));
        var e = Assert.Throws<WeightsFormatException>(() => file.ReadFloat32("steps"));
        Assert.Equal(WeightsErrorKind.UnsupportedDType, e.Kind);
        Assert.Contains("'steps'", e.Message);
    }

    [Fact]
    public void ExtraTensorsLoadWhenAllowedAndNonFiniteWhenAllowed()
    {
        var model = new Lstm_3_17_1(seed: 1);
        var writer = Safetensors.CreateWriter(model.Parameters, new SafetensorsSaveOptions { LstmPrefix = "encoder." });
        writer.Add("decoder.weight", [2], new float[] { 1, 2 });
        byte[] bytes = writer.ToArray();
        var target = new Lstm_3_17_1(seed: 2);
        var e = Assert.Throws<WeightsFormatException>(() => Safetensors.Load(bytes, target.Parameters));
        Assert.Equal(WeightsErrorKind.UnexpectedTensor, e.Kind);
        Assert.Equal("decoder.weight", e.Field);
        Assert.NotEqual(model.Parameters.Values.ToArray(), target.Parameters.Values.ToArray());   // unchanged by the failed load
        Safetensors.Load(bytes, target.Parameters, new SafetensorsOptions { AllowExtraTensors = true });
        Assert.Equal(model.Parameters.Values.ToArray(), target.Parameters.Values.ToArray());

        model.Parameters["bias_hh_l0"][5] = float.NaN;
        byte[] nan = Safetensors.ToBytes(model.Parameters);
        var f = Assert.Throws<WeightsFormatException>(() => Safetensors.Load(nan, target.Parameters));
        Assert.Equal(WeightsErrorKind.NonFiniteValue, f.Kind);
        Assert.Equal("bias_hh_l0", f.Field);
        Assert.Contains("index 5", f.Message);
        Safetensors.Load(nan, target.Parameters, new SafetensorsOptions { RejectNonFinite = false });
        Assert.True(float.IsNaN(target.Parameters["bias_hh_l0"][5]));
    }
}
