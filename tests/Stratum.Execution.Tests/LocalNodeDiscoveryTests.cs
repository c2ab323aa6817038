using Stratum.Core;
using Stratum.Core.Cluster;

namespace Stratum.Execution.Tests;

public sealed class LocalNodeDiscoveryTests
{
    private const string CpuInfo4 = """
        processor	: 0
        vendor_id	: GenuineIntel
        model name	: Intel(R) Xeon(R) Platinum 8480+

        processor	: 1
        vendor_id	: GenuineIntel

        processor	: 2
        vendor_id	: GenuineIntel

        processor	: 3
        vendor_id	: GenuineIntel

        """;

    private const string MemInfo64Gi = """
        MemTotal:       67108864 kB
        MemFree:        12345678 kB
        MemAvailable:   40000000 kB
        """;

    [Fact]
    public void Inspect_FourCpusNoGpu_CapacityAndReserve()
    {
        var discovered = LocalNodeDiscovery.Inspect("box-1", "default", Sources(new()
        {
            ["/proc/cpuinfo"] = CpuInfo4,
            ["/proc/meminfo"] = MemInfo64Gi,
        }));

        var node = discovered.Node;
        Assert.Equal(4000, node.Capacity.CpuMillis);
        Assert.Equal(64L << 30, node.Capacity.MemoryBytes);
        Assert.Equal(3500, node.Allocatable.CpuMillis);
        Assert.Equal((64L << 30) - (1L << 30), node.Allocatable.MemoryBytes);
        Assert.Empty(node.Accelerators);
        Assert.Equal(0, node.Capacity.AcceleratorCount);
        Assert.Equal("box-1", node.Name);
        Assert.Equal("default", node.Pool);
        Assert.Equal("local", node.Site);
        Assert.Equal("default", node.Labels[NodeLabels.Pool]);
        Assert.Equal(NodeState.Ready, node.State);
        Assert.Empty(discovered.Notes);
    }

    [Theory]
    [InlineData(2000, 1500)]
    [InlineData(1500, 1000)]
    [InlineData(1000, 1000)]
    [InlineData(500, 500)]
    [InlineData(64000, 63500)]
    public void CpuReserve_SmallMachines_LeaveAtLeastOneCore(long capacity, long allocatable) =>
        Assert.Equal(allocatable, capacity - LocalNodeDiscovery.CpuReserveMillis(capacity));

    [Fact]
    public void Inspect_EightH100s_AcceleratorsInCapacityAndAllocatable()
    {
        var smi = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "nvidia-smi-8xh100.csv"));

        var node = LocalNodeDiscovery.Inspect("gpu-1", "h100", Sources(new()
        {
            ["/proc/cpuinfo"] = CpuInfo4,
            ["/proc/meminfo"] = MemInfo64Gi,
        }, smi)).Node;

        Assert.Equal(8, node.Accelerators.Count);
        Assert.Equal(8, node.Capacity.AcceleratorsOf("nvidia-h100"));
        Assert.Equal(8, node.Allocatable.AcceleratorsOf("nvidia-h100"));
    }

    [Fact]
    public void Inspect_MalformedSmiLines_NotedNotThrown()
    {
        var smi = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "nvidia-smi-malformed.csv"));

        var discovered = LocalNodeDiscovery.Inspect("gpu-2", "mixed", Sources(new() { ["/proc/cpuinfo"] = CpuInfo4, ["/proc/meminfo"] = MemInfo64Gi }, smi));

        Assert.Equal(1, discovered.Node.Capacity.AcceleratorsOf("nvidia-l40s"));
        Assert.Equal(1, discovered.Node.Capacity.AcceleratorsOf("nvidia-v100-32gb"));
        Assert.Equal(5, discovered.Notes.Count(n => n.StartsWith("nvidia-smi line", StringComparison.Ordinal)));
    }

    [Fact]
    public void Inspect_CgroupV2Limits_CapCapacity()
    {
        var node = LocalNodeDiscovery.Inspect("box-1", "default", Sources(new()
        {
            ["/proc/cpuinfo"] = CpuInfo4,
            ["/proc/meminfo"] = MemInfo64Gi,
            ["/proc/self/cgroup"] = "0::/system.slice/stratum.service\n",
            ["/sys/fs/cgroup/system.slice/stratum.service/cpu.max"] = "250000 100000\n",
            ["/sys/fs/cgroup/system.slice/stratum.service/memory.max"] = "8589934592\n",
        })).Node;

        Assert.Equal(2500, node.Capacity.CpuMillis);
        Assert.Equal(8L << 30, node.Capacity.MemoryBytes);
    }

    [Fact]
    public void Inspect_CgroupV1Unlimited_MachineFiguresKept()
    {
        var node = LocalNodeDiscovery.Inspect("box-1", "default", Sources(new()
        {
            ["/proc/cpuinfo"] = CpuInfo4,
            ["/proc/meminfo"] = MemInfo64Gi,
            ["/proc/self/cgroup"] = "4:memory:/x\n1:cpu:/\n0::/\n",
            ["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"] = "-1\n",
            ["/sys/fs/cgroup/cpu/cpu.cfs_period_us"] = "100000\n",
            ["/sys/fs/cgroup/memory/memory.limit_in_bytes"] = "9223372036854771712\n",
        })).Node;

        Assert.Equal(4000, node.Capacity.CpuMillis);
        Assert.Equal(64L << 30, node.Capacity.MemoryBytes);
    }

    [Fact]
    public void Inspect_AffinityNarrowerThanMachine_UsesAffinity()
    {
        var node = LocalNodeDiscovery.Inspect("box-1", "default", Sources(new() { ["/proc/cpuinfo"] = CpuInfo4, ["/proc/meminfo"] = MemInfo64Gi }) with { ProcessorCount = 2 }).Node;

        Assert.Equal(2000, node.Capacity.CpuMillis);
    }

    [Fact]
    public void Inspect_NoProcFiles_FallsBackAndSaysSo()
    {
        var discovered = LocalNodeDiscovery.Inspect("box-1", "default", Sources([]) with { ProcessorCount = 3 });

        Assert.Equal(3000, discovered.Node.Capacity.CpuMillis);
        Assert.True(discovered.Node.Capacity.MemoryBytes > 0);
        Assert.Contains(discovered.Notes, n => n.Contains("/proc/cpuinfo", StringComparison.Ordinal));
        Assert.Contains(discovered.Notes, n => n.Contains("/proc/meminfo", StringComparison.Ordinal));
    }

    [Fact]
    public void Inspect_InvalidNodeName_Throws() =>
        Assert.Throws<ArgumentException>(() => LocalNodeDiscovery.Inspect("Bad Name", "default", Sources([])));

    [Fact]
    public void Discover_ThisMachine_MatchesProcAndHasAtLeastOneAllocatableCore()
    {
        var node = LocalNodeDiscovery.Discover("this-machine", "default", runNvidiaSmi: () => null);

        var memTotal = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        Assert.True(node.Allocatable.CpuMillis >= Math.Min(1000, node.Capacity.CpuMillis));
        Assert.True(node.Capacity.CpuMillis <= Environment.ProcessorCount * 1000L);
        Assert.True(node.Capacity.MemoryBytes <= LocalNodeDiscovery.ParseMemTotal(memTotal));
        Assert.Empty(node.Accelerators);
    }

    [Fact]
    public void DefaultNodeName_ThisMachine_IsValidName() =>
        Assert.True(Names.IsValid(LocalNodeDiscovery.DefaultNodeName()));

    [Theory]
    [InlineData("max", "100000", null)]
    [InlineData("-1", "100000", null)]
    [InlineData("50000", "100000", 500L)]
    [InlineData("400000", "100000", 4000L)]
    [InlineData("garbage", "100000", null)]
    public void ParseCpuQuotaMillis_Variants(string quota, string period, long? expected) =>
        Assert.Equal(expected, LocalNodeDiscovery.ParseCpuQuotaMillis(quota, period));

    [Fact]
    public void ParseStat_CommandWithSpacesAndParens_FieldsCountedFromLastParen()
    {
        const string Stat = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000000 100 18446744073709551615";

        var stat = ProcFs.ParseStat(Stat);

        Assert.Equal(new ProcStat('S', 1, 4242, 987654), stat);
        Assert.Null(ProcFs.ParseStat("4242 (truncated) S 1"));
    }

    private static DiscoverySources Sources(Dictionary<string, string> files, string? smi = null) => new()
    {
        ReadFile = path => files.GetValueOrDefault(path),
        RunNvidiaSmi = () => smi,
        ProcessorCount = 64,
    };
}
