using System.Globalization;

namespace Stratum.Execution;

/// <summary>Cumulative CPU time from the first line of /proc/stat, in clock ticks.</summary>
public readonly record struct CpuTimes(ulong Busy, ulong Total);

/// <summary>Bytes received and sent by one network device since boot.</summary>
public sealed record NetworkCounters(string Device, long ReceivedBytes, long SentBytes);

/// <summary>One reading of this machine. A null field could not be read: unknown, never zero.</summary>
public sealed record NodeSample(CpuTimes? Cpu, long? MemoryTotalBytes, long? MemoryAvailableBytes, double? LoadAverage1m, IReadOnlyList<NetworkCounters> Network);

/// <summary>
/// Reads this machine's CPU, memory, load and network counters from /proc. The parsers take the files'
/// text so that they are tested on recorded output; <see cref="Read"/> is the only part that touches /proc.
/// </summary>
public static class NodeTelemetry
{
    /// <summary>The aggregate CPU times alone, for callers that need a fresh reading each time.</summary>
    public static CpuTimes? ReadCpu() => ProcFs.ReadText("/proc/stat") is { } stat ? ParseCpu(stat) : null;

    public static NodeSample Read()
    {
        var memory = ProcFs.ReadText("/proc/meminfo") is { } meminfo ? ParseMemory(meminfo) : null;
        return new(
            ReadCpu(),
            memory?.Total,
            memory?.Available,
            ProcFs.ReadText("/proc/loadavg") is { } load ? ParseLoad(load) : null,
            ProcFs.ReadText("/proc/net/dev") is { } net ? ParseNetwork(net) : []);
    }

    /// <summary>
    /// The aggregate "cpu" line: user nice system idle iowait irq softirq steal (guest time is already
    /// inside user and nice, so it is not added again). Idle and iowait are not busy.
    /// </summary>
    public static CpuTimes? ParseCpu(string procStat)
    {
        var line = procStat.Split('\n').FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        if (line is null)
        {
            return null;
        }

        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).ToArray();
        var values = new ulong[fields.Length];
        for (var i = 0; i < fields.Length; i++)
        {
            if (!ulong.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]))
            {
                return null;
            }
        }

        if (values.Length < 4)
        {
            return null;
        }

        var total = values.Aggregate(0UL, (sum, v) => sum + v);
        var idle = values[3] + (values.Length > 4 ? values[4] : 0);
        return new CpuTimes(total - idle, total);
    }

    /// <summary>Busy share of the CPU time that passed between two readings, 0..1; null when no time passed.</summary>
    public static double? CpuUtilization(CpuTimes previous, CpuTimes current)
    {
        if (current.Total <= previous.Total || current.Busy < previous.Busy)
        {
            return null;
        }

        return Math.Clamp((double)(current.Busy - previous.Busy) / (current.Total - previous.Total), 0, 1);
    }

    /// <summary>MemTotal and MemAvailable (kB in the file) in bytes.</summary>
    public static (long Total, long Available)? ParseMemory(string meminfo)
    {
        long? total = null;
        long? available = null;
        foreach (var line in meminfo.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kilobytes))
            {
                continue;
            }

            switch (parts[0])
            {
                case "MemTotal:":
                    total = kilobytes * 1024;
                    break;
                case "MemAvailable:":
                    available = kilobytes * 1024;
                    break;
            }
        }

        return total is { } t && available is { } a ? (t, a) : null;
    }

    public static double? ParseLoad(string loadavg) =>
        double.TryParse(loadavg.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(), NumberStyles.Float, CultureInfo.InvariantCulture, out var load)
            ? load
            : null;

    /// <summary>Every device but loopback from /proc/net/dev: "eth0: rxbytes rxpackets ... (8 receive fields) txbytes ...".</summary>
    public static IReadOnlyList<NetworkCounters> ParseNetwork(string netDev)
    {
        var devices = new List<NetworkCounters>();
        foreach (var line in netDev.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                continue;
            }

            var device = line[..colon].Trim();
            var fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (device == "lo" || fields.Length < 9
                || !long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var received)
                || !long.TryParse(fields[8], NumberStyles.None, CultureInfo.InvariantCulture, out var sent))
            {
                continue;
            }

            devices.Add(new NetworkCounters(device, received, sent));
        }

        return devices;
    }
}
