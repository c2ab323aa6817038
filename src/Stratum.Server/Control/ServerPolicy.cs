using Stratum.Scheduling;

namespace Stratum.Server.Control;

/// <summary>The scheduling policy a server runs: the one named by its settings, with the settings that tune it.</summary>
public static class ServerPolicy
{
    /// <summary>
    /// <see cref="ServerOptions.SchedulingPolicy"/> with <see cref="ServerOptions.PreemptionCooldown"/>
    /// applied when it is a planning policy (<c>default</c>, <c>backfill</c>, <c>fair-share</c>); the others
    /// have no such setting. The fair-share half-life goes to the controller's <see cref="SchedulingHistory"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not a live policy (settings are validated before this).</exception>
    public static ISchedulingPolicy Create(ServerOptions options)
    {
        var policy = SchedulingPolicies.Create(options.SchedulingPolicy);
        return policy is PlanningPolicy planning
            ? new PlanningPolicy(planning.Name, planning.Options with { PreemptionCooldown = options.PreemptionCooldown })
            : policy;
    }
}
