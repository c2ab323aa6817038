using System.Text.Json;
using System.Text.Json.Nodes;

namespace Stratum.Telemetry.Benchmarks;

/// <summary>
/// bench/results/telemetry-overhead.json holds one entry per scenario; a run replaces only its own, so the
/// real-process and the simulated-job measurements live side by side in one file.
/// </summary>
internal static class ResultFile
{
    public const string RealProcesses = "real_processes";
    public const string SimulatedJobs = "simulated_jobs";

    /// <summary>Indented, and '+' or an apostrophe in a sentence stays readable.</summary>
    public static JsonSerializerOptions Options { get; } = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Write(string scenario, object result)
    {
        var path = Path.Combine(FindRoot(), "bench", "results", "telemetry-overhead.json");
        var scenarios = new JsonObject();
        if (File.Exists(path) && JsonNode.Parse(File.ReadAllText(path)) is JsonObject existing)
        {
            if (existing["scenarios"] is JsonObject known)
            {
                scenarios = (JsonObject)known.DeepClone();
            }
            else if (existing["runs"] is not null)
            {
                // The file from before scenarios: its one measurement is the real-process one.
                var old = (JsonObject)existing.DeepClone();
                old.Remove("benchmark");
                scenarios[RealProcesses] = old;
            }
        }

        scenarios[scenario] = JsonSerializer.SerializeToNode(result);
        var document = new JsonObject
        {
            ["benchmark"] = "telemetry-overhead",
            ["scenarios"] = scenarios,
        };
        var json = document.ToJsonString(Options);
        File.WriteAllText(path, json + "\n");
        return path;
    }

    public static string Machine() => $"{Environment.ProcessorCount} cores, {Environment.OSVersion}";

    public static string? LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null;

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN
            : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2]
            : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string FindRoot()
    {
        var directory = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(directory, "Stratum.slnx")))
        {
            directory = Path.GetDirectoryName(directory) ?? throw new InvalidOperationException("run inside the repository");
        }

        return directory;
    }
}
