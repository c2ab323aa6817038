using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling.Tests;

/// <summary>
/// A small replay driven the way the simulator drives a policy (jobs end, arrivals join the queue in submit
/// order, a pass, preempted jobs rejoin the queue, time jumps to the next event or wake-up), that asks the
/// policy under test on the replay's fast path (one instance across passes, queue promised in submit order,
/// a <see cref="RunningCapacity"/> kept in step) and a fresh plain-path policy (queue copied, no capacity
/// view) on every pass, and asserts they decide alike.
/// </summary>
internal static class PassByPassReplay
{
    /// <summary>
    /// Replays <paramref name="arrivals"/> (in submit order, each with how long it runs) on <paramref name="nodes"/>;
    /// up to <paramref name="passesPerInstant"/> passes at one instant while the last one preempted (the simulator
    /// asks again so freed GPUs are used). Returns the passes made, starts (restarts included) and preemptions.
    /// </summary>
    public static (int Passes, int Started, int Preemptions) Run(IReadOnlyList<Node> nodes, IReadOnlyList<Project> projects,
        IReadOnlyList<(Job Job, TimeSpan Duration)> arrivals, ISchedulingPolicy fast, Func<ISchedulingPolicy> plain, int passesPerInstant = 1)
    {
        var durations = arrivals.ToDictionary(a => a.Job.Id, a => a.Duration);
        var capacity = new RunningCapacity(nodes);
        var queued = new List<Job>();
        var running = new Dictionary<long, (Job Job, DateTimeOffset EndsAt)>();
        var remaining = new Dictionary<long, TimeSpan>(durations);
        var now = arrivals[0].Job.SubmittedAt;
        var next = 0;
        var passes = 0;
        var started = 0;
        var preemptions = 0;
        while (next < arrivals.Count || queued.Count > 0 || running.Count > 0)
        {
            foreach (var (id, (job, _)) in running.Where(r => r.Value.EndsAt <= now).OrderBy(r => r.Key).ToList())
            {
                capacity.Remove(job);
                running.Remove(id);
            }

            while (next < arrivals.Count && arrivals[next].Job.SubmittedAt <= now)
            {
                queued.Add(arrivals[next++].Job);
            }

            DateTimeOffset? wake = null;
            for (var pass = 0; pass < passesPerInstant && queued.Count > 0; pass++)
            {
                var runningJobs = running.Values.Select(r => r.Job).OrderBy(j => j.Id).ToList();
                var expected = plain().Schedule(new ClusterSnapshot
                {
                    Now = now, Nodes = nodes, Projects = projects, Queued = [.. queued], Running = runningJobs,
                    KnownDurations = durations, ExplainPending = false,
                });
                var actual = fast.Schedule(new ClusterSnapshot
                {
                    Now = now, Nodes = nodes, Projects = projects, Queued = queued, Running = runningJobs,
                    KnownDurations = durations, ExplainPending = false, QueuedInSubmitOrder = true, Capacity = capacity,
                });
                passes++;
                Assert.Equal(Describe(expected), Describe(actual));
                wake = actual.NextPassAt;
                foreach (var preemption in actual.Preemptions)
                {
                    var (victim, _) = running[preemption.JobId];
                    capacity.Remove(victim);
                    running.Remove(victim.Id);
                    var attempt = victim.CurrentAttempt!;
                    remaining[victim.Id] -= now - attempt.StartedAt;
                    var requeued = victim with { State = JobState.Preempted, Attempts = [.. victim.Attempts.SkipLast(1), attempt with { EndedAt = now }] };
                    var at = queued.FindIndex(j => (j.SubmittedAt, j.Id).CompareTo((requeued.SubmittedAt, requeued.Id)) > 0);
                    queued.Insert(at < 0 ? queued.Count : at, requeued);
                    preemptions++;
                }

                foreach (var start in actual.Starts)
                {
                    var job = queued.Single(j => j.Id == start.JobId);
                    queued.Remove(job);
                    var runningJob = job with
                    {
                        State = JobState.Running,
                        Attempts = [.. job.Attempts, new JobAttempt { Number = job.Attempts.Count + 1, Placement = start.Placement, StartedAt = now }],
                    };
                    capacity.Add(runningJob);
                    running[job.Id] = (runningJob, now + remaining[job.Id]);
                    started++;
                }

                if (actual.Preemptions.Count == 0)
                {
                    break;
                }
            }

            var candidates = running.Values.Select(r => r.EndsAt)
                .Concat(next < arrivals.Count ? [arrivals[next].Job.SubmittedAt] : [])
                .Concat(wake is { } w && w > now ? [w] : []).ToList();
            if (candidates.Count == 0)
            {
                break;
            }

            now = candidates.Min();
        }

        return (passes, started, preemptions);
    }

    /// <summary>Starts (with nodes and devices), preemptions and the wake-up asked for, as one line to compare.</summary>
    public static string Describe(SchedulingDecisions decisions) =>
        string.Join("; ", decisions.Starts.Select(s => $"start {s.JobId} on {string.Join(",", s.Placement.Select(p => $"{p.Node}[{string.Join(" ", p.AcceleratorIndices)}]"))}")
            .Concat(decisions.Preemptions.Select(p => $"preempt {p.JobId} for {p.ForJobId}"))) + $" wake {decisions.NextPassAt}";
}
