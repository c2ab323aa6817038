using System.Globalization;
using System.Net;
using System.Text;

namespace Stratum.Simulation;

/// <summary>
/// Writes a replay's charts as hand-made SVG (no charting package: a few polylines and rectangles) and an
/// index.html that shows them with the summary table: GPU utilisation over time per policy, the JCT CDF
/// per policy (log-scale seconds), and each project's share of GPU-time against its entitlement.
/// </summary>
public static class SimulationReport
{
    private const int Width = 800;
    private const int Height = 400;
    private const int Margin = 60;
    private const int LegendWidth = 140;
    private const int Buckets = 400;
    private static readonly string[] Colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

    /// <summary>Writes utilization.svg, jct-cdf.svg, project-share.svg and index.html into <paramref name="directory"/>; returns the files.</summary>
    /// <exception cref="IOException">The directory cannot be written.</exception>
    public static IReadOnlyList<string> Write(string directory, IReadOnlyList<SimulationResult> results, int totalGpus)
    {
        ArgumentNullException.ThrowIfNull(results);
        Directory.CreateDirectory(directory);
        var files = new Dictionary<string, string>
        {
            ["utilization.svg"] = Utilization(results, totalGpus),
            ["jct-cdf.svg"] = JctCdf(results),
            ["project-share.svg"] = ProjectShare(results),
            ["index.html"] = Index(results),
        };
        var written = new List<string>();
        foreach (var (name, text) in files)
        {
            var path = Path.Combine(directory, name);
            File.WriteAllText(path, text);
            written.Add(path);
        }

        return written;
    }

    private static string Utilization(IReadOnlyList<SimulationResult> results, int totalGpus)
    {
        var start = results.SelectMany(r => r.BusyGpus).Select(b => b.At).DefaultIfEmpty().Min();
        var end = results.SelectMany(r => r.BusyGpus).Select(b => b.At).DefaultIfEmpty().Max();
        var span = Math.Max(1, (end - start).TotalSeconds);
        var svg = Frame("GPU utilisation over time", "time since the first submit", "GPUs held / all GPUs");
        for (var r = 0; r < results.Count; r++)
        {
            // Time-weighted average per bucket, so a chart of a few hundred points stands for ~10^5 changes.
            var sums = new double[Buckets];
            var series = results[r].BusyGpus;
            for (var i = 0; i < series.Count; i++)
            {
                var from = (series[i].At - start).TotalSeconds;
                var to = i + 1 < series.Count ? (series[i + 1].At - start).TotalSeconds : from;
                var bucket = Math.Min(Buckets - 1, (int)(from / span * Buckets));
                while (from < to)
                {
                    var bucketEnd = (bucket + 1) * span / Buckets;
                    var piece = Math.Min(to, bucketEnd) - from;
                    sums[Math.Min(bucket, Buckets - 1)] += piece * series[i].BusyGpus;
                    from += piece;
                    bucket++;
                }
            }

            var points = Enumerable.Range(0, Buckets).Select(b => (X: (b + 0.5) / Buckets, Y: sums[b] / (span / Buckets) / Math.Max(1, totalGpus)));
            svg.Append(Line(points, Colours[r % Colours.Length]));
        }

        // Days when the replay spans days, else hours: a chart of a short trace labelled "0 .. 0 days" says nothing.
        var (unit, unitSeconds) = span >= 2 * 86_400 ? ("d", 86_400.0) : span >= 2 * 3_600 ? ("h", 3_600.0) : ("min", 60.0);
        XTicks(svg, Enumerable.Range(0, 5).Select(i => (i / 4.0, string.Create(CultureInfo.InvariantCulture, $"{span * i / 4 / unitSeconds:0.#} {unit}"))));
        YTicks(svg, [(0, "0 %"), (0.25, "25 %"), (0.5, "50 %"), (0.75, "75 %"), (1, "100 %")]);
        return Close(svg, results);
    }

    private static string JctCdf(IReadOnlyList<SimulationResult> results)
    {
        var svg = Frame("JCT CDF", "job completion time (log scale: one tick per factor of 10)", "fraction of jobs finished");
        for (var r = 0; r < results.Count; r++)
        {
            var jct = results[r].Jobs.Where(j => j.FinishedAt is not null)
                .Select(j => Math.Max(1, (j.FinishedAt!.Value - j.SubmittedAt).TotalSeconds)).Order().ToArray();
            var step = Math.Max(1, jct.Length / Buckets);
            var points = new List<(double X, double Y)>();
            for (var i = 0; i < jct.Length; i += step)
            {
                points.Add((Math.Clamp(Math.Log10(jct[i]) / 7, 0, 1), (i + 1.0) / jct.Length));
            }

            if (jct.Length > 0)
            {
                points.Add((Math.Clamp(Math.Log10(jct[^1]) / 7, 0, 1), 1));
            }

            svg.Append(Line(points, Colours[r % Colours.Length]));
        }

        XTicks(svg, Enumerable.Range(0, 8).Select(d => (d / 7.0, DecadeLabels[d])));
        YTicks(svg, [(0, "0"), (0.25, "0.25"), (0.5, "0.5"), (0.75, "0.75"), (1, "1")]);
        return Close(svg, results);
    }

    private static readonly string[] DecadeLabels = ["1 s", "10 s", "100 s", "17 min", "2.8 h", "28 h", "12 d", "116 d"];

    private static string ProjectShare(IReadOnlyList<SimulationResult> results)
    {
        var projects = results.SelectMany(r => r.Metrics.Projects).Select(p => p.Project).Distinct().Order(StringComparer.Ordinal).ToList();
        var svg = Frame("Share of GPU-time vs entitlement (black tick) per project", "project", "share");
        var slot = (Width - 2.0 * Margin) / Math.Max(1, projects.Count);
        var bar = slot / (results.Count + 1);
        var top = Math.Max(0.01, results.SelectMany(r => r.Metrics.Projects).Select(p => Math.Max(p.Share, p.Entitlement)).DefaultIfEmpty(0).Max());
        for (var p = 0; p < projects.Count; p++)
        {
            for (var r = 0; r < results.Count; r++)
            {
                var metrics = results[r].Metrics.Projects.FirstOrDefault(m => m.Project == projects[p]);
                var h = (metrics?.Share ?? 0) / top * (Height - 2 * Margin);
                svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Margin + p * slot + r * bar:F1}\" y=\"{Height - Margin - h:F1}\" width=\"{bar:F1}\" height=\"{h:F1}\" fill=\"{Colours[r % Colours.Length]}\"><title>{Escape(projects[p])} {Escape(results[r].Policy)}: {metrics?.Share:P1}</title></rect>\n");
            }

            var entitlement = results[0].Metrics.Projects.FirstOrDefault(m => m.Project == projects[p])?.Entitlement ?? 0;
            var y = Height - Margin - entitlement / top * (Height - 2 * Margin);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Margin + p * slot:F1}\" x2=\"{Margin + (p + 1) * slot - bar:F1}\" y1=\"{y:F1}\" y2=\"{y:F1}\" stroke=\"black\" stroke-width=\"2\"/>\n");

            // The bars are only readable with the project under them; slanted, so long names do not overlap.
            var x = Margin + (p + 0.5) * slot - bar / 2;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:F1}\" y=\"{Height - Margin + 12}\" text-anchor=\"end\" font-size=\"10\" transform=\"rotate(-35 {x:F1} {Height - Margin + 12})\">{Escape(Shorten(projects[p]))}</text>\n");
        }

        YTicks(svg, Enumerable.Range(0, 5).Select(i => (i / 4.0, (top * i / 4).ToString("P0", CultureInfo.InvariantCulture))));
        return Close(svg, results);
    }

    private static string Shorten(string project) => project.Length <= 16 ? project : project[..15] + "…";

    private static string Index(IReadOnlyList<SimulationResult> results)
    {
        var html = new StringBuilder("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>stratum simulate</title>"
            + "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>\n"
            + "<h1>Trace replay</h1>\n<table><tr><th>policy</th><th>jobs</th><th>avg JCT s</th><th>median JCT s</th><th>p95 JCT s</th><th>avg queue s</th><th>makespan s</th><th>GPU util</th><th>preemptions</th><th>restart GPU-h</th><th>fairness</th><th>wall s</th></tr>\n");
        foreach (var m in results.Select(r => r.Metrics))
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{Escape(m.Policy)}</td><td>{m.Finished}/{m.Jobs}</td><td>{m.AvgJctSeconds:F0}</td><td>{m.MedianJctSeconds:F0}</td><td>{m.P95JctSeconds:F0}</td><td>{m.AvgQueueSeconds:F0}</td><td>{m.MakespanSeconds:F0}</td><td>{m.GpuUtilization:P1}</td><td>{m.Preemptions}</td><td>{m.RestartGpuSeconds / 3600:F1}</td><td>{m.FairnessIndex:F3}</td><td>{m.WallSeconds:F2}</td></tr>\n");
        }

        html.Append("</table>\n");

        // The chart shows shares; the numbers behind it (and each project's JCT) belong beside it, as the CLI prints them.
        var projects = results.SelectMany(r => r.Metrics.Projects).Select(p => p.Project).Distinct().Order(StringComparer.Ordinal).ToList();
        if (projects.Count > 0)
        {
            html.Append("<h2>Per project: share of GPU-time vs entitlement</h2>\n<table><tr><th>project</th><th>entitlement</th>");
            foreach (var r in results)
            {
                html.Append(CultureInfo.InvariantCulture, $"<th>{Escape(r.Policy)} share</th><th>{Escape(r.Policy)} avg JCT s</th>");
            }

            html.Append("</tr>\n");
            foreach (var project in projects)
            {
                var entitlement = results.SelectMany(r => r.Metrics.Projects).First(p => p.Project == project).Entitlement;
                html.Append(CultureInfo.InvariantCulture, $"<tr><td>{Escape(project)}</td><td>{entitlement:P1}</td>");
                foreach (var r in results)
                {
                    var mine = r.Metrics.Projects.FirstOrDefault(p => p.Project == project);
                    html.Append(mine is null ? "<td>-</td><td>-</td>" : string.Create(CultureInfo.InvariantCulture, $"<td>{mine.Share:P1}</td><td>{mine.AvgJctSeconds:F0}</td>"));
                }

                html.Append("</tr>\n");
            }

            html.Append("</table>\n");
        }

        html.Append("<p><img src=\"utilization.svg\"></p>\n<p><img src=\"jct-cdf.svg\"></p>\n<p><img src=\"project-share.svg\"></p>\n</body></html>\n");
        return html.ToString();
    }

    private static StringBuilder Frame(string title, string xLabel, string yLabel)
    {
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width + LegendWidth}\" height=\"{Height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width + LegendWidth}\" height=\"{Height}\" fill=\"white\"/>\n<text x=\"{Width / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{Escape(title)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width / 2}\" y=\"{Height - 10}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"12\" y=\"{Height / 2}\" transform=\"rotate(-90 12 {Height / 2})\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Margin}\" y=\"{Margin}\" width=\"{Width - 2 * Margin}\" height=\"{Height - 2 * Margin}\" fill=\"none\" stroke=\"#888\"/>\n");
        return svg;
    }

    /// <summary>Tick marks and labels under the frame; positions 0..1 across it.</summary>
    private static void XTicks(StringBuilder svg, IEnumerable<(double At, string Label)> ticks)
    {
        foreach (var (at, label) in ticks)
        {
            var x = Margin + at * (Width - 2 * Margin);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x:F1}\" x2=\"{x:F1}\" y1=\"{Margin}\" y2=\"{Height - Margin + 4}\" stroke=\"#ddd\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:F1}\" y=\"{Height - Margin + 16}\" text-anchor=\"middle\" font-size=\"10\">{Escape(label)}</text>\n");
        }
    }

    /// <summary>Gridlines and labels left of the frame; positions 0..1 up it.</summary>
    private static void YTicks(StringBuilder svg, IEnumerable<(double At, string Label)> ticks)
    {
        foreach (var (at, label) in ticks)
        {
            var y = Height - Margin - at * (Height - 2 * Margin);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Margin - 4}\" x2=\"{Width - Margin}\" y1=\"{y:F1}\" y2=\"{y:F1}\" stroke=\"#ddd\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Margin - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\" font-size=\"10\">{Escape(label)}</text>\n");
        }
    }

    // Points in 0..1 on both axes, drawn inside the frame.
    private static string Line(IEnumerable<(double X, double Y)> points, string colour)
    {
        var text = string.Join(" ", points.Select(p => string.Create(CultureInfo.InvariantCulture,
            $"{Margin + p.X * (Width - 2 * Margin):F1},{Height - Margin - Math.Clamp(p.Y, 0, 1) * (Height - 2 * Margin):F1}")));
        return $"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{text}\"/>\n";
    }

    private static string Close(StringBuilder svg, IReadOnlyList<SimulationResult> results)
    {
        // Right of the frame, so it never hides the data (a peak of utilisation, the largest project's bar).
        var top = Margin + 4;
        var left = Width - Margin + 16;
        for (var r = 0; r < results.Count; r++)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{top + 4 + r * 16}\" width=\"10\" height=\"10\" fill=\"{Colours[r % Colours.Length]}\"/><text x=\"{left + 15}\" y=\"{top + 13 + r * 16}\">{Escape(results[r].Policy)}</text>\n");
        }

        return svg.Append("</svg>\n").ToString();
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}
