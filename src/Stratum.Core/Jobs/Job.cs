namespace Stratum.Core.Jobs;

public enum JobState
{
    /// <summary>Waiting to be placed; <see cref="Job.Reason"/> says why it has not started.</summary>
    Pending,

    /// <summary>All replicas started (a stop may have been requested: see <see cref="Job.Stop"/>).</summary>
    Running,

    Succeeded,

    Failed,

    Cancelled,

    /// <summary>Stopped to make room for other work; queued to resume (from its checkpoint) when it fits again.</summary>
    Preempted,
}

public static class JobStates
{
    public static bool IsTerminal(this JobState state) => state is JobState.Succeeded or JobState.Failed or JobState.Cancelled;

    /// <summary>Waiting for the scheduler: pending, or preempted and waiting to resume.</summary>
    public static bool IsQueued(this JobState state) => state is JobState.Pending or JobState.Preempted;

    public static string ToWire(this JobState state) => state.ToString();
}

/// <summary>Why a running job is being stopped.</summary>
public enum StopKind
{
    Cancel,
    Preempt,
    Timeout,

    /// <summary>One replica of a gang failed; the others are stopped because the gang cannot go on without it.</summary>
    ReplicaFailed,
}

/// <summary>A stop in progress: the replicas got SIGTERM at <see cref="RequestedAt"/> and get SIGKILL after the grace period.</summary>
public sealed record StopRequest(StopKind Kind, DateTimeOffset RequestedAt, string By, string Reason);

/// <summary>Where one replica of an attempt runs: the node and the indices of the accelerators it was given.</summary>
public sealed record ReplicaPlacement(int Rank, string Node, IReadOnlyList<int> AcceleratorIndices);

/// <summary>One try at running a job: where it ran, when, and how it ended.</summary>
public sealed record JobAttempt
{
    public required int Number { get; init; }

    public required IReadOnlyList<ReplicaPlacement> Placement { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>The first non-zero replica exit code, or 0 when all succeeded; null while running or when lost.</summary>
    public int? ExitCode { get; init; }

    /// <summary>How the attempt ended, in words ("exited 0", "killed by SIGTERM after preemption", "lost: process gone after server restart").</summary>
    public string? Outcome { get; init; }

    /// <summary>Commits this attempt made in the artifact store: its checkpoint and, when the job succeeded, its outputs.</summary>
    public IReadOnlyList<StoreCommitRecord> StoreCommits { get; init; } = [];
}

/// <summary>
/// A submitted job and where it stands. Immutable: a change makes a new record with
/// <see cref="Version"/> one higher, stored with an optimistic check on the old version.
/// </summary>
public sealed record Job
{
    public required long Id { get; init; }

    public required JobSpec Spec { get; init; }

    /// <summary>The user who submitted it.</summary>
    public required string Owner { get; init; }

    public required JobState State { get; init; }

    /// <summary>Why it is in this state, in words a person understands.</summary>
    public string Reason { get; init; } = "";

    public required DateTimeOffset SubmittedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    public IReadOnlyList<JobAttempt> Attempts { get; init; } = [];

    public StopRequest? Stop { get; init; }

    public long Version { get; init; }

    public JobAttempt? CurrentAttempt => Attempts.Count == 0 ? null : Attempts[^1];

    /// <summary>Attempts that ended in failure or loss, which is what the retry policy counts.</summary>
    public int FailedAttempts { get; init; }
}
