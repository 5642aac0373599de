using System;
using System.IO;
using System.Linq;
using LstmGen.Weights;
using Xunit;

namespace LstmGen.Tests.Weights;

// Compiled-in weights from files written by Weights/Assets/make_assets.py (Python's struct and json, not our writer).
[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, Weights = "Weights/Assets/compiled_f32.safetensors")]
public partial class CompiledF32 { }

[LstmModel(InputSize = 3, HiddenSize = 17, NumLayers = 2, OutputSize = 2, OutputActivation = OutputActivation.Tanh, Weights = "compiled_f16.safetensors")]
public partial class CompiledF16 { }

/// <summary>The compiled-in path gives the very parameters and outputs of loading the same file at run time.</summary>
public sealed class CompiledWeightsTests
{
    private static string Asset(string name) => Path.Combine(AppContext.BaseDirectory, "Weights", "Assets", name);

    [Fact]
    public void CompiledInF32EqualsLoadingTheFileAtRunTime()
    {
        var compiled = new CompiledF32();
        var loaded = new CompiledF32(seed: 1);
        Assert.NotEqual(compiled.Parameters.Values.ToArray(), loaded.Parameters.Values.ToArray());
        loaded.Parameters.LoadSafetensors(Asset("compiled_f32.safetensors"));
        Assert.Equal(loaded.Parameters.Values.ToArray(), compiled.Parameters.Values.ToArray());

        float[] xs = Models.Inputs(64 * 3, 3);
        var a = new float[64 * 2];
        var b = new float[64 * 2];
        compiled.Forward(xs, compiled.NewState(), a);
        loaded.Forward(xs, loaded.NewState(), b);
        Assert.Equal(b, a);                                            // bit for bit
        // The file's first value, by the asset script's formula: 0.4 * sin(0) = 0 for element 0 of tensor 0; element 1 is 0.4 * sin(0.37).
        Assert.Equal(0f, compiled.Parameters["weight_ih_l0"][0]);
        Assert.Equal((float)(0.4 * Math.Sin(0.37)), compiled.Parameters["weight_ih_l0"][1], 1e-7f);
    }

    [Fact]
    public void CompiledInF16IsConvertedAsTheRunTimeLoaderConvertsIt()
    {
        var compiled = new CompiledF16();
        var loaded = new CompiledF16(seed: 2);
        Safetensors.Load(File.ReadAllBytes(Asset("compiled_f16.safetensors")), loaded.Parameters);
        Assert.Equal(loaded.Parameters.Values.ToArray(), compiled.Parameters.Values.ToArray());
        var file = SafetensorsFile.Open(Asset("compiled_f16.safetensors"));
        Assert.Equal(SafetensorsDType.F16, file["weight_hh_l1"].DType);
        Assert.Equal((float)(Half)(float)(0.4 * Math.Sin(0.37 * 5 + 0.1 * 5)), compiled.Parameters["weight_hh_l1"][5]);

        float[] xs = Models.Inputs(20 * 3, 4);
        var a = new float[2];
        var b = new float[2];
        compiled.Forward(xs, compiled.NewState(), a);
        loaded.Forward(xs, loaded.NewState(), b);
        Assert.Equal(b, a);
    }
}
