using Microsoft.Extensions.Logging;
using Stratum.Core.Jobs;

namespace Stratum.Execution.Slurm;

/// <summary>
/// Runs each attempt as one Slurm batch job with one task per replica. Stratum stays the admission layer
/// (quotas, fair share, priorities, preemption decisions); Slurm places the tasks on nodes. Like the local
/// executor it keeps nothing in memory: the Slurm job id and the exit codes are files in the attempt
/// directory (which must be on a filesystem the Slurm nodes share), and observation asks squeue (sacct for
/// jobs the controller has forgotten) and reads those files, so a restarted server picks up where it was.
/// </summary>
public sealed partial class SlurmExecutor : IExecutor, ISupportsLogFiles
{
    public const string ExecutorName = "slurm";

    /// <summary>Phrases in sbatch's stderr that mean the controller did not answer, not that it refused the job.</summary>
    private static readonly string[] TransientErrors =
    [
        "Unable to contact slurm controller",
        "Socket timed out",
        "Connection refused",
        "Communication connection failure",
        "Zero Bytes were transmitted",
        "temporarily unable",
        "Slurm backup controller in standby mode",
    ];

    private readonly JobDirectories _directories;
    private readonly ISlurmCommands _commands;
    private readonly SlurmOptions _options;
    private readonly ILogger<SlurmExecutor> _logger;

    public SlurmExecutor(JobDirectories directories, ISlurmCommands commands, SlurmOptions options, ILogger<SlurmExecutor> logger)
    {
        ArgumentNullException.ThrowIfNull(directories);
        ArgumentNullException.ThrowIfNull(commands);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        if (options.Validate() is { Count: > 0 } problems)
        {
            throw new ArgumentException("invalid Slurm options: " + string.Join("; ", problems), nameof(options));
        }

        _directories = directories;
        _commands = commands;
        _options = options;
        _logger = logger;
    }

    /// <summary>
    /// Never raised: the replicas run under slurmstepd, not as children of this process, so there is nothing
    /// to be told about; the controller's regular poll observes them.
    /// </summary>
    public event Action<long>? ReplicaEnded
    {
        add { }
        remove { }
    }

    public string Name => ExecutorName;

    public string LogPath(long jobId, int attempt, int rank, LogStream stream) => _directories.LogPath(jobId, attempt, rank, stream);

    /// <summary>
    /// Submits the attempt with sbatch. Idempotent: an attempt that has a Slurm job id or a refusal on
    /// record is not submitted again, and one whose sbatch ran but whose id never reached the disk (a crash
    /// in between) is found again by its job name.
    /// A refusal (no such partition, resources no node has) is recorded, and every replica then observes
    /// as Lost with Slurm's message as the detail: that is how the controller already reports a replica
    /// that could not run, so the message reaches the job's reason and the user without a new path.
    /// An unreachable controller throws <see cref="SlurmUnavailableException"/>: the attempt stays
    /// NotStarted and the controller launches it again on a later iteration.
    /// </summary>
    public async Task LaunchAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        var attemptDirectory = _directories.AttemptDirectory(job.Id, attempt.Number);
        if (ReadSlurmJobId(attemptDirectory) is not null || File.Exists(Path.Combine(attemptDirectory, SlurmFiles.Refused)))
        {
            LogAlreadyLaunched(job.Id, attempt.Number);
            return;
        }

        var name = SbatchArguments.JobName(_options, job.Id, attempt.Number);
        if (await FindByNameAsync(name, cancellationToken).ConfigureAwait(false) is { } found)
        {
            Directory.CreateDirectory(attemptDirectory);
            SlurmFiles.WriteDurably(Path.Combine(attemptDirectory, SlurmFiles.JobId), found + "\n");
            LogRecovered(job.Id, attempt.Number, found);
            return;
        }

        // Every directory the tasks write to exists before they start: srun opens the replica logs itself.
        Directory.CreateDirectory(_directories.CheckpointDirectory(job.Id));
        for (var rank = 0; rank < job.Spec.Replicas; rank++)
        {
            Directory.CreateDirectory(_directories.ReplicaDirectory(job.Id, attempt.Number, rank));
        }

        var script = Path.Combine(attemptDirectory, SlurmFiles.BatchScript);
        SlurmFiles.WriteDurably(script, SlurmBatchScript.Render(job, attempt, _directories));
        var arguments = SbatchArguments.For(job, attempt, _options, _directories).Append(script).ToList();
        var result = await _commands.RunAsync("sbatch", arguments, cancellationToken).ConfigureAwait(false);
        if (result.Succeeded && ParseSbatchId(result.Stdout) is { } id)
        {
            SlurmFiles.WriteDurably(Path.Combine(attemptDirectory, SlurmFiles.JobId), id + "\n");
            LogSubmitted(job.Id, attempt.Number, id);
            return;
        }

        if (result.TimedOut || TransientErrors.Any(e => result.Stderr.Contains(e, StringComparison.OrdinalIgnoreCase)))
        {
            throw new SlurmUnavailableException($"sbatch could not reach the Slurm controller: {result.Message}");
        }

        var message = result.Succeeded ? $"sbatch printed no job id: '{result.Stdout.Trim()}'" : result.Message;
        SlurmFiles.WriteDurably(Path.Combine(attemptDirectory, SlurmFiles.Refused), message + "\n");
        LogRefused(job.Id, attempt.Number, message);
    }

    /// <summary>
    /// Terminate sends SIGTERM to every step (<c>scancel --signal=TERM</c>), which reaches each replica's
    /// program; the batch shell is left alone (no <c>--full</c>) because it must outlive srun to record the
    /// codes, and the task wrappers record theirs. A job still pending has nothing to warn, so it is
    /// cancelled outright. Kill is a plain <c>scancel</c>: Slurm sends SIGKILL to everything after KillWait.
    /// </summary>
    public async Task SignalAsync(Job job, JobAttempt attempt, ReplicaSignal signal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        if (signal is not (ReplicaSignal.Terminate or ReplicaSignal.Kill))
        {
            throw new ArgumentOutOfRangeException(nameof(signal), signal, "unknown signal");
        }

        if (ReadSlurmJobId(_directories.AttemptDirectory(job.Id, attempt.Number)) is not { } id)
        {
            return;
        }

        var lookup = await LookupAsync(id, cancellationToken).ConfigureAwait(false);
        switch (lookup)
        {
            case SlurmLookup.Unreachable unreachable:
                throw new SlurmUnavailableException($"cannot signal Slurm job {id}: {unreachable.Message}");
            case SlurmLookup.Known { Job.State: var state } when SlurmJobStates.IsLive(state):
                var started = state is not ("PENDING" or "REQUEUE_HOLD" or "REQUEUED");
                string[] arguments = signal == ReplicaSignal.Terminate && started ? ["--signal=TERM", id] : [id];
                var result = await _commands.RunAsync("scancel", arguments, cancellationToken).ConfigureAwait(false);
                if (!result.Succeeded && !result.Stderr.Contains("already completing or completed", StringComparison.OrdinalIgnoreCase))
                {
                    throw new SlurmUnavailableException($"scancel {string.Join(' ', arguments)} failed: {result.Message}");
                }

                LogSignalled(job.Id, attempt.Number, signal, id, state);
                break;
        }
    }

    public async Task<AttemptObservation> ObserveAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        var attemptDirectory = _directories.AttemptDirectory(job.Id, attempt.Number);
        var ranks = attempt.Placement.Select(p => p.Rank).ToList();
        if (ProcFs.ReadText(Path.Combine(attemptDirectory, SlurmFiles.Refused)) is { } refusal)
        {
            return new AttemptObservation([.. ranks.Select(r => new ReplicaObservation(r, ReplicaStatus.Lost, null, "sbatch refused the job: " + refusal.Trim()))]);
        }

        if (ReadSlurmJobId(attemptDirectory) is not { } id)
        {
            return new AttemptObservation([.. ranks.Select(r => new ReplicaObservation(r, ReplicaStatus.NotStarted, null, "no Slurm job id on record: the attempt was never submitted"))]);
        }

        // When every replica has its code there is nothing to ask Slurm.
        var codes = ranks.ToDictionary(r => r, r => ReadCode(Path.Combine(_directories.ReplicaDirectory(job.Id, attempt.Number, r), SlurmFiles.ExitCode)));
        if (codes.Values.All(c => c is not null))
        {
            return new AttemptObservation([.. ranks.Select(r => new ReplicaObservation(r, ReplicaStatus.Exited, codes[r], null))]);
        }

        // Slurm first, files second: a task records its code before its step ends, so an ended job read
        // first cannot hide a code written in between.
        var lookup = await LookupAsync(id, cancellationToken).ConfigureAwait(false);
        if (lookup is SlurmLookup.Forgotten && _options.UseSacct)
        {
            var sacct = await _commands.RunAsync("sacct", ["-n", "-P", "-X", "-j", id, "-o", "JobID,State,ExitCode"], cancellationToken).ConfigureAwait(false);
            if (SlurmJobStates.ParseSacct(sacct, id) is { } finished)
            {
                lookup = new SlurmLookup.Known(finished);
            }
        }

        if (lookup is SlurmLookup.Unreachable unreachable)
        {
            LogControllerUnreachable(job.Id, attempt.Number, id, unreachable.Message);
        }

        var batch = ReadCode(Path.Combine(attemptDirectory, SlurmFiles.BatchExitCode));
        return new AttemptObservation([.. ranks.Select(r => SlurmJobStates.Observe(
            r,
            lookup,
            ReadCode(Path.Combine(_directories.ReplicaDirectory(job.Id, attempt.Number, r), SlurmFiles.ExitCode)),
            batch,
            id))]);
    }

    /// <summary>"12345" or "12345;cluster" from <c>sbatch --parsable</c>.</summary>
    internal static string? ParseSbatchId(string stdout)
    {
        var first = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        var id = first?.Split(';')[0];
        return id is { Length: > 0 } && id.All(char.IsAsciiDigit) ? id : null;
    }

    private static string? ReadSlurmJobId(string attemptDirectory) =>
        ProcFs.ReadText(Path.Combine(attemptDirectory, SlurmFiles.JobId))?.Trim() is { Length: > 0 } id && id.All(char.IsAsciiDigit) ? id : null;

    private static int? ReadCode(string path) => SlurmText.ParseInt(ProcFs.ReadText(path)?.Trim());

    private async Task<SlurmLookup> LookupAsync(string id, CancellationToken cancellationToken)
    {
        var result = await _commands.RunAsync("squeue", ["-h", "-t", "all", "-j", id, "-o", SlurmJobStates.SqueueFormat], cancellationToken).ConfigureAwait(false);
        return SlurmJobStates.ParseSqueue(result, id);
    }

    private async Task<string?> FindByNameAsync(string name, CancellationToken cancellationToken)
    {
        var result = await _commands.RunAsync("squeue", ["-h", "-t", "all", "--name=" + name, "-o", "%i"], cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new SlurmUnavailableException($"squeue could not reach the Slurm controller: {result.Message}");
        }

        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .FirstOrDefault(line => line.Length > 0 && line.All(char.IsAsciiDigit));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Submitted job {JobId} attempt {Attempt} as Slurm job {SlurmJobId}")]
    private partial void LogSubmitted(long jobId, int attempt, string slurmJobId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} was already submitted; not submitting it again")]
    private partial void LogAlreadyLaunched(long jobId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt} was submitted as Slurm job {SlurmJobId} before a crash; recorded it again")]
    private partial void LogRecovered(long jobId, int attempt, string slurmJobId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "sbatch refused job {JobId} attempt {Attempt}: {Message}")]
    private partial void LogRefused(long jobId, int attempt, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sent {Signal} to job {JobId} attempt {Attempt} (Slurm job {SlurmJobId}, {State})")]
    private partial void LogSignalled(long jobId, int attempt, ReplicaSignal signal, string slurmJobId, string state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Slurm controller unreachable while observing job {JobId} attempt {Attempt} (Slurm job {SlurmJobId}): {Message}")]
    private partial void LogControllerUnreachable(long jobId, int attempt, string slurmJobId, string message);
}
