using System.Text;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

/// <summary>Random snapshots from a seeded Random: whatever the input, the decisions are repeatable and keep the invariants.</summary>
public sealed class PropertyTests
{
    private static readonly string[] Types = [H100, "amd-mi300x"];
    private static readonly string[] ProjectNames = ["vision", "speech", "nlp"];

    public static TheoryData<string, int> Seeds()
    {
        var seeds = new TheoryData<string, int>();
        foreach (var policy in new[] { PriorityPolicy.PolicyName, SchedulingPolicies.Default, PlanningPolicy.BackfillName, PlanningPolicy.FairShareName })
        {
            for (var seed = 0; seed < 20; seed++)
            {
                seeds.Add(policy, seed);
            }
        }

        return seeds;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Schedule_RandomSnapshots_AreDeterministicAndKeepEveryInvariant(string policyName, int seed)
    {
        // Each seed checks a batch, so that many snapshots run without thousands of test cases.
        var policy = SchedulingPolicies.Create(policyName);
        SchedulingDecisions Schedule(ClusterSnapshot snapshot) => policy.Schedule(snapshot);
        var random = new Random(seed);
        for (var round = 0; round < 25; round++)
        {
            var snapshot = RandomSnapshot(random);
            var decisions = Schedule(snapshot);
            var context = $"{policyName} seed {seed} round {round}";

            Assert.True(Canonical(decisions) == Canonical(Schedule(snapshot)), $"{context}: same snapshot twice gave different decisions");
            Assert.True(Canonical(decisions) == Canonical(Schedule(Shuffled(snapshot, random))), $"{context}: input order changed the decisions");
            AssertEveryQueuedJobDecided(snapshot, decisions, context);
            AssertNoNodeOvercommitted(snapshot, decisions, context);
            AssertStartsWithinQuota(snapshot, decisions, context);
            AssertPreemptionsAllowed(snapshot, decisions, context, policyName);
        }
    }

    internal static void AssertEveryQueuedJobDecided(ClusterSnapshot snapshot, SchedulingDecisions decisions, string context)
    {
        var decided = decisions.Starts.Select(s => s.JobId).Concat(decisions.Pending.Select(p => p.JobId)).Order().ToList();
        Assert.True(snapshot.Queued.Select(j => j.Id).Order().SequenceEqual(decided), $"{context}: a queued job was not decided exactly once");
        Assert.All(decisions.Pending, p => Assert.False(string.IsNullOrWhiteSpace(p.Reason), $"{context}: job {p.JobId} has no reason"));
        Assert.True(
            decisions.Pending.All(p => p.QueuePosition >= 1 && p.QueuePosition <= snapshot.Queued.Count),
            $"{context}: queue position out of range");
        Assert.Equal(decisions.Pending.Count, decisions.Pending.Select(p => p.QueuePosition).Distinct().Count());
    }

    internal static void AssertNoNodeOvercommitted(ClusterSnapshot snapshot, SchedulingDecisions decisions, string context)
    {
        var jobs = snapshot.Queued.ToDictionary(j => j.Id);
        var held = snapshot.Running.SelectMany(j => j.CurrentAttempt!.Placement.Select(p => (p, j.Spec)));
        var started = decisions.Starts.SelectMany(s => s.Placement.Select(p => (p, jobs[s.JobId].Spec)));
        foreach (var start in decisions.Starts)
        {
            var spec = jobs[start.JobId].Spec;
            Assert.True(start.Placement.Select(p => p.Rank).SequenceEqual(Enumerable.Range(0, spec.Replicas)), $"{context}: job {start.JobId} ranks");
            foreach (var replica in start.Placement)
            {
                var node = snapshot.Nodes.Single(n => n.Name == replica.Node);
                Assert.True(node.State == NodeState.Ready, $"{context}: job {start.JobId} placed on {node.State} node");
                var types = replica.AcceleratorIndices.Select(i => node.Accelerators.Single(a => a.Index == i).Type);
                Assert.Equal(
                    spec.Resources.Accelerators.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}:{kv.Value}"),
                    types.GroupBy(t => t).OrderBy(g => g.Key).Select(g => $"{g.Key}:{g.Count()}"));
            }
        }

        foreach (var node in snapshot.Nodes)
        {
            var onNode = held.Concat(started).Where(x => x.p.Node == node.Name).ToList();
            var used = onNode.Aggregate(ResourceVector.Zero, (sum, x) => sum.Add(x.Spec.Resources));
            Assert.True(used.FitsIn(node.Allocatable), $"{context}: node {node.Name} over-committed: {used} > {node.Allocatable}");
            var indices = onNode.SelectMany(x => x.p.AcceleratorIndices).ToList();
            Assert.True(indices.Count == indices.Distinct().Count(), $"{context}: node {node.Name} hands out an accelerator twice");
        }
    }

    private static void AssertStartsWithinQuota(ClusterSnapshot snapshot, SchedulingDecisions decisions, string context)
    {
        var jobs = snapshot.Queued.ToDictionary(j => j.Id);
        var usage = snapshot.Running.GroupBy(j => j.Spec.Project)
            .ToDictionary(g => g.Key, g => g.Aggregate(ResourceVector.Zero, (sum, j) => sum.Add(j.Spec.Resources.Multiply(j.Spec.Replicas))));
        foreach (var start in decisions.Starts)
        {
            var spec = jobs[start.JobId].Spec;
            var project = snapshot.Projects.SingleOrDefault(p => p.Name == spec.Project);
            Assert.True(project is not null, $"{context}: job {start.JobId} of a missing project started");
            var request = spec.Resources.Multiply(spec.Replicas);
            var before = usage.GetValueOrDefault(spec.Project, ResourceVector.Zero);
            Assert.True(project.Quota.Exceeded(before, request).Count == 0, $"{context}: job {start.JobId} breaks the quota of {spec.Project}");
            usage[spec.Project] = before.Add(request);
        }
    }

    private static void AssertPreemptionsAllowed(ClusterSnapshot snapshot, SchedulingDecisions decisions, string context, string policyName)
    {
        var running = snapshot.Running.ToDictionary(j => j.Id);
        var queued = snapshot.Queued.ToDictionary(j => j.Id);
        var pending = decisions.Pending.Select(p => p.JobId).ToHashSet();
        Assert.Equal(decisions.Preemptions.Count, decisions.Preemptions.Select(p => p.JobId).Distinct().Count());
        foreach (var preemption in decisions.Preemptions)
        {
            var victim = running[preemption.JobId];
            var forJob = queued[preemption.ForJobId];
            Assert.True(victim.Spec.Preemptible && victim.Stop is null, $"{context}: job {victim.Id} may not be preempted");
            // default also preempts jobs of the same priority that have attained more service (a worse band).
            var forService = false;
            if (victim.Spec.Priority == forJob.Spec.Priority && SchedulingPolicies.Create(policyName) is PlanningPolicy { Options.ServiceBandsGpuSeconds: { } bands } planning)
            {
                var service = new AttainedService(bands, planning.Options.PromoteKnob);
                forService = service.BandOf(service.RunningService(victim, snapshot.Now)) > service.WaitingBand(forJob, snapshot.Now, out _);
            }

            Assert.True(victim.Spec.Priority < forJob.Spec.Priority || forService, $"{context}: job {victim.Id} preempted by one of no higher priority");
            Assert.Contains(forJob.Id, pending);
        }
    }

    private static ClusterSnapshot RandomSnapshot(Random random)
    {
        var nodes = new List<Node>();
        for (var i = random.Next(1, 7); i > 0; i--)
        {
            var gpus = Pick(random, [0, 2, 4, 8]);
            nodes.Add(Node(
                $"n{nodes.Count + 1}",
                cpus: Pick(random, [4, 8, 16, 32]),
                memoryGi: Pick(random, [16, 64, 256]),
                gpus: gpus,
                gpuType: Pick(random, Types),
                state: Pick(random, [NodeState.Ready, NodeState.Ready, NodeState.Ready, NodeState.Ready, NodeState.Draining, NodeState.Down]),
                reservedGpus: gpus > 0 && random.Next(5) == 0 ? 1 : 0));
        }

        var projects = ProjectNames.Select(name => Project(name, Pick(random,
            [Quota.Unlimited, new Quota { Accelerators = 4 }, new Quota { Accelerators = 8 }, new Quota { CpuMillis = 8000 }]))).ToList();

        var nextId = 1L;
        var free = nodes.ToDictionary(n => n.Name, n => (Cpu: n.Allocatable.CpuMillis, Memory: n.Allocatable.MemoryBytes,
            Gpus: n.Allocatable.AcceleratorCount, Indices: n.Accelerators.Select(a => a.Index).ToList()));
        var running = new List<Job>();
        for (var i = random.Next(0, 9); i > 0; i--)
        {
            var (spec, resources) = RandomSpec(random);
            var placement = new List<ReplicaPlacement>();
            foreach (var _ in Enumerable.Range(0, spec.Replicas))
            {
                var fitting = nodes.Where(n => free[n.Name].Cpu >= resources.CpuMillis && free[n.Name].Memory >= resources.MemoryBytes
                    && free[n.Name].Gpus >= resources.AcceleratorCount
                    && (resources.AcceleratorCount == 0 || n.Accelerators.Any(a => resources.AcceleratorsOf(a.Type) > 0))).ToList();
                if (fitting.Count == 0)
                {
                    break;
                }

                var node = Pick(random, fitting.ToArray());
                var f = free[node.Name];
                var indices = f.Indices.Take(resources.AcceleratorCount).ToArray();
                free[node.Name] = (f.Cpu - resources.CpuMillis, f.Memory - resources.MemoryBytes, f.Gpus - resources.AcceleratorCount, f.Indices.Skip(indices.Length).ToList());
                placement.Add(On(node.Name, indices));
            }

            if (placement.Count < spec.Replicas)
            {
                // Give back what the partial gang took; a gang runs whole or not at all.
                foreach (var replica in placement)
                {
                    var f = free[replica.Node];
                    free[replica.Node] = (f.Cpu + resources.CpuMillis, f.Memory + resources.MemoryBytes, f.Gpus + resources.AcceleratorCount,
                        f.Indices.Concat(replica.AcceleratorIndices).Order().ToList());
                }

                continue;
            }

            running.Add(Running(nextId++, [.. placement],
                gpus: resources.AcceleratorCount, cpus: resources.CpuMillis / 1000.0, memoryGi: resources.MemoryBytes / Gi,
                gpuType: resources.Accelerators.Keys.FirstOrDefault() ?? H100, priority: spec.Priority, project: spec.Project,
                preemptible: spec.Preemptible, startedSecond: random.Next(0, 100),
                stopping: random.Next(5) == 0 ? Pick(random, [StopKind.Preempt, StopKind.Cancel, StopKind.Timeout]) : null));
        }

        var queued = new List<Job>();
        for (var i = random.Next(0, 13); i > 0; i--)
        {
            var (spec, resources) = RandomSpec(random);
            queued.Add(Job(nextId++, gpus: resources.AcceleratorCount, cpus: resources.CpuMillis / 1000.0, memoryGi: resources.MemoryBytes / Gi,
                gpuType: resources.Accelerators.Keys.FirstOrDefault() ?? H100, replicas: spec.Replicas, priority: spec.Priority,
                project: random.Next(10) == 0 ? "ghost" : spec.Project, preemptible: spec.Preemptible,
                submittedSecond: random.Next(0, 20), state: random.Next(4) == 0 ? JobState.Preempted : JobState.Pending));
        }

        return Snapshot(nodes, queued, running, projects);
    }

    private static (JobSpec Spec, ResourceVector Resources) RandomSpec(Random random)
    {
        var gpus = Pick(random, [0, 0, 1, 2, 4, 8]);
        var spec = Spec(
            gpus: gpus,
            cpus: Pick(random, [1, 2, 4]),
            memoryGi: Pick(random, [1, 4, 16]),
            gpuType: Pick(random, Types),
            replicas: Pick(random, [1, 1, 1, 2, 3]),
            priority: random.Next(-2, 6),
            project: Pick(random, ProjectNames),
            preemptible: random.Next(2) == 0);
        return (spec, spec.Resources);
    }

    internal static ClusterSnapshot Shuffled(ClusterSnapshot snapshot, Random random) => snapshot with
    {
        Nodes = [.. snapshot.Nodes.OrderBy(_ => random.Next())],
        Queued = [.. snapshot.Queued.OrderBy(_ => random.Next())],
        Running = [.. snapshot.Running.OrderBy(_ => random.Next())],
        Projects = [.. snapshot.Projects.OrderBy(_ => random.Next())],
    };

    internal static T Pick<T>(Random random, T[] choices) => choices[random.Next(choices.Length)];

    internal static string Canonical(SchedulingDecisions decisions)
    {
        var text = new StringBuilder();
        foreach (var start in decisions.Starts)
        {
            text.Append("start ").Append(start.JobId).Append(':');
            foreach (var p in start.Placement)
            {
                text.Append($" {p.Rank}@{p.Node}[{string.Join(",", p.AcceleratorIndices)}]");
            }

            text.AppendLine();
        }

        foreach (var preemption in decisions.Preemptions)
        {
            text.AppendLine($"preempt {preemption.JobId} for {preemption.ForJobId}: {preemption.Reason}");
        }

        foreach (var pending in decisions.Pending)
        {
            var rejections = string.Join(", ", pending.NodeRejections.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
            text.AppendLine($"pending {pending.JobId} #{pending.QueuePosition}: {pending.Reason} [{rejections}]");
        }

        return text.ToString();
    }
}
