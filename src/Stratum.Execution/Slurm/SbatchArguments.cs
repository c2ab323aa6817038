using System.Globalization;
using Stratum.Core.Jobs;

namespace Stratum.Execution.Slurm;

/// <summary>
/// The sbatch options for one attempt: a pure function of the job, the attempt and the pool's options,
/// so the resource mapping is tested without a cluster (the test cluster has no GPUs).
/// </summary>
public static class SbatchArguments
{
    private const long Mebibyte = 1024 * 1024;

    /// <summary>
    /// Everything but the script path, which goes last. Choices:
    /// <list type="bullet">
    /// <item>One Slurm task per replica, with <c>--cpus-per-task</c> rounded up to whole CPUs (Slurm allocates no fractions).</item>
    /// <item>Memory and GPUs per node (<c>--mem</c>, <c>--gres</c>) when each node holds exactly one replica
    /// (one replica, or <see cref="SlurmOptions.OneReplicaPerNode"/>), which is exact; otherwise Slurm may pack
    /// several tasks on a node, so per-task forms follow the replica (<c>--mem-per-cpu</c> rounded up,
    /// <c>--gpus-per-task</c>).</item>
    /// <item><c>--time</c> is the max runtime rounded up to whole minutes (Slurm's resolution). Stratum's controller
    /// counts from when it decided to start the job, Slurm from when the job really started, so Stratum's own
    /// stop comes first and Slurm's limit is the backstop. <c>--signal</c> warns the steps (not the batch
    /// shell, which must live to record exit codes) before that limit.</item>
    /// <item><c>--no-requeue</c>: a retry or a resume after preemption is a new Stratum attempt, a new Slurm job,
    /// with its own directory; Slurm requeueing the same attempt would mix two runs in one directory and
    /// bypass Stratum's admission (quotas, fair share, retry policy).</item>
    /// <item><c>--output</c>/<c>--error</c> of the batch shell (srun's and Slurm's own messages) into the
    /// attempt directory, appended; each replica's program writes into its replica directory (see <see cref="SlurmBatchScript"/>).</item>
    /// </list>
    /// </summary>
    public static IReadOnlyList<string> For(Job job, JobAttempt attempt, SlurmOptions options, JobDirectories directories)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(directories);
        var spec = job.Spec;
        var replicas = spec.Replicas;
        var attemptDirectory = directories.AttemptDirectory(job.Id, attempt.Number);
        var arguments = new List<string>
        {
            "--parsable",
            "--job-name=" + JobName(options, job.Id, attempt.Number),
        };
        if (options.Partition is { } partition)
        {
            arguments.Add("--partition=" + partition);
        }

        if (options.Account is { } account)
        {
            arguments.Add("--account=" + account);
        }

        var onePerNode = replicas == 1 || options.OneReplicaPerNode;
        arguments.Add("--nodes=" + Format(onePerNode ? replicas : 1) + (onePerNode ? "" : "-" + Format(replicas)));
        arguments.Add("--ntasks=" + Format(replicas));
        if (onePerNode)
        {
            arguments.Add("--ntasks-per-node=1");
        }

        var cpus = CpusPerTask(job);
        arguments.Add("--cpus-per-task=" + Format(cpus));
        if (spec.Resources.MemoryBytes > 0)
        {
            var memoryMb = CeilingDivide(spec.Resources.MemoryBytes, Mebibyte);
            arguments.Add(onePerNode
                ? "--mem=" + Format(memoryMb) + "M"
                : "--mem-per-cpu=" + Format(CeilingDivide(memoryMb, cpus)) + "M");
        }

        if (spec.Resources.Accelerators.Count > 0)
        {
            var gpus = spec.Resources.Accelerators.Select(kv => (Type: GresType(options, kv.Key), Count: kv.Value)).ToList();
            arguments.Add(onePerNode
                ? "--gres=" + string.Join(',', gpus.Select(g => g.Type is null ? $"gpu:{Format(g.Count)}" : $"gpu:{g.Type}:{Format(g.Count)}"))
                : "--gpus-per-task=" + string.Join(',', gpus.Select(g => g.Type is null ? Format(g.Count) : $"{g.Type}:{Format(g.Count)}")));
        }

        if (spec.MaxRuntime is { } limit)
        {
            var minutes = (long)Math.Ceiling(limit.TotalMinutes);
            arguments.Add("--time=" + Format(Math.Max(1, minutes)));
            if (options.WarnBeforeEnd > TimeSpan.Zero)
            {
                arguments.Add($"--signal={options.WarnSignal}@{Format((long)Math.Ceiling(options.WarnBeforeEnd.TotalSeconds))}");
            }
        }

        arguments.Add("--no-requeue");
        arguments.Add("--open-mode=append");
        arguments.Add("--output=" + SlurmText.EscapeFilenamePattern(Path.Combine(attemptDirectory, SlurmFiles.BatchStdout)));
        arguments.Add("--error=" + SlurmText.EscapeFilenamePattern(Path.Combine(attemptDirectory, SlurmFiles.BatchStderr)));
        arguments.Add("--chdir=" + attemptDirectory);
        return arguments;
    }

    /// <summary>"stratum-42-1": unique per attempt, so launch can find a job it submitted before a crash.</summary>
    public static string JobName(SlurmOptions options, long jobId, int attempt)
    {
        ArgumentNullException.ThrowIfNull(options);
        return $"{options.JobNamePrefix}-{Format(jobId)}-{Format(attempt)}";
    }

    internal static int CpusPerTask(Job job) => (int)Math.Max(1, CeilingDivide(job.Spec.Resources.CpuMillis, 1000));

    /// <summary>The GRES type for a Stratum accelerator type; null for the untyped "gpu:N".</summary>
    private static string? GresType(SlurmOptions options, string stratumType) =>
        stratumType == options.UntypedGpuType && !options.GresTypes.ContainsKey(stratumType) ? null : options.GresTypeOf(stratumType);

    private static long CeilingDivide(long value, long divisor) => (value + divisor - 1) / divisor;

    private static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);
}
