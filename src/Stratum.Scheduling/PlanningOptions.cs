namespace Stratum.Scheduling;

/// <summary>Settings of the planning policies (<c>default</c>, <c>planning</c>, <c>backfill</c>, <c>fair-share</c>). Each default is documented.</summary>
public sealed record PlanningOptions
{
    /// <summary>EASY backfill: the top job that cannot start gets a reservation that later jobs may not delay. Default true.</summary>
    public bool Backfill { get; init; } = true;

    /// <summary>Order by fair share (decayed usage and dominant share of current usage) within a priority. Default false; true in <c>fair-share</c>, <c>planning</c> and <c>default</c>.</summary>
    public bool FairShare { get; init; }

    /// <summary>Priority points a full fair-share penalty is worth (a project that used everything). Default 10.</summary>
    public double FairShareWeight { get; init; } = 10;

    /// <summary>Priority points a job gains per hour it waits, so nothing starves. Default 0 (off); 1 in <c>fair-share</c>, <c>planning</c> and <c>default</c>.</summary>
    public double AgingPerHour { get; init; }

    /// <summary>A job started less than this long ago is never preempted (no preemption loops). Default 5 minutes.</summary>
    public TimeSpan PreemptionCooldown { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How many waiting jobs may preempt (or claim jobs already stopping) in one pass; later ones try in
    /// later passes. Each one copies and re-plans the cluster, so an unbounded number made a pass over
    /// 10,000 nodes take seconds; Kueue likewise preempts for one workload at a time. Default 8.
    /// </summary>
    public int MaxPreemptorsPerPass { get; init; } = 8;

    /// <summary>Spread replicas over the emptiest nodes instead of best fit. Default false.</summary>
    public bool Spread { get; init; }

    /// <summary>How many waiting jobs, in queue order, get an estimated start time per pass. Default 100.</summary>
    public int EstimateLimit { get; init; } = 100;

    /// <summary>
    /// Least-attained-service bands (Tiresias' discretised LAS, as <c>las-fine</c>): attained GPU-seconds at
    /// which a job drops to the next band, ascending. Within a priority, a job in a better band goes first
    /// (fair share, aging and submit time order within a band), and a waiting job that cannot otherwise be
    /// placed may preempt preemptible jobs of its priority in worse bands (past the cooldown, whole gangs,
    /// never from another project's guaranteed share). Null (the default): no bands; <c>default</c> sets
    /// 16 bands from 1,000 GPU-seconds, doubling.
    /// </summary>
    public IReadOnlyList<double>? ServiceBandsGpuSeconds { get; init; }

    /// <summary>
    /// Starvation promotion with <see cref="ServiceBandsGpuSeconds"/>: a job waiting below band 0 goes back to
    /// band 0 once it has waited this many times as long as it has run since its last promotion. 0 turns it
    /// off. Default 8 (as <c>las-fine</c>).
    /// </summary>
    public double PromoteKnob { get; init; } = 8;

    /// <summary>
    /// The aging bound: a job is ahead of every job of the same priority (and, with
    /// <see cref="ServiceBandsGpuSeconds"/>, the same band) submitted this much later, whatever their
    /// projects' fair share (<see cref="FairShareWeight"/> / <see cref="AgingPerHour"/> hours; zero without
    /// fair share). Null when aging is off. Jobs that never ran are all in band 0, and a job below band 0 is
    /// promoted to it after <see cref="PromoteKnob"/> times its run time.
    /// </summary>
    public TimeSpan? AgingBound => AgingPerHour > 0 ? TimeSpan.FromHours((FairShare ? FairShareWeight : 0) / AgingPerHour) : null;
}
