using Stratum.Core.Jobs;

namespace Stratum.Scheduling;

/// <summary>
/// The planning pass's queue, kept between passes in groups of one priority, service band and project, each
/// in submit order (submit time, then id). Within a group the order keys differ only by aging, which is the
/// same rising function of waiting time for every job, so submit order is key order, and the queue's order is
/// a merge of the groups by key (<see cref="Merge"/>): a comparison per group level and job, where the whole
/// queue was sorted again on nearly every pass of a replay (the queue changes on most of them), a third of a
/// pass. The groups follow the queue: <see cref="Follow"/> walks it in submit order beside the one it saw last
/// and moves only the jobs that came or went. A job waiting in a band above 0 moves to band 0 when its
/// promotion is due. What a decision needs of each job (<see cref="JobFacts"/>) is worked out once, when it comes.
/// Held by one pass at a time: it lives in the pass's lent scratch.
/// </summary>
internal sealed class QueueOrderIndex
{
    private readonly List<Group> _groups = [];
    private readonly Dictionary<(int Priority, int Band, int Slot), int> _groupOf = [];
    private readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);
    private readonly List<string> _projects = [];

    // Jobs of a band above 0 by when they are promoted; an entry whose job has left (or changed) is dropped when reached.
    private readonly PriorityQueue<Job, long> _promotions = new();
    private ClassNumbers _numbers = new();

    // The queue as last followed, in submit order: the jobs, their (submit ticks, id), and the group each is in.
    private Job[] _jobs = [];
    private (long Ticks, long Id)[] _keys = [];
    private int[] _groupAt = [];
    private int _count;

    // The other half of each of the three: the next queue is written there, then the halves swap.
    private Job[] _nextJobs = [];
    private (long Ticks, long Id)[] _nextKeys = [];
    private int[] _nextGroupAt = [];

    // The list last given when it was not promised in submit order, to know it again without sorting it.
    private Job[]? _given;

    private long _lastNow = long.MinValue;
    private bool _withBands;


    // The merged order, each position as its group number (high half) and index in the group (low half): one
    // store per job, where five arrays of jobs, facts and bands were a tenth of a merge. And the heap of group
    // heads it is merged from.
    private long[] _orderedAt = [];
    private Head[] _heads = [];

    // The last merge by position (group, submit ticks, id), and what came and went since (by job id): a merge
    // starts from the last one when few jobs moved (nearly every pass of a replay) and its survivors still
    // ascend under the new keys, instead of merging every group again.
    private (int Group, long Ticks, long Id)[] _mergedItems = [];
    private (int Group, long Ticks, long Id)[] _nextMerged = [];
    private readonly List<long> _gone = [];
    private readonly Dictionary<long, (int Group, long Ticks)> _came = [];
    private (PlanPass.OrderKey Key, int Group, long Ticks, long Id)[] _cameOrdered = [];
    private int[] _cursor = [];
    private bool _lastMergeUsable;

    // Past this many jobs come or gone, a merge of every group is cheaper than checking the last one.
    private const int MaxMoved = 8;

    // Group numbers by priority (highest first), then band: the runs a merge with bands goes through in turn.
    private int[] _runOrder = [];
    private int _merged;

    /// <summary>How many job classes are numbered so far.</summary>
    public int ClassCount => _numbers.Count;

    /// <summary>What class numbers mean: the same object while they keep their meaning, another once they start again.</summary>
    public object Numbering => _numbers;

    /// <summary>The project names group slots stand for, by slot.</summary>
    public IReadOnlyList<string> Projects => _projects;

    /// <summary>The job at <paramref name="position"/> of the last merge (below its count), its facts and its band.</summary>
    public void At(int position, out Job job, out JobFacts facts, out int band)
    {
        var at = _orderedAt[position];
        var group = _groups[(int)(at >> 32)];
        ref readonly var item = ref System.Runtime.InteropServices.CollectionsMarshal.AsSpan(group.Items)[(int)at];
        job = item.Job;
        facts = item.Facts;
        band = group.Band;
    }

    /// <summary>
    /// Brings the groups up to <paramref name="queued"/>, in submit order when <paramref name="inSubmitOrder"/> says so
    /// (else sorted here, unless it is the very list of objects given last time). Starts again when the clock went
    /// back (a promotion cannot be undone), when bands were switched on or off, or when the class numbers are full.
    /// </summary>
    public void Follow(IReadOnlyList<Job> queued, bool inSubmitOrder, DateTimeOffset now, AttainedService? service, Func<Job, JobClass> classOf)
    {
        var nowTicks = now.UtcTicks;
        if (nowTicks < _lastNow || _withBands != (service is not null) || _numbers.IsFull)
        {
            Clear();
            _withBands = service is not null;
        }

        _lastNow = nowTicks;
        Promote(nowTicks);
        if (inSubmitOrder)
        {
            _given = null;
            Diff(queued, now, service, classOf);
        }
        else if (_given is null || !PassMemory.SameObjects(_given, queued))
        {
            // Reading every job's submit time to check the order, and sorting, is for a queue that changed:
            // a live server's queue of 100,000 comes back the same on most passes.
            _given = [.. queued];
            Diff(SubmitOrdered(_given), now, service, classOf);
        }
    }

    /// <summary>The jobs in submit order (submit time, then id): as they are when they already are, else a sorted copy.</summary>
    private static Job[] SubmitOrdered(Job[] jobs)
    {
        for (var i = 1; i < jobs.Length; i++)
        {
            var order = jobs[i - 1].SubmittedAt.UtcTicks.CompareTo(jobs[i].SubmittedAt.UtcTicks);
            if (order > 0 || (order == 0 && jobs[i - 1].Id >= jobs[i].Id))
            {
                var sorted = (Job[])jobs.Clone();
                var keys = new (long, long)[sorted.Length];
                for (var k = 0; k < sorted.Length; k++)
                {
                    keys[k] = (sorted[k].SubmittedAt.UtcTicks, sorted[k].Id);
                }

                Array.Sort(keys, sorted);
                return sorted;
            }
        }

        return jobs;
    }

    /// <summary>Moves the jobs that came, left or changed since the queue followed last; <paramref name="queued"/> is in submit order.</summary>
    private void Diff(IReadOnlyList<Job> queued, DateTimeOffset now, AttainedService? service, Func<Job, JobClass> classOf)
    {
        var count = queued.Count;
        if (_nextJobs.Length < count)
        {
            var size = Math.Max(count, _nextJobs.Length * 2);
            _nextJobs = new Job[size];
            _nextKeys = new (long, long)[size];
            _nextGroupAt = new int[size];
        }

        // Both lists are in submit order, so one walk beside each other finds what left and what came. A span over
        // an array or list; any other list is read through its indexer rather than copied on every pass.
        ReadOnlySpan<Job> span = queued switch
        {
            Job[] array => array,
            List<Job> list => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list),
            _ => default,
        };
        var spanned = span.Length == count;

        // The unchanged front of the queue is copied whole; a queue that did not change at all is left as it is.
        var same = 0;
        while (same < count && same < _count && ReferenceEquals(spanned ? span[same] : queued[same], _jobs[same]))
        {
            same++;
        }

        if (same == count && same == _count)
        {
            return;
        }

        Array.Copy(_jobs, _nextJobs, same);
        Array.Copy(_keys, _nextKeys, same);
        Array.Copy(_groupAt, _nextGroupAt, same);
        var old = same;
        for (var j = same; j < count; j++)
        {
            var job = spanned ? span[j] : queued[j];
            if (old < _count && ReferenceEquals(_jobs[old], job))
            {
                _nextJobs[j] = job;
                _nextKeys[j] = _keys[old];
                _nextGroupAt[j] = _groupAt[old];
                old++;
                continue;
            }

            var key = (job.SubmittedAt.UtcTicks, job.Id);
            while (old < _count && _keys[old].CompareTo(key) <= 0)
            {
                // Gone, or the same job id as a new object (requeued): out of its group either way.
                Remove(old++);
            }

            _nextJobs[j] = job;
            _nextKeys[j] = key;
            _nextGroupAt[j] = Add(job, key, now, service, classOf);
        }

        while (old < _count)
        {
            Remove(old++);
        }

        Array.Clear(_jobs, 0, _count);
        (_jobs, _nextJobs) = (_nextJobs, _jobs);
        (_keys, _nextKeys) = (_nextKeys, _keys);
        (_groupAt, _nextGroupAt) = (_nextGroupAt, _groupAt);
        _count = count;
    }

    /// <summary>The next promotion still ahead (after <see cref="Follow"/>), if any job waits for one.</summary>
    public DateTimeOffset? NextPromotion()
    {
        while (_promotions.TryPeek(out var job, out var at))
        {
            if (Find(job) >= 0)
            {
                return new DateTimeOffset(at, TimeSpan.Zero);
            }

            _promotions.Dequeue();
        }

        return null;
    }

    /// <summary>
    /// Merges the groups into queue order by the pass's keys (<see cref="PlanPass.OrderKey.For"/> with
    /// <paramref name="penaltyBySlot"/> per project slot, or none); returns how many jobs it ordered (read them with <see cref="At"/>).
    /// </summary>
    public int Merge(double[]? penaltyBySlot, double agingPerHour, long nowTicks)
    {
        for (var g = 0; g < _groups.Count; g++)
        {
            _groups[g].Penalty = penaltyBySlot is null ? 0 : penaltyBySlot[_groups[g].Slot];
        }

        if (_orderedAt.Length < _count)
        {
            var size = Math.Max(_count, _orderedAt.Length * 2);
            _orderedAt = new long[size];
            var last = new (int, long, long)[size];
            Array.Copy(_mergedItems, last, _merged);
            _mergedItems = last;
            _nextMerged = new (int, long, long)[size];
        }

        var fromLast = _lastMergeUsable && _gone.Count <= MaxMoved && _came.Count <= MaxMoved ? MergeFromLast(agingPerHour, nowTicks) : -1;
        _gone.Clear();
        _came.Clear();
        _lastMergeUsable = true;
        if (fromLast >= 0)
        {
            _merged = fromLast;
            return fromLast;
        }

        if (_heads.Length < _groups.Count)
        {
            _heads = new Head[Math.Max(_groups.Count, _heads.Length * 2)];
        }

        // With bands, priority and band come first in every key, so groups of one priority and band are merged
        // among themselves, run after run in key order, and a run of one group (common: a band holds few jobs)
        // is copied without a key or a comparison. Without bands priority is part of the score: one run.
        if (_runOrder.Length != _groups.Count)
        {
            OrderRuns();
        }

        var written = 0;
        for (var from = 0; from < _runOrder.Length;)
        {
            var to = _withBands ? from + 1 : _runOrder.Length;
            while (to < _runOrder.Length && SameRun(_groups[_runOrder[from]], _groups[_runOrder[to]]))
            {
                to++;
            }

            written = MergeRun(from, to, written, agingPerHour, nowTicks);
            from = to;
        }

        _merged = written;
        return written;
    }

    /// <summary>
    /// The last merge without the jobs gone since, with the jobs come since put in at their keys' places: the
    /// order a merge of every group gives when what stayed still ascends under the new keys (checked here, one
    /// key and comparison per job), since what came is sorted by key and each group's jobs stay in its order.
    /// Returns the count, or -1 when what stayed no longer ascends (penalties moved a project past another).
    /// </summary>
    private int MergeFromLast(double agingPerHour, long nowTicks)
    {
        // Nothing came or went (a live server's queue on most passes): the last merge stands if it still
        // ascends, and is not written again.
        var moved = _came.Count > 0 || _gone.Count > 0;
        if (_cursor.Length < _groups.Count)
        {
            _cursor = new int[Math.Max(_groups.Count, _cursor.Length * 2)];
        }

        Array.Clear(_cursor, 0, _groups.Count);
        if (_cameOrdered.Length < _came.Count)
        {
            _cameOrdered = new (PlanPass.OrderKey, int, long, long)[MaxMoved];
        }

        var came = 0;
        foreach (var (id, (g, ticks)) in _came)
        {
            _cameOrdered[came++] = (KeyOf(_groups[g], ticks, id, agingPerHour, nowTicks), g, ticks, id);
        }

        // Keys are unique (the id breaks ties), so sorting by key alone is the order.
        Array.Sort(_cameOrdered, 0, came, CameOrder.Instance);

        var written = 0;
        var next = 0;
        var previous = default(PlanPass.OrderKey);
        var any = false;
        for (var i = 0; i < _merged; i++)
        {
            var (g, ticks, id) = _mergedItems[i];
            if (Gone(id))
            {
                continue;
            }

            var key = KeyOf(_groups[g], ticks, id, agingPerHour, nowTicks);
            if (any && previous.CompareTo(key) >= 0)
            {
                return -1;
            }

            while (next < came && _cameOrdered[next].Key.CompareTo(key) < 0)
            {
                written = Place(written, _cameOrdered[next].Group, _cameOrdered[next].Ticks, _cameOrdered[next].Id);
                next++;
            }

            written = moved ? Place(written, g, ticks, id) : written + 1;
            previous = key;
            any = true;
        }

        for (; next < came; next++)
        {
            written = Place(written, _cameOrdered[next].Group, _cameOrdered[next].Ticks, _cameOrdered[next].Id);
        }

        if (written != _count)
        {
            return -1;
        }

        if (moved)
        {
            (_mergedItems, _nextMerged) = (_nextMerged, _mergedItems);
        }

        return written;
    }

    private bool Gone(long id)
    {
        foreach (var gone in _gone)
        {
            if (gone == id)
            {
                return true;
            }
        }

        return false;
    }

    // Within a group the merged order is the group's order, so the k-th of a group's jobs placed is its k-th item.
    private int Place(int at, int g, long ticks, long id)
    {
        _nextMerged[at] = (g, ticks, id);
        _orderedAt[at] = ((long)g << 32) | (uint)_cursor[g]++;
        return at + 1;
    }

    private PlanPass.OrderKey KeyOf(Group group, long ticks, long id, double agingPerHour, long nowTicks) =>
        PlanPass.OrderKey.For(group.Priority, _withBands ? group.Band : null, group.Penalty, agingPerHour, nowTicks, ticks, id);

    private sealed class CameOrder : IComparer<(PlanPass.OrderKey Key, int Group, long Ticks, long Id)>
    {
        public static readonly CameOrder Instance = new();

        public int Compare((PlanPass.OrderKey Key, int Group, long Ticks, long Id) x, (PlanPass.OrderKey Key, int Group, long Ticks, long Id) y) =>
            x.Key.CompareTo(y.Key);
    }

    /// <summary>Merges the groups <see cref="_runOrder"/>[<paramref name="from"/>..<paramref name="to"/>) into the order from position <paramref name="written"/>.</summary>
    private int MergeRun(int from, int to, int written, double agingPerHour, long nowTicks)
    {
        var heads = 0;
        var only = -1;
        for (var r = from; r < to; r++)
        {
            var g = _runOrder[r];
            if (_groups[g].Items.Count > 0)
            {
                only = heads == 0 ? g : -1;
                heads++;
            }
        }

        if (heads == 1)
        {
            var high = (long)only << 32;
            var items = _groups[only].Items;
            for (var k = 0; k < items.Count; k++)
            {
                _mergedItems[written] = (only, items[k].Ticks, items[k].Id);
                _orderedAt[written++] = high | (uint)k;
            }

            return written;
        }

        heads = 0;
        for (var r = from; r < to; r++)
        {
            var g = _runOrder[r];
            var group = _groups[g];
            if (group.Items.Count > 0)
            {
                _heads[heads++] = new Head(KeyOf(group, group.Items[0], agingPerHour, nowTicks), g, 0);
            }
        }

        for (var i = (heads / 2) - 1; i >= 0; i--)
        {
            SiftDown(i, heads);
        }

        while (heads > 0)
        {
            ref var top = ref _heads[0];
            var group = _groups[top.Group];
            var next = group.Items[top.Next];
            _mergedItems[written] = (top.Group, next.Ticks, next.Id);
            _orderedAt[written++] = ((long)top.Group << 32) | (uint)top.Next;
            if (++top.Next < group.Items.Count)
            {
                top.Key = KeyOf(group, group.Items[top.Next], agingPerHour, nowTicks);
            }
            else
            {
                _heads[0] = _heads[--heads];
            }

            SiftDown(0, heads);
        }

        return written;
    }

    private static bool SameRun(Group a, Group b) => a.Priority == b.Priority && a.Band == b.Band;

    /// <summary>Groups by priority (highest first), then band (lowest first): the order of runs in a merge with bands.</summary>
    private void OrderRuns()
    {
        _runOrder = new int[_groups.Count];
        for (var g = 0; g < _runOrder.Length; g++)
        {
            _runOrder[g] = g;
        }

        Array.Sort(_runOrder, (a, b) =>
        {
            var byPriority = _groups[b].Priority.CompareTo(_groups[a].Priority);
            return byPriority != 0 ? byPriority : _groups[a].Band.CompareTo(_groups[b].Band);
        });
    }

    private PlanPass.OrderKey KeyOf(Group group, Item item, double agingPerHour, long nowTicks) =>
        PlanPass.OrderKey.For(group.Priority, _withBands ? group.Band : null, group.Penalty, agingPerHour, nowTicks, item.Ticks, item.Id);

    private void SiftDown(int at, int count)
    {
        var moving = _heads[at];
        while (true)
        {
            var child = (2 * at) + 1;
            if (child >= count)
            {
                break;
            }

            if (child + 1 < count && _heads[child + 1].Key.CompareTo(_heads[child].Key) < 0)
            {
                child++;
            }

            if (moving.Key.CompareTo(_heads[child].Key) <= 0)
            {
                break;
            }

            _heads[at] = _heads[child];
            at = child;
        }

        _heads[at] = moving;
    }

    private int Add(Job job, (long Ticks, long Id) key, DateTimeOffset now, AttainedService? service, Func<Job, JobClass> classOf)
    {
        var band = 0;
        if (service is not null && job.Attempts.Count > 0)
        {
            // A job that never ran is in band 0 with no promotion ahead: only jobs that ran are asked.
            band = service.WaitingBand(job, now, out var promoteAt);
            if (promoteAt is { } at)
            {
                _promotions.Enqueue(job, at.UtcTicks);
            }
        }

        var g = GroupFor(job.Spec.Priority, band, job.Spec.Project);
        Came(key.Id, g, key.Ticks);
        var (number, neutral) = _numbers.Of(job, classOf);
        Insert(_groups[g].Items, new Item(key.Ticks, key.Id, job, new JobFacts(number, neutral, _groups[g].Slot, job.Id, job.Spec.MaxRuntime)));
        return g;
    }

    private void Remove(int old)
    {
        Went(_keys[old].Id);
        var items = _groups[_groupAt[old]].Items;
        items.RemoveAt(Position(items, _keys[old]));
    }

    // A job that left its place in the last merge (ids are unique in a queue); one that came since and leaves again was
    // never in it. Past MaxMoved either way the last merge is not used, and nothing more is noted (a fresh queue).
    private void Went(long id)
    {
        if (!_lastMergeUsable)
        {
            return;
        }

        _came.Remove(id);
        if (_gone.Count < MaxMoved)
        {
            _gone.Add(id);
        }
        else
        {
            _lastMergeUsable = false;
        }
    }

    private void Came(long id, int group, long ticks)
    {
        if (!_lastMergeUsable)
        {
            return;
        }

        _came[id] = (group, ticks);
        if (_came.Count > MaxMoved)
        {
            _lastMergeUsable = false;
        }
    }

    /// <summary>Moves jobs whose promotion is due to band 0 of their priority and project.</summary>
    private void Promote(long nowTicks)
    {
        while (_promotions.TryPeek(out var job, out var at) && at <= nowTicks)
        {
            _promotions.Dequeue();
            var found = Find(job);
            if (found < 0)
            {
                continue;
            }

            var from = _groups[_groupAt[found]];
            var items = from.Items;
            var position = Position(items, _keys[found]);
            var item = items[position];
            items.RemoveAt(position);
            var to = GroupFor(from.Priority, 0, _projects[from.Slot]);
            Insert(_groups[to].Items, item);
            _groupAt[found] = to;
                Went(item.Id);
            Came(item.Id, to, item.Ticks);
        }
    }

    /// <summary>Where <paramref name="job"/> (this very object) is in the followed queue, or -1.</summary>
    private int Find(Job job)
    {
        var found = Array.BinarySearch(_keys, 0, _count, (job.SubmittedAt.UtcTicks, job.Id));
        return found >= 0 && ReferenceEquals(_jobs[found], job) ? found : -1;
    }

    private int GroupFor(int priority, int band, string project)
    {
        if (!_slots.TryGetValue(project, out var slot))
        {
            slot = _projects.Count;
            _slots[project] = slot;
            _projects.Add(project);
        }

        if (!_groupOf.TryGetValue((priority, band, slot), out var g))
        {
            g = _groups.Count;
            _groupOf[(priority, band, slot)] = g;
            _groups.Add(new Group(priority, band, slot));
        }

        return g;
    }

    private static void Insert(List<Item> items, Item item)
    {
        // Arrivals come last in submit order: most inserts are appends.
        if (items.Count == 0 || Before(items[^1], item))
        {
            items.Add(item);
            return;
        }

        items.Insert(~Position(items, (item.Ticks, item.Id)), item);
    }

    private static bool Before(Item a, Item b) => a.Ticks < b.Ticks || (a.Ticks == b.Ticks && a.Id < b.Id);

    /// <summary>Binary search of a group by (submit ticks, id): the index, or its complement where it would go.</summary>
    private static int Position(List<Item> items, (long Ticks, long Id) key)
    {
        int low = 0, high = items.Count - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) >> 1);
            var order = (items[mid].Ticks, items[mid].Id).CompareTo(key);
            if (order == 0)
            {
                return mid;
            }

            if (order < 0)
            {
                low = mid + 1;
            }
            else
            {
                high = mid - 1;
            }
        }

        return ~low;
    }

    private void Clear()
    {
        _lastMergeUsable = false;
        _merged = 0;
        _gone.Clear();
        _came.Clear();
        _runOrder = [];
        _given = null;
        _groups.Clear();
        _groupOf.Clear();
        _slots.Clear();
        _projects.Clear();
        _promotions.Clear();
        Array.Clear(_jobs, 0, _count);
        _count = 0;
        if (_numbers.IsFull)
        {
            _numbers = new ClassNumbers();
        }
    }

    private sealed class Group(int priority, int band, int slot)
    {
        public int Priority { get; } = priority;

        public int Band { get; } = band;

        public int Slot { get; } = slot;

        /// <summary>The project's fair-share penalty in the pass being merged.</summary>
        public double Penalty { get; set; }

        public List<Item> Items { get; } = [];
    }

    private readonly record struct Item(long Ticks, long Id, Job Job, JobFacts Facts);

    private struct Head(PlanPass.OrderKey key, int group, int next)
    {
        public PlanPass.OrderKey Key = key;
        public int Group = group;
        public int Next = next;
    }
}

/// <summary>
/// Everything a planning decision reads from a job besides its id, queue position, runtime and service band
/// (see <c>PlanPass.DecisionClass</c>): jobs of one class wait for the same reason.
/// </summary>
internal readonly record struct JobClass(string Project, Stratum.Core.Resources.ResourceVector Resources, int Replicas, string Selector, int Priority);

/// <summary>
/// What the fast path of a planning decision needs of a job: its class number; the number of its class with the
/// project left out (<see cref="Neutral"/>), which decides for it when its project cannot matter (no cohorts, no
/// quota); its project's slot in the queue index; its id and max runtime.
/// </summary>
internal readonly record struct JobFacts(int Class, int Neutral, int ProjectSlot, long Id, TimeSpan? MaxRuntime);

/// <summary>
/// Class numbers kept across queues: a class is made of the job's spec alone, and a spec object is shared by
/// every version of its job, so a job seen in an earlier queue is numbered by one lookup of its spec object
/// instead of hashing its class again (a replay's queue changes on nearly every pass). A class and the same
/// class with its project left out share one numbering. Started again once it holds <see cref="MaxSpecs"/>
/// specs, so a long-lived server's does not grow without bound. Held by one pass at a time, with its index.
/// </summary>
internal sealed class ClassNumbers
{
    public const int MaxSpecs = 200_000;

    private readonly Dictionary<JobClass, int> _table = [];
    private readonly Dictionary<JobSpec, (int Class, int Neutral)> _bySpec = new(ReferenceEqualityComparer.Instance);

    // By class number, the number of the same class without its project (-1 until worked out).
    private readonly List<int> _neutral = [];

    public int Count => _table.Count;

    public bool IsFull => _bySpec.Count >= MaxSpecs;

    public (int Class, int Neutral) Of(Job job, Func<Job, JobClass> classOf)
    {
        if (_bySpec.TryGetValue(job.Spec, out var numbers))
        {
            return numbers;
        }

        var key = classOf(job);
        var number = Number(key, out var added);

        // A class's number without its project is worked out once per class, not per spec: hashing a class (its
        // resource vector is a sorted map) twice for each of 100,000 new jobs doubled a fresh policy's first pass.
        if (added)
        {
            _neutral[number] = Number(key with { Project = "" }, out _);
        }

        numbers = (number, _neutral[number] < 0 ? number : _neutral[number]);
        _bySpec[job.Spec] = numbers;
        return numbers;
    }

    private int Number(JobClass key, out bool added)
    {
        added = !_table.TryGetValue(key, out var id);
        if (added)
        {
            id = _table.Count;
            _table[key] = id;
            _neutral.Add(-1);
        }

        return id;
    }
}
