using System.Globalization;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Scheduling;

/// <summary>
/// Quota usage per project with Kueue-style cohorts. Within a cohort a project's cpu, memory and gpu
/// limits are its nominal quota; the part of its nominal it lends (<see cref="Quota.LendingLimit"/>,
/// default all) forms the cohort's pool. A project may go above its nominal while the pool has room
/// (every member's usage above its unlent part uses the pool), at most <see cref="Quota.BorrowingLimit"/>
/// above. Per-type accelerator limits, and every limit of a project without a cohort, are hard.
/// </summary>
internal sealed class QuotaLedger
{
    private const int Dimensions = 3;
    private static readonly string[] DimensionNames = ["cpu", "memory", "gpu"];

    private readonly Dictionary<string, Project> _projects = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long[]> _usage = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Project>> _cohorts = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Project, string Type), int> _typeUsage = [];

    public QuotaLedger(ClusterSnapshot snapshot)
    {
        foreach (var project in snapshot.Projects)
        {
            if (_projects.TryAdd(project.Name, project) && project.Quota.Cohort is { } cohort)
            {
                if (!_cohorts.TryGetValue(cohort, out var members))
                {
                    members = [];
                    _cohorts[cohort] = members;
                }

                members.Add(project);
            }
        }

        foreach (var job in snapshot.Running)
        {
            Add(job);
        }
    }

    /// <summary>Changes with every <see cref="Add"/> and <see cref="Remove"/>, so callers can cache what depends on usage.</summary>
    public long Version { get; private set; }

    public bool Exists(string project) => _projects.ContainsKey(project);

    /// <summary>Why the project's quota stops <paramref name="job"/> now, or null; <paramref name="withinNominal"/> says it would stay within its own nominal quota.</summary>
    public string? Problem(Job job, out bool withinNominal)
    {
        withinNominal = true;
        if (!_projects.TryGetValue(job.Spec.Project, out var project) || project.Quota.IsUnlimited)
        {
            return null;
        }

        var quota = project.Quota;
        var spec = job.Spec;
        var used = Usage(project.Name);
        List<string>? problems = null;

        // Enumerating an empty read-only dictionary still allocates an enumerator; this runs for every queued job.
        if (quota.AcceleratorsByType.Count > 0)
        {
            foreach (var (type, limit) in quota.AcceleratorsByType)
            {
                var have = _typeUsage.GetValueOrDefault((project.Name, type));
                var asked = spec.Resources.AcceleratorsOf(type) * spec.Replicas;
                if (have + asked > limit)
                {
                    (problems ??= []).Add($"{type} {have}/{limit} (+{asked} requested)");
                }
            }
        }

        var request = Vector(spec);
        for (var d = 0; d < Dimensions; d++)
        {
            if (Limit(quota, d) is not { } nominal || used[d] + request[d] <= nominal)
            {
                continue;
            }

            withinNominal = false;
            if (quota.Cohort is null)
            {
                (problems ??= []).Add($"{DimensionNames[d]} {Format(d, used[d])}/{Format(d, nominal)} (+{Format(d, request[d])} requested)");
                continue;
            }

            var borrow = used[d] + request[d] - nominal;
            if (quota.BorrowingLimit is { } limits && Limit(limits, d) is { } limit && borrow > limit)
            {
                (problems ??= []).Add($"{DimensionNames[d]} would borrow {Format(d, borrow)} above nominal {Format(d, nominal)}; borrowing limit {Format(d, limit)}");
                continue;
            }

            var (pool, poolUse) = Pool(quota.Cohort, d, project.Name, request[d]);
            if (poolUse > pool)
            {
                (problems ??= []).Add($"{DimensionNames[d]} {Format(d, used[d])}/{Format(d, nominal)} (+{Format(d, request[d])} requested) and cohort {quota.Cohort} has no idle {DimensionNames[d]} to lend");
            }
        }

        return problems is null ? null : PendingReasons.AtQuota(project.Name, problems);
    }

    /// <summary>Whether the project uses more than its nominal quota in some dimension, so its borrowed usage may be reclaimed.</summary>
    public bool IsBorrowing(string projectName)
    {
        if (!_projects.TryGetValue(projectName, out var project) || project.Quota.Cohort is null)
        {
            return false;
        }

        var used = Usage(projectName);
        for (var d = 0; d < Dimensions; d++)
        {
            if (Limit(project.Quota, d) is { } nominal && used[d] > nominal)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The other members of the project's cohort; none without a cohort.</summary>
    public IEnumerable<string> CohortMates(string projectName) =>
        _projects.TryGetValue(projectName, out var project) && project.Quota.Cohort is { } cohort
            ? _cohorts[cohort].Where(p => p.Name != projectName).Select(p => p.Name)
            : [];

    public void Add(Job job) => Change(job, +1);

    public void Remove(Job job) => Change(job, -1);

    private void Change(Job job, int sign)
    {
        Version++;
        // Usage matters only to projects with a quota; adding vectors for every running job of unlimited
        // projects was most of a replay pass (measured: fifo over the Philly trace).
        if (!_projects.TryGetValue(job.Spec.Project, out var project) || project.Quota.IsUnlimited)
        {
            return;
        }

        var used = Usage(project.Name);
        var vector = Vector(job.Spec);
        for (var d = 0; d < Dimensions; d++)
        {
            used[d] += sign * vector[d];
        }

        foreach (var type in project.Quota.AcceleratorsByType.Keys)
        {
            var key = (project.Name, type);
            _typeUsage[key] = _typeUsage.GetValueOrDefault(key) + (sign * job.Spec.Resources.AcceleratorsOf(type) * job.Spec.Replicas);
        }
    }

    private long[] Usage(string project)
    {
        if (!_usage.TryGetValue(project, out var used))
        {
            used = new long[Dimensions];
            _usage[project] = used;
        }

        return used;
    }

    /// <summary>The cohort's pool in one dimension, and what its members would use of it if <paramref name="asking"/> added <paramref name="extra"/>.</summary>
    private (long Pool, long Use) Pool(string cohort, int d, string asking, long extra)
    {
        long pool = 0;
        long use = 0;
        foreach (var member in _cohorts[cohort])
        {
            if (Limit(member.Quota, d) is not { } nominal)
            {
                continue;
            }

            var lendable = member.Quota.LendingLimit is { } lending && Limit(lending, d) is { } lend ? Math.Clamp(lend, 0, nominal) : nominal;
            pool += lendable;
            var used = Usage(member.Name)[d] + (member.Name == asking ? extra : 0);
            use += Math.Max(0, used - (nominal - lendable));
        }

        return (pool, use);
    }

    private static long? Limit(Quota quota, int d) => d switch
    {
        0 => quota.CpuMillis,
        1 => quota.MemoryBytes,
        _ => quota.Accelerators,
    };

    private static long[] Vector(JobSpec spec)
    {
        long gpus = 0;
        foreach (var (_, count) in spec.Resources.Accelerators)
        {
            gpus += count;
        }

        return [spec.Resources.CpuMillis * spec.Replicas, spec.Resources.MemoryBytes * spec.Replicas, gpus * spec.Replicas];
    }

    private static string Format(int d, long amount) => d switch
    {
        0 => Quantity.FormatCpu(amount),
        1 => Quantity.FormatMemory(amount),
        _ => amount.ToString(CultureInfo.InvariantCulture),
    };
}
