using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

public sealed class PreemptionTests
{
    [Theory]
    // Two preemptible 2-GPU jobs fill a 4-GPU node: (priority, start second) of jobs 8 and 9; the victim for a 2-GPU job of priority 10.
    [InlineData(1, 0, 5, 0, 8)]
    [InlineData(5, 0, 1, 0, 9)]
    [InlineData(1, 10, 1, 20, 9)]
    [InlineData(1, 20, 1, 10, 8)]
    [InlineData(1, 10, 1, 10, 9)]
    public void Schedule_PreemptsLowestPriorityThenYoungest(int priority8, int started8, int priority9, int started9, long victim)
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4)],
            [Job(1, gpus: 2, priority: 10)],
            [
                Running(8, [On("n1", 0, 1)], gpus: 2, priority: priority8, preemptible: true, startedSecond: started8),
                Running(9, [On("n1", 2, 3)], gpus: 2, priority: priority9, preemptible: true, startedSecond: started9),
            ]);

        var decisions = Schedule(snapshot);

        var preemption = Assert.Single(decisions.Preemptions);
        Assert.Equal((victim, 1L), (preemption.JobId, preemption.ForJobId));
        Assert.Equal("preempted by job 1 (priority 10)", preemption.Reason);
        Assert.Empty(decisions.Starts);
        Assert.Equal($"waiting for preempted job(s) {victim} to stop", Assert.Single(decisions.Pending).Reason);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(11)]
    public void Schedule_RunningJobOfEqualOrHigherPriority_IsNeverPreempted(int runningPriority)
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4)],
            [Job(1, gpus: 4, priority: 10)],
            [Running(9, [On("n1", 0, 1, 2, 3)], gpus: 4, priority: runningPriority, preemptible: true)]);

        var decisions = Schedule(snapshot);

        Assert.Empty(decisions.Preemptions);
        Assert.Equal("needs 4 nvidia-h100 on one node; every nvidia-h100 on ready nodes is in use", Assert.Single(decisions.Pending).Reason);
    }

    [Fact]
    public void Schedule_NonPreemptibleJob_IsNeverAVictim()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4), Node("n2", gpus: 4)],
            [Job(1, gpus: 4, priority: 10)],
            [
                Running(8, [On("n1", 0, 1, 2, 3)], gpus: 4, priority: 0, preemptible: false),
                Running(9, [On("n2", 0, 1, 2, 3)], gpus: 4, priority: 5, preemptible: true),
            ]);

        var preemption = Assert.Single(Schedule(snapshot).Preemptions);

        Assert.Equal(9, preemption.JobId);
    }

    [Fact]
    public void Schedule_GangVictim_IsPreemptedWhole()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4), Node("n2", gpus: 4)],
            [Job(1, gpus: 4, priority: 10)],
            [Running(7, [On("n1", 0, 1, 2, 3), On("n2", 0, 1, 2, 3)], gpus: 4, preemptible: true)]);

        var decisions = Schedule(snapshot);

        var preemption = Assert.Single(decisions.Preemptions);
        Assert.Equal(7, preemption.JobId);
        Assert.Equal("waiting for preempted job(s) 7 to stop", Assert.Single(decisions.Pending).Reason);
    }

    [Fact]
    public void Schedule_NeedsSeveralVictims_PreemptsJustEnoughAndSparesUselessOnes()
    {
        // Job 5 sits on a node without GPUs; preempting it would free nothing the new job can use.
        var snapshot = Snapshot(
            [Node("cpu", cpus: 4), Node("n1", gpus: 4)],
            [Job(1, gpus: 4, priority: 10)],
            [
                Running(5, [On("cpu")], cpus: 4, priority: -5, preemptible: true),
                Running(7, [On("n1", 0, 1)], gpus: 2, priority: 1, preemptible: true),
                Running(8, [On("n1", 2)], gpus: 1, priority: 2, preemptible: true),
                Running(9, [On("n1", 3)], gpus: 1, priority: 2, preemptible: true),
            ]);

        var decisions = Schedule(snapshot);

        Assert.Equal([7, 8, 9], decisions.Preemptions.Select(p => p.JobId).Order());
        Assert.Equal("waiting for preempted job(s) 7, 8, 9 to stop", Assert.Single(decisions.Pending).Reason);
    }

    [Fact]
    public void Schedule_WouldNotFitEvenWithAllVictims_PreemptsNobody()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4)],
            [Job(1, gpus: 8, priority: 10)],
            [Running(9, [On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: true)]);

        var decisions = Schedule(snapshot);

        Assert.Empty(decisions.Preemptions);
        Assert.Equal("needs 8 nvidia-h100 on one node; every nvidia-h100 on ready nodes is in use", Assert.Single(decisions.Pending).Reason);
    }

    [Fact]
    public void Schedule_BlockedByQuota_PreemptsNobody()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4)],
            [Job(1, gpus: 4, priority: 10)],
            [Running(9, [On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: true, project: "speech")],
            [Project("vision", new Quota { Accelerators = 2 }), Project("speech")]);

        var decisions = Schedule(snapshot);

        Assert.Empty(decisions.Preemptions);
        Assert.StartsWith("project vision is at its quota", Assert.Single(decisions.Pending).Reason);
    }

    [Fact]
    public void Schedule_EarlierVictimStillStopping_PreemptsNoOneElse()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4), Node("n2", gpus: 4)],
            [Job(1, gpus: 4, priority: 10)],
            [
                Running(8, [On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: true, stopping: StopKind.Preempt),
                Running(9, [On("n2", 0, 1, 2, 3)], gpus: 4, priority: -1, preemptible: true),
            ]);

        var decisions = Schedule(snapshot);

        Assert.Empty(decisions.Preemptions);
        Assert.Empty(decisions.Starts);
        Assert.Equal("waiting for preempted job(s) 8 to stop", Assert.Single(decisions.Pending).Reason);
    }

    [Fact]
    public void Schedule_StoppingJobFreesPartOfTheRoom_PreemptsOnlyTheRest()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4)],
            [Job(1, gpus: 4, priority: 10)],
            [
                Running(8, [On("n1", 0, 1)], gpus: 2, preemptible: true, stopping: StopKind.Timeout),
                Running(9, [On("n1", 2, 3)], gpus: 2, preemptible: true),
            ]);

        var decisions = Schedule(snapshot);

        Assert.Equal(9, Assert.Single(decisions.Preemptions).JobId);
        Assert.Equal("waiting for job(s) 8, 9 to stop", Assert.Single(decisions.Pending).Reason);
    }

    [Fact]
    public void Schedule_VictimChosenForOneJob_IsNotCountedOnByTheNext()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4)],
            [Job(1, gpus: 4, priority: 10), Job(2, gpus: 4, priority: 10)],
            [Running(9, [On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: true)]);

        var decisions = Schedule(snapshot);

        var preemption = Assert.Single(decisions.Preemptions);
        Assert.Equal((9L, 1L), (preemption.JobId, preemption.ForJobId));
        Assert.Equal("waiting for preempted job(s) 9 to stop", decisions.Pending.Single(p => p.JobId == 1).Reason);
        Assert.StartsWith("needs 4 nvidia-h100 on one node", decisions.Pending.Single(p => p.JobId == 2).Reason);
    }

    [Fact]
    public void Schedule_RoomPromisedToAPreemptingJob_IsNotGivenToASmallerJobBehindIt()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 8), Node("n2", gpus: 1)],
            [Job(1, gpus: 8, priority: 10), Job(2, gpus: 2, priority: 0), Job(3, gpus: 1, priority: 0)],
            [Running(9, [On("n1", 0, 1, 2, 3)], gpus: 4, priority: -1, preemptible: true)]);

        var decisions = Schedule(snapshot);

        Assert.Equal(9, Assert.Single(decisions.Preemptions).JobId);
        var start = Assert.Single(decisions.Starts);
        Assert.Equal((3L, "n2"), (start.JobId, start.Placement[0].Node));
        Assert.Equal([1L, 2L], decisions.Pending.Select(p => p.JobId));
    }

    [Fact]
    public void Schedule_VictimOnDrainingNode_IsNotPreemptedForNothing()
    {
        var snapshot = Snapshot(
            [Node("n1", gpus: 4, state: NodeState.Draining)],
            [Job(1, gpus: 4, priority: 10)],
            [Running(9, [On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: true)]);

        var decisions = Schedule(snapshot);

        Assert.Empty(decisions.Preemptions);
        Assert.Equal("no ready node (1 draining, 0 down)", Assert.Single(decisions.Pending).Reason);
    }
}
