using Stratum.Core.Jobs;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

/// <summary>
/// The planning pass settles a preemption search by a bound (free devices plus what every candidate victim
/// gives back, per node, in whole replicas) before it sorts victims and tries placements; the bound must
/// never turn away a search the full walk would win. These compare <c>default</c> with its shortcuts and
/// the long way (<see cref="PassShortcuts"/> off, the full walk every time) on crowded clusters where
/// whole-node gangs wait behind jobs of worse service bands, some of them already stopping.
/// </summary>
public sealed class PreemptionBoundTests
{
    [Theory]
    [InlineData(41)]
    [InlineData(42)]
    [InlineData(43)]
    public void Default_WithTheBound_PreemptsAsTheFullWalk(int seed)
    {
        var random = new Random(seed);
        var preemptions = 0;
        var blockedWithoutPreemption = 0;
        for (var cluster = 0; cluster < 40; cluster++)
        {
            var nodes = Enumerable.Range(1, random.Next(2, 5)).Select(i => Node($"n{i}", cpus: 64, memoryGi: 512, gpus: 8)).ToList();
            var running = new List<Job>();
            foreach (var node in nodes)
            {
                var next = 0;
                while (next < 8 && random.Next(6) != 0)
                {
                    var gpus = Math.Min(8 - next, random.Next(1, 9));
                    running.Add(Running(running.Count + 1, [On(node.Name, [.. Enumerable.Range(next, gpus)])], gpus: gpus, cpus: 2,
                        preemptible: random.Next(3) != 0, priority: random.Next(4) == 0 ? 10 : 0,
                        startedSecond: random.Next(0, 35_000), stopping: random.Next(10) == 0 ? StopKind.Preempt : null));
                    next += gpus;
                }
            }

            // Whole-node gangs (which need several nodes' victims at once) among small jobs; all fresh, so in band 0.
            var queued = Enumerable.Range(100, random.Next(1, 8)).Select(id => random.Next(2) == 0
                ? Job(id, gpus: 8, cpus: 2, replicas: random.Next(1, 4), priority: random.Next(5) == 0 ? 10 : 0, submittedSecond: 36_000)
                : Job(id, gpus: random.Next(1, 5), cpus: 2, priority: 0, submittedSecond: 36_000)).ToList();
            var snapshot = Snapshot(nodes, queued, running) with { Now = T0.AddHours(10).AddMinutes(30) };

            var longWay = PassShortcuts.WithoutShortcuts(() => SchedulingPolicies.Create(SchedulingPolicies.Default).Schedule(snapshot));
            var shortcuts = SchedulingPolicies.Create(SchedulingPolicies.Default).Schedule(snapshot);

            Assert.Equal(Describe(longWay), Describe(shortcuts));
            preemptions += shortcuts.Preemptions.Count;
            blockedWithoutPreemption += shortcuts.Preemptions.Count == 0 && shortcuts.Starts.Count < queued.Count ? 1 : 0;
        }

        // Both sides of the bound were exercised: searches that won and searches that could not.
        Assert.True(preemptions > 0, "no preemption in any cluster");
        Assert.True(blockedWithoutPreemption > 0, "no cluster left a job waiting without preempting");
    }

    private static string Describe(SchedulingDecisions decisions) => string.Join("\n",
        decisions.Starts.Select(s => $"start {s.JobId} on {string.Join(",", s.Placement.Select(p => $"{p.Node}[{string.Join(",", p.AcceleratorIndices)}]"))}")
            .Concat(decisions.Preemptions.Select(p => $"preempt {p.JobId} for {p.ForJobId}: {p.Reason}"))
            .Concat(decisions.Pending.Select(p => $"pending {p.JobId} #{p.QueuePosition}: {p.Reason} at {p.EstimatedStart:O}"))
            .Append($"next pass {decisions.NextPassAt:O}"));
}
