using System.Globalization;
using System.Text;
using Stratum.Core.Jobs;

namespace Stratum.Execution.Slurm;

/// <summary>
/// The batch script for one attempt. sbatch runs it on the first node of the allocation; it starts one
/// srun task per replica and records srun's exit code. Each task runs a small wrapper that:
/// 1. takes its rank from SLURM_PROCID and enters the job's working directory (or its own default one);
/// 2. catches TERM, INT and HUP without acting on them, so that a signal to the whole step (scancel
///    --signal, the time-limit warning) reaches the program while the wrapper lives on to record its code;
/// 3. runs the program through env (the job's environment and STRATUM_*) and sh's exec, which never takes
///    a program for a shell builtin, with empty stdin;
/// 4. writes the program's exit code to the replica directory (temporary name, then rename): 128+N when
///    it died of signal N, 127 when it does not exist, 126 when the working directory cannot be entered.
/// Every value is single-quoted into the script, so arguments reach the program verbatim.
/// The per-replica logs come from srun's <c>--output</c>/<c>--error</c> patterns with <c>%t</c> (the task's rank).
/// </summary>
public static class SlurmBatchScript
{
    /// <summary>The name the wrapper's own error messages start with ("stratum-replica: 1: cd: can't cd to /x").</summary>
    public const string WrapperName = "stratum-replica";

    public static string Render(Job job, JobAttempt attempt, JobDirectories directories)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        ArgumentNullException.ThrowIfNull(directories);
        var spec = job.Spec;
        var attemptDirectory = directories.AttemptDirectory(job.Id, attempt.Number);
        var q = SlurmText.ShellQuote;

        var environment = new List<string>();
        environment.AddRange(spec.Environment.Select(kv => kv.Key + "=" + kv.Value));
        environment.Add(JobEnvironment.JobId + "=" + job.Id.ToString(CultureInfo.InvariantCulture));
        environment.Add(JobEnvironment.WorldSize + "=" + spec.Replicas.ToString(CultureInfo.InvariantCulture));
        environment.Add(JobEnvironment.Attempt + "=" + attempt.Number.ToString(CultureInfo.InvariantCulture));
        environment.Add(JobEnvironment.CheckpointDir + "=" + directories.CheckpointDirectory(job.Id));
        environment.Add("CUDA_DEVICE_ORDER=PCI_BUS_ID");

        // With GPUs, Slurm sets CUDA_VISIBLE_DEVICES for the task's own devices; without, an empty value
        // hides every GPU of the node (without cgroup device limits the program could see them all).
        var hideGpus = spec.Resources.Accelerators.Count == 0 ? $" {JobEnvironment.VisibleDevices}=" : "";

        var wrapper = new StringBuilder()
            .Append("a=$1; w=$2; j=$3; shift 3\n")
            .Append("r=${SLURM_PROCID:?not started by srun}; d=$a/replica-$r\n")
            .Append("if [ -z \"$w\" ]; then w=$j/work-$r; mkdir -p \"$w\"; fi\n")
            .Append("trap : TERM INT HUP\n")
            .Append("if cd \"$w\"; then\n")
            .Append("    /usr/bin/env ").Append(string.Join(' ', environment.Select(q)))
            .Append(" \"").Append(JobEnvironment.ReplicaRank).Append("=$r\"").Append(hideGpus)
            .Append(" /bin/sh -c 'exec \"$@\"' stratum-program \"$@\" </dev/null\n")
            .Append("    rc=$?\n")
            .Append("else\n")
            .Append("    rc=126\n")
            .Append("fi\n")
            .Append("printf '%s\\n' \"$rc\" >\"$d/exit-code.tmp\" && mv -f \"$d/exit-code.tmp\" \"$d/exit-code\"\n")
            .Append("exit \"$rc\"\n")
            .ToString();

        var pattern = SlurmText.EscapeFilenamePattern(attemptDirectory) + "/replica-%t/";
        var cpus = SbatchArguments.CpusPerTask(job).ToString(CultureInfo.InvariantCulture);
        var script = new StringBuilder()
            .Append("#!/bin/sh\n")
            .Append("# Stratum job ").Append(job.Id.ToString(CultureInfo.InvariantCulture))
            .Append(" attempt ").Append(attempt.Number.ToString(CultureInfo.InvariantCulture))
            .Append(", written by the Slurm executor (docs/execution.md). One srun task per replica.\n")
            .Append("a=").Append(q(attemptDirectory)).Append('\n')
            .Append("srun --ntasks=").Append(spec.Replicas.ToString(CultureInfo.InvariantCulture))
            .Append(" --cpus-per-task=").Append(cpus)
            .Append(" --kill-on-bad-exit=0 --input=none --open-mode=append")
            .Append(" --output=").Append(q(pattern + JobDirectories.LogFileName(LogStream.Stdout)))
            .Append(" --error=").Append(q(pattern + JobDirectories.LogFileName(LogStream.Stderr))).Append(" \\\n")
            .Append("    /bin/sh -c ").Append(q(wrapper)).Append(' ').Append(WrapperName)
            .Append(" \"$a\" ").Append(q(spec.WorkingDirectory ?? "")).Append(' ').Append(q(directories.JobDirectory(job.Id)))
            .Append(" \\\n    ").Append(string.Join(' ', spec.Command.Select(q))).Append('\n')
            .Append("rc=$?\n")
            .Append("printf '%s\\n' \"$rc\" >\"$a/").Append(SlurmFiles.BatchExitCode).Append(".tmp\" && mv -f \"$a/")
            .Append(SlurmFiles.BatchExitCode).Append(".tmp\" \"$a/").Append(SlurmFiles.BatchExitCode).Append("\"\n")
            .Append("exit \"$rc\"\n");
        return script.ToString();
    }
}
