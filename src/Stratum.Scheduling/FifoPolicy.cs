namespace Stratum.Scheduling;

/// <summary>
/// Strict first-in first-out: jobs start in submit order and the first job that cannot start (no room,
/// or its project at quota) holds back every job behind it (head-of-line blocking). Priority is
/// ignored; nothing is preempted. The baseline every other policy is measured against.
/// </summary>
public sealed class FifoPolicy : ISchedulingPolicy
{
    public const string PolicyName = "fifo";

    public string Name => PolicyName;

    public SchedulingDecisions Schedule(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
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
                pass.Pend(job, pass.NoRoom(job, result), i + 1, result.Rejections);
                blockedBy = job.Id;
            }
        }

        return pass.Decisions();
    }
}
