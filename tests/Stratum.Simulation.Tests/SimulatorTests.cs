using Stratum.Scheduling;

namespace Stratum.Simulation.Tests;

public sealed class SimulatorTests
{
    private static readonly SimulatedCluster OneNode = SimulatedCluster.Uniform(1, 4);

    // Three whole-node jobs: a short one arriving behind a long one, which is where the policies differ.
    private static readonly Trace LongThenShort = TraceText.Of((0, 10, 4), (1, 100, 4), (2, 1, 4));

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
    [InlineData("priority")]
    public void Run_RandomTrace_EveryJobFinishesAndSameInputSameOutput(string policy)
    {
        var random = new Random(policy.Length * 7919);
        var jobs = Enumerable.Range(0, 120)
            .Select(i => (Second: i * 60 + random.Next(60), Duration: (double)random.Next(1, 3000), Gpus: new[] { 1, 1, 1, 2, 4, 8, 16 }[random.Next(7)]))
            .ToArray();
        var trace = TraceText.Of(jobs);
        var cluster = SimulatedCluster.Uniform(4, 8);

        var first = Run(trace, SchedulingPolicies.CreateForSimulation(policy), cluster, TimeSpan.FromSeconds(30));
        var second = Run(trace, SchedulingPolicies.CreateForSimulation(policy), cluster, TimeSpan.FromSeconds(30));

        Assert.Equal(120, first.Metrics.Finished);
        Assert.Empty(first.Problems);
        Assert.Equal(first.Metrics with { WallSeconds = 0 }, second.Metrics with { WallSeconds = 0 });
        Assert.Equal(first.Jobs, second.Jobs);
        Assert.InRange(first.Metrics.GpuUtilization, 0.01, 1.0);
        Assert.All(first.Jobs, j => Assert.True(j.FinishedAt!.Value - j.SubmittedAt >= TimeSpan.FromSeconds(1)));
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
