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
    /// A second set of weights per layer runs over the sequence backwards (<c>bidirectional</c>); each layer's output at
    /// step t is <c>[h_t(forward) ; h_t(reverse)]</c>. Whole-sequence only: <c>Step</c> on such a model is error LSTM012.
    /// </summary>
    public bool Bidirectional { get; set; }

    /// <summary>
    /// LSTM with projection (<c>proj_size</c>): <c>h_t = W_hr·(o ⊙ tanh(c_t))</c> has ProjSize values. 0 (the default)
    /// means none; otherwise 1 to <see cref="HiddenSize"/> − 1.
    /// </summary>
    public int ProjSize { get; set; }

    /// <summary>
    /// Peephole connections (Gers &amp; Schmidhuber; ONNX's <c>P</c> input): diagonal weights from c_(t-1) to the input and
    /// forget gates and from c_t to the output gate, a tensor <c>weight_ph_l{k}</c> of 3·HiddenSize values (p_i, p_f, p_o).
    /// </summary>
    public bool Peepholes { get; set; }

    /// <summary>
    /// Dropout probability on each layer's output except the last's (<c>dropout</c>), in training only; 0 to below 1.
    /// Kept values are scaled by 1/(1 − p). Identity at inference.
    /// </summary>
    public float Dropout { get; set; }

    /// <summary>
    /// Dropout probability on h_(t-1) before W_hh (Keras <c>recurrent_dropout</c>), one mask per sequence, in training only;
    /// 0 to below 1. Identity at inference.
    /// </summary>
    public float RecurrentDropout { get; set; }

    /// <summary>
    /// Independent streams stepped together (the batch dimension, 1 to 256; default 1). <c>Step</c> takes BatchSize
    /// inputs and gives BatchSize outputs, sharing every weight load across the streams.
    /// </summary>
    public int BatchSize { get; set; } = 1;

    /// <summary>
    /// Learn the initial h and c of every layer and direction as parameters (<c>initial_h_l{k}</c>, <c>initial_c_l{k}</c>,
    /// zero at first) instead of starting from zero.
    /// </summary>
    public bool LearnInitialState { get; set; }

    /// <summary>
    /// A skip connection from the input to the output, as in the guitar-amp models of GuitarML and
    /// Automated-GuitarAmpModelling (their <c>skip</c>): the first Skip input channels are added to the dense head's
    /// output, <c>y_t = W_fc·h_t + b_fc + x_t[0 .. Skip)</c>, with PyTorch's broadcasting: Skip = 1 adds x_t[0] to every
    /// output, Skip = OutputSize adds x_t[j] to output j. 0 (the default) means none. Needs a dense head without an
    /// output activation, and Skip ≤ InputSize. Applies in Step, Forward and training alike; it has no parameters.
    /// </summary>
    public int Skip { get; set; }

    /// <summary>
    /// Compiled-in weights: a safetensors file (e.g. from <c>safetensors.torch.save_file(model.state_dict(), path)</c>),
    /// or a GuitarML / Automated-GuitarAmpModelling <c>.json</c> model file, listed as an <c>AdditionalFiles</c> item. The generator reads it at build time and <c>new Model()</c> starts from
    /// its values, with no file and no parsing at run time. Missing file, wrong shape, missing or extra tensor and
    /// unsupported dtype, and module prefixes that cannot be told apart, are compile-time errors LSTM020–LSTM030.
    /// </summary>
    public string? Weights { get; set; }

    /// <summary>
    /// With <see cref="Weights"/>: the module prefix of the LSTM tensors in the file (e.g. <c>"rec."</c>), as
    /// <c>SafetensorsOptions.LstmPrefix</c>. Left out, it is detected: the prefix of the one tensor named <c>…weight_ih_l0</c>.
    /// </summary>
    public string? LstmPrefix { get; set; }

    /// <summary>
    /// With <see cref="Weights"/>: the module prefix of the dense head's tensors in the file (e.g. <c>"lin."</c>), as
    /// <c>SafetensorsOptions.HeadPrefix</c>. Left out, it is detected: the one prefix P whose P<c>weight</c> and
    /// P<c>bias</c> have the head's shapes.
    /// </summary>
    public string? HeadPrefix { get; set; }

    /// <summary>
    /// How the kernels store the gate weight matrices W_ih and W_hh for inference: <see cref="LstmGen.WeightStorage.Float32"/>
    /// (default), <see cref="LstmGen.WeightStorage.BFloat16"/> (half the bytes) or <see cref="LstmGen.WeightStorage.Int8"/>
    /// (a quarter, with one scale per row). Activations, the cell state and all sums stay float32; <see cref="ILstmModel{TState}"/>'s
    /// parameters stay the float32 master copy, which training updates and the reduced copy is rebuilt from.
    /// </summary>
    public WeightStorage WeightStorage { get; set; }
}

/// <summary>The storage type of the gate weights the inference kernels read (see README, "Reduced-precision weights").</summary>
public enum WeightStorage
{
    /// <summary>32-bit floats: the parameters exactly as given.</summary>
    Float32 = 0,
    /// <summary>
    /// bfloat16 (the top 16 bits of a float32, rounded to nearest even): 8 significant bits, the float32 range. Widened to
    /// float32 in registers by a shift, so each step reads half the bytes.
    /// </summary>
    BFloat16 = 1,
    /// <summary>
    /// 8-bit integers with one float32 scale per row of W_ih and of W_hh (symmetric: w ≈ scale·q, q in [−127, 127],
    /// scale = max|row| / 127). Widened and converted in registers, so each step reads a quarter of the bytes.
    /// </summary>
    Int8 = 2,
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
