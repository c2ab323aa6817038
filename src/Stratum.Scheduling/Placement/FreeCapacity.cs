using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Scheduling.Placement;

/// <summary>
/// The free capacity of every node in a snapshot, nodes in ordinal name order so that every pass walks
/// them alike. <see cref="Clone"/> is copy-on-write: preemption asks many "what if these jobs stopped"
/// questions per queued job, and copying every node for each was the bulk of a pass on a full cluster.
/// Change nodes only through this class, which copies a shared node before its first change.
/// </summary>
internal sealed class FreeCapacity
{
    private readonly NodeFree[] _nodes;

    // Whether _nodes[i] belongs to this instance alone and may be changed in place.
    private readonly bool[] _owned;

    // Shared by all clones: the nodes never change names or order within a pass.
    private readonly Dictionary<string, int> _indexByName;

    private FreeCapacity(NodeFree[] nodes, bool[] owned, Dictionary<string, int> indexByName)
    {
        _nodes = nodes;
        _owned = owned;
        _indexByName = indexByName;
    }

    public IReadOnlyList<NodeFree> Nodes => _nodes;

    /// <summary>
    /// Allocatable less the replicas of <paramref name="running"/>. A node named twice counts once
    /// (the first); placements on nodes the snapshot lacks are ignored, as nothing can be placed there.
    /// </summary>
    public static FreeCapacity Build(IEnumerable<Node> nodes, IEnumerable<Job> running)
    {
        var free = Empty(nodes);
        foreach (var job in running)
        {
            free.Hold(job);
        }

        return free;
    }

    /// <summary>
    /// Every node with nothing running. The node order and empty nodes of the last list seen are
    /// reused when the same node objects come again (a replay hands in the same nodes on every pass):
    /// the result shares the empty nodes, and copies one only when it first changes it.
    /// </summary>
    public static FreeCapacity Empty(IEnumerable<Node> nodes)
    {
        var list = nodes as IReadOnlyList<Node> ?? nodes.ToList();
        var layout = _lastLayout;
        if (layout is null || !layout.IsFor(list))
        {
            layout = Layout.Of(list);
            _lastLayout = layout;
        }

        return new FreeCapacity((NodeFree[])layout.Empty.Clone(), new bool[layout.Empty.Length], layout.IndexByName);
    }

    // One per thread: passes on different threads (tests run in parallel) must not race on it.
    [ThreadStatic]
    private static Layout? _lastLayout;

    public NodeFree? Find(string name) => _indexByName.TryGetValue(name, out var index) ? _nodes[index] : null;

    /// <summary>A copy that shares every node with this one until either changes it.</summary>
    public FreeCapacity Clone()
    {
        Array.Clear(_owned);
        return new FreeCapacity((NodeFree[])_nodes.Clone(), new bool[_nodes.Length], _indexByName);
    }

    /// <summary>Hands out one replica's resources on node number <paramref name="index"/> of <see cref="Nodes"/>.</summary>
    public IReadOnlyList<int> Take(int index, ReplicaRequest replica) => Own(index).Take(replica);

    /// <summary>Marks the resources of a running job's current placement as used.</summary>
    public void Hold(Job job)
    {
        foreach (var replica in job.CurrentAttempt?.Placement ?? [])
        {
            if (_indexByName.TryGetValue(replica.Node, out var index))
            {
                Own(index).Hold(job.Spec.Resources, replica.AcceleratorIndices);
            }
        }
    }

    /// <summary>Gives back what a running job holds, as if it had stopped.</summary>
    public void Release(Job job) => Release(job.Spec.Resources, job.CurrentAttempt?.Placement ?? []);

    public void Release(ResourceVector perReplica, IReadOnlyList<ReplicaPlacement> placement)
    {
        foreach (var replica in placement)
        {
            if (_indexByName.TryGetValue(replica.Node, out var index))
            {
                Own(index).Release(perReplica, replica.AcceleratorIndices);
            }
        }
    }

    /// <summary>Keeps, node by node, only what is free both here and in <paramref name="other"/> (a clone of this).</summary>
    public void RestrictTo(FreeCapacity other)
    {
        for (var i = 0; i < _nodes.Length; i++)
        {
            if (!ReferenceEquals(_nodes[i], other._nodes[i]))
            {
                Own(i).RestrictTo(other._nodes[i]);
            }
        }
    }

    private NodeFree Own(int index)
    {
        if (!_owned[index])
        {
            _nodes[index] = _nodes[index].Clone();
            _owned[index] = true;
        }

        return _nodes[index];
    }

    /// <summary>The nodes of one snapshot, distinct by name and in ordinal name order, each empty.</summary>
    private sealed class Layout(Node[] input, NodeFree[] empty, Dictionary<string, int> indexByName)
    {
        public NodeFree[] Empty { get; } = empty;

        public Dictionary<string, int> IndexByName { get; } = indexByName;

        public static Layout Of(IReadOnlyList<Node> nodes)
        {
            var distinct = new Dictionary<string, Node>(StringComparer.Ordinal);
            foreach (var node in nodes)
            {
                distinct.TryAdd(node.Name, node);
            }

            var sorted = distinct.Values.OrderBy(n => n.Name, StringComparer.Ordinal).Select(NodeFree.Empty).ToArray();
            var indexByName = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < sorted.Length; i++)
            {
                indexByName[sorted[i].Name] = i;
            }

            return new Layout([.. nodes], sorted, indexByName);
        }

        // Node records never change, so the same node objects in the same order mean the same layout.
        public bool IsFor(IReadOnlyList<Node> nodes)
        {
            if (nodes.Count != input.Length)
            {
                return false;
            }

            for (var i = 0; i < input.Length; i++)
            {
                if (!ReferenceEquals(nodes[i], input[i]))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
