using System.Globalization;

namespace Stratum.Simulation;

/// <summary>
/// Reads the Philly trace format (Microsoft's Philly cluster, ATC'19): a CSV with the header
/// <c>timestamp,duration,num_gpus,gpu_time,cluster</c>, timestamps as <c>yyyy-MM-dd HH:mm:ss</c> (UTC),
/// durations in seconds, rows in any order. <c>cluster</c> is the job's project; <c>gpu_time</c> is
/// redundant (duration times GPUs) and ignored.
/// </summary>
public static class PhillyTraceReader
{
    public const string Header = "timestamp,duration,num_gpus,gpu_time,cluster";

    private static readonly string[] TimestampFormats = ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF"];

    /// <summary>Reads <paramref name="path"/>; every malformed row is reported in <see cref="Trace.Problems"/> and left out.</summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static Trace Read(string path)
    {
        using var reader = new StreamReader(path);
        return Read(reader, Path.GetFileName(path));
    }

    public static Trace Read(TextReader reader, string fileName)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var problems = new List<TraceProblem>();
        var rows = new List<(DateTimeOffset At, int Line, TimeSpan Duration, int Gpus, string Project)>();
        var header = reader.ReadLine();
        if (header is null || !string.Equals(header.Trim().TrimStart('\uFEFF'), Header, StringComparison.Ordinal))
        {
            problems.Add(new(fileName, 1, $"expected the header '{Header}'"));
            return new Trace([], problems);
        }

        var lineNumber = 1;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            var row = ParseRow(line);
            if (row.Message is { } message)
            {
                problems.Add(new(fileName, lineNumber, message));
            }
            else
            {
                rows.Add((row.At, lineNumber, row.Duration, row.Gpus, row.Project));
            }
        }

        // Stable: rows of the same second keep file order, so ids do not depend on the sort algorithm.
        var jobs = rows.OrderBy(r => r.At).ThenBy(r => r.Line)
            .Select((r, i) => new TraceJob(i + 1, r.At, r.Duration, r.Gpus, r.Project) { Line = r.Line })
            .ToList();
        return new Trace(jobs, problems);
    }

    private static Row ParseRow(string line)
    {
        var fields = line.Split(',');
        if (fields.Length != 5)
        {
            return Row.Bad($"expected 5 fields, found {fields.Length}");
        }

        if (!DateTimeOffset.TryParseExact(fields[0].Trim(), TimestampFormats, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return Row.Bad($"timestamp '{fields[0]}' is not yyyy-MM-dd HH:mm:ss");
        }

        if (!double.TryParse(fields[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
            || !double.IsFinite(seconds) || seconds < 0 || seconds > TimeSpan.FromDays(3650).TotalSeconds)
        {
            return Row.Bad($"duration '{fields[1]}' is not a number of seconds between 0 and ten years");
        }

        if (!double.TryParse(fields[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var gpus)
            || gpus != Math.Floor(gpus) || gpus is < 0 or > 1_000_000)
        {
            return Row.Bad($"num_gpus '{fields[2]}' is not a whole number of GPUs");
        }

        var project = fields[4].Trim();
        if (project.Length == 0)
        {
            return Row.Bad("cluster (the project) is empty");
        }

        return new Row(null, at, TimeSpan.FromSeconds(seconds), (int)gpus, project);
    }

    private sealed record Row(string? Message, DateTimeOffset At, TimeSpan Duration, int Gpus, string Project)
    {
        public static Row Bad(string message) => new(message, default, default, 0, "");
    }
}
