// Compiled-in weights: the model's parameters come from forecaster.safetensors, read by the LstmGen generator at
// build time and stored in the binary as read-only data. At run time no file is opened and nothing is parsed.
//
//   dotnet run -c Release --project samples/CompiledWeights
//
// When forecaster.safetensors happens to sit next to the program (the build copies it, for this check only), the
// program also loads it at run time and checks that both give the same parameters, bit for bit. CI publishes the
// program with Native AOT, deletes the file, and runs the binary: it must print the same results.
using System;
using System.IO;
using System.Linq;
using LstmGen;
using LstmGen.Weights;

var model = new CompiledForecaster();                 // compiled-in weights: no I/O
Console.WriteLine($"LstmGen compiled-in weights sample: {CompiledForecaster.ParameterCount} parameters from forecaster.safetensors, kernel path {CompiledForecaster.KernelPath}");

const int T = 48, I = CompiledForecaster.InputSize, O = CompiledForecaster.OutputSize;
var xs = new float[T * I];
for (int t = 0; t < T; t++)
    for (int j = 0; j < I; j++)
        xs[t * I + j] = 0.5f * MathF.Sin(0.2f * t + j);
var ys = new float[T * O];
model.Forward(xs, model.NewState(), ys);

string file = Path.Combine(AppContext.BaseDirectory, "forecaster.safetensors");
int status = 0;
if (File.Exists(file))
{
    var loaded = new CompiledForecaster(seed: 1);
    loaded.Parameters.LoadSafetensors(file);
    bool same = loaded.Parameters.Values.SequenceEqual(model.Parameters.Values);
    Console.WriteLine($"forecaster.safetensors is present: loading it at run time gives {(same ? "identical" : "DIFFERENT")} parameters");
    status = same ? 0 : 1;
}
else
{
    Console.WriteLine("forecaster.safetensors is not present: the weights come from the binary alone");
}

foreach (int t in new[] { T / 2 - 1, T - 1 })
    for (int o = 0; o < O; o++)
        Console.WriteLine($"result y-{t}-{o} {ys[t * O + o]:R}");
return status;

/// <summary>An LSTM (4 inputs, 24 hidden units) with a dense head of 3 outputs, its weights compiled in.</summary>
[LstmModel(InputSize = 4, HiddenSize = 24, OutputSize = 3, Weights = "forecaster.safetensors")]
public partial class CompiledForecaster { }
