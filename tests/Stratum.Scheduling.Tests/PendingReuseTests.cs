using Stratum.Core.Jobs;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

/// <summary>
/// A planning policy hands back the last pass's pending decision objects where they did not change, and the
/// last pass's whole list when none did. What it hands back must always equal what a fresh policy decides.
/// </summary>
public sealed class PendingReuseTests
{
    [Theory]
    [InlineData(SchedulingPolicies.Default)]
    [InlineData(PlanningPolicy.BackfillName)]
    [InlineData(PlanningPolicy.FairShareName)]
    public void UnchangedPass_HandsBackTheSameList_AndAChangedOneOnlyWhatStillHolds(string policyName)
    {
        var nodes = new[] { Node("n1", cpus: 64, memoryGi: 512, gpus: 8), Node("n2", cpus: 64, memoryGi: 512, gpus: 8) };
        static Job Ends(Job job, int hours) => job with { Spec = job.Spec with { MaxRuntime = TimeSpan.FromHours(hours) } };
        var running = new List<Job>
        {
            Ends(Running(1, [On("n1", 0, 1, 2, 3, 4, 5, 6, 7)], gpus: 8, cpus: 2, project: "a"), 2),
            Ends(Running(2, [On("n2", 0, 1, 2, 3, 4, 5)], gpus: 6, cpus: 2, project: "b"), 1),
        };
        var queued = Enumerable.Range(10, 40).Select(id => Job(id, gpus: 4 + (id % 3), cpus: 2, project: id % 2 == 0 ? "a" : "b", submittedSecond: id)).ToList();
        var policy = SchedulingPolicies.Create(policyName);
        var snapshot = Snapshot(nodes, queued, running);

        var first = policy.Schedule(snapshot);
        var again = policy.Schedule(snapshot);
        Assert.Equal(40, first.Pending.Count);
        Assert.Same(first.Pending, again.Pending);
        Assert.Equal(Describe(Fresh(policyName, snapshot)), Describe(again));

        // One job gone from the middle: the ones ahead of it keep their objects, the ones behind move up a place.
        var changed = snapshot with { Queued = [.. queued.Where(j => j.Id != 30)] };
        var after = policy.Schedule(changed);
        Assert.NotSame(again.Pending, after.Pending);
        Assert.Equal(Describe(Fresh(policyName, changed)), Describe(after));
        Assert.Same(again.Pending[0], after.Pending[0]);
        Assert.DoesNotContain(after.Pending, p => p.JobId == 30);
        Assert.Equal(Enumerable.Range(1, 39), after.Pending.Select(p => p.QueuePosition));

        // Time moves on: estimates and ages change, and every decision still equals a fresh policy's.
        var later = changed with { Now = changed.Now.AddMinutes(50) };
        Assert.Equal(Describe(Fresh(policyName, later)), Describe(policy.Schedule(later)));
    }

    // Rejection counts are dictionaries, which records compare by reference: compare what they say.
    private static string[] Describe(SchedulingDecisions decisions) =>
        [.. decisions.Pending.Select(p => $"{p.JobId} #{p.QueuePosition}: {p.Reason} at {p.EstimatedStart:O} "
            + string.Join(",", p.NodeRejections.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key}={r.Value}")))];

    private static SchedulingDecisions Fresh(string policyName, Stratum.Scheduling.ClusterSnapshot snapshot) =>
        PassShortcuts.WithoutShortcuts(() => SchedulingPolicies.Create(policyName).Schedule(snapshot));
}
