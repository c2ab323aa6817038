using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

/// <summary>
/// The planning pass keeps two things between or within passes for speed: each project's quota headroom
/// (until usage changes) and the node layout (while the same node objects come back). Neither may change a
/// decision: these tests compare against the uncached paths on random cohorts and changing clusters.
/// </summary>
public sealed class PassCachingTests
{
    private static readonly string[] Names = ["a", "b", "c"];

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void QuotaHeadroom_GivesTheSameDecisionsAsTheFullCheck(int seed)
    {
        var random = new Random(seed);
        for (var round = 0; round < 400; round++)
        {
            var (nodes, running, queued, projects) = RandomCluster(random);

            // A per-type limit nobody reaches sends every quota question down the full, uncached check.
            var uncached = projects.Select(p => p with { Quota = p.Quota with { AcceleratorsByType = new Dictionary<string, int> { ["some-other-type"] = int.MaxValue } } }).ToList();

            var fast = SchedulingPolicies.Create(SchedulingPolicies.Default).Schedule(Snapshot(nodes, queued, running, projects));
            var full = SchedulingPolicies.Create(SchedulingPolicies.Default).Schedule(Snapshot(nodes, queued, running, uncached));

            AssertSame(full, fast, $"seed {seed} round {round}");
        }
    }

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    public void NodeLayout_ReusedAcrossPasses_GivesTheSameDecisionsAsAFreshPolicy(int seed)
    {
        var random = new Random(seed);
        var reused = SchedulingPolicies.Create(SchedulingPolicies.Default);
        var (nodes, running, queued, projects) = RandomCluster(random);
        for (var round = 0; round < 40; round++)
        {
            // Most rounds keep the very same node objects; some drain one, add one, or replace one with an equal copy.
            switch (random.Next(6))
            {
                case 0:
                    var drained = random.Next(nodes.Count);
                    nodes[drained] = nodes[drained] with { State = nodes[drained].State == NodeState.Ready ? NodeState.Draining : NodeState.Ready };
                    break;
                case 1:
                    nodes.Add(Node($"m{round}", cpus: 64, memoryGi: 512, gpus: random.Next(1, 9)));
                    break;
                case 2:
                    nodes[0] = nodes[0] with { };
                    break;
            }

            var (_, newRunning, newQueued, _) = RandomCluster(random, nodes);
            running = random.Next(2) == 0 ? running : newRunning;
            queued = newQueued;
            var snapshot = Snapshot(nodes, queued, running, projects);

            AssertSame(SchedulingPolicies.Create(SchedulingPolicies.Default).Schedule(snapshot), reused.Schedule(snapshot), $"seed {seed} round {round}");
        }
    }

    private static (List<Node> Nodes, List<Job> Running, List<Job> Queued, List<Project> Projects) RandomCluster(Random random, List<Node>? existing = null)
    {
        var projects = Names.Select(name => Project(name, new Quota
        {
            Accelerators = random.Next(0, 9),
            CpuMillis = random.Next(4) == 0 ? random.Next(1, 40) * 1000 : null,
            Cohort = random.Next(4) == 0 ? null : "lab",
            BorrowingLimit = random.Next(3) == 0 ? new Quota { Accelerators = random.Next(0, 5) } : null,
            LendingLimit = random.Next(3) == 0 ? new Quota { Accelerators = random.Next(0, 5) } : null,
        })).ToList();
        var nodes = existing ?? Enumerable.Range(1, random.Next(1, 5)).Select(i => Node($"n{i}", cpus: 64, memoryGi: 512, gpus: 8)).ToList();
        var nextIndex = nodes.ToDictionary(n => n.Name, _ => 0);
        var running = new List<Job>();
        for (var id = 1; id <= random.Next(0, 8); id++)
        {
            var node = nodes[random.Next(nodes.Count)];
            var gpus = random.Next(1, 3);
            if (nextIndex[node.Name] + gpus > node.Accelerators.Count)
            {
                continue;
            }

            running.Add(Running(id, [On(node.Name, [.. Enumerable.Range(nextIndex[node.Name], gpus)])], gpus: gpus, project: Names[random.Next(3)],
                preemptible: random.Next(2) == 0, priority: random.Next(0, 2)));
            nextIndex[node.Name] += gpus;
        }

        var queued = Enumerable.Range(100, random.Next(1, 20))
            .Select(id => Job(id, gpus: random.Next(1, 6), cpus: random.Next(1, 9), project: Names[random.Next(3)], priority: random.Next(0, 3),
                replicas: random.Next(5) == 0 ? 2 : 1, preemptible: random.Next(2) == 0))
            .ToList();
        return (nodes, running, queued, projects);
    }

    private static void AssertSame(SchedulingDecisions expected, SchedulingDecisions actual, string context)
    {
        Assert.Equal(Describe(expected), Describe(actual));

        static string Describe(SchedulingDecisions decisions) => string.Join("\n",
            decisions.Starts.Select(s => $"start {s.JobId} on {string.Join(",", s.Placement.Select(p => $"{p.Node}[{string.Join(",", p.AcceleratorIndices)}]"))}")
                .Concat(decisions.Preemptions.Select(p => $"preempt {p.JobId} for {p.ForJobId}: {p.Reason}"))
                .Concat(decisions.Pending.Select(p => $"pending {p.JobId} #{p.QueuePosition}: {p.Reason} {string.Join(",", p.NodeRejections.OrderBy(r => r.Key).Select(r => $"{r.Key}={r.Value}"))}")));
    }
}
