using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Xunit;

namespace LstmGen.Tests.Generator;

/// <summary>
/// One test per compiled-in-weights diagnostic (LSTM020–LSTM028): the id, a message naming the file and the tensor,
/// and the location of the <c>Weights = "…"</c> argument. Files are written by hand here for a (1 → 1) model:
/// weight_ih_l0 (4, 1), weight_hh_l0 (4, 1), bias_ih_l0 (4,), bias_hh_l0 (4,).
/// </summary>
public sealed class WeightsDiagnosticTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lstmgen-gen-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private const string Ih = "\"weight_ih_l0\":{\"dtype\":\"F32\",\"shape\":[4,1],\"data_offsets\":[0,16]}";
    private const string Hh = "\"weight_hh_l0\":{\"dtype\":\"F32\",\"shape\":[4,1],\"data_offsets\":[16,32]}";
    private const string Bi = "\"bias_ih_l0\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[32,48]}";
    private const string Bh = "\"bias_hh_l0\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[48,64]}";

    private string Write(string json, int floats = 16, float fill = 0.25f)
    {
        byte[] header = Encoding.UTF8.GetBytes(json);
        var file = new byte[8 + header.Length + 4 * floats];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        for (int k = 0; k < floats; k++) BinaryPrimitives.WriteSingleLittleEndian(file.AsSpan(8 + header.Length + 4 * k), fill + k);
        string path = Path.Combine(_folder, "w.safetensors");
        File.WriteAllBytes(path, file);
        return path;
    }

    private static string Source(string weights) => $"using LstmGen; [LstmModel(InputSize = 1, HiddenSize = 1, Weights = \"{weights}\")] public partial class Model {{ }}";

    private static Diagnostic Single(string source, string id, params string[] files)
    {
        var (diagnostics, output, _) = GeneratorHarness.Run(source, files);
        var d = Assert.Single(diagnostics);
        Assert.Equal(id, d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Empty(output.SyntaxTrees.Skip(1));
        Assert.StartsWith("Weights = ", source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
        return d;
    }

    [Fact]
    public void ValidFileCompilesIn()
    {
        string path = Write("{" + string.Join(",", Ih, Hh, Bi, Bh) + "}");
        var (diagnostics, output, run) = GeneratorHarness.Run(Source("w.safetensors"), path);
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        string generated = GeneratorHarness.ModelSource(run).SourceText.ToString();
        Assert.Contains("private static global::System.ReadOnlySpan<byte> CompiledWeights => new byte[]", generated);
        Assert.Contains("public Model() : this(NewParameters())", generated);
        Assert.Contains("public Model(int seed)", generated);
        // 0.25f is 0x3E800000: little-endian bytes 0,0,128,62 lead the data.
        Assert.Contains("0,0,128,62,", generated);
    }

    [Fact]
    public void FileNotAmongAdditionalFiles()
    {
        var d = Single(Source("forecaster.safetensors"), "LSTM020");
        Assert.Contains("'forecaster.safetensors'", d.GetMessage());
        Assert.Contains("<AdditionalFiles Include=\"forecaster.safetensors\" />", d.GetMessage());
    }

    [Fact]
    public void EmptyFileName() => Single(Source(""), "LSTM028");

    [Fact]
    public void TruncatedFile()
    {
        string path = Write("{" + string.Join(",", Ih, Hh, Bi, Bh) + "}", floats: 15);
        var d = Single(Source("w.safetensors"), "LSTM021", path);
        Assert.Contains("bias_hh_l0.data_offsets", d.GetMessage());
    }

    [Fact]
    public void InvalidJson()
    {
        string path = Write("{" + string.Join(",", Ih, Hh, Bi, Bh) + ",}");
        Assert.Contains("invalid JSON", Single(Source("w.safetensors"), "LSTM021", path).GetMessage());
    }

    [Fact]
    public void MissingTensor()
    {
        string path = Write("{" + string.Join(",", Ih, Hh, Bi) + "}", floats: 12);
        var d = Single(Source("w.safetensors"), "LSTM022", path);
        Assert.Contains("'bias_hh_l0'", d.GetMessage());
        Assert.Contains("(4,)", d.GetMessage());
    }

    [Fact]
    public void ExtraTensor()
    {
        string path = Write("{" + string.Join(",", Ih, Hh, Bi, Bh, "\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[64,68]}") + "}", floats: 17);
        Assert.Contains("'fc.weight'", Single(Source("w.safetensors"), "LSTM023", path).GetMessage());
    }

    [Fact]
    public void WrongShape()
    {
        string path = Write("{" + string.Join(",", Ih.Replace("[4,1]", "[2,2]", StringComparison.Ordinal), Hh, Bi, Bh) + "}");
        var d = Single(Source("w.safetensors"), "LSTM024", path);
        Assert.Contains("'weight_ih_l0'", d.GetMessage());
        Assert.Contains("(2, 2)", d.GetMessage());
        Assert.Contains("(4, 1)", d.GetMessage());
    }

    [Fact]
    public void UnsupportedDType()
    {
        string path = Write("{" + string.Join(",", Ih, Hh.Replace("F32", "I32", StringComparison.Ordinal), Bi, Bh) + "}");
        var d = Single(Source("w.safetensors"), "LSTM025", path);
        Assert.Contains("'weight_hh_l0'", d.GetMessage());
        Assert.Contains("I32", d.GetMessage());
    }

    [Fact]
    public void NonFiniteValue()
    {
        string path = Write("{" + string.Join(",", Ih, Hh, Bi, Bh) + "}", fill: float.NaN);
        Assert.Contains("'weight_ih_l0'", Single(Source("w.safetensors"), "LSTM026", path).GetMessage());
    }

    [Fact]
    public void ModulePrefixIsDetectedAtBuildTimeToo()
    {
        string path = Write("{" + string.Join(",", new[] { Ih, Hh, Bi, Bh }.Select(e => e.Replace("\"weight", "\"lstm.weight", StringComparison.Ordinal).Replace("\"bias", "\"lstm.bias", StringComparison.Ordinal))) + "}");
        var (diagnostics, _, _) = GeneratorHarness.Run(Source("w.safetensors"), path);
        Assert.Empty(diagnostics);
    }
}
