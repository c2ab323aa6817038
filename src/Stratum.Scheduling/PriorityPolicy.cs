using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

/// <summary>
/// The first policy: strict priority, then submit order; project quotas; gangs placed all or none;
/// best-fit placement that keeps large accelerator blocks whole; preemption of lower-priority
/// preemptible work when a job does not fit. See <see cref="SchedulingPass.Run"/> for the order
/// in which jobs are tried and what that means for large jobs.
/// </summary>
public sealed class PriorityPolicy : ISchedulingPolicy
{
    public const string PolicyName = "priority";

    public string Name => PolicyName;

    public SchedulingDecisions Schedule(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return new SchedulingPass(snapshot, Placer.Default).Run();
    }
}
