using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Text;

namespace LstmGen.Bench;

/// <summary>
/// A small log–log line chart written as SVG by hand (no package): ns per step against hidden size, one polyline per
/// system through its joined points (circles); points not joined (a shape of another family) are drawn as squares.
/// </summary>
public static class SvgChart
{
    /// <param name="X">Hidden size (plotted on a log axis).</param>
    /// <param name="Y">ns per step (log axis).</param>
    /// <param name="Joined">Part of the series' line (circle); false: a lone square marker.</param>
    public sealed record Point(double X, double Y, bool Joined = true);

    /// <param name="Dash">SVG stroke-dasharray, or null for a solid line.</param>
    public sealed record Series(string Label, string Color, string? Dash, IReadOnlyList<Point> Points);

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private const double Width = 1140, Height = 640;
    private const double Left = 80, Right = 400, Top = 56, Bottom = 70;   // plot margins; the legend sits in the right one

    /// <param name="ticks">x positions with their labels (e.g. 16 → "A 16").</param>
    public static string Render(string title, string subtitle, IReadOnlyList<(double X, string Label)> ticks, IReadOnlyList<Series> series)
    {
        var all = series.SelectMany(s => s.Points).Where(p => p.X > 0 && p.Y > 0 && double.IsFinite(p.Y)).ToList();
        double xMin = Math.Min(all.Count > 0 ? all.Min(p => p.X) : 10, ticks.Count > 0 ? ticks.Min(t => t.X) : 10) / 1.25;
        double xMax = Math.Max(all.Count > 0 ? all.Max(p => p.X) : 100, ticks.Count > 0 ? ticks.Max(t => t.X) : 100) * 1.25;
        double yMin = Math.Pow(10, Math.Floor(Math.Log10(all.Count > 0 ? all.Min(p => p.Y) : 1)));
        double yMax = Math.Pow(10, Math.Ceiling(Math.Log10(all.Count > 0 ? all.Max(p => p.Y) : 10)));
        if (yMax <= yMin) yMax = yMin * 10;

        double plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double Px(double x) => Left + (Math.Log10(x) - Math.Log10(xMin)) / (Math.Log10(xMax) - Math.Log10(xMin)) * plotW;
        double Py(double y) => Top + plotH - (Math.Log10(y) - Math.Log10(yMin)) / (Math.Log10(yMax) - Math.Log10(yMin)) * plotH;

        var sb = new StringBuilder();
        sb.AppendLine($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{F(Width)}\" height=\"{F(Height)}\" viewBox=\"0 0 {F(Width)} {F(Height)}\" " +
                      "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">");
        sb.AppendLine($"<rect width=\"{F(Width)}\" height=\"{F(Height)}\" fill=\"white\"/>");
        sb.AppendLine($"<text x=\"{F(Left)}\" y=\"22\" font-size=\"16\" font-weight=\"bold\">{Esc(title)}</text>");
        sb.AppendLine($"<text x=\"{F(Left)}\" y=\"40\" fill=\"#555\">{Esc(subtitle)}</text>");

        // y grid: decades (labelled) and 2×, 5× (light)
        for (double decade = yMin; decade <= yMax * 1.0001; decade *= 10)
        {
            foreach (double k in new[] { 1.0, 2.0, 5.0 })
            {
                double y = decade * k;
                if (y > yMax * 1.0001) break;
                double py = Py(y);
                bool major = k == 1.0;
                sb.AppendLine($"<line x1=\"{F(Left)}\" y1=\"{F(py)}\" x2=\"{F(Left + plotW)}\" y2=\"{F(py)}\" stroke=\"{(major ? "#bbb" : "#e6e6e6")}\" stroke-width=\"1\"/>");
                if (major || plotH / (Math.Log10(yMax) - Math.Log10(yMin)) > 90)
                    sb.AppendLine($"<text x=\"{F(Left - 6)}\" y=\"{F(py + 4)}\" text-anchor=\"end\" fill=\"{(major ? "#000" : "#888")}\">{Esc(NsLabel(y))}</text>");
            }
        }
        // x ticks at the shapes
        foreach (var (x, label) in ticks)
        {
            double px = Px(x);
            sb.AppendLine($"<line x1=\"{F(px)}\" y1=\"{F(Top)}\" x2=\"{F(px)}\" y2=\"{F(Top + plotH)}\" stroke=\"#e6e6e6\" stroke-width=\"1\"/>");
            sb.AppendLine($"<text x=\"{F(px)}\" y=\"{F(Top + plotH + 18)}\" text-anchor=\"middle\">{Esc(label)}</text>");
        }
        sb.AppendLine($"<rect x=\"{F(Left)}\" y=\"{F(Top)}\" width=\"{F(plotW)}\" height=\"{F(plotH)}\" fill=\"none\" stroke=\"#000\"/>");
        sb.AppendLine($"<text x=\"{F(Left + plotW / 2)}\" y=\"{F(Height - 22)}\" text-anchor=\"middle\">hidden size H (shape; log scale)</text>");
        sb.AppendLine($"<text transform=\"translate(20 {F(Top + plotH / 2)}) rotate(-90)\" text-anchor=\"middle\">ns per time step (median; log scale)</text>");

        // series
        foreach (var s in series)
        {
            var pts = s.Points.Where(p => p.X > 0 && p.Y > 0 && double.IsFinite(p.Y)).OrderBy(p => p.X).ToList();
            if (pts.Count == 0) continue;
            string dash = s.Dash is { } d ? $" stroke-dasharray=\"{d}\"" : "";
            var joined = pts.Where(p => p.Joined).ToList();
            if (joined.Count > 1)
                sb.AppendLine($"<polyline fill=\"none\" stroke=\"{s.Color}\" stroke-width=\"2\"{dash} points=\"" +
                              string.Join(" ", joined.Select(p => F(Px(p.X)) + "," + F(Py(p.Y)))) + "\"/>");
            foreach (var p in pts)
            {
                string tip = $"<title>{Esc(s.Label)}: {Esc(NsLabel(p.Y))}</title>";
                sb.AppendLine(p.Joined
                    ? $"<circle cx=\"{F(Px(p.X))}\" cy=\"{F(Py(p.Y))}\" r=\"3.5\" fill=\"{s.Color}\">{tip}</circle>"
                    : $"<rect x=\"{F(Px(p.X) - 4)}\" y=\"{F(Py(p.Y) - 4)}\" width=\"8\" height=\"8\" fill=\"white\" stroke=\"{s.Color}\" stroke-width=\"2\">{tip}</rect>");
            }
        }

        // legend
        double lx = Left + plotW + 20, ly = Top + 6;
        foreach (var s in series)
        {
            string dash = s.Dash is { } d ? $" stroke-dasharray=\"{d}\"" : "";
            sb.AppendLine($"<line x1=\"{F(lx)}\" y1=\"{F(ly)}\" x2=\"{F(lx + 28)}\" y2=\"{F(ly)}\" stroke=\"{s.Color}\" stroke-width=\"2\"{dash}/>");
            sb.AppendLine($"<circle cx=\"{F(lx + 14)}\" cy=\"{F(ly)}\" r=\"3.5\" fill=\"{s.Color}\"/>");
            sb.AppendLine($"<text x=\"{F(lx + 36)}\" y=\"{F(ly + 4)}\" font-size=\"11\">{Esc(s.Label)}</text>");
            ly += 20;
        }
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static string NsLabel(double ns) => ns switch
    {
        >= 1e6 => (ns / 1e6).ToString("0.##", Inv) + " ms",
        >= 1e3 => (ns / 1e3).ToString("0.##", Inv) + " µs",
        _ => ns.ToString("0.##", Inv) + " ns",
    };

    private static string F(double v) => v.ToString("0.#", Inv);
    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
