namespace Stratum.Scheduling;

/// <summary>
/// The planning policies: priority order (with fair share and aging when asked, and least-attained-service
/// bands in <c>default</c>), quotas with cohort borrowing and reclaim, EASY backfill with a reservation for
/// the top blocked job, an estimated start for waiting jobs, and priority preemption with a cooldown (plus
/// preemption of worse bands in <c>default</c>). See docs/scheduling.md.
/// </summary>
public sealed class PlanningPolicy : ISchedulingPolicy
{
    public const string BackfillName = "backfill";
    public const string FairShareName = "fair-share";
    public const string PlanningName = "planning";

    /// <summary>The bands of <c>default</c>: 16 from 1,000 GPU-seconds, doubling (the bands of <c>las-fine</c>).</summary>
    public static IReadOnlyList<double> DefaultServiceBands { get; } = LasOptions.Geometric(1_000, 2, 16);

    // Node layouts carry over between passes (the same node objects come back while the inventory is unchanged).
    private readonly Placement.CapacityIndex.LayoutCache _layouts = new();

    // Attained service per job object, kept between passes; one pass at a time uses it (under _gate).
    private readonly AttainedService? _service;
    private readonly Lock _gate = new();

    /// <exception cref="ArgumentException">The options' service bands are not positive and ascending, or the promotion knob is negative.</exception>
    public PlanningPolicy(string name, PlanningOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(options);
        Name = name;
        Options = options;
        _service = options.ServiceBandsGpuSeconds is { } bands ? new AttainedService(bands, options.PromoteKnob) : null;
    }

    public string Name { get; }

    public PlanningOptions Options { get; }

    /// <summary><c>backfill</c>: strict priority then submit order, EASY backfill.</summary>
    public static PlanningPolicy Backfill(PlanningOptions? options = null) =>
        new(BackfillName, options ?? new PlanningOptions());

    /// <summary><c>fair-share</c>: fair-share order with aging; no reservation, so a job that does not fit does not hold back others.</summary>
    public static PlanningPolicy FairShare(PlanningOptions? options = null) =>
        new(FairShareName, options ?? new PlanningOptions { FairShare = true, AgingPerHour = 1, Backfill = false });

    /// <summary><c>planning</c>: fair-share order with aging, and EASY backfill (what <c>default</c> was before it had service bands).</summary>
    public static PlanningPolicy Planning(PlanningOptions? options = null) =>
        new(PlanningName, options ?? new PlanningOptions { FairShare = true, AgingPerHour = 1, Backfill = true });

    /// <summary>
    /// <c>default</c>: within a priority, least attained service first (16 bands from 1,000 GPU-seconds,
    /// starvation promotion at 8x), then fair share with aging; EASY backfill; preemption of worse bands
    /// past a 5-minute cooldown as well as for priority and quota reclaim.
    /// </summary>
    public static PlanningPolicy Default(PlanningOptions? options = null) =>
        new(SchedulingPolicies.Default, options ?? new PlanningOptions
        {
            FairShare = true,
            AgingPerHour = 1,
            Backfill = true,
            ServiceBandsGpuSeconds = DefaultServiceBands,
        });

    public SchedulingDecisions Schedule(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (_service is null)
        {
            return new PlanPass(snapshot, Options, _layouts, null).Run();
        }

        lock (_gate)
        {
            return new PlanPass(snapshot, Options, _layouts, _service).Run();
        }
    }
}
