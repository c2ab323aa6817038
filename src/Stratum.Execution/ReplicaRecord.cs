using System.Globalization;

namespace Stratum.Execution;

/// <summary>
/// The files a local replica leaves in its replica directory. Together they are the whole truth about it,
/// so any server process (the one that launched it or a later one) observes it the same way.
/// </summary>
internal static class ReplicaFiles
{
    /// <summary>"PID STARTTIME BOOTID" of the wrapper shell, which waits for the program and records its exit code. Written by the executor before launch returns.</summary>
    public const string Record = "replica.pid";

    /// <summary>The program's pid, which is also its process group: written by the wrapper just before the program starts.</summary>
    public const string ProgramPid = "program.pid";

    /// <summary>The exit code, written by the wrapper atomically (temporary name, then rename) after the program ends.</summary>
    public const string ExitCode = "exit-code";
}

/// <summary>Which process is a replica's wrapper, recorded so that a later process reusing the pid is not mistaken for it.</summary>
internal sealed record ReplicaRecord(int Pid, ulong StartTime, string BootId)
{
    public string Format() =>
        string.Create(CultureInfo.InvariantCulture, $"{Pid} {StartTime} {(BootId.Length == 0 ? "-" : BootId)}\n");

    public static ReplicaRecord? Parse(string text)
    {
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length != 3
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 1
            || !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var startTime))
        {
            return null;
        }

        return new ReplicaRecord(pid, startTime, parts[2] == "-" ? "" : parts[2]);
    }

    /// <summary>Whether the recorded process still runs: same boot, same pid, same start time, not a zombie.</summary>
    public Liveness Check()
    {
        if (BootId.Length > 0 && ProcFs.BootId.Length > 0 && BootId != ProcFs.BootId)
        {
            return Liveness.Rebooted;
        }

        if (ProcFs.ReadStat(Pid) is not { } stat || stat.HasExited)
        {
            return Liveness.Gone;
        }

        return stat.StartTime == StartTime ? Liveness.Alive : Liveness.PidReused;
    }

    /// <summary>Writes the record so that it is complete and on disk before the caller goes on: a crash leaves either no record or a whole one.</summary>
    public void WriteDurably(string path)
    {
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            var bytes = System.Text.Encoding.ASCII.GetBytes(Format());
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}

internal enum Liveness
{
    Alive,
    Gone,
    PidReused,
    Rebooted,
}
