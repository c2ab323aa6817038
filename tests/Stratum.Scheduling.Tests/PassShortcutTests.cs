using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

/// <summary>
/// The planning pass takes shortcuts for speed: it repeats the outcome of an earlier job of the same class
/// while nothing changed, and reuses the previous pass's queue order and free capacity while the same job
/// objects come back. Every shortcut must give exactly the long way's decisions (<see cref="PassShortcuts"/>
/// off): these tests compare the two on random clusters with many jobs of few classes, reservations and
/// preemption, over passes that keep, reorder, or change the queue.
/// </summary>
public sealed class PassShortcutTests
{
    private static readonly string[] Names = ["a", "b", "c"];

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var policy in new[] { SchedulingPolicies.Default, PlanningPolicy.BackfillName, PlanningPolicy.FairShareName, PlanningPolicy.PlanningName })
        {
            data.Add(policy, 31);
            data.Add(policy, 32);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Shortcuts_GiveTheLongWaysDecisions_PassAfterPass(string policyName, int seed)
    {
        var random = new Random(seed);
        for (var cluster = 0; cluster < 25; cluster++)
        {
            var (nodes, running, queued, projects) = RandomCluster(random);
            var kept = SchedulingPolicies.Create(policyName);
            var now = T0.AddHours(1);
            for (var pass = 0; pass < 4; pass++)
            {
                var snapshot = Snapshot(nodes, queued, running, projects) with { Now = now };
                var longWay = PassShortcuts.WithoutShortcuts(() => SchedulingPolicies.Create(policyName).Schedule(snapshot));
                AssertSame(longWay, kept.Schedule(snapshot), $"{policyName} seed {seed} cluster {cluster} pass {pass}");

                // Next pass: the same objects (every kept thing reused), time moved on (keys move, order mostly holds),
                // or a changed queue and running set (nothing reusable).
                switch (random.Next(3))
                {
                    case 0:
                        break;
                    case 1:
                        now = now.AddMinutes(random.Next(1, 600));
                        break;
                    default:
                        queued = [.. queued.Where(_ => random.Next(5) != 0), .. NewJobs(random, 1000 + (pass * 100), random.Next(0, 20))];
                        running = running.Where(_ => random.Next(4) != 0).ToList();
                        break;
                }
            }
        }
    }

    private static List<Job> NewJobs(Random random, int firstId, int count) =>
        Enumerable.Range(firstId, count).Select(id =>
        {
            // Few classes, so that many jobs share one: that is where a repeated outcome could go wrong.
            var job = Job(id, gpus: random.Next(1, 5), cpus: 2, project: Names[random.Next(3)], priority: random.Next(0, 2) * 10,
                replicas: random.Next(6) == 0 ? 2 : 1, preemptible: random.Next(2) == 0, submittedSecond: random.Next(0, 3600));
            return random.Next(3) == 0 ? job : job with { Spec = job.Spec with { MaxRuntime = TimeSpan.FromMinutes(random.Next(1, 300)) } };
        }).ToList();

    private static (List<Node> Nodes, List<Job> Running, List<Job> Queued, List<Project> Projects) RandomCluster(Random random)
    {
        var projects = Names.Select(name => Project(name, new Quota
        {
            // Some projects have no limit at all: without cohorts their jobs share outcomes across projects.
            Accelerators = random.Next(4) == 0 ? null : random.Next(2, 17),
            Cohort = random.Next(4) == 0 ? null : "lab",
            BorrowingLimit = random.Next(3) == 0 ? new Quota { Accelerators = random.Next(0, 5) } : null,
        })).ToList();
        var nodes = Enumerable.Range(1, random.Next(2, 6)).Select(i => Node($"n{i}", cpus: 64, memoryGi: 512, gpus: 8)).ToList();
        var running = new List<Job>();
        foreach (var node in nodes)
        {
            var next = 0;
            for (var id = running.Count + 1; next < 8 && random.Next(4) != 0; id++)
            {
                var gpus = Math.Min(8 - next, random.Next(1, 5));
                var job = Running(id, [On(node.Name, [.. Enumerable.Range(next, gpus)])], gpus: gpus, cpus: 2, project: Names[random.Next(3)],
                    preemptible: random.Next(2) == 0, priority: random.Next(0, 2) * 10, startedSecond: random.Next(0, 3000));
                running.Add(job with { Spec = job.Spec with { MaxRuntime = TimeSpan.FromMinutes(random.Next(30, 600)) } });
                next += gpus;
            }
        }

        return (nodes, running, NewJobs(random, 100, random.Next(20, 120)), projects);
    }

    private static void AssertSame(SchedulingDecisions expected, SchedulingDecisions actual, string context)
    {
        Assert.True(Describe(expected) == Describe(actual), $"{context}:\nlong way:\n{Describe(expected)}\nshortcuts:\n{Describe(actual)}");

        static string Describe(SchedulingDecisions decisions) => string.Join("\n",
            decisions.Starts.Select(s => $"start {s.JobId} on {string.Join(",", s.Placement.Select(p => $"{p.Node}[{string.Join(",", p.AcceleratorIndices)}]"))}")
                .Concat(decisions.Preemptions.Select(p => $"preempt {p.JobId} for {p.ForJobId}: {p.Reason}"))
                .Concat(decisions.Pending.Select(p => $"pending {p.JobId} #{p.QueuePosition}: {p.Reason} at {p.EstimatedStart:O} "
                    + string.Join(",", p.NodeRejections.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key}={r.Value}"))))
                .Append($"next pass {decisions.NextPassAt:O}"));
    }
}
