using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Scheduling;

/// <summary>
/// The queued jobs of a replay in <see cref="LasPolicy"/> order (queue level, then submit time, then id),
/// kept from pass to pass so that a pass costs what it starts and preempts rather than the length of the
/// queue: working out every waiting job's service and sorting the queue on each of a replay's hundreds of
/// thousands of passes kept the LAS policies from replaying the Philly trace in reasonable time. Jobs
/// sit in buckets by queue level and shape (replicas and per-replica resources), each in submit order.
/// </summary>
/// <remarks>
/// <para>
/// A waiting job's service does not change while it waits, so its level changes only when it is
/// promoted, at a time known when it joins: promotions come off a heap. Jobs move only when they
/// arrive, start, are preempted (they come back with an ended attempt) or are promoted.
/// </para>
/// <para>
/// Kept in step by what it can check cheaply, as <see cref="SjfQueueIndex"/> is: the same queue list;
/// the jobs the last pass started are taken out when it ends; the jobs it preempted are looked up in
/// the queue and added; newer submissions (past the last one seen) are added. If the queue then holds
/// a different number of jobs, a preempted job is not in it, or a job the walk reaches is not in the
/// queue as the same object, the index is built again from the snapshot, so the decisions are always
/// those of the plain walk over the whole queue.
/// </para>
/// </remarks>
internal sealed class LasQueueIndex
{
    private static readonly Comparer<Entry> Order = Comparer<Entry>.Create((a, b) =>
    {
        var bySubmit = a.SubmittedAt.CompareTo(b.SubmittedAt);
        return bySubmit != 0 ? bySubmit : a.Id.CompareTo(b.Id);
    });

    private readonly IReadOnlyList<Job> _queued;
    private readonly LasPolicy _policy;
    private readonly Dictionary<(int Queue, ResourceVector PerReplica, int Replicas), Bucket> _buckets = [];
    private readonly List<Bucket>[] _byQueue;
    private readonly Dictionary<long, (Bucket Bucket, Entry Entry)> _byId = [];

    // Waiting jobs of lower queues by the time they are promoted; an entry whose job has since started
    // or been promoted is stale and skipped when it comes up.
    private readonly PriorityQueue<long, DateTimeOffset> _promotions = new();
    private readonly List<(DateTimeOffset SubmittedAt, long Id)> _preemptedLastPass = [];
    private (DateTimeOffset SubmittedAt, long Id)? _newest;
    private DateTimeOffset _now;

    // A walk's cursors of one level, reused from level to level and pass to pass.
    private readonly PriorityQueue<Cursor, Entry> _heads = new(Order);

    // The jobs a walk started, taken out when it ends (reused from pass to pass).
    private readonly List<(Bucket Bucket, Entry Entry)> _started = [];

    private LasQueueIndex(IReadOnlyList<Job> queued, LasPolicy policy, DateTimeOffset now)
    {
        _queued = queued;
        _policy = policy;
        _now = now;
        _byQueue = new List<Bucket>[policy.Options.QueueThresholdsGpuSeconds.Count + 1];
        for (var q = 0; q < _byQueue.Length; q++)
        {
            _byQueue[q] = [];
        }
    }

    /// <summary>What the walker did with the job it was shown.</summary>
    public enum Visit
    {
        /// <summary>The job stays queued; the walk goes on to the next job of its bucket.</summary>
        Skipped,

        /// <summary>The job started; it leaves the index when the walk ends.</summary>
        Started,

        /// <summary>
        /// The job can neither start nor take victims' GPUs, and no later job of its queue level and
        /// shape can in this pass either (room only shrinks as the pass goes): the walk leaves the bucket.
        /// </summary>
        ShapeExhausted,
    }

    /// <summary>Queue levels, best first.</summary>
    public int Queues => _byQueue.Length;

    /// <summary>
    /// <paramref name="previous"/> brought up to <paramref name="snapshot"/> (promotions due by its time
    /// applied), a new index when it cannot be, or null when the queue holds a job the index cannot rank
    /// (one with an attempt not ended, whose service grows while it waits): the caller walks plainly then.
    /// <paramref name="fresh"/> says whether it was ranked from scratch.
    /// </summary>
    public static LasQueueIndex? Advance(LasQueueIndex? previous, LasPolicy policy, ClusterSnapshot snapshot, out bool fresh)
    {
        fresh = false;
        if (previous is not null && ReferenceEquals(previous._queued, snapshot.Queued) && ReferenceEquals(previous._policy, policy)
            && snapshot.Now >= previous._now && previous.CatchUp(snapshot.Now))
        {
            previous.Promote(snapshot.Now);
            return previous;
        }

        fresh = true;

        var index = new LasQueueIndex(snapshot.Queued, policy, snapshot.Now);
        foreach (var job in snapshot.Queued)
        {
            if (!index.Add(job))
            {
                return null;
            }
        }

        return index;
    }

    /// <summary>The best queue level any waiting job is in; <see cref="Queues"/> when none waits.</summary>
    public int BestQueue
    {
        get
        {
            for (var q = 0; q < _byQueue.Length; q++)
            {
                foreach (var bucket in _byQueue[q])
                {
                    if (bucket.Jobs.Count > 0)
                    {
                        return q;
                    }
                }
            }

            return _byQueue.Length;
        }
    }

    /// <summary>The next time a waiting job will be promoted (after the time of the last advance), or null.</summary>
    public DateTimeOffset? NextPromotion
    {
        get
        {
            while (_promotions.TryPeek(out var id, out var at))
            {
                if (IsPending(id, at))
                {
                    return at;
                }

                _promotions.Dequeue();
            }

            return null;
        }
    }

    /// <summary>The fewest accelerators any job waiting in <paramref name="queue"/> needs; int.MaxValue when none waits there.</summary>
    public int MinNeeds(int queue)
    {
        var least = int.MaxValue;
        foreach (var bucket in _byQueue[queue])
        {
            if (bucket.Jobs.Count > 0 && bucket.Needs < least)
            {
                least = bucket.Needs;
            }
        }

        return least;
    }

    /// <summary>
    /// Visits waiting jobs as the plain walk would, best queue first and in submit order within one,
    /// skipping those that need more accelerators than <paramref name="room"/> gives their queue (room
    /// only shrinks during a pass, so a bucket past it is left for the pass). False, and the index
    /// emptied, when a job it holds is no longer in the queue: the caller then decides afresh.
    /// </summary>
    public bool Walk(Func<int, int> room, Func<Job, int, Visit> visit)
    {
        var started = _started;
        started.Clear();
        for (var q = 0; q < _byQueue.Length; q++)
        {
            // One cursor per bucket of the level, ordered by the job it points at.
            var heads = _heads;
            heads.Clear();
            var limit = room(q);
            foreach (var bucket in _byQueue[q])
            {
                if (bucket.Jobs.Count > 0 && bucket.Needs <= limit)
                {
                    var cursor = bucket.Cursor;
                    cursor.Restart();
                    if (cursor.Move())
                    {
                        heads.Enqueue(cursor, cursor.Current);
                    }
                }
            }

            while (heads.TryDequeue(out var cursor, out var entry))
            {
                if (cursor.Bucket.Needs > room(q))
                {
                    continue;
                }

                if (!IsQueued(entry))
                {
                    Clear();
                    return false;
                }

                var outcome = visit(entry.Job, q);
                if (outcome == Visit.ShapeExhausted)
                {
                    continue;
                }

                if (outcome == Visit.Started)
                {
                    started.Add((cursor.Bucket, entry));
                }

                if (cursor.Move())
                {
                    heads.Enqueue(cursor, cursor.Current);
                }
            }
        }

        foreach (var (bucket, entry) in started)
        {
            bucket.Jobs.Remove(entry);
            _byId.Remove(entry.Id);
        }

        started.Clear();
        return true;
    }

    /// <summary>Jobs the pass just walked preempted: the caller requeues them, and the next advance adds them back.</summary>
    public void Preempted(IReadOnlyList<Job> victims)
    {
        for (var i = 0; i < victims.Count; i++)
        {
            _preemptedLastPass.Add((victims[i].SubmittedAt, victims[i].Id));
        }
    }

    private bool IsPending(long id, DateTimeOffset at) =>
        _byId.TryGetValue(id, out var found) && found.Entry.Queue > 0 && found.Entry.PromoteAt == at;

    private void Promote(DateTimeOffset now)
    {
        _now = now;
        while (_promotions.TryPeek(out var id, out var at) && at <= now)
        {
            _promotions.Dequeue();
            if (IsPending(id, at))
            {
                var (bucket, entry) = _byId[id];
                bucket.Jobs.Remove(entry);
                Place(entry with { Queue = 0 });
            }
        }
    }

    // Adds the jobs the last pass preempted and what was submitted since; false when the queue is not what that predicts.
    private bool CatchUp(DateTimeOffset now)
    {
        _now = now;
        foreach (var (submittedAt, id) in _preemptedLastPass)
        {
            var at = Find(submittedAt, id);
            if (at < 0 || _byId.ContainsKey(id) || !Add(_queued[at]))
            {
                _preemptedLastPass.Clear();
                return false;
            }
        }

        _preemptedLastPass.Clear();
        if (_newest is null)
        {
            return _queued.Count == 0;
        }

        var first = _queued.Count;
        while (first > 0 && Newer(_queued[first - 1], _newest.Value))
        {
            first--;
        }

        for (var i = first; i < _queued.Count; i++)
        {
            if (!Add(_queued[i]))
            {
                return false;
            }
        }

        return _byId.Count == _queued.Count;
    }

    private void Clear()
    {
        _byId.Clear();
        _buckets.Clear();
        foreach (var level in _byQueue)
        {
            level.Clear();
        }

        _promotions.Clear();
        _preemptedLastPass.Clear();
        _newest = null;
    }

    private static bool Newer(Job job, (DateTimeOffset SubmittedAt, long Id) than) =>
        job.SubmittedAt != than.SubmittedAt ? job.SubmittedAt > than.SubmittedAt : job.Id > than.Id;

    // The queue is in submit order, so a job is found by binary search; -1 when absent.
    private int Find(DateTimeOffset submittedAt, long id)
    {
        int low = 0, high = _queued.Count - 1;
        while (low <= high)
        {
            var mid = (low + high) >>> 1;
            var job = _queued[mid];
            var compare = job.SubmittedAt != submittedAt ? job.SubmittedAt.CompareTo(submittedAt) : job.Id.CompareTo(id);
            if (compare == 0)
            {
                return mid;
            }

            if (compare < 0)
            {
                low = mid + 1;
            }
            else
            {
                high = mid - 1;
            }
        }

        return -1;
    }

    // The same object at the job's place in the queue means the same job state.
    private bool IsQueued(Entry entry) => Find(entry.SubmittedAt, entry.Id) is var at and >= 0 && ReferenceEquals(_queued[at], entry.Job);

    // Ranks the job as the plain walk does; false for a job with an attempt not ended, whose rank would change while it waits.
    private bool Add(Job job)
    {
        foreach (var attempt in job.Attempts)
        {
            if (attempt.EndedAt is null)
            {
                return false;
            }
        }

        var queue = _policy.QueueOf(_policy.Service(job, _now, out var promoteAt));
        if (promoteAt is { } at && queue > 0)
        {
            if (at <= _now)
            {
                queue = 0;
            }
            else
            {
                _promotions.Enqueue(job.Id, at);
            }
        }

        if (_newest is null || Newer(job, _newest.Value))
        {
            _newest = (job.SubmittedAt, job.Id);
        }

        return Place(new Entry(job.SubmittedAt, job.Id, job, queue, promoteAt));
    }

    private bool Place(Entry entry)
    {
        var spec = entry.Job.Spec;
        var key = (entry.Queue, spec.Resources, spec.Replicas);
        if (!_buckets.TryGetValue(key, out var bucket))
        {
            bucket = new Bucket(QueuePass.Accelerators(spec));
            _buckets[key] = bucket;
            _byQueue[entry.Queue].Add(bucket);
        }

        bucket.Jobs.Add(entry);
        _byId[entry.Id] = (bucket, entry);
        return true;
    }

    private readonly record struct Entry(DateTimeOffset SubmittedAt, long Id, Job Job, int Queue, DateTimeOffset? PromoteAt);

    // A walk's place in one bucket, one per bucket and reused by every walk (a class: the set's enumerator
    // is a struct that must not be copied). Most walks leave a bucket after its first job, so that one is
    // read as the set's least, and the enumerator, which allocates, is made only to go further.
    private sealed class Cursor(Bucket bucket)
    {
        private SortedSet<Entry>.Enumerator _enumerator;
        private bool _enumerating;
        private bool _started;

        public Bucket Bucket { get; } = bucket;

        public Entry Current { get; private set; }

        public void Restart()
        {
            _enumerator = default;
            _enumerating = false;
            _started = false;
        }

        public bool Move()
        {
            var jobs = Bucket.Jobs;
            if (!_started)
            {
                _started = true;
                if (jobs.Count == 0)
                {
                    return false;
                }

                Current = jobs.Min;
                return true;
            }

            if (!_enumerating)
            {
                // Positioned on the least, which was the current job.
                _enumerator = jobs.GetEnumerator();
                _enumerator.MoveNext();
                _enumerating = true;
            }

            if (!_enumerator.MoveNext())
            {
                return false;
            }

            Current = _enumerator.Current;
            return true;
        }
    }

    private sealed class Bucket
    {
        public Bucket(int needs)
        {
            Needs = needs;
            Cursor = new Cursor(this);
        }

        public int Needs { get; }

        public SortedSet<Entry> Jobs { get; } = new(Order);

        public Cursor Cursor { get; }
    }
}
