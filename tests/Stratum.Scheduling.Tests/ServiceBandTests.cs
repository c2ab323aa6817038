using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

/// <summary>
/// <c>default</c>: the planning engine with least-attained-service bands (16 from 1,000 GPU-seconds,
/// doubling): order within a priority, starvation promotion, preemption of worse bands, and what it must
/// leave alone (cooldown, priority, guaranteed shares, non-preemptible jobs, gangs whole).
/// </summary>
public sealed class ServiceBandTests
{
    // Make.Snapshot's Now.
    private static readonly DateTimeOffset Now = T0.AddHours(1);

    private static SchedulingDecisions Default(ClusterSnapshot snapshot) => PlanningPolicy.Default().Schedule(snapshot);

    /// <summary>A job back in the queue after one attempt from <paramref name="from"/> to <paramref name="to"/>.</summary>
    private static Job Preempted(Job job, DateTimeOffset from, DateTimeOffset to) => job with
    {
        State = JobState.Preempted,
        Attempts = [new JobAttempt { Number = 1, Placement = [On("n1")], StartedAt = from, EndedAt = to, Outcome = "preempted" }],
    };

    /// <summary>n1 with 8 GPUs, all held by preemptible job 9 since T0 (28,800 GPU-seconds by Now: band 5).</summary>
    private static (Node[] Nodes, Job Long) FullNode(int priority = 0, string project = "vision", bool preemptible = true) =>
        ([Node("n1", cpus: 64, memoryGi: 512, gpus: 8)],
         Running(9, [On("n1", 0, 1, 2, 3, 4, 5, 6, 7)], gpus: 8, priority: priority, project: project, preemptible: preemptible));

    [Fact]
    public void Order_JobWithLessAttainedService_GoesFirstWithinItsPriority()
    {
        // Job 1 ran 30 min on 1 GPU (1,800 GPU-seconds: band 1) and is not due for promotion until 4 h after it stopped.
        var served = Preempted(Job(1, gpus: 1), T0, T0.AddMinutes(30));
        var fresh = Job(2, gpus: 1);

        var decisions = Default(Snapshot([], [served, fresh]));
        var position = decisions.Pending.ToDictionary(p => p.JobId, p => p.QueuePosition);

        Assert.Equal(1, position[2]);
        Assert.Equal(2, position[1]);
        Assert.Equal(T0.AddMinutes(30 + (8 * 30)), decisions.NextPassAt);

        // The engine without bands orders by submit time (and aging): job 1 first.
        Assert.Equal(1, PlanningPolicy.Planning().Schedule(Snapshot([], [served, fresh])).Pending.Single(p => p.JobId == 1).QueuePosition);
    }

    [Fact]
    public void Order_HigherPriority_GoesFirstWhateverItsBand()
    {
        var served = Preempted(Job(1, gpus: 8, priority: 5), T0, T0.AddMinutes(30));

        var position = Default(Snapshot([], [served, Job(2, gpus: 1)])).Pending.ToDictionary(p => p.JobId, p => p.QueuePosition);

        Assert.Equal(1, position[1]);
    }

    [Theory]
    [InlineData(5, 1)] // 8 GPUs x 5 min = 2,400 GPU-s (band 2); waited 55 min > 8 x 5 min: promoted to band 0, and submitted first
    [InlineData(10, 2)] // 8 GPUs x 10 min (band 3); waited 50 min < 8 x 10 min: still band 3
    public void Order_JobWaitingLongerThanKnobTimesItsRun_IsPromotedToTheFirstBand(int ranMinutes, int expectedPosition)
    {
        var served = Preempted(Job(1, gpus: 8), T0, T0.AddMinutes(ranMinutes));
        var later = Job(2, gpus: 8, submittedSecond: 3000);

        var position = Default(Snapshot([], [served, later])).Pending.ToDictionary(p => p.JobId, p => p.QueuePosition);

        Assert.Equal(expectedPosition, position[1]);
    }

    [Fact]
    public void Order_WithinABand_FairShareStillOrders()
    {
        var snapshot = Snapshot([], [Job(1, project: "heavy"), Job(2, project: "light")]) with
        {
            DecayedUsage = new Dictionary<string, double> { ["heavy"] = 1000, ["light"] = 10 },
        };

        Assert.Equal(1, Default(snapshot).Pending.Single(p => p.JobId == 2).QueuePosition);
    }

    [Fact]
    public void Preempt_RunningJobInAWorseBand_MakesRoomForANewJobOfTheSamePriority()
    {
        var (nodes, running) = FullNode();

        var decisions = Default(Snapshot(nodes, [Job(1, gpus: 8)], [running]));

        var preemption = Assert.Single(decisions.Preemptions);
        Assert.Equal((9L, 1L), (preemption.JobId, preemption.ForJobId));
        Assert.Equal("preempted by job 1, which has attained less service (band 0 against 5)", preemption.Reason);
        Assert.Equal("waiting for preempted job(s) 9 to stop", Assert.Single(decisions.Pending).Reason);

        // Without bands nothing of equal priority is preempted.
        Assert.Empty(PlanningPolicy.Planning().Schedule(Snapshot(nodes, [Job(1, gpus: 8)], [running])).Preemptions);
    }

    [Fact]
    public void Preempt_RunningJobStillInTheSameBand_IsLeftUntilItCrossesTheThreshold()
    {
        // 1 GPU since 600 s before Now: 600 GPU-seconds, band 0 like the waiting job, past the cooldown.
        Node[] nodes = [Node("n1", gpus: 1)];
        var running = Running(9, [On("n1", 0)], gpus: 1, preemptible: true, startedSecond: 3000);

        var before = Default(Snapshot(nodes, [Job(1, gpus: 1)], [running]));

        Assert.Empty(before.Preemptions);
        Assert.Equal(T0.AddSeconds(3000 + 1000), before.NextPassAt);

        // At the time it asked for, the running job has 1,000 GPU-seconds: band 1.
        var after = Default(Snapshot(nodes, [Job(1, gpus: 1)], [running]) with { Now = T0.AddSeconds(4000) });

        Assert.Equal(9, Assert.Single(after.Preemptions).JobId);
    }

    [Fact]
    public void Preempt_VictimWithinTheCooldown_IsSparedUntilTheCooldownEnds()
    {
        // An earlier attempt of 30 min and the current one from 100 s ago: 15,200 GPU-seconds (band 3).
        var (nodes, template) = FullNode();
        var earlier = new JobAttempt { Number = 1, Placement = template.Attempts[0].Placement, StartedAt = T0, EndedAt = T0.AddMinutes(30) };
        var recent = template with { Attempts = [earlier, template.Attempts[0] with { Number = 2, StartedAt = Now.AddSeconds(-100) }] };

        var decisions = Default(Snapshot(nodes, [Job(1, gpus: 8)], [recent]));

        Assert.Empty(decisions.Preemptions);
        Assert.Equal(Now.AddSeconds(-100) + TimeSpan.FromMinutes(5), decisions.NextPassAt);
        Assert.Single(Default(Snapshot(nodes, [Job(1, gpus: 8)], [recent]) with { Now = Now.AddSeconds(200) }).Preemptions);
    }

    [Fact]
    public void Preempt_HigherPriorityRunningJob_IsNeverTakenForBand()
    {
        var (nodes, running) = FullNode(priority: 5);

        Assert.Empty(Default(Snapshot(nodes, [Job(1, gpus: 8)], [running])).Preemptions);
    }

    [Fact]
    public void Preempt_HigherPriorityWaitingJobInAWorseBand_StillPreemptsForPriority()
    {
        var (nodes, _) = FullNode();
        var young = Running(9, [On("n1", 0, 1, 2, 3, 4, 5, 6, 7)], gpus: 8, preemptible: true, startedSecond: 3500 - 300);
        var served = Preempted(Job(1, gpus: 8, priority: 5), T0, T0.AddMinutes(30));

        var preemption = Assert.Single(Default(Snapshot(nodes, [served], [young])).Preemptions);

        Assert.Equal("preempted by job 1 (priority 5)", preemption.Reason);
    }

    [Fact]
    public void Preempt_NonPreemptibleJob_IsNeverTakenForBand()
    {
        var (nodes, running) = FullNode(preemptible: false);

        Assert.Empty(Default(Snapshot(nodes, [Job(1, gpus: 8)], [running])).Preemptions);
    }

    [Theory]
    [InlineData("b", 8, false)] // b is within its guaranteed (nominal) share: kept
    [InlineData("b", 4, true)] // b uses more than its nominal 4: borrowed room, taken
    [InlineData("a", 8, true)] // the waiting job's own project: taken
    public void Preempt_VictimOfAnotherProjectWithinItsGuaranteedShare_IsKept(string victimProject, int nominalB, bool preempted)
    {
        var (nodes, running) = FullNode(project: victimProject);
        var projects = new[]
        {
            Project("a", new Quota { Accelerators = 8, Cohort = "lab" }),
            Project("b", new Quota { Accelerators = nominalB, Cohort = "lab" }),
        };

        var decisions = Default(Snapshot(nodes, [Job(1, gpus: 8, project: "a")], [running], projects));

        Assert.Equal(preempted, decisions.Preemptions.Any(p => p.JobId == 9));
    }

    [Fact]
    public void Preempt_WaitingJobOverItsQuota_TakesNobody()
    {
        var (nodes, running) = FullNode(project: "b");

        var decisions = Default(Snapshot(nodes, [Job(1, gpus: 8, project: "a")], [running],
            [Project("a", new Quota { Accelerators = 4 }), Project("b")]));

        Assert.Empty(decisions.Preemptions);
        Assert.StartsWith("project a is at its quota", Assert.Single(decisions.Pending).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Preempt_GangVictim_IsTakenWhole()
    {
        Node[] nodes = [Node("n1", cpus: 64, memoryGi: 512, gpus: 8), Node("n2", cpus: 64, memoryGi: 512, gpus: 8)];
        var gang = Running(9, [On("n1", 0, 1, 2, 3, 4, 5, 6, 7), On("n2", 0, 1, 2, 3, 4, 5, 6, 7)], gpus: 8, preemptible: true);

        var decisions = Default(Snapshot(nodes, [Job(1, gpus: 8)], [gang]));

        Assert.Equal(9, Assert.Single(decisions.Preemptions).JobId);
        Assert.Empty(decisions.Starts);
    }

    [Fact]
    public void Preempt_WaitingGang_TakesVictimsOnEveryNodeItNeedsOrNone()
    {
        Node[] nodes = [Node("n1", cpus: 64, memoryGi: 512, gpus: 8), Node("n2", cpus: 64, memoryGi: 512, gpus: 8)];
        var first = Running(8, [On("n1", 0, 1, 2, 3, 4, 5, 6, 7)], gpus: 8, preemptible: true);
        var second = Running(9, [On("n2", 0, 1, 2, 3, 4, 5, 6, 7)], gpus: 8, preemptible: true);
        var kept = second with { Spec = second.Spec with { Preemptible = false } };

        Assert.Equal([8L, 9L], Default(Snapshot(nodes, [Job(1, gpus: 8, replicas: 2)], [first, second])).Preemptions.Select(p => p.JobId).Order());

        // With one of the two not preemptible the gang cannot fit, so nobody is stopped for it.
        Assert.Empty(Default(Snapshot(nodes, [Job(1, gpus: 8, replicas: 2)], [first, kept])).Preemptions);
    }

    [Fact]
    public void Preempt_VictimOnANodeTheJobDoesNotUse_IsSpared()
    {
        // Victims are tried lowest priority first: job 7 (1 GPU on n1) frees nothing an 8-GPU job can use.
        Node[] nodes = [Node("n1", cpus: 64, memoryGi: 512, gpus: 8), Node("n2", cpus: 64, memoryGi: 512, gpus: 8)];
        var running = new[]
        {
            Running(6, [On("n1", 1, 2, 3, 4, 5, 6, 7)], gpus: 7),
            Running(7, [On("n1", 0)], gpus: 1, priority: -1, preemptible: true),
            Running(9, [On("n2", 0, 1, 2, 3, 4, 5, 6, 7)], gpus: 8, preemptible: true),
        };

        var decisions = Default(Snapshot(nodes, [Job(1, gpus: 8)], running));

        Assert.Equal(9, Assert.Single(decisions.Preemptions).JobId);
    }

    [Fact]
    public void Preempt_SeveralWorseBandVictims_TakesTheWorstBandFirst()
    {
        // Both 4-GPU jobs are past the cooldown; job 8 has run since T0 (14,400 GPU-s: band 3), job 9 for
        // 10 min (2,400: band 2). By age alone (youngest first) job 9 would go.
        Node[] nodes = [Node("n1", cpus: 64, memoryGi: 512, gpus: 8)];
        var running = new[]
        {
            Running(8, [On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: true),
            Running(9, [On("n1", 4, 5, 6, 7)], gpus: 4, preemptible: true, startedSecond: 3000),
        };

        Assert.Equal(8, Assert.Single(Default(Snapshot(nodes, [Job(1, gpus: 4)], running)).Preemptions).JobId);
    }

    [Fact]
    public void Backfill_WithBands_TheTopJobKeepsItsReservationAndEstimate()
    {
        // Job 1 (4 of 8 GPUs, not preemptible) ends at T0 + 2 h; job 2 needs all 8; job 3 would run past that.
        Node[] nodes = [Node("n1", cpus: 64, memoryGi: 512, gpus: 8)];
        var held = Running(1, [On("n1", 0, 1, 2, 3)], gpus: 4);
        var running = held with { Spec = held.Spec with { MaxRuntime = TimeSpan.FromHours(2) } };
        var top = Job(2, gpus: 8);
        var waiting = Job(3, gpus: 2);
        var longJob = waiting with { Spec = waiting.Spec with { MaxRuntime = TimeSpan.FromHours(3) } };

        var decisions = Default(Snapshot(nodes, [top, longJob], [running]));

        Assert.Empty(decisions.Starts);
        Assert.Empty(decisions.Preemptions);
        Assert.Equal(T0.AddHours(2), decisions.Pending.Single(p => p.JobId == 2).EstimatedStart);
        Assert.Contains("would delay job 2", decisions.Pending.Single(p => p.JobId == 3).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_DefaultHasBandsAndPlanningKeepsTheEngineWithout()
    {
        var planning = Assert.IsType<PlanningPolicy>(SchedulingPolicies.Create("planning"));
        var fresh = Assert.IsType<PlanningPolicy>(SchedulingPolicies.Create("default"));

        Assert.Null(planning.Options.ServiceBandsGpuSeconds);
        Assert.Equal(16, fresh.Options.ServiceBandsGpuSeconds!.Count);
        Assert.Equal(1_000, fresh.Options.ServiceBandsGpuSeconds[0]);
        Assert.Equal(TimeSpan.FromMinutes(5), fresh.Options.PreemptionCooldown);
    }

    [Fact]
    public void Options_BandsNotAscending_AreRejectedNamingTheThreshold()
    {
        var error = Assert.Throws<ArgumentException>(() => PlanningPolicy.Default(new PlanningOptions { ServiceBandsGpuSeconds = [1_000, 500] }));

        Assert.Contains("threshold 2 is 500", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bands_AgreeWithLasFineOnRandomJobs()
    {
        // The planning engine's bands are its own code; they must rank every job as las-fine does.
        var las = LasPresets.Create("las-fine")!;
        var random = new Random(11);
        for (var round = 0; round < 500; round++)
        {
            var service = new AttainedService(PlanningPolicy.DefaultServiceBands, 8);
            var gpus = PropertyTests.Pick(random, [1, 2, 4, 8]);
            var attempts = new List<JobAttempt>();
            var at = T0.AddSeconds(random.Next(0, 1000));
            var count = random.Next(1, 5);
            var running = random.Next(2) == 0;
            for (var a = 0; a < count; a++)
            {
                var ran = TimeSpan.FromSeconds(random.Next(1, 20_000));
                var last = a == count - 1;
                attempts.Add(new JobAttempt
                {
                    Number = a + 1,
                    Placement = [On("n1")],
                    StartedAt = at,
                    EndedAt = last && running ? null : at + ran,
                });
                at += ran + TimeSpan.FromSeconds(random.Next(0, 200_000));
            }

            var now = at;
            var job = Job(1, gpus: gpus) with { State = running ? JobState.Running : JobState.Preempted, Attempts = attempts };
            var lasService = las.Service(job, now, out var promoteAt);
            var lasBand = promoteAt is { } p && p <= now ? 0 : las.QueueOf(lasService);
            var band = running ? service.BandOf(service.RunningService(job, now)) : service.WaitingBand(job, now, out _);

            Assert.True(lasBand == band, $"round {round}: las-fine says band {lasBand}, the planning engine {band}");
            if (running)
            {
                Assert.Equal(lasService, service.RunningService(job, now), 6);
            }
        }
    }
}
