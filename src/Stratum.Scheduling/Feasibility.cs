using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

/// <summary>Questions about a job that do not depend on what else runs, asked when it is submitted.</summary>
public static class Feasibility
{
    /// <summary>
    /// Null when <paramref name="spec"/> could run on <paramref name="nodes"/> with nothing else running
    /// and within <paramref name="project"/>'s quota; else one sentence saying why it never can, so the
    /// submit is refused instead of the job waiting forever.
    /// </summary>
    /// <remarks>
    /// Nodes that are Down or Draining still count as capacity: they may come back, and refusing a job
    /// because its only node is rebooting would lose work the user meant to queue. A null
    /// <paramref name="project"/> skips the quota question (the caller reports the unknown project).
    /// </remarks>
    public static string? WhyNeverFits(JobSpec spec, IReadOnlyList<Node> nodes, Project? project)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(nodes);
        var replica = spec.Resources;
        var empty = FreeCapacity.Build(nodes, []);
        if (empty.Nodes.Count == 0)
        {
            return "no node is registered to run it on";
        }

        foreach (var type in replica.Accelerators.Keys)
        {
            if (!empty.Nodes.Any(n => n.HasAcceleratorType(type)))
            {
                var known = empty.Nodes.SelectMany(n => n.AcceleratorTypes).Distinct().Order(StringComparer.Ordinal).ToList();
                return known.Count == 0
                    ? $"no node has {type} accelerators; the cluster has no accelerators"
                    : $"no node has {type} accelerators; the cluster has {string.Join(", ", known)}";
            }
        }

        if (Placer.AnyNodeState.SelectNode(empty.Nodes, new ReplicaRequest(replica), rejections: null) < 0)
        {
            var dimensions = Describe.Requested(replica).ToList();
            var largest = Describe.Closest(empty.Nodes, replica, dimensions)!;
            var shortDimensions = dimensions.Where(d => Describe.Free(largest, d) < Describe.Amount(replica, d)).ToList();
            return $"needs {Describe.Dimensions(shortDimensions, d => Describe.Amount(replica, d))} per replica; "
                + $"the largest node, {largest.Name}, has {Describe.Dimensions(shortDimensions, d => Describe.Free(largest, d))} allocatable";
        }

        if (spec.Replicas > 1 && Placer.AnyNodeState.PlaceGang(empty, spec) is { Fits: false } gang)
        {
            return $"needs {spec.Replicas} replicas of {replica}; even on the whole cluster with nothing else running only {gang.Placed} fit";
        }

        var total = replica.Multiply(spec.Replicas);
        if (project is not null && project.Quota.NeverFits(total))
        {
            var problems = project.Quota.Exceeded(ResourceVector.Zero, total);
            return $"needs {total} in all, more than project {project.Name}'s quota allows even with nothing else running: {string.Join("; ", problems)}";
        }

        return null;
    }
}
