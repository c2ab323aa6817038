using System.Globalization;

namespace Stratum.Execution;

/// <summary>What <c>/proc/PID/stat</c> says about a process: enough to tell it apart from a later one with the same pid.</summary>
internal readonly record struct ProcStat(char State, int ParentPid, int ProcessGroup, ulong StartTime)
{
    /// <summary>Zombie or dead: the process has exited and only waits to be reaped.</summary>
    public bool HasExited => State is 'Z' or 'X' or 'x';
}

internal static class ProcFs
{
    private static readonly Lazy<string> CurrentBootId = new(() => ReadText("/proc/sys/kernel/random/boot_id")?.Trim() ?? "");

    /// <summary>Changes on every boot; a pid and start time recorded before a reboot mean nothing after it.</summary>
    public static string BootId => CurrentBootId.Value;

    public static ProcStat? ReadStat(int pid) =>
        ReadText("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/stat") is { } text ? ParseStat(text) : null;

    /// <summary>
    /// Parses one <c>/proc/PID/stat</c> line. The command name (field 2) is in parentheses and may itself
    /// contain spaces and parentheses, so the fields are counted from the last ')'.
    /// </summary>
    public static ProcStat? ParseStat(string text)
    {
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 > text.Length)
        {
            return null;
        }

        // After the name: field 3 (state) is at index 0, field 4 (ppid) at 1, field 5 (pgrp) at 2, field 22 (starttime) at 19.
        var fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (fields.Length < 20 || fields[0].Length != 1
            || !int.TryParse(fields[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parentPid)
            || !int.TryParse(fields[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var processGroup)
            || !ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var startTime))
        {
            return null;
        }

        return new ProcStat(fields[0][0], parentPid, processGroup, startTime);
    }

    /// <summary>The file's text, or null when it does not exist or cannot be read (a process that vanished, a missing cgroup file).</summary>
    public static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
