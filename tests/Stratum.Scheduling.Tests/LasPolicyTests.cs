using Stratum.Core.Jobs;

namespace Stratum.Scheduling.Tests;

/// <summary>Tiresias-style LAS: what it preempts, and above all what it leaves alone.</summary>
public sealed class LasPolicyTests
{
    private static readonly Core.Cluster.Node[] OneNode = [Make.Node("n1", gpus: 4)];

    [Fact]
    public void Schedule_WaitingJobSameQueueAsRunning_NoPreemption()
    {
        // Both in the second queue (the running one past 3,200 GPU-seconds, the waiting one promoted-less
        // with 4,000 attained): same queue never preempts, whatever the submit order.
        var running = Make.Running(9, [Make.On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: true, startedSecond: 2_600);
        var waiting = Preempted(1, gpus: 4, ranSeconds: 1_000, endedSecondsAgo: 10);

        var decisions = new LasPolicy().Schedule(Make.Snapshot(OneNode, [waiting], [running]));

        Assert.Empty(decisions.Preemptions);
        Assert.Empty(decisions.Starts);
    }

    [Fact]
    public void Schedule_VictimsCannotMakeRoom_NobodyPreempted()
    {
        // The waiting job needs 8 GPUs on a 4-GPU node: stopping the low-queue job would not let it start.
        var running = Make.Running(9, [Make.On("n1", 0, 1)], gpus: 2, preemptible: true, startedSecond: 0);
        var twoNodes = new[] { Make.Node("n1", gpus: 4), Make.Node("n2", gpus: 4) };
        var blocker = Make.Running(8, [Make.On("n2", 0, 1, 2, 3)], gpus: 4, preemptible: false, startedSecond: 0);

        var decisions = new LasPolicy().Schedule(Make.Snapshot(twoNodes, [Make.Job(1, gpus: 4, replicas: 2)], [running, blocker]));

        Assert.Empty(decisions.Preemptions);
    }

    [Fact]
    public void Schedule_OneVictimEnough_OnlyWorstRankedPreempted()
    {
        // Two 2-GPU jobs sank to the second queue; the new 2-GPU job needs one of them: the later-submitted one goes.
        var older = Make.Running(8, [Make.On("n1", 0, 1)], gpus: 2, preemptible: true, startedSecond: 0) with { SubmittedAt = Make.T0 };
        var younger = Make.Running(9, [Make.On("n1", 2, 3)], gpus: 2, preemptible: true, startedSecond: 0) with { SubmittedAt = Make.T0.AddSeconds(5) };

        var decisions = new LasPolicy().Schedule(Make.Snapshot(OneNode, [Make.Job(1, gpus: 2)], [older, younger]));

        Assert.Equal(9L, Assert.Single(decisions.Preemptions).JobId);
    }

    [Fact]
    public void Schedule_VictimInsideMinimumRun_NotPreemptedAndWakeAtItsEnd()
    {
        // Job 9 resumed 60 s ago after running long ago (deep queue); with a 5-minute floor it keeps its GPUs until then.
        var victim = Make.Running(9, [Make.On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: true, startedSecond: 3_540) with
        {
            Attempts =
            [
                new JobAttempt { Number = 1, Placement = [Make.On("n1", 0, 1, 2, 3)], StartedAt = Make.T0, EndedAt = Make.T0.AddSeconds(3_000) },
                new JobAttempt { Number = 2, Placement = [Make.On("n1", 0, 1, 2, 3)], StartedAt = Make.T0.AddSeconds(3_540) },
            ],
        };
        var policy = new LasPolicy(new LasOptions { MinRunBeforePreemption = TimeSpan.FromMinutes(5), PromoteKnob = 0 });
        var snapshot = Make.Snapshot(OneNode, [Make.Job(1, gpus: 4, submittedSecond: 3_590)], [victim]);

        var decisions = policy.Schedule(snapshot);

        Assert.Empty(decisions.Preemptions);
        Assert.Equal(snapshot.Now.AddSeconds(240), decisions.NextPassAt);
    }

    [Fact]
    public void Schedule_FreeRoomForSmallerLaterJob_StartsPastBlockedOne()
    {
        // Job 1 (4 GPUs, queue 0) cannot start and nothing worse is running; job 2 (1 GPU) fits in what is free.
        var running = Make.Running(9, [Make.On("n1", 0)], gpus: 1, preemptible: false, startedSecond: 3_500);

        var decisions = new LasPolicy().Schedule(Make.Snapshot(OneNode, [Make.Job(1, gpus: 4), Make.Job(2, gpus: 1)], [running]));

        Assert.Equal(2L, Assert.Single(decisions.Starts).JobId);
    }

    [Fact]
    public void Schedule_GangVictim_PreemptedWhole()
    {
        var nodes = new[] { Make.Node("n1", gpus: 4), Make.Node("n2", gpus: 4) };
        var gang = Make.Running(9, [Make.On("n1", 0, 1, 2, 3), Make.On("n2", 0, 1, 2, 3)], gpus: 4, preemptible: true, startedSecond: 0);

        var decisions = new LasPolicy().Schedule(Make.Snapshot(nodes, [Make.Job(1, gpus: 1)], [gang]));

        var preemption = Assert.Single(decisions.Preemptions);
        Assert.Equal(9L, preemption.JobId);
        Assert.Equal(1L, preemption.ForJobId);
    }

    [Fact]
    public void Geometric_ThresholdsGrowByFactor()
    {
        Assert.Equal([100.0, 200.0, 400.0], LasOptions.Geometric(100, 2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => LasOptions.Geometric(100, 1, 3));
    }

    [Fact]
    public void LasPresets_KnownAndUnknownNames()
    {
        Assert.Equal("las-fine", LasPresets.Create("las-fine")!.Name);
        Assert.Null(LasPresets.Create("nope"));
        Assert.Contains(LasPolicy.PolicyName, LasPresets.Names);
    }

    // A job preempted endedSecondsAgo before Now after running ranSeconds (one attempt).
    private static Job Preempted(long id, int gpus, int ranSeconds, int endedSecondsAgo)
    {
        var now = Make.T0.AddHours(1);
        var ended = now.AddSeconds(-endedSecondsAgo);
        return Make.Job(id, gpus: gpus, submittedSecond: -100_000, state: JobState.Preempted) with
        {
            Attempts = [new JobAttempt { Number = 1, Placement = [Make.On("n1", 0, 1, 2, 3)], StartedAt = ended.AddSeconds(-ranSeconds), EndedAt = ended }],
        };
    }
}
