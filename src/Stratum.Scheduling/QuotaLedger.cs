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

    // Never changed once built: shared by the passes that see the same project objects (ProjectTable).
    private readonly Dictionary<string, Project> _projects;
    private Dictionary<string, long[]>? _usage;
    private readonly Dictionary<string, List<Project>> _cohorts;
    private Dictionary<(string Project, string Type), int>? _typeUsage;
    // Made on first use (as are the usage tables): a ledger is made for every pass, and most passes of a replay ask
    // no project with a quota.
    private Dictionary<string, Headroom>? _rooms;
    private Dictionary<(string Project, long Cpu, long Memory, long Gpus), (string? Problem, bool WithinNominal)>? _problems;
    private long _problemsVersion = -1;

    /// <param name="snapshot">The projects and the running jobs whose usage counts.</param>
    /// <param name="memory">Where a policy keeps the last pass's usage: the same running job objects under the same projects use the same quota.</param>
    public QuotaLedger(ClusterSnapshot snapshot, Placement.CapacityIndex.LayoutCache? memory = null)
    {
        var table = memory is not null && PassShortcuts.Enabled ? memory.ProjectsFor(snapshot.Projects) : ProjectTable.Of(snapshot.Projects);
        _projects = table.ByName;
        _cohorts = table.Cohorts;

        if (memory is not null && PassShortcuts.Enabled && snapshot.Capacity is { } capacity)
        {
            Follow(snapshot, memory, capacity);
            return;
        }

        if (memory is not null && PassShortcuts.Enabled && memory.HeldUsage(snapshot.Projects, snapshot.Running) is { } held)
        {
            Load(held);
            return;
        }

        foreach (var job in snapshot.Running)
        {
            Add(job);
        }

        memory?.HoldUsage(Keep([.. snapshot.Projects], [.. snapshot.Running]));
    }

    /// <summary>
    /// Usage from the last pass's and the changes the caller's <paramref name="capacity"/> recorded since (a replay
    /// starts and stops a few jobs between passes; counting every running job again was a twentieth of its
    /// time), or counted afresh when what was kept is not for these projects and this capacity.
    /// </summary>
    private void Follow(ClusterSnapshot snapshot, Placement.CapacityIndex.LayoutCache memory, Placement.RunningCapacity capacity)
    {
        var kept = memory.TakeFollowedUsage();
        if (kept is not null && ReferenceEquals(kept.Capacity, capacity) && PassMemory.SameObjects(kept.Usage.Projects, snapshot.Projects)
            && capacity.TryChangesSince(kept.Position, out var changes) && kept.Count + Placement.RunningCapacity.Net(changes) == snapshot.Running.Count)
        {
            Load(kept.Usage);
            var counted = false;
            foreach (var (job, added) in changes)
            {
                counted |= Change(job, added ? 1 : -1);
            }

            // Starts and stops of projects without a quota count nothing (a replay's are all such): what was
            // kept still holds, under this version.
            memory.FollowUsage(new FollowedUsage(capacity, capacity.ChangeCount, snapshot.Running.Count,
                counted ? Keep(kept.Usage.Projects, []) : kept.Usage with { Version = Version }));
            return;
        }

        foreach (var job in snapshot.Running)
        {
            Add(job);
        }

        memory.FollowUsage(new FollowedUsage(capacity, capacity.ChangeCount, snapshot.Running.Count, Keep([.. snapshot.Projects], [])));
    }

    private void Load(QuotaUsage held)
    {
        foreach (var (project, used) in held.Usage)
        {
            (_usage ??= new(StringComparer.Ordinal))[project] = (long[])used.Clone();
        }

        foreach (var (key, used) in held.TypeUsage)
        {
            (_typeUsage ??= [])[key] = used;
        }

        Version = held.Version;
    }

    private QuotaUsage Keep(Project[] projects, Job[] running) =>
        new(projects, running, _usage?.ToDictionary(kv => kv.Key, kv => (long[])kv.Value.Clone(), StringComparer.Ordinal) ?? new(StringComparer.Ordinal),
            _typeUsage is null ? [] : new Dictionary<(string Project, string Type), int>(_typeUsage), Version);

    /// <summary>Changes with every <see cref="Add"/> and <see cref="Remove"/>, so callers can cache what depends on usage.</summary>
    public long Version { get; private set; }

    public bool Exists(string project) => _projects.ContainsKey(project);

    /// <summary>Whether the project exists and has no quota at all: nothing about it can stop or admit a job.</summary>
    public bool IsUnlimited(string project) => _projects.TryGetValue(project, out var found) && found.Quota.IsUnlimited;

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
        var request = Vector(spec);

        // Fast path, asked for every queued job on every pass: the room each dimension has left, worked out
        // once per project until usage changes. Only a job that does not fit is explained the slow way below.
        if (quota.AcceleratorsByType.Count == 0)
        {
            var room = Room(project);
            var fits = true;
            for (var d = 0; d < Dimensions; d++)
            {
                if (request[d] > room.Nominal[d])
                {
                    withinNominal = false;
                    fits &= request[d] <= room.Cohort[d];
                }
            }

            if (fits)
            {
                return null;
            }

            // Jobs that do not fit repeat: in a full cluster most of the queue is the same few shapes of the
            // same projects, and formatting the same sentence for each was a tenth of a pass.
            _problems ??= [];
            if (_problemsVersion != Version)
            {
                _problems.Clear();
                _problemsVersion = Version;
            }

            var key = (project.Name, request.Cpu, request.Memory, request.Gpus);
            if (_problems.TryGetValue(key, out var known))
            {
                withinNominal = known.WithinNominal;
                return known.Problem;
            }

            var problem = FullCheck(project, job, request, out withinNominal);
            _problems[key] = (problem, withinNominal);
            return problem;
        }

        return FullCheck(project, job, request, out withinNominal);
    }

    private string? FullCheck(Project project, Job job, Request3 request, out bool withinNominal)
    {
        withinNominal = true;
        var quota = project.Quota;
        var spec = job.Spec;

        var used = Usage(project.Name);
        List<string>? problems = null;

        // Enumerating an empty read-only dictionary still allocates an enumerator; this runs for every queued job.
        if (quota.AcceleratorsByType.Count > 0)
        {
            foreach (var (type, limit) in quota.AcceleratorsByType)
            {
                var have = _typeUsage?.GetValueOrDefault((project.Name, type)) ?? 0;
                var asked = spec.Resources.AcceleratorsOf(type) * spec.Replicas;
                if (have + asked > limit)
                {
                    (problems ??= []).Add($"{type} {have}/{limit} (+{asked} requested)");
                }
            }
        }

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

    /// <summary>
    /// The most a job may add in each dimension: within the nominal quota, and with borrowing from the cohort
    /// (the borrowing limit and the pool's idle capacity, as <see cref="Problem"/> checks them). Cached per
    /// project until <see cref="Version"/> changes.
    /// </summary>
    private Headroom Room(Project project)
    {
        _rooms ??= new(StringComparer.Ordinal);
        if (_rooms.TryGetValue(project.Name, out var cached) && cached.Version == Version)
        {
            return cached;
        }

        var quota = project.Quota;
        var used = Usage(project.Name);
        var nominalRoom = new long[Dimensions];
        var cohortRoom = new long[Dimensions];
        for (var d = 0; d < Dimensions; d++)
        {
            if (Limit(quota, d) is not { } nominal)
            {
                nominalRoom[d] = long.MaxValue;
                cohortRoom[d] = long.MaxValue;
                continue;
            }

            nominalRoom[d] = nominal - used[d];
            if (quota.Cohort is null)
            {
                cohortRoom[d] = long.MinValue;
                continue;
            }

            // Borrowing limit: used + request - nominal <= limit.
            var room = quota.BorrowingLimit is { } limits && Limit(limits, d) is { } limit ? nominal + limit - used[d] : long.MaxValue;

            // The pool: the others' use of it plus max(0, used + request - unlent) must stay within it.
            long pool = 0, others = 0, unlent = 0;
            foreach (var member in _cohorts[quota.Cohort])
            {
                if (Limit(member.Quota, d) is not { } memberNominal)
                {
                    continue;
                }

                var lendable = member.Quota.LendingLimit is { } lending && Limit(lending, d) is { } lend ? Math.Clamp(lend, 0, memberNominal) : memberNominal;
                pool += lendable;
                if (member.Name == project.Name)
                {
                    unlent = memberNominal - lendable;
                }
                else
                {
                    others += Math.Max(0, Usage(member.Name)[d] - (memberNominal - lendable));
                }
            }

            var poolRoom = pool - others < 0 ? long.MinValue : pool - others + unlent - used[d];
            cohortRoom[d] = Math.Min(room, poolRoom);
        }

        var headroom = new Headroom(Version, nominalRoom, cohortRoom);
        _rooms[project.Name] = headroom;
        return headroom;
    }

    private sealed record Headroom(long Version, long[] Nominal, long[] Cohort);

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

    /// <summary>Counts the job in or out; false when its project has no quota, whose usage is not counted.</summary>
    private bool Change(Job job, int sign)
    {
        Version++;
        // Usage matters only to projects with a quota; adding vectors for every running job of unlimited
        // projects was most of a replay pass (measured: fifo over the Philly trace).
        if (!_projects.TryGetValue(job.Spec.Project, out var project) || project.Quota.IsUnlimited)
        {
            return false;
        }

        var used = Usage(project.Name);
        var vector = Vector(job.Spec);
        for (var d = 0; d < Dimensions; d++)
        {
            used[d] += sign * vector[d];
        }

        // Enumerating an empty read-only dictionary still allocates an enumerator; this runs for every running job.
        if (project.Quota.AcceleratorsByType.Count == 0)
        {
            return true;
        }

        foreach (var type in project.Quota.AcceleratorsByType.Keys)
        {
            var key = (project.Name, type);
            _typeUsage ??= [];
            _typeUsage[key] = _typeUsage.GetValueOrDefault(key) + (sign * job.Spec.Resources.AcceleratorsOf(type) * job.Spec.Replicas);
        }

        return true;
    }

    private long[] Usage(string project)
    {
        _usage ??= new(StringComparer.Ordinal);
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

    /// <summary>A job's whole request in the three quota dimensions; a struct, since it is asked for every queued job on every pass.</summary>
    private static Request3 Vector(JobSpec spec) =>
        new(spec.Resources.CpuMillis * spec.Replicas, spec.Resources.MemoryBytes * spec.Replicas, (long)spec.Resources.AcceleratorCount * spec.Replicas);

    private readonly record struct Request3(long Cpu, long Memory, long Gpus)
    {
        public long this[int d] => d switch
        {
            0 => Cpu,
            1 => Memory,
            _ => Gpus,
        };
    }

    private static string Format(int d, long amount) => d switch
    {
        0 => Quantity.FormatCpu(amount),
        1 => Quantity.FormatMemory(amount),
        _ => amount.ToString(CultureInfo.InvariantCulture),
    };
}

/// <summary>
/// Projects by name and cohort members by cohort, built from a snapshot's projects and shared, never changed, by
/// every ledger over the very same project objects (a replay's 200,000 passes built them again each time).
/// </summary>
internal sealed class ProjectTable
{
    private ProjectTable(Project[] projects)
    {
        Projects = projects;
        foreach (var project in projects)
        {
            if (ByName.TryAdd(project.Name, project) && project.Quota.Cohort is { } cohort)
            {
                if (!Cohorts.TryGetValue(cohort, out var members))
                {
                    members = [];
                    Cohorts[cohort] = members;
                }

                members.Add(project);
            }
        }
    }

    public Project[] Projects { get; }

    public Dictionary<string, Project> ByName { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, List<Project>> Cohorts { get; } = new(StringComparer.Ordinal);

    public static ProjectTable Of(IReadOnlyList<Project> projects) => new([.. projects]);
}

/// <summary>Quota usage kept in step with a caller's <see cref="Placement.RunningCapacity"/>: read up to <see cref="Position"/> of its changes, for <see cref="Count"/> running jobs.</summary>
internal sealed record FollowedUsage(Placement.RunningCapacity Capacity, long Position, int Count, QuotaUsage Usage);

/// <summary>Quota usage counted from <see cref="Running"/> under <see cref="Projects"/>, kept between passes (see <see cref="QuotaLedger"/>).</summary>
internal sealed record QuotaUsage(Project[] Projects, Job[] Running, Dictionary<string, long[]> Usage, Dictionary<(string Project, string Type), int> TypeUsage, long Version);
