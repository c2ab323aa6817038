using System.Numerics;
using System.Runtime.CompilerServices;
using Stratum.Core.Cluster;
using Stratum.Core.Resources;

namespace Stratum.Scheduling.Placement;

/// <summary>
/// What one node can still hand out during a pass: CPU, memory, and for each accelerator type a count
/// and the free device indices. Mutable on purpose: a pass takes and gives back on a working copy.
/// Change it only through <see cref="FreeCapacity"/>, whose copies share unchanged nodes.
/// </summary>
/// <remarks>
/// Flat arrays, not dictionaries and sorted sets: a replay copies and changes nodes hundreds of
/// thousands of times, and the collections' allocations and lookups were most of a replay's cost.
/// What never changes for a node (its types and device indices) is worked out once per <see cref="Node"/>
/// object and shared by every copy.
/// </remarks>
internal sealed class NodeFree
{
    // The empty form of each node object seen; a Node record is immutable, so its shape never goes stale.
    private static readonly ConditionalWeakTable<Node, NodeFree> Empties = [];

    private readonly Shape _shape;

    // Per type slot: how many may still be handed out. Allocatable can hold back devices (reserved for
    // the system), so the count can be below the number of free indices.
    private readonly int[] _budget;

    // Per type slot: how many device indices are free (set bits of its mask words).
    private readonly int[] _freeCount;

    // Free device bits, type after type (_shape.MaskStart[slot] words each); bit p of a type is its p-th lowest index.
    private readonly ulong[] _mask;

    private NodeFree(Node node, Shape shape, long cpuMillis, long memoryBytes, int[] budget, int[] freeCount, ulong[] mask)
    {
        Node = node;
        _shape = shape;
        CpuMillis = cpuMillis;
        MemoryBytes = memoryBytes;
        _budget = budget;
        _freeCount = freeCount;
        _mask = mask;
    }

    public Node Node { get; }

    public string Name => Node.Name;

    public long CpuMillis { get; private set; }

    public long MemoryBytes { get; private set; }

    /// <summary>Accelerator types this node has devices of, in ordinal order.</summary>
    public IEnumerable<string> AcceleratorTypes => _shape.Types;

    public bool HasAccelerators => _shape.Types.Length > 0;

    /// <summary>The node's allocatable resources with nothing running.</summary>
    public static NodeFree Empty(Node node) => Empties.GetValue(node, Build).Clone();

    private static NodeFree Build(Node node)
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

        var types = typeOfIndex.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var indices = types.Select(t => typeOfIndex.Where(kv => kv.Value == t).Select(kv => kv.Key).Order().ToArray()).ToArray();
        var shape = new Shape(types, indices);
        var mask = new ulong[shape.Words];
        var freeCount = new int[types.Length];
        var budget = new int[types.Length];
        for (var slot = 0; slot < types.Length; slot++)
        {
            for (var p = 0; p < indices[slot].Length; p++)
            {
                mask[shape.MaskStart[slot] + (p >> 6)] |= 1UL << (p & 63);
            }

            freeCount[slot] = indices[slot].Length;
            budget[slot] = node.Allocatable.AcceleratorsOf(types[slot]);
        }

        return new NodeFree(node, shape, node.Allocatable.CpuMillis, node.Allocatable.MemoryBytes, budget, freeCount, mask);
    }

    // Arrays copied by hand rather than by Array.Clone, which goes through the runtime for each: a replay copies
    // nodes millions of times.
    public NodeFree Clone() =>
        new(Node, _shape, CpuMillis, MemoryBytes, _budget.AsSpan().ToArray(), _freeCount.AsSpan().ToArray(), _mask.AsSpan().ToArray());

    /// <summary>
    /// This node's state written over <paramref name="reuse"/> when that is a copy of the same node (a working
    /// copy its owner is done with), else a new copy: searches that try nodes over and over reuse their copies.
    /// </summary>
    public NodeFree CopyInto(NodeFree? reuse)
    {
        if (reuse is null || !ReferenceEquals(reuse.Node, Node) || !ReferenceEquals(reuse._shape, _shape) || ReferenceEquals(reuse, this))
        {
            return Clone();
        }

        reuse.CpuMillis = CpuMillis;
        reuse.MemoryBytes = MemoryBytes;
        _budget.AsSpan().CopyTo(reuse._budget);
        _freeCount.AsSpan().CopyTo(reuse._freeCount);
        _mask.AsSpan().CopyTo(reuse._mask);
        return reuse;
    }

    /// <summary>Accelerators of every type that could be handed out now, summed (as <see cref="FreeAccelerators"/> over each type).</summary>
    public int AllFreeAccelerators
    {
        get
        {
            var count = 0;
            for (var slot = 0; slot < _budget.Length; slot++)
            {
                count += Math.Max(0, Math.Min(_budget[slot], _freeCount[slot]));
            }

            return count;
        }
    }

    public bool HasAcceleratorType(string type) => _shape.SlotOf(type) >= 0;

    /// <summary>Accelerators of <paramref name="type"/> that one replica could be given now.</summary>
    public int FreeAccelerators(string type)
    {
        var slot = _shape.SlotOf(type);
        return slot < 0 ? 0 : Math.Max(0, Math.Min(_budget[slot], _freeCount[slot]));
    }

    /// <summary>Hands out one replica's resources, assuming it fits; returns the device indices given, lowest first.</summary>
    public IReadOnlyList<int> Take(ResourceVector replica) => Take(ReplicaRequest.For(replica));

    /// <inheritdoc cref="Take(ResourceVector)"/>
    public IReadOnlyList<int> Take(ReplicaRequest replica) => Take(replica, collect: true)!;

    /// <summary>As <see cref="Take(ReplicaRequest)"/>, without listing the indices (null) unless <paramref name="collect"/>: a promise of room needs none.</summary>
    public IReadOnlyList<int>? Take(ReplicaRequest replica, bool collect)
    {
        CpuMillis -= replica.CpuMillis;
        MemoryBytes -= replica.MemoryBytes;
        var indices = collect ? new List<int>() : null;
        for (var t = 0; t < replica.Types.Count; t++)
        {
            var slot = _shape.SlotOf(replica.Types[t]);
            if (slot < 0)
            {
                throw new KeyNotFoundException($"node {Name} has no {replica.Types[t]}");
            }

            var count = replica.Counts[t];
            var taken = 0;
            var start = _shape.MaskStart[slot];
            for (var w = 0; w < _shape.WordsOf(slot) && taken < count; w++)
            {
                while (_mask[start + w] != 0 && taken < count)
                {
                    var bit = BitOperations.TrailingZeroCount(_mask[start + w]);
                    _mask[start + w] &= ~(1UL << bit);
                    indices?.Add(_shape.Indices[slot][(w << 6) + bit]);
                    taken++;
                }
            }

            _freeCount[slot] -= taken;
            _budget[slot] -= count;
        }

        indices?.Sort();
        return indices;
    }

    /// <summary>Marks resources as used by a replica that is already placed (a running job).</summary>
    public void Hold(ResourceVector replica, IReadOnlyList<int> indices) => Change(ReplicaRequest.For(replica), indices, -1);

    /// <summary>Gives back what <see cref="Take(ResourceVector)"/> or <see cref="Hold"/> took.</summary>
    public void Release(ResourceVector replica, IReadOnlyList<int> indices) => Change(ReplicaRequest.For(replica), indices, +1);

    private void Change(ReplicaRequest replica, IReadOnlyList<int> indices, int sign)
    {
        CpuMillis += sign * replica.CpuMillis;
        MemoryBytes += sign * replica.MemoryBytes;
        for (var t = 0; t < replica.Types.Count; t++)
        {
            var slot = _shape.SlotOf(replica.Types[t]);
            if (slot >= 0)
            {
                _budget[slot] += sign * replica.Counts[t];
            }
        }

        for (var i = 0; i < indices.Count; i++)
        {
            if (_shape.Locate(indices[i], out var slot, out var position))
            {
                var word = _shape.MaskStart[slot] + (position >> 6);
                var bit = 1UL << (position & 63);
                var isFree = (_mask[word] & bit) != 0;
                if (sign > 0 && !isFree)
                {
                    _mask[word] |= bit;
                    _freeCount[slot]++;
                }
                else if (sign < 0 && isFree)
                {
                    _mask[word] &= ~bit;
                    _freeCount[slot]--;
                }
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
        for (var slot = 0; slot < _budget.Length; slot++)
        {
            _budget[slot] = Math.Min(_budget[slot], other._budget[slot]);
            var count = 0;
            for (var w = _shape.MaskStart[slot]; w < _shape.MaskStart[slot] + _shape.WordsOf(slot); w++)
            {
                _mask[w] &= other._mask[w];
                count += BitOperations.PopCount(_mask[w]);
            }

            _freeCount[slot] = count;
        }
    }

    /// <summary>What never changes for one node: its accelerator types (ordinal order) and each type's device indices (ascending).</summary>
    private sealed class Shape
    {
        // Device index to (slot << 32 | position); an array when indices are small, as they are on real nodes.
        private readonly long[]? _byIndex;
        private readonly Dictionary<int, long>? _byIndexMap;

        public Shape(string[] types, int[][] indices)
        {
            Types = types;
            Indices = indices;
            MaskStart = new int[types.Length + 1];
            for (var slot = 0; slot < types.Length; slot++)
            {
                MaskStart[slot + 1] = MaskStart[slot] + ((indices[slot].Length + 63) >> 6);
            }

            var max = indices.SelectMany(i => i).DefaultIfEmpty(-1).Max();
            var min = indices.SelectMany(i => i).DefaultIfEmpty(0).Min();
            if (min >= 0 && max < 4096)
            {
                _byIndex = new long[max + 1];
                Array.Fill(_byIndex, -1);
            }
            else
            {
                _byIndexMap = [];
            }

            for (var slot = 0; slot < types.Length; slot++)
            {
                for (var p = 0; p < indices[slot].Length; p++)
                {
                    var packed = ((long)slot << 32) | (uint)p;
                    if (_byIndex is not null)
                    {
                        _byIndex[indices[slot][p]] = packed;
                    }
                    else
                    {
                        _byIndexMap![indices[slot][p]] = packed;
                    }
                }
            }
        }

        public string[] Types { get; }

        public int[][] Indices { get; }

        /// <summary>First mask word of each type slot; the last entry is the number of words.</summary>
        public int[] MaskStart { get; }

        public int Words => MaskStart[^1];

        public int WordsOf(int slot) => MaskStart[slot + 1] - MaskStart[slot];

        public int SlotOf(string type)
        {
            for (var slot = 0; slot < Types.Length; slot++)
            {
                if (string.Equals(Types[slot], type, StringComparison.Ordinal))
                {
                    return slot;
                }
            }

            return -1;
        }

        public bool Locate(int index, out int slot, out int position)
        {
            long packed = -1;
            if (_byIndex is not null)
            {
                if (index >= 0 && index < _byIndex.Length)
                {
                    packed = _byIndex[index];
                }
            }
            else if (_byIndexMap!.TryGetValue(index, out var found))
            {
                packed = found;
            }

            slot = (int)(packed >> 32);
            position = (int)(packed & 0xFFFFFFFF);
            return packed >= 0;
        }
    }
}
