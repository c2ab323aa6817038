using Stratum.Scheduling;

namespace Stratum.Simulation.Tests;

public sealed class ClusterFileTests
{
    [Fact]
    public void Parse_TwoGroupsAndWeights_NodesLabelsAndEntitlements()
    {
        const string yaml = """
            nodeGroups:
              - name: h100
                count: 2
                gpusPerNode: 8
                gpuType: nvidia-h100
                rack: r1
              - name: a100
                count: 3
                gpusPerNode: 4
                gpuType: nvidia-a100
                memory: 512Gi
            projects:
              vision: 3
            """;

        var cluster = ClusterFile.Parse(yaml, "c.yaml", out var problems);

        Assert.Empty(problems);
        Assert.NotNull(cluster);
        Assert.Equal(5, cluster.Nodes.Count);
        Assert.Equal(28, cluster.TotalGpus);
        Assert.Equal(["nvidia-h100", "nvidia-a100"], cluster.GpuTypes);
        Assert.Equal("r1", cluster.Nodes[0].Labels["rack"]);
        Assert.Equal(3, cluster.WeightOf("vision"));
        Assert.Equal(1, cluster.WeightOf("other"));
    }

    [Fact]
    public void Parse_BadFields_EachNamed()
    {
        const string yaml = """
            nodeGroups:
              - name: a
                count: 0
                gpusPerNode: eight
                colour: blue
              - name: b
                gpusPerNode: 8
            projects:
              vision: -1
            """;

        var cluster = ClusterFile.Parse(yaml, "c.yaml", out var problems);

        Assert.Null(cluster);
        Assert.Contains(problems, p => p.StartsWith("c.yaml: nodeGroups[0].count:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("c.yaml: nodeGroups[0].gpusPerNode:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("c.yaml: nodeGroups[0].colour: unknown field", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("c.yaml: nodeGroups[1].count: required", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("c.yaml: projects.vision:", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_NotYaml_ReportsLine()
    {
        Assert.Null(ClusterFile.Parse("nodeGroups: [\n  - : :", "c.yaml", out var problems));
        Assert.Contains("not valid YAML", Assert.Single(problems), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_JobOfTypeTheClusterLacks_ReportedLeftOutNeverHangs()
    {
        var cluster = ClusterFile.Parse("nodeGroups:\n  - name: h\n    count: 1\n    gpusPerNode: 4\n    gpuType: h100\n", "c.yaml", out _)!;
        var trace = new Trace(
        [
            new TraceJob(1, TraceText.T0, TimeSpan.FromSeconds(10), 2, "a") { GpuType = "a100" },
            new TraceJob(2, TraceText.T0, TimeSpan.FromSeconds(10), 8, "a"),
            new TraceJob(3, TraceText.T0, TimeSpan.FromSeconds(10), 4, "a"),
        ], []);

        var result = Simulator.Run(trace, cluster, new FifoPolicy());

        Assert.Equal(1, result.Metrics.Finished);
        Assert.Contains(result.Problems, p => p.Contains("job 1 needs GPU type a100", StringComparison.Ordinal));
        Assert.Contains(result.Problems, p => p.Contains("job 2 needs 8 GPUs", StringComparison.Ordinal));
    }

    [Fact]
    public void Run_TraceJobNotPreemptible_LasNeverPreemptsIt()
    {
        var cluster = SimulatedCluster.Uniform(1, 4);
        var trace = new Trace(
        [
            new TraceJob(1, TraceText.T0, TimeSpan.FromSeconds(2000), 4, "a") { Preemptible = false },
            new TraceJob(2, TraceText.T0.AddSeconds(10), TimeSpan.FromSeconds(1), 4, "a"),
        ], []);

        var result = Simulator.Run(trace, cluster, new LasPolicy());

        Assert.Equal(0, result.Metrics.Preemptions);
        Assert.Equal(2, result.Metrics.Finished);
    }
}
