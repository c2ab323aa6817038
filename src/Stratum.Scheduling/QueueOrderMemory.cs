using Stratum.Core.Jobs;

namespace Stratum.Scheduling;

/// <summary>
/// The previous pass's queue order, kept by a policy between passes. Between two passes the queue is
/// usually the very same job objects, and their order under the new keys (aging moves every key alike)
/// usually the same too: checking that the old order is still strictly ascending takes one comparison per
/// job, where sorting 100,000 keys took a fifth of a pass. Keys are unique (job id breaks ties), so a
/// strictly ascending order is the one a sort would produce; anything else falls back to a sort.
/// Safe for concurrent passes: what is kept is immutable and replaced whole.
/// </summary>
internal sealed class QueueOrderMemory
{
    private Kept? _last;

    /// <summary>
    /// Sorts <paramref name="keys"/> ascending and <paramref name="jobs"/> with them, as <see cref="Array.Sort{TKey, TValue}(TKey[], TValue[])"/>
    /// does for unique keys. Returns the job classes by sorted position, kept with the order while the queue stays the same.
    /// </summary>
    public JobClasses Sort<TKey>(TKey[] keys, Job[] jobs)
        where TKey : IComparable<TKey>
    {
        var last = Volatile.Read(ref _last);
        if (PassShortcuts.Enabled && last is not null && last.IsFor(jobs) && StillAscending(keys, last.Order))
        {
            Permute(keys, jobs, last.Order);
            return last.Classes;
        }

        var input = (Job[])jobs.Clone();
        var order = new int[jobs.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        Array.Sort(keys, order);
        for (var i = 0; i < order.Length; i++)
        {
            jobs[i] = input[order[i]];
        }

        var kept = new Kept(input, order, new JobClasses((Job[])jobs.Clone()));
        Volatile.Write(ref _last, kept);
        return kept.Classes;
    }

    private static bool StillAscending<TKey>(TKey[] keys, int[] order)
        where TKey : IComparable<TKey>
    {
        for (var i = 1; i < order.Length; i++)
        {
            if (keys[order[i - 1]].CompareTo(keys[order[i]]) >= 0)
            {
                return false;
            }
        }

        return true;
    }

    private static void Permute<TKey>(TKey[] keys, Job[] jobs, int[] order)
    {
        var sortedKeys = new TKey[keys.Length];
        var sortedJobs = new Job[jobs.Length];
        for (var i = 0; i < order.Length; i++)
        {
            sortedKeys[i] = keys[order[i]];
            sortedJobs[i] = jobs[order[i]];
        }

        Array.Copy(sortedKeys, keys, keys.Length);
        Array.Copy(sortedJobs, jobs, jobs.Length);
    }

    /// <summary>The jobs as they came (in the snapshot's order), and the sorted order as positions into them.</summary>
    private sealed record Kept(Job[] Input, int[] Order, JobClasses Classes)
    {
        public bool IsFor(Job[] jobs)
        {
            if (jobs.Length != Input.Length)
            {
                return false;
            }

            for (var i = 0; i < jobs.Length; i++)
            {
                if (!ReferenceEquals(jobs[i], Input[i]))
                {
                    return false;
                }
            }

            return true;
        }
    }
}

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
    private readonly Dictionary<JobClass, int> _table = [];
    private readonly Lock _gate = new();

    public JobClasses(Job[] sorted)
    {
        _sorted = sorted;
        _facts = new JobFacts[sorted.Length];
        _known = new int[sorted.Length];
    }

    /// <summary>The facts of <paramref name="job"/>, found at sorted position <paramref name="index"/> (any other job is looked up).</summary>
    public JobFacts Of(int index, Job job, Func<Job, JobClass> classOf)
    {
        var here = (uint)index < (uint)_facts.Length && ReferenceEquals(_sorted[index], job);
        if (here && Volatile.Read(ref _known[index]) != 0)
        {
            return _facts[index];
        }

        var key = classOf(job);
        int id;
        lock (_gate)
        {
            if (!_table.TryGetValue(key, out id))
            {
                id = _table.Count;
                _table[key] = id;
            }
        }

        var facts = new JobFacts(id, job.Id, job.Spec.MaxRuntime);
        if (here)
        {
            _facts[index] = facts;
            Volatile.Write(ref _known[index], 1);
        }

        return facts;
    }
}
