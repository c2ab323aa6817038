using System.Globalization;

namespace Stratum.Execution;

/// <summary>
/// Where a job's files live under the jobs root (the server uses <c>&lt;data&gt;/jobs</c>):
/// <code>
/// 42/attempt-1/replica-0/   stdout.log, stderr.log and the executor's records for that replica
/// 42/checkpoints/           shared by every attempt and replica, so a resumed attempt finds earlier checkpoints
/// 42/work-0/                the default working directory of rank 0, kept across attempts
/// </code>
/// </summary>
public sealed class JobDirectories
{
    public JobDirectories(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    public string JobDirectory(long jobId)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(jobId);
        return Path.Combine(Root, jobId.ToString(CultureInfo.InvariantCulture));
    }

    public string AttemptDirectory(long jobId, int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        return Path.Combine(JobDirectory(jobId), "attempt-" + attempt.ToString(CultureInfo.InvariantCulture));
    }

    public string ReplicaDirectory(long jobId, int attempt, int rank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        return Path.Combine(AttemptDirectory(jobId, attempt), "replica-" + rank.ToString(CultureInfo.InvariantCulture));
    }

    public string LogPath(long jobId, int attempt, int rank, LogStream stream) =>
        Path.Combine(ReplicaDirectory(jobId, attempt, rank), LogFileName(stream));

    public string CheckpointDirectory(long jobId) => Path.Combine(JobDirectory(jobId), "checkpoints");

    public string WorkingDirectory(long jobId, int rank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        return Path.Combine(JobDirectory(jobId), "work-" + rank.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The file name of a log inside a replica directory; the launch wrapper uses the same names.</summary>
    public static string LogFileName(LogStream stream) => stream switch
    {
        LogStream.Stdout => "stdout.log",
        LogStream.Stderr => "stderr.log",
        _ => throw new ArgumentOutOfRangeException(nameof(stream), stream, "unknown log stream"),
    };
}
