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
        var trace = new Option<string>("--trace") { Description = "The trace to replay, in the Philly CSV format (timestamp,duration,num_gpus,gpu_time,cluster)", Required = true };
        var nodes = new Option<int>("--nodes") { Description = "Nodes in the simulated cluster", DefaultValueFactory = _ => 58 };
        var gpusPerNode = new Option<int>("--gpus-per-node") { Description = "GPUs per node", DefaultValueFactory = _ => 8 };
        var policies = new Option<string>("--policy")
        {
            Description = $"Policies to compare, comma-separated: {string.Join(", ", SchedulingPolicies.SimulationNames)}",
            DefaultValueFactory = _ => "fifo,sjf-oracle,las,priority",
        };
        var restartCost = new Option<string>("--restart-cost") { Description = "Time a job loses each time it resumes after a preemption, e.g. 30s", DefaultValueFactory = _ => "0s" };
        var skipBadRows = new Option<bool>("--skip-bad-rows") { Description = "Report malformed trace rows and replay the rest (default: reject the trace)" };
        var command = new Command("simulate", "Replay a job trace through scheduling policies and compare them")
        {
            trace, nodes, gpusPerNode, policies, restartCost, skipBadRows,
        };
        return command.WithAction(environment, run =>
        {
            var problems = new List<string>();
            var names = (run.Get(policies) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (names.Length == 0)
            {
                problems.Add("--policy: name at least one policy");
            }

            problems.AddRange(names.Where(n => !SchedulingPolicies.SimulationNames.Contains(n, StringComparer.Ordinal))
                .Select(n => $"--policy: '{n}' is not a policy; use one of {string.Join(", ", SchedulingPolicies.SimulationNames)}"));
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

            var read = PhillyTraceReader.Read(path);
            foreach (var problem in read.Problems)
            {
                run.Terminal.Fail(problem.ToString());
            }

            if (read.Problems.Count > 0 && !run.Get(skipBadRows))
            {
                run.Terminal.Note($"{read.Problems.Count} malformed row(s); fix them or pass --skip-bad-rows to replay the rest");
                return Task.FromResult(ExitCodes.Invalid);
            }

            var cluster = SimulatedCluster.Uniform(nodeCount, perNode);
            var options = new SimulationOptions { RestartCost = cost };
            var results = new List<SimulationMetrics>();
            foreach (var name in names)
            {
                run.CancellationToken.ThrowIfCancellationRequested();
                var result = Simulator.Run(read, cluster, SchedulingPolicies.CreateForSimulation(name), options);
                if (results.Count == 0)
                {
                    foreach (var problem in result.Problems.Take(20))
                    {
                        run.Terminal.Note(problem);
                    }
                }

                results.Add(result.Metrics);
            }

            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(results);
                return Task.FromResult(ExitCodes.Ok);
            }

            var table = Format.Table("POLICY", "JOBS", "AVG JCT", "MEDIAN JCT", "P95 JCT", "AVG QUEUE", "MAKESPAN", "GPU UTIL", "PREEMPTIONS", "WALL");
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
                    m.WallSeconds.ToString("F2", CultureInfo.InvariantCulture) + " s");
            }

            table.Title($"{Path.GetFileName(path)}: {Count(read.Jobs.Count)} jobs on {nodeCount} x {perNode} GPUs, restart cost {Format.Duration(cost)}");
            run.Terminal.Result(table);
            return Task.FromResult(ExitCodes.Ok);
        });
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
