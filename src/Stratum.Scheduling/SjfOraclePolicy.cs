using Stratum.Core.Jobs;

namespace Stratum.Scheduling;

/// <summary>
/// Shortest job first with perfect knowledge: the job with the least remaining true run time
/// (<see cref="ClusterSnapshot.KnownDurations"/> less what earlier attempts ran) starts first; a job that
/// does not fit does not hold back those behind it. Not preemptive. Only a simulator knows true
/// durations, so this is the yardstick for duration-agnostic policies, never a live policy: without
/// durations every job waits with a reason saying so, and the server refuses it at startup.
/// </summary>
public sealed class SjfOraclePolicy : ISchedulingPolicy
{
    public const string PolicyName = "sjf-oracle";

    public const string NeedsDurations = "sjf-oracle needs every job's true duration, which only a simulator replaying a trace knows";

    // Guards _index: a policy instance may be shared, though a replay calls it from one thread.
    private readonly Lock _gate = new();

    // The queue kept sorted from pass to pass for a simulator (see SjfQueueIndex); null until the first such pass.
    private SjfQueueIndex? _index;

    public string Name => PolicyName;

    public SchedulingDecisions Schedule(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var pass = new QueuePass(snapshot);
        if (snapshot.KnownDurations is not { } durations)
        {
            var waiting = 1;
            foreach (var job in QueuePass.SubmitOrder(snapshot))
            {
                pass.Pend(job, NeedsDurations, waiting++);
            }

            return pass.Decisions();
        }

        if (!pass.Explain && snapshot.QueuedInSubmitOrder)
        {
            lock (_gate)
            {
                _index = SjfQueueIndex.Advance(_index, snapshot, durations);
                if (!_index.Walk(pass))
                {
                    // The index was out of step with the queue: decide again from scratch.
                    pass = new QueuePass(snapshot);
                    _index = SjfQueueIndex.Advance(null, snapshot, durations);
                    _index.Walk(pass);
                }
            }

            return pass.Decisions();
        }

        // Once no accelerator is free, no accelerator job can start, so without reasons to explain only
        // jobs that fit in what is free are considered, and they come off a heap only while GPUs are
        // left: sorting a replay's whole queue (tens of thousands under SJF, whose long jobs wait) on
        // every pass took minutes for the Philly trace.
        var freeAccelerators = pass.Free.Nodes.Sum(n => n.AcceleratorTypes.Sum(n.FreeAccelerators));
        var heap = new PriorityQueue<Job, (TimeSpan Remaining, DateTimeOffset SubmittedAt, long Id)>(
            snapshot.Queued
                .Where(j => pass.Explain || (freeAccelerators == 0 ? j.Spec.Resources.Accelerators.Count == 0 : QueuePass.Accelerators(j.Spec) <= freeAccelerators))
                .Select(j => (j, (Remaining(j, durations), j.SubmittedAt, j.Id))));
        var cpuOnlyLeft = snapshot.Queued.Count(j => j.Spec.Resources.Accelerators.Count == 0);
        var position = 0;
        while (heap.TryDequeue(out var job, out _))
        {
            position++;
            var needs = QueuePass.Accelerators(job.Spec);
            cpuOnlyLeft -= needs == 0 ? 1 : 0;
            if (!pass.Explain && freeAccelerators == 0 && cpuOnlyLeft <= 0 && needs > 0)
            {
                break;
            }

            if (needs > freeAccelerators && !pass.Explain)
            {
                continue;
            }

            if (pass.ProjectProblem(job, out _) is { } problem)
            {
                pass.Pend(job, problem, position);
                continue;
            }

            if (pass.TryStart(job, out var result))
            {
                freeAccelerators -= needs;
            }
            else
            {
                if (pass.Explain)
                {
                    pass.Pend(job, pass.NoRoom(job, result), position, result.Rejections);
                }

            }
        }

        return pass.Decisions();
    }

    /// <summary>True duration less the time earlier attempts ran; a job with no known duration goes last.</summary>
    internal static TimeSpan Remaining(Job job, IReadOnlyDictionary<long, TimeSpan> durations)
    {
        if (!durations.TryGetValue(job.Id, out var duration))
        {
            return TimeSpan.MaxValue;
        }

        foreach (var attempt in job.Attempts)
        {
            if (attempt.EndedAt is { } ended)
            {
                duration -= ended - attempt.StartedAt;
            }
        }

        return duration < TimeSpan.Zero ? TimeSpan.Zero : duration;
    }
}
