using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("LstmGen.Tests")]

namespace LstmGen.Weights;

/// <summary>One-line weight I/O on a model's parameters: <c>model.Parameters.LoadSafetensors("model.safetensors")</c>.</summary>
public static class LstmParametersWeightsExtensions
{
    /// <summary>
    /// Loads the model's tensors from a safetensors file, e.g. one written by
    /// <c>safetensors.torch.save_file(model.state_dict(), path)</c>; the LSTM's module prefix is detected.
    /// </summary>
    /// <exception cref="WeightsFormatException">The file is malformed or does not fit the model.</exception>
    public static void LoadSafetensors(this LstmParameters parameters, string path, SafetensorsOptions? options = null) =>
        Safetensors.Load(path, parameters, options);

    /// <summary>
    /// Loads a GuitarML / Automated-GuitarAmpModelling JSON model file (<c>model_data</c> + <c>state_dict</c>), checking
    /// its sizes and skip connection against the model; see <see cref="GuitarMLJson"/>.
    /// </summary>
    /// <returns>What the file says about its model.</returns>
    /// <exception cref="WeightsFormatException">The file is malformed or describes another model.</exception>
    public static GuitarMLModelInfo LoadGuitarMLJson(this LstmParameters parameters, string path) => GuitarMLJson.Load(path, parameters);

    /// <summary>
    /// Loads a Neural Amp Modeler <c>.nam</c> file of an LSTM model (its flat <c>weights</c> list: per layer [W_ih | W_hh],
    /// the summed bias and the learned initial h and c, then the head), checking its sizes against the model; see
    /// <see cref="NamFile"/>. The model is declared with <c>OutputSize = 1, LearnInitialState = true</c>.
    /// </summary>
    /// <returns>What the file says about its model (sizes, sample rate).</returns>
    /// <exception cref="WeightsFormatException">The file is malformed, is not an LSTM model, or describes another model.</exception>
    public static NamModelInfo LoadNam(this LstmParameters parameters, string path) => NamFile.Load(path, parameters);

    /// <summary>
    /// Loads an RTNeural / AIDA-X Keras-style JSON model file (<c>in_shape</c> and a <c>layers</c> list: LSTM layers, then
    /// at most one dense layer), checking its sizes, head activation and skip connection against the model; see
    /// <see cref="RTNeuralJson"/>.
    /// </summary>
    /// <returns>What the file says about its model (sizes, activation, AIDA-X's in_skip and out_gain).</returns>
    /// <exception cref="WeightsFormatException">The file is malformed, holds layers LstmGen does not run, or describes another model.</exception>
    public static RTNeuralModelInfo LoadRTNeuralJson(this LstmParameters parameters, string path) => RTNeuralJson.Load(path, parameters);

    /// <summary>Saves the parameters as safetensors (PyTorch names), atomically.</summary>
    public static void SaveSafetensors(this LstmParameters parameters, string path, SafetensorsSaveOptions? options = null) =>
        Safetensors.Save(path, parameters, options);
}
