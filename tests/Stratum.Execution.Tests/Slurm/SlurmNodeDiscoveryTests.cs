using Stratum.Core.Cluster;
using Stratum.Execution.Slurm;

namespace Stratum.Execution.Tests.Slurm;

public sealed class SlurmNodeDiscoveryTests
{
    // Recorded from the test cluster (Slurm 22.05.8, Debian bookworm): one idle node without GPUs.
    private const string TestCluster =
        "NodeName=vm Arch=x86_64 CoresPerSocket=1  CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=8.22 AvailableFeatures=(null) ActiveFeatures=(null) " +
        "Gres=(null) NodeAddr=127.0.0.1 NodeHostName=vm Version=22.05.8 OS=Linux 6.18.44-fc-v595 #1 SMP PREEMPT_DYNAMIC @0  RealMemory=23593 " +
        "AllocMem=0 FreeMem=21471 Sockets=2 Boards=1 State=IDLE ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=debug  " +
        "BootTime=2026-11-22T01:45:55 SlurmdStartTime=2026-11-22T04:22:21 LastBusyTime=2026-11-22T04:22:21 CfgTRES=cpu=2,mem=23593M,billing=2 " +
        "AllocTRES= CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s\n";

    // GPU nodes in the same format (fields as Slurm 22.05 prints them), one draining with a reason, one not responding.
    private const string GpuCluster =
        "NodeName=gpu01 Arch=x86_64 CoresPerSocket=32 CPUAlloc=8 CPUEfctv=62 CPUTot=64 CPULoad=3.10 AvailableFeatures=a100 ActiveFeatures=a100 " +
        "Gres=gpu:a100:4(S:0-1),mps:400 NodeAddr=10.0.0.11 NodeHostName=gpu01 Version=22.05.8 RealMemory=515000 AllocMem=65536 FreeMem=400000 " +
        "Sockets=2 Boards=1 MemSpecLimit=2048 State=MIXED+DRAIN ThreadsPerCore=1 TmpDisk=0 Weight=1 Partitions=gpu,all " +
        "CfgTRES=cpu=64,mem=515000M,billing=64,gres/gpu=4 Reason=maintenance window [root@2026-11-20T10:00:00]\n" +
        "NodeName=gpu02 Arch=x86_64 CoresPerSocket=32 CPUAlloc=0 CPUTot=64 Gres=gpu:2 RealMemory=256000 State=IDLE* Partitions=gpu " +
        "Reason=Not responding [slurm@2026-11-21T08:00:00]\n" +
        "NodeName=cpu01 Arch=x86_64 CPUTot=16 Gres=(null) RealMemory=64000 State=ALLOCATED Partitions=all\n";

    private static readonly DateTimeOffset Now = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Parse_RecordedTestCluster_OneReadyNode()
    {
        var node = Assert.Single(SlurmNodeDiscovery.Parse(TestCluster, "hpc", new SlurmOptions { Partition = "debug" }, Now));

        Assert.Equal("vm", node.Name);
        Assert.Equal("hpc", node.Pool);
        Assert.Equal(2000, node.Capacity.CpuMillis);
        Assert.Equal(23593L * 1024 * 1024, node.Capacity.MemoryBytes);
        Assert.Empty(node.Accelerators);
        Assert.Equal(NodeState.Ready, node.State);
        Assert.Equal(node.Capacity, node.Allocatable);
        Assert.Equal(Now, node.UpdatedAt);
    }

    [Fact]
    public void Parse_GpuPartition_OnlyItsNodesWithGresAndStates()
    {
        var options = new SlurmOptions { Partition = "gpu", GresTypes = new Dictionary<string, string> { ["nvidia-a100"] = "a100" } };

        var nodes = SlurmNodeDiscovery.Parse(GpuCluster, "gpus", options, Now);

        Assert.Equal(["gpu01", "gpu02"], nodes.Select(n => n.Name));
        var first = nodes[0];
        Assert.Equal(62_000, first.Capacity.CpuMillis);
        Assert.Equal((515000L - 2048) * 1024 * 1024, first.Capacity.MemoryBytes);
        Assert.Equal(4, first.Capacity.AcceleratorsOf("nvidia-a100"));
        Assert.Equal([0, 1, 2, 3], first.Accelerators.Select(a => a.Index));
        Assert.All(first.Accelerators, a => Assert.Equal("a100", a.Model));
        Assert.Equal(NodeState.Draining, first.State);
        Assert.Equal("MIXED+DRAIN: maintenance window [root@2026-11-20T10:00:00]", first.StateReason);
        Assert.Equal(2, nodes[1].Capacity.AcceleratorsOf("gpu"));
        Assert.Equal(NodeState.Down, nodes[1].State);
    }

    [Fact]
    public void Parse_NoPartition_EveryNode()
    {
        Assert.Equal(3, SlurmNodeDiscovery.Parse(GpuCluster, "all", new SlurmOptions(), Now).Count);
    }

    [Theory]
    [InlineData("IDLE", NodeState.Ready)]
    [InlineData("MIXED", NodeState.Ready)]
    [InlineData("ALLOCATED", NodeState.Ready)]
    [InlineData("COMPLETING", NodeState.Ready)]
    [InlineData("IDLE+DRAIN", NodeState.Draining)]
    [InlineData("DRAINING", NodeState.Draining)]
    [InlineData("DRAINED", NodeState.Draining)]
    [InlineData("DOWN", NodeState.Down)]
    [InlineData("DOWN+NOT_RESPONDING", NodeState.Down)]
    [InlineData("IDLE*", NodeState.Down)]
    [InlineData("UNKNOWN", NodeState.Down)]
    [InlineData("FUTURE", NodeState.Down)]
    public void ParseState_SlurmStates_MapToNodeState(string state, NodeState expected)
    {
        Assert.Equal(expected, SlurmNodeDiscovery.ParseState(state, null).State);
    }

    [Fact]
    public void ParseGres_MixedEntries_OnlyGpus()
    {
        var gres = SlurmNodeDiscovery.ParseGres("gpu:h100:8(S:0-1),gpu:l40s:2,mps:100,gpu:1", new SlurmOptions());

        Assert.Equal([("h100", "h100", 8), ("l40s", "l40s", 2), ("gpu", "gpu", 1)], gres);
    }

    [Fact]
    public async Task DiscoverAsync_ControllerDown_ThrowsUnavailable()
    {
        var commands = new FakeSlurmCommands((_, _) => new SlurmCommandResult(1, "", "scontrol: error: Unable to contact slurm controller (connect failure)\n"));

        await Assert.ThrowsAsync<SlurmUnavailableException>(() => new SlurmNodeDiscovery(commands, new SlurmOptions()).DiscoverAsync("hpc", Now));
    }
}
