using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

/// <summary>One human sentence for each way a job can wait. Users read these in `stratum jobs why`.</summary>
internal static class PendingReasons
{
    public static string MissingProject(string project) => $"project {project} does not exist";

    public static string AtQuota(string project, IReadOnlyList<string> problems) =>
        $"project {project} is at its quota: {string.Join("; ", problems)}";

    public static string WaitingForStops(IEnumerable<long> ids, bool allPreempted) =>
        allPreempted ? $"waiting for preempted job(s) {Describe.Ids(ids)} to stop" : $"waiting for job(s) {Describe.Ids(ids)} to stop";

    /// <summary>
    /// Why the gang did not fit in <paramref name="free"/> (as it was before the attempt): the most
    /// specific limit first, naming the node that came closest so the user sees how far off it is.
    /// </summary>
    public static string NoRoom(JobSpec spec, GangResult result, FreeCapacity free)
    {
        var replica = spec.Resources;
        if (result.Placed > 0)
        {
            return $"needs {spec.Replicas} replicas of {replica}; only {result.Placed} fit now";
        }

        if (free.Nodes.Count == 0)
        {
            return "no node is registered";
        }

        var ready = free.Nodes.Where(n => n.Node.State == NodeState.Ready).ToList();
        if (ready.Count == 0)
        {
            var draining = free.Nodes.Count(n => n.Node.State == NodeState.Draining);
            var down = free.Nodes.Count - draining;
            return $"no ready node ({draining} draining, {down} down)";
        }

        foreach (var (type, count) in replica.Accelerators)
        {
            var withType = ready.Where(n => n.HasAcceleratorType(type)).ToList();
            if (withType.Count == 0)
            {
                return $"no ready node has {type}";
            }

            var largest = withType.MaxBy(n => n.FreeAccelerators(type))!;
            var block = largest.FreeAccelerators(type);
            if (block == 0)
            {
                return $"needs {count} {type} on one node; every {type} on ready nodes is in use";
            }

            if (block < count)
            {
                return $"needs {count} {type} on one node; the largest free block is {block} on node {largest.Name}";
            }
        }

        // Accelerators are not what is short on every node, so CPU or memory is: show the closest node
        // among those that do have the accelerators.
        var candidates = ready.Where(n => replica.Accelerators.All(kv => n.FreeAccelerators(kv.Key) >= kv.Value)).ToList();
        string[] dimensions = ["cpu", "memory"];
        var closest = Describe.Closest(candidates.Count > 0 ? candidates : ready, replica, dimensions)!;
        return $"needs {Describe.Dimensions(dimensions, d => Describe.Amount(replica, d))} per replica; "
            + $"most free: node {closest.Name} with {Describe.Dimensions(dimensions, d => Describe.Free(closest, d))}";
    }
}
