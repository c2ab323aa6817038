using Stratum.Core.Access;
using Stratum.Scheduling;
using Stratum.Server.Auth;
using Stratum.Server.Control;

namespace Stratum.Server.Api;

/// <summary>One project's fair-share state at the last scheduling pass.</summary>
/// <param name="Project">The project.</param>
/// <param name="DecayedGpuHours">Its GPU-hours, each decayed by the half-life from when it was used to the pass.</param>
/// <param name="UsageShare">Its part of every project's decayed GPU-hours, 0 to 1 (0 when there is no history).</param>
/// <param name="Entitlement">The part it is entitled to: projects have equal shares, so 1 / the number of projects.</param>
/// <param name="DominantShare">Its largest share of the cluster's CPU, memory or GPUs held by its running jobs now, 0 to 1.</param>
/// <param name="Penalty">Priority points the queue order takes off its jobs: weight × (usage share + dominant share) / 2; null when the policy does not order by fair share.</param>
public sealed record FairShareProjectDto(string Project, double DecayedGpuHours, double UsageShare, double Entitlement, double DominantShare, double? Penalty);

/// <summary>GET /api/v1/fair-share.</summary>
/// <param name="At">The scheduling pass the figures come from; null before the first pass (projects is then empty).</param>
/// <param name="Policy">The scheduling policy's name.</param>
/// <param name="FairShare">Whether that policy orders the queue by fair share.</param>
/// <param name="Weight">Priority points a full penalty is worth; null without fair share.</param>
/// <param name="HalfLifeHours">The decay half-life of past usage.</param>
/// <param name="Projects">The projects the caller has a role in (admins: all), by name.</param>
public sealed record FairShareDto(DateTimeOffset? At, string Policy, bool FairShare, double? Weight, double HalfLifeHours, IReadOnlyList<FairShareProjectDto> Projects);

/// <summary>
/// GET /api/v1/fair-share: each project's decayed GPU usage and fair-share penalty, read-only, for any
/// signed-in user (the projects they have a role in; admins all). The controller keeps decayed usage in
/// memory only, so the answer is what the last scheduling pass was given, not a new computation from the store.
/// </summary>
public static class FairShareApi
{
    public static void MapFairShare(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/api/v1/fair-share", Get).WithTags("Projects").WithName("GetFairShare");

    private static IResult Get(HttpContext context, SchedulerView view, ISchedulingPolicy policy, ServerOptions options)
    {
        var caller = context.Caller();
        var planning = policy as PlanningPolicy;
        var fairShare = planning?.Options.FairShare == true;
        var weight = fairShare ? planning!.Options.FairShareWeight : (double?)null;
        var snapshot = view.LastSnapshot;
        var projects = snapshot is null
            ? []
            : Compute(snapshot, weight).Where(p => caller.Can(p.Project, ProjectRole.Viewer)).ToList();
        return Results.Ok(new FairShareDto(snapshot?.Now, policy.Name, fairShare, weight, options.FairShareHalfLife.TotalHours, projects));
    }

    /// <summary>
    /// The planning policy's fair-share inputs from its last snapshot (history share of all positive decayed
    /// usage, the dominant share of the nodes held by running jobs) and its <see cref="FairShareFormula"/>.
    /// </summary>
    public static IReadOnlyList<FairShareProjectDto> Compute(ClusterSnapshot snapshot, double? weight)
    {
        var decayed = snapshot.DecayedUsage ?? new Dictionary<string, double>();
        var totalDecayed = decayed.Values.Where(v => v > 0).Sum();
        double totalCpu = 0, totalMemory = 0, totalGpus = 0;
        foreach (var node in snapshot.Nodes)
        {
            totalCpu += node.Allocatable.CpuMillis;
            totalMemory += node.Allocatable.MemoryBytes;
            totalGpus += node.Allocatable.AcceleratorCount;
        }

        var held = new Dictionary<string, (double Cpu, double Memory, double Gpus)>(StringComparer.Ordinal);
        foreach (var job in snapshot.Running)
        {
            var (cpu, memory, gpus) = held.GetValueOrDefault(job.Spec.Project);
            var replicas = job.Spec.Replicas;
            held[job.Spec.Project] = (cpu + (job.Spec.Resources.CpuMillis * replicas), memory + (job.Spec.Resources.MemoryBytes * replicas),
                gpus + (job.Spec.Resources.AcceleratorCount * replicas));
        }

        var names = snapshot.Projects.Select(p => p.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var entitlement = names.Count > 0 ? 1.0 / names.Count : 0;
        return [.. names.Select(name =>
        {
            var usage = Math.Max(0, decayed.GetValueOrDefault(name));
            var history = totalDecayed > 0 ? usage / totalDecayed : 0;
            var (cpu, memory, gpus) = held.GetValueOrDefault(name);
            var dominant = FairShareFormula.DominantShare(cpu, memory, gpus, totalCpu, totalMemory, totalGpus);
            return new FairShareProjectDto(name, usage / 3600, history, entitlement, dominant,
                weight is { } w ? FairShareFormula.Penalty(w, history, dominant) : null);
        })];
    }
}
