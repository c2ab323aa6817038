using Stratum.Core.Cluster;
using Stratum.Core.Jobs;

namespace Stratum.Scheduling;

/// <summary>
/// Everything the scheduler may look at, taken at one instant. The scheduler works out free
/// capacity itself from the placements of <see cref="Running"/>, so the snapshot cannot disagree with itself.
/// </summary>
public sealed record ClusterSnapshot
{
    public required DateTimeOffset Now { get; init; }

    public required IReadOnlyList<Node> Nodes { get; init; }

    public required IReadOnlyList<Project> Projects { get; init; }

    /// <summary>Jobs waiting for a place: state Pending or Preempted.</summary>
    public required IReadOnlyList<Job> Queued { get; init; }

    /// <summary>Jobs holding resources: state Running, including those being stopped.</summary>
    public required IReadOnlyList<Job> Running { get; init; }

    /// <summary>
    /// How long each job will run, by job id, known in advance. Only a simulator replaying a trace
    /// knows this; a live server leaves it null, and policies that need it (<c>sjf-oracle</c>) refuse to run.
    /// </summary>
    public IReadOnlyDictionary<long, TimeSpan>? KnownDurations { get; init; }

    /// <summary>
    /// Whether every queued job that does not start needs a <see cref="PendingDecision"/>. Default true.
    /// A simulator that only wants starts and preemptions sets false: explaining a queue of thousands of
    /// jobs on every one of hundreds of thousands of passes was most of a replay's time.
    /// </summary>
    public bool ExplainPending { get; init; } = true;

    /// <summary>
    /// The caller promises <see cref="Queued"/> is already in submit order (submit time, then id), so
    /// policies that walk it in that order need not sort it. Default false.
    /// </summary>
    public bool QueuedInSubmitOrder { get; init; }

    /// <summary>
    /// How long jobs without a <see cref="JobSpec.MaxRuntime"/> are expected to run, for backfill
    /// reservations and estimated start times. Filled by the caller: the server learns it from each
    /// project's finished jobs (for example their median run time). Null: such jobs have no known end.
    /// </summary>
    public RuntimeEstimates? RuntimeEstimates { get; init; }

    /// <summary>
    /// Each project's historical usage in gpu-seconds, decayed by the fair-share half-life up to
    /// <see cref="Now"/> (see <see cref="FairShareLedger"/>), filled by the caller. Null or missing: no history.
    /// </summary>
    public IReadOnlyDictionary<string, double>? DecayedUsage { get; init; }

    /// <summary>
    /// Free capacity the caller keeps in step with <see cref="Running"/> across passes (a simulator), so
    /// that queue-walking policies (fifo, sjf-oracle, las) need not rebuild it from every running job.
    /// Null (the default, the live server): policies build it from <see cref="Nodes"/> and <see cref="Running"/>.
    /// </summary>
    public Placement.RunningCapacity? Capacity { get; init; }
}

/// <summary>Expected run times handed to the scheduler: by job first, then by project.</summary>
public sealed record RuntimeEstimates
{
    public IReadOnlyDictionary<long, TimeSpan> ByJob { get; init; } = new Dictionary<long, TimeSpan>();

    public IReadOnlyDictionary<string, TimeSpan> ByProject { get; init; } = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);

    /// <summary>The job's max runtime, else its estimate by id, else by project; null when nothing is known.</summary>
    public static TimeSpan? For(Job job, RuntimeEstimates? estimates)
    {
        if (job.Spec.MaxRuntime is { } max)
        {
            return max;
        }

        if (estimates is null)
        {
            return null;
        }

        if (estimates.ByJob.TryGetValue(job.Id, out var byJob))
        {
            return byJob;
        }

        return estimates.ByProject.TryGetValue(job.Spec.Project, out var byProject) ? byProject : null;
    }
}

/// <summary>Start <see cref="JobId"/> with one placement per replica.</summary>
public sealed record StartDecision(long JobId, IReadOnlyList<ReplicaPlacement> Placement);

/// <summary>Stop <see cref="JobId"/> (SIGTERM, grace, requeue) so that <see cref="ForJobId"/> can start.</summary>
public sealed record PreemptDecision(long JobId, long ForJobId, string Reason);

/// <summary>
/// Why <see cref="JobId"/> waits: a sentence for people, the number of nodes rejected for each reason
/// ("insufficient nvidia-h100": 3), its 1-based position in queue order (1: nothing ahead of it), and
/// when the current plan expects it to start (null: unknown, e.g. no running job has a known end).
/// </summary>
public sealed record PendingDecision(long JobId, string Reason, IReadOnlyDictionary<string, int> NodeRejections, int QueuePosition,
    DateTimeOffset? EstimatedStart = null);

public sealed record SchedulingDecisions(
    IReadOnlyList<StartDecision> Starts,
    IReadOnlyList<PreemptDecision> Preemptions,
    IReadOnlyList<PendingDecision> Pending)
{
    public static SchedulingDecisions None { get; } = new([], [], []);

    /// <summary>
    /// When the policy wants to be asked again even if no job arrives or ends (a job's attained service
    /// crosses a queue threshold, a waiting job reaches its starvation limit); null when only events matter.
    /// A live server that runs passes on a timer may ignore it; a discrete-event simulator must not.
    /// </summary>
    public DateTimeOffset? NextPassAt { get; init; }
}

/// <summary>
/// A scheduling policy: a pure, deterministic function from a snapshot to decisions. No IO, no clock
/// (the snapshot carries <see cref="ClusterSnapshot.Now"/>), no randomness that the input does not seed.
/// </summary>
public interface ISchedulingPolicy
{
    /// <summary>The name users select it by in configuration.</summary>
    string Name { get; }

    SchedulingDecisions Schedule(ClusterSnapshot snapshot);
}
