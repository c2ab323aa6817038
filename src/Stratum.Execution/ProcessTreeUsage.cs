using System.Globalization;

namespace Stratum.Execution;

/// <summary>
/// What a group of processes has used so far: CPU time is cumulative (a rate needs two readings), resident
/// memory is now. <see cref="Source"/> says where it came from ("cgroup" or "proc").
/// </summary>
public sealed record ProcessTreeReading(int Processes, double CpuSeconds, long ResidentBytes, double AgeSeconds, string Source);

/// <summary>
/// Reads the CPU time and resident memory of a local replica's processes. The executor starts each
/// program under setsid, so its pid is the id of a session that every descendant inherits (unless one
/// deliberately calls setsid again). When the program sits in a cgroup v2 of its own, the cgroup's
/// counters are used: they also count processes that left the session and children that already exited.
/// Otherwise /proc/PID/stat and statm of every process in the session are summed.
/// </summary>
public static class ProcessTreeUsage
{
    /// <summary>USER_HZ: the unit of the times in /proc/PID/stat. Linux fixes it at 100 on every architecture it exposes to user space.</summary>
    private const double TicksPerSecond = 100;

    private const string CgroupRoot = "/sys/fs/cgroup";

    /// <summary>The usage of the replica whose files are in <paramref name="replicaDirectory"/>; null when it does not run.</summary>
    public static ProcessTreeReading? ReadReplica(string replicaDirectory) =>
        ReplicaSession(replicaDirectory) is { } session ? ReadSession(session) : null;

    /// <summary>The session id of the replica's program while it still leads that session; null when it does not run.</summary>
    public static int? ReplicaSession(string replicaDirectory)
    {
        var text = ProcFs.ReadText(Path.Combine(replicaDirectory, ReplicaFiles.ProgramPid));
        if (text is null || !int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var session) || session <= 1)
        {
            return null;
        }

        // The program's pid may have been reused after it ended: only a process that still leads the
        // session the wrapper made counts.
        return ReadStatUsage(session) is { } leader && leader.Session == session ? session : null;
    }

    /// <summary>The processes of session <paramref name="sessionId"/> (see the class comment), or null when it has none.</summary>
    public static ProcessTreeReading? ReadSession(int sessionId) => ReadSessions([sessionId]).GetValueOrDefault(sessionId);

    /// <summary>
    /// Several sessions from one walk of /proc: a sampler with many jobs reads each process once per round,
    /// not once per job. Sessions with no live process are absent from the answer.
    /// </summary>
    public static Dictionary<int, ProcessTreeReading> ReadSessions(IReadOnlyCollection<int> sessionIds)
    {
        var wanted = sessionIds.ToHashSet();
        var readings = new Dictionary<int, ProcessTreeReading>();
        if (wanted.Count == 0)
        {
            return readings;
        }

        var mine = ParseCgroupV2Path(ProcFs.ReadText("/proc/self/cgroup") ?? "");
        var uptime = Uptime();
        var pageSize = Environment.SystemPageSize;
        foreach (var (sessionId, members) in SessionMembers(wanted))
        {
            var age = uptime is { } up ? Math.Max(0, up - members.Min(m => m.Usage.StartTicks) / TicksPerSecond) : 0;
            if (OwnCgroup(sessionId, members.Select(m => m.Pid).ToHashSet(), mine) is { } cgroup
                && ParseCpuStatUsageSeconds(ProcFs.ReadText(Path.Combine(cgroup, "cpu.stat")) ?? "") is { } cgroupCpu
                && long.TryParse(ProcFs.ReadText(Path.Combine(cgroup, "memory.current"))?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var cgroupMemory))
            {
                readings[sessionId] = new ProcessTreeReading(members.Count, cgroupCpu, cgroupMemory, age, "cgroup");
                continue;
            }

            double cpu = 0;
            long resident = 0;
            foreach (var (pid, usage) in members)
            {
                cpu += (usage.UserTicks + usage.SystemTicks) / TicksPerSecond;
                resident += (ParseStatmResidentPages(ProcFs.ReadText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/statm") ?? "") ?? 0) * pageSize;
            }

            readings[sessionId] = new ProcessTreeReading(members.Count, cpu, resident, age, "proc");
        }

        return readings;
    }

    /// <summary>
    /// Fields 6 (session), 14-17 (utime, stime, cutime, cstime) and 22 (starttime) of a /proc/PID/stat line.
    /// The children's times count because a child that exited and was reaped is no longer in /proc: without
    /// them a job made of short-lived workers would look idle.
    /// </summary>
    public static StatUsage? ParseStatUsage(string text)
    {
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 > text.Length)
        {
            return null;
        }

        // After the name, field 3 is at index 0: session (6) is at 3, utime (14) at 11, stime (15) at 12, starttime (22) at 19.
        var fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (fields.Length < 20
            || !int.TryParse(fields[3], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var session)
            || !ulong.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var user)
            || !ulong.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var system)
            || !ulong.TryParse(fields[13], NumberStyles.None, CultureInfo.InvariantCulture, out var childrenUser)
            || !ulong.TryParse(fields[14], NumberStyles.None, CultureInfo.InvariantCulture, out var childrenSystem)
            || !ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            return null;
        }

        return new StatUsage(fields[0].Length == 1 ? fields[0][0] : '?', session, user + childrenUser, system + childrenSystem, start);
    }

    /// <summary>The second field of /proc/PID/statm: resident pages.</summary>
    public static long? ParseStatmResidentPages(string text)
    {
        var fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return fields.Length >= 2 && long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pages) ? pages : null;
    }

    /// <summary>The <c>usage_usec</c> line of a cgroup v2 cpu.stat, in seconds.</summary>
    public static double? ParseCpuStatUsageSeconds(string cpuStat)
    {
        foreach (var line in cpuStat.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[0] == "usage_usec" && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var micros))
            {
                return micros / 1e6;
            }
        }

        return null;
    }

    /// <summary>The cgroup v2 path ("0::/PATH") in a /proc/PID/cgroup file; null on cgroup v1 or hybrid setups.</summary>
    public static string? ParseCgroupV2Path(string procCgroup) =>
        procCgroup.Split('\n').FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal)) is { } line ? line[3..].Trim() : null;

    private static StatUsage? ReadStatUsage(int pid) =>
        ProcFs.ReadText("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/stat") is { } text ? ParseStatUsage(text) : null;

    private static Dictionary<int, List<(int Pid, StatUsage Usage)>> SessionMembers(HashSet<int> sessions)
    {
        var members = new Dictionary<int, List<(int, StatUsage)>>();
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateDirectories("/proc");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return members;
        }

        foreach (var entry in entries)
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            // Zombies have released their memory and their CPU time moves to the parent when reaped.
            if (ReadStatUsage(pid) is { } usage && sessions.Contains(usage.Session) && usage.State is not ('Z' or 'X' or 'x'))
            {
                if (!members.TryGetValue(usage.Session, out var list))
                {
                    members[usage.Session] = list = [];
                }

                list.Add((pid, usage));
            }
        }

        return members;
    }

    /// <summary>
    /// The replica's cgroup directory when it has one to itself: a cgroup v2 different from this server's,
    /// whose every process belongs to the session. Sharing one (as under a plain `stratum up`) would
    /// count the neighbours' usage too, so /proc is summed instead.
    /// </summary>
    private static string? OwnCgroup(int sessionId, HashSet<int> members, string? mine)
    {
        var path = ParseCgroupV2Path(ProcFs.ReadText($"/proc/{sessionId.ToString(CultureInfo.InvariantCulture)}/cgroup") ?? "");
        if (path is null || path == "/" || path == mine)
        {
            return null;
        }

        var directory = CgroupRoot + path;
        var procs = ProcFs.ReadText(Path.Combine(directory, "cgroup.procs"));
        if (procs is null)
        {
            return null;
        }

        var pids = procs.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return pids.Length > 0 && pids.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && members.Contains(pid))
            ? directory
            : null;
    }

    private static double? Uptime()
    {
        var uptime = ProcFs.ReadText("/proc/uptime")?.Split(' ').FirstOrDefault();
        return double.TryParse(uptime, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ? seconds : null;
    }
}

/// <summary>The parts of /proc/PID/stat that usage needs; times in clock ticks, reaped children's included.</summary>
public readonly record struct StatUsage(char State, int Session, ulong UserTicks, ulong SystemTicks, ulong StartTicks);
