using Stratum.Core.Jobs;

namespace Stratum.Scheduling;

/// <summary>
/// What the planning policy keeps between passes besides its lent scratch (where the queue's order is kept, see
/// <see cref="QueueOrderIndex"/>): the fair-share sums, the running jobs by expected end, the last pending
/// decisions. Safe for concurrent passes: what is kept is immutable and replaced whole.
/// </summary>
internal sealed class PassMemory
{
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
        if (PassShortcuts.Enabled && kept is not null && PassMemory.SameObjects(kept.Nodes, nodes))
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

        if (PassShortcuts.Enabled && kept is not null && capacity is null && kept.Capacity is null && PassMemory.SameObjects(kept.Running, running))
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
            && PassMemory.SameObjects(last.Running, running))
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
