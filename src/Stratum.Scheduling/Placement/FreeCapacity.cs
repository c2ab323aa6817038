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
    // Null once recycled (see Recycle): any later use fails at once rather than reading another pass's nodes.
    private NodeFree[] _nodes;

    // Whether _nodes[i] belongs to this instance alone and may be changed in place.
    private bool[] _owned;

    // The arrays of the last capacity recycled on this thread, for the next clone of as many nodes: a replay
    // copies the free capacity for each of its hundreds of thousands of passes.
    [ThreadStatic]
    private static (NodeFree[] Nodes, bool[] Owned)? _recycled;

    // By node position: a node copy a recycled capacity owned, for the next copy of that node on this thread to
    // write over (NodeFree.CopyInto checks it is a copy of the same node). A pass copies each node it starts a job on.
    [ThreadStatic]
    private static NodeFree?[]? _spareNodes;

    // Shared by all clones: the nodes never change names or order within a pass.
    private readonly Dictionary<string, int> _indexByName;

    // Ownership handed back (see Recycle). On a clone: the capacity it was cloned from, while it is that one's
    // latest clone. On that capacity: its latest clone, and which nodes it owned when it made it.
    private FreeCapacity? _source;
    private FreeCapacity? _latestClone;
    private bool[]? _ownedAtClone;

    // Whether this capacity was ever cloned: its clones may share its nodes, so it hands nothing back.
    private bool _cloned;

    private FreeCapacity(NodeFree[] nodes, bool[] owned, Dictionary<string, int> indexByName)
    {
        _nodes = nodes;
        _owned = owned;
        _indexByName = indexByName;
    }

    public IReadOnlyList<NodeFree> Nodes => _nodes;

    /// <summary><see cref="Nodes"/> for loops that run for every node many times a pass: no interface call per node.</summary>
    public ReadOnlySpan<NodeFree> NodeSpan => _nodes;

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

        return new FreeCapacity(layout.Empty.AsSpan().ToArray(), new bool[layout.Empty.Length], layout.IndexByName);
    }

    // One per thread: passes on different threads (tests run in parallel) must not race on it.
    [ThreadStatic]
    private static Layout? _lastLayout;

    public NodeFree? Find(string name) => _indexByName.TryGetValue(name, out var index) ? _nodes[index] : null;

    /// <summary>A copy that shares every node with this one until either changes it.</summary>
    public FreeCapacity Clone()
    {
        _ownedAtClone ??= new bool[_owned.Length];
        _owned.CopyTo(_ownedAtClone, 0);
        Array.Clear(_owned);
        _cloned = true;
        FreeCapacity clone;
        if (_recycled is { } spare && spare.Nodes.Length == _nodes.Length)
        {
            _recycled = null;
            _nodes.CopyTo(spare.Nodes, 0);
            Array.Clear(spare.Owned);
            clone = new FreeCapacity(spare.Nodes, spare.Owned, _indexByName);
        }
        else
        {
            clone = new FreeCapacity(_nodes.AsSpan().ToArray(), new bool[_nodes.Length], _indexByName);
        }

        // An earlier clone may still share nodes this one owned before it: only the latest hands back.
        if (_latestClone is { } earlier)
        {
            earlier._source = null;
        }

        clone._source = this;
        _latestClone = clone;
        return clone;
    }

    /// <summary>
    /// Hands this capacity's arrays to the next <see cref="Clone"/> on this thread, for a caller that is done
    /// with it (a pass that has decided): it must not be used again, and any use fails. A replay's policy
    /// copies the free capacity once a pass, and those copies were a tenth of what it allocated.
    /// </summary>
    public void Recycle()
    {
        if (_nodes is null)
        {
            return;
        }

        // Nodes this capacity owns are referenced by it alone (Clone gives up ownership of what it shares).
        var spares = _spareNodes is { } kept && kept.Length == _nodes.Length ? kept : new NodeFree?[_nodes.Length];
        for (var i = 0; i < _nodes.Length; i++)
        {
            if (_owned[i])
            {
                spares[i] = _nodes[i];
            }
        }

        _spareNodes = spares;

        // The capacity this was cloned from owned some nodes alone before the clone, which shared them since:
        // with this clone gone (and no clone of it sharing them further) they are that one's alone again, so
        // it changes them in place rather than copying each on its next change. The simulator's running
        // capacity, copied for every pass and changed by every start and stop, copied nodes millions of times.
        if (_source is { } source && ReferenceEquals(source._latestClone, this) && !_cloned && source._nodes is not null)
        {
            for (var i = 0; i < source._owned.Length; i++)
            {
                source._owned[i] |= source._ownedAtClone![i];
            }

            source._latestClone = null;
        }

        _source = null;
        _recycled = (_nodes, _owned);
        _nodes = null!;
        _owned = null!;
    }

    /// <summary>
    /// Keeps, on node number <paramref name="index"/> alone, only what is free both here and in <paramref name="other"/>
    /// (that node changed on a copy): what <see cref="RestrictTo(FreeCapacity)"/> does with a clone that differs from this on that node only.
    /// </summary>
    public void RestrictTo(int index, NodeFree other)
    {
        if (!ReferenceEquals(_nodes[index], other))
        {
            Own(index).RestrictTo(other);
        }
    }

    /// <summary>Hands out one replica's resources on node number <paramref name="index"/> of <see cref="Nodes"/>.</summary>
    public IReadOnlyList<int> Take(int index, ReplicaRequest replica) => Own(index).Take(replica);

    /// <summary>Marks the resources of a running job's current placement as used.</summary>
    public void Hold(Job job)
    {
        var jobPlacement = job.CurrentAttempt?.Placement ?? [];
        for (var at = 0; at < jobPlacement.Count; at++)
        {
            var replica = jobPlacement[at];
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
        // By index: a foreach over the interface allocated an enumerator for every job released.
        for (var at = 0; at < placement.Count; at++)
        {
            var replica = placement[at];
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
            NodeFree? spare = null;
            if (_spareNodes is { } spares && spares.Length == _nodes.Length)
            {
                spare = spares[index];
                spares[index] = null;
            }

            _nodes[index] = _nodes[index].CopyInto(spare);
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
        public bool IsFor(IReadOnlyList<Node> nodes) => PassMemory.SameObjects(input, nodes);
    }
}
