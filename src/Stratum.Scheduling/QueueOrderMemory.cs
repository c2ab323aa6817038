using Stratum.Core.Jobs;

namespace Stratum.Scheduling;

/// <summary>
/// The previous pass's queue order, kept by a policy between passes. Between two passes the queue is
/// usually the very same job objects, and their order under the new keys (aging moves every key alike)
/// usually the same too: checking that the old order is still strictly ascending takes one comparison per
/// job, where sorting 100,000 keys took a fifth of a pass. Keys are unique (job id breaks ties), so a
/// strictly ascending order is the one a sort would produce; anything else falls back to a sort.
/// What the keys are made of (<see cref="QueuedFacts"/>) is kept too, flat and in the kept order: reading
/// 100,000 job records and hashing their project names on every pass cost more than the check.
/// Safe for concurrent passes: what is kept is immutable and replaced whole.
/// </summary>
internal sealed class QueueOrderMemory
{
    private Kept? _last;

    // Class numbers shared by every queue this policy orders (see ClassNumbers).
    private ClassNumbers _numbers = new();

    /// <summary>The fair-share sums from nodes and running jobs, which order keys are made of too.</summary>
    public FairShareSums FairShare { get; } = new();

    /// <summary>Running jobs by expected end, kept while they are the same objects under the same estimates.</summary>
    public RunningEnds Ends { get; } = new();

    /// <summary>The last pass's pending decisions, handed back again where they did not change.</summary>
    public PendingMemory Pending { get; } = new();

    /// <summary>Whether <paramref name="now"/> holds the very objects of <paramref name="kept"/>, in the same order.</summary>
    internal static bool SameObjects<T>(T[] kept, IReadOnlyList<T> now)
        where T : class
    {
        if (now.Count != kept.Length)
        {
            return false;
        }

        // A span over the caller's list or array: an interface call per item cost more than the comparison.
        ReadOnlySpan<T> given = now switch
        {
            T[] array => array,
            List<T> list => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list),
            _ => now.ToArray(),
        };
        for (var i = 0; i < given.Length; i++)
        {
            if (!ReferenceEquals(given[i], kept[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The queue with the flat facts of its jobs: in the last pass's sorted order (<see cref="QueueView.IsKeptOrder"/>)
    /// when <paramref name="queued"/> is the very same job objects in the same order as then, else as given.
    /// </summary>
    public QueueView View(IReadOnlyList<Job> queued)
    {
        var last = Volatile.Read(ref _last);
        if (PassShortcuts.Enabled && last is not null && last.IsFor(queued))
        {
            return last.View;
        }

        var jobs = new Job[queued.Count];
        var facts = new QueuedFacts[jobs.Length];
        var slots = new Dictionary<string, int>(StringComparer.Ordinal);
        var projects = new List<string>();
        for (var i = 0; i < jobs.Length; i++)
        {
            var job = queued[i];
            jobs[i] = job;
            var project = job.Spec.Project;
            if (!slots.TryGetValue(project, out var slot))
            {
                slot = projects.Count;
                slots[project] = slot;
                projects.Add(project);
            }

            facts[i] = new QueuedFacts(job.Id, job.SubmittedAt.UtcTicks, job.Spec.Priority, slot, job.Attempts.Count > 0);
        }

        return new QueueView(jobs, facts, [.. projects], null);
    }

    /// <summary>
    /// Sorts <paramref name="keys"/> (one per job of <paramref name="view"/>, in its order) ascending, and keeps the
    /// order for the next pass. Returns the jobs and their facts in sorted order, and their job classes.
    /// </summary>
    public (Job[] Jobs, JobClasses Classes) Sort<TKey>(QueueView view, TKey[] keys)
        where TKey : IComparable<TKey>
    {
        var order = new int[keys.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        Array.Sort(keys, order);
        var jobs = new Job[order.Length];
        var facts = new QueuedFacts[order.Length];
        for (var i = 0; i < order.Length; i++)
        {
            jobs[i] = view.Jobs[order[i]];
            facts[i] = view.Facts[order[i]];
        }

        // Positions into the snapshot's own order, so the next pass can tell the same queue when it sees it.
        var input = view.From?.Input ?? view.Jobs;
        if (view.From is { } from)
        {
            for (var i = 0; i < order.Length; i++)
            {
                order[i] = from.Order[order[i]];
            }
        }

        if (_numbers.IsFull)
        {
            _numbers = new ClassNumbers();
        }

        var classes = new JobClasses(jobs, _numbers);
        var kept = new Kept(input, order, new QueueView(jobs, facts, view.Projects, null), classes);
        kept.View = kept.View with { KeptFrom = kept };
        Volatile.Write(ref _last, kept);
        return (jobs, classes);
    }

    /// <summary>
    /// Sorts <paramref name="keys"/> ascending and <paramref name="jobs"/> with them, as <see cref="Array.Sort{TKey, TValue}(TKey[], TValue[])"/>
    /// does for unique keys. Returns the job classes by sorted position, kept with the order while the queue stays the same.
    /// </summary>
    public JobClasses Sort<TKey>(TKey[] keys, Job[] jobs)
        where TKey : IComparable<TKey>
    {
        var view = View(jobs);
        var viewKeys = keys;
        if (view.From is { } kept)
        {
            // The keys given (in the snapshot's order) in the kept order.
            viewKeys = new TKey[keys.Length];
            for (var i = 0; i < viewKeys.Length; i++)
            {
                viewKeys[i] = keys[kept.Order[i]];
            }

            if (StillAscending(viewKeys))
            {
                Array.Copy(viewKeys, keys, keys.Length);
                Array.Copy(view.Jobs, jobs, jobs.Length);
                return kept.Classes;
            }
        }

        var (sorted, classes) = Sort(view, viewKeys);
        Array.Copy(viewKeys, keys, keys.Length);
        Array.Copy(sorted, jobs, jobs.Length);
        return classes;
    }

    private static bool StillAscending<TKey>(TKey[] keys)
        where TKey : IComparable<TKey>
    {
        for (var i = 1; i < keys.Length; i++)
        {
            if (keys[i - 1].CompareTo(keys[i]) >= 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The jobs as they came (in the snapshot's order), the sorted order as positions into them, and the queue in that order.</summary>
    internal sealed class Kept(Job[] input, int[] order, QueueView view, JobClasses classes)
    {
        public Job[] Input { get; } = input;

        public int[] Order { get; } = order;

        public QueueView View { get; set; } = view;

        public JobClasses Classes { get; } = classes;

        public bool IsFor(IReadOnlyList<Job> jobs) => SameObjects(Input, jobs);
    }

    /// <summary>What <see cref="View"/> gives: jobs and their facts, and the project names facts' slots stand for.</summary>
    internal sealed record QueueView(Job[] Jobs, QueuedFacts[] Facts, string[] Projects, object? KeptFrom)
    {
        public bool IsKeptOrder => KeptFrom is not null;

        internal Kept? From => KeptFrom as Kept;

        /// <summary>The job classes of the kept order (only when <see cref="IsKeptOrder"/>).</summary>
        public JobClasses? Classes => From?.Classes;
    }
}

/// <summary>
/// What a fair-share penalty takes from the nodes (allocatable totals) and the running jobs (usage per project),
/// summed as the planning pass always summed them and kept while they are the same objects: summing 10,000 nodes
/// and 15,000 running jobs through name lookups on every pass was a tenth of a pass. Safe for concurrent passes.
/// </summary>
internal sealed class FairShareSums
{
    private KeptTotals? _allocatable;
    private KeptUsage? _used;

    public (double Cpu, double Memory, double Gpus) Allocatable(IReadOnlyList<Stratum.Core.Cluster.Node> nodes)
    {
        var kept = Volatile.Read(ref _allocatable);
        if (PassShortcuts.Enabled && kept is not null && QueueOrderMemory.SameObjects(kept.Nodes, nodes))
        {
            return kept.Totals;
        }

        double totalCpu = 0, totalMemory = 0, totalGpus = 0;
        foreach (var node in nodes)
        {
            totalCpu += node.Allocatable.CpuMillis;
            totalMemory += node.Allocatable.MemoryBytes;
            totalGpus += node.Allocatable.AcceleratorCount;
        }

        Volatile.Write(ref _allocatable, new KeptTotals([.. nodes], (totalCpu, totalMemory, totalGpus)));
        return (totalCpu, totalMemory, totalGpus);
    }

    /// <summary>
    /// Resources held by running jobs, per project (replicas times resources); never to be changed by the caller.
    /// With a <paramref name="capacity"/> the caller keeps in step, the last pass's sums plus the changes it
    /// recorded since (whole numbers, so adding and taking away in any order gives the sums a rebuild would).
    /// </summary>
    public IReadOnlyDictionary<string, (double Cpu, double Memory, double Gpus)> Used(IReadOnlyList<Job> running, Placement.RunningCapacity? capacity = null)
    {
        var kept = Volatile.Read(ref _used);
        if (PassShortcuts.Enabled && kept is not null && capacity is not null && ReferenceEquals(kept.Capacity, capacity)
            && capacity.TryChangesSince(kept.Position, out var changes) && kept.Count + Placement.RunningCapacity.Net(changes) == running.Count)
        {
            var sums = (Dictionary<string, (double Cpu, double Memory, double Gpus)>)kept.Usage;
            foreach (var (job, added) in changes)
            {
                Add(sums, job, added ? 1 : -1);
            }

            Volatile.Write(ref _used, kept with { Position = capacity.ChangeCount, Count = running.Count });
            return sums;
        }

        if (PassShortcuts.Enabled && kept is not null && capacity is null && kept.Capacity is null && QueueOrderMemory.SameObjects(kept.Running, running))
        {
            return kept.Usage;
        }

        var usage = new Dictionary<string, (double Cpu, double Memory, double Gpus)>(StringComparer.Ordinal);
        foreach (var job in running)
        {
            Add(usage, job, 1);
        }

        // Following a capacity needs no copy of the running list: the changes say what moved.
        Volatile.Write(ref _used, new KeptUsage(capacity is null ? [.. running] : [], usage, capacity, capacity?.ChangeCount ?? 0, running.Count));
        return usage;
    }

    private static void Add(Dictionary<string, (double Cpu, double Memory, double Gpus)> usage, Job job, int sign)
    {
        var (cpu, memory, gpus) = usage.GetValueOrDefault(job.Spec.Project);
        var replicas = sign * job.Spec.Replicas;
        usage[job.Spec.Project] = (cpu + (job.Spec.Resources.CpuMillis * replicas), memory + (job.Spec.Resources.MemoryBytes * replicas),
            gpus + (job.Spec.Resources.AcceleratorCount * replicas));
    }

    private sealed record KeptTotals(Stratum.Core.Cluster.Node[] Nodes, (double Cpu, double Memory, double Gpus) Totals);

    private sealed record KeptUsage(Job[] Running, IReadOnlyDictionary<string, (double Cpu, double Memory, double Gpus)> Usage,
        Placement.RunningCapacity? Capacity, long Position, int Count);
}

/// <summary>
/// Running jobs with a known end (start plus max runtime or estimate), sorted by that end and then id, kept while
/// the running jobs are the same objects under the same estimates: sorting 15,000 ends on every pass was a
/// tenth of one. The pass moves overdue ends to its own now (see <c>PlanPass.SortedEnds</c>). Safe for concurrent passes.
/// </summary>
internal sealed class RunningEnds
{
    private Kept? _last;

    /// <summary>
    /// Sorted by (end, id); never to be changed. With a <paramref name="capacity"/> the caller keeps in step, the last
    /// pass's ends with the jobs started and stopped since put in and taken out at their places.
    /// </summary>
    public (DateTimeOffset End, Job Job)[] For(IReadOnlyList<Job> running, RuntimeEstimates? estimates, Placement.RunningCapacity? capacity = null)
    {
        var last = Volatile.Read(ref _last);
        if (PassShortcuts.Enabled && last is not null && capacity is not null && ReferenceEquals(last.Capacity, capacity) && ReferenceEquals(last.Estimates, estimates)
            && capacity.TryChangesSince(last.Position, out var changes) && last.Count + Placement.RunningCapacity.Net(changes) == running.Count)
        {
            var kept = last.Ends;
            if (changes.Length > 0)
            {
                var moved = new List<(DateTimeOffset End, Job Job)>(kept);
                foreach (var (job, added) in changes)
                {
                    if (job.CurrentAttempt is not { } attempt || RuntimeEstimates.For(job, estimates) is not { } runtime)
                    {
                        continue;
                    }

                    var end = attempt.StartedAt + runtime;
                    var at = moved.BinarySearch((end, job), EndOrder.Instance);
                    if (added && at < 0)
                    {
                        moved.Insert(~at, (end, job));
                    }
                    else if (!added && at >= 0)
                    {
                        moved.RemoveAt(at);
                    }
                }

                kept = [.. moved];
            }

            Volatile.Write(ref _last, last with { Ends = kept, Position = capacity.ChangeCount, Count = running.Count });
            return kept;
        }

        if (PassShortcuts.Enabled && last is not null && capacity is null && last.Capacity is null && ReferenceEquals(last.Estimates, estimates)
            && QueueOrderMemory.SameObjects(last.Running, running))
        {
            return last.Ends;
        }

        var keys = new List<(long Ticks, long Id)>();
        var ends = new List<(DateTimeOffset, Job)>();
        foreach (var job in running)
        {
            if (job.CurrentAttempt is { } attempt && RuntimeEstimates.For(job, estimates) is { } runtime)
            {
                var end = attempt.StartedAt + runtime;
                keys.Add((end.UtcTicks, job.Id));
                ends.Add((end, job));
            }
        }

        var sortedKeys = keys.ToArray();
        var sorted = ends.ToArray();
        Array.Sort(sortedKeys, sorted);
        Volatile.Write(ref _last, new Kept(capacity is null ? [.. running] : [], estimates, sorted, capacity, capacity?.ChangeCount ?? 0, running.Count));
        return sorted;
    }

    private sealed record Kept(Job[] Running, RuntimeEstimates? Estimates, (DateTimeOffset End, Job Job)[] Ends, Placement.RunningCapacity? Capacity, long Position, int Count);

    /// <summary>By end, then job id: the order the sort of (ticks, id) keys gives.</summary>
    private sealed class EndOrder : IComparer<(DateTimeOffset End, Job Job)>
    {
        public static readonly EndOrder Instance = new();

        public int Compare((DateTimeOffset End, Job Job) x, (DateTimeOffset End, Job Job) y)
        {
            var byEnd = x.End.UtcTicks.CompareTo(y.End.UtcTicks);
            return byEnd != 0 ? byEnd : x.Job.Id.CompareTo(y.Job.Id);
        }
    }
}

/// <summary>What a queue order key is made of, read once from a job: id, submit time, priority, project (a slot in <see cref="QueueOrderMemory.QueueView.Projects"/>), and whether it has run before.</summary>
internal readonly record struct QueuedFacts(long Id, long SubmittedTicks, int Priority, int ProjectSlot, bool HasAttempts);

/// <summary>
/// Everything a planning decision reads from a job besides its id, queue position, runtime and service band
/// (see <c>PlanPass.DecisionClass</c>): jobs of one class wait for the same reason.
/// </summary>
internal readonly record struct JobClass(string Project, Stratum.Core.Resources.ResourceVector Resources, int Replicas, string Selector, int Priority);

/// <summary>What the fast path of a planning decision needs of a job: its class number, id and max runtime.</summary>
internal readonly record struct JobFacts(int Class, long Id, TimeSpan? MaxRuntime);

/// <summary>
/// The <see cref="JobFacts"/> of the jobs of one queue, by sorted position, worked out once and kept while
/// the queue stays the same: hashing a class (project name, resource vector, ...) and reading each of
/// 100,000 job records in queue order (a cache miss apiece) on every pass cost more than the decisions the
/// classes save. Safe for concurrent passes: every pass writes the same facts.
/// </summary>
internal sealed class JobClasses
{
    private readonly Job[] _sorted;
    private readonly JobFacts[] _facts;
    private readonly int[] _known;
    private readonly ClassNumbers _numbers;

    public JobClasses(Job[] sorted, ClassNumbers? numbers = null)
    {
        _sorted = sorted;
        _facts = new JobFacts[sorted.Length];
        _known = new int[sorted.Length];
        _numbers = numbers ?? new ClassNumbers();
    }

    /// <summary>How many classes are numbered so far.</summary>
    public int Count => _numbers.Count;

    /// <summary>The facts of <paramref name="job"/>, found at sorted position <paramref name="index"/> (any other job is looked up).</summary>
    public JobFacts Of(int index, Job job, Func<Job, JobClass> classOf)
    {
        var here = (uint)index < (uint)_facts.Length && ReferenceEquals(_sorted[index], job);
        if (here && Volatile.Read(ref _known[index]) != 0)
        {
            return _facts[index];
        }

        var facts = new JobFacts(_numbers.Of(job, classOf), job.Id, job.Spec.MaxRuntime);
        if (here)
        {
            _facts[index] = facts;
            Volatile.Write(ref _known[index], 1);
        }

        return facts;
    }
}

/// <summary>
/// Class numbers kept by a policy across queues: a class is made of the job's spec alone, and a spec object is
/// shared by every version of its job, so a job seen in an earlier queue is numbered by one lookup of its spec
/// object instead of hashing its class again (a replay's queue changes on nearly every pass). Started again
/// once it holds <see cref="MaxSpecs"/> specs, so a long-lived server's does not grow without bound.
/// Safe for concurrent passes.
/// </summary>
internal sealed class ClassNumbers
{
    public const int MaxSpecs = 200_000;

    private readonly Dictionary<JobClass, int> _table = [];
    private readonly Dictionary<JobSpec, int> _bySpec = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _gate = new();

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _table.Count;
            }
        }
    }

    public bool IsFull
    {
        get
        {
            lock (_gate)
            {
                return _bySpec.Count >= MaxSpecs;
            }
        }
    }

    public int Of(Job job, Func<Job, JobClass> classOf)
    {
        lock (_gate)
        {
            if (_bySpec.TryGetValue(job.Spec, out var id))
            {
                return id;
            }

            var key = classOf(job);
            if (!_table.TryGetValue(key, out id))
            {
                id = _table.Count;
                _table[key] = id;
            }

            _bySpec[job.Spec] = id;
            return id;
        }
    }
}
