using System.Numerics;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Scheduling.Placement;

/// <summary>
/// Free capacity of every node in flat arrays, with Ready nodes indexed by how many accelerators of each
/// type they have free (buckets 0..max), so that a best-fit lookup walks buckets from the tightest that
/// can hold the replica instead of every node. Built once per pass; the planning policies use it.
/// Measured with bench/run.sh schedule (docs/scheduling.md): 10,000 nodes x 8 GPUs and 100,000 queued jobs.
/// Free devices of one type on one node are a bit mask over that type's device list (at most 64 per
/// type and node are used). Within a bucket nodes are tried in name order, so ties go to the first name.
/// Clones answer the what-if questions (reservations, estimates, preemption).
/// </summary>
internal sealed class CapacityIndex
{
    private static readonly int[] NoDevices = [];

    private readonly Node[] _nodes;
    private readonly Dictionary<string, int> _indexByName;
    private readonly Dictionary<string, int> _typeIndex;
    private readonly int[][][] _devices;
    private readonly int[] _rack;
    private readonly long[] _cpu;
    private readonly long[] _memory;
    private readonly int[][] _budget;
    private readonly ulong[][] _mask;
    // Per type, one row of bits over the nodes per free count (0..the most devices of the type on a node):
    // bit n is set when node n is Ready, has the type and has that many free. Rows of bits rather than sorted
    // sets: a what-if copy is a few array copies instead of a tree walk and an object per member, and bits
    // read in ascending order are the nodes in name order, as the sets gave them.
    private readonly ulong[][]? _buckets;
    private readonly int _words;

    private CapacityIndex(Node[] nodes, Dictionary<string, int> indexByName, Dictionary<string, int> typeIndex, int[][][] devices, int[] rack,
        long[] cpu, long[] memory, int[][] budget, ulong[][] mask, ulong[][]? buckets)
    {
        _words = Math.Max(1, (nodes.Length + 63) >> 6);
        _nodes = nodes;
        _indexByName = indexByName;
        _typeIndex = typeIndex;
        _devices = devices;
        _rack = rack;
        _cpu = cpu;
        _memory = memory;
        _budget = budget;
        _mask = mask;
        _buckets = buckets;
    }

    public int Count => _nodes.Length;

    /// <summary>What node numbers mean: the same object for an index and its clones, another once the nodes change.</summary>
    public object Numbering => _indexByName;

    public Node Node(int index) => _nodes[index];

    public int IndexOf(string name) => _indexByName.TryGetValue(name, out var index) ? index : -1;

    /// <summary>Rack number of the node (label <c>rack</c>), -1 when it has none.</summary>
    public int RackOf(int index) => _rack[index];

    public long Cpu(int index) => _cpu[index];

    public long Memory(int index) => _memory[index];

    public bool HasType(int node, string type) => _typeIndex.TryGetValue(type, out var t) && _devices[t][node].Length > 0;

    /// <summary>The number this index gives accelerator <paramref name="type"/>, or -1 when no node has it (for <see cref="FreeOf"/>).</summary>
    public int TypeNumber(string type) => _typeIndex.TryGetValue(type, out var t) ? t : -1;

    /// <summary>As <see cref="Free(int, string)"/> for the type numbered <paramref name="t"/> by <see cref="TypeNumber"/>: no name lookup per node.</summary>
    public int FreeOf(int t, int node) => t < 0 ? 0 : Free(t, node);

    /// <summary>Devices of <paramref name="type"/> one replica could be given on the node now, never below zero.</summary>
    public int Free(int node, string type) => _typeIndex.TryGetValue(type, out var t) ? Free(t, node) : 0;

    /// <summary>Allocatable less what <paramref name="running"/> holds; a node named twice counts once (the first).</summary>
    public static CapacityIndex Build(IEnumerable<Node> nodes, IEnumerable<Job> running, Dictionary<ResourceVector, ReplicaRequest> requests) =>
        Build(Layout.Of(nodes as IReadOnlyList<Node> ?? nodes.ToList()), running, requests);

    /// <summary>
    /// As <see cref="Build(IEnumerable{Node}, IEnumerable{Job}, Dictionary{ResourceVector, ReplicaRequest})"/>, reusing
    /// <paramref name="cache"/>'s layout when the snapshot holds the very same node objects as the pass before.
    /// <c>state</c> stands for the capacity returned: the same object as the build before when that found the
    /// same capacity (the same nodes and running jobs), another once anything changed; a pass keys what it works
    /// out from untouched capacity (why a shape finds no room) by it.
    /// </summary>
    public static CapacityIndex Build(IReadOnlyList<Node> nodes, IReadOnlyList<Job> running, Dictionary<ResourceVector, ReplicaRequest> requests, LayoutCache cache,
        RunningCapacity? capacity, out object state, CapacityIndex? spare = null)
    {
        var layout = cache.For(nodes);
        if (PassShortcuts.Enabled && capacity is not null)
        {
            return cache.Follow(layout, running, capacity, requests, out state, spare);
        }

        if (PassShortcuts.Enabled && cache.Held(layout, running) is { } held)
        {
            state = held;

            // The same running job objects on the same layout hold the same capacity: copy it instead of
            // releasing 15,000 placements again (a tenth of a pass over 10,000 nodes).
            return held.Clone(spare);
        }

        var index = Build(layout, running, requests);
        var kept = index.Clone();
        cache.Hold(layout, running, kept);
        state = kept;
        return index;
    }

    private static CapacityIndex Build(Layout layout, IEnumerable<Job> running, Dictionary<ResourceVector, ReplicaRequest> requests)
    {
        var index = new CapacityIndex(layout.Sorted, layout.IndexByName, layout.TypeIndex, layout.Devices, layout.Rack,
            (long[])layout.Cpu.Clone(), (long[])layout.Memory.Clone(), CopyRows(layout.Budget), CopyRows(layout.Mask), null);
        foreach (var job in running)
        {
            index.Hold(job, Request(requests, job.Spec.Resources));
        }

        return new CapacityIndex(index._nodes, index._indexByName, index._typeIndex, index._devices, index._rack, index._cpu, index._memory,
            index._budget, index._mask, index.BuildBuckets());
    }

    /// <summary>
    /// The last pass's node layout, kept by a policy between passes. Node records never change in place, so
    /// the same objects in the same order mean the same layout: checking 10,000 references costs far less
    /// than sorting and indexing 10,000 nodes again (a sixth of a pass in the scheduling benchmark). Safe
    /// for concurrent passes: a layout is immutable and replaced whole.
    /// </summary>
    public sealed class LayoutCache
    {
        private Layout? _last;

        private Kept? _held;

        private PlanPass.Scratch? _scratch;

        private Following? _following;

        /// <summary>The buffers the last planning pass left, or null when none are free (another pass holds them).</summary>
        internal PlanPass.Scratch? TakeScratch() => Interlocked.Exchange(ref _scratch, null);

        internal void ReturnScratch(PlanPass.Scratch scratch) => Volatile.Write(ref _scratch, scratch);

        /// <summary>What the planning pass keeps from one pass to the next besides its scratch: fair-share sums, running ends, pending decisions.</summary>
        internal PassMemory Memory { get; } = new();

        /// <summary>The free capacity the last pass built from <paramref name="running"/> on <paramref name="layout"/>, if it was these very job objects; never to be changed (clone it).</summary>
        internal CapacityIndex? Held(Layout layout, IReadOnlyList<Job> running)
        {
            var held = Volatile.Read(ref _held);
            if (held is null || !ReferenceEquals(held.Layout, layout) || held.Running.Length != running.Count)
            {
                return null;
            }

            for (var i = 0; i < held.Running.Length; i++)
            {
                if (!ReferenceEquals(held.Running[i], running[i]))
                {
                    return null;
                }
            }

            return held.Index;
        }

        internal void Hold(Layout layout, IReadOnlyList<Job> running, CapacityIndex index) =>
            Volatile.Write(ref _held, new Kept(layout, [.. running], index));

        private QuotaUsage? _usage;
        private ProjectTable? _projects;

        /// <summary>The project table of the last pass when <paramref name="projects"/> are its very objects, else a new one, kept.</summary>
        internal ProjectTable ProjectsFor(IReadOnlyList<Project> projects)
        {
            var kept = Volatile.Read(ref _projects);
            if (kept is not null && Same(kept.Projects, projects))
            {
                return kept;
            }

            kept = ProjectTable.Of(projects);
            Volatile.Write(ref _projects, kept);
            return kept;
        }

        /// <summary>The quota usage the last pass counted from <paramref name="running"/> under <paramref name="projects"/>, if they were these very objects; never to be changed (copy it).</summary>
        internal QuotaUsage? HeldUsage(IReadOnlyList<Project> projects, IReadOnlyList<Job> running)
        {
            var held = Volatile.Read(ref _usage);
            return held is not null && Same(held.Projects, projects) && Same(held.Running, running) ? held : null;
        }

        internal void HoldUsage(QuotaUsage usage) => Volatile.Write(ref _usage, usage);

        private FollowedUsage? _followedUsage;

        /// <summary>The usage a pass following a <see cref="RunningCapacity"/> kept, taken so that no other pass changes it meanwhile.</summary>
        internal FollowedUsage? TakeFollowedUsage() => Interlocked.Exchange(ref _followedUsage, null);

        internal void FollowUsage(FollowedUsage usage) => Volatile.Write(ref _followedUsage, usage);

        private static bool Same<T>(T[] kept, IReadOnlyList<T> now)
            where T : class => PassMemory.SameObjects(kept, now);

        private sealed record Kept(Layout Layout, Job[] Running, CapacityIndex Index);

        /// <summary>An index kept in step with a caller's <see cref="RunningCapacity"/>: read up to <see cref="Position"/> of its changes, for <see cref="Count"/> running jobs.</summary>
        private sealed class Following(Layout layout, RunningCapacity capacity, long position, int count, CapacityIndex index)
        {
            public Layout Layout { get; } = layout;

            public RunningCapacity Capacity { get; } = capacity;

            public long Position { get; set; } = position;

            public int Count { get; set; } = count;

            public CapacityIndex Index { get; } = index;

            public object State { get; set; } = new();
        }

        /// <summary>
        /// The free capacity for <paramref name="running"/>, from the index kept last pass and the changes
        /// <paramref name="capacity"/> recorded since (a replay starts or stops a few jobs between passes, where
        /// building from every running job's placement was a tenth of its time); built from scratch when the
        /// layout, the capacity or the number of running jobs tells that the kept one is not in step. The copy
        /// handed out is written into <paramref name="spare"/> when it can be (see <see cref="Clone(CapacityIndex?)"/>).
        /// </summary>
        internal CapacityIndex Follow(Layout layout, IReadOnlyList<Job> running, RunningCapacity capacity, Dictionary<ResourceVector, ReplicaRequest> requests, out object state,
            CapacityIndex? spare = null)
        {
            var kept = Interlocked.Exchange(ref _following, null);
            if (kept is not null && ReferenceEquals(kept.Layout, layout) && ReferenceEquals(kept.Capacity, capacity)
                && capacity.TryChangesSince(kept.Position, out var changes))
            {
                var count = kept.Count;
                foreach (var (job, added) in changes)
                {
                    var request = Request(requests, job.Spec.Resources);
                    if (added)
                    {
                        kept.Index.Hold(job, request);
                    }
                    else
                    {
                        kept.Index.Release(job, request);
                    }

                    count += added ? 1 : -1;
                }

                if (count == running.Count)
                {
                    kept.Count = count;
                    kept.Position = capacity.ChangeCount;
                    if (changes.Length > 0)
                    {
                        kept.State = new object();
                    }

                    state = kept.State;
                    Volatile.Write(ref _following, kept);
                    return kept.Index.Clone(spare);
                }
            }

            var index = CapacityIndex.Build(layout, running, requests);
            var following = new Following(layout, capacity, capacity.ChangeCount, running.Count, index.Clone());
            state = following.State;
            Volatile.Write(ref _following, following);
            return index;
        }

        internal Layout For(IReadOnlyList<Node> nodes)
        {
            var last = Volatile.Read(ref _last);
            if (last is not null && last.IsFor(nodes))
            {
                return last;
            }

            var layout = Layout.Of(nodes);
            Volatile.Write(ref _last, layout);
            return layout;
        }
    }

    /// <summary>What a pass derives from the nodes alone: order, names, racks, device lists, and allocatable amounts before any job.</summary>
    internal sealed class Layout
    {
        private Node[] _input = [];

        public required Node[] Sorted { get; init; }

        public required Dictionary<string, int> IndexByName { get; init; }

        public required Dictionary<string, int> TypeIndex { get; init; }

        public required int[][][] Devices { get; init; }

        public required int[] Rack { get; init; }

        public required long[] Cpu { get; init; }

        public required long[] Memory { get; init; }

        public required int[][] Budget { get; init; }

        public required ulong[][] Mask { get; init; }

        public bool IsFor(IReadOnlyList<Node> nodes) => PassMemory.SameObjects(_input, nodes);

        public static Layout Of(IReadOnlyList<Node> nodes)
        {
            var distinct = new Dictionary<string, Node>(StringComparer.Ordinal);
            foreach (var node in nodes)
            {
                distinct.TryAdd(node.Name, node);
            }

            var sorted = distinct.Values.ToArray();
            Array.Sort(sorted, (a, b) => string.CompareOrdinal(a.Name, b.Name));
            var indexByName = new Dictionary<string, int>(sorted.Length, StringComparer.Ordinal);
            var racks = new Dictionary<string, int>(StringComparer.Ordinal);
            var rack = new int[sorted.Length];
            var typeIndex = new Dictionary<string, int>(StringComparer.Ordinal);
            var perNode = new List<(int Type, int[] Devices)>[sorted.Length];
            for (var n = 0; n < sorted.Length; n++)
            {
                var node = sorted[n];
                indexByName[node.Name] = n;
                rack[n] = node.Rack is { } r ? (racks.TryGetValue(r, out var id) ? id : racks[r] = racks.Count) : -1;
                perNode[n] = [];
                foreach (var (type, devices) in DevicesByType(node))
                {
                    if (!typeIndex.TryGetValue(type, out var t))
                    {
                        t = typeIndex[type] = typeIndex.Count;
                    }

                    perNode[n].Add((t, devices));
                }
            }

            var typeCount = typeIndex.Count;
            var devicesOf = new int[typeCount][][];
            var budget = new int[typeCount][];
            var mask = new ulong[typeCount][];
            for (var t = 0; t < typeCount; t++)
            {
                devicesOf[t] = new int[sorted.Length][];
                Array.Fill(devicesOf[t], NoDevices);
                budget[t] = new int[sorted.Length];
                mask[t] = new ulong[sorted.Length];
            }

            var cpu = new long[sorted.Length];
            var memory = new long[sorted.Length];
            var types = typeIndex.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToArray();
            for (var n = 0; n < sorted.Length; n++)
            {
                cpu[n] = sorted[n].Allocatable.CpuMillis;
                memory[n] = sorted[n].Allocatable.MemoryBytes;
                foreach (var (t, devices) in perNode[n])
                {
                    devicesOf[t][n] = devices;
                    mask[t][n] = devices.Length >= 64 ? ulong.MaxValue : (1UL << devices.Length) - 1;
                    budget[t][n] = sorted[n].Allocatable.AcceleratorsOf(types[t]);
                }
            }

            return new Layout
            {
                _input = [.. nodes],
                Sorted = sorted,
                IndexByName = indexByName,
                TypeIndex = typeIndex,
                Devices = devicesOf,
                Rack = rack,
                Cpu = cpu,
                Memory = memory,
                Budget = budget,
                Mask = mask,
            };
        }
    }

    /// <summary>Ready nodes by free count, per type; each bucket in name order.</summary>
    private ulong[][] BuildBuckets()
    {
        var buckets = new ulong[_devices.Length][];
        for (var t = 0; t < _devices.Length; t++)
        {
            var max = 0;
            for (var n = 0; n < _nodes.Length; n++)
            {
                max = Math.Max(max, _devices[t][n].Length);
            }

            var rows = new ulong[(max + 1) * _words];
            for (var n = 0; n < _nodes.Length; n++)
            {
                if (_nodes[n].State == NodeState.Ready && _devices[t][n].Length > 0)
                {
                    rows[(Free(t, n) * _words) + (n >> 6)] |= 1UL << n;
                }
            }

            buckets[t] = rows;
        }

        return buckets;
    }

    /// <summary>One <see cref="ReplicaRequest"/> per distinct resource vector, shared through <paramref name="cache"/>.</summary>
    public static ReplicaRequest Request(Dictionary<ResourceVector, ReplicaRequest> cache, ResourceVector resources)
    {
        if (!cache.TryGetValue(resources, out var request))
        {
            request = new ReplicaRequest(resources);
            cache[resources] = request;
        }

        return request;
    }

    /// <summary>An independent copy of the free capacity, index included.</summary>
    public CapacityIndex Clone()
    {
        var copy = new CapacityIndex(_nodes, _indexByName, _typeIndex, _devices, _rack, (long[])_cpu.Clone(), (long[])_memory.Clone(),
            CopyRows(_budget), CopyRows(_mask), null);

        // The buckets always hold what BuildBuckets would make of the amounts (every change rebuckets its node).
        return new CapacityIndex(_nodes, _indexByName, _typeIndex, _devices, _rack, copy._cpu, copy._memory, copy._budget, copy._mask,
            _buckets is null || !PassShortcuts.Enabled ? copy.BuildBuckets() : CopyRows(_buckets));
    }

    /// <summary>
    /// As <see cref="Clone()"/>, written into <paramref name="spare"/> when it can be: an index of the same layout
    /// that its owner no longer uses (a pass lends its what-if copies to the next one; a replay made a dozen
    /// copies per pass, a quarter of what it allocated). Else a new copy.
    /// </summary>
    public CapacityIndex Clone(CapacityIndex? spare)
    {
        if (spare is null || ReferenceEquals(spare, this) || !ReferenceEquals(spare._nodes, _nodes) || _buckets is null || spare._buckets is null
            || !PassShortcuts.Enabled || !SameRows(_budget, spare._budget) || !SameRows(_mask, spare._mask) || !SameRows(_buckets, spare._buckets))
        {
            return Clone();
        }

        _cpu.CopyTo(spare._cpu, 0);
        _memory.CopyTo(spare._memory, 0);
        for (var t = 0; t < _budget.Length; t++)
        {
            _budget[t].CopyTo(spare._budget[t], 0);
            _mask[t].CopyTo(spare._mask[t], 0);
        }

        for (var t = 0; t < _buckets.Length; t++)
        {
            _buckets[t].CopyTo(spare._buckets[t], 0);
        }

        return spare;
    }

    private static bool SameRows<T>(T[][] rows, T[][] other)
    {
        if (rows.Length != other.Length)
        {
            return false;
        }

        for (var i = 0; i < rows.Length; i++)
        {
            if (rows[i].Length != other[i].Length)
            {
                return false;
            }
        }

        return true;
    }

    private static T[][] CopyRows<T>(T[][] rows)
    {
        var copy = new T[rows.Length][];
        for (var i = 0; i < rows.Length; i++)
        {
            copy[i] = (T[])rows[i].Clone();
        }

        return copy;
    }

    /// <summary>Null when the node can take one replica now, else the reason key it is rejected for, cheapest check first.</summary>
    public string? Reject(int n, ReplicaRequest replica, IReadOnlyDictionary<string, string> selector)
    {
        var node = _nodes[n];
        if (node.State != NodeState.Ready)
        {
            return node.State == NodeState.Draining ? NodeStateCheck.Draining : NodeStateCheck.Down;
        }

        if (selector.Count > 0 && SelectorProblem(node, selector) is { } mismatch)
        {
            return mismatch;
        }

        var types = TypeNumbersOf(replica);
        for (var i = 0; i < types.Length; i++)
        {
            if (types[i] < 0 || _devices[types[i]][n].Length == 0)
            {
                return replica.MissingTypeKeys[i];
            }
        }

        if (replica.CpuMillis > _cpu[n])
        {
            return CpuCheck.Key;
        }

        if (replica.MemoryBytes > _memory[n])
        {
            return MemoryCheck.Key;
        }

        for (var i = 0; i < types.Length; i++)
        {
            if (replica.Counts[i] > Free(types[i], n))
            {
                return replica.InsufficientTypeKeys[i];
            }
        }

        return null;
    }

    /// <summary>The replica's accelerator types as this index numbers them (-1: no node has it), worked out once per type table.</summary>
    private int[] TypeNumbersOf(ReplicaRequest replica)
    {
        if (replica.Numbered is { } known && ReferenceEquals(known.Owner, _typeIndex))
        {
            return known.Numbers;
        }

        var numbers = new int[replica.Types.Count];
        for (var i = 0; i < numbers.Length; i++)
        {
            numbers[i] = _typeIndex.TryGetValue(replica.Types[i], out var t) ? t : -1;
        }

        replica.Numbered = new ReplicaRequest.TypeNumbers(_typeIndex, numbers);
        return numbers;
    }

    /// <summary>Counts, by reason, every node that rejects one replica.</summary>
    public Dictionary<string, int> Rejections(ReplicaRequest replica, IReadOnlyDictionary<string, string> selector)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var n = 0; n < _nodes.Length; n++)
        {
            if (Reject(n, replica, selector) is { } reason)
            {
                counts[reason] = counts.GetValueOrDefault(reason) + 1;
            }
        }

        return counts;
    }

    /// <summary>
    /// The best node for one replica, or -1: the fewest accelerators left of the replica's first type
    /// (the most with <paramref name="spread"/>), then name; a CPU-only replica prefers nodes without
    /// accelerators, then the least CPU left. A node in <paramref name="preferRack"/> (when not -1) wins
    /// over a tighter fit elsewhere. A node must also have room for the replica in <paramref name="shadow"/>,
    /// when given (backfill keeps reserved room).
    /// </summary>
    public int Select(ReplicaRequest replica, IReadOnlyDictionary<string, string> selector, bool spread, int preferRack, CapacityIndex? shadow)
    {
        if (preferRack >= 0)
        {
            var inRack = Select(replica, selector, spread, preferRack, shadow, inRackOnly: true);
            if (inRack >= 0)
            {
                return inRack;
            }
        }

        return Select(replica, selector, spread, preferRack, shadow, inRackOnly: false);
    }

    // Parameters rather than a filter delegate: a closure per placement was a large share of a replay's allocation.
    private bool Allowed(int n, ReplicaRequest replica, int rack, CapacityIndex? shadow, bool inRackOnly) =>
        (!inRackOnly || _rack[n] == rack) && (shadow is null || shadow.HasRoom(n, replica));

    private int Select(ReplicaRequest replica, IReadOnlyDictionary<string, string> selector, bool spread, int rack, CapacityIndex? shadow, bool inRackOnly)
    {
        if (replica.Types.Count == 0 || _buckets is null)
        {
            return Scan(replica, selector, spread, rack, shadow, inRackOnly);
        }

        if (!_typeIndex.TryGetValue(replica.Types[0], out var t))
        {
            return -1;
        }

        var rows = _buckets[t];
        var counts = rows.Length / _words;
        var need = replica.Counts[0];
        for (var step = 0; step < counts - need; step++)
        {
            var row = (spread ? counts - 1 - step : need + step) * _words;
            for (var w = 0; w < _words; w++)
            {
                for (var bits = rows[row + w]; bits != 0; bits &= bits - 1)
                {
                    var n = (w << 6) + BitOperations.TrailingZeroCount(bits);
                    if (Reject(n, replica, selector) is null && Allowed(n, replica, rack, shadow, inRackOnly))
                    {
                        return n;
                    }
                }
            }
        }

        return -1;
    }

    private int Scan(ReplicaRequest replica, IReadOnlyDictionary<string, string> selector, bool spread, int rack, CapacityIndex? shadow, bool inRackOnly)
    {
        var best = -1;
        long bestLeft = 0;
        long bestCpu = 0;
        for (var n = 0; n < _nodes.Length; n++)
        {
            if (Reject(n, replica, selector) is not null || !Allowed(n, replica, rack, shadow, inRackOnly))
            {
                continue;
            }

            long left = 0;
            if (replica.Types.Count > 0)
            {
                left = Free(n, replica.Types[0]) - replica.Counts[0];
            }
            else
            {
                left = HasAnyAccelerator(n) ? 1 : 0;
            }

            if (spread)
            {
                left = -left;
            }

            var cpuLeft = replica.Types.Count > 0 ? 0 : _cpu[n] - replica.CpuMillis;
            if (best < 0 || left < bestLeft || (left == bestLeft && cpuLeft < bestCpu))
            {
                (best, bestLeft, bestCpu) = (n, left, cpuLeft);
            }
        }

        return best;
    }

    /// <summary>Hands out one replica on node <paramref name="n"/>, which must accept it; returns the device indices, lowest first.</summary>
    public int[] Take(int n, ReplicaRequest replica)
    {
        // Counted first so that the indices go straight into their array (a list per take added up over a replay).
        var count = 0;
        for (var i = 0; i < replica.Types.Count; i++)
        {
            count += Math.Max(0, Math.Min(replica.Counts[i], BitOperations.PopCount(_mask[_typeIndex[replica.Types[i]]][n])));
        }

        var indices = count == 0 ? Array.Empty<int>() : new int[count];
        var filled = 0;
        for (var i = 0; i < replica.Types.Count; i++)
        {
            var t = _typeIndex[replica.Types[i]];
            var mask = _mask[t][n];
            for (var k = 0; k < replica.Counts[i] && mask != 0; k++)
            {
                indices[filled++] = _devices[t][n][BitOperations.TrailingZeroCount(mask)];
                mask &= mask - 1;
            }
        }

        Array.Sort(indices);
        Adjust(n, replica, indices, -1);
        return indices;
    }

    /// <summary>Gives back one replica's resources and devices (a rolled-back take).</summary>
    public void Release(int n, ReplicaRequest replica, IReadOnlyList<int> indices) => Adjust(n, replica, indices, +1);

    /// <summary>Takes what a running job holds where its current attempt is placed (nodes this index does not have are skipped).</summary>
    private void Hold(Job job, ReplicaRequest replica)
    {
        if (job.CurrentAttempt is not { } attempt)
        {
            return;
        }

        var placement = attempt.Placement;
        for (var r = 0; r < placement.Count; r++)
        {
            if (_indexByName.TryGetValue(placement[r].Node, out var n))
            {
                Adjust(n, replica, placement[r].AcceleratorIndices, -1);
            }
        }
    }

    /// <summary>Gives back everything a running job holds, as if it had stopped.</summary>
    public void Release(Job job, ReplicaRequest replica)
    {
        if (job.CurrentAttempt is not { } attempt)
        {
            return;
        }

        var placement = attempt.Placement;
        for (var r = 0; r < placement.Count; r++)
        {
            if (IndexOf(placement[r].Node) is var n and >= 0)
            {
                Adjust(n, replica, placement[r].AcceleratorIndices, +1);
            }
        }
    }

    /// <summary>Keeps, node by node, only what is free both here and in <paramref name="other"/> (a clone of this).</summary>
    public void RestrictTo(CapacityIndex other)
    {
        for (var n = 0; n < _nodes.Length; n++)
        {
            var changed = _cpu[n] != other._cpu[n] || _memory[n] != other._memory[n];
            for (var t = 0; t < _mask.Length && !changed; t++)
            {
                changed = _mask[t][n] != other._mask[t][n] || _budget[t][n] != other._budget[t][n];
            }

            if (!changed)
            {
                continue;
            }

            var before = new int[_mask.Length];
            FreeCounts(n, before);
            _cpu[n] = Math.Min(_cpu[n], other._cpu[n]);
            _memory[n] = Math.Min(_memory[n], other._memory[n]);
            for (var t = 0; t < _mask.Length; t++)
            {
                _mask[t][n] &= other._mask[t][n];
                _budget[t][n] = Math.Min(_budget[t][n], other._budget[t][n]);
            }

            Rebucket(n, before);
        }
    }

    /// <summary>Whether node <paramref name="n"/> has room for one replica by amounts alone: the backfill shadow check.</summary>
    public bool HasRoom(int n, ReplicaRequest replica)
    {
        if (replica.CpuMillis > _cpu[n] || replica.MemoryBytes > _memory[n])
        {
            return false;
        }

        for (var i = 0; i < replica.Types.Count; i++)
        {
            if (replica.Counts[i] > Free(n, replica.Types[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Takes one replica by amounts (the shadow of a reservation), devices the lowest free; undone by <see cref="Release(int, ReplicaRequest, IReadOnlyList{int})"/> with the indices returned.</summary>
    public int[] TakeAmounts(int n, ReplicaRequest replica) => Take(n, replica);

    private void Adjust(int n, ReplicaRequest replica, IReadOnlyList<int> indices, int sign)
    {
        // On the stack: an array per change was most of what a what-if copy allocated.
        Span<int> before = _buckets is null ? [] : _mask.Length <= 16 ? stackalloc int[_mask.Length] : new int[_mask.Length];
        if (_buckets is not null)
        {
            FreeCounts(n, before);
        }

        _cpu[n] += sign * replica.CpuMillis;
        _memory[n] += sign * replica.MemoryBytes;
        for (var i = 0; i < replica.Types.Count; i++)
        {
            if (_typeIndex.TryGetValue(replica.Types[i], out var t) && _devices[t][n].Length > 0)
            {
                _budget[t][n] += sign * replica.Counts[i];
            }
        }

        for (var k = 0; k < indices.Count; k++)
        {
            var index = indices[k];
            for (var t = 0; t < _devices.Length; t++)
            {
                var position = Array.IndexOf(_devices[t][n], index);
                if (position >= 0)
                {
                    _mask[t][n] = sign < 0 ? _mask[t][n] & ~(1UL << position) : _mask[t][n] | (1UL << position);
                    break;
                }
            }
        }

        if (_buckets is not null)
        {
            Rebucket(n, before);
        }
    }

    private void FreeCounts(int n, Span<int> counts)
    {
        for (var t = 0; t < counts.Length; t++)
        {
            counts[t] = Free(t, n);
        }
    }

    private void Rebucket(int n, ReadOnlySpan<int> before)
    {
        if (_buckets is null || _nodes[n].State != NodeState.Ready)
        {
            return;
        }

        for (var t = 0; t < before.Length; t++)
        {
            var after = Free(t, n);
            if (after != before[t] && _devices[t][n].Length > 0)
            {
                var rows = _buckets[t];
                var word = n >> 6;
                rows[(before[t] * _words) + word] &= ~(1UL << n);
                rows[(after * _words) + word] |= 1UL << n;
            }
        }
    }

    private int Free(int t, int n) => Math.Max(0, Math.Min(_budget[t][n], BitOperations.PopCount(_mask[t][n])));

    private bool HasAnyAccelerator(int n)
    {
        for (var t = 0; t < _devices.Length; t++)
        {
            if (_devices[t][n].Length > 0)
            {
                return true;
            }
        }

        return false;
    }

    private static string? SelectorProblem(Node node, IReadOnlyDictionary<string, string> selector)
    {
        foreach (var (key, value) in selector)
        {
            var actual = node.Labels.TryGetValue(key, out var label) ? label : key == NodeLabels.Pool ? node.Pool : null;
            if (!string.Equals(actual, value, StringComparison.Ordinal))
            {
                return $"node label {key}={value} missing";
            }
        }

        return null;
    }

    /// <summary>Device indices of each type, sorted (at most 64); a node declared by counts only is numbered 0..n-1 type by type, as <see cref="NodeFree.Empty"/> does.</summary>
    private static IEnumerable<(string Type, int[] Devices)> DevicesByType(Node node)
    {
        if (node.Accelerators.Count > 0)
        {
            // Nearly every node has one accelerator type: skip the grouping (measured: most of building the index).
            var first = node.Accelerators[0].Type;
            var single = true;
            for (var i = 1; i < node.Accelerators.Count && single; i++)
            {
                single = string.Equals(node.Accelerators[i].Type, first, StringComparison.Ordinal);
            }

            if (single)
            {
                var indices = new int[node.Accelerators.Count];
                for (var i = 0; i < indices.Length; i++)
                {
                    indices[i] = node.Accelerators[i].Index;
                }

                Array.Sort(indices);
                return [(first, indices.Distinct().Take(64).ToArray())];
            }

            return node.Accelerators.GroupBy(d => d.Type, StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => (g.Key, g.Select(d => d.Index).Distinct().Order().Take(64).ToArray()));
        }

        var next = 0;
        var result = new List<(string, int[])>();
        foreach (var type in node.Capacity.Accelerators.Keys.Union(node.Allocatable.Accelerators.Keys).Order(StringComparer.Ordinal))
        {
            var count = Math.Max(node.Capacity.AcceleratorsOf(type), node.Allocatable.AcceleratorsOf(type));
            result.Add((type, Enumerable.Range(next, Math.Min(count, 64)).ToArray()));
            next += count;
        }

        return result;
    }
}
