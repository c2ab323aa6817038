using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Stratum.Scheduling;
using Stratum.Simulation;

// Trace replay benchmark (issue 3): the whole Philly trace on 58 nodes x 8 GPUs through each policy,
// with the quality figures (JCT, queue time, utilisation, preemptions) and the wall time of each
// replay. The baseline, measured in the same run, is fifo_reference.py: a plain Python replay of the
// same FIFO model (the issue quotes 1.4 s for such a replay), which also cross-checks the FIFO figures.
// Usage: dotnet run -c Release --project bench/Stratum.Simulation.Benchmarks --
//          [--trace PATH] [--nodes 58] [--gpus-per-node 8] [--policies fifo,sjf-oracle,las,las-fine-q5m] [--jobs N]
//          [--restart-cost SECONDS] [--no-python]
string Option(string name, string fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : fallback;
}

var tracePath = Option("--trace", "/work/shared/data/traces/philly.csv");
var nodes = int.Parse(Option("--nodes", "58"), CultureInfo.InvariantCulture);
var gpusPerNode = int.Parse(Option("--gpus-per-node", "8"), CultureInfo.InvariantCulture);
var policies = Option("--policies", "fifo,sjf-oracle,las,las-fine-q5m").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
var restartCost = TimeSpan.FromSeconds(double.Parse(Option("--restart-cost", "0"), CultureInfo.InvariantCulture));
if (!File.Exists(tracePath))
{
    Console.Error.WriteLine($"trace {tracePath} not found; pass --trace PATH");
    return 1;
}

var read = Stopwatch.StartNew();
var trace = PhillyTraceReader.Read(tracePath);
read.Stop();
if (Option("--jobs", "") is { Length: > 0 } prefix)
{
    // A prefix for quick comparisons; published figures use the whole file.
    trace = trace with { Jobs = trace.Jobs.Take(int.Parse(prefix, CultureInfo.InvariantCulture)).ToList() };
}

Console.Error.WriteLine($"read {trace.Jobs.Count} jobs ({trace.Problems.Count} bad rows) in {read.Elapsed.TotalSeconds:F2} s");
var cluster = SimulatedCluster.Uniform(nodes, gpusPerNode);
var runs = new List<SimulationMetrics>();
var allocated = new Dictionary<string, long>(StringComparer.Ordinal);
foreach (var name in policies)
{
    // Bytes allocated by the replay (this thread): allocation per pass was a large share of a replay's time.
    var before = GC.GetAllocatedBytesForCurrentThread();
    var (gen0, gen2, paused) = (GC.CollectionCount(0), GC.CollectionCount(2), GC.GetTotalPauseDuration());
    var result = Simulator.Run(trace, cluster, SchedulingPolicies.CreateForSimulation(name), new SimulationOptions { RestartCost = restartCost });
    allocated[name] = GC.GetAllocatedBytesForCurrentThread() - before;
    var m = result.Metrics;
    Console.Error.WriteLine($"{name,-12} avg JCT {m.AvgJctSeconds,12:F0} s  median {m.MedianJctSeconds,10:F0}  p95 {m.P95JctSeconds,10:F0}  "
        + $"queue {m.AvgQueueSeconds,10:F0}  util {m.GpuUtilization:P1}  preemptions {m.Preemptions,6}  passes {m.Passes,7}  wall {m.WallSeconds:F2} s (policy {m.PolicySeconds:F2} s)  restart {m.RestartGpuSeconds:F0} GPU-s  fairness {m.FairnessIndex:F3}  allocated {allocated[name] / 1e6:F0} MB"
        + $"  gc {GC.CollectionCount(0) - gen0} gen0 / {GC.CollectionCount(2) - gen2} gen2, paused {(GC.GetTotalPauseDuration() - paused).TotalSeconds:F2} s");
    runs.Add(m);
}

object? baseline = null;
if (!args.Contains("--no-python"))
{
    baseline = PythonFifo(tracePath, nodes, gpusPerNode);
    Console.Error.WriteLine($"python fifo reference: {JsonSerializer.Serialize(baseline)}");
}

var results = Path.Combine(RepositoryRoot(), "bench", "results");
Directory.CreateDirectory(results);
var report = new
{
    scenario = "simulation",
    trace = Path.GetFileName(tracePath),
    jobs = trace.Jobs.Count,
    badRows = trace.Problems.Count,
    nodes,
    gpusPerNode,
    restartCostSeconds = restartCost.TotalSeconds,
    machine = new { Environment.ProcessorCount, os = Environment.OSVersion.VersionString, dotnet = Environment.Version.ToString() },
    readSeconds = read.Elapsed.TotalSeconds,
    policies = runs,
    allocatedBytes = allocated,
    loadAverage = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
    baseline = new { name = "python fifo reference replay (fifo_reference.py)", result = baseline },
    reference = new { note = "average JCT quoted in issue 3 for the same file and cluster", fifo = 1_206_000, sjfOracle = 31_700, las = 36_000 },
};
var file = Path.Combine(results, restartCost > TimeSpan.Zero ? "simulation-restart-cost.json" : "simulation.json");
File.WriteAllText(file, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }) + "\n");
Console.Error.WriteLine($"wrote {file}");
return 0;

static JsonElement? PythonFifo(string tracePath, int nodes, int gpusPerNode)
{
    var script = Path.Combine(AppContext.BaseDirectory, "fifo_reference.py");
    var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var argument in new[] { script, tracePath, nodes.ToString(CultureInfo.InvariantCulture), gpusPerNode.ToString(CultureInfo.InvariantCulture) })
    {
        start.ArgumentList.Add(argument);
    }

    try
    {
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            Console.Error.WriteLine($"python reference failed: {error}");
            return null;
        }

        return JsonDocument.Parse(output).RootElement.Clone();
    }
    catch (System.ComponentModel.Win32Exception e)
    {
        Console.Error.WriteLine($"python3 not available ({e.Message}); no baseline this run");
        return null;
    }
}

static string RepositoryRoot()
{
    for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
    {
        if (File.Exists(Path.Combine(directory.FullName, "Stratum.slnx")))
        {
            return directory.FullName;
        }
    }

    return Directory.GetCurrentDirectory();
}
