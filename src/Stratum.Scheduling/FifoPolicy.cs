using Stratum.Core.Jobs;

namespace Stratum.Scheduling;

/// <summary>
/// Strict first-in first-out: jobs start in submit order and the first job that cannot start (no room,
/// or its project at quota) holds back every job behind it (head-of-line blocking). Priority is
/// ignored; nothing is preempted. The baseline every other policy is measured against.
/// </summary>
public sealed class FifoPolicy : ISchedulingPolicy
{
    public const string PolicyName = "fifo";

    // Guards _blocked: a policy instance may be shared, though a replay calls it from one thread.
    private readonly Lock _gate = new();

    // The last replay pass that started nothing because its first job could not start.
    private BlockedPass? _blocked;

    public string Name => PolicyName;

    public SchedulingDecisions Schedule(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);

        // A replay asks again on every arrival, and while the first job waits for room most arrivals
        // change nothing it depends on: the same first job and the same running jobs (free capacity is
        // theirs to hold) give the same answer, so it is not worked out again (about half of a Philly
        // replay's passes).
        var replay = !snapshot.ExplainPending && snapshot.QueuedInSubmitOrder && snapshot.Capacity is not null;
        if (replay && snapshot.Queued.Count > 0)
        {
            lock (_gate)
            {
                if (_blocked is { } blocked && blocked.Matches(snapshot))
                {
                    return SchedulingDecisions.None;
                }
            }
        }

        var decisions = Walk(snapshot, out var headBlocked);
        if (replay)
        {
            lock (_gate)
            {
                _blocked = headBlocked && decisions.Starts.Count == 0 ? new BlockedPass(snapshot) : null;
            }
        }

        return decisions;
    }

    private static SchedulingDecisions Walk(ClusterSnapshot snapshot, out bool headBlocked)
    {
        headBlocked = false;
        var pass = new QueuePass(snapshot);
        var queue = QueuePass.SubmitOrder(snapshot);
        long? blockedBy = null;
        for (var i = 0; i < queue.Count; i++)
        {
            var job = queue[i];
            if (blockedBy is { } head)
            {
                if (!pass.Explain)
                {
                    break;
                }

                pass.Pend(job, $"waiting behind job {head}: fifo starts jobs strictly in submit order", i + 1);
                continue;
            }

            // A job whose project does not exist can never start; letting it block the queue would stop
            // the whole cluster, so it alone waits.
            if (pass.ProjectProblem(job, out var missing) is { } problem)
            {
                pass.Pend(job, problem, i + 1);
                blockedBy = missing ? null : job.Id;
                continue;
            }

            if (!pass.TryStart(job, out var result))
            {
                // The reason is worded only when asked for: wording it on every blocked pass was a seventh of a FIFO replay.
                if (pass.Explain)
                {
                    pass.Pend(job, pass.NoRoom(job, result), i + 1, result.Rejections);
                }

                blockedBy = job.Id;
                headBlocked = i == 0;
            }
        }

        return pass.Decisions();
    }

    /// <summary>
    /// What a pass whose first job could not start depended on: that job, the running jobs (by
    /// reference: a job record never changes, a new attempt is a new record), the nodes, projects and
    /// capacity view. The same again means the same answer.
    /// </summary>
    private sealed class BlockedPass(ClusterSnapshot snapshot)
    {
        private readonly Job _head = snapshot.Queued[0];
        private readonly Job[] _running = [.. snapshot.Running];
        private readonly IReadOnlyList<Core.Cluster.Node> _nodes = snapshot.Nodes;
        private readonly IReadOnlyList<Core.Cluster.Project> _projects = snapshot.Projects;
        private readonly Placement.RunningCapacity? _capacity = snapshot.Capacity;

        public bool Matches(ClusterSnapshot snapshot)
        {
            if (!ReferenceEquals(snapshot.Queued[0], _head) || !ReferenceEquals(snapshot.Nodes, _nodes) || !ReferenceEquals(snapshot.Projects, _projects)
                || !ReferenceEquals(snapshot.Capacity, _capacity) || snapshot.Running.Count != _running.Length)
            {
                return false;
            }

            for (var i = 0; i < _running.Length; i++)
            {
                if (!ReferenceEquals(snapshot.Running[i], _running[i]))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
