using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using LstmGen.Tests.Oracles;
using Perfolizer.Horology;

namespace LstmGen.Bench;

public static class Program
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Internal: load libtorch, check one nn.LSTM step, exit 0 when it is right (see <see cref="OneDnn"/>).</summary>
    private const string OneDnnProbe = "--onednn-probe";

    public static int Main(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine("""
                LstmGen benchmarks (ns per time step; µs per training step for shape T; see bench/README.md).
                  dotnet run -c Release --project bench/LstmGen.Bench -- [--short] [--filter <glob>...] [other BenchmarkDotNet options]
                  --short   a very short job (CI smoke run: checks every benchmark validates and runs; numbers are rough)
                  --filter  BenchmarkDotNet glob over Namespace.Class.Method, e.g. '*A_1x16x1*', '*LstmGen*' or '*Train*' (default: all)
                  --no-avx2 on an AVX-512 machine, skip the second pass that runs the LstmGen shape rows again on the AVX2
                            path (a child process with DOTNET_EnableAVX512=0), reported beside the AVX-512 rows
                The machine's limits (clock, FMA peak, L1/L2/L3 load bandwidth) are measured first, in every run.
                Results: bench/results/latest.md + latest.svg (--short: latest-short.*; --filter: latest-filtered.*): summary,
                         bounds, chart + BenchmarkDotNet's tables; BenchmarkDotNet's own logs and exports in bench/results/BenchmarkDotNet.Artifacts/.
                """);
            return 0;
        }

        // libtorch's nn.LSTM on some CPUs (AMD Zen 5) returns zeros on oneDNN's AVX-512 path, and oneDNN reads its
        // instruction-set cap only from the environment the process started with. So: a child process checks the
        // uncapped path, and only if it is wrong does the suite run again with DNNL_MAX_CPU_ISA=AVX2 (the results header
        // records which). On a CPU without the bug libtorch keeps its best path, so the peer is not slowed for nothing.
        if (args.Contains(OneDnnProbe))
        {
            // TorchPeer's load probe runs the hand-worked LSTM step (OneDnn.CheckLstm) after loading libtorch.
            try { TorchPeer.EnsureAvailable(); return 0; }
            catch (InvalidOperationException ex) { Console.WriteLine(ex.Message); return OneDnn.LstmWrongExitCode; }
        }
        if (OneDnn.RestartCappedIfBroken(args, OneDnnProbe) is int exitCode) return exitCode;

        bool isShort = args.Contains("--short");
        int childAt = Array.IndexOf(args, Avx2Child);
        string? childOutput = childAt >= 0 && childAt + 1 < args.Length ? args[childAt + 1] : null;
        bool avx2Pass = !args.Contains(NoAvx2) && childOutput is null && Vector512.IsHardwareAccelerated;
        var bdnArgs = args.Where((a, k) => a != "--short" && a != NoAvx2 && (childAt < 0 || (k != childAt && k != childAt + 1))).ToList();
        // Only a full run of the whole suite writes latest.md: a filtered run would otherwise replace the published
        // results with a few rows.
        bool isFiltered = FilterPatterns(bdnArgs) is { } patterns && !patterns.All(p => p == "*");
        if (FilterPatterns(bdnArgs) is null)
            bdnArgs.AddRange(new[] { "--filter", "*" });   // no filter: run everything (BenchmarkSwitcher would otherwise ask)

        string resultsDir = ResultsDirectory();
        Directory.CreateDirectory(resultsDir);
        TorchPeer.EnsureAvailable();   // fail now, with the patch hint, rather than in every GlobalSetup
        OnnxPeer.EnsureAvailable();

        string machine = MachineDescription(isShort);
        Console.WriteLine(machine);

        // In-process toolchain: the benchmarks run inside this process, whose build output has the GLIBCXX-patched
        // libLibTorchSharp.so (see README.md). The default toolchain would build and run a separate child project.
        Job job = isShort
            ? Job.Default.WithId("Short").WithWarmupCount(8).WithIterationCount(3).WithIterationTime(TimeInterval.FromMilliseconds(50))
            : Job.Default.WithId("Full").WithWarmupCount(6).WithIterationCount(25).WithIterationTime(TimeInterval.FromMilliseconds(250));
        job = job.WithToolchain(InProcessEmitToolchain.Instance).WithGcServer(false).WithGcConcurrent(false);

        var config = ManualConfig.Create(DefaultConfig.Instance)
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithArtifactsPath(Path.Combine(resultsDir, "BenchmarkDotNet.Artifacts"))
            .WithSummaryStyle(SummaryStyle.Default.WithTimeUnit(TimeUnit.Nanosecond));

        if (childOutput is not null) return RunAvx2Child(bdnArgs, config, childOutput);

        // The machine's limits first (whatever the filter): the bounds of every shape are derived from them, from each
        // limit's fastest iteration, so even the short job measures 15 iterations of them (≈ 5 s).
        var limitsConfig = isShort
            ? ManualConfig.Create(DefaultConfig.Instance).AddJob(job.WithIterationCount(15))
                .WithArtifactsPath(Path.Combine(resultsDir, "BenchmarkDotNet.Artifacts"))
                .WithSummaryStyle(SummaryStyle.Default.WithTimeUnit(TimeUnit.Nanosecond))
            : config;
        Summary limitsSummary = BenchmarkRunner.Run(typeof(Limits), limitsConfig);
        var limits = MachineLimits.From(limitsSummary);
        Console.WriteLine(limits.Describe());

        var benchmarkTypes = typeof(Program).Assembly.GetTypes()
            .Where(t => t.IsClass && !t.IsAbstract && t.IsPublic && t != typeof(Limits)
                        && t.GetMethods().Any(m => m.IsDefined(typeof(BenchmarkDotNet.Attributes.BenchmarkAttribute), false)))
            .ToArray();
        var summaries = BenchmarkSwitcher.FromTypes(benchmarkTypes).Run(bdnArgs.ToArray(), config).ToArray();

        var rows = Collect(summaries);
        bool avx2Failed = false;
        if (avx2Pass && rows.Any(r => r.Order <= 1))
        {
            var avx2Rows = RunAvx2Pass(args);
            avx2Failed = avx2Rows is null;
            rows = rows.Concat(avx2Rows ?? new List<Row>()).OrderBy(r => r.Shape, StringComparer.Ordinal).ThenBy(r => r.Order).ToList();
        }
        var trainRows = CollectTraining(summaries);
        var shapes = ShapeInfos();
        string table = (rows.Count > 0 || trainRows.Count == 0 ? SummaryTable(rows, shapes, limits) + Environment.NewLine + RatioTable(rows) : "")
                       + (trainRows.Count > 0 ? (rows.Count > 0 ? Environment.NewLine : "") + TrainingTable(trainRows) : "")
                       + VariantTable(summaries);
        string limitsTable = limits.Table() + Environment.NewLine + BoundsTable(rows, shapes, limits);

        string stem = isShort ? "latest-short" : isFiltered ? "latest-filtered" : "latest";
        string svgPath = Path.Combine(resultsDir, stem + ".svg");
        bool chart = rows.Count > 0;
        if (chart) File.WriteAllText(svgPath, Chart(rows, shapes, limits, isShort));

        var md = new StringBuilder();
        md.AppendLine("# LstmGen benchmark results").AppendLine();
        md.AppendLine("The machine is a shared, noisy 2-core VM: every figure is a BenchmarkDotNet **median**; compare ratios within " +
                      "this run, not absolute numbers across runs (see `bench/README.md`).").AppendLine();
        md.AppendLine("```").AppendLine(machine.TrimEnd()).AppendLine("```").AppendLine();
        md.AppendLine(limitsTable).AppendLine();
        md.AppendLine(table).AppendLine();
        if (chart) md.AppendLine($"![ns per step against hidden size]({stem}.svg)").AppendLine();
        md.AppendLine("## BenchmarkDotNet tables").AppendLine();
        foreach (var summary in summaries.Prepend(limitsSummary))
        {
            var logger = new AccumulationLogger();
            MarkdownExporter.GitHub.ExportToLog(summary, logger);
            md.AppendLine(logger.GetLog()).AppendLine();
        }
        // A smoke run must not overwrite the real results: its numbers are rough (few iterations; the JIT may still be tiering).
        // Nor must a filtered run: it has only some of the rows.
        string latest = Path.Combine(resultsDir, stem + ".md");
        File.WriteAllText(latest, md.ToString());

        Console.WriteLine();
        Console.WriteLine(limitsTable);
        Console.WriteLine(table);
        Console.WriteLine($"Written: {latest}" + (chart ? $", {svgPath}" : ""));

        bool failed = summaries.Length == 0 || avx2Failed
                      || summaries.Prepend(limitsSummary).Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success || r.ResultStatistics is null));
        if (failed) Console.Error.WriteLine("Some benchmarks failed (validation, setup or run): see the log above.");
        return failed ? 1 : 0;
    }

    /// <summary>Issue 6's rows (classes V_*): median ns per operation (one time step, of all streams for the batch rows) and bytes allocated.</summary>
    private static string VariantTable(IEnumerable<Summary> summaries)
    {
        var reports = summaries.SelectMany(s => s.Reports).Where(r => r.BenchmarkCase.Descriptor.Type.Name.StartsWith("V_", StringComparison.Ordinal)).ToList();
        if (reports.Count == 0) return "";
        var sb = new StringBuilder();
        sb.AppendLine().AppendLine("## Layer variants: median ns per time step (batch rows: one step of all 8 streams)").AppendLine();
        sb.AppendLine("| benchmark | row | median ns | vs the first row | allocated B/op |");
        sb.AppendLine("|---|---|---:|---:|---:|");
        foreach (var group in reports.GroupBy(r => r.BenchmarkCase.Descriptor.Type.Name))
        {
            double? first = null;
            foreach (var r in group)
            {
                double? median = r.ResultStatistics?.Median;
                first ??= median;
                var gc = r.GcStats;
                string bytes = gc.TotalOperations > 0 ? ((double)gc.GetTotalAllocatedBytes(true)! / gc.TotalOperations).ToString("F0", CultureInfo.InvariantCulture) : "?";
                sb.AppendLine($"| {group.Key} | {r.BenchmarkCase.Descriptor.WorkloadMethod.Name} | {(median is { } m ? m.ToString("F0", CultureInfo.InvariantCulture) : "failed")} | " +
                              $"{(median is { } m2 && first is { } f && f > 0 ? (m2 / f).ToString("F2", CultureInfo.InvariantCulture) + "×" : "")} | {bytes} |");
            }
        }
        return sb.ToString();
    }

    /// <summary>The <c>--filter</c> globs given (null when there is no filter option).</summary>
    private static List<string>? FilterPatterns(List<string> args)
    {
        List<string>? patterns = null;
        for (int k = 0; k < args.Count; k++)
        {
            if (args[k].StartsWith("--filter=", StringComparison.Ordinal)) (patterns ??= new()).Add(args[k]["--filter=".Length..]);
            else if (args[k] is "--filter" or "-f")
            {
                patterns ??= new();
                while (k + 1 < args.Count && !args[k + 1].StartsWith('-')) patterns.Add(args[++k]);
            }
        }
        return patterns;
    }

    private sealed record Row(string Shape, string System, int Order, bool Streaming, double? MedianNs, double? BytesPerStep, double? BytesPerInvoke);

    private static string TorchThreads => $"default threads ({TorchPeer.DefaultThreads})";
    private static string OrtThreads => $"default intra-op threads ({OnnxPeer.DefaultIntraOpThreads?.ToString(Inv) ?? "?"})";

    /// <summary>Every inference row: method, label, mode, short label (ratio table), chart colour and dash.</summary>
    private static readonly (string Method, string System, bool Streaming, string Short, string Color, string? Dash)[] Systems =
    {
        (nameof(ShapeBenchmark.LstmGenStreaming), "LstmGen streaming (Step)", true, "LstmGen streaming", "#d62728", null),
        (nameof(ShapeBenchmark.LstmGenSequence), "LstmGen whole sequence (Forward)", false, "LstmGen whole seq", "#ff7f0e", null),
        (nameof(ShapeBenchmark.TorchSequence), "torch nn.LSTM whole sequence, 1 thread", false, "torch seq 1t", "#1f77b4", null),
        (nameof(ShapeBenchmark.TorchSequenceDefaultThreads), "torch nn.LSTM whole sequence, " + TorchThreads, false,
            $"torch seq {TorchPeer.DefaultThreads}t", "#1f77b4", "6 4"),
        (nameof(ShapeBenchmark.OrtSequence), "ORT whole sequence (one Run), 1 thread", false, "ORT seq 1t", "#2ca02c", null),
        (nameof(ShapeBenchmark.OrtSequenceDefaultThreads), "ORT whole sequence (one Run), " + OrtThreads, false,
            $"ORT seq {OnnxPeer.DefaultIntraOpThreads?.ToString(Inv) ?? "?"}t", "#2ca02c", "6 4"),
        (nameof(ShapeBenchmark.TorchPerStep), "torch nn.LSTMCell per step, 1 thread", true, "torch step 1t", "#17becf", null),
        (nameof(ShapeBenchmark.TorchPerStepDefaultThreads), "torch nn.LSTMCell per step, " + TorchThreads, true,
            $"torch step {TorchPeer.DefaultThreads}t", "#17becf", "6 4"),
        (nameof(ShapeBenchmark.OrtPerStep), "ORT one step per Run, 1 thread", true, "ORT step 1t", "#9467bd", null),
        (nameof(ShapeBenchmark.OrtPerStepDefaultThreads), "ORT one step per Run, " + OrtThreads, true,
            $"ORT step {OnnxPeer.DefaultIntraOpThreads?.ToString(Inv) ?? "?"}t", "#9467bd", "6 4"),
        (nameof(ShapeBenchmark.NaiveStreaming), "naive C# per step", true, "naive C#", "#7f7f7f", null),
        // the same two LstmGen rows on the AVX2 path of an AVX-512 machine (RunAvx2Pass); their ratio is to the AVX-512 rows
        (nameof(ShapeBenchmark.LstmGenStreaming) + Avx2Suffix, "LstmGen streaming (Step), AVX2 path", true, "LstmGen step AVX2", "#d62728", "2 3"),
        (nameof(ShapeBenchmark.LstmGenSequence) + Avx2Suffix, "LstmGen whole sequence (Forward), AVX2 path", false, "LstmGen seq AVX2", "#ff7f0e", "2 3"),
    };

    private const string NoAvx2 = "--no-avx2";
    /// <summary>Internal: the AVX2 pass's child process, followed by the file it writes its rows to.</summary>
    private const string Avx2Child = "--avx2-child";
    private const string Avx2Suffix = "Avx2";

    /// <summary>
    /// The AVX2 pass: this program again, in a child process with <c>DOTNET_EnableAVX512=0</c> (so the generated models
    /// take their Vector256 path, as on an AVX2-only CPU or a Native AOT x64-v3 build), running the LstmGen rows of the
    /// shapes the filter selected (category <see cref="ShapeBenchmark.LstmGenCategory"/>). Null when the child failed.
    /// </summary>
    private static List<Row>? RunAvx2Pass(string[] args)
    {
        string? self = Environment.ProcessPath;
        if (self is null) return null;
        bool isHost = Path.GetFileNameWithoutExtension(self) == "dotnet";
        string output = Path.Combine(Path.GetTempPath(), $"lstmgen-avx2-{Environment.ProcessId}.tsv");
        var psi = new System.Diagnostics.ProcessStartInfo(self) { UseShellExecute = false };
        if (isHost) psi.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (string a in args.Where(a => a != NoAvx2)) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(Avx2Child);
        psi.ArgumentList.Add(output);
        psi.Environment["DOTNET_EnableAVX512"] = "0";
        Console.WriteLine($"AVX2 pass: {self} ... {Avx2Child} {output} with DOTNET_EnableAVX512=0");
        using var child = System.Diagnostics.Process.Start(psi)!;
        child.WaitForExit();
        if (child.ExitCode != 0 || !File.Exists(output))
        {
            Console.Error.WriteLine($"The AVX2 pass failed (exit code {child.ExitCode}).");
            return null;
        }
        var rows = new List<Row>();
        foreach (string line in File.ReadLines(output))
        {
            string[] f = line.Split('\t');
            int order = Array.FindIndex(Systems, x => x.Method == f[1] + Avx2Suffix);
            static double? D(string v) => v.Length == 0 ? null : double.Parse(v, Inv);
            rows.Add(new Row(f[0], Systems[order].System, order, Systems[order].Streaming, D(f[2]), D(f[3]), D(f[4])));
        }
        File.Delete(output);
        return rows;
    }

    /// <summary>The child side of <see cref="RunAvx2Pass"/>: the LstmGen rows of the filtered shapes, written as TSV.</summary>
    private static int RunAvx2Child(List<string> bdnArgs, IConfig config, string output)
    {
        if (Vector512.IsHardwareAccelerated || !Vector256.IsHardwareAccelerated)
        {
            Console.Error.WriteLine("The AVX2 pass needs Vector256 without Vector512 (DOTNET_EnableAVX512=0 on an AVX-512 machine).");
            return 1;
        }
        Console.WriteLine($"AVX2 pass: KernelPath {ShapeA.KernelPath}");
        var types = typeof(Program).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(ShapeBenchmark)) && !t.IsAbstract).ToArray();
        var summaries = BenchmarkSwitcher.FromTypes(types)
            .Run(bdnArgs.Concat(new[] { "--anyCategories", ShapeBenchmark.LstmGenCategory }).ToArray(), config).ToArray();
        var lines = new List<string>();
        foreach (var report in summaries.SelectMany(s => s.Reports))
        {
            var descriptor = report.BenchmarkCase.Descriptor;
            var gc = report.GcStats;
            double? perStep = report.Success && gc.TotalOperations > 0 ? gc.GetTotalAllocatedBytes(true) / (double)gc.TotalOperations : null;
            string F(double? v) => v is { } x ? x.ToString("R", Inv) : "";
            lines.Add(string.Join('\t', descriptor.Type.Name, descriptor.WorkloadMethod.Name, F(report.ResultStatistics?.Median),
                                  F(perStep), F(perStep * descriptor.OperationsPerInvoke)));
        }
        File.WriteAllLines(output, lines);
        bool failed = summaries.Length == 0 || summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success || r.ResultStatistics is null));
        return failed ? 1 : 0;
    }

    /// <summary>Input size, hidden size and layers of every shape class (read from the benchmark classes themselves).</summary>
    internal sealed record ShapeWork(int InputSize, int HiddenSize, int NumLayers)
    {
        /// <summary>Multiply-adds of one batch-1 step: Σ over layers of 4H·(I_l + H), I_l = I for layer 0, H above.</summary>
        public long MultiplyAdds
        {
            get
            {
                long n = 0;
                for (int l = 0; l < NumLayers; l++) n += 4L * HiddenSize * ((l == 0 ? InputSize : HiddenSize) + HiddenSize);
                return n;
            }
        }

        public long Flops => 2 * MultiplyAdds;

        /// <summary>fp32 bytes of the weight matrices W_ih and W_hh of every layer (biases, ≤ 3 %, left out).</summary>
        public long WeightBytes => 4 * MultiplyAdds;
    }

    private static Dictionary<string, ShapeWork> ShapeInfos() =>
        typeof(Program).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(ShapeBenchmark)) && !t.IsAbstract)
            .Select(t => (t.Name, Bench: (ShapeBenchmark)Activator.CreateInstance(t)!))
            .ToDictionary(x => x.Name, x => new ShapeWork(x.Bench.InputSize, x.Bench.HiddenSize, x.Bench.NumLayers));

    private static List<Row> Collect(IEnumerable<Summary> summaries)
    {
        var rows = new List<Row>();
        foreach (var report in summaries.SelectMany(s => s.Reports))
        {
            var descriptor = report.BenchmarkCase.Descriptor;
            int order = Array.FindIndex(Systems, s => s.Method == descriptor.WorkloadMethod.Name);
            if (order < 0) continue;
            double? bytesPerStep = null, bytesPerInvoke = null;
            var gc = report.GcStats;
            if (report.Success && gc.TotalOperations > 0)
            {
                bytesPerStep = gc.GetTotalAllocatedBytes(true) / (double)gc.TotalOperations;
                bytesPerInvoke = bytesPerStep * descriptor.OperationsPerInvoke;
            }
            rows.Add(new Row(descriptor.Type.Name, Systems[order].System, order, Systems[order].Streaming,
                             report.ResultStatistics?.Median, bytesPerStep, bytesPerInvoke));
        }
        return rows.OrderBy(r => r.Shape, StringComparer.Ordinal).ThenBy(r => r.Order).ToList();
    }

    /// <summary>Shape × system, median ns per step, ratio to LstmGen in the same mode, the shape's bound, allocation.</summary>
    private static string SummaryTable(List<Row> rows, Dictionary<string, ShapeWork> shapes, MachineLimits limits)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## Summary: median ns per time step");
        sb.AppendLine();
        sb.AppendLine("Ratio = this row's median / LstmGen's median in the same mode (streaming rows vs `LstmGen streaming`, " +
                      "whole-sequence rows vs `LstmGen whole sequence`); > 1 means LstmGen is faster. `bound ns` is the shape's " +
                      "lower bound per step on one core of this machine (see *Bounds* above); `LstmGen / bound` = LstmGen's median / " +
                      "that bound (1.00× would be at the limit). Allocation is per time step and per benchmark invoke " +
                      "(1,000 steps; 100 for the torch and ORT per-step rows).");
        sb.AppendLine();
        sb.AppendLine("| shape | system | ns/step (median) | ratio vs LstmGen | bound ns | LstmGen / bound | allocated B/step | allocated B/invoke |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var baseline = rows.FirstOrDefault(b => b.Shape == r.Shape && b.Order == (r.Streaming ? 0 : 1));
            string ratio = r.MedianNs is { } m && baseline?.MedianNs is { } bm && bm > 0 ? (m / bm).ToString("0.00", Inv) + "×" : "–";
            double? bound = shapes.TryGetValue(r.Shape, out var info) ? limits.BoundNs(info) : null;
            // the AVX2 rows' bound would be this machine's 256-bit limits, which the suite does not measure apart
            string ofBound = r.Order <= 1 && r.MedianNs is { } lm && bound is { } b0 ? (lm / b0).ToString("0.00", Inv) + "×" : "–";
            sb.AppendLine($"| {r.Shape} | {r.System} | {Ns(r.MedianNs)} | {ratio} | {(bound is { } b ? Ns(b) : "–")} | {ofBound} | " +
                          $"{Bytes(r.BytesPerStep)} | {Bytes(r.BytesPerInvoke)} |");
        }
        return sb.ToString();
    }

    /// <summary>Shape × peer: each peer row's median / LstmGen's in the same mode.</summary>
    private static string RatioTable(List<Row> rows)
    {
        var peers = Enumerable.Range(2, Systems.Length - 2).Where(o => rows.Any(r => r.Order == o)).ToList();
        if (peers.Count == 0) return "";
        var sb = new StringBuilder();
        sb.AppendLine("## Ratios to each peer (peer median / LstmGen median in the same mode; > 1: LstmGen faster)");
        sb.AppendLine();
        sb.AppendLine("`seq` rows are compared with LstmGen whole sequence, `step` rows and naive C# with LstmGen streaming; " +
                      "`1t` = one thread, `Nt` = the peer's default thread count.");
        sb.AppendLine();
        sb.AppendLine("| shape | " + string.Join(" | ", peers.Select(o => Systems[o].Short)) + " |");
        sb.AppendLine("|---|" + string.Concat(peers.Select(_ => "---:|")));
        foreach (var shape in rows.Select(r => r.Shape).Distinct())
        {
            var cells = peers.Select(o =>
            {
                var r = rows.FirstOrDefault(x => x.Shape == shape && x.Order == o);
                var b = rows.FirstOrDefault(x => x.Shape == shape && x.Order == (Systems[o].Streaming ? 0 : 1));
                return r?.MedianNs is { } m && b?.MedianNs is { } bm && bm > 0 ? (m / bm).ToString("0.00", Inv) + "×" : "–";
            });
            sb.AppendLine($"| {shape} | " + string.Join(" | ", cells) + " |");
        }
        return sb.ToString();
    }

    /// <summary>Per shape: work, weight bytes, where they live, the FLOP and bytes bounds, and LstmGen against them.</summary>
    private static string BoundsTable(List<Row> rows, Dictionary<string, ShapeWork> shapes, MachineLimits limits)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## Bounds: the fastest one core of this machine could run a batch-1 step");
        sb.AppendLine();
        sb.AppendLine("FLOP bound = 2·Σ_l 4H·(I_l + H) / FMA peak (I_l = I for layer 0, H above); bytes bound = fp32 weight-matrix bytes / " +
                      "load bandwidth of the level they fit in (L1 if ≤ 32 KiB, L2 if ≤ 1 MiB, else L3); bound = the larger. " +
                      "Streaming must touch every weight every step; whole-sequence mode may beat the bytes bound (the input " +
                      "projection can be hoisted out of the recurrence) but not the FLOP bound. A weight set just over 1 MiB (E: 2 MiB) stays partly in L2 " +
                      "and streams faster than the 16 MiB L3 figure, so its bytes bound is conservative (LstmGen may come in below 1×). Peak and bandwidths are this run's fastest iterations (*Machine limits*).");
        sb.AppendLine();
        sb.AppendLine("| shape | FLOP/step | weight bytes | level | FLOP bound ns | bytes bound ns | bound ns | LstmGen streaming / bound | LstmGen whole seq / bound |");
        sb.AppendLine("|---|---:|---:|---|---:|---:|---:|---:|---:|");
        foreach (var (name, info) in shapes.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            double? bound = limits.BoundNs(info);
            string Of(int order) => rows.FirstOrDefault(r => r.Shape == name && r.Order == order)?.MedianNs is { } m && bound is { } b
                ? (m / b).ToString("0.00", Inv) + "×" : "–";
            sb.AppendLine($"| {name} | {info.Flops.ToString("#,0", Inv)} | {info.WeightBytes.ToString("#,0", Inv)} | {MachineLimits.Level(info.WeightBytes)} | " +
                          $"{NsOrDash(limits.FlopBoundNs(info))} | {NsOrDash(limits.BytesBoundNs(info))} | {NsOrDash(bound)} | {Of(0)} | {Of(1)} |");
        }
        return sb.ToString();
    }

    private static string NsOrDash(double? ns) => ns is { } v ? Ns(v) : "–";

    /// <summary>The one-layer shapes are joined by each system's line; the others (C: two layers) are lone markers.</summary>
    private static bool Joined(string shape) => ShapeInfos().TryGetValue(shape, out var s) && s.NumLayers == 1;

    /// <summary>The SVG chart: ns per step against H, one line per system, and the bound.</summary>
    private static string Chart(List<Row> rows, Dictionary<string, ShapeWork> shapes, MachineLimits limits, bool isShort)
    {
        var present = rows.Select(r => r.Shape).Distinct().Where(shapes.ContainsKey).ToList();
        var ticks = present.Select(s => ((double)shapes[s].HiddenSize, $"{s[0]} {shapes[s].HiddenSize}")).ToList();
        var series = new List<SvgChart.Series>();
        for (int o = 0; o < Systems.Length; o++)
        {
            var pts = rows.Where(r => r.Order == o && r.MedianNs is not null && shapes.ContainsKey(r.Shape))
                          .Select(r => new SvgChart.Point(shapes[r.Shape].HiddenSize, r.MedianNs!.Value, Joined(r.Shape))).ToList();
            if (pts.Count > 0) series.Add(new SvgChart.Series(Systems[o].System, Systems[o].Color, Systems[o].Dash, pts));
        }
        var boundPts = present.Select(s => (s, b: limits.BoundNs(shapes[s]))).Where(x => x.b is not null)
                              .Select(x => new SvgChart.Point(shapes[x.s].HiddenSize, x.b!.Value, Joined(x.s))).ToList();
        if (boundPts.Count > 0) series.Add(new SvgChart.Series("bound: max(FLOP / FMA peak, weight bytes / bandwidth)", "#000000", "2 3", boundPts));
        string when = DateTime.UtcNow.ToString("yyyy-MM-dd", Inv);
        string subtitle = $"batch 1, fp32; lines: 1-layer A (I 1), B (I 1), D (I 64), E (I 256); squares: C (I 8, 2 layers); medians, {when}, " +
                          (isShort ? "--short smoke run (rough)" : "full job") + "; shared 2-core VM";
        return SvgChart.Render("LstmGen vs libtorch, ONNX Runtime and naive C#: ns per time step", subtitle, ticks, series);
    }

    private sealed record TrainRow(int Batch, string System, int Order, double? MedianNs, double? BytesPerStep);

    private static readonly (string Method, string System)[] TrainSystems =
    {
        (nameof(T_Train_8x32x2x1.LstmGenTrain), "LstmGen Trainer.Step, every core"),
        (nameof(T_Train_8x32x2x1.LstmGenTrainOneThread), "LstmGen Trainer.Step, 1 thread"),
        (nameof(T_Train_8x32x2x1.TorchTrain), "torch nn.LSTM + nn.Linear, MSELoss, backward, optim.SGD"),
    };

    private static List<TrainRow> CollectTraining(IEnumerable<Summary> summaries)
    {
        var rows = new List<TrainRow>();
        foreach (var report in summaries.SelectMany(s => s.Reports))
        {
            var descriptor = report.BenchmarkCase.Descriptor;
            if (!typeof(T_Train_8x32x2x1).IsAssignableFrom(descriptor.Type)) continue;
            int order = Array.FindIndex(TrainSystems, s => s.Method == descriptor.WorkloadMethod.Name);
            if (order < 0) continue;
            int batch = Convert.ToInt32(report.BenchmarkCase.Parameters[nameof(T_Train_8x32x2x1.Batch)], Inv);
            double? bytesPerStep = null;
            var gc = report.GcStats;
            if (report.Success && gc.TotalOperations > 0) bytesPerStep = gc.GetTotalAllocatedBytes(true) / (double)gc.TotalOperations;
            rows.Add(new TrainRow(batch, TrainSystems[order].System, order, report.ResultStatistics?.Median, bytesPerStep));
        }
        return rows.OrderBy(r => r.Batch).ThenBy(r => r.Order).ToList();
    }

    /// <summary>Shape T: batch × system, median µs per training step, ratio to LstmGen at the same batch, allocation.</summary>
    private static string TrainingTable(List<TrainRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## Summary: shape T, median µs per training step");
        sb.AppendLine();
        sb.AppendLine($"C (8→32, 2 layers) + Linear(32→1), {T_Train_8x32x2x1.Steps}-step sequences, MSE over every step, one SGD update " +
                      $"(lr {T_Train_8x32x2x1.LearningRate.ToString(Inv)}) per training step, whatever the batch. " +
                      "Ratio = this row's median / LstmGen's at the same batch; > 1 means LstmGen is faster. " +
                      "µs/sequence = µs per training step / batch. Allocation is managed memory per training step.");
        sb.AppendLine();
        sb.AppendLine("| shape | batch | system | µs/training step (median) | µs/sequence | ratio vs LstmGen | allocated B/step |");
        sb.AppendLine("|---|---:|---|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var baseline = rows.FirstOrDefault(b => b.Batch == r.Batch && b.Order == 0);
            string ratio = r.MedianNs is { } m && baseline?.MedianNs is { } bm && bm > 0 ? (m / bm).ToString("0.00", Inv) + "×" : "–";
            sb.AppendLine($"| T | {r.Batch} | {r.System} | {Us(r.MedianNs)} | {Us(r.MedianNs / r.Batch)} | {ratio} | {Bytes(r.BytesPerStep)} |");
        }
        return sb.ToString();
    }

    private static string Us(double? ns) => ns is { } v ? (v >= 100_000 ? (v / 1000).ToString("#,0", Inv) : (v / 1000).ToString("0.0", Inv)) : "failed";

    private static string Ns(double? ns) => ns is { } v ? (v >= 100 ? v.ToString("#,0", Inv) : v.ToString("0.0", Inv)) : "failed";
    private static string Bytes(double? b) => b is { } v ? (v >= 10 || v == 0 ? Math.Round(v).ToString("#,0", Inv) : v.ToString("0.##", Inv)) : "–";

    private static string ResultsDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LstmGen.sln")))
                return Path.Combine(dir.FullName, "bench", "results");
        return Path.Combine(Directory.GetCurrentDirectory(), "bench", "results");
    }

    private static string MachineDescription(bool isShort)
    {
        string cpu = "unknown", family = "", model = "";
        try
        {
            string? Field(string name) => File.ReadLines("/proc/cpuinfo")
                .FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal) && l.Split(':', 2)[0].Trim() == name)?.Split(':', 2)[1].Trim();
            cpu = Field("model name") ?? cpu;
            family = Field("cpu family") ?? "";
            model = Field("model") ?? "";
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        // AMD family 25 (0x19) is Zen 3 or Zen 4 (only Zen 4 has AVX-512, executed as two 256-bit halves); 26 (0x1A) is Zen 5.
        string core = (family, Vector512.IsHardwareAccelerated) switch
        {
            ("25", true) => ", Zen 4: 512-bit ops split in two 256-bit halves",
            ("25", false) => ", Zen 3",
            ("26", _) => ", Zen 5",
            _ => "",
        };
        var sb = new StringBuilder();
        sb.AppendLine($"Date:        {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine($"CPU:         {cpu} ({Environment.ProcessorCount} logical CPUs visible)" +
                      (family != "" ? $"; cpu family {family} model {model}{core}" : ""));
        sb.AppendLine($"OS:          {RuntimeInformation.OSDescription} {RuntimeInformation.OSArchitecture}");
        sb.AppendLine($"Runtime:     {RuntimeInformation.FrameworkDescription}");
        sb.AppendLine($"SIMD:        Vector512 {Vector512.IsHardwareAccelerated}, Vector256 {Vector256.IsHardwareAccelerated}, Vector128 {Vector128.IsHardwareAccelerated}");
        sb.AppendLine($"KernelPath:  {ShapeA.KernelPath}; int8 products on {LstmGen.Int8Product.InstructionSet}");
        sb.AppendLine($"BenchmarkDotNet: {typeof(BenchmarkRunner).Assembly.GetName().Version}");
        sb.AppendLine($"TorchSharp:  {typeof(TorchSharp.torch).Assembly.GetName().Version} (libtorch 2.10; rows with 1 intra-op thread and " +
                      $"with its default, {TorchPeer.DefaultThreads}); {OneDnn.Describe()}" +
                      (OneDnn.CurrentCap is null ? "" : " because its uncapped nn.LSTM was wrong on this CPU or the caller set it"));
        sb.AppendLine($"ONNX Runtime: {OnnxPeer.Version} (Microsoft.ML.OnnxRuntime {typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version}; " +
                      $"rows with IntraOpNumThreads = 1 and with its default, {OnnxPeer.DefaultIntraOpThreads?.ToString(Inv) ?? "?"})");
        sb.AppendLine($"Job:         {(isShort ? "short (smoke run; numbers are rough)" : "full")}, in-process");
        return sb.ToString();
    }
}
