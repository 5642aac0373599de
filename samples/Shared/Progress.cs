using System;
using System.Diagnostics;
using System.Globalization;

namespace LstmGen.Samples;

/// <summary>
/// A progress line for long loops: step, loss, rate and ETA. A permanent line is printed every <c>every</c> steps (and at
/// the last); on an interactive terminal the line between those is also redrawn in place a few times a second. Output
/// that is redirected (CI logs) gets only the permanent lines.
/// </summary>
public sealed class Progress
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private readonly int _total, _every;
    private readonly double _itemsPerStep;
    private readonly string _itemName;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _interactive = !Console.IsOutputRedirected;
    private long _lastDraw;
    private int _drawnWidth;
    private int _firstStep = -1;
    private double _firstTime;

    /// <param name="total">The number of steps the loop will run.</param>
    /// <param name="every">A permanent line every this many steps.</param>
    /// <param name="itemsPerStep">Items (characters, samples, windows) one step processes, for a second rate; 0 for none.</param>
    /// <param name="itemName">The items' name in the rate, e.g. "chars".</param>
    public Progress(int total, int every, double itemsPerStep = 0, string itemName = "")
    {
        _total = total;
        _every = Math.Max(1, every);
        _itemsPerStep = itemsPerStep;
        _itemName = itemName;
    }

    /// <summary>Seconds since the progress started.</summary>
    public double Elapsed => _clock.Elapsed.TotalSeconds;

    /// <summary>Reports that <paramref name="step"/> (1-based) finished with <paramref name="loss"/>.</summary>
    public void Report(int step, double loss)
    {
        double now = _clock.Elapsed.TotalSeconds;
        if (_firstStep < 0) { _firstStep = step; _firstTime = now; }
        bool permanent = step % _every == 0 || step == _total;
        if (!permanent && !(_interactive && _clock.ElapsedMilliseconds - _lastDraw >= 250)) return;
        _lastDraw = _clock.ElapsedMilliseconds;

        // The rate is measured from the first report on, so a slow first step (JIT, caches) does not skew the ETA for long.
        double rate = step > _firstStep ? (step - _firstStep) / Math.Max(1e-9, now - _firstTime) : step / Math.Max(1e-9, now);
        string text = string.Create(Invariant,
            $"  step {step.ToString(Invariant).PadLeft(_total.ToString(Invariant).Length)}/{_total}  loss {loss,8:F4}  {Rate(rate)} steps/s");
        if (_itemsPerStep > 0) text += string.Create(Invariant, $"  {Rate(rate * _itemsPerStep)} {_itemName}/s");
        text += step == _total ? $"  done in {Duration(now)}" : $"  ETA {Duration((_total - step) / rate)}";

        if (_interactive) Console.Write("\r" + text.PadRight(_drawnWidth) + (permanent ? "\n" : ""));
        else Console.WriteLine(text);
        _drawnWidth = permanent ? 0 : text.Length;
    }

    /// <summary>Clears an in-place line, before printing something else.</summary>
    public void Clear()
    {
        if (_drawnWidth == 0) return;
        Console.Write("\r" + new string(' ', _drawnWidth) + "\r");
        _drawnWidth = 0;
    }

    /// <summary>A rate with three significant digits and a thousands separator: "12.3", "456", "78,900".</summary>
    public static string Rate(double perSecond) => perSecond switch
    {
        < 10 => perSecond.ToString("F2", Invariant),
        < 100 => perSecond.ToString("F1", Invariant),
        _ => perSecond.ToString("N0", Invariant),
    };

    /// <summary>"4.2 s", "3 m 05 s", "1 h 02 m".</summary>
    public static string Duration(double seconds)
    {
        if (double.IsNaN(seconds) || double.IsInfinity(seconds)) return "?";
        if (seconds < 60) return seconds.ToString("F1", Invariant) + " s";
        long s = (long)Math.Round(seconds);
        if (s < 3600) return string.Create(Invariant, $"{s / 60} m {s % 60:D2} s");
        return string.Create(Invariant, $"{s / 3600} h {s / 60 % 60:D2} m");
    }
}
