namespace Stratum.Scheduling;

/// <summary>
/// The planning policies: priority order (with fair share and aging when asked), quotas with cohort
/// borrowing and reclaim, EASY backfill with a reservation for the top blocked job, an estimated start
/// for waiting jobs, and priority preemption with a cooldown. See docs/scheduling.md.
/// </summary>
public sealed class PlanningPolicy(string name, PlanningOptions options) : ISchedulingPolicy
{
    public const string BackfillName = "backfill";
    public const string FairShareName = "fair-share";

    // Node layouts carry over between passes (the same node objects come back while the inventory is unchanged).
    private readonly Placement.CapacityIndex.LayoutCache _layouts = new();

    public string Name => name;

    public PlanningOptions Options => options;

    /// <summary><c>backfill</c>: strict priority then submit order, EASY backfill.</summary>
    public static PlanningPolicy Backfill(PlanningOptions? options = null) =>
        new(BackfillName, options ?? new PlanningOptions());

    /// <summary><c>fair-share</c>: fair-share order with aging; no reservation, so a job that does not fit does not hold back others.</summary>
    public static PlanningPolicy FairShare(PlanningOptions? options = null) =>
        new(FairShareName, options ?? new PlanningOptions { FairShare = true, AgingPerHour = 1, Backfill = false });

    /// <summary><c>default</c>: fair-share order with aging, and EASY backfill.</summary>
    public static PlanningPolicy Default(PlanningOptions? options = null) =>
        new(SchedulingPolicies.Default, options ?? new PlanningOptions { FairShare = true, AgingPerHour = 1, Backfill = true });

    public SchedulingDecisions Schedule(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return new PlanPass(snapshot, options, _layouts).Run();
    }
}
