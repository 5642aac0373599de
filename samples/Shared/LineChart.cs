using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

namespace LstmGen.Samples;

/// <summary>
/// A small SVG line chart: one or more series against a shared x axis, with "nice" ticks, a grid, axis labels and a
/// legend; the y axis linear or logarithmic. Written as plain SVG 1.1 text that browsers, GitHub and rsvg-convert show.
/// </summary>
public sealed class LineChart(string title, string xLabel, string yLabel)
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private static readonly string[] Palette = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b" };
    private readonly List<(string Name, double[] X, double[] Y, string Color, double Width)> _series = new();

    /// <summary>Plot y on a logarithmic scale (values ≤ 0 are left out).</summary>
    public bool LogY { get; init; }

    /// <summary>Adds a series; its colour is the next in the palette unless given.</summary>
    public LineChart Add(string name, ReadOnlySpan<double> x, ReadOnlySpan<double> y, string? color = null, double width = 1.5)
    {
        if (x.Length != y.Length) throw new ArgumentException($"Series '{name}' has {x.Length} x values and {y.Length} y values.", nameof(y));
        _series.Add((name, x.ToArray(), y.ToArray(), color ?? Palette[_series.Count % Palette.Length], width));
        return this;
    }

    /// <summary>Adds a series whose x values are 0, 1, 2, … scaled by <paramref name="xStep"/> and offset by <paramref name="xStart"/>.</summary>
    public LineChart Add(string name, ReadOnlySpan<double> y, double xStart = 0, double xStep = 1, string? color = null, double width = 1.5)
    {
        var x = new double[y.Length];
        for (int k = 0; k < x.Length; k++) x[k] = xStart + k * xStep;
        return Add(name, x, y, color, width);
    }

    /// <summary>Writes the chart to <paramref name="path"/> (creating its folder).</summary>
    public void Save(string path, int width = 800, int height = 420)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        File.WriteAllText(path, Render(width, height));
    }

    /// <summary>The SVG text.</summary>
    public string Render(int width = 800, int height = 420)
    {
        const double left = 72, right = 20, bottom = 56;
        // the legend: rows of entries under the title, wrapped to the plot's width (≈ 7 px per character of 12 px text)
        var legend = new List<(double X, int Row)>();
        double lx = 0;
        int rows = 1;
        foreach (var s in _series)
        {
            double entry = 30 + 7 * s.Name.Length + 18;
            if (lx > 0 && lx + entry > width - left - right) { lx = 0; rows++; }
            legend.Add((lx, rows - 1));
            lx += entry;
        }
        double top = 40 + 18 * rows;
        double plotW = width - left - right, plotH = height - top - bottom;

        // data range (y in log10 when LogY)
        double x0 = double.PositiveInfinity, x1 = double.NegativeInfinity, y0 = double.PositiveInfinity, y1 = double.NegativeInfinity;
        foreach (var s in _series)
            for (int k = 0; k < s.X.Length; k++)
            {
                if (!Usable(s.Y[k]) || !double.IsFinite(s.X[k])) continue;
                double y = LogY ? Math.Log10(s.Y[k]) : s.Y[k];
                x0 = Math.Min(x0, s.X[k]); x1 = Math.Max(x1, s.X[k]);
                y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
            }
        if (!double.IsFinite(x0)) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
        if (x1 == x0) x1 = x0 + 1;
        if (y1 == y0) { y0 -= 0.5; y1 += 0.5; }
        double[] xTicks = Ticks(x0, x1, 8);
        double[] yTicks = LogY ? LogTicks(y0, y1) : Ticks(y0, y1, 6);
        if (!LogY) { y0 = Math.Min(y0, yTicks[0]); y1 = Math.Max(y1, yTicks[^1]); }
        else { y0 = Math.Floor(y0 * 10) / 10; y1 = Math.Ceiling(y1 * 10) / 10; }
        double Px(double x) => left + (x - x0) / (x1 - x0) * plotW;
        double Py(double y) => top + (1 - (y - y0) / (y1 - y0)) * plotH;

        var svg = new StringBuilder();
        svg.Append(Invariant, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(Invariant, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        svg.Append(Invariant, $"<text x=\"{width / 2.0:F1}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");

        // grid and tick labels
        svg.Append("<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n");
        foreach (double t in xTicks) if (t >= x0 && t <= x1) svg.Append(Invariant, $"<line x1=\"{Px(t):F1}\" y1=\"{top}\" x2=\"{Px(t):F1}\" y2=\"{top + plotH}\"/>\n");
        foreach (double t in yTicks) if (t >= y0 && t <= y1) svg.Append(Invariant, $"<line x1=\"{left}\" y1=\"{Py(t):F1}\" x2=\"{left + plotW}\" y2=\"{Py(t):F1}\"/>\n");
        svg.Append("</g>\n<g fill=\"#333\">\n");
        foreach (double t in xTicks) if (t >= x0 && t <= x1) svg.Append(Invariant, $"<text x=\"{Px(t):F1}\" y=\"{top + plotH + 16}\" text-anchor=\"middle\">{Label(t, xTicks)}</text>\n");
        foreach (double t in yTicks) if (t >= y0 && t <= y1) svg.Append(Invariant, $"<text x=\"{left - 6}\" y=\"{Py(t) + 4:F1}\" text-anchor=\"end\">{(LogY ? Label(Math.Pow(10, t), null) : Label(t, yTicks))}</text>\n");
        svg.Append(Invariant, $"<text x=\"{left + plotW / 2:F1}\" y=\"{height - 12}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        svg.Append(Invariant, $"<text transform=\"translate(16 {top + plotH / 2:F1}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n");
        svg.Append("</g>\n");
        svg.Append(Invariant, $"<rect x=\"{left}\" y=\"{top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#888\"/>\n");

        // series, clipped to the plot area; a gap in the data (NaN, or ≤ 0 on a log axis) breaks the line
        svg.Append(Invariant, $"<clipPath id=\"plot\"><rect x=\"{left}\" y=\"{top}\" width=\"{plotW}\" height=\"{plotH}\"/></clipPath>\n<g clip-path=\"url(#plot)\" fill=\"none\" stroke-linejoin=\"round\">\n");
        foreach (var s in _series)
        {
            var points = new StringBuilder();
            void Flush()
            {
                if (points.Length > 0) svg.Append(Invariant, $"<polyline stroke=\"{s.Color}\" stroke-width=\"{s.Width}\" points=\"{points}\"/>\n");
                points.Clear();
            }
            // more points than pixel columns: keep each column's first, lowest and highest point (the envelope survives)
            bool thin = s.X.Length > 2 * plotW;
            int column = int.MinValue;
            double low = 0, high = 0, lowX = 0, highX = 0;
            void Column()
            {
                if (column == int.MinValue) return;
                (double ax, double ay, double bx, double by) = lowX <= highX ? (lowX, low, highX, high) : (highX, high, lowX, low);
                points.Append(Invariant, $"{Px(ax):F1},{Py(ay):F1} {Px(bx):F1},{Py(by):F1} ");
                column = int.MinValue;
            }
            for (int k = 0; k < s.X.Length; k++)
            {
                if (!Usable(s.Y[k]) || !double.IsFinite(s.X[k])) { Column(); Flush(); continue; }
                double y = LogY ? Math.Log10(s.Y[k]) : s.Y[k];
                if (!thin) { points.Append(Invariant, $"{Px(s.X[k]):F1},{Py(y):F1} "); continue; }
                int c = (int)Math.Floor(Px(s.X[k]));
                if (c != column)
                {
                    Column();
                    column = c; low = high = y; lowX = highX = s.X[k];
                }
                else if (y < low) { low = y; lowX = s.X[k]; }
                else if (y > high) { high = y; highX = s.X[k]; }
            }
            Column();
            Flush();
        }
        svg.Append("</g>\n");

        // legend
        for (int k = 0; k < _series.Count; k++)
        {
            var s = _series[k];
            double x = left + legend[k].X, y = 48 + 18 * legend[k].Row;
            svg.Append(Invariant, $"<line x1=\"{x:F1}\" y1=\"{y - 4:F1}\" x2=\"{x + 24:F1}\" y2=\"{y - 4:F1}\" stroke=\"{s.Color}\" stroke-width=\"3\"/>");
            svg.Append(Invariant, $"<text x=\"{x + 30:F1}\" y=\"{y:F1}\">{Escape(s.Name)}</text>\n");
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private bool Usable(double y) => double.IsFinite(y) && (!LogY || y > 0);

    /// <summary>Ticks at 1, 2 or 5 × 10^k spacing covering [lo, hi], about <paramref name="count"/> of them.</summary>
    private static double[] Ticks(double lo, double hi, int count)
    {
        double raw = (hi - lo) / count, magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = (raw / magnitude) switch { < 1.5 => magnitude, < 3.5 => 2 * magnitude, < 7.5 => 5 * magnitude, _ => 10 * magnitude };
        var ticks = new List<double>();
        for (double t = Math.Floor(lo / step) * step; t <= hi + step * 0.5; t += step)
            ticks.Add(Math.Abs(t) < step * 1e-9 ? 0 : t);
        return ticks.ToArray();
    }

    /// <summary>Log-axis ticks (in log10 units): every decade, plus 2× and 5× when fewer than three decades are shown.</summary>
    private static double[] LogTicks(double lo, double hi)
    {
        var ticks = new List<double>();
        bool fine = hi - lo < 3;
        for (int e = (int)Math.Floor(lo); e <= (int)Math.Ceiling(hi); e++)
        {
            ticks.Add(e);
            if (fine) { ticks.Add(e + Math.Log10(2)); ticks.Add(e + Math.Log10(5)); }
        }
        return ticks.ToArray();
    }

    private static string Label(double v, double[]? ticks)
    {
        if (v == 0) return "0";
        double a = Math.Abs(v);
        if (a >= 1e6 || a < 1e-5) return v.ToString("0.#E+0", Invariant);
        if (a < 1e-3) return v.ToString("0.#######", Invariant);
        if (ticks is { Length: > 1 })
        {
            // as many decimals as the tick spacing needs
            double step = Math.Abs(ticks[1] - ticks[0]);
            int decimals = Math.Clamp((int)Math.Ceiling(-Math.Log10(step) - 1e-9), 0, 6);
            return v.ToString(a >= 1000 && decimals == 0 ? "N0" : "F" + decimals.ToString(Invariant), Invariant);
        }
        return v.ToString("G3", Invariant);
    }

    private static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
