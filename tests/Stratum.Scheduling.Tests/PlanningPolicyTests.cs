using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using static Stratum.Scheduling.Tests.Make;

namespace Stratum.Scheduling.Tests;

/// <summary>The planning policies: EASY backfill and estimates, cohort borrowing and reclaim, fair share and aging, labels, racks, spread.</summary>
public sealed class PlanningPolicyTests
{
    private static readonly DateTimeOffset Now = T0.AddHours(1);

    private static Job WithRuntime(Job job, TimeSpan runtime) => job with { Spec = job.Spec with { MaxRuntime = runtime } };

    private static Node Labelled(Node node, string rack) => node with { Labels = new Dictionary<string, string> { [NodeLabels.Rack] = rack } };

    /// <summary>n1 has 8 GPUs, 4 held until T0+2h by job 1; job 2 (8 GPUs, priority 10) must wait for it.</summary>
    private static (List<Node> Nodes, List<Job> Running) HalfBusyNode() =>
        ([Node("n1", cpus: 64, memoryGi: 512, gpus: 8)],
         [WithRuntime(Running(1, [On("n1", 0, 1, 2, 3)], gpus: 4), TimeSpan.FromHours(2))]);

    [Fact]
    public void Backfill_ShortJobEndingBeforeTheReservation_StartsWhileTheTopJobWaits()
    {
        var (nodes, running) = HalfBusyNode();
        var top = Job(2, gpus: 8, priority: 10);
        var shortJob = WithRuntime(Job(3, gpus: 2), TimeSpan.FromMinutes(30));

        var decisions = PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [top, shortJob], running));

        Assert.Equal([3L], decisions.Starts.Select(s => s.JobId));
        Assert.Equal(2, Assert.Single(decisions.Pending).JobId);
    }

    [Fact]
    public void Backfill_JobThatFitsNowhereNow_IsToldWhyNotTheReservation()
    {
        // Job 3 asks for 6 GPUs where 4 are free: the reservation for job 2 is not what holds it back.
        var (nodes, running) = HalfBusyNode();
        var top = Job(2, gpus: 8, priority: 10);
        var tooBig = WithRuntime(Job(3, gpus: 6), TimeSpan.FromHours(3));

        var decisions = PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [top, tooBig], running));

        var pending = decisions.Pending.Single(p => p.JobId == 3);
        Assert.DoesNotContain("would delay", pending.Reason, StringComparison.Ordinal);
        Assert.Contains("largest free block is 4", pending.Reason, StringComparison.Ordinal);
        Assert.Equal(1, pending.NodeRejections.Values.Sum());
    }

    [Fact]
    public void Backfill_LongJobOnTheReservedNode_WaitsSoItCannotDelayTheTopJob()
    {
        var (nodes, running) = HalfBusyNode();
        var top = Job(2, gpus: 8, priority: 10);
        var longJob = WithRuntime(Job(3, gpus: 2), TimeSpan.FromHours(3));

        var decisions = PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [top, longJob], running));

        Assert.Empty(decisions.Starts);
        Assert.Contains("would delay job 2", decisions.Pending.Single(p => p.JobId == 3).Reason, StringComparison.Ordinal);
        Assert.Single(new PriorityPolicy().Schedule(Snapshot(nodes, [top, longJob], running)).Starts);
    }

    [Fact]
    public void Backfill_LongJobOffTheReservedNode_Starts()
    {
        var (nodes, running) = HalfBusyNode();
        nodes.Add(Node("n2", cpus: 64, memoryGi: 512, gpus: 2));
        var top = Job(2, gpus: 8, priority: 10);
        var longJob = WithRuntime(Job(3, gpus: 2), TimeSpan.FromHours(3));

        var decisions = PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [top, longJob], running));

        Assert.Equal("n2", Assert.Single(Assert.Single(decisions.Starts).Placement).Node);
    }

    [Fact]
    public void Schedule_BlockedJob_GetsEstimatedStartWhenTheRunningJobEnds()
    {
        var (nodes, running) = HalfBusyNode();

        var pending = Assert.Single(PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [Job(2, gpus: 8)], running)).Pending);

        Assert.Equal(T0.AddHours(2), pending.EstimatedStart);
        Assert.Contains("0 jobs ahead; estimated start 02:00 UTC (in 60 min) when job 1 ends", pending.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Schedule_SecondBlockedJob_IsEstimatedAfterTheFirst()
    {
        var (nodes, running) = HalfBusyNode();
        var first = WithRuntime(Job(2, gpus: 8, priority: 10), TimeSpan.FromHours(1));

        var pending = PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [first, Job(3, gpus: 8)], running)).Pending;

        Assert.Equal(T0.AddHours(3), pending.Single(p => p.JobId == 3).EstimatedStart);
        Assert.Contains("1 job ahead", pending.Single(p => p.JobId == 3).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Schedule_RunningJobWithoutKnownEnd_LeavesTheEstimateUnknownUntilTheProjectHasAnEstimate()
    {
        var nodes = new List<Node> { Node("n1", cpus: 64, memoryGi: 512, gpus: 8) };
        var running = new List<Job> { Running(1, [On("n1", 0, 1, 2, 3)], gpus: 4) };
        var snapshot = Snapshot(nodes, [Job(2, gpus: 8)], running);

        Assert.Null(Assert.Single(PlanningPolicy.Backfill().Schedule(snapshot).Pending).EstimatedStart);

        var withHistory = snapshot with { RuntimeEstimates = new RuntimeEstimates { ByProject = new Dictionary<string, TimeSpan> { ["vision"] = TimeSpan.FromHours(3) } } };
        Assert.Equal(T0.AddHours(3), Assert.Single(PlanningPolicy.Backfill().Schedule(withHistory).Pending).EstimatedStart);
    }

    private static List<Project> Cohort(Quota? borrowingA = null, Quota? lendingB = null) =>
    [
        Project("a", new Quota { Accelerators = 4, Cohort = "lab", BorrowingLimit = borrowingA }),
        Project("b", new Quota { Accelerators = 4, Cohort = "lab", LendingLimit = lendingB }),
    ];

    [Fact]
    public void Schedule_ProjectAboveNominal_BorrowsIdleQuotaOfItsCohort()
    {
        var decisions = PlanningPolicy.Backfill().Schedule(Snapshot([Node("n1", cpus: 64, memoryGi: 512, gpus: 8)], [Job(1, gpus: 6, project: "a")], projects: Cohort()));

        Assert.Single(decisions.Starts);
    }

    [Fact]
    public void Schedule_BorrowingAboveTheBorrowingLimit_Waits()
    {
        var decisions = PlanningPolicy.Backfill().Schedule(Snapshot([Node("n1", cpus: 64, memoryGi: 512, gpus: 8)], [Job(1, gpus: 6, project: "a")],
            projects: Cohort(borrowingA: new Quota { Accelerators = 1 })));

        Assert.Empty(decisions.Starts);
        Assert.Contains("borrowing limit 1", Assert.Single(decisions.Pending).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Schedule_LenderLendingLessThanAsked_Waits()
    {
        var decisions = PlanningPolicy.Backfill().Schedule(Snapshot([Node("n1", cpus: 64, memoryGi: 512, gpus: 8)], [Job(1, gpus: 6, project: "a")],
            projects: Cohort(lendingB: new Quota { Accelerators = 1 })));

        Assert.Empty(decisions.Starts);
        Assert.Contains("cohort lab has no idle gpu", Assert.Single(decisions.Pending).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Schedule_ProjectWithoutCohort_KeepsItsQuotaHard()
    {
        var decisions = PlanningPolicy.Backfill().Schedule(Snapshot([Node("n1", cpus: 64, memoryGi: 512, gpus: 8)], [Job(1, gpus: 6, project: "a")],
            projects: [Project("a", new Quota { Accelerators = 4 }), Project("b", new Quota { Accelerators = 4 })]));

        Assert.Contains("gpu 0/4 (+6 requested)", Assert.Single(decisions.Pending).Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(3540, false)]
    public void Schedule_ProjectWithinNominalBlockedByABorrower_ReclaimsUnlessTheBorrowerJustStarted(int startedSecond, bool reclaimed)
    {
        var borrower = Running(1, [On("n1", 0, 1, 2, 3, 4, 5)], gpus: 6, project: "a", startedSecond: startedSecond);

        var decisions = PlanningPolicy.Backfill().Schedule(Snapshot([Node("n1", cpus: 64, memoryGi: 512, gpus: 8)], [Job(2, gpus: 4, project: "b")], [borrower], Cohort()));

        Assert.Empty(decisions.Starts);
        Assert.Equal(reclaimed, decisions.Preemptions.Any(p => p.JobId == 1 && p.ForJobId == 2 && p.Reason.Contains("reclaim", StringComparison.Ordinal)));
    }

    [Fact]
    public void Schedule_PreemptionForPriority_SparesJobsWithinTheCooldown()
    {
        var nodes = new[] { Node("n1", cpus: 64, memoryGi: 512, gpus: 8) };
        var recent = Running(1, [On("n1", 0, 1, 2, 3, 4, 5, 6, 7)], gpus: 8, preemptible: true, startedSecond: 3500);
        var old = recent with { Attempts = [recent.Attempts[0] with { StartedAt = T0 }] };

        Assert.Empty(PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [Job(2, gpus: 8, priority: 5)], [recent])).Preemptions);
        Assert.Single(PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [Job(2, gpus: 8, priority: 5)], [old])).Preemptions);
    }

    [Fact]
    public void FairShare_ProjectWithMoreDecayedUsage_GoesAfterOneWithLess()
    {
        var snapshot = Snapshot([], [Job(1, project: "heavy"), Job(2, project: "light")]) with
        {
            DecayedUsage = new Dictionary<string, double> { ["heavy"] = 1000, ["light"] = 10 },
        };

        var pending = PlanningPolicy.FairShare().Schedule(snapshot).Pending;

        Assert.Equal(1, pending.Single(p => p.JobId == 2).QueuePosition);
    }

    [Fact]
    public void FairShare_JobWaitingLongerThanTheAgingBound_GoesFirstWhateverItsProjectUsed()
    {
        var bound = PlanningPolicy.FairShare().Options.AgingBound!.Value;
        var old = Job(1, project: "heavy") with { SubmittedAt = Now - bound - TimeSpan.FromMinutes(30) };
        var snapshot = Snapshot([], [old, Job(2, project: "light")]) with
        {
            DecayedUsage = new Dictionary<string, double> { ["heavy"] = 1000 },
        };

        Assert.Equal(1, PlanningPolicy.FairShare().Schedule(snapshot).Pending.Single(p => p.JobId == 1).QueuePosition);
    }

    [Fact]
    public void FairShare_RandomQueues_NeverPutAJobBehindOneSubmittedMoreThanTheAgingBoundLater()
    {
        var policy = PlanningPolicy.Default();
        var bound = policy.Options.AgingBound!.Value;
        var random = new Random(7);
        for (var round = 0; round < 200; round++)
        {
            var projects = new[] { "a", "b", "c" };
            var queued = Enumerable.Range(1, 30).Select(id => Job(id, project: projects[random.Next(3)]) with
            {
                SubmittedAt = Now - TimeSpan.FromMinutes(random.Next(0, 48 * 60)),
            }).ToList();
            var snapshot = Snapshot([], queued) with
            {
                DecayedUsage = projects.ToDictionary(p => p, _ => random.NextDouble() * 1e6),
            };

            var position = policy.Schedule(snapshot).Pending.ToDictionary(p => p.JobId, p => p.QueuePosition);
            foreach (var early in queued)
            {
                foreach (var late in queued.Where(l => l.SubmittedAt > early.SubmittedAt + bound))
                {
                    Assert.True(position[early.Id] < position[late.Id], $"round {round}: job {early.Id} starved behind job {late.Id}");
                }
            }
        }
    }

    [Fact]
    public void Schedule_NodeSelector_PlacesOnlyOnMatchingNodesAndCountsTheRest()
    {
        var nodes = new[] { Labelled(Node("n1", gpus: 8), "r1"), Labelled(Node("n2", gpus: 8), "r2") };
        var job = Job(1, gpus: 1) with { Spec = Spec(gpus: 1) with { NodeSelector = new Dictionary<string, string> { ["rack"] = "r2" } } };

        Assert.Equal("n2", Assert.Single(Assert.Single(PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [job])).Starts).Placement).Node);

        var nowhere = job with { Spec = job.Spec with { NodeSelector = new Dictionary<string, string> { ["rack"] = "r9" } } };
        var pending = Assert.Single(PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [nowhere])).Pending);
        Assert.Equal(2, pending.NodeRejections["node label rack=r9 missing"]);
        Assert.Contains("node selector rack=r9", pending.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Schedule_NodeSelector_NoRoom_NamesOnlyNodesTheSelectorLetsIn()
    {
        // n2 has far more free, but the job may only use rack r1: the reason must point at n1.
        var nodes = new[] { Labelled(Node("n1", cpus: 4, memoryGi: 8), "r1"), Labelled(Node("n2", cpus: 64, memoryGi: 512), "r2") };
        var job = Job(1, cpus: 2, memoryGi: 4) with { Spec = Spec(cpus: 2, memoryGi: 4) with { NodeSelector = new Dictionary<string, string> { ["rack"] = "r1" } } };

        var pending = Assert.Single(PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [job], [Running(8, [On("n1")], cpus: 3, memoryGi: 5)])).Pending);

        Assert.Equal("needs cpu 2, memory 4Gi per replica; most free: node n1 with cpu 1, memory 3Gi", pending.Reason);
    }

    [Fact]
    public void Schedule_MultiNodeGang_PrefersTheRackOfItsFirstReplica()
    {
        var nodes = new[] { Labelled(Node("n1", gpus: 8), "r1"), Labelled(Node("n2", gpus: 8), "r2"), Labelled(Node("n3", gpus: 8), "r1") };

        var start = Assert.Single(PlanningPolicy.Backfill().Schedule(Snapshot(nodes, [Job(1, gpus: 8, replicas: 2)])).Starts);

        Assert.Equal(["n1", "n3"], start.Placement.Select(p => p.Node));
    }

    [Theory]
    [InlineData(false, "n2")]
    [InlineData(true, "n1")]
    public void Schedule_SpreadOption_PicksTheEmptiestNodeInsteadOfTheTightest(bool spread, string expected)
    {
        var nodes = new[] { Node("n1", gpus: 8), Node("n2", gpus: 8) };
        var running = new[] { Running(1, [On("n2", 0, 1, 2, 3, 4, 5)], gpus: 6) };

        var start = Assert.Single(PlanningPolicy.Backfill(new PlanningOptions { Spread = spread }).Schedule(Snapshot(nodes, [Job(2, gpus: 1)], running)).Starts);

        Assert.Equal(expected, Assert.Single(start.Placement).Node);
    }

    [Fact]
    public void Schedule_ManyJobsOfAShapeThatDoesNotFit_AllWaitWithTheSameReason()
    {
        var nodes = new[] { Node("n1", gpus: 4) };
        var queued = Enumerable.Range(1, 50).Select(id => Job(id, gpus: 8)).Append(Job(51, gpus: 2)).ToList();

        var decisions = PlanningPolicy.FairShare().Schedule(Snapshot(nodes, queued));

        Assert.Equal([51L], decisions.Starts.Select(s => s.JobId));
        Assert.Single(decisions.Pending.Select(p => p.Reason).Distinct());
    }

    [Fact]
    public void FairShareLedger_UsageAfterOneHalfLife_CountsHalf()
    {
        var ledger = new FairShareLedger(TimeSpan.FromDays(7));
        ledger.Record("a", 100, T0);
        ledger.Record("b", 100, T0.AddDays(7));
        ledger.Record("b", 100, T0);

        var decayed = ledger.DecayedAt(T0.AddDays(7));

        Assert.Equal(50, decayed["a"], precision: 6);
        Assert.Equal(150, decayed["b"], precision: 6);
    }
}
