using Stratum.Core.Cluster;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

public sealed class FeasibilityTests
{
    private static readonly Node[] Cluster =
    [
        Node("n1", cpus: 2, memoryGi: 8),
        Node("n2", cpus: 32, memoryGi: 256, gpus: 8),
        Node("n3", cpus: 16, memoryGi: 128, gpus: 4, gpuType: "amd-mi300x"),
    ];

    [Fact]
    public void WhyNeverFits_JobFitsAnEmptyCluster_ReturnsNull()
    {
        Assert.Null(Feasibility.WhyNeverFits(Spec(gpus: 8, cpus: 16, memoryGi: 128), Cluster, Project("vision")));
    }

    [Fact]
    public void WhyNeverFits_UnknownAcceleratorType_NamesTheTypesThereAre()
    {
        var why = Feasibility.WhyNeverFits(Spec(gpus: 1, gpuType: "nvidia-a100"), Cluster, Project("vision"));

        Assert.Equal("no node has nvidia-a100 accelerators; the cluster has amd-mi300x, nvidia-h100", why);
    }

    [Fact]
    public void WhyNeverFits_ClusterWithoutAccelerators_SaysSo()
    {
        var why = Feasibility.WhyNeverFits(Spec(gpus: 1), [Node("n1")], Project("vision"));

        Assert.Equal("no node has nvidia-h100 accelerators; the cluster has no accelerators", why);
    }

    [Theory]
    [InlineData(64, 1, 0, "needs cpu 64 per replica; the largest node, n2, has cpu 32 allocatable")]
    [InlineData(1, 512, 0, "needs memory 512Gi per replica; the largest node, n2, has memory 256Gi allocatable")]
    [InlineData(64, 512, 0, "needs cpu 64, memory 512Gi per replica; the largest node, n2, has cpu 32, memory 256Gi allocatable")]
    [InlineData(1, 1, 16, "needs nvidia-h100 16 per replica; the largest node, n2, has nvidia-h100 8 allocatable")]
    public void WhyNeverFits_ReplicaLargerThanAnyNode_NamesTheLargestNode(double cpus, long memoryGi, int gpus, string expected)
    {
        Assert.Equal(expected, Feasibility.WhyNeverFits(Spec(gpus: gpus, cpus: cpus, memoryGi: memoryGi), Cluster, Project("vision")));
    }

    [Fact]
    public void WhyNeverFits_SingleSmallNode_NamesIt()
    {
        var why = Feasibility.WhyNeverFits(Spec(cpus: 64), [Node("n1", cpus: 2)], null);

        Assert.Equal("needs cpu 64 per replica; the largest node, n1, has cpu 2 allocatable", why);
    }

    [Theory]
    [InlineData(2, null)]
    [InlineData(3, "needs 3 replicas of cpu 1, memory 1Gi, nvidia-h100 4; even on the whole cluster with nothing else running only 2 fit")]
    public void WhyNeverFits_Gang_MustFitTheWholeEmptyCluster(int replicas, string? expected)
    {
        Assert.Equal(expected, Feasibility.WhyNeverFits(Spec(gpus: 4, replicas: replicas), Cluster, Project("vision")));
    }

    [Theory]
    [InlineData(8, 1, null)]
    [InlineData(4, 2, null)]
    [InlineData(4, 3, "needs cpu 3, memory 3Gi, nvidia-h100 12 in all, more than project vision's quota allows even with nothing else running: gpu 0/8 (+12 requested)")]
    public void WhyNeverFits_RequestAboveQuota_QuotesTheQuota(int gpus, int replicas, string? expected)
    {
        var nodes = new[] { Node("n1", gpus: 8), Node("n2", gpus: 8) };
        var project = Project("vision", new Quota { Accelerators = 8 });

        Assert.Equal(expected, Feasibility.WhyNeverFits(Spec(gpus: gpus, replicas: replicas), nodes, project));
    }

    [Theory]
    [InlineData(NodeState.Down)]
    [InlineData(NodeState.Draining)]
    public void WhyNeverFits_OnlyNodeNotReady_StillCountsAsCapacity(NodeState state)
    {
        Assert.Null(Feasibility.WhyNeverFits(Spec(gpus: 4), [Node("n1", gpus: 4, state: state)], Project("vision")));
    }

    [Fact]
    public void WhyNeverFits_NoNodes_SaysSo()
    {
        Assert.Equal("no node is registered to run it on", Feasibility.WhyNeverFits(Spec(), [], Project("vision")));
    }
}
