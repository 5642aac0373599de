using System;
using System.Collections.Generic;
using System.Linq;
using LstmGen.Tests.Oracles;
using LstmGen.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace LstmGen.Tests.Weights;

/// <summary>
/// A PyTorch network as a user trains it: <c>self.lstm = nn.LSTM(...)</c> and <c>self.fc = nn.Linear(...)</c>, with
/// libtorch's own random initialisation for a seed. Its state dict goes to safetensors through our writer, from the
/// torch tensors' own bytes (in the dtype torch converted them to).
/// </summary>
internal sealed class TorchNet : IDisposable
{
    private readonly DisposeScope _scope;
    private readonly TorchSharp.Modules.LSTM _lstm;
    private readonly TorchSharp.Modules.Linear? _fc;
    private readonly OutputActivation _activation;

    public TorchNet(int inputSize, int hiddenSize, int numLayers, bool bias, int outputSize, OutputActivation activation, long seed)
    {
        if (TorchOracle.UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        _scope = torch.NewDisposeScope();
        torch.manual_seed(seed);
        I = inputSize; H = hiddenSize; L = numLayers; O = outputSize;
        _activation = activation;
        _lstm = torch.nn.LSTM(inputSize, hiddenSize, numLayers, bias: bias);
        _fc = outputSize > 0 ? torch.nn.Linear(hiddenSize, outputSize) : null;
    }

    public int I { get; }
    public int H { get; }
    public int L { get; }
    public int O { get; }

    /// <summary>The state dict as <c>nn.Module.state_dict()</c> names it, with the LSTM under <paramref name="lstmPrefix"/> and the head under <c>fc.</c>.</summary>
    public List<(string Name, Tensor Tensor)> StateDict(string lstmPrefix)
    {
        var list = _lstm.named_parameters().Select(p => (lstmPrefix + p.name, (Tensor)p.parameter)).ToList();
        if (_fc is not null) list.AddRange(_fc.named_parameters().Select(p => ("fc." + p.name, (Tensor)p.parameter)));
        return list;
    }

    /// <summary>The safetensors file of the state dict, every tensor converted by torch to <paramref name="dtype"/>.</summary>
    public byte[] Safetensors(string lstmPrefix = "", ScalarType dtype = ScalarType.Float32, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var writer = new SafetensorsWriter();
        if (metadata is not null) foreach (var (k, v) in metadata) writer.Metadata[k] = v;
        foreach (var (name, tensor) in StateDict(lstmPrefix))
        {
            using var converted = tensor.detach().to_type(dtype).contiguous();
            writer.Add(name, DTypeOf(dtype), converted.shape, converted.bytes);
        }
        return writer.ToArray();
    }

    /// <summary>The values torch holds after converting every parameter to <paramref name="dtype"/> and back to float32, in PyTorch order.</summary>
    public float[] FlatValues(ScalarType dtype = ScalarType.Float32) =>
        StateDict("").SelectMany(p =>
        {
            using var round = p.Tensor.detach().to_type(dtype).to_type(ScalarType.Float32).contiguous();
            return round.data<float>().ToArray();
        }).ToArray();

    /// <summary>libtorch's forward from zero state: every step's output (T·O, or T·H without a head).</summary>
    public float[] Forward(float[] xs, int steps)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var x = torch.tensor(xs, new long[] { steps, 1, I });
        var h0 = torch.zeros(L, 1, H);
        var c0 = torch.zeros(L, 1, H);
        var (y, _, _) = _lstm.call(x, (h0, c0));
        Tensor output = y.reshape(steps, H);
        if (_fc is not null)
        {
            output = _fc.call(output);
            output = _activation switch
            {
                OutputActivation.Sigmoid => torch.sigmoid(output),
                OutputActivation.Tanh => torch.tanh(output),
                OutputActivation.Softmax => torch.softmax(output, -1),
                _ => output,
            };
        }
        return output.contiguous().data<float>().ToArray();
    }

    public static SafetensorsDType DTypeOf(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => SafetensorsDType.F32,
        ScalarType.Float16 => SafetensorsDType.F16,
        ScalarType.BFloat16 => SafetensorsDType.BF16,
        ScalarType.Float64 => SafetensorsDType.F64,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    public void Dispose() => _scope.Dispose();
}
