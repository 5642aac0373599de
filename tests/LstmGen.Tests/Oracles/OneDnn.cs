using System;
using System.Collections.Generic;
using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace LstmGen.Tests.Oracles;

/// <summary>
/// libtorch's CPU <c>nn.LSTM</c> runs oneDNN's RNN primitive, and on AMD Zen 5 (CPU family 26) oneDNN's AVX-512 code
/// path for it returns zeros: h = c = 0 after a step, whatever the weights. Capping oneDNN's instruction set at AVX2
/// makes it correct again (AVX512_CORE, AVX512_CORE_VNNI and AVX512_CORE_BF16 do not). oneDNN reads the cap from its
/// environment variable (<c>ONEDNN_MAX_CPU_ISA</c>, or the older <c>DNNL_MAX_CPU_ISA</c>) through the C library's
/// environment, once, when it first dispatches; .NET's <see cref="Environment.SetEnvironmentVariable(string, string)"/>
/// only changes the runtime's own copy on Linux and never reaches it. So the cap is set where the process is started:
/// <list type="bullet">
/// <item>the test host: <c>tests/LstmGen.Tests/oracles.runsettings</c>, which the test project names as its
/// <c>RunSettingsFilePath</c>, so <c>dotnet test</c> (and an IDE) starts the host with it;</item>
/// <item>the benchmark program: it checks the uncapped path in a child process first and, only where that is wrong,
/// starts itself again with the cap (<see cref="RestartCappedIfBroken"/>); its results header records which.</item>
/// </list>
/// On a CPU without the bug the cap is harmless for the oracles: both oneDNN paths compute the same float32 LSTM, and
/// the tests compare to within 1e-5. Shared by the tests and the benchmarks (linked, not copied).
/// </summary>
public static class OneDnn
{
    /// <summary>The variable this project sets; oneDNN 3 reads <c>ONEDNN_MAX_CPU_ISA</c> first, then this one.</summary>
    public const string CapVariable = "DNNL_MAX_CPU_ISA";
    public const string NewCapVariable = "ONEDNN_MAX_CPU_ISA";
    /// <summary>The highest instruction set at which libtorch's LSTM is correct on every CPU seen here.</summary>
    public const string Cap = "AVX2";

    /// <summary>The exit code of a probe child whose libtorch loaded but computed a wrong LSTM step.</summary>
    public const int LstmWrongExitCode = 3;

    /// <summary>The cap this process started with (null: none, oneDNN uses the best ISA it detects).</summary>
    public static string? CurrentCap =>
        Environment.GetEnvironmentVariable(NewCapVariable) is { Length: > 0 } v ? v
        : Environment.GetEnvironmentVariable(CapVariable) is { Length: > 0 } w ? w : null;

    /// <summary>One line for logs and results headers.</summary>
    public static string Describe() => CurrentCap is { } cap
        ? $"oneDNN instruction set capped at {cap} ({(Environment.GetEnvironmentVariable(NewCapVariable) is { Length: > 0 } ? NewCapVariable : CapVariable)}={cap})"
        : "oneDNN instruction set not capped (it uses the best the CPU has)";

    /// <summary>What to tell someone whose libtorch LSTM computed <paramref name="observed"/>.</summary>
    public static string Hint(string observed) =>
        $"libtorch's nn.LSTM is wrong in this process ({observed}). The likely cause is oneDNN's AVX-512 RNN path, which " +
        $"returns zeros on some CPUs (seen on AMD Zen 5, CPU family 26). This process started with: {Describe()}; " +
        $"{CpuDescription()}. Start the process with {CapVariable}={Cap} in its environment (dotnet test does this through " +
        "tests/LstmGen.Tests/oracles.runsettings; a run with its own --settings file must add it there); setting it from " +
        "inside the process does not reach libtorch.";

    /// <summary>
    /// The hand-worked one-step case (docs/maths.md §7: I = H = 1, every weight 0.5, biases 0, x = 1) through a real
    /// <c>nn.LSTM</c>: null when libtorch gives h₁ = 0.1742697 and c₁ = 0.2876491, else a message with <see cref="Hint"/>.
    /// libtorch must already be loaded (the callers' probes do that).
    /// </summary>
    public static string? CheckLstm()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var lstm = torch.nn.LSTM(1, 1, 1, bias: true, batchFirst: false);
        foreach (var (name, p) in lstm.named_parameters())
            p.fill_(name.StartsWith("weight", StringComparison.Ordinal) ? 0.5f : 0f);
        var x = torch.ones(new long[] { 1, 1, 1 }, ScalarType.Float32);
        var (_, hn, cn) = lstm.call(x, null);
        float h = hn.data<float>()[0], c = cn.data<float>()[0];
        bool right = Math.Abs(h - 0.1742697) <= 1e-6 && Math.Abs(c - 0.2876491) <= 1e-6;
        return right ? null : Hint($"one step of the hand-worked case gave h1 = {h:R}, c1 = {c:R}; expected 0.1742697, 0.2876491");
    }

    /// <summary>The CPU's model name and family from /proc/cpuinfo (empty parts where it cannot be read).</summary>
    public static string CpuDescription()
    {
        string model = "?", family = "?";
        try
        {
            foreach (string line in System.IO.File.ReadLines("/proc/cpuinfo"))
            {
                string[] kv = line.Split(':', 2);
                if (kv.Length != 2) continue;
                string key = kv[0].Trim();
                if (key == "model name" && model == "?") model = kv[1].Trim();
                else if (key == "cpu family" && family == "?") family = kv[1].Trim();
                if (model != "?" && family != "?") break;
            }
        }
        catch (System.IO.IOException) { }
        catch (UnauthorizedAccessException) { }
        return $"CPU {model}, family {family}";
    }

    /// <summary>
    /// For a program that loads libtorch (call first thing in Main, before anything touches torch). When the process
    /// has no cap and <paramref name="probeArgument"/> run as a child (which loads libtorch and runs
    /// <see cref="CheckLstm"/>, exiting with <see cref="LstmWrongExitCode"/> when the step is wrong; any other failure,
    /// such as libtorch not loading, is left for the program to report) says the uncapped path is wrong, this starts the program again
    /// with the cap, waits, and returns its exit code; otherwise it returns null and the caller carries on uncapped.
    /// </summary>
    public static int? RestartCappedIfBroken(string[] args, string probeArgument)
    {
        if (CurrentCap is not null) return null;
        string? self = Environment.ProcessPath;
        if (self is null) return null;
        bool isHost = System.IO.Path.GetFileNameWithoutExtension(self) == "dotnet";
        string? entry = isHost ? System.Reflection.Assembly.GetEntryAssembly()?.Location : null;
        if (isHost && string.IsNullOrEmpty(entry)) return null;

        ProcessStartInfo Start(IEnumerable<string> arguments)
        {
            var psi = new ProcessStartInfo(self) { UseShellExecute = false };
            if (isHost) psi.ArgumentList.Add(entry!);
            foreach (string a in arguments) psi.ArgumentList.Add(a);
            return psi;
        }

        using (var probe = Process.Start(Start(new[] { probeArgument }))!)
        {
            probe.WaitForExit();
            if (probe.ExitCode != LstmWrongExitCode) return null;
        }
        Console.WriteLine($"libtorch's LSTM is wrong with oneDNN uncapped on this CPU: starting again with {CapVariable}={Cap}.");
        var capped = Start(args);
        capped.Environment[CapVariable] = Cap;
        using var run = Process.Start(capped)!;
        run.WaitForExit();
        return run.ExitCode;
    }
}
