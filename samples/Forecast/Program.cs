// Forecast: learn tomorrow's Seattle weather from the last 30 days, on the device, with LstmGen.
//
//   dotnet run -c Release --project samples/Forecast              # full run (about 20 s)
//   dotnet run -c Release --project samples/Forecast -- --quick   # a short run, as CI does
//
// Options: --steps N, --out DIR (default out/forecast: loss.svg and forecast.svg are written there).
// It trains a 2-layer LSTM (generated from the attribute below) on the first 80% of the days (2012 to early 2015),
// checks it on the rest against the persistence forecast ("tomorrow = today"), saves a checkpoint and the weights
// (safetensors) and reloads them, and
// forecasts the day after the data ends. Then it trains a GRU of the same shape the same way (same windows, optimizer and
// schedule) and compares the two: validation error, training time, streaming speed and parameters.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using LstmGen;
using LstmGen.Samples;
using LstmGen.Training;
using LstmGen.Weights;

int steps = 800;
string outDir = Path.Combine("out", "forecast");
for (int k = 0; k < args.Length; k++)
{
    if (args[k] == "--quick") steps = 150;
    else if (args[k] == "--steps" && k + 1 < args.Length) steps = int.Parse(args[++k], CultureInfo.InvariantCulture);
    else if (args[k] == "--out" && k + 1 < args.Length) outDir = args[++k];
    else { Console.Error.WriteLine($"unknown argument '{args[k]}'; use --quick, --steps N or --out DIR"); return 2; }
}

// ---- data: precipitation, max/min temperature, wind; plus the season as sin/cos of the day of the year ----
string csv = Path.Combine(AppContext.BaseDirectory, "data", "seattle-weather.csv");
var days = Weather.Load(csv);
int split = (int)(days.Count * 0.8);                      // train on the first 80% of days, validate on the rest (by time)
var norm = Normalizer.Fit(days, split);
float[] features = norm.Features(days);                   // days.Count × InputSize
Console.WriteLine($"LstmGen forecast sample: {days.Count} days of Seattle weather ({days[0].Date:yyyy-MM-dd} to {days[^1].Date:yyyy-MM-dd}), " +
                  $"training on {split} days, validating on {days.Count - split - 1}. Kernel path: {WeatherForecaster.KernelPath}.");

// ---- training: random 30-day windows, targets = the next day's four values at every step ----
var model = new WeatherForecaster(seed: 7);
var optimizer = new Adam(learningRate: 3e-3f, schedule: LearningRateSchedule.Cosine(steps, 3e-4f));
var trainer = model.CreateTrainer(optimizer, Loss.MeanSquaredError, clipNorm: 1f);
const int T = WeatherForecaster.SequenceLength, Batch = 16, O = WeatherForecaster.OutputSize;
var (smoothed, lossCurve, trainStepMs) = Train(trainer, features, split, steps, "LSTM");

// ---- validation: carry the state through the training period, then forecast each validation day one step at a time ----
var forecasts = new List<double[]>();
var validation = Evaluate(model, features, days, split, norm, forecasts);
double stepNs = StepSpeed(model, features);
var persistence = Persistence(days, split);
Console.WriteLine();
Console.WriteLine($"validation ({days[split].Date:yyyy-MM-dd} to {days[^2].Date:yyyy-MM-dd}), RMSE of next-day forecasts:");
Console.WriteLine("  variable          LSTM   persistence");
for (int k = 0; k < O; k++)
    Console.WriteLine($"  {Weather.Names[k],-14} {validation.Rmse[k],7:F3}  {persistence.Rmse[k],8:F3}   {Weather.Units[k]}");
Console.WriteLine($"  mean normalized MSE: LSTM {validation.NormalizedMse:F4}, persistence {persistence.NormalizedMse:F4} " +
                  $"({(validation.NormalizedMse < persistence.NormalizedMse ? "LSTM better" : "persistence better")})");
Console.WriteLine($"  streaming inference: {stepNs:F0} ns per Step (one day in, tomorrow out; warm)");

// ---- plots: the training loss, and the validation period's forecasts against what happened ----
var smooth = new double[steps];
for (int k = 0; k < steps; k++) smooth[k] = k == 0 ? lossCurve[0] : 0.9 * smooth[k - 1] + 0.1 * lossCurve[k];
new LineChart($"Forecast: training loss ({Batch} windows × {T} days per step)", "training step", "mean squared error (standardised values)")
    .Add("loss (batch)", lossCurve, xStart: 1, color: "#c6dbef", width: 1)
    .Add("loss (moving average)", smooth, xStart: 1)
    .Save(Path.Combine(outDir, "loss.svg"));
var truthMax = new double[forecasts.Count];
var truthMin = new double[forecasts.Count];
var forecastMax = new double[forecasts.Count];
var forecastMin = new double[forecasts.Count];
for (int k = 0; k < forecasts.Count; k++)
{
    truthMax[k] = days[split + 1 + k].Values[1];
    truthMin[k] = days[split + 1 + k].Values[2];
    forecastMax[k] = forecasts[k][1];
    forecastMin[k] = forecasts[k][2];
}
new LineChart($"Forecast: next-day temperatures in Seattle, validation period ({days[split + 1].Date:yyyy-MM-dd} to {days[^1].Date:yyyy-MM-dd})",
        $"days after {days[split].Date:yyyy-MM-dd}", "°C")
    .Add("max, observed", truthMax, xStart: 1, color: "#d62728", width: 1)
    .Add("max, LSTM forecast", forecastMax, xStart: 1, color: "#7f0000", width: 2)
    .Add("min, observed", truthMin, xStart: 1, color: "#1f77b4", width: 1)
    .Add("min, LSTM forecast", forecastMin, xStart: 1, color: "#08306b", width: 2)
    .Save(Path.Combine(outDir, "forecast.svg"));
Console.WriteLine($"wrote loss.svg and forecast.svg to {outDir}");

// ---- save, reload, forecast ----
// A checkpoint (weights, Adam's state and step count; saved atomically) to resume training from, and the weights
// alone as safetensors (PyTorch names), the file to deploy or to open in PyTorch with safetensors.torch.load_file.
string checkpointPath = Path.Combine(Path.GetTempPath(), "lstmgen-forecast.ckpt");
string weightsPath = Path.Combine(Path.GetTempPath(), "lstmgen-forecast.safetensors");
Checkpoint.Save(checkpointPath, model.Parameters, optimizer);
model.Parameters.SaveSafetensors(weightsPath);
var resumed = new WeatherForecaster();
var resumedOptimizer = new Adam(learningRate: 3e-3f, schedule: LearningRateSchedule.Cosine(steps, 3e-4f));
var checkpoint = Checkpoint.Load(checkpointPath, resumed.Parameters, resumedOptimizer);
var reloaded = new WeatherForecaster();
reloaded.Parameters.LoadSafetensors(weightsPath);
var again = Evaluate(reloaded, features, days, split, norm);
bool same = again.NormalizedMse == validation.NormalizedMse && resumed.Parameters.Values.SequenceEqual(model.Parameters.Values)
            && resumedOptimizer.State.SequenceEqual(optimizer.State) && checkpoint.StepCount == steps;
Console.WriteLine($"saved a checkpoint (step {checkpoint.StepCount}, Adam state) to {checkpointPath} and {WeatherForecaster.ParameterCount} parameters to {weightsPath}; " +
                  $"reloaded model gives {(same ? "identical" : "DIFFERENT")} forecasts");

var state = reloaded.NewState();
var last = new float[O];
reloaded.Forward(features, state, last);
var tomorrow = norm.Denormalize(last);
Console.WriteLine($"forecast for {days[^1].Date.AddDays(1):yyyy-MM-dd}: precipitation {tomorrow[0]:F1} mm, max {tomorrow[1]:F1} °C, min {tomorrow[2]:F1} °C, wind {tomorrow[3]:F1} m/s");

// ---- the same trained weights stored as bf16 and int8 (README, "Reduced-precision weights") ----
var floatOutputs = new List<float>();
Evaluate(model, features, days, split, norm, outputs: floatOutputs);
Console.WriteLine("the trained weights with reduced-precision storage (the state runs through all {0} days; errors of the normalized outputs on the validation days):", days.Count - 1);
ReportReduced("BFloat16", new WeatherForecasterBf16(), model, features, days, split, norm, floatOutputs, validation.NormalizedMse);
ReportReduced("Int8", new WeatherForecasterInt8(), model, features, days, split, norm, floatOutputs, validation.NormalizedMse);

// Lines for the CI check that the Native AOT binary computes what the JIT run does.
// ---- the same task with a GRU of the same shape: same windows, optimizer, schedule and clipping ----
var gru = new WeatherForecasterGru(seed: 7);
var gruTrainer = gru.CreateTrainer(new Adam(learningRate: 3e-3f, schedule: LearningRateSchedule.Cosine(steps, 3e-4f)), Loss.MeanSquaredError, clipNorm: 1f);
var (gruSmoothed, _, gruStepMs) = Train(gruTrainer, features, split, steps, "GRU");
var gruValidation = Evaluate(gru, features, days, split, norm);
double gruStepNs = StepSpeed(gru, features);
Console.WriteLine("the same task with a GRU of the same shape (2 × 32 units, the same head, windows and optimizer):");
Console.WriteLine($"  {"",-5} {"parameters",10} {"training step",14} {"final loss",10} {"validation NMSE",15} {"Step",8}");
Console.WriteLine($"  {"LSTM",-5} {WeatherForecaster.ParameterCount,10} {trainStepMs,11:F2} ms {smoothed,10:F4} {validation.NormalizedMse,15:F4} {stepNs,5:F0} ns");
Console.WriteLine($"  {"GRU",-5} {WeatherForecasterGru.ParameterCount,10} {gruStepMs,11:F2} ms {gruSmoothed,10:F4} {gruValidation.NormalizedMse,15:F4} {gruStepNs,5:F0} ns");

Console.WriteLine($"result final-loss {smoothed:R}");
Console.WriteLine($"result gru-final-loss {gruSmoothed:R}");
Console.WriteLine($"result gru-validation-nmse {gruValidation.NormalizedMse:R}");
Console.WriteLine($"result validation-nmse {validation.NormalizedMse:R}");
for (int k = 0; k < O; k++) Console.WriteLine($"result forecast-{k} {tomorrow[k]:R}");
return same ? 0 : 1;

// Training: random 30-day windows (the same ones for every model: the generator's seed is fixed), targets = the next day's
// four values at every step. Returns the smoothed final loss, the loss of every step, and the milliseconds a training
// step takes once warm (the steps after the first quarter: the first ones include the JIT compiling the kernels).
static (float Smoothed, double[] Curve, double StepMs) Train(ILstmTrainer trainer, float[] features, int split, int steps, string name)
{
    const int T = WeatherForecaster.SequenceLength, Batch = 16, I = WeatherForecaster.InputSize, O = WeatherForecaster.OutputSize;
    var xs = new float[Batch * T * I];
    var ys = new float[Batch * T * O];
    var random = new LstmRandom(2024);
    var clock = Stopwatch.StartNew();
    var progress = new Progress(steps, every: 50, itemsPerStep: Batch, itemName: "windows");
    var lossCurve = new double[steps];
    float smoothed = 0;
    int warm = steps / 4;
    TimeSpan warmAt = default;
    for (int step = 1; step <= steps; step++)
    {
        if (step == warm + 1) warmAt = clock.Elapsed;
        for (int b = 0; b < Batch; b++)
        {
            int start = (int)(random.NextDouble() * (split - T - 1));
            features.AsSpan(start * I, T * I).CopyTo(xs.AsSpan(b * T * I));
            for (int t = 0; t < T; t++)
                features.AsSpan((start + t + 1) * I, O).CopyTo(ys.AsSpan((b * T + t) * O));
        }
        float loss = trainer.Step(xs, ys, Batch);
        smoothed = step == 1 ? loss : 0.9f * smoothed + 0.1f * loss;
        lossCurve[step - 1] = loss;
        progress.Report(step, smoothed);
    }
    double stepMs = (clock.Elapsed - warmAt).TotalMilliseconds / (steps - warm);
    Console.WriteLine($"trained the {name} {steps} steps of {Batch} windows × {T} days in {clock.Elapsed.TotalSeconds:F1} s ({stepMs:F2} ms per step once warm)");
    return (smoothed, lossCurve, stepMs);
}

static (double[] Rmse, double NormalizedMse) Evaluate<TState>(IRecurrentModel<TState> model, float[] features, List<Day> days, int split, Normalizer norm,
    List<double[]>? forecasts = null, List<float>? outputs = null) where TState : class, IRecurrentState
{
    const int I = WeatherForecaster.InputSize, O = WeatherForecaster.OutputSize;
    var state = model.NewState();
    var y = new float[O];
    model.Forward(features.AsSpan(0, split * I), state, y);  // warm the state up on the training period
    var sum = new double[O];
    double normalized = 0;
    int count = 0;
    for (int d = split; d < days.Count - 1; d++)
    {
        model.Step(features.AsSpan(d * I, I), state, y);      // y: the forecast for day d + 1
        outputs?.AddRange(y);
        var predicted = norm.Denormalize(y);
        forecasts?.Add(predicted);
        var actual = days[d + 1].Values;
        for (int k = 0; k < O; k++)
        {
            double e = predicted[k] - actual[k];
            sum[k] += e * e;
            normalized += e * e / (norm.Std[k] * norm.Std[k]) / O;
        }
        count++;
    }
    var rmse = new double[O];
    for (int k = 0; k < O; k++) rmse[k] = Math.Sqrt(sum[k] / count);
    return (rmse, normalized / count);
}

static string Signed(double value) => (value >= 0 ? "+" : "−") + Math.Abs(value).ToString("F4", System.Globalization.CultureInfo.InvariantCulture);

static void ReportReduced<TState>(string name, ILstmModel<TState> reduced, WeatherForecaster trained, float[] features, List<Day> days, int split,
    Normalizer norm, List<float> floatOutputs, double floatNmse) where TState : class, ILstmState
{
    reduced.Parameters.CopyFrom(trained.Parameters.Values);
    var outputs = new List<float>();
    var result = Evaluate(reduced, features, days, split, norm, outputs: outputs);
    double max = 0, sum = 0;
    for (int k = 0; k < outputs.Count; k++) { double d = Math.Abs(outputs[k] - floatOutputs[k]); max = Math.Max(max, d); sum += d; }
    Console.WriteLine($"  {name,-9} max |Δ| {max:E2}, mean |Δ| {sum / outputs.Count:E2}; validation normalized MSE {result.NormalizedMse:F4} " +
                      $"(float32 {floatNmse:F4}, change {Signed(result.NormalizedMse - floatNmse)})");
    Console.WriteLine($"result reduced-{name.ToLowerInvariant()}-nmse {result.NormalizedMse:R}");
}

// The speed of one streaming Step, warm: 200 ms of steps first (under the JIT, tiered compilation finishes meanwhile),
// then blocks of 1,000 timed steps over the days in a loop for at least 100 ms. A separate state: the forecasts above
// are not affected.
static double StepSpeed<TState>(IRecurrentModel<TState> model, float[] features) where TState : class, IRecurrentState
{
    const int I = WeatherForecaster.InputSize, Block = 1000;
    int days = features.Length / I, d = 0;
    var state = model.NewState();
    var y = new float[WeatherForecaster.OutputSize];
    var clock = Stopwatch.StartNew();
    while (clock.ElapsedMilliseconds < 200)
        for (int k = 0; k < Block; k++, d = d + 1 == days ? 0 : d + 1) model.Step(features.AsSpan(d * I, I), state, y);
    long steps = 0;
    clock.Restart();
    while (clock.ElapsedMilliseconds < 100)
    {
        for (int k = 0; k < Block; k++, d = d + 1 == days ? 0 : d + 1) model.Step(features.AsSpan(d * I, I), state, y);
        steps += Block;
    }
    return clock.Elapsed.TotalMilliseconds * 1e6 / steps;
}

static (double[] Rmse, double NormalizedMse) Persistence(List<Day> days, int split)
{
    var norm = Normalizer.Fit(days, split);
    var sum = new double[4];
    double normalized = 0;
    int count = 0;
    for (int d = split; d < days.Count - 1; d++)
    {
        for (int k = 0; k < 4; k++)
        {
            double e = days[d].Values[k] - days[d + 1].Values[k];
            sum[k] += e * e;
            normalized += e * e / (norm.Std[k] * norm.Std[k]) / 4;
        }
        count++;
    }
    var rmse = new double[4];
    for (int k = 0; k < 4; k++) rmse[k] = Math.Sqrt(sum[k] / count);
    return (rmse, normalized / count);
}

/// <summary>Six inputs per day (four weather values and the season), four outputs: tomorrow's weather values.</summary>
/// <summary>The forecaster with its gate weights stored as bfloat16, for the accuracy report (weights copied from the trained model).</summary>
[LstmModel(InputSize = 6, HiddenSize = 32, NumLayers = 2, OutputSize = 4, WeightStorage = WeightStorage.BFloat16)]
public partial class WeatherForecasterBf16 { }

/// <summary>The forecaster with int8 gate weights (one scale per row), for the accuracy report.</summary>
[LstmModel(InputSize = 6, HiddenSize = 32, NumLayers = 2, OutputSize = 4, WeightStorage = WeightStorage.Int8)]
public partial class WeatherForecasterInt8 { }

[LstmModel(InputSize = 6, HiddenSize = 32, NumLayers = 2, OutputSize = 4, SequenceLength = 30)]
public partial class WeatherForecaster { }

/// <summary>The same forecaster as a GRU (issue 19): one word changed in the attribute.</summary>
[GruModel(InputSize = 6, HiddenSize = 32, NumLayers = 2, OutputSize = 4, SequenceLength = 30)]
public partial class WeatherForecasterGru { }

public readonly record struct Day(DateTime Date, float[] Values);

public static class Weather
{
    public static readonly string[] Names = { "precipitation", "max temp", "min temp", "wind" };
    public static readonly string[] Units = { "mm", "°C", "°C", "m/s" };

    public static List<Day> Load(string path)
    {
        var days = new List<Day>();
        using var reader = new StreamReader(path);
        string? header = reader.ReadLine();
        if (header is null || !header.StartsWith("date,precipitation,temp_max,temp_min,wind", StringComparison.Ordinal))
            throw new InvalidDataException($"{path}: expected the header 'date,precipitation,temp_max,temp_min,wind,weather', got '{header}'.");
        int line = 1;
        for (string? text = reader.ReadLine(); text is not null; text = reader.ReadLine())
        {
            line++;
            string[] cells = text.Split(',');
            if (cells.Length < 5) throw new InvalidDataException($"{path}:{line}: expected 6 comma-separated values, got {cells.Length}.");
            var values = new float[4];
            for (int k = 0; k < 4; k++)
                if (!float.TryParse(cells[k + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out values[k]))
                    throw new InvalidDataException($"{path}:{line}: '{cells[k + 1]}' is not a number.");
            days.Add(new Day(DateTime.ParseExact(cells[0], "yyyy-MM-dd", CultureInfo.InvariantCulture), values));
        }
        return days;
    }
}

/// <summary>Standardises each value with the training period's mean and deviation (precipitation on a log scale).</summary>
public sealed class Normalizer
{
    public double[] Mean { get; } = new double[4];
    public double[] Std { get; } = new double[4];   // of the raw values, for normalized errors
    private readonly double[] _mean = new double[4], _std = new double[4]; // of the transformed values

    private static double Transform(int k, double v) => k == 0 ? Math.Log(1 + v) : v;
    private static double Inverse(int k, double v) => k == 0 ? Math.Max(0, Math.Exp(v) - 1) : v;

    public static Normalizer Fit(List<Day> days, int count)
    {
        var n = new Normalizer();
        for (int k = 0; k < 4; k++)
        {
            double s = 0, s2 = 0, r = 0, r2 = 0;
            for (int d = 0; d < count; d++)
            {
                double v = Transform(k, days[d].Values[k]);
                s += v; s2 += v * v;
                r += days[d].Values[k]; r2 += days[d].Values[k] * (double)days[d].Values[k];
            }
            n._mean[k] = s / count;
            n._std[k] = Math.Sqrt(s2 / count - n._mean[k] * n._mean[k]);
            n.Mean[k] = r / count;
            n.Std[k] = Math.Sqrt(r2 / count - n.Mean[k] * n.Mean[k]);
        }
        return n;
    }

    public float[] Features(List<Day> days)
    {
        var f = new float[days.Count * WeatherForecaster.InputSize];
        for (int d = 0; d < days.Count; d++)
        {
            int o = d * WeatherForecaster.InputSize;
            for (int k = 0; k < 4; k++) f[o + k] = (float)((Transform(k, days[d].Values[k]) - _mean[k]) / _std[k]);
            double season = 2 * Math.PI * days[d].Date.DayOfYear / 365.25;
            f[o + 4] = (float)Math.Sin(season);
            f[o + 5] = (float)Math.Cos(season);
        }
        return f;
    }

    public double[] Denormalize(ReadOnlySpan<float> y)
    {
        var v = new double[4];
        for (int k = 0; k < 4; k++) v[k] = Inverse(k, y[k] * _std[k] + _mean[k]);
        return v;
    }
}
