using Stratum.Core.Jobs;

namespace Stratum.Execution;

public enum ReplicaSignal
{
    /// <summary>SIGTERM to the replica's process group: please checkpoint and exit.</summary>
    Terminate,

    /// <summary>SIGKILL to the replica's process group, after the grace period.</summary>
    Kill,
}

public enum ReplicaStatus
{
    Running,

    /// <summary>Exited; <see cref="ReplicaObservation.ExitCode"/> holds the code (128+N when killed by signal N).</summary>
    Exited,

    /// <summary>Gone without a recorded exit (node lost, machine rebooted, record destroyed).</summary>
    Lost,

    /// <summary>
    /// No launch record at all: the attempt was decided and stored but never launched, as when the
    /// server stops between the two. Launch is idempotent, so the caller may launch it again.
    /// </summary>
    NotStarted,
}

public sealed record ReplicaObservation(int Rank, ReplicaStatus Status, int? ExitCode, string? Detail);

/// <summary>What an executor sees of one attempt right now.</summary>
public sealed record AttemptObservation(IReadOnlyList<ReplicaObservation> Replicas)
{
    public bool AllEnded => Replicas.All(r => r.Status is ReplicaStatus.Exited or ReplicaStatus.Lost);

    public bool AnyNotStarted => Replicas.Any(r => r.Status == ReplicaStatus.NotStarted);

    public bool AnyRunning => Replicas.Any(r => r.Status == ReplicaStatus.Running);
}

/// <summary>
/// Runs the replicas of a job attempt somewhere and reports on them. Executors keep no state that
/// matters in memory: <see cref="ObserveAsync"/> answers from the real world (process table, files,
/// the cluster engine), so the same call serves the normal loop and reconciliation after a restart.
/// </summary>
public interface IExecutor
{
    /// <summary>"local", "slurm", ...</summary>
    string Name { get; }

    /// <summary>Starts every replica of <paramref name="attempt"/>. A replica that cannot start shows as Exited or Lost in the next observation.</summary>
    Task LaunchAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken = default);

    /// <summary>Signals every replica of the attempt that still runs.</summary>
    Task SignalAsync(Job job, JobAttempt attempt, ReplicaSignal signal, CancellationToken cancellationToken = default);

    Task<AttemptObservation> ObserveAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken = default);

    /// <summary>Raised (on any thread) when a replica this process started ends, so the caller can observe at once instead of at its next poll.</summary>
    event Action<long>? ReplicaEnded;
}

public enum LogStream
{
    Stdout,
    Stderr,
}

/// <summary>An executor whose replicas' output can be read as files while they run.</summary>
public interface ISupportsLogFiles
{
    /// <summary>The log file's path; it may not exist yet.</summary>
    string LogPath(long jobId, int attempt, int rank, LogStream stream);
}
