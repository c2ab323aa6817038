namespace Stratum.Execution.Slurm;

/// <summary>What Slurm says of one job: its state word ("RUNNING", "FAILED", ...), the reason, and the exit code when accounting knows it.</summary>
public sealed record SlurmJobInfo(string State, string Reason, int? ExitCode = null);

/// <summary>Slurm's answer about one job: known, forgotten (purged after MinJobAge, no accounting), or no answer at all.</summary>
public abstract record SlurmLookup
{
    private SlurmLookup()
    {
    }

    public sealed record Known(SlurmJobInfo Job) : SlurmLookup;

    public sealed record Forgotten : SlurmLookup;

    public sealed record Unreachable(string Message) : SlurmLookup;
}

/// <summary>Parsers for squeue and sacct output and the mapping of Slurm job states to replica states.</summary>
public static class SlurmJobStates
{
    /// <summary>The squeue format the executor asks for: job id, long state, reason.</summary>
    public const string SqueueFormat = "%i|%T|%r";

    /// <summary>The detail of a replica whose job the controller cannot be asked about.</summary>
    public const string Unreachable = "slurm controller unreachable";

    private static readonly HashSet<string> LiveStates = new(StringComparer.Ordinal)
    {
        "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT",
        "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT", "STOPPED", "UPDATE_DB", "POWER_UP_NODE",
    };

    public static bool IsLive(string state) => LiveStates.Contains(state);

    /// <summary>
    /// "squeue -h -t all -j ID -o '%i|%T|%r'": the line for <paramref name="jobId"/>. squeue answers an id
    /// it no longer knows with "Invalid job id specified" and exit code 1; anything else that fails
    /// (connection refused, timed out) means the controller did not answer.
    /// </summary>
    public static SlurmLookup ParseSqueue(SlurmCommandResult result, string jobId)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (!result.Succeeded)
        {
            return result.Stderr.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase) && !result.TimedOut
                ? new SlurmLookup.Forgotten()
                : new SlurmLookup.Unreachable(result.Message);
        }

        foreach (var line in result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split('|');
            if (fields.Length >= 2 && fields[0] == jobId)
            {
                return new SlurmLookup.Known(new SlurmJobInfo(fields[1].Trim(), fields.Length > 2 ? fields[2].Trim() : ""));
            }
        }

        return new SlurmLookup.Forgotten();
    }

    /// <summary>
    /// "sacct -n -P -X -j ID -o JobID,State,ExitCode": "42|CANCELLED by 0|0:15". The exit code is the
    /// program's code, or 128+N when the signal part is N. Null when accounting has nothing (disabled
    /// without slurmdbd: "Slurm accounting storage is disabled").
    /// </summary>
    public static SlurmJobInfo? ParseSacct(SlurmCommandResult result, string jobId)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (!result.Succeeded)
        {
            return null;
        }

        foreach (var line in result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split('|');
            if (fields.Length >= 3 && fields[0] == jobId)
            {
                var state = fields[1].Split(' ', 2)[0].TrimEnd('+');
                var codes = fields[2].Split(':');
                var code = SlurmText.ParseInt(codes[0]);
                var signal = codes.Length > 1 ? SlurmText.ParseInt(codes[1]) : null;
                int? exit = signal is > 0 ? 128 + signal : code;
                return new SlurmJobInfo(state, "", exit);
            }
        }

        return null;
    }

    /// <summary>
    /// One replica from what Slurm says of the job and what the attempt directory holds. The replica's own
    /// exit record wins: it is the program's code. Without one:
    /// <list type="bullet">
    /// <item>controller unreachable: Running, detail <see cref="Unreachable"/> (its last known state; never Lost, since the job most likely still runs);</item>
    /// <item>a live state (PENDING, CONFIGURING, RUNNING, COMPLETING, ...): Running, with the pending reason as detail;</item>
    /// <item>COMPLETED, FAILED: Exited with the code from accounting or srun's recorded code;</item>
    /// <item>CANCELLED, TIMEOUT, OUT_OF_MEMORY: Exited with that code, else 137, 143, 137 (killed, warned then killed at the limit, killed by the OOM killer);</item>
    /// <item>NODE_FAIL, BOOT_FAIL, PREEMPTED (by Slurm itself), DEADLINE and forgotten jobs: Lost with the reason, so the retry policy's retryWhenLost decides, as for a lost local process.</item>
    /// </list>
    /// </summary>
    public static ReplicaObservation Observe(int rank, SlurmLookup lookup, int? replicaExitCode, int? batchExitCode, string slurmJobId)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        if (replicaExitCode is { } code)
        {
            return new ReplicaObservation(rank, ReplicaStatus.Exited, code, null);
        }

        switch (lookup)
        {
            case SlurmLookup.Unreachable unreachable:
                return new ReplicaObservation(rank, ReplicaStatus.Running, null, $"{Unreachable}: {unreachable.Message}; state of Slurm job {slurmJobId} unknown");
            case SlurmLookup.Forgotten:
                return batchExitCode is { } batch and not 0
                    ? new ReplicaObservation(rank, ReplicaStatus.Exited, batch, $"Slurm job {slurmJobId} ended; the replica left no exit record (srun exited {batch})")
                    : new ReplicaObservation(rank, ReplicaStatus.Lost, null, $"Slurm job {slurmJobId} is no longer known to Slurm and the replica left no exit record");
        }

        var job = ((SlurmLookup.Known)lookup).Job;
        if (IsLive(job.State))
        {
            var detail = job.State == "RUNNING" ? null
                : job.Reason is { Length: > 0 } reason && reason != "None" ? $"{job.State} in Slurm: {reason}"
                : $"{job.State} in Slurm";
            return new ReplicaObservation(rank, ReplicaStatus.Running, null, detail);
        }

        var known = job.ExitCode ?? batchExitCode;
        var what = $"Slurm job {slurmJobId} {job.State}";
        return job.State switch
        {
            "COMPLETED" or "FAILED" when known is { } exit => new ReplicaObservation(rank, ReplicaStatus.Exited, exit, $"{what}; the replica left no exit record"),
            "CANCELLED" => new ReplicaObservation(rank, ReplicaStatus.Exited, known is null or 0 ? 128 + 9 : known, $"{what} (scancel)"),
            "TIMEOUT" => new ReplicaObservation(rank, ReplicaStatus.Exited, known is null or 0 ? 128 + 15 : known, $"{what}: reached its Slurm time limit"),
            "OUT_OF_MEMORY" => new ReplicaObservation(rank, ReplicaStatus.Exited, known is null or 0 ? 128 + 9 : known, $"{what}: out of memory"),
            _ => new ReplicaObservation(rank, ReplicaStatus.Lost, null, job.Reason is { Length: > 0 } r && r != "None" ? $"{what} ({r})" : what),
        };
    }
}
