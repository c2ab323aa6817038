using System.Runtime.InteropServices;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

/// <summary>
/// The running jobs of a replay as <see cref="LasPolicy"/> ranks them (queue level by attained service,
/// then submit order), kept from pass to pass: ranking every running job, sorting them and counting
/// their GPUs per node on each of hundreds of thousands of passes was most of what was left of a LAS
/// replay's time once the waiting jobs were indexed (<see cref="LasQueueIndex"/>).
/// </summary>
/// <remarks>
/// <para>
/// A running job's level only rises, at a time its service tells in advance, and it ripens (passes its
/// minimum run) at a known time; both go on a heap, checked a little early and then decided by the
/// same arithmetic the plain walk uses. The running list is compared with the last pass's by
/// reference (a job record never changes; a new attempt is a new record), so only jobs that started or
/// stopped are looked up.
/// </para>
/// <para>
/// Jobs the pass takes as victims leave the index at once, as if stopped; a caller that does not stop
/// them shows them again as running, and they come back.
/// </para>
/// </remarks>
internal sealed class LasRunningIndex
{
    // Level crossings are checked this long before the time worked out in floating point, then
    // decided exactly; any error of that working is far below it.
    private static readonly TimeSpan Early = TimeSpan.FromMilliseconds(10);

    private static readonly Comparer<Entry> WorstLast = Comparer<Entry>.Create((a, b) =>
    {
        var bySubmit = a.Job.SubmittedAt.CompareTo(b.Job.SubmittedAt);
        return bySubmit != 0 ? bySubmit : a.Job.Id.CompareTo(b.Job.Id);
    });

    private static readonly Comparer<Entry> ByCrossing = Comparer<Entry>.Create((a, b) =>
    {
        var byAt = a.CrossesAt.CompareTo(b.CrossesAt);
        return byAt != 0 ? byAt : a.Job.Id.CompareTo(b.Job.Id);
    });

    private static readonly Comparer<Entry> ByRipening = Comparer<Entry>.Create((a, b) =>
    {
        var byAt = a.RipeAt.CompareTo(b.RipeAt);
        return byAt != 0 ? byAt : a.Job.Id.CompareTo(b.Job.Id);
    });

    private readonly LasPolicy _policy;
    private readonly IReadOnlyList<double> _thresholds;
    private readonly TimeSpan _minRun;
    private readonly int _queues;
    private readonly Dictionary<Job, Entry> _byJob = new(ReferenceEqualityComparer.Instance);
    private readonly SortedEntries[] _victims;
    private readonly SortedEntries[] _crossing;
    private readonly SortedEntries[] _unripe;
    private readonly PriorityQueue<(Entry Entry, int Version), DateTimeOffset> _checks = new();
    private readonly Dictionary<string, int[][]> _worse = new(StringComparer.Ordinal);
    private readonly List<Entry> _gone = [];
    private Entry?[] _slots = [];
    private IReadOnlyList<Node>? _nodes;
    private Dictionary<string, int> _nodeIndex = new(StringComparer.Ordinal);
    private int _readyGpus;
    private long _stamp;
    private DateTimeOffset _now;

    // The caller's log of starts and stops, and how far the index has read it (see Follow).
    private RunningCapacity? _capacity;
    private long _position;

    public LasRunningIndex(LasPolicy policy)
    {
        _policy = policy;
        _thresholds = policy.Options.QueueThresholdsGpuSeconds;
        _minRun = policy.Options.MinRunBeforePreemption;
        _queues = _thresholds.Count + 1;
        _victims = NewSets(WorstLast);
        _crossing = NewSets(ByCrossing);
        _unripe = NewSets(ByRipening);
        VictimGpus = new int[_queues];
        RipeGpus = new int[_queues];
    }

    /// <summary>GPUs held by preemptible running jobs, by queue level.</summary>
    public int[] VictimGpus { get; }

    /// <summary>GPUs held by preemptible running jobs past their minimum run, by queue level.</summary>
    public int[] RipeGpus { get; }

    /// <summary>Accelerators of Ready nodes less those every running job holds.</summary>
    public int FreeGpus => _readyGpus - RunningGpus;

    private int RunningGpus { get; set; }

    /// <summary>Node positions by name, in the order of the pass's free capacity (ordinal name order).</summary>
    public IReadOnlyDictionary<string, int> NodeIndex => _nodeIndex;

    /// <summary>
    /// Brings the index up to the snapshot; false when a running job is one it cannot follow (no open
    /// attempt, or earlier attempts not ended), and the caller ranks running jobs the plain way.
    /// </summary>
    public bool Advance(ClusterSnapshot snapshot)
    {
        if (!ReferenceEquals(snapshot.Nodes, _nodes) || snapshot.Now < _now)
        {
            Reset(snapshot.Nodes);
        }

        _now = snapshot.Now;
        if (PassShortcuts.Enabled && snapshot.Capacity is { } capacity && ReferenceEquals(capacity, _capacity)
            && capacity.TryChangesSince(_position, out var changes) && Follow(changes, snapshot.Running.Count))
        {
            _position = capacity.ChangeCount;
            CheckCrossings();
            return true;
        }

        _capacity = snapshot.Capacity;
        _position = snapshot.Capacity?.ChangeCount ?? 0;
        _stamp++;
        var running = snapshot.Running;
        if (_slots.Length < running.Count)
        {
            Array.Resize(ref _slots, Math.Max(running.Count, _slots.Length * 2));
        }

        // Every pass looks at every running job (hundreds, over hundreds of thousands of passes): a list is
        // read as a span rather than through the interface, and a slot is written only when it changes.
        var span = running is List<Job> list ? CollectionsMarshal.AsSpan(list) : [.. running];
        var slots = _slots;
        var seen = 0;
        for (var i = 0; i < span.Length; i++)
        {
            var job = span[i];
            var slot = slots[i];
            var entry = slot is { Alive: true } && ReferenceEquals(slot.Job, job) ? slot : _byJob.GetValueOrDefault(job);
            if (entry is null)
            {
                entry = Add(job);
                if (entry is null)
                {
                    Reset(snapshot.Nodes);
                    return false;
                }
            }

            if (entry.Seen == _stamp)
            {
                // The same job listed twice: the plain walk counts it twice; leave that to it.
                Reset(snapshot.Nodes);
                return false;
            }

            entry.Seen = _stamp;
            seen++;
            if (!ReferenceEquals(slot, entry))
            {
                slots[i] = entry;
            }
        }

        if (_byJob.Count > seen)
        {
            foreach (var entry in _byJob.Values)
            {
                if (entry.Seen != _stamp)
                {
                    _gone.Add(entry);
                }
            }

            foreach (var entry in _gone)
            {
                Remove(entry);
            }

            _gone.Clear();
        }

        CheckCrossings();
        return true;
    }

    /// <summary>
    /// The starts and stops the caller's <see cref="RunningCapacity"/> logged since the last pass, applied instead
    /// of comparing every running job with the last pass's (an eighth of a LAS replay). False, with nothing
    /// changed, when they do not bring the index to <paramref name="running"/> jobs: a start of a job it holds,
    /// or a victim the last pass took that the caller did not stop (it is running again and must come back).
    /// </summary>
    private bool Follow(ReadOnlySpan<(Job Job, bool Added)> changes, int running)
    {
        var count = _byJob.Count;
        foreach (var (job, added) in changes)
        {
            if (added)
            {
                if (_byJob.ContainsKey(job))
                {
                    return false;
                }

                count++;
            }
            else if (_byJob.ContainsKey(job))
            {
                count--;
            }
        }

        if (count != running)
        {
            return false;
        }

        foreach (var (job, added) in changes)
        {
            if (!added)
            {
                if (_byJob.TryGetValue(job, out var entry))
                {
                    Remove(entry);
                }
            }
            else if (Add(job) is null)
            {
                // A job the index cannot follow: the next pass starts again from the running list.
                _capacity = null;
                return false;
            }
        }

        return true;
    }

    private void CheckCrossings()
    {
        while (_checks.TryPeek(out var check, out var at) && at <= _now)
        {
            _checks.Dequeue();
            if (check.Entry.Alive && check.Entry.Version == check.Version)
            {
                Unlink(check.Entry);
                Link(check.Entry);
            }
        }
    }

    /// <summary>The pass takes <paramref name="victim"/>: it no longer counts as running. Returns its queue level (-1: not a victim here).</summary>
    public int Take(Job victim)
    {
        if (!_byJob.TryGetValue(victim, out var entry) || !entry.Victim)
        {
            return -1;
        }

        Remove(entry);
        return entry.Level;
    }

    /// <summary>
    /// As the plain walk asks for a pass at every threshold a preemptible running job of
    /// <paramref name="bestWaitingQueue"/> or worse will cross: the earliest of those times (all after
    /// now), or null. One time rather than a callback per level: the caller keeps the earliest anyway,
    /// and a delegate per pass showed in what a replay allocates.
    /// </summary>
    public DateTimeOffset? EarliestCrossing(int bestWaitingQueue)
    {
        DateTimeOffset? earliest = null;
        for (var level = Math.Max(0, bestWaitingQueue); level < _queues - 1; level++)
        {
            DateTimeOffset? best = null;
            var crossing = _crossing[level];
            for (var i = 0; i < crossing.Count; i++)
            {
                var entry = crossing[i];
                if (best is { } b && entry.CrossesAt - Early > b)
                {
                    break;
                }

                var at = _now.AddSeconds((_thresholds[level] - Service(entry)) / entry.Gpus);
                if (at > _now && (best is null || at < best))
                {
                    best = at;
                }
            }

            if (best is { } wake && (earliest is null || wake < earliest))
            {
                earliest = wake;
            }
        }

        return earliest;
    }

    /// <summary>When the first victim of <paramref name="level"/> still inside its minimum run gets out of it; null when none is.</summary>
    public DateTimeOffset? FirstRipening(int level) => _unripe[level].Count > 0 ? _unripe[level][0].RipeAt : null;

    /// <summary>Preemptible running jobs of levels worse than <paramref name="queue"/>, worst first (deepest level, latest submission).</summary>
    public IEnumerable<(Job Job, int Queue)> WorseThan(int queue)
    {
        for (var level = _queues - 1; level > queue; level--)
        {
            var victims = _victims[level];
            for (var i = victims.Count - 1; i >= 0; i--)
            {
                yield return (victims[i].Job, level);
            }
        }
    }

    /// <summary>Whether the victim is past its minimum run now.</summary>
    public bool IsRipe(Job victim) => _byJob.TryGetValue(victim, out var entry) ? entry.Ripe : _policy.IsRipeAt(victim, _now);

    /// <summary>[queue][node]: GPUs of <paramref name="type"/> that ripe victims of levels worse than queue hold on each node.</summary>
    public int[][] WorseGpusOnNodes(string type)
    {
        if (!_worse.TryGetValue(type, out var byQueue))
        {
            byQueue = new int[_queues][];
            for (var q = 0; q < _queues; q++)
            {
                byQueue[q] = new int[_nodeIndex.Count];
            }

            _worse[type] = byQueue;
            foreach (var entry in _byJob.Values)
            {
                if (entry.Victim && entry.Ripe)
                {
                    AddOnNodes(byQueue, entry, type, +1);
                }
            }
        }

        return byQueue;
    }

    private void Reset(IReadOnlyList<Node> nodes)
    {
        _capacity = null;
        _byJob.Clear();
        Array.Clear(_slots);
        foreach (var set in _victims.Concat(_crossing).Concat(_unripe))
        {
            set.Clear();
        }

        _checks.Clear();
        _worse.Clear();
        Array.Clear(VictimGpus);
        Array.Clear(RipeGpus);
        RunningGpus = 0;
        _nodes = nodes;

        // The same order as FreeCapacity's: distinct names, ordinal order.
        _nodeIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var names = nodes.Select(n => n.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        for (var i = 0; i < names.Count; i++)
        {
            _nodeIndex[names[i]] = i;
        }

        _readyGpus = 0;
        foreach (var node in nodes)
        {
            if (node.State == NodeState.Ready)
            {
                foreach (var (_, count) in node.Allocatable.Accelerators)
                {
                    _readyGpus += count;
                }
            }
        }
    }

    private Entry? Add(Job job)
    {
        var gpus = QueuePass.Accelerators(job.Spec);
        var entry = new Entry(job, gpus) { Victim = job.Stop is null && job.Spec.Preemptible };
        if (entry.Victim)
        {
            if (job.CurrentAttempt is not { EndedAt: null } || _policy.ServiceBeforeLastAttempt(job) is not { } service)
            {
                return null;
            }

            entry.Base = service;
            entry.RipeAt = job.CurrentAttempt.StartedAt + _minRun;
            var placement = job.CurrentAttempt.Placement;
            var nodes = new int[placement.Count];
            for (var at = 0; at < nodes.Length; at++)
            {
                nodes[at] = _nodeIndex.TryGetValue(placement[at].Node, out var n) ? n : -1;
            }

            entry.Nodes = nodes;
        }

        _byJob[job] = entry;
        RunningGpus += gpus;
        entry.Alive = true;
        Link(entry);
        return entry;
    }

    private void Remove(Entry entry)
    {
        Unlink(entry);
        entry.Alive = false;
        _byJob.Remove(entry.Job);
        RunningGpus -= entry.Gpus;
    }

    // The same sum RunningService gives the plain walk, in the same order.
    private double Service(Entry entry) => entry.Base + entry.Gpus * (_now - entry.Job.CurrentAttempt!.StartedAt).TotalSeconds;

    // Files a victim under its level and ripeness at _now, and when to look at it again.
    private void Link(Entry entry)
    {
        entry.Version++;
        if (!entry.Victim)
        {
            return;
        }

        var service = Service(entry);
        entry.Level = _policy.QueueOf(service);
        entry.Ripe = entry.RipeAt <= _now;
        _victims[entry.Level].Add(entry);
        VictimGpus[entry.Level] += entry.Gpus;
        DateTimeOffset? next = null;
        if (entry.Ripe)
        {
            RipeGpus[entry.Level] += entry.Gpus;
            foreach (var (type, byQueue) in _worse)
            {
                AddOnNodes(byQueue, entry, type, +1);
            }
        }
        else
        {
            _unripe[entry.Level].Add(entry);
            next = entry.RipeAt;
        }

        if (entry.Level < _queues - 1 && entry.Gpus > 0)
        {
            entry.CrossesAt = _now.AddSeconds((_thresholds[entry.Level] - service) / entry.Gpus);
            _crossing[entry.Level].Add(entry);
            var check = entry.CrossesAt - Early;
            if (check <= _now)
            {
                // Not yet crossed although due by the floating-point time: look again next pass.
                check = _now.AddTicks(1);
            }

            next = next is { } n && n < check ? n : check;
        }

        if (next is { } at)
        {
            _checks.Enqueue((entry, entry.Version), at);
        }
    }

    private void Unlink(Entry entry)
    {
        if (!entry.Victim)
        {
            return;
        }

        _victims[entry.Level].Remove(entry);
        VictimGpus[entry.Level] -= entry.Gpus;
        if (entry.Ripe)
        {
            RipeGpus[entry.Level] -= entry.Gpus;
            foreach (var (type, byQueue) in _worse)
            {
                AddOnNodes(byQueue, entry, type, -1);
            }
        }
        else
        {
            _unripe[entry.Level].Remove(entry);
        }

        if (entry.Level < _queues - 1 && entry.Gpus > 0)
        {
            _crossing[entry.Level].Remove(entry);
        }
    }

    private static void AddOnNodes(int[][] byQueue, Entry entry, string type, int sign)
    {
        var request = ReplicaRequest.For(entry.Job.Spec.Resources);
        var perReplica = 0;
        for (var t = 0; t < request.Types.Count; t++)
        {
            if (string.Equals(request.Types[t], type, StringComparison.Ordinal))
            {
                perReplica = request.Counts[t];
            }
        }

        if (perReplica == 0)
        {
            return;
        }

        foreach (var n in entry.Nodes)
        {
            if (n >= 0)
            {
                for (var q = 0; q < entry.Level; q++)
                {
                    byQueue[q][n] += sign * perReplica;
                }
            }
        }
    }

    private SortedEntries[] NewSets(Comparer<Entry> order)
    {
        var sets = new SortedEntries[_queues];
        for (var q = 0; q < _queues; q++)
        {
            sets[q] = new SortedEntries(order);
        }

        return sets;
    }

    /// <summary>
    /// Entries in one order without duplicates, as a sorted set keeps them, in a list found by binary search:
    /// read by position, so walking them allocates nothing (a sorted set's enumerator allocates a stack, and
    /// the crossings were walked on every pass of a replay). A level holds at most the running jobs, a few
    /// hundred, so moving the tail on a change costs less than a tree's node per entry.
    /// </summary>
    private sealed class SortedEntries(Comparer<Entry> order)
    {
        private readonly List<Entry> _entries = [];

        public int Count => _entries.Count;

        public Entry this[int index] => _entries[index];

        public void Add(Entry entry)
        {
            var at = _entries.BinarySearch(entry, order);
            if (at < 0)
            {
                _entries.Insert(~at, entry);
            }
        }

        public void Remove(Entry entry)
        {
            var at = _entries.BinarySearch(entry, order);
            if (at >= 0)
            {
                _entries.RemoveAt(at);
            }
        }

        public void Clear() => _entries.Clear();
    }

    private sealed class Entry(Job job, int gpus)
    {
        public Job Job { get; } = job;

        public int Gpus { get; } = gpus;

        public bool Victim { get; init; }

        public double Base { get; set; }

        public DateTimeOffset RipeAt { get; set; }

        public int[] Nodes { get; set; } = [];

        public int Level { get; set; }

        public bool Ripe { get; set; }

        public DateTimeOffset CrossesAt { get; set; }

        public bool Alive { get; set; }

        public long Seen { get; set; }

        // Checks queued before the entry was filed again are stale.
        public int Version { get; set; }
    }
}
