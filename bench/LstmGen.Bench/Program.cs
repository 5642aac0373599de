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
using Perfolizer.Horology;

namespace LstmGen.Bench;

public static class Program
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Main(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine("""
                LstmGen benchmarks (ns per time step; µs per training step for shape T; see bench/README.md).
                  dotnet run -c Release --project bench/LstmGen.Bench -- [--short] [--filter <glob>...] [other BenchmarkDotNet options]
                  --short   a very short job (CI smoke run: checks every benchmark validates and runs; numbers are rough)
                  --filter  BenchmarkDotNet glob over Namespace.Class.Method, e.g. '*A_1x16x1*', '*LstmGen*' or '*Train*' (default: all)
                Results: bench/results/latest.md (--short: latest-short.md; --filter: latest-filtered.md): summary + BenchmarkDotNet's tables;
                         BenchmarkDotNet's own logs and exports in bench/results/BenchmarkDotNet.Artifacts/.
                """);
            return 0;
        }

        bool isShort = args.Contains("--short");
        var bdnArgs = args.Where(a => a != "--short").ToList();
        // Only a full run of the whole suite writes latest.md: a filtered run would otherwise replace the published
        // results with a few rows.
        bool isFiltered = FilterPatterns(bdnArgs) is { } patterns && !patterns.All(p => p == "*");
        if (FilterPatterns(bdnArgs) is null)
            bdnArgs.AddRange(new[] { "--filter", "*" });   // no filter: run everything (BenchmarkSwitcher would otherwise ask)

        string resultsDir = ResultsDirectory();
        Directory.CreateDirectory(resultsDir);
        string machine = MachineDescription(isShort);
        Console.WriteLine(machine);

        TorchPeer.EnsureAvailable();   // fail now, with the patch hint, rather than in every GlobalSetup

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

        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(bdnArgs.ToArray(), config).ToArray();

        var rows = Collect(summaries);
        var trainRows = CollectTraining(summaries);
        string table = (rows.Count > 0 || trainRows.Count == 0 ? SummaryTable(rows) : "")
                       + (trainRows.Count > 0 ? (rows.Count > 0 ? Environment.NewLine : "") + TrainingTable(trainRows) : "");
        var md = new StringBuilder();
        md.AppendLine("# LstmGen benchmark results").AppendLine();
        md.AppendLine("```").AppendLine(machine.TrimEnd()).AppendLine("```").AppendLine();
        md.AppendLine(table).AppendLine();
        md.AppendLine("## BenchmarkDotNet tables").AppendLine();
        foreach (var summary in summaries)
        {
            var logger = new AccumulationLogger();
            MarkdownExporter.GitHub.ExportToLog(summary, logger);
            md.AppendLine(logger.GetLog()).AppendLine();
        }
        // A smoke run must not overwrite the real results: its numbers are rough (few iterations; the JIT may still be tiering).
        // Nor must a filtered run: it has only some of the rows.
        string latest = Path.Combine(resultsDir, isShort ? "latest-short.md" : isFiltered ? "latest-filtered.md" : "latest.md");
        File.WriteAllText(latest, md.ToString());

        Console.WriteLine();
        Console.WriteLine(table);
        Console.WriteLine($"Written: {latest}");

        bool failed = summaries.Length == 0
                      || summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success || r.ResultStatistics is null));
        if (failed) Console.Error.WriteLine("Some benchmarks failed (validation, setup or run): see the log above.");
        return failed ? 1 : 0;
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

    private static readonly (string Method, string System, bool Streaming)[] Systems =
    {
        (nameof(ShapeBenchmark.LstmGenStreaming), "LstmGen streaming (Step)", true),
        (nameof(ShapeBenchmark.LstmGenSequence), "LstmGen whole sequence (Forward)", false),
        (nameof(ShapeBenchmark.TorchSequence), "torch nn.LSTM whole sequence", false),
        (nameof(ShapeBenchmark.TorchPerStep), "torch nn.LSTMCell per step", true),
        (nameof(ShapeBenchmark.NaiveStreaming), "naive C# per step", true),
    };

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

    /// <summary>Shape × system, median ns per step, ratio to LstmGen in the same mode, allocation.</summary>
    private static string SummaryTable(List<Row> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## Summary: median ns per time step");
        sb.AppendLine();
        sb.AppendLine("Ratio = this row's median / LstmGen's median in the same mode (streaming rows vs `LstmGen streaming`, " +
                      "whole-sequence rows vs `LstmGen whole sequence`); > 1 means LstmGen is faster. Allocation is per time step " +
                      "and per benchmark invoke (1,000 steps; 100 for torch per step).");
        sb.AppendLine();
        sb.AppendLine("| shape | system | ns/step (median) | ratio vs LstmGen | allocated B/step | allocated B/invoke |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var baseline = rows.FirstOrDefault(b => b.Shape == r.Shape && b.Order == (r.Streaming ? 0 : 1));
            string ratio = r.MedianNs is { } m && baseline?.MedianNs is { } bm && bm > 0 ? (m / bm).ToString("0.00", Inv) + "×" : "–";
            sb.AppendLine($"| {r.Shape} | {r.System} | {Ns(r.MedianNs)} | {ratio} | {Bytes(r.BytesPerStep)} | {Bytes(r.BytesPerInvoke)} |");
        }
        return sb.ToString();
    }

    private sealed record TrainRow(int Batch, string System, int Order, double? MedianNs, double? BytesPerStep);

    private static readonly (string Method, string System)[] TrainSystems =
    {
        (nameof(T_Train_8x32x2x1.LstmGenTrain), "LstmGen Trainer.Step"),
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
        string cpu = "unknown";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
                      ?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        var sb = new StringBuilder();
        sb.AppendLine($"Date:        {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine($"CPU:         {cpu} ({Environment.ProcessorCount} logical CPUs visible)");
        sb.AppendLine($"OS:          {RuntimeInformation.OSDescription} {RuntimeInformation.OSArchitecture}");
        sb.AppendLine($"Runtime:     {RuntimeInformation.FrameworkDescription}");
        sb.AppendLine($"SIMD:        Vector512 {Vector512.IsHardwareAccelerated}, Vector256 {Vector256.IsHardwareAccelerated}, Vector128 {Vector128.IsHardwareAccelerated}");
        sb.AppendLine($"KernelPath:  {ShapeA.KernelPath}");
        sb.AppendLine($"TorchSharp:  {typeof(TorchSharp.torch).Assembly.GetName().Version} (1 intra-op thread)");
        sb.AppendLine($"Job:         {(isShort ? "short (smoke run; numbers are rough)" : "full")}, in-process");
        return sb.ToString();
    }
}
