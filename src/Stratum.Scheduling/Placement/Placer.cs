using Stratum.Core.Jobs;

namespace Stratum.Scheduling.Placement;

/// <summary>
/// The outcome of placing a gang: the placement when every replica found a node, else how many did
/// and why the nodes rejected the first replica that did not.
/// </summary>
internal sealed record GangResult(IReadOnlyList<ReplicaPlacement>? Placement, int Placed, IReadOnlyDictionary<string, int> Rejections)
{
    public bool Fits => Placement is not null;
}

/// <summary>Places replicas by running the feasibility checks over every node, then ranking the survivors with the scorers.</summary>
internal sealed class Placer(IReadOnlyList<INodeCheck> checks, IReadOnlyList<INodeScorer> scorers)
{
    private static readonly INodeScorer[] BestFit = [new LeftoverAcceleratorsScorer(), new AvoidAcceleratorNodesScorer(), new LeftoverCpuScorer()];

    /// <summary>For new work: Ready nodes only, best fit.</summary>
    public static Placer Default { get; } =
        new([new NodeStateCheck(), new AcceleratorTypeCheck(), new CpuCheck(), new MemoryCheck(), new AcceleratorCountCheck()], BestFit);

    /// <summary>For "could this ever run": every node counts whatever its state.</summary>
    public static Placer AnyNodeState { get; } =
        new([new AcceleratorTypeCheck(), new CpuCheck(), new MemoryCheck(), new AcceleratorCountCheck()], BestFit);

    /// <summary>
    /// The index in <paramref name="nodes"/> of the best node for one replica, or -1; counts each
    /// rejected node under its reason in <paramref name="rejections"/>.
    /// </summary>
    public int SelectNode(IReadOnlyList<NodeFree> nodes, ReplicaRequest replica, Dictionary<string, int>? rejections)
    {
        var best = -1;
        var bestScores = new long[scorers.Count];
        var scores = new long[scorers.Count];
        for (var n = 0; n < nodes.Count; n++)
        {
            var node = nodes[n];
            if (Reject(node, replica) is { } reason)
            {
                if (rejections is not null)
                {
                    rejections[reason] = rejections.GetValueOrDefault(reason) + 1;
                }

                continue;
            }

            for (var i = 0; i < scorers.Count; i++)
            {
                scores[i] = scorers[i].Score(node, replica);
            }

            // Nodes come in name order, so keeping the first of equal scores breaks ties by name.
            if (best < 0 || scores.AsSpan().SequenceCompareTo(bestScores) < 0)
            {
                best = n;
                (bestScores, scores) = (scores, bestScores);
            }
        }

        return best;
    }

    /// <summary>
    /// Places every replica of <paramref name="spec"/> (several may share a node) or none: on failure
    /// whatever was taken is given back, so <paramref name="free"/> is as it was.
    /// </summary>
    public GangResult PlaceGang(FreeCapacity free, JobSpec spec)
    {
        var replica = ReplicaRequest.For(spec.Resources);
        var placement = new List<ReplicaPlacement>(spec.Replicas);
        for (var rank = 0; rank < spec.Replicas; rank++)
        {
            var rejections = new Dictionary<string, int>(StringComparer.Ordinal);
            var index = SelectNode(free.Nodes, replica, rejections);
            if (index < 0)
            {
                free.Release(spec.Resources, placement);
                return new GangResult(null, rank, rejections);
            }

            placement.Add(new ReplicaPlacement(rank, free.Nodes[index].Name, free.Take(index, replica)));
        }

        return new GangResult(placement, spec.Replicas, new Dictionary<string, int>());
    }

    /// <summary>Whether the whole gang would fit, leaving <paramref name="free"/> unchanged.</summary>
    public bool Fits(FreeCapacity free, JobSpec spec)
    {
        var result = PlaceGang(free, spec);
        if (result.Placement is { } placement)
        {
            free.Release(spec.Resources, placement);
        }

        return result.Fits;
    }

    /// <summary>Whether <paramref name="node"/> passes every check for one replica.</summary>
    public bool Accepts(NodeFree node, ReplicaRequest replica) => Reject(node, replica) is null;

    private string? Reject(NodeFree node, ReplicaRequest replica)
    {
        foreach (var check in checks)
        {
            if (check.Reject(node, replica) is { } reason)
            {
                return reason;
            }
        }

        return null;
    }
}
