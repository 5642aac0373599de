using System;

namespace LstmGen;

/// <summary>
/// Declares a fixed-shape GRU on a <c>partial</c> class: <c>torch.nn.GRU</c>'s semantics and tensors (gate order r, z, n;
/// <c>n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn))</c>), with the same generated surface as <see cref="LstmModelAttribute"/>:
/// <c>Step</c>, <c>Forward</c>, a <c>State</c> holding h, <c>Parameters</c>, <c>CreateTrainer</c>. Properties mean what the
/// LSTM attribute's of the same name mean.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class GruModelAttribute : Attribute
{
    /// <summary>Number of features in each input step (<c>input_size</c>). 1 to 16384.</summary>
    public int InputSize { get; set; }
    /// <summary>Number of features in the hidden state (<c>hidden_size</c>). 1 to 4096.</summary>
    public int HiddenSize { get; set; }
    /// <summary>Number of stacked GRU layers (<c>num_layers</c>). 1 to 16; default 1.</summary>
    public int NumLayers { get; set; } = 1;
    /// <summary>Whether the layers have the two bias vectors <c>b_ih</c> and <c>b_hh</c> (<c>bias</c>); default true.</summary>
    public bool Bias { get; set; } = true;
    /// <summary>Size of an optional dense head (<c>torch.nn.Linear(hidden_size, OutputSize)</c>) at every step; 0 (the default): none.</summary>
    public int OutputSize { get; set; }
    /// <summary>The sequence length training is sized for: the default for <c>CreateTrainer</c>'s <c>maxSequenceLength</c>.</summary>
    public int SequenceLength { get; set; }
    /// <summary>Activation applied after the dense head. Requires <see cref="OutputSize"/> &gt; 0.</summary>
    public OutputActivation OutputActivation { get; set; }
    /// <summary>A second set of weights per layer runs over the sequence backwards (<c>bidirectional</c>). Whole-sequence only.</summary>
    public bool Bidirectional { get; set; }
    /// <summary>Dropout probability on each layer's output except the last's (<c>dropout</c>), in training only; 0 to below 1.</summary>
    public float Dropout { get; set; }
    /// <summary>Independent streams stepped together (the batch dimension, 1 to 256; default 1).</summary>
    public int BatchSize { get; set; } = 1;
    /// <summary>Learn the initial h of every layer and direction as parameters (<c>initial_h_l{k}</c>, zero at first).</summary>
    public bool LearnInitialState { get; set; }
    /// <summary>A skip connection from the input to the dense head's output, as <see cref="LstmModelAttribute.Skip"/>.</summary>
    public int Skip { get; set; }
    /// <summary>Compiled-in weights: a safetensors file with PyTorch's names, listed as an <c>AdditionalFiles</c> item, as <see cref="LstmModelAttribute.Weights"/>.</summary>
    public string? Weights { get; set; }
    /// <summary>With <see cref="Weights"/>: the module prefix of the GRU tensors in the file (e.g. <c>"rec."</c>); detected when left out.</summary>
    public string? GruPrefix { get; set; }
    /// <summary>With <see cref="Weights"/>: the module prefix of the dense head's tensors in the file; detected when left out.</summary>
    public string? HeadPrefix { get; set; }
    /// <summary>
    /// How the kernels store the gate weight matrices for inference, as <see cref="LstmModelAttribute.WeightStorage"/>:
    /// <see cref="LstmGen.WeightStorage.Float32"/> (default), <see cref="LstmGen.WeightStorage.BFloat16"/> or
    /// <see cref="LstmGen.WeightStorage.Int8"/>.
    /// </summary>
    public WeightStorage WeightStorage { get; set; }
}
