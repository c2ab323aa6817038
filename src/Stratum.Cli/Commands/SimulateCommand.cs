using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stratum.Core.Resources;
using Stratum.Scheduling;
using Stratum.Simulation;

namespace Stratum.Cli.Commands;

/// <summary>
/// <c>stratum simulate</c>: replays a job trace through scheduling policies (the same code the server
/// runs) on a simulated cluster and compares them side by side. Runs offline: no server needed.
/// </summary>
public static class SimulateCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var trace = new Option<string>("--trace")
        {
            Description = "The trace to replay: Philly CSV (timestamp,duration,num_gpus,gpu_time,cluster), or Stratum's own CSV or .jsonl (docs/simulation.md)",
            Required = true,
        };
        var clusterFile = new Option<string?>("--cluster") { Description = "The cluster as YAML node groups (instead of --nodes and --gpus-per-node)" };
        var nodes = new Option<int>("--nodes") { Description = "Nodes in the simulated cluster", DefaultValueFactory = _ => 58 };
        var gpusPerNode = new Option<int>("--gpus-per-node") { Description = "GPUs per node", DefaultValueFactory = _ => 8 };
        var policies = new Option<string>("--policy")
        {
            Description = $"Policies to compare, comma-separated: {string.Join(", ", PolicyNames)}",
            DefaultValueFactory = _ => "fifo,sjf-oracle,las,priority",
        };
        var restartCost = new Option<string>("--restart-cost") { Description = "Time a job loses each time it resumes after a preemption, e.g. 30s", DefaultValueFactory = _ => "0s" };
        var report = new Option<string?>("--report") { Description = "Also write charts (SVG) and an index.html showing them into this directory" };
        var skipBadRows = new Option<bool>("--skip-bad-rows") { Description = "Report malformed trace rows and replay the rest (default: reject the trace)" };
        var command = new Command("simulate", "Replay a job trace through scheduling policies and compare them")
        {
            trace, clusterFile, nodes, gpusPerNode, policies, restartCost, skipBadRows, report,
        };
        return command.WithAction(environment, run =>
        {
            var problems = new List<string>();
            var names = (run.Get(policies) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (names.Length == 0)
            {
                problems.Add("--policy: name at least one policy");
            }

            problems.AddRange(names.Where(n => !PolicyNames.Contains(n, StringComparer.Ordinal))
                .Select(n => $"--policy: '{n}' is not a policy; use one of {string.Join(", ", PolicyNames)}"));
            var nodeCount = run.Get(nodes);
            var perNode = run.Get(gpusPerNode);
            if (nodeCount is < 1 or > 1_000_000)
            {
                problems.Add("--nodes: must be between 1 and 1000000");
            }

            if (perNode is < 1 or > 1024)
            {
                problems.Add("--gpus-per-node: must be between 1 and 1024");
            }

            var costText = run.Get(restartCost) ?? "0s";
            if (!TryParseSeconds(costText, out var cost))
            {
                problems.Add($"--restart-cost: '{costText}' is not a duration such as 30s, 2m or 0");
            }

            var path = run.Get(trace)!;
            if (!File.Exists(path))
            {
                problems.Add($"--trace: {path} does not exist");
            }

            if (problems.Count > 0)
            {
                problems.ForEach(run.Terminal.Fail);
                return Task.FromResult(ExitCodes.Invalid);
            }

            SimulatedCluster? cluster = null;
            if (run.Get(clusterFile) is { } clusterPath)
            {
                if (!File.Exists(clusterPath))
                {
                    run.Terminal.Fail($"--cluster: {clusterPath} does not exist");
                    return Task.FromResult(ExitCodes.Invalid);
                }

                cluster = ClusterFile.Load(clusterPath, out var clusterProblems);
                if (cluster is null)
                {
                    foreach (var problem in clusterProblems)
                    {
                        run.Terminal.Fail(problem);
                    }

                    return Task.FromResult(ExitCodes.Invalid);
                }
            }

            var read = ReadTrace(path);
            foreach (var problem in read.Problems)
            {
                run.Terminal.Fail(problem.ToString());
            }

            if (read.Problems.Count > 0 && !run.Get(skipBadRows))
            {
                run.Terminal.Note($"{read.Problems.Count} malformed row(s); fix them or pass --skip-bad-rows to replay the rest");
                return Task.FromResult(ExitCodes.Invalid);
            }

            cluster ??= SimulatedCluster.Uniform(nodeCount, perNode);
            var options = new SimulationOptions { RestartCost = cost };
            var results = new List<SimulationMetrics>();
            var replays = new List<SimulationResult>();
            foreach (var name in names)
            {
                run.CancellationToken.ThrowIfCancellationRequested();
                var result = Simulator.Run(read, cluster, CreatePolicy(name), options);
                if (results.Count == 0)
                {
                    foreach (var problem in result.Problems.Take(20))
                    {
                        run.Terminal.Note(problem);
                    }
                }

                foreach (var problem in result.Problems.Where(p => p.Contains("never started", StringComparison.Ordinal)).Take(results.Count == 0 ? 0 : 5))
                {
                    run.Terminal.Note($"{name}: {problem}");
                }

                results.Add(result.Metrics);
                replays.Add(result);
            }

            if (run.Get(report) is { } reportDirectory)
            {
                foreach (var file in SimulationReport.Write(reportDirectory, replays, cluster.TotalGpus))
                {
                    run.Terminal.Note($"wrote {file}");
                }
            }

            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(results);
                return Task.FromResult(ExitCodes.Ok);
            }

            var table = Format.Table("POLICY", "JOBS", "AVG JCT", "MEDIAN JCT", "P95 JCT", "AVG QUEUE", "MAKESPAN", "GPU UTIL", "PREEMPTIONS", "RESTART GPU-H", "FAIRNESS", "WALL");
            foreach (var m in results)
            {
                table.AddRow(
                    Format.Cell(m.Policy),
                    m.Finished == m.Jobs ? Count(m.Jobs) : $"{Count(m.Finished)}/{Count(m.Jobs)}",
                    Seconds(m.AvgJctSeconds),
                    Seconds(m.MedianJctSeconds),
                    Seconds(m.P95JctSeconds),
                    Seconds(m.AvgQueueSeconds),
                    Seconds(m.MakespanSeconds),
                    m.GpuUtilization.ToString("P1", CultureInfo.InvariantCulture),
                    Count(m.Preemptions),
                    (m.RestartGpuSeconds / 3600).ToString("N1", CultureInfo.InvariantCulture),
                    m.FairnessIndex.ToString("F3", CultureInfo.InvariantCulture),
                    m.WallSeconds.ToString("F2", CultureInfo.InvariantCulture) + " s");
            }

            table.Title($"{Path.GetFileName(path)}: {Count(read.Jobs.Count)} jobs on {cluster.Nodes.Count} nodes, {Count(cluster.TotalGpus)} GPUs, restart cost {Format.Duration(cost)}");
            run.Terminal.Result(table);

            // Per project: share of GPU-time against entitlement, and average JCT, policy by policy.
            var headers = new List<string> { "PROJECT", "ENTITLEMENT" };
            headers.AddRange(results.SelectMany(m => new[] { $"{m.Policy} SHARE", $"{m.Policy} AVG JCT" }));
            var projects = Format.Table([.. headers]);
            foreach (var project in results[0].Projects)
            {
                var cells = new List<string> { Format.Cell(project.Project), project.Entitlement.ToString("P1", CultureInfo.InvariantCulture) };
                foreach (var m in results)
                {
                    var mine = m.Projects.FirstOrDefault(p => p.Project == project.Project);
                    cells.Add(mine?.Share.ToString("P1", CultureInfo.InvariantCulture) ?? "-");
                    cells.Add(mine is null ? "-" : Seconds(mine.AvgJctSeconds));
                }

                projects.AddRow([.. cells]);
            }

            projects.Title("per project: share of GPU-time vs entitlement (equal shares unless the cluster file weights them)");
            run.Terminal.Result(projects);
            return Task.FromResult(ExitCodes.Ok);
        });
    }

    /// <summary>Every policy name the simulator takes: the built-in ones and the LAS presets it compares.</summary>
    private static IReadOnlyList<string> PolicyNames { get; } =
        SchedulingPolicies.SimulationNames;

    private static ISchedulingPolicy CreatePolicy(string name) => SchedulingPolicies.CreateForSimulation(name);

    /// <summary>Philly when the header says so; else Stratum's own format, JSON Lines for .jsonl.</summary>
    private static Trace ReadTrace(string path)
    {
        string? header;
        using (var reader = new StreamReader(path))
        {
            header = reader.ReadLine();
        }

        return string.Equals(header?.Trim().TrimStart('\uFEFF'), PhillyTraceReader.Header, StringComparison.Ordinal)
            ? PhillyTraceReader.Read(path)
            : StratumTraceReader.Read(path);
    }

    private static string Count(int value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Seconds(double seconds) => seconds.ToString("N0", CultureInfo.InvariantCulture) + " s";

    /// <summary>A duration such as 30s, 2m, 1h or a bare number of seconds.</summary>
    private static bool TryParseSeconds(string text, out TimeSpan duration)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0 && seconds < 1e9)
        {
            duration = TimeSpan.FromSeconds(seconds);
            return true;
        }

        return Quantity.TryParseDuration(text, out duration) && duration >= TimeSpan.Zero;
    }
}
