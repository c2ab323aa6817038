using Stratum.Scheduling;

namespace Stratum.Simulation.Tests;

/// <summary>The real Philly trace from the shared data directory (never copied into the repository).</summary>
public sealed class PhillyTraceIntegrationTests
{
    private static string TracePath =>
        Environment.GetEnvironmentVariable("STRATUM_PHILLY_TRACE") ?? "/work/shared/data/traces/philly.csv";

    [Fact]
    public void ReadAndReplay_RealTraceOnPhillyCluster_AllJobsReadAndPrefixFinishes()
    {
        if (!File.Exists(TracePath))
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true",
                $"the Philly trace is missing under CI: expected {TracePath} (or set STRATUM_PHILLY_TRACE)");
            return;
        }

        var trace = PhillyTraceReader.Read(TracePath);

        Assert.Empty(trace.Problems);
        Assert.Equal(82_247, trace.Jobs.Count);

        // The whole file takes tens of seconds per policy (bench/Stratum.Simulation.Benchmarks); a
        // prefix keeps this test to seconds while still driving every policy over real jobs.
        var prefix = trace with { Jobs = trace.Jobs.Take(500).ToList() };
        var cluster = SimulatedCluster.Uniform(58, 8);
        foreach (var name in new[] { "fifo", "sjf-oracle", "las" })
        {
            var result = Simulator.Run(prefix, cluster, SchedulingPolicies.CreateForSimulation(name));
            Assert.Equal(500, result.Metrics.Finished);
            Assert.True(result.Metrics.AvgJctSeconds > 0, name);
        }
    }
}
