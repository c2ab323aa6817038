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
        var trace = new Option<string?>("--trace")
        {
            Description = "The trace to replay: Philly CSV (timestamp,duration,num_gpus,gpu_time,cluster), or Stratum's own CSV or .jsonl (docs/simulation.md)",
        };
        var fromHistory = new Option<bool>("--from-history") { Description = "Replay the server's own finished jobs (as 'stratum jobs export' writes them) instead of --trace" };
        var since = new Option<string>("--since") { Description = "With --from-history: how far back, by submission time: 30d, 12h, 90m", DefaultValueFactory = _ => "30d" };
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
            trace, fromHistory, since, clusterFile, nodes, gpusPerNode, policies, restartCost, skipBadRows, report,
        };
        return command.WithAction(environment, async run =>
        {
            var problems = new List<string>();
            var names = (run.Get(policies) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (names.Length == 0)
            {
                problems.Add("--policy: name at least one policy");
            }

            problems.AddRange(names.Where(n => !PolicyNames.Contains(n, StringComparer.Ordinal))
                .Select(n => $"--policy: '{n}' is not a policy; use one of {string.Join(", ", PolicyNames)}"));
            problems.AddRange(names.GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1)
                .Select(g => $"--policy: '{g.Key}' is named twice; name each policy once"));
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

            // The shorthand and a cluster file both describe the nodes; silently using one would replay a cluster the user did not mean.
            var shorthandGiven = Given(run, nodes) || Given(run, gpusPerNode);
            if (run.Get(clusterFile) is not null && shorthandGiven)
            {
                problems.Add("--cluster: the file describes the nodes; drop --nodes and --gpus-per-node, or drop --cluster");
            }

            var costText = run.Get(restartCost) ?? "0s";
            if (!TryParseSeconds(costText, out var cost))
            {
                problems.Add($"--restart-cost: '{costText}' is not a duration such as 30s, 2m or 0");
            }

            var path = run.Get(trace);
            var history = run.Get(fromHistory);
            if (path is null && !history)
            {
                problems.Add("--trace: name a trace file, or pass --from-history to replay the server's own finished jobs");
            }
            else if (path is not null && history)
            {
                problems.Add("--trace and --from-history: name one source of jobs, not both");
            }
            else if (path is not null && Directory.Exists(path))
            {
                problems.Add($"--trace: {path} is a directory; name a trace file in it");
            }
            else if (path is not null && !File.Exists(path))
            {
                problems.Add($"--trace: {path} does not exist; check the path");
            }

            if (!history && Given(run, since))
            {
                problems.Add("--since: only applies to --from-history");
            }

            if (problems.Count > 0)
            {
                problems.ForEach(run.Terminal.Fail);
                return ExitCodes.Invalid;
            }

            SimulatedCluster? cluster = null;
            if (run.Get(clusterFile) is { } clusterPath)
            {
                if (!File.Exists(clusterPath))
                {
                    run.Terminal.Fail($"--cluster: {clusterPath} does not exist; check the path");
                    return ExitCodes.Invalid;
                }

                cluster = ClusterFile.Load(clusterPath, out var clusterProblems);
                if (cluster is null)
                {
                    foreach (var problem in clusterProblems)
                    {
                        run.Terminal.Fail(problem);
                    }

                    return ExitCodes.Invalid;
                }
            }

            var sinceText = run.Get(since) ?? "30d";
            Trace read;
            string source;
            if (history)
            {
                source = $"history (since {sinceText})";
                await using var stream = await run.Client.ExportJobsAsync(sinceText, "jsonl", run.CancellationToken);
                using var reader = new StreamReader(stream);
                read = StratumTraceReader.ReadJsonLines(reader, source);
            }
            else
            {
                source = Path.GetFileName(path!);
                read = ReadTrace(path!);
            }

            foreach (var problem in read.Problems.Take(MaxProblemsShown))
            {
                run.Terminal.Fail(problem.ToString());
            }

            if (read.Problems.Count > MaxProblemsShown)
            {
                run.Terminal.Fail($"... and {Count(read.Problems.Count - MaxProblemsShown)} more malformed row(s), the last at {read.Problems[^1]}");
            }

            if (read.Jobs.Count == 0)
            {
                // Nothing to replay: a table of zeros would look like a result.
                run.Terminal.Fail(history
                    ? $"the server has no finished jobs submitted in the last {sinceText}; run some jobs, or widen --since"
                    : read.Problems.Count > 0
                        ? $"{source}: no usable job in the trace; fix the rows above (docs/simulation.md describes the formats)"
                        : $"{source}: the trace has no jobs");
                return ExitCodes.Invalid;
            }

            if (read.Problems.Count > 0 && !run.Get(skipBadRows))
            {
                run.Terminal.Note($"{Count(read.Problems.Count)} malformed row(s); fix them or pass --skip-bad-rows to replay the other {Count(read.Jobs.Count)}");
                return ExitCodes.Invalid;
            }

            if (read.Problems.Count > 0)
            {
                run.Terminal.Note($"skipped {Count(read.Problems.Count)} malformed row(s); replaying the other {Count(read.Jobs.Count)}");
            }

            if (cluster is null && read.Jobs.Any(j => j.GpuType is not null))
            {
                // --nodes/--gpus-per-node make one kind of GPU; an exported history names real types, which
                // would leave every typed job out as needing a GPU the cluster lacks.
                var typed = read.Jobs.Where(j => j.GpuType is not null).GroupBy(j => j.GpuType!, StringComparer.Ordinal)
                    .Select(g => $"{g.Key}: {Count(g.Count())}");
                run.Terminal.Note($"the trace names GPU types ({string.Join(", ", typed)} jobs); --nodes and --gpus-per-node make one kind of GPU, so every job runs on it; describe the types with --cluster FILE to keep them apart");
                read = read with { Jobs = [.. read.Jobs.Select(j => j with { GpuType = null })] };
            }

            cluster ??= SimulatedCluster.Uniform(nodeCount, perNode);

            // Jobs that could never run here are left out of every replay; said once, at their row, not per policy by id.
            var never = read.Jobs.Select(j => (Job: j, Why: cluster.WhyNever(j))).Where(n => n.Why is not null).ToList();
            foreach (var (job, why) in never.Take(MaxProblemsShown))
            {
                run.Terminal.Note($"{source}:{job.Line.ToString(CultureInfo.InvariantCulture)}: {why}; left out");
            }

            if (never.Count > 0)
            {
                run.Terminal.Note($"{Count(never.Count)} job(s) can never run on this cluster and are left out; replaying the other {Count(read.Jobs.Count - never.Count)}");
                read = read with { Jobs = [.. read.Jobs.Where(j => cluster.WhyNever(j) is null)] };
                if (read.Jobs.Count == 0)
                {
                    run.Terminal.Fail($"{source}: no job in the trace could ever run on this cluster ({Count(cluster.TotalGpus)} GPUs); give it more or larger nodes");
                    return ExitCodes.Invalid;
                }
            }
            var options = new SimulationOptions { RestartCost = cost };
            var results = new List<SimulationMetrics>();
            var replays = new List<SimulationResult>();
            foreach (var name in names)
            {
                run.CancellationToken.ThrowIfCancellationRequested();
                if (read.Jobs.Count >= ProgressFromJobs)
                {
                    // A whole-file replay takes seconds to a minute per policy: say which one is running.
                    run.Terminal.Note($"replaying {Count(read.Jobs.Count)} jobs with {name} ({results.Count + 1}/{names.Length})");
                }

                var result = Simulator.Run(read, cluster, CreatePolicy(name), options);
                if (read.Jobs.Count >= ProgressFromJobs)
                {
                    run.Terminal.Note($"{name}: done in {result.Metrics.WallSeconds.ToString("F1", CultureInfo.InvariantCulture)} s");
                }

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
                return ExitCodes.Ok;
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

            table.Title($"{source}: {Count(read.Jobs.Count)} jobs on {cluster.Nodes.Count} nodes, {Count(cluster.TotalGpus)} GPUs, restart cost {Format.Duration(cost)}");
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
            return ExitCodes.Ok;
        });
    }

    // A wrong file (or the wrong format) makes every row a problem; the first ones say what is wrong.
    private const int MaxProblemsShown = 20;

    // Below this a replay takes well under a second and progress lines would only be noise.
    private const int ProgressFromJobs = 10_000;

    private static bool Given<T>(Invocation run, Option<T> option) => run.Result.GetResult(option) is { Implicit: false };

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
