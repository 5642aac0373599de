using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;
using LstmGen.Weights;

namespace LstmGen.Fuzz;

/// <summary>The JSON model formats the harness fuzzes.</summary>
public enum JsonFormat
{
    /// <summary>GuitarML / Automated-GuitarAmpModelling (<see cref="GuitarMLJson"/>).</summary>
    GuitarML,
    /// <summary>Neural Amp Modeler's LSTM <c>.nam</c> files (<see cref="NamFile"/>).</summary>
    Nam,
    /// <summary>RTNeural / AIDA-X Keras-style JSON (<see cref="RTNeuralJson"/>).</summary>
    RTNeural,
}

/// <summary>
/// Property-based mutation fuzzing of <see cref="GuitarMLJson.Load(ReadOnlySpan{byte}, LstmParameters)"/>,
/// <see cref="NamFile.Load(ReadOnlySpan{byte}, LstmParameters)"/> and <see cref="RTNeuralJson.Load(ReadOnlySpan{byte}, LstmParameters)"/>:
/// valid files (GuitarML: with and without skip, head bias, two layers; .nam: one and two layers with their learned
/// initial state; RTNeural: a snapshot with AIDA-X's skip and gain, two layers with a tanh head given by an activation
/// layer, LSTM layers without a dense layer) are mutated by 1 to 4 random operators (bit flips, byte
/// changes, truncation, splices of two files, and JSON-aware edits: a number, a literal, a bracket or a field name put
/// in place of a token) and loaded. The property: the load succeeds or throws <see cref="WeightsFormatException"/>
/// with a field and a message; nothing else is thrown; no iteration takes 2 s; a load allocates at most
/// <see cref="AllocationFactor"/> times the file's length plus <see cref="FuzzHarness.AllocationSlack"/> (the parsed
/// document and the values are proportional to the file); a refused load leaves the parameters unchanged.
/// </summary>
public static class JsonFuzzHarness
{
    /// <summary>
    /// Allowed allocation per byte of file: the copy JsonDocument parses (1×) and its token index, which it rents from
    /// the shared array pool at about 6 bytes per input byte rounded up to a power of two (up to 12×, allocated when the
    /// pool has no array of that size yet), then the values and a message.
    /// </summary>
    public const long AllocationFactor = 16;

    private const double HangMs = 2000;

    private sealed record Seed(string Name, byte[] File, LstmParameters Target);

    public static FuzzOutcome Run(long count, ulong seed, Action<string>? progress = null, JsonFormat format = JsonFormat.GuitarML)
    {
        var seeds = format switch { JsonFormat.Nam => NamSeeds(), JsonFormat.RTNeural => RTNeuralSeeds(), _ => Seeds() };
        var random = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        var outcome = new FuzzOutcome { AllocationFactor = AllocationFactor };
        var clock = Stopwatch.StartNew();
        for (long i = 0; i < count; i++)
        {
            var s = seeds[random.Next(seeds.Count)];
            byte[] file = s.File;
            int operators = 1 + random.Next(4);
            for (int k = 0; k < operators; k++)
            {
                string name;
                (file, name) = Mutate(file, seeds[random.Next(seeds.Count)].File, random);
                outcome.Mutations[name] = outcome.Mutations.GetValueOrDefault(name) + 1;
            }
            outcome.LargestFile = Math.Max(outcome.LargestFile, file.Length);
            float[] before = s.Target.Values.ToArray();
            long t0 = Stopwatch.GetTimestamp();
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            Exception? error = null;
            try
            {
                if (format == JsonFormat.Nam) NamFile.Load(file, s.Target);
                else if (format == JsonFormat.RTNeural) RTNeuralJson.Load(file, s.Target);
                else GuitarMLJson.Load(file, s.Target);
                outcome.Loaded++;
            }
            catch (Exception e) { error = e; }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (error is WeightsFormatException w)
            {
                outcome.Rejected[w.Kind] = outcome.Rejected.GetValueOrDefault(w.Kind) + 1;
                if (w.Field is null || string.IsNullOrEmpty(w.Message)) Fail(outcome, file, "exception without field or message");
                if (!before.AsSpan().SequenceEqual(s.Target.Values)) Fail(outcome, file, "a refused load changed the parameters");
            }
            else if (error is not null) Fail(outcome, file, "Load threw " + error.GetType().Name + ": " + error.Message + " at " + error.StackTrace);
            s.Target.GetWritableValues().Fill(0f);   // the next load into this target starts from known values
            outcome.MaxAllocated = Math.Max(outcome.MaxAllocated, allocated);
            outcome.MaxAllocatedOverFile = Math.Max(outcome.MaxAllocatedOverFile, allocated - AllocationFactor * file.Length);
            if (allocated > AllocationFactor * file.Length + FuzzHarness.AllocationSlack)
                Fail(outcome, file, $"iteration {i}: Load allocated {allocated} bytes for a file of {file.Length}");
            if (ms > HangMs) Fail(outcome, file, $"Load took {ms:F0} ms");
            outcome.MaxIterationMs = Math.Max(outcome.MaxIterationMs, ms);
            outcome.Iterations++;
            if (progress is not null && (i + 1) % 100_000 == 0)
                progress(string.Create(CultureInfo.InvariantCulture, $"{i + 1:N0} iterations, {clock.Elapsed.TotalSeconds:F0} s, failures {outcome.Failures.Count}"));
            if (outcome.Failures.Count >= 20) break;
        }
        outcome.Elapsed = clock.Elapsed;
        return outcome;
    }

    private static void Fail(FuzzOutcome outcome, byte[] file, string message) =>
        outcome.Failures.Add(message + " | input (base64): " + Convert.ToBase64String(file, 0, Math.Min(file.Length, 4096)));

    // ---- seeds: files written as CoreAudioML's save_model writes them ----

    private static List<Seed> Seeds() => new()
    {
        new("1 -> 4 skip", Json(Parameters(1, 4, 1, 1, 0, 1), 1, 4, 1, 1, skip: 1, headBias: true), Parameters(1, 4, 1, 1, 1, 0)),
        new("2 -> 3 x 2, no head bias", Json(Parameters(2, 3, 2, 1, 0, 2), 2, 3, 2, 1, skip: 0, headBias: false), Parameters(2, 3, 2, 1, 0, 0)),
        new("1 -> 2 -> 2 skip 2", Json(Parameters(2, 2, 1, 2, 0, 3), 2, 2, 1, 2, skip: 2, headBias: true), Parameters(2, 2, 1, 2, 2, 0)),
    };

    // ---- seeds: .nam files as Neural Amp Modeler exports an LSTM ----

    private static List<Seed> NamSeeds() => new()
    {
        new("nam 1 -> 3", Nam(1, 3, 1, 4), Parameters(1, 3, 1, 1, 0, 0, initial: true)),
        new("nam 1 -> 2 x 2", Nam(1, 2, 2, 5), Parameters(1, 2, 2, 1, 0, 0, initial: true)),
        new("nam 2 -> 2", Nam(2, 2, 1, 6), Parameters(2, 2, 1, 1, 0, 0, initial: true)),
    };

    private static byte[] Nam(int inputs, int hidden, int layers, int seed)
    {
        int count = hidden + 1;
        for (int k = 0; k < layers; k++) count += 4 * hidden * ((k == 0 ? inputs : hidden) + hidden) + 6 * hidden;
        var values = new float[count];
        new LstmRandom((ulong)seed).FillUniform(values, 1f);
        return Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{{\"version\": \"0.5.4\", \"metadata\": {{\"name\": \"fuzz\"}}, \"architecture\": \"LSTM\", \"config\": {{\"input_size\": {inputs}, \"hidden_size\": {hidden}, \"num_layers\": {layers}}}, ") +
            "\"weights\": [" + string.Join(", ", values.Select(x => ((double)x).ToString("R", CultureInfo.InvariantCulture))) + "], \"sample_rate\": 48000}");
    }

    // ---- seeds: RTNeural JSON as its Keras exporter and AIDA-X write it ----

    private static List<Seed> RTNeuralSeeds() => new()
    {
        new("rtneural 1 -> 3 -> 1, in_skip 1", RTNeural(1, 3, 1, 1, 7, "", activationLayer: false, skip: 1), Parameters(1, 3, 1, 1, 1, 0)),
        new("rtneural 2 -> 2 x 2 -> tanh 2", RTNeural(2, 2, 2, 2, 8, "tanh", activationLayer: true, skip: 0), Parameters(2, 2, 2, 2, 0, 0, activation: OutputActivation.Tanh)),
        new("rtneural 2 -> 3, no dense", RTNeural(2, 3, 1, 0, 9, "", activationLayer: false, skip: 0), Parameters(2, 3, 1, 0, 0, 0)),
    };

    private static byte[] RTNeural(int inputs, int hidden, int layers, int outputs, int seed, string activation, bool activationLayer, int skip)
    {
        var random = new LstmRandom((ulong)seed);
        string Matrix(int rows, int columns)
        {
            var v = new float[rows * columns];
            random.FillUniform(v, 1f);
            return "[" + string.Join(", ", Enumerable.Range(0, rows).Select(r => "[" + string.Join(", ", v.Skip(r * columns).Take(columns).Select(x => ((double)x).ToString("R", CultureInfo.InvariantCulture))) + "]")) + "]";
        }
        string Vector(int length) => Matrix(1, length)[1..^1];
        var list = new List<string>();
        for (int k = 0; k < layers; k++)
            list.Add($"{{\"type\": \"lstm\", \"activation\": \"tanh\", \"shape\": [null, null, {hidden}], \"weights\": [{Matrix(k == 0 ? inputs : hidden, 4 * hidden)}, {Matrix(hidden, 4 * hidden)}, {Vector(4 * hidden)}]}}");
        if (outputs > 0)
        {
            list.Add($"{{\"type\": \"dense\", \"activation\": \"{(activationLayer ? "" : activation)}\", \"shape\": [null, null, {outputs}], \"weights\": [{Matrix(hidden, outputs)}, {Vector(outputs)}]}}");
            if (activationLayer) list.Add($"{{\"type\": \"activation\", \"activation\": \"{activation}\", \"shape\": [null, null, {outputs}], \"weights\": []}}");
        }
        return Encoding.UTF8.GetBytes($"{{\"in_shape\": [null, null, {inputs}], " + (skip > 0 ? $"\"in_skip\": {skip}, \"out_gain\": -3.0, " : "") + $"\"layers\": [{string.Join(", ", list)}]}}");
    }

    private static LstmParameters Parameters(int i, int h, int layers, int o, int skip, int seed, bool initial = false, OutputActivation activation = OutputActivation.None)
    {
        var tensors = new List<(string, int, int)>();
        for (int k = 0; k < layers; k++)
        {
            tensors.Add(($"weight_ih_l{k}", 4 * h, k == 0 ? i : h));
            tensors.Add(($"weight_hh_l{k}", 4 * h, h));
            tensors.Add(($"bias_ih_l{k}", 4 * h, 0));
            tensors.Add(($"bias_hh_l{k}", 4 * h, 0));
            if (initial)
            {
                tensors.Add(($"initial_h_l{k}", h, 0));
                tensors.Add(($"initial_c_l{k}", h, 0));
            }
        }
        if (o > 0)
        {
            tensors.Add(("fc.weight", o, h));
            tensors.Add(("fc.bias", o, 0));
        }
        var p = new LstmParameters(tensors.ToArray()) { Skip = skip, OutputActivation = activation };
        if (seed != 0) new LstmRandom((ulong)seed).FillUniform(p.GetWritableValues(), 1f);
        return p;
    }

    private static byte[] Json(LstmParameters p, int inputs, int hidden, int layers, int outputs, int skip, bool headBias)
    {
        var b = new StringBuilder().Append(CultureInfo.InvariantCulture, $"{{\"model_data\": {{\"model\": \"SimpleRNN\", \"input_size\": {inputs}, \"skip\": {skip}, \"output_size\": {outputs}, \"unit_type\": \"LSTM\", \"num_layers\": {layers}, \"hidden_size\": {hidden}, \"bias_fl\": {(headBias ? "true" : "false")}}}, \"state_dict\": {{");
        b.Append(string.Join(", ", p.Tensors.Where(t => headBias || t.Name != "fc.bias").Select(t =>
        {
            float[] v = t.Values.ToArray();
            string Num(float x) => ((double)x).ToString("R", CultureInfo.InvariantCulture);
            string name = t.Name.StartsWith("fc.", StringComparison.Ordinal) ? "lin." + t.Name.Substring(3) : "rec." + t.Name;
            string list = t.Rank == 1 ? "[" + string.Join(", ", v.Select(Num)) + "]"
                : "[" + string.Join(", ", Enumerable.Range(0, t.Rows).Select(r => "[" + string.Join(", ", v.Skip(r * t.Columns).Take(t.Columns).Select(Num)) + "]")) + "]";
            return $"\"{name}\": {list}";
        })));
        return Encoding.UTF8.GetBytes(b.Append("}}").ToString());
    }

    // ---- mutations ----

    private static readonly string[] Tokens =
    {
        "0", "-1", "20", "1e300", "-1e-300", "1e999", "NaN", "Infinity", "4294967296", "2.5", "\"20\"", "null", "true", "false",
        "[", "]", "{", "}", "[]", "{}", "[[]]", ",", ":", "\"GRU\"", "\"RecNet\"", "\"rec.weight_ih_l0\"", "\"lin.bias\"",
        "\"model_data\"", "\"state_dict\"", "\"skip\"", "\"bias_fl\"", "[[1.0, 2.0]]", "\"\\ud800\"",
        "\"LSTM\"", "\"WaveNet\"", "\"architecture\"", "\"config\"", "\"weights\"", "\"hidden_size\"", "\"num_layers\"", "\"sample_rate\"",
        "\"lstm\"", "\"gru\"", "\"dense\"", "\"activation\"", "\"tanh\"", "\"relu\"", "\"layers\"", "\"in_shape\"", "\"in_skip\"", "\"shape\"", "[null, null, 3]",
    };

    private static (byte[], string) Mutate(byte[] file, byte[] other, Random random)
    {
        if (file.Length == 0) return (Encoding.UTF8.GetBytes(Tokens[random.Next(Tokens.Length)]), "token (empty file)");
        switch (random.Next(6))
        {
            case 0:
            {
                var copy = (byte[])file.Clone();
                int at = random.Next(copy.Length);
                copy[at] ^= (byte)(1 << random.Next(8));
                return (copy, "bit flip");
            }
            case 1:
            {
                var copy = (byte[])file.Clone();
                copy[random.Next(copy.Length)] = (byte)random.Next(256);
                return (copy, "byte change");
            }
            case 2: return (file.AsSpan(0, random.Next(file.Length + 1)).ToArray(), "truncation");
            case 3:
            {
                int a = random.Next(file.Length + 1), b = random.Next(other.Length + 1);
                return ([.. file.AsSpan(0, a), .. other.AsSpan(b)], "splice");
            }
            default:
            {
                // replace one JSON token (a number, literal or string) or insert one at a structural character
                string text = Encoding.UTF8.GetString(file);
                int at = random.Next(text.Length);
                int end = at;
                while (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] is '-' or '.' or '+' or '_')) end++;
                string token = Tokens[random.Next(Tokens.Length)];
                return (Encoding.UTF8.GetBytes(text.Substring(0, at) + token + text.Substring(end)), end > at ? "token replaced" : "token inserted");
            }
        }
    }
}
