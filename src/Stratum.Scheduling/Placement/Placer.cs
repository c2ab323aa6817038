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
/// <remarks>
/// The checks and scorers are held as arrays and walked by index: they run once per node per replica, and
/// walking them through the list interface allocated an enumerator each time (a fifth of what a LAS replay of
/// the Philly trace allocated).
/// </remarks>
internal sealed class Placer(IReadOnlyList<INodeCheck> checks, IReadOnlyList<INodeScorer> scorers)
{
    // Rejections of a placement whose caller does not ask for them (only pending reasons word them).
    private static readonly IReadOnlyDictionary<string, int> NoRejections = System.Collections.ObjectModel.ReadOnlyDictionary<string, int>.Empty;

    // Scores of one node fit on the stack up to this many scorers.
    private const int MaxStackScorers = 8;

    private readonly INodeCheck[] _checks = [.. checks];
    private readonly INodeScorer[] _scorers = [.. scorers];

    // Whether the checks count accelerators: a node short of them is then rejected whatever the other checks
    // say, so where no reason is asked for it is turned down before the chain of checks runs (on a busy
    // cluster most nodes are, for every replica placed).
    private readonly bool _countsAccelerators = checks.Any(check => check is AcceleratorCountCheck);

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
    public int SelectNode(IReadOnlyList<NodeFree> nodes, ReplicaRequest replica, Dictionary<string, int>? rejections) => nodes switch
    {
        NodeFree[] array => SelectNode(array.AsSpan(), replica, rejections),
        List<NodeFree> list => SelectNode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list), replica, rejections),
        _ => SelectNode([.. nodes], replica, rejections),
    };

    /// <inheritdoc cref="SelectNode(IReadOnlyList{NodeFree}, ReplicaRequest, Dictionary{string, int}?)"/>
    /// <remarks>Over a span: reading the nodes through the list interface cost a dispatch per node per replica.</remarks>
    public int SelectNode(ReadOnlySpan<NodeFree> nodes, ReplicaRequest replica, Dictionary<string, int>? rejections)
    {
        var rankers = _scorers;
        var best = -1;
        var onStack = rankers.Length <= MaxStackScorers;
        var bestScores = onStack ? stackalloc long[rankers.Length] : new long[rankers.Length];
        var scores = onStack ? stackalloc long[rankers.Length] : new long[rankers.Length];
        for (var n = 0; n < nodes.Length; n++)
        {
            var node = nodes[n];
            if (rejections is null)
            {
                if (SurelyRejects(node, replica) || Reject(node, replica) is not null)
                {
                    continue;
                }
            }
            else if (Reject(node, replica) is { } reason)
            {
                rejections[reason] = rejections.GetValueOrDefault(reason) + 1;
                continue;
            }

            for (var i = 0; i < rankers.Length; i++)
            {
                scores[i] = rankers[i].Score(node, replica);
            }

            // Nodes come in name order, so keeping the first of equal scores breaks ties by name.
            if (best < 0 || ((ReadOnlySpan<long>)scores).SequenceCompareTo(bestScores) < 0)
            {
                best = n;
                scores.CopyTo(bestScores);
            }
        }

        return best;
    }

    /// <summary>
    /// Places every replica of <paramref name="spec"/> (several may share a node) or none: on failure
    /// whatever was taken is given back, so <paramref name="free"/> is as it was. Without
    /// <paramref name="countRejections"/> the result's rejections are left empty: only pending reasons
    /// read them, and counting them by reason string for every rejected node was a share of a replay.
    /// </summary>
    public GangResult PlaceGang(FreeCapacity free, JobSpec spec, bool countRejections = true)
    {
        var replica = ReplicaRequest.For(spec.Resources);
        var placement = new List<ReplicaPlacement>(spec.Replicas);
        for (var rank = 0; rank < spec.Replicas; rank++)
        {
            var rejections = countRejections ? new Dictionary<string, int>(StringComparer.Ordinal) : null;
            var index = SelectNode(free.NodeSpan, replica, rejections);
            if (index < 0)
            {
                free.Release(spec.Resources, placement);
                return new GangResult(null, rank, rejections ?? NoRejections);
            }

            placement.Add(new ReplicaPlacement(rank, free.Nodes[index].Name, free.Take(index, replica)));
        }

        return new GangResult(placement, spec.Replicas, countRejections ? new Dictionary<string, int>() : NoRejections);
    }

    /// <summary>Whether the whole gang would fit, leaving <paramref name="free"/> unchanged.</summary>
    public bool Fits(FreeCapacity free, JobSpec spec)
    {
        var result = PlaceGang(free, spec, countRejections: false);
        if (result.Placement is { } placement)
        {
            free.Release(spec.Resources, placement);
        }

        return result.Fits;
    }

    /// <summary>Whether <paramref name="node"/> passes every check for one replica.</summary>
    public bool Accepts(NodeFree node, ReplicaRequest replica) => !SurelyRejects(node, replica) && Reject(node, replica) is null;

    // What AcceleratorCountCheck rejects, asked first when the checks include it (see _countsAccelerators).
    private bool SurelyRejects(NodeFree node, ReplicaRequest replica)
    {
        if (!_countsAccelerators)
        {
            return false;
        }

        var types = replica.Types;
        for (var i = 0; i < types.Count; i++)
        {
            if (replica.Counts[i] > node.FreeAccelerators(types[i]))
            {
                return true;
            }
        }

        return false;
    }

    private string? Reject(NodeFree node, ReplicaRequest replica)
    {
        var all = _checks;
        for (var i = 0; i < all.Length; i++)
        {
            if (all[i].Reject(node, replica) is { } reason)
            {
                return reason;
            }
        }

        return null;
    }
}
