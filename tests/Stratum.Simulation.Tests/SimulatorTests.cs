using Stratum.Scheduling;

namespace Stratum.Simulation.Tests;

public sealed class SimulatorTests
{
    private static readonly SimulatedCluster OneNode = SimulatedCluster.Uniform(1, 4);

    // Three whole-node jobs: a short one arriving behind a long one, which is where the policies differ.
    private static readonly Trace LongThenShort = TraceText.Of((0, 10, 4), (1, 100, 4), (2, 1, 4));

    private static ISchedulingPolicy Policy(string name) => LasPresets.Create(name) ?? SchedulingPolicies.CreateForSimulation(name);

    private static SimulationResult Run(Trace trace, ISchedulingPolicy policy, SimulatedCluster? cluster = null, TimeSpan? restartCost = null) =>
        Simulator.Run(trace, cluster ?? OneNode, policy, new SimulationOptions { RestartCost = restartCost ?? TimeSpan.Zero });

    [Fact]
    public void Run_Fifo_StartsInSubmitOrder()
    {
        var result = Run(LongThenShort, new FifoPolicy());

        Assert.Equal([10.0, 109.0, 109.0], result.Jobs.Select(j => TraceText.Jct(result, j.Id)));
        Assert.Equal(76.0, result.Metrics.AvgJctSeconds, 6);
        Assert.Equal(111.0, result.Metrics.MakespanSeconds, 6);
        Assert.Equal(0, result.Metrics.Preemptions);
    }

    [Fact]
    public void Run_SjfOracle_ShortJobFirst()
    {
        var result = Run(LongThenShort, SchedulingPolicies.CreateForSimulation("sjf-oracle"));

        Assert.Equal([10.0, 110.0, 9.0], result.Jobs.Select(j => TraceText.Jct(result, j.Id)));
        Assert.Equal(43.0, result.Metrics.AvgJctSeconds, 6);
    }

    [Fact]
    public void Run_Fifo_HeadOfLineBlocksSmallerJobs()
    {
        // Job 2 (4 GPUs) cannot start while job 1 holds 2; job 3 (1 GPU) would fit at t=2 but waits
        // behind job 2, which then takes the whole node from t=10 to t=20.
        var result = Run(TraceText.Of((0, 10, 2), (1, 10, 4), (2, 1, 1)), new FifoPolicy());

        Assert.Equal(10.0, result.Jobs[1].FirstStartedAt!.Value.Subtract(TraceText.T0).TotalSeconds, 6);
        Assert.Equal(20.0, result.Jobs[2].FirstStartedAt!.Value.Subtract(TraceText.T0).TotalSeconds, 6);
    }

    [Fact]
    public void Run_Las_LongJobSinksAndShortOnePreemptsIt()
    {
        // Job 1 holds 4 GPUs, so it reaches 3,200 GPU-seconds at t=800 and drops to the second queue;
        // job 2, waiting since t=10 in the first queue, then preempts it (a pass the policy asked for,
        // with no arrival or end at t=800). Job 1 resumes at 801 with 200 s to go.
        var trace = TraceText.Of((0, 1000, 4), (10, 1, 4));

        var result = Run(trace, new LasPolicy());

        Assert.Equal(1, result.Metrics.Preemptions);
        Assert.Equal(791.0, TraceText.Jct(result, 2), 3);
        Assert.Equal(1001.0, TraceText.Jct(result, 1), 3);
        Assert.Equal(1, result.Jobs[0].Preemptions);
    }

    [Fact]
    public void Run_LasWithRestartCost_ResumedJobPaysIt()
    {
        var trace = TraceText.Of((0, 1000, 4), (10, 1, 4));

        var result = Run(trace, new LasPolicy(), restartCost: TimeSpan.FromSeconds(30));

        Assert.Equal(1031.0, TraceText.Jct(result, 1), 3);
    }

    [Fact]
    public void Run_MultiNodeJob_TakesWholeNodes()
    {
        // 12 GPUs on 8-GPU nodes: two whole nodes, so a 1-GPU job arriving later waits for one of them.
        var cluster = SimulatedCluster.Uniform(2, 8);
        var result = Run(TraceText.Of((0, 50, 12), (1, 5, 1)), new FifoPolicy(), cluster);

        Assert.Equal(50.0, result.Jobs[1].FirstStartedAt!.Value.Subtract(TraceText.T0).TotalSeconds, 6);
        Assert.Equal(16, cluster.HeldGpus(12));
    }

    [Fact]
    public void Run_JobLargerThanCluster_ReportedLeftOutAndOthersFinish()
    {
        var result = Run(TraceText.Of((0, 10, 1), (1, 10, 64), (2, 10, 1)), new FifoPolicy());

        Assert.Contains(result.Problems, p => p.Contains("job 2 needs 64 GPUs", StringComparison.Ordinal));
        Assert.Equal(2, result.Metrics.Finished);
        Assert.Equal(2, result.Metrics.Jobs);
    }

    [Theory]
    [InlineData("fifo")]
    [InlineData("sjf-oracle")]
    [InlineData("las")]
    [InlineData("las-fine")]
    [InlineData("las-fine-q5m")]
    [InlineData("priority")]
    public void Run_RandomTrace_EveryJobFinishesAndSameInputSameOutput(string policy)
    {
        var random = new Random(policy.Length * 7919);
        var jobs = Enumerable.Range(0, 120)
            .Select(i => (Second: i * 60 + random.Next(60), Duration: (double)random.Next(1, 3000), Gpus: new[] { 1, 1, 1, 2, 4, 8, 16 }[random.Next(7)]))
            .ToArray();
        var trace = TraceText.Of(jobs);
        var cluster = SimulatedCluster.Uniform(4, 8);

        var first = Run(trace, Policy(policy), cluster, TimeSpan.FromSeconds(30));
        var second = Run(trace, Policy(policy), cluster, TimeSpan.FromSeconds(30));

        Assert.Equal(120, first.Metrics.Finished);
        Assert.Empty(first.Problems);
        Assert.Equal(first.Metrics with { WallSeconds = 0, PolicySeconds = 0, Projects = [] }, second.Metrics with { WallSeconds = 0, PolicySeconds = 0, Projects = [] });
        Assert.Equal(first.Metrics.Projects, second.Metrics.Projects);
        Assert.Equal(first.Jobs, second.Jobs);
        Assert.InRange(first.Metrics.GpuUtilization, 0.01, 1.0);
        Assert.All(first.Jobs, j => Assert.True(j.FinishedAt!.Value - j.SubmittedAt >= TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void Run_LasWithRestartCost_RestartGpuSecondsReported()
    {
        var result = Run(TraceText.Of((0, 1000, 4), (10, 1, 4)), new LasPolicy(), restartCost: TimeSpan.FromSeconds(30));

        Assert.Equal(120.0, result.Metrics.RestartGpuSeconds, 6);
    }

    [Fact]
    public void Run_TwoProjects_SharesAddUpAndEntitlementFollowsWeights()
    {
        // TraceText puts a job of g GPUs in project proj{g % 3}: 1 GPU -> proj1, 2 GPUs -> proj2.
        var trace = TraceText.Of((0, 100, 1), (0, 100, 2), (5, 50, 1));
        var cluster = SimulatedCluster.Uniform(1, 4) with { ProjectWeights = new Dictionary<string, double> { ["proj2"] = 3 } };

        var projects = Run(trace, new FifoPolicy(), cluster).Metrics.Projects;

        Assert.Equal(["proj1", "proj2"], projects.Select(p => p.Project));
        Assert.Equal(150.0 / 350, projects[0].Share, 6);
        Assert.Equal(200.0 / 350, projects[1].Share, 6);
        Assert.Equal(0.25, projects[0].Entitlement, 6);
        Assert.Equal(0.75, projects[1].Entitlement, 6);
        Assert.Equal(2, projects[0].Jobs);
        Assert.Equal(100.0, projects[1].AvgJctSeconds, 6);
    }

    [Fact]
    public void Run_LasMinimumRun_EveryPreemptedAttemptRanAtLeastTheFloor()
    {
        // An overloaded cluster where plain LAS preempts often; with a 5-minute floor every preemption
        // comes after at least 5 minutes of holding GPUs, so a job's held time covers its preemptions.
        var random = new Random(17);
        var jobs = Enumerable.Range(0, 150)
            .Select(i => (Second: i * 20, Duration: (double)random.Next(60, 5000), Gpus: new[] { 1, 2, 4, 8 }[random.Next(4)]))
            .ToArray();
        var cluster = SimulatedCluster.Uniform(2, 8);

        var result = Run(TraceText.Of(jobs), Policy("las-fine-q5m"), cluster, TimeSpan.FromSeconds(30));

        Assert.True(result.Metrics.Preemptions > 0, "the trace should make LAS preempt");
        Assert.All(result.Jobs, j => Assert.True(j.HeldTime / Math.Max(1, cluster.HeldGpus(j.Gpus) / cluster.GpusPerNode) >= TimeSpan.FromMinutes(5) * j.Preemptions,
            $"job {j.Id} was preempted {j.Preemptions} times holding GPUs {j.HeldTime}"));
    }

    [Fact]
    public void Run_EndsWithEmptyQueue_NoPass()
    {
        // Each job starts on arrival and ends before the next arrives: three passes (arrivals), not six.
        var result = Run(TraceText.Of((0, 10, 1), (100, 10, 1), (200, 10, 1)), new LasPolicy());

        Assert.Equal(3, result.Metrics.Passes);
        Assert.Equal(3, result.Metrics.Finished);
    }

    [Fact]
    public void Percentile_NearestRank()
    {
        double[] sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

        Assert.Equal(5, SimulationMetrics.Percentile(sorted, 0.5));
        Assert.Equal(10, SimulationMetrics.Percentile(sorted, 0.95));
        Assert.Equal(0, SimulationMetrics.Percentile([], 0.5));
    }
}
