// AmpSim: learn a guitar-amp-like effect (a tone filter in front of an asymmetric saturating stage whose drive sags with
// a slow envelope) from its input and output, then run the learned model on new audio sample by sample, the way an
// audio plug-in would.
//
//   dotnet run -c Release --project samples/AmpSim              # full run (about 10 s after the build)
//   dotnet run -c Release --project samples/AmpSim -- --quick   # a short run, as CI does
//
// Options: --epochs N, --out DIR (default out/ampsim: input.wav, target.wav, output.wav, loss.svg, waveform.svg).
// Everything is generated at 48 kHz: the training signal is logarithmic sine sweeps, noise at stepped levels and
// plucked-string notes; the held-out test signal is a different phrase of notes, a sweep and noise. The model is a
// 1 → LSTM(16) → dense → 1 network generated from the attribute at the end of this file, trained with truncated BPTT.
// It fails (exit code 1) unless it beats the best scaled copy of the dry signal and runs faster than real time.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using LstmGen;
using LstmGen.Samples;
using LstmGen.Training;

int epochs = 12;
string outDir = Path.Combine("out", "ampsim");
for (int k = 0; k < args.Length; k++)
{
    if (args[k] == "--quick") epochs = 2;
    else if (args[k] == "--epochs" && k + 1 < args.Length) epochs = int.Parse(args[++k], CultureInfo.InvariantCulture);
    else if (args[k] == "--out" && k + 1 < args.Length) outDir = args[++k];
    else { Console.Error.WriteLine($"unknown argument '{args[k]}'; use --quick, --epochs N or --out DIR"); return 2; }
}

const int Rate = Signals.SampleRate, T = AmpModel.SequenceLength;

// ---- data: dry signals and what the effect makes of them ----
float[] trainDry = Signals.TrainingSignal(seed: 1);
float[] trainWet = new AmpEffect().Process(trainDry);
float[] testDry = Signals.TestSignal(seed: 2);
float[] testWet = new AmpEffect().Process(testDry);
Console.WriteLine($"LstmGen audio effect sample: {trainDry.Length / (double)Rate:F0} s of training audio and {testDry.Length / (double)Rate:F0} s " +
                  $"of held-out test audio at {Rate / 1000} kHz; model 1 → LSTM({AmpModel.HiddenSize}) → 1, {AmpModel.ParameterCount} parameters, " +
                  $"kernel path {AmpModel.KernelPath}.");

// ---- training: truncated BPTT. Each step is the next window of T samples of the training signal, starting from the
// state the previous window ended in (the effect's envelope remembers ~50 ms = 2,400 samples, longer than a window);
// gradients stop at the window's start. Each epoch walks the whole signal from a zero state, from a random offset.
var model = new AmpModel(seed: 3);
int windows = trainDry.Length / T - 1, steps = epochs * windows;
var trainer = model.CreateTrainer(new Adam(learningRate: 5e-3f, schedule: LearningRateSchedule.Cosine(steps, 1e-4f)), Loss.MeanSquaredError, clipNorm: 1f);
trainer.CarryState = true;
var random = new LstmRandom(77);
var progress = new Progress(steps, every: Math.Max(1, steps / 15), itemsPerStep: T, itemName: "samples");
var lossCurve = new double[steps];
var passX = new double[epochs];
var passLoss = new double[epochs];
double smoothed = 0;
for (int epoch = 0, step = 1; epoch < epochs; epoch++)
{
    trainer.ResetState();
    int offset = (int)(random.NextDouble() * T);
    double sum = 0;
    for (int w = 0; w < windows; w++, step++)
    {
        int start = offset + w * T;
        float loss = trainer.Step(trainDry.AsSpan(start, T), trainWet.AsSpan(start, T));
        lossCurve[step - 1] = loss;
        sum += loss;
        smoothed = step == 1 ? loss : 0.98 * smoothed + 0.02 * loss;
        progress.Report(step, smoothed);
    }
    (passX[epoch], passLoss[epoch]) = (step - 1, sum / windows);
}

// ---- the held-out signal, one sample at a time, as a plug-in's audio callback would ----
var output = new float[testDry.Length];
var state = model.NewState();
Process(model, state, testDry, output); // a first pass packs the weights and, under the JIT, lets tiered compilation finish
double best = double.PositiveInfinity;
for (int pass = 0; pass < 3; pass++) // the fastest of three passes: the machine's speed, not its other tenants'
{
    state.Reset();
    long t0 = Stopwatch.GetTimestamp();
    Process(model, state, testDry, output);
    best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
}
double seconds = testDry.Length / (double)Rate;
double realtime = seconds / best;
double nsPerSample = best * 1e9 / testDry.Length;

// ---- error-to-signal ratios on the test signal ----
double esrModel = Esr(testWet, output);
double gain = BestGain(testDry, testWet);
var scaled = new float[testDry.Length];
for (int n = 0; n < scaled.Length; n++) scaled[n] = (float)(gain * testDry[n]);
double esrScaled = Esr(testWet, scaled);
double esrDry = Esr(testWet, testDry);
Console.WriteLine();
Console.WriteLine("held-out test signal, error-to-signal ratio Σ(target − y)² / Σ target² (lower is better):");
Console.WriteLine($"  {"LSTM",-30} {esrModel,8:F5}  ({10 * Math.Log10(esrModel):F1} dB)");
foreach (var (name, start, end) in Signals.TestParts)
{
    double part = Esr(testWet.AsSpan(start * Rate, (end - start) * Rate), output.AsSpan(start * Rate, (end - start) * Rate));
    Console.WriteLine($"    {"on the " + name,-28} {part,8:F5}  ({10 * Math.Log10(part):F1} dB)");
}
Console.WriteLine($"  {"dry input × best gain " + gain.ToString("F3", CultureInfo.InvariantCulture),-30} {esrScaled,8:F5}  ({10 * Math.Log10(esrScaled):F1} dB)");
Console.WriteLine($"  {"dry input",-30} {esrDry,8:F5}  ({10 * Math.Log10(esrDry):F1} dB)");
Console.WriteLine($"processed {seconds:F1} s of audio in {best * 1000:F1} ms one sample at a time (fastest of 3 passes): " +
                  $"{nsPerSample:F0} ns per sample, real-time factor {realtime:N0}× (one {Rate / 1000} kHz channel needs {1e9 / Rate:F0} ns per sample)");

// ---- the same trained weights stored as bf16 and int8 (README, "Reduced-precision weights") ----
Console.WriteLine($"the trained weights with reduced-precision storage, sample by sample over the {seconds:F1} s test signal ({testDry.Length:N0} steps):");
ReportReduced("BFloat16", new AmpModelBf16(), model, testDry, testWet, output, esrModel);
ReportReduced("Int8", new AmpModelInt8(), model, testDry, testWet, output, esrModel);

// ---- files: the test signal dry, through the true effect and through the model; the plots ----
Directory.CreateDirectory(outDir);
Wav.Write(Path.Combine(outDir, "input.wav"), testDry, Rate);
Wav.Write(Path.Combine(outDir, "target.wav"), testWet, Rate);
Wav.Write(Path.Combine(outDir, "output.wav"), output, Rate);
var smooth = new double[steps];
for (int k = 0; k < steps; k++) smooth[k] = k == 0 ? lossCurve[0] : 0.98 * smooth[k - 1] + 0.02 * lossCurve[k];
new LineChart($"AmpSim: training loss ({epochs} passes over the training signal in windows of {T} samples)", "training step (window)", "mean squared error") { LogY = true }
    .Add("loss (batch)", lossCurve, xStart: 1, color: "#c6dbef", width: 1)
    .Add("loss (moving average)", smooth, xStart: 1, color: "#6baed6")
    .Add("mean loss of each pass", passX, passLoss, color: "#d62728", width: 2.5)
    .Save(Path.Combine(outDir, "loss.svg"));
int from = Signals.TestPlotStart, length = Rate / 100; // 10 ms of a loud note
var window = new LineChart("AmpSim: 10 ms of the held-out signal", "time (ms)", "amplitude");
window.Add("dry input", Window(testDry), xStart: 0, xStep: 1000.0 / Rate, color: "#aaaaaa");
window.Add("true effect", Window(testWet), xStart: 0, xStep: 1000.0 / Rate, color: "#1f77b4", width: 2.5);
window.Add("LSTM, sample by sample", Window(output), xStart: 0, xStep: 1000.0 / Rate, color: "#d62728");
window.Save(Path.Combine(outDir, "waveform.svg"));
Console.WriteLine($"wrote input.wav, target.wav, output.wav, loss.svg and waveform.svg to {outDir}");

bool beats = esrModel < esrScaled, fast = realtime > 1;
Console.WriteLine($"result esr-model {esrModel:F5}");
Console.WriteLine($"result esr-dry-scaled {esrScaled:F5}");
Console.WriteLine($"result realtime-factor {realtime:F0}");
if (!beats) Console.WriteLine("FAILED: the model does not beat the scaled dry signal");
if (!fast) Console.WriteLine("FAILED: processing is slower than real time");
if (beats && fast) Console.WriteLine("the model beats the scaled dry signal and runs faster than real time");
return beats && fast ? 0 : 1;

double[] Window(float[] signal)
{
    var w = new double[length];
    for (int k = 0; k < length; k++) w[k] = signal[from + k];
    return w;
}

// The audio callback: every sample through the model, in order, carrying the state.
static void Process(AmpModel model, AmpModel.State state, float[] input, float[] output)
{
    for (int n = 0; n < input.Length; n++)
        model.Step(input.AsSpan(n, 1), state, output.AsSpan(n, 1));
}

static void ReportReduced<TState>(string name, ILstmModel<TState> reduced, AmpModel trained, float[] dry, float[] wet, float[] floatOutput, double floatEsr)
    where TState : class, ILstmState
{
    reduced.Parameters.CopyFrom(trained.Parameters.Values);
    var state = reduced.NewState();
    var y = new float[dry.Length];
    for (int n = 0; n < dry.Length; n++) reduced.Step(dry.AsSpan(n, 1), state, y.AsSpan(n, 1));
    double max = 0, sum = 0;
    for (int n = 0; n < y.Length; n++) { double d = Math.Abs(y[n] - floatOutput[n]); max = Math.Max(max, d); sum += d; }
    double esr = Esr(wet, y);
    Console.WriteLine($"  {name,-9} max |Δ| {max:E2}, mean |Δ| {sum / y.Length:E2} against float32; ESR {esr:F5} ({10 * Math.Log10(esr):F2} dB; float32 {10 * Math.Log10(floatEsr):F2} dB)");
    Console.WriteLine($"result reduced-{name.ToLowerInvariant()}-esr {esr:F5}");
}

static double Esr(ReadOnlySpan<float> target, ReadOnlySpan<float> y)
{
    double error = 0, energy = 0;
    for (int n = 0; n < target.Length; n++)
    {
        double d = target[n] - (double)y[n];
        error += d * d;
        energy += target[n] * (double)target[n];
    }
    return error / energy;
}

static double BestGain(float[] dry, float[] wet)
{
    double xy = 0, xx = 0;
    for (int n = 0; n < dry.Length; n++) { xy += dry[n] * (double)wet[n]; xx += dry[n] * (double)dry[n]; }
    return xy / xx;
}

/// <summary>One input sample in, one output sample out: an LSTM of 16 units and a dense head; training windows of 1,024 samples.</summary>
[LstmModel(InputSize = 1, HiddenSize = 16, OutputSize = 1, SequenceLength = 1024)]
public partial class AmpModel { }

/// <summary>The amp model with bfloat16 gate weights, for the accuracy report (weights copied from the trained model).</summary>
[LstmModel(InputSize = 1, HiddenSize = 16, OutputSize = 1, WeightStorage = WeightStorage.BFloat16)]
public partial class AmpModelBf16 { }

/// <summary>The amp model with int8 gate weights (one scale per row), for the accuracy report.</summary>
[LstmModel(InputSize = 1, HiddenSize = 16, OutputSize = 1, WeightStorage = WeightStorage.Int8)]
public partial class AmpModelInt8 { }

/// <summary>
/// The effect to learn, a caricature of a guitar amplifier's preamp: a 12 dB/octave low-pass "tone" filter at 2.5 kHz
/// (an RBJ-cookbook biquad: memory of a few samples) feeding a driven, asymmetric tanh stage
/// y = a·(tanh(g·(u + b)) − tanh(g·b)), whose bias makes the positive and negative half-waves clip differently (even
/// harmonics, as in a single-ended triode stage). The drive sags with a slow envelope of the filtered signal (5 ms
/// attack, 50 ms release: memory of thousands of samples), g = G / (1 + 3·env), as a tired power supply does.
/// </summary>
public sealed class AmpEffect
{
    private const double Drive = 6, Bias = 0.1, Level = 0.5, Sag = 3;
    private static readonly double Attack = 1 - Math.Exp(-1 / (0.005 * Signals.SampleRate));
    private static readonly double Release = 1 - Math.Exp(-1 / (0.050 * Signals.SampleRate));
    private readonly double _b0, _b1, _b2, _a1, _a2;
    private double _x1, _x2, _y1, _y2, _envelope;

    public AmpEffect(double cutoff = 2500, double q = 0.8)
    {
        double w = 2 * Math.PI * cutoff / Signals.SampleRate, alpha = Math.Sin(w) / (2 * q), cos = Math.Cos(w), a0 = 1 + alpha;
        _b0 = (1 - cos) / 2 / a0; _b1 = (1 - cos) / a0; _b2 = (1 - cos) / 2 / a0;
        _a1 = -2 * cos / a0; _a2 = (1 - alpha) / a0;
    }

    public float[] Process(float[] input)
    {
        var output = new float[input.Length];
        for (int n = 0; n < input.Length; n++)
        {
            double x = input[n];
            double u = _b0 * x + _b1 * _x1 + _b2 * _x2 - _a1 * _y1 - _a2 * _y2; // the tone filter
            _x2 = _x1; _x1 = x; _y2 = _y1; _y1 = u;
            double level = Math.Abs(u);                                          // the envelope follower
            _envelope += (level > _envelope ? Attack : Release) * (level - _envelope);
            double g = Drive / (1 + Sag * _envelope);
            output[n] = (float)(Level * (Math.Tanh(g * (u + Bias)) - Math.Tanh(g * Bias))); // the saturating stage
        }
        return output;
    }
}

/// <summary>The generated test material: sweeps, noise and plucked strings at 48 kHz.</summary>
public static class Signals
{
    public const int SampleRate = 48_000;

    /// <summary>Where the waveform plot's 10 ms window starts in the test signal: 50 ms into its first (loud) note.</summary>
    public const int TestPlotStart = SampleRate / 20;

    /// <summary>30 s: a loud and a quiet 20 Hz – 20 kHz sweep, 6 s of noise at stepped levels, 16 s of plucked notes.</summary>
    public static float[] TrainingSignal(ulong seed)
    {
        var random = new LstmRandom(seed);
        var parts = new List<float[]>
        {
            Sweep(5, 20, 20_000, 0.6),
            Sweep(3, 20, 20_000, 0.15),
            Noise(6, ref random),
            Plucks(16, ref random, firstAmplitude: 0.6),
        };
        return Concat(parts);
    }

    /// <summary>The parts of the test signal: name, start and end in seconds.</summary>
    public static readonly (string Name, int Start, int End)[] TestParts = { ("plucked notes (0-6 s)", 0, 6), ("sweep (6-8 s)", 6, 8), ("noise (8-10 s)", 8, 10) };

    /// <summary>10 s: a phrase of plucked notes that starts loud, a medium sweep, noise.</summary>
    public static float[] TestSignal(ulong seed)
    {
        var random = new LstmRandom(seed);
        return Concat(new List<float[]> { Plucks(6, ref random, firstAmplitude: 0.8), Sweep(2, 40, 16_000, 0.35), Noise(2, ref random) });
    }

    /// <summary>An exponential (logarithmic) sine sweep from f0 to f1 Hz with 10 ms fades.</summary>
    public static float[] Sweep(double seconds, double f0, double f1, double amplitude)
    {
        int n = (int)(seconds * SampleRate);
        var s = new float[n];
        double l = seconds / Math.Log(f1 / f0);
        for (int k = 0; k < n; k++)
        {
            double t = k / (double)SampleRate;
            s[k] = (float)(amplitude * Fade(k, n) * Math.Sin(2 * Math.PI * f0 * l * (Math.Exp(t / l) - 1)));
        }
        return s;
    }

    /// <summary>White noise in 250 ms segments at random levels from 0.02 to 0.5.</summary>
    public static float[] Noise(double seconds, ref LstmRandom random)
    {
        int n = (int)(seconds * SampleRate), segment = SampleRate / 4;
        var s = new float[n];
        double level = 0;
        for (int k = 0; k < n; k++)
        {
            if (k % segment == 0) level = 0.02 * Math.Pow(25, random.NextDouble());
            s[k] = (float)(level * Fade(k, n) * (2 * random.NextDouble() - 1));
        }
        return s;
    }

    /// <summary>
    /// Plucked strings (Karplus–Strong: a delay line of one period, filled with noise, fed back through a two-point
    /// average): notes from E2 to E5, 120–600 ms apart, each ringing on under the next.
    /// </summary>
    public static float[] Plucks(double seconds, ref LstmRandom random, double firstAmplitude)
    {
        int n = (int)(seconds * SampleRate);
        var s = new double[n];
        bool first = true;
        for (int onset = 0; onset < n; onset += (int)(SampleRate * (0.12 + 0.48 * random.NextDouble())))
        {
            double frequency = 82.41 * Math.Pow(2, Math.Floor(random.NextDouble() * 37) / 12); // E2 … E5 on the semitone grid
            double amplitude = first ? firstAmplitude : 0.1 + 0.7 * random.NextDouble();
            first = false;
            int period = Math.Max(2, (int)Math.Round(SampleRate / frequency));
            var line = new double[period];
            for (int k = 0; k < period; k++) line[k] = amplitude * (2 * random.NextDouble() - 1);
            int ring = Math.Min(n - onset, (int)(1.5 * SampleRate));
            for (int k = 0; k < ring; k++)
            {
                int i = k % period;
                double v = line[i];
                line[i] = 0.996 * 0.5 * (v + line[(i + 1) % period]);
                s[onset + k] += v;
            }
        }
        var result = new float[n];
        for (int k = 0; k < n; k++) result[k] = (float)(Math.Clamp(s[k], -1, 1) * Fade(k, n));
        return result;
    }

    private static double Fade(int k, int n)
    {
        int ramp = SampleRate / 100;
        return Math.Min(1.0, Math.Min(k, n - 1 - k) / (double)ramp);
    }

    private static float[] Concat(List<float[]> parts)
    {
        int total = 0;
        foreach (var p in parts) total += p.Length;
        var s = new float[total];
        int at = 0;
        foreach (var p in parts) { p.CopyTo(s, at); at += p.Length; }
        return s;
    }
}

/// <summary>Writes mono 16-bit PCM WAV files (RIFF, 'fmt ' chunk of format 1, 'data' chunk), little-endian.</summary>
public static class Wav
{
    public static void Write(string path, ReadOnlySpan<float> samples, int sampleRate)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var writer = new BinaryWriter(stream);
        int dataBytes = samples.Length * 2;
        writer.Write("RIFF"u8);
        writer.Write(36 + dataBytes);
        writer.Write("WAVE"u8);
        writer.Write("fmt "u8);
        writer.Write(16);                 // chunk size
        writer.Write((short)1);           // PCM
        writer.Write((short)1);           // one channel
        writer.Write(sampleRate);
        writer.Write(sampleRate * 2);     // bytes per second
        writer.Write((short)2);           // bytes per frame
        writer.Write((short)16);          // bits per sample
        writer.Write("data"u8);
        writer.Write(dataBytes);
        foreach (float v in samples)
            writer.Write((short)Math.Round(Math.Clamp(v, -1f, 1f) * 32767f));
    }
}
