using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

/// <summary>
/// The working state the queue-walking policies (fifo, sjf-oracle, las) share in one pass: free
/// capacity, quota usage per project, and the decisions so far. Pending reasons are recorded only when
/// the snapshot asks for them (<see cref="ClusterSnapshot.ExplainPending"/>).
/// </summary>
internal sealed class QueuePass
{
    private readonly Dictionary<string, Project> _projects;

    // Made when a project with a quota first uses something: most passes of a replay have none.
    private Dictionary<string, ResourceVector>? _usage;

    public QueuePass(ClusterSnapshot snapshot)
    {
        Snapshot = snapshot;
        Free = snapshot.Capacity is { } capacity && ReferenceEquals(capacity.Nodes, snapshot.Nodes)
            ? capacity.Copy()
            : FreeCapacity.Build(snapshot.Nodes, snapshot.Running);
        _projects = ProjectTable.For(snapshot.Projects);
        var anyQuota = false;
        foreach (var project in _projects.Values)
        {
            anyQuota |= !project.Quota.IsUnlimited;
        }

        // Usage matters only to projects with a quota. Adding resource vectors for every running job
        // of unlimited projects was most of a replay pass (measured: fifo over the Philly trace).
        foreach (var job in anyQuota ? snapshot.Running : [])
        {
            if (HasQuota(job.Spec.Project))
            {
                AddUsage(job.Spec);
            }
        }
    }

    public ClusterSnapshot Snapshot { get; }

    public FreeCapacity Free { get; }

    public Placer Placer => Placer.Default;

    public List<StartDecision> Starts { get; } = [];

    public List<PreemptDecision> Preemptions { get; } = [];

    public List<PendingDecision> Pending { get; } = [];

    public bool Explain => Snapshot.ExplainPending;

    /// <summary>Why the job's project stops it now (missing, or at quota), or null when it may start.</summary>
    public string? ProjectProblem(Job job, out bool projectMissing)
    {
        projectMissing = false;
        if (!_projects.TryGetValue(job.Spec.Project, out var project))
        {
            projectMissing = true;
            return PendingReasons.MissingProject(job.Spec.Project);
        }

        if (project.Quota.IsUnlimited)
        {
            return null;
        }

        var problems = project.Quota.Exceeded(_usage?.GetValueOrDefault(project.Name, ResourceVector.Zero) ?? ResourceVector.Zero, Request(job.Spec));
        return problems.Count > 0 ? PendingReasons.AtQuota(project.Name, problems) : null;
    }

    /// <summary>Places the whole gang in what is free and records the start; on failure returns why, leaving <see cref="Free"/> as it was.</summary>
    public bool TryStart(Job job, out GangResult result)
    {
        result = Placer.PlaceGang(Free, job.Spec, countRejections: Explain);
        if (result.Placement is not { } placement)
        {
            return false;
        }

        Starts.Add(new StartDecision(job.Id, placement));
        if (HasQuota(job.Spec.Project))
        {
            AddUsage(job.Spec);
        }

        return true;
    }

    public void Pend(Job job, string reason, int position, IReadOnlyDictionary<string, int>? rejections = null)
    {
        if (Explain)
        {
            Pending.Add(new PendingDecision(job.Id, reason, rejections ?? new Dictionary<string, int>(), position));
        }
    }

    public string NoRoom(Job job, GangResult result) => PendingReasons.NoRoom(job.Spec, result, Free);

    public SchedulingDecisions Decisions(DateTimeOffset? nextPassAt = null) =>
        new(Starts, Preemptions, Pending) { NextPassAt = nextPassAt };

    /// <summary>Queued jobs in submit order (submit time, then id), sorting only when the snapshot does not promise it.</summary>
    public static IReadOnlyList<Job> SubmitOrder(ClusterSnapshot snapshot) =>
        snapshot.QueuedInSubmitOrder ? snapshot.Queued : snapshot.Queued.OrderBy(j => j.SubmittedAt).ThenBy(j => j.Id).ToList();

    public static ResourceVector Request(JobSpec spec) => spec.Resources.Multiply(spec.Replicas);

    /// <summary>Accelerators of every type the whole gang holds.</summary>
    /// <remarks>The vector keeps its total: walking its sorted map here, for every job a pass looks at, showed in replays.</remarks>
    public static int Accelerators(JobSpec spec) => spec.Resources.AcceleratorCount * spec.Replicas;

    private bool HasQuota(string project) => _projects.TryGetValue(project, out var found) && !found.Quota.IsUnlimited;

    private void AddUsage(JobSpec spec)
    {
        _usage ??= new Dictionary<string, ResourceVector>(StringComparer.Ordinal);
        _usage[spec.Project] = _usage.GetValueOrDefault(spec.Project, ResourceVector.Zero).Add(Request(spec));
    }

    /// <summary>
    /// The projects of a snapshot by name (the first of a name wins), kept for the next pass on this thread
    /// while the same project records come in the same order: a replay hands in the same list on every pass,
    /// and building the table afresh was a twelfth of what a LAS replay allocated. It is only read.
    /// </summary>
    private static class ProjectTable
    {
        [ThreadStatic]
        private static (Project[] Source, Dictionary<string, Project> ByName)? _last;

        public static Dictionary<string, Project> For(IReadOnlyList<Project> projects)
        {
            if (_last is { } last && Same(last.Source, projects))
            {
                return last.ByName;
            }

            var source = new Project[projects.Count];
            var byName = new Dictionary<string, Project>(StringComparer.Ordinal);
            for (var i = 0; i < source.Length; i++)
            {
                source[i] = projects[i];
                byName.TryAdd(source[i].Name, source[i]);
            }

            _last = (source, byName);
            return byName;
        }

        // Project records never change, so the same objects in the same order make the same table.
        private static bool Same(Project[] source, IReadOnlyList<Project> projects) => PassMemory.SameObjects(source, projects);
    }
}
