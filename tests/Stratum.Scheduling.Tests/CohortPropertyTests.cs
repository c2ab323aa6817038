using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

/// <summary>Random cohorts: whatever the input, starts keep every project within nominal plus its borrowing limit and the cohort within what its members lend.</summary>
public sealed class CohortPropertyTests
{
    private static readonly string[] Names = ["a", "b", "c"];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Schedule_RandomCohorts_NeverExceedDeclaredBorrowing(int seed)
    {
        var random = new Random(seed);
        for (var round = 0; round < 60; round++)
        {
            var projects = Names.Select(name => Project(name, new Quota
            {
                Accelerators = random.Next(0, 9),
                Cohort = "lab",
                BorrowingLimit = random.Next(3) == 0 ? new Quota { Accelerators = random.Next(0, 5) } : null,
                LendingLimit = random.Next(3) == 0 ? new Quota { Accelerators = random.Next(0, 5) } : null,
            })).ToList();
            var nodes = Enumerable.Range(1, random.Next(1, 4)).Select(i => Node($"n{i}", cpus: 64, memoryGi: 512, gpus: 8)).ToList();
            var nextIndex = nodes.ToDictionary(n => n.Name, _ => 0);
            var running = new List<Job>();
            for (var id = 1; id <= random.Next(0, 6); id++)
            {
                var node = nodes[random.Next(nodes.Count)].Name;
                var gpus = random.Next(1, 3);
                if (nextIndex[node] + gpus > 8)
                {
                    continue;
                }

                running.Add(Running(id, [On(node, [.. Enumerable.Range(nextIndex[node], gpus)])], gpus: gpus, project: Names[random.Next(3)],
                    preemptible: random.Next(2) == 0));
                nextIndex[node] += gpus;
            }

            var queued = Enumerable.Range(100, random.Next(1, 15))
                .Select(id => Job(id, gpus: random.Next(1, 5), project: Names[random.Next(3)], priority: random.Next(0, 3)))
                .ToList();
            var snapshot = Snapshot(nodes, queued, running, projects);

            var decisions = SchedulingPolicies.Create(SchedulingPolicies.Default).Schedule(snapshot);

            var context = $"seed {seed} round {round}";
            PropertyTests.AssertEveryQueuedJobDecided(snapshot, decisions, context);
            PropertyTests.AssertNoNodeOvercommitted(snapshot, decisions, context);
            var preempted = decisions.Preemptions.Select(p => p.JobId).ToHashSet();
            var usage = Names.ToDictionary(n => n, n => running.Where(j => j.Spec.Project == n && !preempted.Contains(j.Id)).Sum(j => j.Spec.Resources.AcceleratorCount));
            var byId = queued.ToDictionary(j => j.Id);
            foreach (var start in decisions.Starts)
            {
                var job = byId[start.JobId];
                var before = usage[job.Spec.Project];
                usage[job.Spec.Project] += job.Spec.Resources.AcceleratorCount;
                var quota = projects.Single(p => p.Name == job.Spec.Project).Quota;
                var borrowed = usage[job.Spec.Project] - quota.Accelerators!.Value;
                if (borrowed <= 0)
                {
                    continue;
                }

                Assert.True(quota.BorrowingLimit?.Accelerators is not { } limit || borrowed <= limit, $"{context}: job {job.Id} borrows {borrowed} past its limit");
                long pool = 0, use = 0;
                foreach (var member in projects)
                {
                    var nominal = member.Quota.Accelerators!.Value;
                    var lendable = Math.Min(member.Quota.LendingLimit?.Accelerators ?? nominal, nominal);
                    pool += lendable;
                    use += Math.Max(0, usage[member.Name] - (nominal - lendable));
                }

                Assert.True(use <= pool, $"{context}: job {job.Id} (before {before}) takes the cohort past what it lends: {use} > {pool}");
            }
        }
    }
}
