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

        var free = new FreeCapacity(sorted, Enumerable.Repeat(true, sorted.Length).ToArray(), indexByName);
        foreach (var job in running)
        {
            free.Hold(job);
        }

        return free;
    }

    public NodeFree? Find(string name) => _indexByName.TryGetValue(name, out var index) ? _nodes[index] : null;

    /// <summary>A copy that shares every node with this one until either changes it.</summary>
    public FreeCapacity Clone()
    {
        Array.Clear(_owned);
        return new FreeCapacity((NodeFree[])_nodes.Clone(), new bool[_nodes.Length], _indexByName);
    }

    /// <summary>Hands out one replica's resources on node number <paramref name="index"/> of <see cref="Nodes"/>.</summary>
    public IReadOnlyList<int> Take(int index, ReplicaRequest replica) => Own(index).Take(replica.Resources);

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
}
