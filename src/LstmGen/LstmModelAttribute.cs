using System;

namespace LstmGen;

/// <summary>
/// Declares a fixed-shape LSTM on a <c>partial</c> class. The LstmGen source generator fills the class in with
/// parameters in PyTorch layout, streaming <c>Step</c>, whole-sequence <c>Forward</c> and specialised SIMD kernels.
/// Property names follow <c>torch.nn.LSTM</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class LstmModelAttribute : Attribute
{
    /// <summary>Number of features in each input step (<c>input_size</c>). 1 to 16384.</summary>
    public int InputSize { get; set; }

    /// <summary>Number of features in the hidden state (<c>hidden_size</c>). 1 to 4096.</summary>
    public int HiddenSize { get; set; }

    /// <summary>Number of stacked LSTM layers (<c>num_layers</c>). 1 to 16; default 1.</summary>
    public int NumLayers { get; set; } = 1;

    /// <summary>Whether the layers have the two bias vectors <c>b_ih</c> and <c>b_hh</c> (<c>bias</c>); default true.</summary>
    public bool Bias { get; set; } = true;

    /// <summary>
    /// Size of an optional dense head (<c>torch.nn.Linear(hidden_size, OutputSize)</c>) applied to the last layer's
    /// hidden state at every step. 0 (the default) means no head: the output is the last layer's <c>h_t</c>.
    /// </summary>
    public int OutputSize { get; set; }

    /// <summary>
    /// The sequence length training is sized for: the default for <c>CreateTrainer</c>'s <c>maxSequenceLength</c>.
    /// 0 (the default) leaves it to that argument. Inference accepts any length either way.
    /// </summary>
    public int SequenceLength { get; set; }

    /// <summary>Activation applied after the dense head. Requires <see cref="OutputSize"/> &gt; 0.</summary>
    public OutputActivation OutputActivation { get; set; }

    /// <summary>
    /// Compiled-in weights: a safetensors file (e.g. from <c>safetensors.torch.save_file(model.state_dict(), path)</c>)
    /// listed as an <c>AdditionalFiles</c> item. The generator reads it at build time and <c>new Model()</c> starts from
    /// its values, with no file and no parsing at run time. Missing file, wrong shape, missing or extra tensor and
    /// unsupported dtype are compile-time errors LSTM020–LSTM028.
    /// </summary>
    public string? Weights { get; set; }
}

/// <summary>The activation applied after the dense head.</summary>
public enum OutputActivation
{
    /// <summary>No activation: the head's output is <c>W·h + b</c>.</summary>
    None = 0,
    /// <summary>The logistic sigmoid, element-wise.</summary>
    Sigmoid = 1,
    /// <summary>The hyperbolic tangent, element-wise.</summary>
    Tanh = 2,
    /// <summary>Softmax over the <see cref="LstmModelAttribute.OutputSize"/> outputs of one step.</summary>
    Softmax = 3,
}
