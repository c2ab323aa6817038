using Stratum.Scheduling;

namespace Stratum.Simulation.Tests;

/// <summary>
/// Pins what each policy decides over a slice of the real Philly trace on a cluster small enough to be
/// contended (thousands of preemptions under LAS), so that work on replay speed cannot change a decision
/// unnoticed. The figures were measured with the code before the replay-speed indexes (running-job index,
/// counting victim search, blocked-FIFO memo); they are not derived from the code under test.
/// </summary>
public sealed class ReplayRegressionTests
{
    private static string TracePath =>
        Environment.GetEnvironmentVariable("STRATUM_PHILLY_TRACE") ?? "/work/shared/data/traces/philly.csv";

    [Theory]
    [InlineData("fifo", 2_525_728.8045, 0, 3_823)]
    [InlineData("sjf-oracle", 427_049.2865, 0, 3_910)]
    [InlineData("las", 117_841.2815, 3_606, 9_305)]
    [InlineData("las-fine", 105_344.644, 2_159, 5_823)]
    [InlineData("las-fine-q5m", 105_470.247, 1_791, 6_089)]
    // Measured from the committed planning engine before the preemption-search bound and its allocation work.
    [InlineData("default", 104_040.361, 1_965, 6_052)]
    public void Run_PhillySliceOnSixteenNodes_DecidesAsBefore(string policy, double avgJctSeconds, int preemptions, int passes)
    {
        if (!File.Exists(TracePath))
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true",
                $"the Philly trace is missing under CI: expected {TracePath} (or set STRATUM_PHILLY_TRACE)");
            return;
        }

        var trace = PhillyTraceReader.Read(TracePath);
        var slice = trace with { Jobs = trace.Jobs.Take(2_000).ToList() };

        var result = Simulator.Run(slice, SimulatedCluster.Uniform(16, 8), SchedulingPolicies.CreateForSimulation(policy));

        Assert.Equal(2_000, result.Metrics.Finished);
        Assert.Equal(preemptions, result.Metrics.Preemptions);
        Assert.Equal(passes, result.Metrics.Passes);
        Assert.Equal(avgJctSeconds, result.Metrics.AvgJctSeconds, 3);
    }
}
