using Stratum.Core.Jobs;

namespace Stratum.Scheduling.Tests;

/// <summary>The policies issue 3 adds for the simulator to compare: fifo, sjf-oracle and las.</summary>
public sealed class DurationAgnosticPolicyTests
{
    private static readonly Core.Cluster.Node[] OneNode = [Make.Node("n1", gpus: 4)];

    [Fact]
    public void Fifo_HeadDoesNotFit_NothingBehindItStarts()
    {
        var snapshot = Make.Snapshot(OneNode, [Make.Job(1, gpus: 4), Make.Job(2, gpus: 1)], [Make.Running(9, [Make.On("n1", 0)], gpus: 1)]);

        var decisions = new FifoPolicy().Schedule(snapshot);

        Assert.Empty(decisions.Starts);
        Assert.Equal([1L, 2L], decisions.Pending.Select(p => p.JobId));
        Assert.Contains("waiting behind job 1", decisions.Pending[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Fifo_IgnoresPriority_StartsInSubmitOrder()
    {
        var snapshot = Make.Snapshot(OneNode, [Make.Job(2, gpus: 4, priority: 100), Make.Job(1, gpus: 4)]);

        var decisions = new FifoPolicy().Schedule(snapshot);

        Assert.Equal(1L, Assert.Single(decisions.Starts).JobId);
    }

    [Fact]
    public void SjfOracle_ShortestKnownDurationStartsFirst()
    {
        var snapshot = Make.Snapshot(OneNode, [Make.Job(1, gpus: 4), Make.Job(2, gpus: 4)]) with
        {
            KnownDurations = new Dictionary<long, TimeSpan> { [1] = TimeSpan.FromHours(5), [2] = TimeSpan.FromMinutes(1) },
        };

        var decisions = new SjfOraclePolicy().Schedule(snapshot);

        Assert.Equal(2L, Assert.Single(decisions.Starts).JobId);
    }

    [Fact]
    public void SjfOracle_NoDurations_NothingStartsAndReasonSaysWhy()
    {
        var decisions = new SjfOraclePolicy().Schedule(Make.Snapshot(OneNode, [Make.Job(1, gpus: 1)]));

        Assert.Empty(decisions.Starts);
        Assert.Equal(SjfOraclePolicy.NeedsDurations, Assert.Single(decisions.Pending).Reason);
    }

    [Fact]
    public void Create_SjfOracle_RefusedLiveButAvailableToSimulation()
    {
        var error = Assert.Throws<ArgumentException>(() => SchedulingPolicies.Create("sjf-oracle"));

        Assert.Contains("only in the simulator", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sjf-oracle", SchedulingPolicies.Names);
        Assert.NotNull(SchedulingPolicies.WhyNotLive("sjf-oracle"));
        Assert.Null(SchedulingPolicies.WhyNotLive("las"));
        Assert.Equal("sjf-oracle", SchedulingPolicies.CreateForSimulation("sjf-oracle").Name);
    }

    [Fact]
    public void Las_JobPastThreshold_PreemptedForNewJobAndWakeNotNeeded()
    {
        // Job 9 has held 4 GPUs for an hour (14,400 GPU-seconds: second queue); job 1 has attained nothing.
        var running = Make.Running(9, [Make.On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: true, startedSecond: 0);
        var snapshot = Make.Snapshot(OneNode, [Make.Job(1, gpus: 4)], [running]);

        var decisions = new LasPolicy().Schedule(snapshot);

        Assert.Equal(9L, Assert.Single(decisions.Preemptions).JobId);
        Assert.Empty(decisions.Starts);
        Assert.Contains("waiting for preempted job(s) 9", Assert.Single(decisions.Pending).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Las_SameQueue_RunningJobKeepsGpusAndNextPassAtItsThreshold()
    {
        // Job 9 started 100 s before Now on 4 GPUs: 400 GPU-seconds, so it reaches 3,200 in 700 s more.
        var running = Make.Running(9, [Make.On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: true, startedSecond: 3500);
        var snapshot = Make.Snapshot(OneNode, [Make.Job(10, gpus: 4, submittedSecond: 3590)], [running]);

        var decisions = new LasPolicy().Schedule(snapshot);

        Assert.Empty(decisions.Preemptions);
        Assert.Equal(snapshot.Now.AddSeconds(700), decisions.NextPassAt);
    }

    [Fact]
    public void Las_NotPreemptible_NeverPreempted()
    {
        var running = Make.Running(9, [Make.On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: false, startedSecond: 0);

        var decisions = new LasPolicy().Schedule(Make.Snapshot(OneNode, [Make.Job(1, gpus: 4)], [running]));

        Assert.Empty(decisions.Preemptions);
    }

    [Fact]
    public void Las_LongWaitAfterRunning_PromotedAheadOfFresherLowerQueueJob()
    {
        // Job 1 ran 1,000 s on 4 GPUs (second queue), then waited 8,000 s: promoted to queue 0, where its
        // earlier submission puts it ahead of job 2 (attained nothing, submitted later).
        var now = Make.T0.AddHours(1);
        var preempted = Make.Job(1, gpus: 4, submittedSecond: -20_000, state: JobState.Preempted) with
        {
            Attempts = [new JobAttempt { Number = 1, Placement = [Make.On("n1", 0, 1, 2, 3)], StartedAt = now.AddSeconds(-9_000), EndedAt = now.AddSeconds(-8_000) }],
        };
        var snapshot = Make.Snapshot(OneNode, [preempted, Make.Job(2, gpus: 4, submittedSecond: 0)]);

        var decisions = new LasPolicy().Schedule(snapshot);

        Assert.Equal(1L, Assert.Single(decisions.Starts).JobId);
    }
}
