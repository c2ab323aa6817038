using System.Globalization;
using Stratum.Core;
using Stratum.Core.Cluster;
using Stratum.Core.Resources;

namespace Stratum.Execution;

/// <summary>Where discovery reads the machine from. The defaults read this machine; tests pass recorded text.</summary>
public sealed record DiscoverySources
{
    public static DiscoverySources ThisMachine { get; } = new();

    /// <summary>A file's text, or null when it does not exist. Default: the real file system.</summary>
    public Func<string, string?> ReadFile { get; init; } = ProcFs.ReadText;

    /// <summary>nvidia-smi's inventory output, or null when there is none. Default: <see cref="NvidiaSmi.Run"/>.</summary>
    public Func<string?> RunNvidiaSmi { get; init; } = () => NvidiaSmi.Run();

    /// <summary>CPUs this process may run on (affinity mask). Default: <see cref="Environment.ProcessorCount"/>.</summary>
    public int ProcessorCount { get; init; } = Environment.ProcessorCount;
}

/// <summary>What discovery found, and what it noticed on the way (unreadable GPU lines, fallbacks taken).</summary>
public sealed record DiscoveredNode(Node Node, IReadOnlyList<string> Notes);

/// <summary>
/// Describes this machine as a <see cref="Node"/>: logical CPUs and memory from /proc, capped by the
/// cgroup limits the server runs under (v2 <c>cpu.max</c>/<c>memory.max</c>, or v1), and NVIDIA GPUs
/// from nvidia-smi when it is installed.
/// <para>
/// Allocatable is capacity less a reserve for the system and the server itself: CPU, half a core, but
/// never so much that less than one core is left (a 2-core machine offers 1.5, a 1-core machine 1);
/// memory, a tenth, at most 1 GiB. Accelerators are not reserved.
/// </para>
/// </summary>
public static class LocalNodeDiscovery
{
    public const string LocalSite = "local";

    private const long MaxCpuReserveMillis = 500;
    private const long MaxMemoryReserveBytes = 1L << 30;

    public static Node Discover(string nodeName, string pool, Func<string?>? runNvidiaSmi = null) =>
        Inspect(nodeName, pool, runNvidiaSmi is null ? DiscoverySources.ThisMachine : DiscoverySources.ThisMachine with { RunNvidiaSmi = runNvidiaSmi }).Node;

    public static DiscoveredNode Inspect(string nodeName, string pool, DiscoverySources? sources = null)
    {
        if (Names.Problem(nodeName) is { } nameProblem)
        {
            throw new ArgumentException($"node name {nameProblem}", nameof(nodeName));
        }

        if (Names.Problem(pool) is { } poolProblem)
        {
            throw new ArgumentException($"pool name {poolProblem}", nameof(pool));
        }

        sources ??= DiscoverySources.ThisMachine;
        var notes = new List<string>();
        var cpuMillis = DiscoverCpuMillis(sources, notes);
        var memoryBytes = DiscoverMemoryBytes(sources, notes);

        IReadOnlyList<AcceleratorDevice> accelerators = [];
        if (sources.RunNvidiaSmi() is { } smiOutput)
        {
            var inventory = NvidiaSmi.ParseInventory(smiOutput);
            accelerators = inventory.Devices;
            notes.AddRange(inventory.Skipped.Select(s => "nvidia-smi " + s));
        }

        var byType = accelerators.GroupBy(a => a.Type, StringComparer.Ordinal)
            .Select(g => new KeyValuePair<string, int>(g.Key, g.Count()))
            .ToList();
        var capacity = new ResourceVector(cpuMillis, memoryBytes, byType);
        var allocatable = new ResourceVector(cpuMillis - CpuReserveMillis(cpuMillis), memoryBytes - MemoryReserveBytes(memoryBytes), byType);
        var node = new Node
        {
            Name = nodeName,
            Pool = pool,
            Capacity = capacity,
            Allocatable = allocatable,
            Accelerators = accelerators,
            Labels = new Dictionary<string, string>
            {
                [NodeLabels.Pool] = pool,
                [NodeLabels.Site] = LocalSite,
            },
        };
        return new DiscoveredNode(node, notes);
    }

    /// <summary>This machine's host name made into a valid node name ("GPU-Box_01.lab" → "gpu-box_01.lab").</summary>
    public static string DefaultNodeName() => Names.FromText(Environment.MachineName, "local");

    internal static long CpuReserveMillis(long capacityMillis) => Math.Clamp(capacityMillis - 1000, 0, MaxCpuReserveMillis);

    internal static long MemoryReserveBytes(long capacityBytes) => Math.Min(MaxMemoryReserveBytes, capacityBytes / 10);

    /// <summary>The number of "processor" entries in /proc/cpuinfo: logical CPUs, hyper-threads included.</summary>
    internal static int ParseCpuInfo(string text) =>
        text.Split('\n').Count(line => line.StartsWith("processor", StringComparison.Ordinal) && line.Contains(':'));

    /// <summary>MemTotal from /proc/meminfo, in bytes ("MemTotal:       24684096 kB").</summary>
    internal static long? ParseMemTotal(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("MemTotal:", StringComparison.Ordinal))
            {
                continue;
            }

            var parts = line["MemTotal:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts.Length >= 1 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib)
                ? kib * 1024
                : null;
        }

        return null;
    }

    /// <summary>A CPU limit as "QUOTA PERIOD" (cgroup v2 cpu.max, or v1's two files joined) in millicores; null when unlimited.</summary>
    internal static long? ParseCpuQuotaMillis(string quota, string period)
    {
        if (!long.TryParse(quota.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var quotaMicros)
            || !long.TryParse(period.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var periodMicros)
            || quotaMicros <= 0 || periodMicros <= 0)
        {
            return null; // "max" (v2) or -1 (v1): no limit
        }

        return Math.Max(1, quotaMicros * 1000 / periodMicros);
    }

    private static long DiscoverCpuMillis(DiscoverySources sources, List<string> notes)
    {
        var logical = sources.ReadFile("/proc/cpuinfo") is { } cpuInfo ? ParseCpuInfo(cpuInfo) : 0;
        if (logical == 0)
        {
            notes.Add($"/proc/cpuinfo unreadable; using the runtime's processor count ({sources.ProcessorCount})");
            logical = sources.ProcessorCount;
        }

        // The affinity mask (taskset, cpuset) can leave fewer CPUs than the machine has.
        var millis = Math.Min(logical, Math.Max(1, sources.ProcessorCount)) * 1000L;
        if (CgroupCpuLimitMillis(sources) is { } limit && limit < millis)
        {
            notes.Add($"cpu limited by cgroup to {Quantity.FormatCpu(limit)} of {Quantity.FormatCpu(millis)}");
            millis = limit;
        }

        return millis;
    }

    private static long DiscoverMemoryBytes(DiscoverySources sources, List<string> notes)
    {
        var total = sources.ReadFile("/proc/meminfo") is { } memInfo ? ParseMemTotal(memInfo) : null;
        if (total is null)
        {
            // Without /proc (not Linux, or hidden), the runtime's view is the best there is.
            total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            notes.Add($"/proc/meminfo unreadable; using the runtime's memory figure ({Quantity.FormatMemory(total.Value)})");
        }

        if (CgroupMemoryLimitBytes(sources) is { } limit && limit < total)
        {
            notes.Add($"memory limited by cgroup to {Quantity.FormatMemory(limit)} of {Quantity.FormatMemory(total.Value)}");
            total = limit;
        }

        return total.Value;
    }

    private static long? CgroupCpuLimitMillis(DiscoverySources sources)
    {
        foreach (var directory in CgroupV2Directories(sources))
        {
            if (sources.ReadFile(Path.Combine(directory, "cpu.max")) is { } cpuMax)
            {
                var parts = cpuMax.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                return parts.Length == 2 ? ParseCpuQuotaMillis(parts[0], parts[1]) : null;
            }
        }

        return sources.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") is { } quota
            && sources.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_period_us") is { } period
                ? ParseCpuQuotaMillis(quota, period)
                : null;
    }

    private static long? CgroupMemoryLimitBytes(DiscoverySources sources)
    {
        var text = CgroupV2Directories(sources).Select(d => sources.ReadFile(Path.Combine(d, "memory.max"))).FirstOrDefault(t => t is not null)
            ?? sources.ReadFile("/sys/fs/cgroup/memory/memory.limit_in_bytes");

        // "max" (v2) means no limit; v1 says the same with a number near 2^63, which the caller ignores as above MemTotal.
        return text is not null && long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) && bytes > 0
            ? bytes
            : null;
    }

    /// <summary>The server's own cgroup v2 directory (from /proc/self/cgroup "0::/PATH"), then the mount root, which is the container's own cgroup inside a container.</summary>
    private static IEnumerable<string> CgroupV2Directories(DiscoverySources sources)
    {
        var own = sources.ReadFile("/proc/self/cgroup")?.Split('\n')
            .FirstOrDefault(line => line.StartsWith("0::", StringComparison.Ordinal))?["0::".Length..].Trim();
        if (!string.IsNullOrEmpty(own) && own != "/" && !own.Contains("..", StringComparison.Ordinal))
        {
            yield return "/sys/fs/cgroup" + own;
        }

        yield return "/sys/fs/cgroup";
    }
}
