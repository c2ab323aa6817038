using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

public sealed class PriorityPolicyTests
{
    [Theory]
    // Room for one 4-GPU job; (priority, submit second) of jobs 1 and 2; the job that should start.
    [InlineData(0, 1, 0, 2, 1)]
    [InlineData(0, 1, 5, 2, 2)]
    [InlineData(5, 9, 0, 2, 1)]
    [InlineData(-3, 1, -2, 2, 2)]
    [InlineData(0, 7, 0, 3, 2)]
    [InlineData(7, 5, 7, 5, 1)]
    public void Schedule_OneSlot_StartsByPriorityThenSubmitTimeThenId(int priority1, int second1, int priority2, int second2, long expected)
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4)],
            [Job(1, gpus: 4, priority: priority1, submittedSecond: second1), Job(2, gpus: 4, priority: priority2, submittedSecond: second2)]);

        var decisions = Schedule(snapshot);

        Assert.Equal([expected], decisions.Starts.Select(s => s.JobId));
        var pending = Assert.Single(decisions.Pending);
        Assert.Equal(3 - expected, pending.JobId);
        Assert.Equal(2, pending.QueuePosition);
    }

    [Fact]
    public void Schedule_PreemptedJob_KeepsItsPlaceByOriginalSubmitTime()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4)],
            [Job(2, gpus: 4, submittedSecond: 20), Job(1, gpus: 4, submittedSecond: 10, state: JobState.Preempted)]);

        var decisions = Schedule(snapshot);

        Assert.Equal(1, Assert.Single(decisions.Starts).JobId);
    }

    [Fact]
    public void Schedule_LargeJobDoesNotFit_SmallerJobBehindItStillStarts()
    {
        var snapshot = Snapshot([Node("n1", gpus: 4)], [Job(1, gpus: 8, priority: 10), Job(2, gpus: 2)]);

        var decisions = Schedule(snapshot);

        Assert.Equal(2, Assert.Single(decisions.Starts).JobId);
        var pending = Assert.Single(decisions.Pending);
        Assert.Equal((1L, 1), (pending.JobId, pending.QueuePosition));
    }

    [Fact]
    public void Schedule_ProjectAtQuota_BlocksOnlyThatProject()
    {
        var projects = new[] { Project("vision", new Quota { Accelerators = 8 }), Project("speech") };
        var snapshot = Snapshot(
            [Node("n1", gpus: 8), Node("n2", gpus: 8)],
            [Job(1, gpus: 4, project: "vision", priority: 5), Job(2, gpus: 4, project: "speech")],
            [Running(9, [On("n1", 0, 1, 2, 3, 4, 5, 6, 7)], gpus: 8, project: "vision")],
            projects);

        var decisions = Schedule(snapshot);

        Assert.Equal(2, Assert.Single(decisions.Starts).JobId);
        var pending = Assert.Single(decisions.Pending);
        Assert.Equal(1, pending.JobId);
        Assert.Equal("project vision is at its quota: gpu 8/8 (+4 requested)", pending.Reason);
        Assert.Empty(pending.NodeRejections);
        Assert.Empty(decisions.Preemptions);
    }

    [Theory]
    // Job 1 asks for cpu firstCpus and memory 2Gi; job 2 for cpu 2 and memory 2Gi; the quota is cpuQuota cores and 3Gi.
    [InlineData(3, 4, true, "project vision is at its quota: cpu 3/4 (+2 requested); memory 2Gi/3Gi (+2Gi requested)")]
    [InlineData(2, 1, false, "project vision is at its quota: cpu 0/1 (+2 requested)")]
    public void Schedule_QuotaCountsJobsStartedEarlierInThePass_ReasonListsEveryBrokenLimit(
        int firstCpus, int cpuQuota, bool firstStarts, string expectedReason)
    {
        var quota = new Quota { CpuMillis = cpuQuota * 1000L, MemoryBytes = 3 * Gi };
        var snapshot = Snapshot(
            [Node("n1")],
            [Job(1, cpus: firstCpus, memoryGi: 2), Job(2, cpus: 2, memoryGi: 2)],
            projects: [Project("vision", quota)]);

        var decisions = Schedule(snapshot);

        Assert.Equal(firstStarts ? [1L] : [], decisions.Starts.Select(s => s.JobId));
        Assert.Equal(expectedReason, decisions.Pending.Single(p => p.JobId == 2).Reason);
    }

    [Fact]
    public void Schedule_ProjectMissing_StaysPendingSayingSo()
    {
        var snapshot = Snapshot([Node("n1")], [Job(1, project: "ghost"), Job(2)], projects: [Project("vision")]);

        var decisions = Schedule(snapshot);

        Assert.Equal(2, Assert.Single(decisions.Starts).JobId);
        Assert.Equal("project ghost does not exist", Assert.Single(decisions.Pending).Reason);
    }

    [Theory]
    // GPUs free per node; replicas of 4 GPUs each; whether the gang starts.
    [InlineData(new[] { 4, 4 }, 3, false)]
    [InlineData(new[] { 4, 4, 4 }, 3, true)]
    [InlineData(new[] { 8 }, 2, true)]
    [InlineData(new[] { 8, 2 }, 3, false)]
    public void Schedule_Gang_StartsAllReplicasOrNone(int[] gpusPerNode, int replicas, bool starts)
    {
        var nodes = gpusPerNode.Select((g, i) => Node($"n{i + 1}", gpus: g)).ToList();
        var snapshot = Snapshot(nodes, [Job(1, gpus: 4, replicas: replicas)]);

        var decisions = Schedule(snapshot);

        if (starts)
        {
            var start = Assert.Single(decisions.Starts);
            Assert.Equal(Enumerable.Range(0, replicas), start.Placement.Select(p => p.Rank));
            Assert.All(start.Placement, p => Assert.Equal(4, p.AcceleratorIndices.Count));
            var perNode = start.Placement.GroupBy(p => p.Node).ToList();
            Assert.All(perNode, g => Assert.Equal(g.Count() * 4, g.SelectMany(p => p.AcceleratorIndices).Distinct().Count()));
            Assert.Empty(decisions.Pending);
        }
        else
        {
            Assert.Empty(decisions.Starts);
            var fitting = gpusPerNode.Sum(g => g / 4);
            Assert.Equal(
                $"needs {replicas} replicas of cpu 1, memory 1Gi, nvidia-h100 4; only {fitting} fit now",
                Assert.Single(decisions.Pending).Reason);
        }
    }

    [Fact]
    public void Schedule_GangDoesNotFit_LeavesRoomForTheNextJob()
    {
        var snapshot = Snapshot([Node("n1", gpus: 4), Node("n2", gpus: 4)], [Job(1, gpus: 4, replicas: 3), Job(2, gpus: 4, replicas: 2)]);

        var decisions = Schedule(snapshot);

        var start = Assert.Single(decisions.Starts);
        Assert.Equal(2, start.JobId);
        Assert.Equal(["n1", "n2"], start.Placement.Select(p => p.Node).Order());
    }

    [Fact]
    public void Schedule_TwoGpuJob_PicksTheHalfUsedFourGpuNodeAndKeepsTheEightGpuNodeWhole()
    {
        var snapshot = Snapshot(
            // The small node has more free CPU, so only the accelerator best fit can pick it.
            [Node("big", cpus: 16, gpus: 8), Node("small", cpus: 64, gpus: 4)],
            [Job(1, gpus: 2)],
            [Running(9, [On("small", 0, 2)], gpus: 2)]);

        var start = Assert.Single(Schedule(snapshot).Starts);

        var replica = Assert.Single(start.Placement);
        Assert.Equal("small", replica.Node);
        Assert.Equal([1, 3], replica.AcceleratorIndices);
    }

    [Theory]
    [InlineData(new int[0], new[] { 0, 1 })]
    [InlineData(new[] { 0, 1, 3 }, new[] { 2, 4 })]
    [InlineData(new[] { 1, 2, 3, 4, 5, 6 }, new[] { 0, 7 })]
    public void Schedule_AcceleratorIndices_AreTheLowestFreeOnes(int[] used, int[] expected)
    {
        var running = used.Length == 0 ? [] : new[] { Running(9, [On("n1", used)], gpus: used.Length) };
        var snapshot = Snapshot([Node("n1", gpus: 8)], [Job(1, gpus: 2)], running);

        var start = Assert.Single(Schedule(snapshot).Starts);

        Assert.Equal(expected, Assert.Single(start.Placement).AcceleratorIndices);
    }

    [Fact]
    public void Schedule_GangSharingANode_GivesEachReplicaItsOwnIndices()
    {
        var snapshot = Snapshot([Node("n1", gpus: 8)], [Job(1, gpus: 3, replicas: 2)]);

        var start = Assert.Single(Schedule(snapshot).Starts);

        Assert.Equal([[0, 1, 2], [3, 4, 5]], start.Placement.Select(p => p.AcceleratorIndices.ToArray()));
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(2, 2)]
    public void Schedule_NodeWithReservedGpus_HandsOutOnlyAllocatable(int reserved, int expectedFree)
    {
        var snapshot = Snapshot([Node("n1", gpus: 4, reservedGpus: reserved)], [Job(1, gpus: 4)]);

        var decisions = Schedule(snapshot);

        Assert.Equal(expectedFree == 4 ? 1 : 0, decisions.Starts.Count);
        if (expectedFree < 4)
        {
            Assert.Equal($"needs 4 nvidia-h100 on one node; the largest free block is {expectedFree} on node n1", Assert.Single(decisions.Pending).Reason);
        }
    }

    [Fact]
    public void Schedule_CpuOnlyJob_PrefersANodeWithoutAccelerators()
    {
        var snapshot = Snapshot([Node("gpu", cpus: 4, gpus: 8), Node("plain", cpus: 64)], [Job(1, cpus: 2)]);

        var start = Assert.Single(Schedule(snapshot).Starts);

        Assert.Equal("plain", Assert.Single(start.Placement).Node);
        Assert.Empty(start.Placement[0].AcceleratorIndices);
    }

    [Fact]
    public void Schedule_CpuOnlyJob_PicksTheNodeWithLeastFreeCpuAmongEqualOnes()
    {
        var snapshot = Snapshot([Node("a", cpus: 32), Node("b", cpus: 8), Node("c", cpus: 16)], [Job(1, cpus: 4)]);

        Assert.Equal("b", Assert.Single(Schedule(snapshot).Starts).Placement[0].Node);
    }

    [Fact]
    public void Schedule_NoReadyNode_CountsDrainingAndDownNodes()
    {
        var snapshot = Snapshot(
            [Node("n1", state: NodeState.Draining), Node("n2", state: NodeState.Down), Node("n3", state: NodeState.Down)],
            [Job(1)]);

        var pending = Assert.Single(Schedule(snapshot).Pending);

        Assert.Equal("no ready node (1 draining, 2 down)", pending.Reason);
        Assert.Equal(new Dictionary<string, int> { ["node draining"] = 1, ["node down"] = 2 }, pending.NodeRejections);
    }

    [Fact]
    public void Schedule_NothingFits_CountsEveryNodeUnderItsFirstFailingCheck()
    {
        var snapshot = Snapshot(
            [
                Node("a", gpus: 8, state: NodeState.Draining),
                Node("b", gpus: 0),
                Node("c", cpus: 1, gpus: 8),
                Node("d", memoryGi: 2, gpus: 8),
                Node("e", gpus: 8),
                Node("f", gpus: 2),
            ],
            [Job(1, gpus: 4, cpus: 2, memoryGi: 4)],
            [Running(9, [On("e", 0, 1, 2, 3, 4, 5)], gpus: 6)]);

        var pending = Assert.Single(Schedule(snapshot).Pending);

        var expected = new Dictionary<string, int>
        {
            ["node draining"] = 1,
            ["no nvidia-h100 on node"] = 1,
            ["insufficient cpu"] = 1,
            ["insufficient memory"] = 1,
            ["insufficient nvidia-h100"] = 2,
        };
        Assert.Equal(expected, pending.NodeRejections);
    }

    [Fact]
    public void Schedule_NotEnoughGpusOnAnyNode_ReasonNamesTheLargestFreeBlock()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 8), Node("n2", gpus: 4)],
            [Job(1, gpus: 4)],
            [Running(8, [On("n1", 0, 1, 2, 3, 4, 5)], gpus: 6), Running(9, [On("n2", 0, 1, 2)], gpus: 3)]);

        var pending = Assert.Single(Schedule(snapshot).Pending);

        Assert.Equal("needs 4 nvidia-h100 on one node; the largest free block is 2 on node n1", pending.Reason);
        Assert.Equal(new Dictionary<string, int> { ["insufficient nvidia-h100"] = 2 }, pending.NodeRejections);
    }

    [Fact]
    public void Schedule_NotEnoughCpuOrMemory_ReasonNamesTheNodeWithMostFree()
    {
        var snapshot = Snapshot(
            [Node("n1", cpus: 4, memoryGi: 8), Node("n2", cpus: 4, memoryGi: 8)],
            [Job(1, cpus: 2, memoryGi: 4)],
            [Running(8, [On("n1")], cpus: 3, memoryGi: 5), Running(9, [On("n2")], cpus: 3.5, memoryGi: 7)]);

        var pending = Assert.Single(Schedule(snapshot).Pending);

        Assert.Equal("needs cpu 2, memory 4Gi per replica; most free: node n1 with cpu 1, memory 3Gi", pending.Reason);
    }

    [Fact]
    public void Schedule_NoReadyNodeHasTheType_SaysSo()
    {
        var snapshot = Snapshot([Node("n1", gpus: 8, gpuType: "amd-mi300x")], [Job(1, gpus: 1)]);

        var pending = Assert.Single(Schedule(snapshot).Pending);

        Assert.Equal("no ready node has nvidia-h100", pending.Reason);
        Assert.Equal(new Dictionary<string, int> { ["no nvidia-h100 on node"] = 1 }, pending.NodeRejections);
    }

    [Fact]
    public void Schedule_StoppingJob_StillHoldsItsResources()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4)],
            [Job(1, gpus: 4)],
            [Running(9, [On("n1", 0, 1, 2, 3)], gpus: 4, stopping: StopKind.Cancel)]);

        var decisions = Schedule(snapshot);

        Assert.Empty(decisions.Starts);
        Assert.Equal("waiting for job(s) 9 to stop", Assert.Single(decisions.Pending).Reason);
    }

    [Fact]
    public void Schedule_NodeDeclaredWithoutDeviceInventory_NumbersItsAcceleratorsFromZero()
    {
        var node = Node("n1", gpus: 4) with { Accelerators = [] };
        var snapshot = Snapshot([node], [Job(1, gpus: 2)], [Running(9, [On("n1", 0)], gpus: 1)]);

        var start = Assert.Single(Schedule(snapshot).Starts);

        Assert.Equal([1, 2], start.Placement[0].AcceleratorIndices);
    }

    [Fact]
    public void Name_IsPriority()
    {
        Assert.Equal("priority", new PriorityPolicy().Name);
    }
}
