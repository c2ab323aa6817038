using Stratum.Core.Cluster;
using Stratum.Core.Resources;

namespace Stratum.Scheduling.Placement;

/// <summary>
/// What one node can still hand out during a pass: CPU, memory, and for each accelerator type a count
/// and the free device indices. Mutable on purpose: a pass takes and gives back on a working copy.
/// Change it only through <see cref="FreeCapacity"/>, whose copies share unchanged nodes.
/// </summary>
internal sealed class NodeFree
{
    // Shared between clones: which accelerator type each device index is. Never changes in a pass.
    private readonly IReadOnlyDictionary<int, string> _typeOfIndex;

    // How many accelerators of each type may still be handed out. Allocatable can hold back devices
    // (reserved for the system), so the count can be below the number of free indices.
    private readonly Dictionary<string, int> _budget;
    private readonly Dictionary<string, SortedSet<int>> _freeIndices;

    private NodeFree(Node node, long cpuMillis, long memoryBytes, IReadOnlyDictionary<int, string> typeOfIndex,
        Dictionary<string, int> budget, Dictionary<string, SortedSet<int>> freeIndices)
    {
        Node = node;
        CpuMillis = cpuMillis;
        MemoryBytes = memoryBytes;
        _typeOfIndex = typeOfIndex;
        _budget = budget;
        _freeIndices = freeIndices;
    }

    public Node Node { get; }

    public string Name => Node.Name;

    public long CpuMillis { get; private set; }

    public long MemoryBytes { get; private set; }

    /// <summary>Accelerator types this node has devices of, in ordinal order.</summary>
    public IEnumerable<string> AcceleratorTypes => _freeIndices.Keys.Order(StringComparer.Ordinal);

    public bool HasAccelerators => _freeIndices.Count > 0;

    /// <summary>The node's allocatable resources with nothing running.</summary>
    public static NodeFree Empty(Node node)
    {
        var typeOfIndex = new Dictionary<int, string>();
        if (node.Accelerators.Count > 0)
        {
            foreach (var device in node.Accelerators)
            {
                typeOfIndex.TryAdd(device.Index, device.Type);
            }
        }
        else
        {
            // A node declared by counts only (no device inventory, e.g. written by hand in infra.yaml)
            // still needs indices for CUDA_VISIBLE_DEVICES: number its devices 0..n-1, type by type.
            var next = 0;
            var counts = node.Capacity.Accelerators.Keys.Union(node.Allocatable.Accelerators.Keys).Order(StringComparer.Ordinal);
            foreach (var type in counts)
            {
                var count = Math.Max(node.Capacity.AcceleratorsOf(type), node.Allocatable.AcceleratorsOf(type));
                for (var i = 0; i < count; i++)
                {
                    typeOfIndex[next++] = type;
                }
            }
        }

        var freeIndices = new Dictionary<string, SortedSet<int>>(StringComparer.Ordinal);
        foreach (var (index, type) in typeOfIndex)
        {
            if (!freeIndices.TryGetValue(type, out var set))
            {
                set = [];
                freeIndices[type] = set;
            }

            set.Add(index);
        }

        var budget = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var type in freeIndices.Keys)
        {
            budget[type] = node.Allocatable.AcceleratorsOf(type);
        }

        return new NodeFree(node, node.Allocatable.CpuMillis, node.Allocatable.MemoryBytes, typeOfIndex, budget, freeIndices);
    }

    public NodeFree Clone() =>
        new(Node, CpuMillis, MemoryBytes, _typeOfIndex,
            new Dictionary<string, int>(_budget, StringComparer.Ordinal),
            _freeIndices.ToDictionary(kv => kv.Key, kv => new SortedSet<int>(kv.Value), StringComparer.Ordinal));

    public bool HasAcceleratorType(string type) => _freeIndices.ContainsKey(type);

    /// <summary>Accelerators of <paramref name="type"/> that one replica could be given now.</summary>
    public int FreeAccelerators(string type) =>
        _freeIndices.TryGetValue(type, out var set) ? Math.Max(0, Math.Min(_budget[type], set.Count)) : 0;

    /// <summary>Hands out one replica's resources, assuming it fits; returns the device indices given, lowest first.</summary>
    public IReadOnlyList<int> Take(ResourceVector replica)
    {
        CpuMillis -= replica.CpuMillis;
        MemoryBytes -= replica.MemoryBytes;
        var indices = new List<int>();
        foreach (var (type, count) in replica.Accelerators)
        {
            var set = _freeIndices[type];
            var taken = set.Take(count).ToList();
            foreach (var index in taken)
            {
                set.Remove(index);
            }

            _budget[type] -= count;
            indices.AddRange(taken);
        }

        indices.Sort();
        return indices;
    }

    /// <summary>Marks resources as used by a replica that is already placed (a running job).</summary>
    public void Hold(ResourceVector replica, IReadOnlyList<int> indices)
    {
        CpuMillis -= replica.CpuMillis;
        MemoryBytes -= replica.MemoryBytes;
        foreach (var (type, count) in replica.Accelerators)
        {
            if (_budget.ContainsKey(type))
            {
                _budget[type] -= count;
            }
        }

        foreach (var index in indices)
        {
            if (_typeOfIndex.TryGetValue(index, out var type))
            {
                _freeIndices[type].Remove(index);
            }
        }
    }

    /// <summary>Gives back what <see cref="Take"/> or <see cref="Hold"/> took.</summary>
    public void Release(ResourceVector replica, IReadOnlyList<int> indices)
    {
        CpuMillis += replica.CpuMillis;
        MemoryBytes += replica.MemoryBytes;
        foreach (var (type, count) in replica.Accelerators)
        {
            if (_budget.ContainsKey(type))
            {
                _budget[type] += count;
            }
        }

        foreach (var index in indices)
        {
            if (_typeOfIndex.TryGetValue(index, out var type))
            {
                _freeIndices[type].Add(index);
            }
        }
    }

    /// <summary>
    /// Keeps only what is free both here and in <paramref name="other"/>: what may be handed out now
    /// without taking anything that a planned future placement counts on.
    /// </summary>
    public void RestrictTo(NodeFree other)
    {
        CpuMillis = Math.Min(CpuMillis, other.CpuMillis);
        MemoryBytes = Math.Min(MemoryBytes, other.MemoryBytes);
        foreach (var (type, set) in _freeIndices)
        {
            _budget[type] = Math.Min(_budget[type], other._budget[type]);
            set.IntersectWith(other._freeIndices[type]);
        }
    }
}
