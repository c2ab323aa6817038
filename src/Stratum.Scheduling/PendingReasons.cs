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

/// <summary>
/// The last pass's pending decisions, kept by a policy so that the next pass can hand back the same objects
/// where nothing changed: 100,000 new decision records every pass were a fifth of a pass in allocation and
/// collections. Reasons and node rejection counts are made canonical (one instance per content, carried
/// over from the pass before), so an unchanged decision is found by comparing references.
/// Safe for concurrent passes: what is kept is immutable and replaced whole; each pass works on its own <see cref="Pass"/>.
/// </summary>
internal sealed class PendingMemory
{
    private Kept? _last;

    /// <summary>A pass's view of what the last pass kept, and where it collects its own canonical instances.</summary>
    public Pass Begin() => new(Volatile.Read(ref _last));

    private void Keep(Kept kept) => Volatile.Write(ref _last, kept);

    internal sealed record Kept(
        PendingDecision[] Decisions,
        Dictionary<string, string> Reasons,
        Dictionary<IReadOnlyDictionary<string, int>, IReadOnlyDictionary<string, int>> Rejections);

    public sealed class Pass
    {
        private readonly Kept? _last;
        private readonly Dictionary<string, string> _reasons = new(StringComparer.Ordinal);
        private readonly Dictionary<IReadOnlyDictionary<string, int>, IReadOnlyDictionary<string, int>> _rejections = new(SameCounts.Instance);

        internal Pass(Kept? last) => _last = last;

        /// <summary>The last pass's decisions by position among the waiting jobs (empty when there was none).</summary>
        public PendingDecision[] Last => _last?.Decisions ?? [];

        /// <summary>The one instance of this reason's text, the last pass's where it had the same.</summary>
        public string Canonical(string reason)
        {
            if (_reasons.TryGetValue(reason, out var known))
            {
                return known;
            }

            known = _last is not null && _last.Reasons.TryGetValue(reason, out var before) ? before : reason;
            _reasons[known] = known;
            return known;
        }

        /// <summary>The one instance of these rejection counts, the last pass's where it had the same.</summary>
        public IReadOnlyDictionary<string, int> Canonical(IReadOnlyDictionary<string, int> rejections)
        {
            if (_rejections.TryGetValue(rejections, out var known))
            {
                return known;
            }

            known = _last is not null && _last.Rejections.TryGetValue(rejections, out var before) ? before : rejections;
            _rejections[known] = known;
            return known;
        }

        /// <summary>Keeps this pass's decisions and canonical instances for the next pass.</summary>
        public void End(PendingMemory memory, PendingDecision[] decisions) => memory.Keep(new Kept(decisions, _reasons, _rejections));
    }

    /// <summary>Rejection counts compared by content (a handful of reasons each).</summary>
    private sealed class SameCounts : IEqualityComparer<IReadOnlyDictionary<string, int>>
    {
        public static SameCounts Instance { get; } = new();

        public bool Equals(IReadOnlyDictionary<string, int>? x, IReadOnlyDictionary<string, int>? y)
        {
            if (ReferenceEquals(x, y))
            {
                return true;
            }

            if (x is null || y is null || x.Count != y.Count)
            {
                return false;
            }

            foreach (var (reason, count) in x)
            {
                if (!y.TryGetValue(reason, out var other) || other != count)
                {
                    return false;
                }
            }

            return true;
        }

        public int GetHashCode(IReadOnlyDictionary<string, int> counts)
        {
            // Order-independent: the same counts may be enumerated in another order.
            var hash = counts.Count;
            foreach (var (reason, count) in counts)
            {
                hash ^= HashCode.Combine(StringComparer.Ordinal.GetHashCode(reason), count);
            }

            return hash;
        }
    }
}
