namespace Stratum.Execution.Slurm;

/// <summary>
/// The files a Slurm attempt leaves in its attempt directory (shared with the Slurm nodes). With them
/// any server process observes the attempt the same way, and finished jobs need no accounting database.
/// </summary>
internal static class SlurmFiles
{
    /// <summary>The script handed to sbatch, kept for people debugging a job.</summary>
    public const string BatchScript = "batch.sh";

    /// <summary>The Slurm job id, written atomically and durably once sbatch accepted the job.</summary>
    public const string JobId = "slurm-job-id";

    /// <summary>Slurm's message when sbatch refused the job for good; its presence means "never ran".</summary>
    public const string Refused = "sbatch-refused";

    /// <summary>The batch shell's output: srun's and Slurm's own messages (time limit, cancellation).</summary>
    public const string BatchStdout = "batch-stdout.log";

    public const string BatchStderr = "batch-stderr.log";

    /// <summary>srun's exit code, recorded by the batch shell: a fallback when a task left no code of its own.</summary>
    public const string BatchExitCode = "batch-exit-code";

    /// <summary>In each replica directory: the program's exit code, recorded by the task wrapper (temporary name, then rename).</summary>
    public const string ExitCode = "exit-code";

    /// <summary>Writes a small file so that it is whole and on disk before the caller goes on.</summary>
    public static void WriteDurably(string path, string text)
    {
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(System.Text.Encoding.UTF8.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
