// TextGen: a character-level language model of the King James Bible (Genesis and Exodus), trained on the device with
// LstmGen, sampled with a temperature as it learns.
//
//   dotnet run -c Release --project samples/TextGen              # full run (about 1.5 minutes on 2 cores)
//   dotnet run -c Release --project samples/TextGen -- --quick   # a short run, as CI does: checks that the loss falls
//
// Options: --steps N, --out DIR (default out/textgen: the loss curve is written there as loss.svg).
// The model reads one character at a time as a one-hot vector and predicts a probability for every next character
// (softmax head, cross-entropy loss): the classic char-rnn setup of Karpathy's char-rnn and the Keras text-generation
// example, as a 2-layer LSTM generated from the attribute at the end of this file.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using LstmGen;
using LstmGen.Samples;
using LstmGen.Training;

int steps = 4000;
bool quick = false;
string outDir = Path.Combine("out", "textgen");
for (int k = 0; k < args.Length; k++)
{
    if (args[k] == "--quick") { quick = true; steps = 300; }
    else if (args[k] == "--steps" && k + 1 < args.Length) steps = int.Parse(args[++k], CultureInfo.InvariantCulture);
    else if (args[k] == "--out" && k + 1 < args.Length) outDir = args[++k];
    else { Console.Error.WriteLine($"unknown argument '{args[k]}'; use --quick, --steps N or --out DIR"); return 2; }
}

const int V = CharModel.InputSize, T = CharModel.SequenceLength, Batch = 16;

// ---- data: the text, its alphabet, a split into training and validation (the last 5% of the text) ----
string text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "kjv-genesis-exodus.txt"));
var alphabet = new Alphabet(text);
if (alphabet.Size != V)
{
    Console.Error.WriteLine($"the text has {alphabet.Size} distinct characters; CharModel was declared with InputSize = OutputSize = {V}");
    return 1;
}
byte[] codes = alphabet.Encode(text);
int split = (int)(codes.Length * 0.95);
var train = codes.AsMemory(0, split);
var validation = codes.AsMemory(split);
Console.WriteLine($"LstmGen text generation sample: {codes.Length:N0} characters of the King James Bible (Genesis, Exodus), " +
                  $"{V} distinct; training on {split:N0}, validating on {codes.Length - split:N0}.");
Console.WriteLine($"model: {CharModel.NumLayers} × LSTM({CharModel.HiddenSize}) on one-hot characters, softmax over {V}, " +
                  $"{CharModel.ParameterCount:N0} parameters; kernel path {CharModel.KernelPath}.");

var model = new CharModel(seed: 11);
double unigram = Unigram(train.Span, validation.Span);
double before = ValidationLoss(model, validation.Span);
Console.WriteLine($"validation loss before training {before:F3} nats/char (uniform guess: ln {V} = {Math.Log(V):F3}); " +
                  $"character frequencies alone give {unigram:F3}");

// ---- training: random windows of T characters; targets = the next character at every step ----
var trainer = model.CreateTrainer(
    new Adam(learningRate: 3e-3f, schedule: LearningRateSchedule.Cosine(steps, 2e-4f)), Loss.CrossEntropy, clipNorm: 5f);
var xs = new float[Batch * T * V];
var ys = new float[Batch * T];
var random = new LstmRandom(2025);
int sampleEvery = quick ? steps : Math.Max(1, steps / 6), validateEvery = Math.Max(1, steps / 20);
var progress = new Progress(steps, every: quick ? 50 : Math.Max(1, steps / 30), itemsPerStep: Batch * T, itemName: "chars");
var lossCurve = new List<double>(steps);
var validationCurve = new List<(double Step, double Loss)> { (0, before) };
double smoothed = 0;
for (int step = 1; step <= steps; step++)
{
    Array.Clear(xs);
    for (int b = 0; b < Batch; b++)
    {
        int start = (int)(random.NextDouble() * (split - T - 1));
        for (int t = 0; t < T; t++)
        {
            xs[(b * T + t) * V + train.Span[start + t]] = 1f;
            ys[b * T + t] = train.Span[start + t + 1];
        }
    }
    float loss = trainer.Step(xs, ys, Batch);
    smoothed = step == 1 ? loss : 0.95 * smoothed + 0.05 * loss;
    lossCurve.Add(loss);
    progress.Report(step, smoothed);
    bool sample = step % sampleEvery == 0;
    if ((step % validateEvery == 0 || sample) && step != steps)
    {
        double v = ValidationLoss(model, validation.Span);
        validationCurve.Add((step, v));
        if (sample)
        {
            progress.Clear();
            Console.WriteLine($"  validation loss {v:F3}; sample at temperature 0.8:");
            Console.WriteLine(Indent(Sample(model, alphabet, "And God said", 240, 0.8, new LstmRandom((ulong)step))));
        }
    }
}

double after = ValidationLoss(model, validation.Span);
validationCurve.Add((steps, after));
Console.WriteLine();
Console.WriteLine($"validation loss {after:F3} nats/char ({after / Math.Log(2):F2} bits/char), " +
                  $"from {before:F3} before training; character frequencies alone: {unigram:F3}");
// ---- the same trained weights stored as bf16 and int8 (README, "Reduced-precision weights") ----
var floatProbabilities = new List<float>();
ValidationLoss(model, validation.Span, floatProbabilities);
Console.WriteLine($"the trained weights with reduced-precision storage, over the {validation.Length:N0} validation characters (errors of the softmax outputs):");
ReportReduced("BFloat16", new CharModelBf16(), model, validation.Span, floatProbabilities, after);
ReportReduced("Int8", new CharModelInt8(), model, validation.Span, floatProbabilities, after);
foreach (double temperature in new[] { 0.5, 0.8, 1.0 })
{
    Console.WriteLine($"sample at temperature {temperature:F1}:");
    Console.WriteLine(Indent(Sample(model, alphabet, "And the LORD spake unto Moses, saying,", quick ? 160 : 400, temperature, new LstmRandom(7))));
}

// ---- the loss curve ----
var smooth = new double[lossCurve.Count];
for (int k = 0; k < smooth.Length; k++) smooth[k] = k == 0 ? lossCurve[0] : 0.95 * smooth[k - 1] + 0.05 * lossCurve[k];
var vx = new double[validationCurve.Count];
var vy = new double[validationCurve.Count];
for (int k = 0; k < vx.Length; k++) (vx[k], vy[k]) = validationCurve[k];
string plot = Path.Combine(outDir, "loss.svg");
new LineChart($"TextGen: cross-entropy while training ({Batch} × {T} characters per step)", "training step", "loss (nats per character)")
    .Add("training loss (batch)", lossCurve.ToArray(), xStart: 1, color: "#c6dbef", width: 1)
    .Add("training loss (moving average)", smooth, xStart: 1)
    .Add("validation loss", vx, vy, width: 2.5)
    .Add("character frequencies only", new[] { 0.0, steps }, new[] { unigram, unigram }, color: "#999999", width: 1)
    .Save(plot);
Console.WriteLine($"wrote {plot}");

bool fell = after < before - 1.0 && after < unigram;
Console.WriteLine($"result validation-loss-before {before:F4}");
Console.WriteLine($"result validation-loss-after {after:F4}");
Console.WriteLine($"result unigram-loss {unigram:F4}");
Console.WriteLine(fell ? "the loss fell below the character-frequency baseline"
                       : "FAILED: the validation loss did not fall below the character-frequency baseline");
return fell ? 0 : 1;

// Mean cross-entropy (nats per character) of predicting each validation character from the ones before it, streaming
// the whole validation text through one state.
static double ValidationLoss<TState>(ILstmModel<TState> model, ReadOnlySpan<byte> codes, List<float>? probabilities = null) where TState : class, ILstmState
{
    const int Chunk = 256;
    var state = model.NewState();
    var xs = new float[Chunk * V];
    var ps = new float[Chunk * V];
    double total = 0;
    int count = 0;
    for (int start = 0; start + 1 < codes.Length; start += Chunk)
    {
        int n = Math.Min(Chunk, codes.Length - 1 - start);
        Array.Clear(xs);
        for (int t = 0; t < n; t++) xs[t * V + codes[start + t]] = 1f;
        model.Forward(xs.AsSpan(0, n * V), state, ps.AsSpan(0, n * V));
        for (int t = 0; t < n; t++) total -= Math.Log(Math.Max(ps[t * V + codes[start + t + 1]], 1e-30f));
        probabilities?.AddRange(ps.AsSpan(0, n * V));
        count += n;
    }
    return total / count;
}

static string Signed(double value) => (value >= 0 ? "+" : "−") + Math.Abs(value).ToString("F4", System.Globalization.CultureInfo.InvariantCulture);

static void ReportReduced<TState>(string name, ILstmModel<TState> reduced, CharModel trained, ReadOnlySpan<byte> codes, List<float> floatProbabilities, double floatLoss)
    where TState : class, ILstmState
{
    reduced.Parameters.CopyFrom(trained.Parameters.Values);
    var probabilities = new List<float>();
    double loss = ValidationLoss(reduced, codes, probabilities);
    double max = 0, sum = 0;
    for (int k = 0; k < probabilities.Count; k++) { double d = Math.Abs(probabilities[k] - floatProbabilities[k]); max = Math.Max(max, d); sum += d; }
    Console.WriteLine($"  {name,-9} max |Δ| {max:E2}, mean |Δ| {sum / probabilities.Count:E2} against float32; validation loss {loss:F4} nats/char (float32 {floatLoss:F4}, change {Signed(loss - floatLoss)})");
    Console.WriteLine($"result reduced-{name.ToLowerInvariant()}-loss {loss:F4}");
}

// The cross-entropy of the validation text under the training text's character frequencies: what a model that ignores
// context achieves.
static double Unigram(ReadOnlySpan<byte> train, ReadOnlySpan<byte> validation)
{
    var counts = new double[V];
    foreach (byte c in train) counts[c]++;
    double total = 0;
    foreach (byte c in validation) total -= Math.Log((counts[c] + 1) / (train.Length + V));
    return total / validation.Length;
}

// Primes the state with the seed text, then draws each next character from the softmax output sharpened (temperature
// below 1) or flattened (above 1): p_i^(1/τ), renormalised.
static string Sample(CharModel model, Alphabet alphabet, string seed, int length, double temperature, LstmRandom random)
{
    var state = model.NewState();
    var x = new float[V];
    var p = new float[V];
    var weights = new double[V];
    var result = new StringBuilder(seed);
    foreach (char c in seed)
    {
        Array.Clear(x);
        x[alphabet.Code(c)] = 1f;
        model.Step(x, state, p);
    }
    for (int n = 0; n < length; n++)
    {
        double sum = 0;
        for (int k = 0; k < V; k++) sum += weights[k] = Math.Exp(Math.Log(Math.Max(p[k], 1e-30f)) / temperature);
        double u = random.NextDouble() * sum;
        int next = V - 1;
        for (int k = 0; k < V; k++) { u -= weights[k]; if (u < 0) { next = k; break; } }
        result.Append(alphabet.Char(next));
        Array.Clear(x);
        x[next] = 1f;
        model.Step(x, state, p);
    }
    return result.ToString();
}

static string Indent(string text) => "    | " + text.Replace("\n", "\n    | ");

/// <summary>
/// Two stacked LSTM layers of 128 units over one-hot characters, a dense head with a softmax over the 62 characters;
/// training windows of 64 characters.
/// </summary>
/// <summary>The character model with bfloat16 gate weights, for the accuracy report (weights copied from the trained model).</summary>
[LstmModel(InputSize = 62, HiddenSize = 128, NumLayers = 2, OutputSize = 62, OutputActivation = OutputActivation.Softmax, WeightStorage = WeightStorage.BFloat16)]
public partial class CharModelBf16 { }

/// <summary>The character model with int8 gate weights (one scale per row), for the accuracy report.</summary>
[LstmModel(InputSize = 62, HiddenSize = 128, NumLayers = 2, OutputSize = 62, OutputActivation = OutputActivation.Softmax, WeightStorage = WeightStorage.Int8)]
public partial class CharModelInt8 { }

[LstmModel(InputSize = 62, HiddenSize = 128, NumLayers = 2, OutputSize = 62, OutputActivation = OutputActivation.Softmax, SequenceLength = 64)]
public partial class CharModel { }

/// <summary>The distinct characters of a text, in ordinal order, and their codes 0 … Size − 1.</summary>
public sealed class Alphabet
{
    private readonly string _chars;
    private readonly int[] _codes = new int[128];

    public Alphabet(string text)
    {
        var seen = new SortedSet<char>(text);
        var chars = new StringBuilder();
        Array.Fill(_codes, -1);
        foreach (char c in seen)
        {
            if (c >= 128) throw new InvalidDataException($"The text contains '{c}' (U+{(int)c:X4}); this sample expects ASCII.");
            _codes[c] = chars.Length;
            chars.Append(c);
        }
        _chars = chars.ToString();
    }

    public int Size => _chars.Length;

    public char Char(int code) => _chars[code];

    public int Code(char c) => c < 128 && _codes[c] >= 0 ? _codes[c] : throw new ArgumentException($"'{c}' is not in the text's alphabet.", nameof(c));

    public byte[] Encode(string text)
    {
        var codes = new byte[text.Length];
        for (int k = 0; k < text.Length; k++) codes[k] = (byte)Code(text[k]);
        return codes;
    }
}
