namespace Stratum.Scheduling;

/// <summary>Settings of the planning policies (<c>backfill</c>, <c>fair-share</c>, <c>default</c>). Each default is documented.</summary>
public sealed record PlanningOptions
{
    /// <summary>EASY backfill: the top job that cannot start gets a reservation that later jobs may not delay. Default true.</summary>
    public bool Backfill { get; init; } = true;

    /// <summary>Order by fair share (decayed usage and dominant share of current usage) within a priority. Default false.</summary>
    public bool FairShare { get; init; }

    /// <summary>Priority points a full fair-share penalty is worth (a project that used everything). Default 10.</summary>
    public double FairShareWeight { get; init; } = 10;

    /// <summary>Priority points a job gains per hour it waits, so nothing starves. Default 0 (off); 1 in <c>fair-share</c> and <c>default</c>.</summary>
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
    /// The aging bound: a job is ahead of every job of the same priority submitted this much later, whatever
    /// their projects' fair share (<see cref="FairShareWeight"/> / <see cref="AgingPerHour"/> hours; zero
    /// without fair share). Null when aging is off.
    /// </summary>
    public TimeSpan? AgingBound => AgingPerHour > 0 ? TimeSpan.FromHours((FairShare ? FairShareWeight : 0) / AgingPerHour) : null;
}
