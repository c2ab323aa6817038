using System.Globalization;
using System.Text.Json;
using Stratum.Core.Resources;

namespace Stratum.Simulation;

/// <summary>
/// Reads Stratum's own trace format, as CSV (a header naming the columns, any order) or JSON Lines (one
/// object per line). Fields: <c>submit</c> (ISO-8601 time, or seconds from the trace's start),
/// <c>duration</c> (seconds, or 30s / 2h), <c>gpus</c> (whole number), <c>project</c>; optional
/// <c>priority</c> (integer, default 0), <c>preemptible</c> (true/false, default true), <c>gpuType</c>
/// (default: the cluster's first GPU type), <c>user</c>. docs/simulation.md has examples.
/// </summary>
public static class StratumTraceReader
{
    private static readonly DateTimeOffset Epoch = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private const double MaxSeconds = 3650 * 86_400.0;

    private static readonly string[] Required = ["submit", "duration", "gpus", "project"];

    /// <summary>Reads <paramref name="path"/> as JSON Lines when it ends in .jsonl, else as CSV.</summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static Trace Read(string path)
    {
        using var reader = new StreamReader(path);
        return path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)
            ? ReadJsonLines(reader, Path.GetFileName(path))
            : ReadCsv(reader, Path.GetFileName(path));
    }

    public static Trace ReadCsv(TextReader reader, string fileName)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var problems = new List<TraceProblem>();
        var rows = new List<(TraceJob Job, int Line)>();
        var kind = new SubmitKind();
        var header = reader.ReadLine()?.Trim().TrimStart('\uFEFF');
        var columns = (header ?? "").Split(',').Select(c => c.Trim()).ToArray();
        var missing = Required.Where(r => !columns.Contains(r, StringComparer.OrdinalIgnoreCase)).ToList();
        if (missing.Count > 0)
        {
            problems.Add(new(fileName, 1, $"the header must name the columns {string.Join(", ", Required)} (missing {string.Join(", ", missing)})"));
            return new Trace([], problems);
        }

        var lineNumber = 1;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Trim().Length == 0)
            {
                continue;
            }

            var fields = line.Split(',');
            if (fields.Length != columns.Length)
            {
                problems.Add(new(fileName, lineNumber, $"expected {columns.Length} fields, found {fields.Length}"));
                continue;
            }

            var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < columns.Length; i++)
            {
                values[columns[i]] = fields[i].Trim();
            }

            AddRow(values, fileName, lineNumber, rows, problems, kind);
        }

        return Finish(rows, problems);
    }

    public static Trace ReadJsonLines(TextReader reader, string fileName)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var problems = new List<TraceProblem>();
        var rows = new List<(TraceJob Job, int Line)>();
        var kind = new SubmitKind();
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Trim().Length == 0)
            {
                continue;
            }

            Dictionary<string, string> values;
            try
            {
                using var document = JsonDocument.Parse(line);
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    problems.Add(new(fileName, lineNumber, "expected a JSON object"));
                    continue;
                }

                values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    values[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
                }
            }
            catch (JsonException e)
            {
                // The parser's own "LineNumber: 0" counts within the one line: the column is what helps.
                var message = e.Message.Split(" LineNumber:", 2)[0].Trim();
                var column = e.BytePositionInLine is { } position ? $" (column {(position + 1).ToString(CultureInfo.InvariantCulture)})" : "";
                problems.Add(new(fileName, lineNumber, $"not a JSON object{column}: {message}"));
                continue;
            }

            AddRow(values, fileName, lineNumber, rows, problems, kind);
        }

        return Finish(rows, problems);
    }

    private static void AddRow(Dictionary<string, string> values, string fileName, int line, List<(TraceJob, int)> rows, List<TraceProblem> problems, SubmitKind kind)
    {
        var problem = Parse(values, out var job, out var relative);
        if (problem is null && job is not null)
        {
            problem = kind.Check(relative, line, values["submit"]);
        }

        if (problem is not null)
        {
            problems.Add(new(fileName, line, problem));
        }
        else
        {
            rows.Add((job!, line));
        }
    }

    // Stable: rows of the same instant keep file order, so ids do not depend on the sort algorithm.
    private static Trace Finish(List<(TraceJob Job, int Line)> rows, List<TraceProblem> problems) =>
        new(rows.OrderBy(r => r.Job.SubmittedAt).ThenBy(r => r.Line).Select((r, i) => r.Job with { Id = i + 1, Line = r.Line }).ToList(), problems);

    private static string? Parse(Dictionary<string, string> values, out TraceJob? job, out bool relative)
    {
        job = null;
        relative = false;
        foreach (var name in Required)
        {
            if (!values.TryGetValue(name, out var value) || value.Length == 0)
            {
                return $"{name} is missing";
            }
        }

        var submitText = values["submit"];
        DateTimeOffset submit;
        if (double.TryParse(submitText, NumberStyles.Float, CultureInfo.InvariantCulture, out var offset))
        {
            if (!double.IsFinite(offset) || offset < 0 || offset > TimeSpan.FromDays(36_500).TotalSeconds)
            {
                return $"submit '{submitText}' is not a number of seconds from the trace's start";
            }

            submit = Epoch.AddSeconds(offset);
            relative = true;
        }
        else if (!DateTimeOffset.TryParse(submitText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out submit))
        {
            return $"submit '{submitText}' is neither an ISO-8601 time nor seconds";
        }

        var durationText = values["duration"];
        if (!TryDuration(durationText, out var duration))
        {
            return $"duration '{durationText}' is not a duration (seconds, or 30s, 2h) of at most ten years";
        }

        if (!int.TryParse(values["gpus"], NumberStyles.None, CultureInfo.InvariantCulture, out var gpus) || gpus > 1_000_000)
        {
            return $"gpus '{values["gpus"]}' is not a whole number of GPUs";
        }

        var priority = 0;
        if (values.TryGetValue("priority", out var priorityText) && priorityText.Length > 0
            && !int.TryParse(priorityText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out priority))
        {
            return $"priority '{priorityText}' is not an integer";
        }

        var preemptible = true;
        if (values.TryGetValue("preemptible", out var preemptibleText) && preemptibleText.Length > 0 && !bool.TryParse(preemptibleText, out preemptible))
        {
            return $"preemptible '{preemptibleText}' is not true or false";
        }

        job = new TraceJob(0, submit, duration, gpus, values["project"])
        {
            Priority = priority,
            Preemptible = preemptible,
            GpuType = values.TryGetValue("gpuType", out var type) && type.Length > 0 ? type : null,
            User = values.TryGetValue("user", out var user) && user.Length > 0 ? user : null,
        };
        return null;
    }

    /// <summary>
    /// Seconds from the trace's start count from an arbitrary epoch, so a trace that mixes them with
    /// ISO-8601 times would replay jobs decades apart: the first usable row decides, later rows must agree.
    /// </summary>
    private sealed class SubmitKind
    {
        private bool? _relative;
        private int _line;

        public string? Check(bool relative, int line, string submit)
        {
            if (_relative is null)
            {
                _relative = relative;
                _line = line;
                return null;
            }

            return _relative == relative
                ? null
                : relative
                    ? $"submit '{submit}' is seconds from the trace's start, but line {_line} gave an ISO-8601 time; use one kind of submit time throughout"
                    : $"submit '{submit}' is an ISO-8601 time, but line {_line} gave seconds from the trace's start; use one kind of submit time throughout";
        }
    }

    private static bool TryDuration(string text, out TimeSpan duration)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            duration = double.IsFinite(seconds) && seconds >= 0 && seconds <= MaxSeconds ? TimeSpan.FromSeconds(seconds) : TimeSpan.Zero;
            return double.IsFinite(seconds) && seconds >= 0 && seconds <= MaxSeconds;
        }

        return Quantity.TryParseDuration(text, out duration) && duration >= TimeSpan.Zero && duration.TotalSeconds <= MaxSeconds;
    }
}
