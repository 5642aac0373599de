using System;
using System.Globalization;
using System.Linq;
using System.Text;
using BenchmarkDotNet.Reports;

namespace LstmGen.Bench;

/// <summary>
/// The <see cref="Limits"/> run as rates (GHz, GFLOP/s, GB/s; null where a benchmark failed), and the per-step lower
/// bound of a shape derived from them. The rates are those of each benchmark's <b>fastest</b> measured iteration: a limit
/// is the best the core can do, and interference on a shared machine only ever subtracts from it (a median taken while
/// other work runs understates the peak, which would overstate the bound). The medians are kept for the table.
/// </summary>
public sealed record MachineLimits(double? Ghz, double? Gflops512, double? Gflops256, double? L1GBs, double? L2GBs, double? L3GBs,
                                   MachineLimits? Medians = null)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public const long L1Limit = 32 << 10, L2Limit = 1 << 20;

    public static MachineLimits From(Summary summary)
    {
        double? Rate(string method, bool best)
        {
            var stats = summary.Reports.FirstOrDefault(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method)?.ResultStatistics;
            double? nsPerOp = best ? stats?.Min : stats?.Median;
            return nsPerOp is { } v && v > 0 ? 1 / v : null;   // per ns = G per s
        }
        MachineLimits Of(bool best) => new(Rate(nameof(Limits.Clock), best), Rate(nameof(Limits.Fma512), best), Rate(nameof(Limits.Fma256), best),
                                           Rate(nameof(Limits.LoadL1), best), Rate(nameof(Limits.LoadL2), best), Rate(nameof(Limits.LoadL3), best));
        return Of(best: true) with { Medians = Of(best: false) };
    }

    /// <summary>The better of the two FMA widths, GFLOP/s.</summary>
    public double? PeakGflops => Gflops512 is { } a && Gflops256 is { } b ? Math.Max(a, b) : Gflops512 ?? Gflops256;

    public static string Level(long bytes) => bytes <= L1Limit ? "L1" : bytes <= L2Limit ? "L2" : "L3";

    private double? Bandwidth(long bytes) => Level(bytes) switch { "L1" => L1GBs, "L2" => L2GBs, _ => L3GBs };

    internal double? FlopBoundNs(long flops) => PeakGflops is { } p ? flops / p : null;
    internal double? BytesBoundNs(long bytes) => Bandwidth(bytes) is { } bw ? bytes / bw : null;

    internal double? FlopBoundNs(Program.ShapeWork s) => FlopBoundNs(s.Flops);
    internal double? BytesBoundNs(Program.ShapeWork s) => BytesBoundNs(s.WeightBytes);

    /// <summary>max(FLOP bound, bytes bound) in ns per step; null unless both are known.</summary>
    internal double? BoundNs(Program.ShapeWork s) =>
        FlopBoundNs(s) is { } f && BytesBoundNs(s) is { } b ? Math.Max(f, b) : null;

    public string Describe()
    {
        var sb = new StringBuilder("Machine limits (one core, fastest iteration): ");
        sb.Append($"clock {G(Ghz, "0.00")} GHz; FMA peak {G(Gflops512, "0")} GFLOP/s (Vector512), {G(Gflops256, "0")} GFLOP/s (Vector256); ");
        sb.Append($"loads L1 {G(L1GBs, "0")} GB/s, L2 {G(L2GBs, "0")} GB/s, L3 {G(L3GBs, "0")} GB/s");
        return sb.ToString();
    }

    /// <summary>Markdown: the measured rates, per cycle too (at the measured clock).</summary>
    public string Table()
    {
        var sb = new StringBuilder();
        sb.AppendLine("## Machine limits (one core, measured by this run)");
        sb.AppendLine();
        sb.AppendLine("The `Limits` benchmarks (BenchmarkDotNet, same job as the rows below; see `bench/README.md`): " +
                      "clock from a chain of dependent 64-bit adds (one per cycle); FMA peak from 12 independent FMA chains; load " +
                      "bandwidth from aligned 64-byte Vector512 loads streaming over a buffer of the given size. The bounds use the " +
                      "**fastest iteration** (interference only slows a core down); the median is shown beside it. Per-cycle " +
                      "figures: fastest iteration / fastest clock.");
        sb.AppendLine();
        sb.AppendLine("| limit | fastest iteration | median | per cycle |");
        sb.AppendLine("|---|---:|---:|---:|");
        var m = Medians;
        sb.AppendLine($"| clock (dependent adds) | {G(Ghz, "0.00")} GHz | {G(m?.Ghz, "0.00")} GHz | 1 add |");
        sb.AppendLine($"| FMA peak, Vector512 (fp32) | {G(Gflops512, "0.0")} GFLOP/s | {G(m?.Gflops512, "0.0")} GFLOP/s | {PerCycle(Gflops512)} FLOP |");
        sb.AppendLine($"| FMA peak, Vector256 (fp32) | {G(Gflops256, "0.0")} GFLOP/s | {G(m?.Gflops256, "0.0")} GFLOP/s | {PerCycle(Gflops256)} FLOP |");
        sb.AppendLine($"| loads, 32 KiB buffer (L1) | {G(L1GBs, "0.0")} GB/s | {G(m?.L1GBs, "0.0")} GB/s | {PerCycle(L1GBs)} B |");
        sb.AppendLine($"| loads, 512 KiB buffer (L2) | {G(L2GBs, "0.0")} GB/s | {G(m?.L2GBs, "0.0")} GB/s | {PerCycle(L2GBs)} B |");
        sb.AppendLine($"| loads, 16 MiB buffer (L3) | {G(L3GBs, "0.0")} GB/s | {G(m?.L3GBs, "0.0")} GB/s | {PerCycle(L3GBs)} B |");
        return sb.ToString();
    }

    private string PerCycle(double? perNs) => perNs is { } v && Ghz is { } g && g > 0 ? (v / g).ToString("0.0", Inv) : "–";

    private static string G(double? v, string format) => v is { } x ? x.ToString(format, Inv) : "failed";
}
