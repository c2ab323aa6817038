using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

/// <summary>
/// One run of the priority policy over one snapshot. Holds the working state of the pass (free
/// capacity, quota usage, victims already chosen) so that each step reads as one method.
/// </summary>
internal sealed class SchedulingPass
{
    private readonly ClusterSnapshot _snapshot;
    private readonly Placer _placer;
    private readonly FreeCapacity _free;
    private readonly Dictionary<string, Project> _projects = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ResourceVector> _usage = new(StringComparer.Ordinal);

    // Running jobs that a queued job may preempt, in the order victims are taken: lowest priority
    // first, then the most recently started (least work lost), then the highest id.
    private readonly List<Job> _preemptible;

    // Running jobs already being stopped (cancel, timeout, or a preemption from an earlier pass), by id.
    private readonly List<Job> _stopping;

    // Jobs whose freed resources this pass promised to one queued job; no other job may count on them.
    private readonly HashSet<long> _spoken = [];

    private readonly List<StartDecision> _starts = [];
    private readonly List<PreemptDecision> _preemptions = [];
    private readonly List<PendingDecision> _pending = [];

    public SchedulingPass(ClusterSnapshot snapshot, Placer placer)
    {
        _snapshot = snapshot;
        _placer = placer;
        _free = FreeCapacity.Build(snapshot.Nodes, snapshot.Running);
        foreach (var project in snapshot.Projects)
        {
            _projects.TryAdd(project.Name, project);
        }

        foreach (var job in snapshot.Running)
        {
            AddUsage(job.Spec);
        }

        _preemptible = snapshot.Running
            .Where(j => j.Spec.Preemptible && j.Stop is null)
            .OrderBy(j => j.Spec.Priority)
            .ThenByDescending(j => j.CurrentAttempt?.StartedAt ?? DateTimeOffset.MinValue)
            .ThenByDescending(j => j.Id)
            .ToList();
        _stopping = snapshot.Running.Where(j => j.Stop is not null).OrderBy(j => j.Id).ToList();
    }

    /// <summary>Queue order: priority descending, then submit time, then id. A preempted job keeps its original submit time, so it keeps its place.</summary>
    public static IReadOnlyList<Job> QueueOrder(IEnumerable<Job> queued) =>
        queued.OrderByDescending(j => j.Spec.Priority).ThenBy(j => j.SubmittedAt).ThenBy(j => j.Id).ToList();

    /// <summary>
    /// Tries each queued job in queue order against what is left. A job that does not fit does not
    /// hold back the jobs behind it: smaller jobs may start past a large one, which can delay the large
    /// one for as long as small ones keep coming. Reservations and EASY backfill are the later fix.
    /// </summary>
    public SchedulingDecisions Run()
    {
        var queue = QueueOrder(_snapshot.Queued);
        for (var i = 0; i < queue.Count; i++)
        {
            var job = queue[i];
            var position = i + 1;

            // 1. The project must exist and have room in its quota; neither blocks other projects' jobs.
            if (!_projects.TryGetValue(job.Spec.Project, out var project))
            {
                Pend(job, PendingReasons.MissingProject(job.Spec.Project), position);
                continue;
            }

            var request = job.Spec.Resources.Multiply(job.Spec.Replicas);
            var problems = project.Quota.Exceeded(_usage.GetValueOrDefault(project.Name, ResourceVector.Zero), request);
            if (problems.Count > 0)
            {
                Pend(job, PendingReasons.AtQuota(project.Name, problems), position);
                continue;
            }

            // 2. Place the whole gang in what is free now.
            var result = _placer.PlaceGang(_free, job.Spec);
            if (result.Placement is { } placement)
            {
                _starts.Add(new StartDecision(job.Id, placement));
                AddUsage(job.Spec);
                continue;
            }

            // 3. No room: make room from lower-priority work, or wait for work already stopping.
            var reason = TryMakeRoom(job) ?? PendingReasons.NoRoom(job.Spec, result, _free);
            _pending.Add(new PendingDecision(job.Id, reason, result.Rejections, position));
        }

        return new SchedulingDecisions(_starts, _preemptions, _pending);
    }

    private void Pend(Job job, string reason, int position) =>
        _pending.Add(new PendingDecision(job.Id, reason, new Dictionary<string, int>(), position));

    private void AddUsage(JobSpec spec) =>
        _usage[spec.Project] = _usage.GetValueOrDefault(spec.Project, ResourceVector.Zero).Add(spec.Resources.Multiply(spec.Replicas));

    /// <summary>
    /// Finds running jobs whose end would let <paramref name="job"/> fit: first those already stopping
    /// (never stop more work than needed, and never again what an earlier pass stopped), then
    /// preemptible jobs of strictly lower priority. Emits the preemptions and returns the pending
    /// reason; null when even all of them together would not make room, in which case nobody is preempted.
    /// </summary>
    private string? TryMakeRoom(Job job)
    {
        var stopping = _stopping.Where(j => !_spoken.Contains(j.Id)).ToList();
        var candidates = _preemptible.Where(j => j.Spec.Priority < job.Spec.Priority && !_spoken.Contains(j.Id)).ToList();
        if (stopping.Count == 0 && candidates.Count == 0)
        {
            return null;
        }

        // 1. Victims: add them in order until the job fits, then spare, most valuable first, every
        //    victim the job can do without (a victim on a node the job cannot use, say). If the job
        //    does not fit with every candidate gone, nobody is preempted.
        // (Without jobs already stopping, the job is known not to fit: that is why we are here.)
        var victims = new List<Job>();
        if (stopping.Count == 0 || !Fits(job, stopping, victims))
        {
            var replica = new ReplicaRequest(job.Spec.Resources);
            var simulated = Without(stopping);
            var fits = false;
            foreach (var candidate in candidates)
            {
                simulated.Release(candidate);
                victims.Add(candidate);

                // Only the nodes this victim frees changed, and placement is deterministic, so the gang
                // can newly fit only if one of them now takes a replica: a few checks instead of a
                // whole placement per candidate.
                if (FreesRoomFor(simulated, candidate, replica) && _placer.Fits(simulated, job.Spec))
                {
                    fits = true;
                    break;
                }
            }

            if (!fits)
            {
                return null;
            }

            if (victims.Count > 1)
            {
                Spare(victims, v => Fits(job, stopping, v));
            }
        }

        // 2. Of the jobs already stopping, keep only those the job needs, so others may count on the rest.
        Spare(stopping, s => Fits(job, s, victims));

        // 3. Promise the room: nobody else in this pass may take what the job's future placement uses.
        var future = Without(stopping.Concat(victims));
        _placer.PlaceGang(future, job.Spec);
        _free.RestrictTo(future);
        foreach (var waitedFor in stopping.Concat(victims))
        {
            _spoken.Add(waitedFor.Id);
        }

        foreach (var victim in victims)
        {
            _preemptions.Add(new PreemptDecision(victim.Id, job.Id, $"preempted by job {job.Id} (priority {job.Spec.Priority})"));
        }

        var allPreempted = stopping.All(s => s.Stop!.Kind == StopKind.Preempt);
        return PendingReasons.WaitingForStops(stopping.Concat(victims).Select(j => j.Id), allPreempted);
    }

    private bool FreesRoomFor(FreeCapacity simulated, Job victim, ReplicaRequest replica) =>
        (victim.CurrentAttempt?.Placement ?? []).Any(p => simulated.Find(p.Node) is { } node && _placer.Accepts(node, replica));

    private bool Fits(Job job, IEnumerable<Job> gone, IEnumerable<Job> alsoGone) =>
        _placer.Fits(Without(gone.Concat(alsoGone)), job.Spec);

    /// <summary>A copy of the free capacity as if <paramref name="gone"/> had stopped.</summary>
    private FreeCapacity Without(IEnumerable<Job> gone)
    {
        var copy = _free.Clone();
        foreach (var job in gone)
        {
            copy.Release(job);
        }

        return copy;
    }

    /// <summary>Removes, from the last to the first, every job of <paramref name="jobs"/> that <paramref name="stillFits"/> says is not needed.</summary>
    private static void Spare(List<Job> jobs, Func<List<Job>, bool> stillFits)
    {
        for (var i = jobs.Count - 1; i >= 0; i--)
        {
            var without = jobs.Where((_, index) => index != i).ToList();
            if (stillFits(without))
            {
                jobs.RemoveAt(i);
            }
        }
    }
}
