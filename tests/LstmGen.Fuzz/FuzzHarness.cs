using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using LstmGen.Weights;

namespace LstmGen.Fuzz;

/// <summary>What a fuzzing run saw.</summary>
public sealed class FuzzOutcome
{
    public long Iterations { get; set; }
    public long Loaded { get; set; }
    public long ParsedByGeneralReader { get; set; }
    public Dictionary<WeightsErrorKind, long> Rejected { get; } = new();
    public Dictionary<string, long> Mutations { get; } = new();
    public List<string> Failures { get; } = new();
    public long MaxAllocatedOverFile { get; set; } = long.MinValue;
    public long MaxAllocated { get; set; }
    public double MaxIterationMs { get; set; }
    public TimeSpan Elapsed { get; set; }
    public long LargestFile { get; set; }
    /// <summary>The allocation bound is AllocationFactor × the file's length + FuzzHarness.AllocationSlack.</summary>
    public long AllocationFactor { get; set; } = 1;

    public string Summary()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"iterations {Iterations:N0} in {Elapsed.TotalSeconds:F1} s ({Iterations / Math.Max(1e-9, Elapsed.TotalSeconds):N0}/s); loaded {Loaded:N0}; other exceptions, hangs, over-allocations: {Failures.Count}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"largest allocation in one load {MaxAllocated:N0} bytes; largest (allocation - {AllocationFactor} × file length) {MaxAllocatedOverFile:N0} bytes (bound {FuzzHarness.AllocationSlack:N0}); slowest iteration {MaxIterationMs:F2} ms; largest file {LargestFile:N0} bytes");
        foreach (var (kind, n) in Sorted(Rejected)) sb.AppendLine(CultureInfo.InvariantCulture, $"  rejected {kind,-20} {n,10:N0}");
        foreach (var (m, n) in Sorted(Mutations)) sb.AppendLine(CultureInfo.InvariantCulture, $"  mutation {m,-20} {n,10:N0}");
        foreach (var f in Failures) sb.AppendLine("  FAILURE " + f);
        return sb.ToString();
    }

    private static List<KeyValuePair<TKey, long>> Sorted<TKey>(Dictionary<TKey, long> d) where TKey : notnull
    {
        var list = new List<KeyValuePair<TKey, long>>(d);
        list.Sort((a, b) => b.Value.CompareTo(a.Value));
        return list;
    }
}

/// <summary>
/// Property-based mutation fuzzing of <see cref="Safetensors.Load(ReadOnlySpan{byte}, LstmParameters, SafetensorsOptions?)"/>
/// and <see cref="SafetensorsFile.Parse"/>: valid files (F32, F16, BF16, with and without module prefix and metadata)
/// are mutated by 1 to 4 random operators (bit flips, byte changes, truncation, extension, length-field edits, JSON-aware
/// header edits, splices of two files) and loaded. The property: the load succeeds or throws
/// <see cref="WeightsFormatException"/>; nothing else is thrown, no iteration hangs (limit 2 s), and a load allocates at
/// most the file's length plus <see cref="AllocationSlack"/> bytes.
/// </summary>
public static class FuzzHarness
{
    /// <summary>Allowed allocation beyond the file's length per load: exceptions with their messages and stack traces, and the model's expected names.</summary>
    public const long AllocationSlack = 16 * 1024;

    private const double HangMs = 2000;

    private sealed record Seed(string Name, byte[] File, LstmParameters Target);

    public static FuzzOutcome Run(long count, ulong seed, Action<string>? progress = null)
    {
        var seeds = Seeds();
        var random = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        var outcome = new FuzzOutcome();
        var clock = Stopwatch.StartNew();
        var options = new[]
        {
            new SafetensorsOptions(),
            new SafetensorsOptions { AllowExtraTensors = true, RejectNonFinite = false },
            new SafetensorsOptions { LstmPrefix = "lstm." },
        };
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
            var option = options[random.Next(options.Length)];

            long t0 = Stopwatch.GetTimestamp();
            long before = GC.GetAllocatedBytesForCurrentThread();
            Exception? error = null;
            try
            {
                Safetensors.Load(file, s.Target, option);
                outcome.Loaded++;
            }
            catch (Exception e) { error = e; }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            Record(outcome, error, file, "Load");
            outcome.MaxAllocated = Math.Max(outcome.MaxAllocated, allocated);
            outcome.MaxAllocatedOverFile = Math.Max(outcome.MaxAllocatedOverFile, allocated - file.Length);
            if (allocated > file.Length + AllocationSlack)
                Fail(outcome, file, $"iteration {i}: Load allocated {allocated} bytes for a file of {file.Length}");
            if (ms > HangMs) Fail(outcome, file, $"Load took {ms:F0} ms");
            outcome.MaxIterationMs = Math.Max(outcome.MaxIterationMs, ms);

            if ((i & 3) == 0)                                  // the general reader too, on a quarter of the inputs
            {
                error = null;
                t0 = Stopwatch.GetTimestamp();
                try { SafetensorsFile.Parse(file); outcome.ParsedByGeneralReader++; }
                catch (Exception e) { error = e; }
                if (error is not null and not WeightsFormatException) Fail(outcome, file, "SafetensorsFile.Parse threw " + error.GetType().Name + ": " + error.Message);
                ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (ms > HangMs) Fail(outcome, file, $"Parse took {ms:F0} ms");
                outcome.MaxIterationMs = Math.Max(outcome.MaxIterationMs, ms);
            }
            outcome.Iterations++;
            if (progress is not null && (i + 1) % 100_000 == 0)
                progress(string.Create(CultureInfo.InvariantCulture, $"{i + 1:N0} iterations, {clock.Elapsed.TotalSeconds:F0} s, failures {outcome.Failures.Count}"));
            if (outcome.Failures.Count >= 20) break;
        }
        outcome.Elapsed = clock.Elapsed;
        return outcome;
    }

    /// <summary>Loads one input into each seed's target, printing the outcome and the bytes allocated (for a failure's base64 input).</summary>
    public static int Repro(byte[] file)
    {
        foreach (var s in Seeds())
            for (int round = 0; round < 3; round++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                string result = "loaded";
                try { Safetensors.Load(file, s.Target); }
                catch (Exception e) { result = e.GetType().Name + ": " + e.Message; }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Console.WriteLine($"{s.Name}, round {round}: {allocated} bytes allocated for a file of {file.Length}: {result}");
            }
        return 0;
    }

    private static void Record(FuzzOutcome outcome, Exception? error, byte[] file, string what)
    {
        if (error is null) return;
        if (error is WeightsFormatException w)
        {
            outcome.Rejected[w.Kind] = outcome.Rejected.GetValueOrDefault(w.Kind) + 1;
            if (w.Field is null || string.IsNullOrEmpty(w.Message)) Fail(outcome, file, "exception without field or message");
        }
        else Fail(outcome, file, what + " threw " + error.GetType().Name + ": " + error.Message + " at " + error.StackTrace);
    }

    private static void Fail(FuzzOutcome outcome, byte[] file, string message) =>
        outcome.Failures.Add(message + " | input (base64): " + Convert.ToBase64String(file, 0, Math.Min(file.Length, 4096)));

    // ---- seeds ----

    private static List<Seed> Seeds()
    {
        var list = new List<Seed>();
        var stacked = Parameters(3, 5, 2, 2, bias: true, 1);
        var small = Parameters(1, 1, 1, 0, bias: true, 2);
        var noBias = Parameters(2, 3, 1, 1, bias: false, 3);
        list.Add(new("stacked F32", Safetensors.ToBytes(stacked), Parameters(3, 5, 2, 2, true, 0)));
        list.Add(new("stacked F16 lstm.", Safetensors.ToBytes(stacked, new SafetensorsSaveOptions { LstmPrefix = "lstm.", DType = SafetensorsDType.F16, Metadata = new Dictionary<string, string> { ["format"] = "pt" } }), Parameters(3, 5, 2, 2, true, 0)));
        list.Add(new("stacked BF16 model.rnn.", Safetensors.ToBytes(stacked, new SafetensorsSaveOptions { LstmPrefix = "model.rnn.", HeadPrefix = "fc.", DType = SafetensorsDType.BF16 }), Parameters(3, 5, 2, 2, true, 0)));
        list.Add(new("stacked F32 rec./lin. (GuitarML's names: both prefixes detected)", Safetensors.ToBytes(stacked, new SafetensorsSaveOptions { LstmPrefix = "rec.", HeadPrefix = "lin." }), Parameters(3, 5, 2, 2, true, 0)));
        list.Add(new("small F32", Safetensors.ToBytes(small), Parameters(1, 1, 1, 0, true, 0)));
        list.Add(new("no-bias F32 lstm.", Safetensors.ToBytes(noBias, new SafetensorsSaveOptions { LstmPrefix = "lstm." }), Parameters(2, 3, 1, 1, false, 0)));
        return list;
    }

    private static LstmParameters Parameters(int i, int h, int layers, int o, bool bias, int seed)
    {
        var tensors = new List<(string, int, int)>();
        for (int k = 0; k < layers; k++)
        {
            tensors.Add(($"weight_ih_l{k}", 4 * h, k == 0 ? i : h));
            tensors.Add(($"weight_hh_l{k}", 4 * h, h));
            if (bias) { tensors.Add(($"bias_ih_l{k}", 4 * h, 0)); tensors.Add(($"bias_hh_l{k}", 4 * h, 0)); }
        }
        if (o > 0) { tensors.Add(("fc.weight", o, h)); tensors.Add(("fc.bias", o, 0)); }
        var p = new LstmParameters(tensors.ToArray());
        if (seed != 0) new LstmRandom((ulong)seed).FillUniform(p.GetWritableValues(), 1f);
        return p;
    }

    // ---- mutations ----

    private static readonly byte[] Interesting = "\"{}[],:0123456789-.eE\\ \t\nnutfal"u8.ToArray();
    private static readonly string[] Numbers = { "0", "1", "-1", "4", "8", "16", "20", "64", "1.5", "1e3", "4294967296", "9223372036854775807", "9223372036854775808", "18446744073709551616", "4611686018427387904", "-0", "00", "2e", "99999999999999999999999" };
    private static readonly string[] DTypes = { "F32", "F16", "BF16", "F64", "I8", "U8", "BOOL", "I64", "F8_E4M3", "f32", "F3", "", "F32\\u0000" };
    private static readonly string[] Fragments = { "{", "}", "[", "]", ",", ":", "\"", "null", "true", "{}", "[]", "\"__metadata__\":{},", "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},", "\\u00e9", "\\ud800", "\u00ff", "\"dtype\":\"F32\",", "\"shape\":[],", "\"data_offsets\":[0,0]," };

    private static (byte[], string) Mutate(byte[] file, byte[] other, Random random)
    {
        switch (random.Next(10))
        {
            case 0: return (BitFlip(file, random), "bit flip");
            case 1: return (ByteSet(file, random), "byte change");
            case 2: return (file.AsSpan(0, random.Next(file.Length + 1)).ToArray(), "truncation");
            case 3: return (Extend(file, random), "extension");
            case 4: return (LengthEdit(file, random), "length field");
            case 5: return (Splice(file, other, random), "splice");
            default: return (HeaderEdit(file, random, out string kind), kind);
        }
    }

    private static int HeaderEnd(byte[] file) =>
        file.Length < 8 ? file.Length : (int)Math.Min((ulong)file.Length, 8 + Math.Min(BitConverter.ToUInt64(file, 0), (ulong)file.Length));

    private static int Position(byte[] file, Random random)
    {
        // 70% of the positions fall in the length field and header, where the parser's decisions are.
        int end = HeaderEnd(file);
        return random.NextDouble() < 0.7 && end > 0 ? random.Next(end) : random.Next(file.Length);
    }

    private static byte[] BitFlip(byte[] file, Random random)
    {
        if (file.Length == 0) return file;
        var copy = (byte[])file.Clone();
        copy[Position(copy, random)] ^= (byte)(1 << random.Next(8));
        return copy;
    }

    private static byte[] ByteSet(byte[] file, Random random)
    {
        if (file.Length == 0) return file;
        var copy = (byte[])file.Clone();
        int p = Position(copy, random);
        copy[p] = random.Next(3) switch { 0 => Interesting[random.Next(Interesting.Length)], 1 => (byte)random.Next(256), _ => (byte)(random.Next(2) == 0 ? 0x80 + random.Next(64) : 0xC0 + random.Next(64)) };
        return copy;
    }

    private static byte[] Extend(byte[] file, Random random)
    {
        var extra = new byte[random.Next(1, 64)];
        random.NextBytes(extra);
        var copy = new byte[file.Length + extra.Length];
        file.CopyTo(copy, 0);
        extra.CopyTo(copy, file.Length);
        return copy;
    }

    private static byte[] LengthEdit(byte[] file, Random random)
    {
        if (file.Length < 8) return file;
        var copy = (byte[])file.Clone();
        ulong n = BitConverter.ToUInt64(copy, 0);
        ulong value = random.Next(8) switch
        {
            0 => n + (ulong)random.Next(1, 16),
            1 => n - (ulong)random.Next(1, 16),
            2 => (ulong)file.Length,
            3 => 0,
            4 => 100_000_001,
            5 => ulong.MaxValue - (ulong)random.Next(16),
            6 => (ulong)random.NextInt64(),
            _ => (ulong)(file.Length - 8),
        };
        BitConverter.TryWriteBytes(copy.AsSpan(0, 8), value);
        return copy;
    }

    private static byte[] Splice(byte[] a, byte[] b, Random random)
    {
        int cutA = random.Next(a.Length + 1), cutB = random.Next(b.Length + 1);
        var copy = new byte[cutA + b.Length - cutB];
        a.AsSpan(0, cutA).CopyTo(copy);
        b.AsSpan(cutB).CopyTo(copy.AsSpan(cutA));
        return copy;
    }

    /// <summary>Edits the header as text (numbers, dtypes, names, fragments, deletions, swaps), then usually fixes the length field.</summary>
    private static byte[] HeaderEdit(byte[] file, Random random, out string kind)
    {
        int end = HeaderEnd(file);
        if (end <= 8) { kind = "header edit (none)"; return file; }
        string header = Encoding.Latin1.GetString(file, 8, end - 8);
        string edited;
        switch (random.Next(7))
        {
            case 0:
                kind = "header number";
                edited = ReplaceToken(header, random, c => char.IsAsciiDigit(c), Numbers[random.Next(Numbers.Length)]);
                break;
            case 1:
                kind = "header dtype";
                int d = header.IndexOf("\"dtype\":\"", random.Next(header.Length), StringComparison.Ordinal);
                if (d < 0) d = header.IndexOf("\"dtype\":\"", StringComparison.Ordinal);
                if (d < 0) { edited = header; break; }
                int s = d + 9, e = header.IndexOf('"', s);
                edited = e < 0 ? header : header.Substring(0, s) + DTypes[random.Next(DTypes.Length)] + header.Substring(e);
                break;
            case 2:
                kind = "header name";
                edited = ReplaceToken(header, random, c => char.IsAsciiLetterLower(c) || c == '_', random.Next(2) == 0 ? "weight_ih_l0" : "fc.x");
                break;
            case 3:
                kind = "header fragment";
                int at = random.Next(header.Length + 1);
                edited = header.Insert(at, Fragments[random.Next(Fragments.Length)]);
                break;
            case 4:
                kind = "header deletion";
                int from = random.Next(header.Length), length = random.Next(1, Math.Min(40, header.Length - from) + 1);
                edited = header.Remove(from, length);
                break;
            case 5:
                kind = "header offsets swap";
                edited = SwapOffsets(header, random);
                break;
            default:
                kind = "header shape";
                int sh = header.IndexOf("\"shape\":[", random.Next(header.Length), StringComparison.Ordinal);
                if (sh < 0) sh = header.IndexOf("\"shape\":[", StringComparison.Ordinal);
                if (sh < 0) { edited = header; break; }
                int close = header.IndexOf(']', sh);
                if (close < 0) { edited = header; break; }
                string[] dims = header.Substring(sh + 9, close - sh - 9).Split(',');
                Array.Reverse(dims);
                string shape = random.Next(3) switch { 0 => string.Join(",", dims), 1 => string.Join(",", dims) + ",1", _ => "" };
                edited = header.Substring(0, sh + 9) + shape + header.Substring(close);
                break;
        }
        byte[] h = Encoding.Latin1.GetBytes(edited);
        var copy = new byte[8 + h.Length + (file.Length - end)];
        ulong length64 = random.Next(5) == 0 ? BitConverter.ToUInt64(file, 0) : (ulong)h.Length;   // usually keep the length consistent
        BitConverter.TryWriteBytes(copy.AsSpan(0, 8), length64);
        h.CopyTo(copy, 8);
        file.AsSpan(end).CopyTo(copy.AsSpan(8 + h.Length));
        return copy;
    }

    private static string ReplaceToken(string text, Random random, Func<char, bool> inToken, string replacement)
    {
        int start = random.Next(text.Length);
        while (start < text.Length && !inToken(text[start])) start++;
        if (start == text.Length) return text;
        while (start > 0 && inToken(text[start - 1])) start--;
        int end = start;
        while (end < text.Length && inToken(text[end])) end++;
        return text.Substring(0, start) + replacement + text.Substring(end);
    }

    private static string SwapOffsets(string header, Random random)
    {
        var found = new List<(int Start, int End)>();
        for (int p = header.IndexOf("\"data_offsets\":[", StringComparison.Ordinal); p >= 0; p = header.IndexOf("\"data_offsets\":[", p + 1, StringComparison.Ordinal))
        {
            int close = header.IndexOf(']', p);
            if (close < 0) break;
            found.Add((p + 16, close));
        }
        if (found.Count < 2) return header;
        int a = random.Next(found.Count), b = random.Next(found.Count);
        if (a == b) return header;
        if (a > b) (a, b) = (b, a);
        if (found[a].End > found[b].Start) return header;           // a damaged header: the two arrays are not separate
        string va = header.Substring(found[a].Start, found[a].End - found[a].Start), vb = header.Substring(found[b].Start, found[b].End - found[b].Start);
        return header.Substring(0, found[a].Start) + vb + header.Substring(found[a].End, found[b].Start - found[a].End) + va + header.Substring(found[b].End);
    }
}
