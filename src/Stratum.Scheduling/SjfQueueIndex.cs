using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Scheduling;

/// <summary>
/// The queued jobs of a replay in shortest-remaining order, kept from pass to pass so that a pass costs
/// what it starts rather than the length of the queue (tens of thousands under SJF, whose long jobs wait:
/// rebuilding the order on each of ~150,000 passes took minutes for the Philly trace). Jobs sit in buckets
/// by shape (replicas and per-replica resources), each in (remaining, submit time, id) order.
/// </summary>
/// <remarks>
/// Kept in step by what it can check cheaply: the same queue list, durations and submit-order promise;
/// the jobs the last pass started are taken out; newer submissions (past the last one seen) are added.
/// If the queue then holds a different number of jobs, or a job taken from a bucket is not in the queue
/// as the same object, the index is built again from the snapshot, so the decisions are always those of
/// the plain walk over the whole queue.
/// </remarks>
internal sealed class SjfQueueIndex
{
    private static readonly Comparer<Entry> Order = Comparer<Entry>.Create((a, b) =>
    {
        var byRemaining = a.Remaining.CompareTo(b.Remaining);
        if (byRemaining != 0)
        {
            return byRemaining;
        }

        var bySubmit = a.SubmittedAt.CompareTo(b.SubmittedAt);
        return bySubmit != 0 ? bySubmit : a.Id.CompareTo(b.Id);
    });

    private readonly IReadOnlyList<Job> _queued;
    private readonly IReadOnlyDictionary<long, TimeSpan> _durations;
    private readonly Dictionary<(ResourceVector PerReplica, int Replicas), Bucket> _buckets = [];
    private readonly Dictionary<long, (Bucket Bucket, Entry Entry)> _byId = [];
    private readonly List<long> _startedLastPass = [];
    private (DateTimeOffset SubmittedAt, long Id)? _newest;

    private SjfQueueIndex(IReadOnlyList<Job> queued, IReadOnlyDictionary<long, TimeSpan> durations)
    {
        _queued = queued;
        _durations = durations;
    }

    /// <summary><paramref name="previous"/> brought up to <paramref name="snapshot"/>, or a new index when it cannot be.</summary>
    public static SjfQueueIndex Advance(SjfQueueIndex? previous, ClusterSnapshot snapshot, IReadOnlyDictionary<long, TimeSpan> durations)
    {
        if (previous is not null && ReferenceEquals(previous._queued, snapshot.Queued) && ReferenceEquals(previous._durations, durations)
            && previous.CatchUp())
        {
            return previous;
        }

        var index = new SjfQueueIndex(snapshot.Queued, durations);
        foreach (var job in snapshot.Queued)
        {
            index.Add(job);
        }

        return index;
    }

    /// <summary>
    /// Starts jobs as the plain walk would: in (remaining, submit, id) order, each job that needs no more
    /// accelerators than are free and fits. A shape that did not fit is not tried again in the pass: free
    /// capacity only shrinks as jobs start, so no later job of that shape could fit either. False, and the
    /// index emptied, when a job it holds is no longer in the queue: the caller then walks a fresh pass
    /// with a fresh index.
    /// </summary>
    public bool Walk(QueuePass pass)
    {
        var free = 0;
        foreach (var node in pass.Free.Nodes)
        {
            foreach (var type in node.AcceleratorTypes)
            {
                free += node.FreeAccelerators(type);
            }
        }

        // One cursor per bucket, ordered by the job it points at; the sets do not change during the walk.
        var heads = new PriorityQueue<Cursor, Entry>(Order);
        foreach (var bucket in _buckets.Values)
        {
            if (bucket.Needs <= free && bucket.Jobs.Count > 0)
            {
                var cursor = new Cursor(bucket);
                if (cursor.Move())
                {
                    heads.Enqueue(cursor, cursor.Current);
                }
            }
        }

        var started = new List<(Bucket Bucket, Entry Entry)>();
        while (heads.TryDequeue(out var cursor, out var entry))
        {
            if (cursor.Bucket.Needs > free)
            {
                continue;
            }

            if (!IsQueued(entry))
            {
                _startedLastPass.Clear();
                _byId.Clear();
                _buckets.Clear();
                _newest = null;
                return false;
            }

            var job = entry.Job;
            if (pass.ProjectProblem(job, out _) is null)
            {
                if (!pass.TryStart(job, out _))
                {
                    // The shape does not fit now, and will not until the pass ends: drop the bucket.
                    continue;
                }

                free -= cursor.Bucket.Needs;
                started.Add((cursor.Bucket, entry));
            }

            if (cursor.Move())
            {
                heads.Enqueue(cursor, cursor.Current);
            }
        }

        foreach (var (bucket, entry) in started)
        {
            bucket.Jobs.Remove(entry);
            _byId.Remove(entry.Id);
            _startedLastPass.Add(entry.Id);
        }

        return true;
    }

    // The queue is in submit order, so membership is a binary search; the same object means the same job state.
    private bool IsQueued(Entry entry)
    {
        int low = 0, high = _queued.Count - 1;
        while (low <= high)
        {
            var mid = (low + high) >>> 1;
            var job = _queued[mid];
            var compare = job.SubmittedAt != entry.SubmittedAt ? job.SubmittedAt.CompareTo(entry.SubmittedAt) : job.Id.CompareTo(entry.Id);
            if (compare == 0)
            {
                return ReferenceEquals(job, entry.Job);
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

        return false;
    }

    // Takes out what the last pass started (the caller has moved them to running), adds what was submitted since.
    private bool CatchUp()
    {
        foreach (var id in _startedLastPass)
        {
            if (_byId.Remove(id, out var found))
            {
                found.Bucket.Jobs.Remove(found.Entry);
            }
        }

        _startedLastPass.Clear();
        if (_newest is null)
        {
            return false;
        }

        var first = _queued.Count;
        while (first > 0 && Newer(_queued[first - 1], _newest.Value))
        {
            first--;
        }

        for (var i = first; i < _queued.Count; i++)
        {
            Add(_queued[i]);
        }

        return _byId.Count == _queued.Count;
    }

    private static bool Newer(Job job, (DateTimeOffset SubmittedAt, long Id) than) =>
        job.SubmittedAt != than.SubmittedAt ? job.SubmittedAt > than.SubmittedAt : job.Id > than.Id;

    private void Add(Job job)
    {
        var key = (job.Spec.Resources, job.Spec.Replicas);
        if (!_buckets.TryGetValue(key, out var bucket))
        {
            bucket = new Bucket(QueuePass.Accelerators(job.Spec));
            _buckets[key] = bucket;
        }

        var entry = new Entry(SjfOraclePolicy.Remaining(job, _durations), job.SubmittedAt, job.Id, job);
        if (_byId.TryAdd(job.Id, (bucket, entry)))
        {
            bucket.Jobs.Add(entry);
        }

        if (_newest is null || Newer(job, _newest.Value))
        {
            _newest = (job.SubmittedAt, job.Id);
        }
    }

    private readonly record struct Entry(TimeSpan Remaining, DateTimeOffset SubmittedAt, long Id, Job Job);

    // A walk's place in one bucket (a class: the set's enumerator is a struct that must not be copied).
    private sealed class Cursor(Bucket bucket)
    {
        private SortedSet<Entry>.Enumerator _enumerator = bucket.Jobs.GetEnumerator();

        public Bucket Bucket { get; } = bucket;

        public Entry Current => _enumerator.Current;

        public bool Move() => _enumerator.MoveNext();
    }

    private sealed class Bucket(int needs)
    {
        public int Needs { get; } = needs;

        public SortedSet<Entry> Jobs { get; } = new(Order);
    }
}
