using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LstmGen.Weights;
using System.Text;

namespace LstmGen.Generator;

/// <summary>
/// Reads a safetensors file at build time for compiled-in weights: the same rules as the runtime loader
/// (LstmGen.Weights.Safetensors), written for netstandard2.0 without System.Text.Json: a small JSON reader for the
/// header, F32/F16/BF16/F64 converted to little-endian float32 in the model's tensor order.
/// </summary>
internal static class WeightsFile
{
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>Why a file cannot be compiled in: the diagnostic id, the tensor or field, and the message arguments.</summary>
    public sealed class Problem
    {
        public Problem(string id, params string[] arguments) { Id = id; Arguments = arguments; }
        public string Id { get; }
        public string[] Arguments { get; }
    }

    internal sealed class Entry
    {
        public string Name = "";
        public string DType = "";
        public long[] Shape = Array.Empty<long>();
        public long Begin, End;
    }

    /// <summary>
    /// Checks <paramref name="file"/> against the model's tensors (PyTorch names and shapes; <c>columns = 0</c> is a
    /// 1-D tensor) and returns the float32 values, little-endian, in the model's order; or a problem.
    /// </summary>
    public static byte[]? Convert(ParsedFile parsed, IReadOnlyList<(string Name, int Rows, int Columns)> tensors, out Problem? problem,
        string? lstmPrefix = null, string? headPrefix = null, int skip = 0, int outputActivation = 0, CellKind cell = CellKind.Lstm)
    {
        problem = null;
        string fileName = parsed.FileName;
        try
        {
            if (parsed.Entries is null)
            {
                // the JSON formats: GuitarML's (model_data + state_dict), RTNeural's (in_shape + layers), a .nam file
                object? root = parsed.Json;
                if (cell == CellKind.Gru && (parsed.IsNam || IsRTNeural(root)))
                    throw new ProblemException(new Problem("LSTM030", fileName, parsed.IsNam ? "a .nam model" : "an RTNeural model", "a GRU",
                        "GRU weights are read from safetensors (PyTorch names) and GuitarML JSON files; this version reads LSTMs only from .nam and RTNeural files"));
                if (parsed.IsNam) return ConvertNam(fileName, root, tensors, skip);
                if (IsRTNeural(root)) return ConvertRTNeuralJson(fileName, root, tensors, skip, outputActivation);
                return ConvertGuitarMLJson(fileName, root, tensors, skip, cell);
            }
            return ConvertCore(fileName, parsed.Bytes, parsed.Entries, parsed.DataStart, tensors, lstmPrefix, headPrefix);
        }
        catch (ProblemException p)
        {
            problem = p.Problem;
            return null;
        }
    }

    /// <summary>
    /// The model a weights file describes, as far as its format says (null: the file does not say): what a model with
    /// compiled-in weights takes from the file when the attribute leaves it out, and checks against the file when it does not.
    /// </summary>
    public sealed class FileModel
    {
        public int? InputSize, HiddenSize, NumLayers, OutputSize, OutputActivation, Skip;
        public bool? LearnInitialState;
    }

    /// <summary>
    /// What <paramref name="file"/> says about its model: GuitarML's model_data, a .nam config, RTNeural's layers, or a
    /// safetensors file's tensor shapes (sizes only; the head's outputs from the one head-shaped pair, which needs the
    /// model's directions and projection). Null with a problem when the file cannot be read that far; fields a
    /// malformed file leaves unclear stay null, and converting the file reports them.
    /// </summary>
    public static FileModel? Describe(ParsedFile parsed, bool bidirectional, int projSize, string? lstmPrefix, string? headPrefix, out Problem? problem, CellKind cell = CellKind.Lstm)
    {
        problem = null;
        string fileName = parsed.FileName;
        try
        {
            static int? Int(object? v, int min = 0) =>
                v is Json.Number n && int.TryParse(n.Text, NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i >= min ? i : null;
            static int? Last(object? shape) => shape is List<object?> l && l.Count > 0 ? Int(l[l.Count - 1], 1) : null;
            if (parsed.Entries is null && !parsed.IsNam)
            {
                object? root = parsed.Json;
                if (IsRTNeural(root) && Field(root, "layers") is List<object?> layers)
                {
                    // RTNeural: in_shape, the lstm layers' units, the dense layer's units and activation, AIDA-X's in_skip
                    var m = new FileModel { InputSize = Last(Field(root, "in_shape")), OutputSize = 0, OutputActivation = 0, LearnInitialState = false };
                    int lstm = 0;
                    string activation = "";
                    foreach (object? layer in layers)
                    {
                        string? type = Field(layer, "type") as string;
                        string a = Field(layer, "activation") as string ?? "";
                        if (type == "lstm") { if (lstm++ == 0) m.HiddenSize = Last(Field(layer, "shape")); }
                        else if (type is "dense" or "time-distributed-dense") { m.OutputSize = Last(Field(layer, "shape")); activation = a; }
                        else if (type == "activation") activation = a;
                    }
                    m.NumLayers = lstm;
                    m.OutputActivation = activation switch { "" or "linear" => 0, "sigmoid" => 1, "tanh" => 2, "softmax" => 3, _ => null };
                    m.Skip = Field(root, "in_skip") is null ? 0 : Int(Field(root, "in_skip"));
                    return m;
                }
                // GuitarML: model_data (Convert reports a file that has neither)
                var data = Field(root, "model_data");
                return new FileModel
                {
                    InputSize = Int(Field(data, "input_size"), 1), HiddenSize = Int(Field(data, "hidden_size"), 1),
                    NumLayers = Field(data, "num_layers") is null ? 1 : Int(Field(data, "num_layers"), 1),
                    OutputSize = Int(Field(data, "output_size"), 1), Skip = Field(data, "skip") is null ? 0 : Int(Field(data, "skip")),
                    OutputActivation = 0, LearnInitialState = false,
                };
            }
            if (parsed.IsNam)
            {
                // a .nam LSTM: one output from a learned initial state, no skip, no activation
                var config = Field(parsed.Json, "config");
                return new FileModel
                {
                    InputSize = Field(config, "input_size") is null ? 1 : Int(Field(config, "input_size"), 1),
                    HiddenSize = Int(Field(config, "hidden_size"), 1), NumLayers = Int(Field(config, "num_layers"), 1),
                    OutputSize = 1, Skip = 0, OutputActivation = 0, LearnInitialState = true,
                };
            }
            // safetensors: the sizes from the shapes (the module prefixes found by the run-time rules)
            var entries = parsed.Entries!;
            string prefix = LstmPrefix(fileName, entries, lstmPrefix);
            var byName = new Dictionary<string, long[]>(StringComparer.Ordinal);
            foreach (var e in entries) byName[e.Name] = e.Shape;
            var model = new FileModel { LearnInitialState = byName.ContainsKey(prefix + "initial_h_l0") };
            if (byName.TryGetValue(prefix + "weight_ih_l0", out long[]? ih) && ih.Length == 2 && ih[0] % CellGates.Count(cell) == 0 && ih[0] > 0 && ih[1] > 0 && ih[0] / CellGates.Count(cell) <= int.MaxValue && ih[1] <= int.MaxValue)
            {
                model.InputSize = (int)ih[1];
                model.HiddenSize = (int)(ih[0] / CellGates.Count(cell));
            }
            int count = 0;
            while (byName.ContainsKey(prefix + "weight_ih_l" + count.ToString(CultureInfo.InvariantCulture))) count++;
            model.NumLayers = count > 0 ? count : null;
            if (model.HiddenSize is int h)
            {
                // the head: the one P with Pweight [O, inputs] and Pbias [O] (any O); none: no head
                long inputs = (bidirectional ? 2L : 1L) * (projSize > 0 ? projSize : h);
                var heads = new List<string>();
                int outputs = 0;
                foreach (var e in entries)
                {
                    if (!e.Name.EndsWith("weight", StringComparison.Ordinal) || e.Shape.Length != 2 || e.Shape[1] != inputs || e.Shape[0] < 1 || e.Shape[0] > int.MaxValue) continue;
                    string p = e.Name.Substring(0, e.Name.Length - "weight".Length);
                    if ((p.Length == 0 || p.EndsWith(".", StringComparison.Ordinal)) && (headPrefix is null || p == headPrefix)
                        && byName.TryGetValue(p + "bias", out long[]? b) && b.Length == 1 && b[0] == e.Shape[0])
                    {
                        heads.Add(p);
                        outputs = (int)e.Shape[0];
                    }
                }
                heads.Sort(StringComparer.Ordinal);
                if (heads.Count > 1)
                    throw new ProblemException(new Problem("LSTM029", fileName, "the dense head's weight and bias", TensorPrefixes.Describe(heads), "HeadPrefix"));
                model.OutputSize = heads.Count == 1 ? outputs : 0;
            }
            return model;
        }
        catch (ProblemException p)
        {
            problem = p.Problem;
            return null;
        }
    }

    /// <summary>A weights file read once: its JSON document (.json, .nam) or its safetensors entries, for <see cref="Describe"/> and <see cref="Convert"/>.</summary>
    public sealed class ParsedFile
    {
        internal ParsedFile(string fileName, byte[] bytes) { FileName = fileName; Bytes = bytes; }
        internal string FileName { get; }
        internal byte[] Bytes { get; }
        internal bool IsNam { get; set; }
        internal object? Json { get; set; }
        internal List<Entry>? Entries { get; set; }
        internal int DataStart { get; set; }
    }

    /// <summary>Reads <paramref name="file"/> by its name: a .json or .nam file as JSON, anything else as safetensors (LSTM021 when it is not).</summary>
    public static ParsedFile? Parse(string fileName, byte[] file, out Problem? problem)
    {
        problem = null;
        var parsed = new ParsedFile(fileName, file);
        try
        {
            if (fileName.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                parsed.Json = ReadJson(fileName, file, "; a NaN or Infinity written by Python is not JSON");
            else if (fileName.EndsWith(".nam", StringComparison.OrdinalIgnoreCase))
            {
                parsed.IsNam = true;
                parsed.Json = ReadJson(fileName, file, "");
            }
            else
            {
                var (entries, dataStart) = ReadSafetensors(fileName, file);
                parsed.Entries = entries;
                parsed.DataStart = dataStart;
            }
            return parsed;
        }
        catch (ProblemException p)
        {
            problem = p.Problem;
            return null;
        }
    }

    /// <summary>Whether a .json document is RTNeural's (a layers list and no model_data) rather than GuitarML's.</summary>
    private static bool IsRTNeural(object? root) => Field(root, "model_data") is null && Field(root, "layers") is List<object?>;

    private sealed class ProblemException : Exception
    {
        public ProblemException(Problem problem) : base(problem.Id) { Problem = problem; }
        public Problem Problem { get; }
    }

    private static ProblemException Malformed(string fileName, string field, string message) =>
        new(new Problem("LSTM021", fileName, field + ": " + message + ". Save it with safetensors.torch.save_file(model.state_dict(), path)"));

    /// <summary>
    /// A GuitarML / Automated-GuitarAmpModelling JSON file (CoreAudioML's SimpleRNN.save_model: model_data and a state
    /// dict of nested lists under rec. and lin.), by the rules of the run-time reader (src/LstmGen/Weights/GuitarMLJson.cs):
    /// its unit type, sizes and skip connection must be the attribute's; a head without bias (bias_fl false) gets 0.
    /// </summary>
    private static byte[] ConvertGuitarMLJson(string fileName, object? root, IReadOnlyList<(string Name, int Rows, int Columns)> tensors, int skip, CellKind cell)
    {
        string unitName = cell == CellKind.Gru ? "GRU" : "LSTM", attribute = cell == CellKind.Gru ? "GruModel" : "LstmModel";
        int gates = CellGates.Count(cell);
        ProblemException Bad(string what) => new(new Problem("LSTM021", fileName, what));
        var data = Field(root, "model_data") as List<KeyValuePair<string, object?>>
            ?? throw Bad("no \"model_data\" object (GuitarML) or \"layers\" list (RTNeural): it is neither JSON model format LstmGen reads");
        string model = Field(data, "model") as string ?? "SimpleRNN", unit = Field(data, "unit_type") as string ?? "LSTM";
        int Int(string name, int? fallback)
        {
            object? v = Field(data, name);
            if (v is null && fallback is int f) return f;
            if (v is Json.Number n && int.TryParse(n.Text, NumberStyles.None, CultureInfo.InvariantCulture, out int i)) return i;
            throw Bad("model_data." + name + " must be a whole number ≥ 0");
        }
        int inputs = Int("input_size", null), hidden = Int("hidden_size", null), layers = Int("num_layers", 1), outputs = Int("output_size", null), fileSkip = Int("skip", 0);
        bool headBias = Field(data, "bias_fl") is not false && !(Field(data, "bias_fl") is Json.Number z && z.Text == "0");

        // the attribute's model, read from its tensors
        int modelLayers = 0;
        while (tensors.Any(t => t.Name == "weight_ih_l" + modelLayers.ToString(CultureInfo.InvariantCulture))) modelLayers++;
        var ih = tensors.FirstOrDefault(t => t.Name == "weight_ih_l0");
        var head = tensors.FirstOrDefault(t => t.Name == "fc.weight");
        int modelOutputs = head.Name is null ? 0 : head.Rows;
        bool plain = modelLayers > 0 && tensors.Count == 4 * modelLayers + (head.Name is null ? 0 : 2);
        string declare = "[" + (unit == "GRU" ? "GruModel" : "LstmModel") + "(InputSize = " + inputs + ", HiddenSize = " + hidden + ", NumLayers = " + layers + ", OutputSize = " + outputs + (fileSkip > 0 ? ", Skip = " + fileSkip : "") + ")]";
        string fileModel = model + " " + unit + "(" + inputs + ", " + hidden + ", " + layers + ") → Linear(" + outputs + ")" + (fileSkip > 0 ? " with skip " + fileSkip : "");
        if (model != "SimpleRNN" || (unit != "LSTM" && unit != "GRU"))
            throw new ProblemException(new Problem("LSTM030", fileName, fileModel, "an " + unitName, "only SimpleRNN files with unit_type LSTM or GRU are read"));
        if (unit != unitName)
            throw new ProblemException(new Problem("LSTM030", fileName, fileModel, "an " + unitName, "declare " + declare));
        if (!plain || ih.Columns != inputs || ih.Rows != gates * hidden || modelLayers != layers || modelOutputs != outputs)
            throw new ProblemException(new Problem("LSTM030", fileName, fileModel,
                plain ? unitName + "(" + ih.Columns + ", " + ih.Rows / gates + ", " + modelLayers + ") → " + (modelOutputs > 0 ? "Linear(" + modelOutputs + ")" : "no head") : "a model with other tensors (bias-free, bidirectional, projection, peepholes or learned initial state)",
                "declare " + declare));
        if (fileSkip != skip)
            throw new ProblemException(new Problem("LSTM030", fileName, fileModel, skip > 0 ? "Skip = " + skip : "no skip connection",
                fileSkip > 0 ? "add Skip = " + fileSkip + " to [" + attribute + "]" : "remove Skip from [" + attribute + "]"));

        var dict = Field(root, "state_dict") as List<KeyValuePair<string, object?>>
            ?? throw Bad("no \"state_dict\" object (saved with save_state off): the file has the model's shape but not its weights");
        long total = 0;
        foreach (var t in tensors) total += (long)t.Rows * Math.Max(1, t.Columns);
        var output = new byte[total * 4];
        long offset = 0;
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, rows, columns) in tensors)
        {
            string fileTensor = name.StartsWith("fc.", StringComparison.Ordinal) ? "lin." + name.Substring(3) : "rec." + name;
            long count = rows * (long)Math.Max(1, columns);
            string shape = ShapeText(columns == 0 ? new long[] { rows } : new long[] { rows, columns });
            object? value = null;
            foreach (var p in dict) if (p.Key == fileTensor) { value = p.Value; break; }
            if (value is null)
            {
                if (fileTensor == "lin.bias" && !headBias) { offset += count; continue; }   // bias_fl false: zeros
                throw new ProblemException(new Problem("LSTM022", fileName, fileTensor, shape));
            }
            used.Add(fileTensor);
            var flat = new List<object?>();
            bool fits = value is List<object?> outer && outer.Count == rows;
            if (fits)
                foreach (var row in (List<object?>)value)
                {
                    if (columns == 0) { flat.Add(row); continue; }
                    if (row is List<object?> r && r.Count == columns) flat.AddRange(r);
                    else { fits = false; break; }
                }
            if (!fits)
            {
                string found = value is List<object?> l ? "[" + l.Count + (l.Count > 0 && l[0] is List<object?> first ? ", " + first.Count : "") + "]" : "(not a list)";
                throw new ProblemException(new Problem("LSTM024", fileName, fileTensor, found, shape));
            }
            for (int k = 0; k < flat.Count; k++)
            {
                if (flat[k] is not Json.Number n || !double.TryParse(n.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
                    throw Bad("tensor '" + fileTensor + "' holds something other than a number at flat index " + k.ToString(CultureInfo.InvariantCulture));
                Store(fileName, fileTensor, k, (float)d, output, offset + k);
            }
            offset += count;
        }
        foreach (var p in dict)
            if (!used.Contains(p.Key)) throw new ProblemException(new Problem("LSTM023", fileName, p.Key));
        return output;
    }

    /// <summary>
    /// A Neural Amp Modeler .nam file of an LSTM model (architecture "LSTM", config {num_layers, input_size, hidden_size},
    /// one flat weights list: per layer [W_ih | W_hh] row by row, the summed bias, the initial h and c; then the head),
    /// by the rules of the run-time reader (src/LstmGen/Weights/NamFile.cs): the attribute must have the file's sizes, one
    /// output, LearnInitialState and no skip; the bias goes to bias_ih and bias_hh stays 0.
    /// </summary>
    private static byte[] ConvertNam(string fileName, object? root, IReadOnlyList<(string Name, int Rows, int Columns)> tensors, int skip)
    {
        ProblemException Bad(string what) => new(new Problem("LSTM021", fileName, what));
        string architecture = Field(root, "architecture") as string
            ?? throw Bad("no \"architecture\" string: it is not a Neural Amp Modeler (.nam) model file");
        var config = Field(root, "config") as List<KeyValuePair<string, object?>>;
        if (architecture != "LSTM")
            throw new ProblemException(new Problem("LSTM030", fileName, "a " + architecture, "an LSTM", "LstmGen reads the LSTM models of Neural Amp Modeler"));
        if (config is null) throw Bad("no \"config\" object");
        int Int(string name, int? fallback)
        {
            object? v = Field(config, name);
            if (v is null && fallback is int f) return f;
            if (v is Json.Number n && int.TryParse(n.Text, NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i >= 1) return i;
            throw Bad("config." + name + " must be a whole number ≥ 1");
        }
        int inputs = Int("input_size", 1), hidden = Int("hidden_size", null), layers = Int("num_layers", null);

        int modelLayers = 0;
        while (tensors.Any(t => t.Name == "weight_ih_l" + modelLayers.ToString(CultureInfo.InvariantCulture))) modelLayers++;
        var ih = tensors.FirstOrDefault(t => t.Name == "weight_ih_l0");
        var head = tensors.FirstOrDefault(t => t.Name == "fc.weight");
        bool initial = tensors.Any(t => t.Name == "initial_h_l0"), biased = tensors.Any(t => t.Name == "bias_ih_l0");
        bool plain = modelLayers > 0 && biased && tensors.Count == (initial ? 6 : 4) * modelLayers + (head.Name is null ? 0 : 2);
        string declare = "declare [LstmModel(InputSize = " + inputs + ", HiddenSize = " + hidden + ", NumLayers = " + layers + ", OutputSize = 1, LearnInitialState = true)]";
        string fileModel = "LSTM(" + inputs + ", " + hidden + ", " + layers + ") → one output, from a learned initial state";
        if (!plain || ih.Columns != inputs || ih.Rows != 4 * hidden || modelLayers != layers || head.Name is null || head.Rows != 1 || !initial)
            throw new ProblemException(new Problem("LSTM030", fileName, fileModel,
                plain ? "LSTM(" + ih.Columns + ", " + ih.Rows / 4 + ", " + modelLayers + ") → " + (head.Name is null ? "no head" : head.Rows + " output(s)") + (initial ? "" : " without LearnInitialState")
                      : "a model with other tensors (bias-free, bidirectional, projection or peepholes)",
                declare));
        if (skip != 0)
            throw new ProblemException(new Problem("LSTM030", fileName, fileModel, "Skip = " + skip, "remove Skip from [LstmModel]"));

        var weights = Field(root, "weights") as List<object?> ?? throw Bad("no \"weights\" list");
        long expected = hidden + 1L;
        for (int k = 0; k < layers; k++) expected += 4L * hidden * ((k == 0 ? inputs : hidden) + hidden) + 6L * hidden;
        if (weights.Count != expected)
            throw new ProblemException(new Problem("LSTM024", fileName, "weights", "[" + weights.Count + "]", "[" + expected + "]"));

        long total = 0;
        var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var t in tensors) { offsets[t.Name] = total; total += (long)t.Rows * Math.Max(1, t.Columns); }
        var output = new byte[total * 4];
        int at = 0;
        void Put(string tensor, long index)
        {
            if (weights[at] is not Json.Number n || !double.TryParse(n.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
                throw Bad("weights holds something other than a number at index " + at.ToString(CultureInfo.InvariantCulture));
            Store(fileName, "weights", at, (float)d, output, offsets[tensor] + index);
            at++;
        }
        for (int k = 0; k < layers; k++)
        {
            string l = k.ToString(CultureInfo.InvariantCulture);
            int columns = k == 0 ? inputs : hidden;
            for (int row = 0; row < 4 * hidden; row++)
            {
                for (int j = 0; j < columns; j++) Put("weight_ih_l" + l, (long)row * columns + j);
                for (int j = 0; j < hidden; j++) Put("weight_hh_l" + l, (long)row * hidden + j);
            }
            for (int i = 0; i < 4 * hidden; i++) Put("bias_ih_l" + l, i);   // bias_hh stays 0: the file has the sum
            for (int i = 0; i < hidden; i++) Put("initial_h_l" + l, i);
            for (int i = 0; i < hidden; i++) Put("initial_c_l" + l, i);
        }
        for (int i = 0; i < hidden; i++) Put("fc.weight", i);
        Put("fc.bias", 0);
        return output;
    }

    /// <summary>
    /// An RTNeural / AIDA-X Keras-style JSON file (in_shape, and layers: "lstm" layers with [kernel I × 4H,
    /// recurrent_kernel H × 4H, bias 4H], then at most one "dense" layer with [kernel H × O, bias O] and its activation,
    /// possibly from an "activation" layer after it; AIDA-X's in_skip), by the rules of the run-time reader
    /// (src/LstmGen/Weights/RTNeuralJson.cs): the attribute must have the file's sizes, head activation and skip; the
    /// Keras kernels are transposed into PyTorch's layout, the one bias goes to bias_ih and bias_hh stays 0.
    /// </summary>
    private static byte[] ConvertRTNeuralJson(string fileName, object? root, IReadOnlyList<(string Name, int Rows, int Columns)> tensors, int skip, int outputActivation)
    {
        ProblemException Bad(string what) => new(new Problem("LSTM021", fileName, what));
        ProblemException Refused(string what) => new(new Problem("LSTM030", fileName, what, "an LSTM model", "LstmGen reads LSTM layers, then at most one dense layer"));
        int LastSize(object? owner, string property, string field)
        {
            if (Field(owner, property) is List<object?> shape && shape.Count > 0 && shape[shape.Count - 1] is Json.Number n
                && int.TryParse(n.Text, NumberStyles.None, CultureInfo.InvariantCulture, out int size) && size >= 1)
                return size;
            throw Bad(field + " must be a shape list whose last entry is a whole number ≥ 1, such as [null, null, 40]");
        }
        int inputs = LastSize(root, "in_shape", "in_shape");
        var layers = (List<object?>)Field(root, "layers")!;
        var lstm = new List<object?>();
        object? dense = null;
        int hidden = 0, outputs = 0;
        string? activation = null;
        bool activationLayer = false;
        for (int index = 0; index < layers.Count; index++)
        {
            object? layer = layers[index];
            string field = "layers[" + index.ToString(CultureInfo.InvariantCulture) + "]";
            if (Field(layer, "type") is not string type) throw Bad(field + " has no \"type\" string");
            object? a = Field(layer, "activation");
            string layerActivation = a is null ? "" : a as string ?? throw Bad(field + ".activation must be a string");
            switch (type)
            {
                case "lstm":
                    if (dense is not null) throw Refused("an LSTM layer after the dense layer (" + field + ")");
                    int units = LastSize(layer, "shape", field + ".shape");
                    if (lstm.Count > 0 && units != hidden) throw Refused("LSTM layers of " + hidden + " and " + units + " units; stacked layers share one hidden size");
                    if (layerActivation is not ("" or "tanh")) throw Refused("an LSTM layer with activation '" + layerActivation + "' (" + field + "); LstmGen's LSTM uses tanh");
                    hidden = units;
                    lstm.Add(Field(layer, "weights"));
                    break;
                case "dense":
                case "time-distributed-dense":
                    if (lstm.Count == 0) throw Refused("a dense layer before any LSTM layer (" + field + ")");
                    if (dense is not null) throw Refused("a second dense layer (" + field + "); LstmGen's head is one dense layer");
                    outputs = LastSize(layer, "shape", field + ".shape");
                    activation = layerActivation;
                    dense = Field(layer, "weights") ?? new List<object?>();
                    break;
                case "activation":
                    if (dense is null || activationLayer || activation is not ("" or "linear"))
                        throw Refused("an activation layer (" + field + ") that does not directly follow a dense layer without an activation of its own");
                    activation = layerActivation;
                    activationLayer = true;
                    break;
                case "gru":
                    throw new ProblemException(new Problem("LSTM030", fileName, "a GRU layer (" + field + ")", "an LSTM model", "this version reads LSTM models only (GRU is planned)"));
                default:
                    throw Refused("a '" + type + "' layer (" + field + ")");
            }
        }
        if (lstm.Count == 0) throw Refused("no LSTM layer");
        int fileActivation = (activation ?? "") switch
        {
            "" or "linear" => 0,
            "sigmoid" => 1,
            "tanh" => 2,
            "softmax" => 3,
            _ => throw Refused("a dense layer with activation '" + activation + "', which OutputActivation (None, Sigmoid, Tanh, Softmax) does not have"),
        };
        int fileSkip = 0;
        object? inSkip = Field(root, "in_skip");
        if (inSkip is not null && !(inSkip is Json.Number sn && int.TryParse(sn.Text, NumberStyles.None, CultureInfo.InvariantCulture, out fileSkip)))
            throw Bad("in_skip must be a whole number ≥ 0");

        // the attribute's model, read from its tensors
        int modelLayers = 0;
        while (tensors.Any(t => t.Name == "weight_ih_l" + modelLayers.ToString(CultureInfo.InvariantCulture))) modelLayers++;
        var ih = tensors.FirstOrDefault(t => t.Name == "weight_ih_l0");
        var head = tensors.FirstOrDefault(t => t.Name == "fc.weight");
        int modelOutputs = head.Name is null ? 0 : head.Rows;
        bool plain = modelLayers > 0 && tensors.Any(t => t.Name == "bias_ih_l0") && tensors.Count == 4 * modelLayers + (head.Name is null ? 0 : 2);
        string activationName = Model.OutputActivationValues.Names[fileActivation];
        string declare = "declare [LstmModel(InputSize = " + inputs + ", HiddenSize = " + hidden + (lstm.Count > 1 ? ", NumLayers = " + lstm.Count : "") +
                         (outputs > 0 ? ", OutputSize = " + outputs : "") + (outputs > 0 && fileActivation != 0 ? ", OutputActivation = OutputActivation." + activationName : "") +
                         (fileSkip > 0 ? ", Skip = " + fileSkip : "") + ")]";
        string fileModel = "LSTM(" + inputs + ", " + hidden + ", " + lstm.Count + ")" + (outputs > 0 ? " → Dense(" + outputs + (fileActivation != 0 ? ", " + activationName : "") + ")" : " without a dense layer") +
                           (fileSkip > 0 ? " with in_skip " + fileSkip : "");
        if (!plain || ih.Columns != inputs || ih.Rows != 4 * hidden || modelLayers != lstm.Count || modelOutputs != outputs)
            throw new ProblemException(new Problem("LSTM030", fileName, fileModel,
                plain ? "LSTM(" + ih.Columns + ", " + ih.Rows / 4 + ", " + modelLayers + ") → " + (modelOutputs > 0 ? "Linear(" + modelOutputs + ")" : "no head") : "a model with other tensors (bias-free, bidirectional, projection, peepholes or learned initial state)",
                declare));
        if (outputs > 0 && fileActivation != outputActivation)
            throw new ProblemException(new Problem("LSTM030", fileName, fileModel, "OutputActivation " + Model.OutputActivationValues.Names[outputActivation], declare));
        if (fileSkip != skip)
            throw new ProblemException(new Problem("LSTM030", fileName, fileModel, skip > 0 ? "Skip = " + skip : "no skip connection",
                fileSkip > 0 ? "add Skip = " + fileSkip + " to [LstmModel]" : "remove Skip from [LstmModel]"));

        long total = 0;
        var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var t in tensors) { offsets[t.Name] = total; total += (long)t.Rows * Math.Max(1, t.Columns); }
        var output = new byte[total * 4];
        // A rows × columns list of lists (or a list of numbers, columns = 0), value (i, j) stored at index(i, j) of tensor.
        void Read(object? value, string field, int rows, int columns, string tensor, Func<int, int, long> index)
        {
            string shape = columns == 0 ? "[" + rows + "]" : "[" + rows + ", " + columns + "]";
            string Found() => value is List<object?> l ? "[" + l.Count + (l.Count > 0 && l[0] is List<object?> first ? ", " + first.Count : "") + "]" : "(not a list)";
            if (value is not List<object?> list || list.Count != rows) throw new ProblemException(new Problem("LSTM024", fileName, field, Found(), shape));
            for (int i = 0; i < rows; i++)
            {
                var row = columns == 0 ? new List<object?> { list[i] } : list[i] as List<object?>;
                if (row is null || row.Count != Math.Max(1, columns)) throw new ProblemException(new Problem("LSTM024", fileName, field, Found(), shape));
                for (int j = 0; j < row.Count; j++)
                {
                    if (row[j] is not Json.Number n || !double.TryParse(n.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
                        throw Bad(field + " holds something other than a number at [" + i + (columns == 0 ? "" : ", " + j) + "]");
                    Store(fileName, field, (long)i * Math.Max(1, columns) + j, (float)d, output, offsets[tensor] + index(i, j));
                }
            }
        }
        for (int k = 0; k < lstm.Count; k++)
        {
            string l = k.ToString(CultureInfo.InvariantCulture), field = "layers[" + l + "].weights";
            int columns = k == 0 ? inputs : hidden;
            if (lstm[k] is not List<object?> w || w.Count != 3) throw Bad(field + " must be [kernel, recurrent_kernel, bias]");
            // Keras stores x·kernel: kernel[i][r] is PyTorch's weight_ih[r][i]
            Read(w[0], field + "[0] (kernel)", columns, 4 * hidden, "weight_ih_l" + l, (i, r) => (long)r * columns + i);
            Read(w[1], field + "[1] (recurrent_kernel)", hidden, 4 * hidden, "weight_hh_l" + l, (i, r) => (long)r * hidden + i);
            Read(w[2], field + "[2] (bias)", 4 * hidden, 0, "bias_ih_l" + l, (r, _) => r);   // bias_hh stays 0
        }
        if (outputs > 0)
        {
            string field = "layers[" + lstm.Count.ToString(CultureInfo.InvariantCulture) + "].weights";
            if (dense is not List<object?> w || w.Count != 2) throw Bad(field + " must be [kernel, bias]");
            Read(w[0], field + "[0] (kernel)", hidden, outputs, "fc.weight", (i, o) => (long)o * hidden + i);
            Read(w[1], field + "[1] (bias)", outputs, 0, "fc.bias", (o, _) => o);
        }
        return output;
    }

    /// <summary>A JSON weights file's document; invalid UTF-8 or JSON is LSTM021 (<paramref name="advice"/> follows the parser's message).</summary>
    private static object? ReadJson(string fileName, byte[] file, string advice)
    {
        string text;
        try { text = new UTF8Encoding(false, true).GetString(file); }
        catch (DecoderFallbackException) { throw new ProblemException(new Problem("LSTM021", fileName, "the file is not valid UTF-8")); }
        try { return new Json(text).ReadDocument(); }
        catch (FormatException e) { throw new ProblemException(new Problem("LSTM021", fileName, "invalid JSON (" + e.Message + advice + ")")); }
    }

    /// <summary>Writes value k of a tensor as little-endian float32 at float <paramref name="at"/> of the output; NaN and infinity are LSTM026.</summary>
    private static void Store(string fileName, string tensor, long k, float value, byte[] output, long at)
    {
        if (float.IsNaN(value) || float.IsInfinity(value))
            throw new ProblemException(new Problem("LSTM026", fileName, tensor, k.ToString(CultureInfo.InvariantCulture)));
        byte[] bytes = BitConverter.GetBytes(value);
        if (!BitConverter.IsLittleEndian) Array.Reverse(bytes);
        Array.Copy(bytes, 0, output, at * 4, 4);
    }

    private static object? Field(object? obj, string name)
    {
        if (obj is List<KeyValuePair<string, object?>> properties)
            foreach (var p in properties) if (p.Key == name) return p.Value;
        return null;
    }

    /// <summary>A safetensors file's tensor entries (checked: names, dtypes, shapes, offsets tiling the data), and where its data start.</summary>
    private static (List<Entry> Entries, int DataStart) ReadSafetensors(string fileName, byte[] file)
    {
        if (file.Length < 8) throw Malformed(fileName, "header length", "the file has " + file.Length + " bytes, fewer than the 8-byte header length");
        ulong length = BitConverter.ToUInt64(file, 0);
        if (!BitConverter.IsLittleEndian) length = Swap(length);
        if (length > MaxHeaderLength) throw Malformed(fileName, "header length", "the header length " + length + " is above the 100 MB limit");
        if (length > (ulong)(file.Length - 8)) throw Malformed(fileName, "header length", "the header length " + length + " is beyond the end of the file (truncated?)");
        int dataStart = 8 + (int)length;
        long dataLength = file.Length - dataStart;
        string header;
        try { header = new UTF8Encoding(false, true).GetString(file, 8, (int)length); }
        catch (DecoderFallbackException) { throw Malformed(fileName, "header", "the header is not valid UTF-8"); }

        object? root;
        try { root = new Json(header).ReadDocument(); }
        catch (FormatException e) { throw Malformed(fileName, "header", "invalid JSON: " + e.Message); }
        if (root is not List<KeyValuePair<string, object?>> properties) throw Malformed(fileName, "header", "the header must be a JSON object");

        var entries = new List<Entry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        bool metadata = false;
        foreach (var property in properties)
        {
            if (property.Key == "__metadata__")
            {
                if (metadata) throw Malformed(fileName, "__metadata__", "it appears twice");
                metadata = true;
                if (property.Value is not List<KeyValuePair<string, object?>> meta) throw Malformed(fileName, "__metadata__", "it must be an object of strings");
                foreach (var m in meta)
                    if (m.Value is not string) throw Malformed(fileName, "__metadata__." + m.Key, "metadata values must be strings");
                continue;
            }
            if (!names.Add(property.Key)) throw Malformed(fileName, property.Key, "the tensor appears twice");
            entries.Add(ReadEntry(fileName, property.Key, property.Value, dataLength));
        }
        CheckTiling(fileName, entries, dataLength);
        return (entries, dataStart);
    }

    /// <summary>The LSTM's module prefix in a safetensors file: the attribute's LstmPrefix, or that of the one "...weight_ih_l0" (LSTM029 when several).</summary>
    private static string LstmPrefix(string fileName, List<Entry> entries, string? lstmPrefix)
    {
        if (lstmPrefix is not null) return lstmPrefix;
        var found = TensorPrefixes.LstmCandidates(entries.Select(e => e.Name));
        if (found.Count > 1)
            throw new ProblemException(new Problem("LSTM029", fileName, "'" + TensorPrefixes.LstmAnchor + "'", TensorPrefixes.Describe(found), "LstmPrefix"));
        return found.Count == 1 ? found[0] : "";
    }

    private static byte[] ConvertCore(string fileName, byte[] file, List<Entry> entries, int dataStart, IReadOnlyList<(string Name, int Rows, int Columns)> tensors, string? lstmPrefix, string? headPrefix)
    {

        // Which names the model's tensors have in the file (the rules of src/LstmGen/Weights/TensorPrefixes.cs, as at run time):
        // the LSTM prefix is that of the one "...weight_ih_l0", the head's that of the one weight/bias pair with its shapes.
        string prefix = LstmPrefix(fileName, entries, lstmPrefix);
        string head = headPrefix ?? TensorPrefixes.ModelHeadPrefix;
        var headWeight = tensors.FirstOrDefault(t => t.Name == TensorPrefixes.ModelHeadPrefix + "weight");
        if (headPrefix is null && headWeight.Name is not null)
        {
            var found = TensorPrefixes.HeadCandidates(entries.Select(e => new KeyValuePair<string, long[]>(e.Name, e.Shape)), headWeight.Rows, headWeight.Columns);
            if (found.Count > 1)
                throw new ProblemException(new Problem("LSTM029", fileName, "the dense head's weight and bias", TensorPrefixes.Describe(found), "HeadPrefix"));
            if (found.Count == 1) head = found[0];
        }
        var byName = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var e in entries) byName[e.Name] = e;

        long total = 0;
        foreach (var t in tensors) total += (long)t.Rows * Math.Max(1, t.Columns);
        var output = new byte[total * 4];
        var used = new HashSet<string>(StringComparer.Ordinal);
        long offset = 0;
        foreach (var (name, rows, columns) in tensors)
        {
            string fileTensor = name.StartsWith(TensorPrefixes.ModelHeadPrefix, StringComparison.Ordinal)
                ? head + name.Substring(TensorPrefixes.ModelHeadPrefix.Length)
                : prefix + name;
            if (!byName.TryGetValue(fileTensor, out var e))
                throw new ProblemException(new Problem("LSTM022", fileName, fileTensor, ShapeText(columns == 0 ? new long[] { rows } : new long[] { rows, columns })));
            used.Add(fileTensor);
            long[] expected = columns == 0 ? new long[] { rows } : new long[] { rows, columns };
            if (!Same(e.Shape, expected))
                throw new ProblemException(new Problem("LSTM024", fileName, fileTensor, ShapeText(e.Shape), ShapeText(expected)));
            int size = e.DType switch { "F32" => 4, "F16" => 2, "BF16" => 2, "F64" => 8, _ => 0 };
            if (size == 0) throw new ProblemException(new Problem("LSTM025", fileName, fileTensor, e.DType));
            long count = rows * (long)Math.Max(1, columns);
            for (long k = 0; k < count; k++)
            {
                int at = checked(dataStart + (int)e.Begin + (int)(k * size));
                float value = e.DType switch
                {
                    "F32" => BitConverter.ToSingle(LittleEndian(file, at, 4), 0),
                    "F16" => HalfToSingle(BitConverter.ToUInt16(LittleEndian(file, at, 2), 0)),
                    "BF16" => BFloat16ToSingle(BitConverter.ToUInt16(LittleEndian(file, at, 2), 0)),
                    _ => (float)BitConverter.ToDouble(LittleEndian(file, at, 8), 0),
                };
                Store(fileName, fileTensor, k, value, output, offset + k);
            }
            offset += count;
        }
        foreach (var e in entries)
            if (!used.Contains(e.Name)) throw new ProblemException(new Problem("LSTM023", fileName, e.Name));
        return output;
    }

    private static Entry ReadEntry(string fileName, string name, object? value, long dataLength)
    {
        if (value is not List<KeyValuePair<string, object?>> fields) throw Malformed(fileName, name, "the tensor's entry must be an object with dtype, shape and data_offsets");
        var e = new Entry { Name = name };
        bool hasDType = false, hasShape = false, hasOffsets = false;
        foreach (var f in fields)
        {
            switch (f.Key)
            {
                case "dtype":
                    if (hasDType) throw Malformed(fileName, name + ".dtype", "given twice");
                    hasDType = true;
                    e.DType = f.Value as string ?? throw Malformed(fileName, name + ".dtype", "must be a string");
                    break;
                case "shape":
                    if (hasShape) throw Malformed(fileName, name + ".shape", "given twice");
                    hasShape = true;
                    e.Shape = Integers(fileName, name + ".shape", f.Value, -1);
                    break;
                case "data_offsets":
                    if (hasOffsets) throw Malformed(fileName, name + ".data_offsets", "given twice");
                    hasOffsets = true;
                    var offsets = Integers(fileName, name + ".data_offsets", f.Value, 2);
                    e.Begin = offsets[0];
                    e.End = offsets[1];
                    break;
            }
        }
        if (!hasDType) throw Malformed(fileName, name + ".dtype", "missing");
        if (!hasShape) throw Malformed(fileName, name + ".shape", "missing");
        if (!hasOffsets) throw Malformed(fileName, name + ".data_offsets", "missing");
        int size = e.DType switch
        {
            "BOOL" or "U8" or "I8" or "F8_E5M2" or "F8_E4M3" => 1,
            "I16" or "U16" or "F16" or "BF16" => 2,
            "I32" or "U32" or "F32" => 4,
            "I64" or "U64" or "F64" => 8,
            _ => throw Malformed(fileName, name + ".dtype", "'" + e.DType + "' is not a safetensors dtype"),
        };
        long elements = 1;
        foreach (long d in e.Shape)
        {
            if (d != 0 && elements > long.MaxValue / d / 8) throw Malformed(fileName, name + ".shape", "the element count overflows");
            elements *= d;
        }
        if (e.End < e.Begin || e.End > dataLength)
            throw Malformed(fileName, name + ".data_offsets", "[" + e.Begin + ", " + e.End + "] is not a range inside the " + dataLength + " bytes of data");
        if (e.End - e.Begin != elements * size)
            throw Malformed(fileName, name, (e.End - e.Begin) + " bytes of data, but " + e.DType + " of shape " + ShapeText(e.Shape) + " needs " + elements * size);
        return e;
    }

    private static long[] Integers(string fileName, string field, object? value, int count)
    {
        if (value is not List<object?> items) throw Malformed(fileName, field, "must be an array of whole numbers");
        if (count >= 0 && items.Count != count) throw Malformed(fileName, field, "must hold exactly " + count + " numbers");
        var result = new long[items.Count];
        for (int k = 0; k < items.Count; k++)
        {
            if (items[k] is not Json.Number n || !long.TryParse(n.Text, NumberStyles.None, CultureInfo.InvariantCulture, out result[k]))
                throw Malformed(fileName, field, "must hold whole numbers from 0 to 2^63 - 1");
        }
        return result;
    }

    private static void CheckTiling(string fileName, List<Entry> entries, long dataLength)
    {
        var sorted = new List<Entry>(entries);
        sorted.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long position = 0;
        string previous = "";
        foreach (var e in sorted)
        {
            if (e.Begin < position) throw Malformed(fileName, e.Name, "its data overlaps tensor '" + previous + "'");
            if (e.Begin > position) throw Malformed(fileName, e.Name, "bytes " + position + " to " + e.Begin + " before it belong to no tensor");
            if (e.End > position) { position = e.End; previous = e.Name; }
        }
        if (position != dataLength) throw Malformed(fileName, "data", (dataLength - position) + " trailing bytes belong to no tensor");
    }

    private static bool Same(long[] a, long[] b)
    {
        if (a.Length != b.Length) return false;
        for (int k = 0; k < a.Length; k++) if (a[k] != b[k]) return false;
        return true;
    }

    internal static string ShapeText(long[] shape) =>
        "(" + string.Join(", ", Array.ConvertAll(shape, d => d.ToString(CultureInfo.InvariantCulture))) + (shape.Length == 1 ? ",)" : ")");

    private static byte[] LittleEndian(byte[] file, int at, int size)
    {
        var bytes = new byte[size];
        Array.Copy(file, at, bytes, 0, size);
        if (!BitConverter.IsLittleEndian) Array.Reverse(bytes);
        return bytes;
    }

    private static ulong Swap(ulong v)
    {
        var b = BitConverter.GetBytes(v);
        Array.Reverse(b);
        return BitConverter.ToUInt64(b, 0);
    }

    /// <summary>IEEE half to single, exact (subnormals, infinities and NaN included).</summary>
    internal static float HalfToSingle(ushort h)
    {
        uint sign = (uint)(h & 0x8000) << 16;
        int exponent = (h >> 10) & 0x1F;
        uint mantissa = (uint)(h & 0x3FF);
        uint bits;
        if (exponent == 0x1F) bits = sign | 0x7F800000u | (mantissa << 13);          // inf / NaN
        else if (exponent != 0) bits = sign | (uint)(exponent - 15 + 127) << 23 | (mantissa << 13);
        else if (mantissa == 0) bits = sign;                                            // ±0
        else
        {
            int e = -14;                                                                // subnormal: normalise
            while ((mantissa & 0x400) == 0) { mantissa <<= 1; e--; }
            bits = sign | (uint)(e + 127) << 23 | ((mantissa & 0x3FF) << 13);
        }
        return BitConverter.ToSingle(BitConverter.GetBytes(bits), 0);
    }

    internal static float BFloat16ToSingle(ushort b) => BitConverter.ToSingle(BitConverter.GetBytes((uint)b << 16), 0);

    /// <summary>A minimal JSON reader: objects (as ordered key/value lists), arrays, strings, numbers (kept as text), true, false, null.</summary>
    internal sealed class Json
    {
        public sealed class Number
        {
            public Number(string text) { Text = text; }
            public string Text { get; }
        }

        private readonly string _s;
        private int _p;

        public Json(string text) { _s = text; }

        public object? ReadDocument()
        {
            object? value = Value(0);
            Space();
            if (_p != _s.Length) throw Error("content after the root value");
            return value;
        }

        private FormatException Error(string what) => new(what + " at character " + _p.ToString(CultureInfo.InvariantCulture));

        private void Space()
        {
            while (_p < _s.Length && (_s[_p] == ' ' || _s[_p] == '\t' || _s[_p] == '\n' || _s[_p] == '\r')) _p++;
        }

        private object? Value(int depth)
        {
            if (depth > 64) throw Error("nesting deeper than 64");
            Space();
            if (_p >= _s.Length) throw Error("unexpected end");
            char c = _s[_p];
            switch (c)
            {
                case '{':
                {
                    _p++;
                    var list = new List<KeyValuePair<string, object?>>();
                    Space();
                    if (_p < _s.Length && _s[_p] == '}') { _p++; return list; }
                    while (true)
                    {
                        Space();
                        if (_p >= _s.Length || _s[_p] != '"') throw Error("expected a property name");
                        string key = String();
                        Space();
                        if (_p >= _s.Length || _s[_p] != ':') throw Error("expected ':'");
                        _p++;
                        list.Add(new KeyValuePair<string, object?>(key, Value(depth + 1)));
                        Space();
                        if (_p < _s.Length && _s[_p] == ',') { _p++; continue; }
                        if (_p < _s.Length && _s[_p] == '}') { _p++; return list; }
                        throw Error("expected ',' or '}'");
                    }
                }
                case '[':
                {
                    _p++;
                    var list = new List<object?>();
                    Space();
                    if (_p < _s.Length && _s[_p] == ']') { _p++; return list; }
                    while (true)
                    {
                        list.Add(Value(depth + 1));
                        Space();
                        if (_p < _s.Length && _s[_p] == ',') { _p++; continue; }
                        if (_p < _s.Length && _s[_p] == ']') { _p++; return list; }
                        throw Error("expected ',' or ']'");
                    }
                }
                case '"': return String();
                case 't': Word("true"); return true;
                case 'f': Word("false"); return false;
                case 'n': Word("null"); return null;
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) return NumberToken();
                    throw Error("unexpected character '" + c + "'");
            }
        }

        private void Word(string word)
        {
            if (string.CompareOrdinal(_s, _p, word, 0, word.Length) != 0) throw Error("invalid literal");
            _p += word.Length;
        }

        private Number NumberToken()
        {
            int start = _p;
            if (_s[_p] == '-') _p++;
            int digits = _p;
            while (_p < _s.Length && _s[_p] >= '0' && _s[_p] <= '9') _p++;
            if (_p == digits) throw Error("invalid number");
            if (_s[digits] == '0' && _p - digits > 1) throw Error("invalid number (leading zero)");
            if (_p < _s.Length && _s[_p] == '.')
            {
                _p++;
                int f = _p;
                while (_p < _s.Length && _s[_p] >= '0' && _s[_p] <= '9') _p++;
                if (_p == f) throw Error("invalid number");
            }
            if (_p < _s.Length && (_s[_p] == 'e' || _s[_p] == 'E'))
            {
                _p++;
                if (_p < _s.Length && (_s[_p] == '+' || _s[_p] == '-')) _p++;
                int e = _p;
                while (_p < _s.Length && _s[_p] >= '0' && _s[_p] <= '9') _p++;
                if (_p == e) throw Error("invalid number");
            }
            return new Number(_s.Substring(start, _p - start));
        }

        private string String()
        {
            _p++;                                                                      // opening quote
            var sb = new StringBuilder();
            while (true)
            {
                if (_p >= _s.Length) throw Error("unterminated string");
                char c = _s[_p++];
                if (c == '"') return sb.ToString();
                if (c < 0x20) throw Error("control character in a string");
                if (c != '\\') { sb.Append(c); continue; }
                if (_p >= _s.Length) throw Error("unterminated escape");
                char e = _s[_p++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (_p + 4 > _s.Length || !int.TryParse(_s.Substring(_p, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code))
                            throw Error("invalid \\u escape");
                        sb.Append((char)code);
                        _p += 4;
                        break;
                    default: throw Error("invalid escape '\\" + e + "'");
                }
            }
        }
    }
}
