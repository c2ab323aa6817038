using System.Net;
using System.Net.Http.Json;
using Stratum.Client.Contracts;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Server.Usage;

namespace Stratum.Server.Tests;

public sealed class UsageCalculatorTests
{
    private static readonly DateTimeOffset Day0 = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly Dictionary<string, Pool> Pools = new()
    {
        ["gpu"] = new Pool { Name = "gpu", Price = new PriceModel(PricingKind.OnDemand, PerAcceleratorHour: 2.5m, PerCpuCoreHour: 0.04m, PerMemoryGbHour: 0.005m) },
        ["spot"] = new Pool { Name = "spot", Price = new PriceModel(PricingKind.Spot, PerAcceleratorHour: 1m) },
    };

    private static readonly Dictionary<string, string> PoolOfNode = new() { ["g1"] = "gpu", ["s1"] = "spot" };

    private static Job Job(long id, string project, string owner, int gpus, double cpus, long memoryGi, int replicas, params (string Node, DateTimeOffset Start, DateTimeOffset? End)[] attempts) => new()
    {
        Id = id,
        Owner = owner,
        State = attempts.All(a => a.End is not null) ? JobState.Succeeded : JobState.Running,
        SubmittedAt = Day0,
        Spec = new JobSpec
        {
            Name = $"job{id}",
            Project = project,
            Command = ["train"],
            Replicas = replicas,
            Resources = ResourceVector.Of(cpus, memoryGi << 30, gpus > 0 ? "nvidia-h100" : null, gpus),
        },
        Attempts = [.. attempts.Select((a, i) => new JobAttempt
        {
            Number = i + 1,
            StartedAt = a.Start,
            EndedAt = a.End,
            Placement = [.. Enumerable.Range(0, replicas).Select(r => new ReplicaPlacement(r, a.Node, []))],
        })],
    };

    [Fact]
    public void Group_ByProject_PricesEveryResourceFromThePool()
    {
        // 2 replicas x 4 GPUs x 3 h = 24 GPU-hours; 2 x 8 cores x 3 h = 48 core-hours; 2 x 64 GiB x 3 h = 384 GiB-hours.
        var job = Job(1, "vision", "alice", 4, 8, 64, 2, ("g1", Day0.AddHours(1), Day0.AddHours(4)));
        var slices = UsageCalculator.Slices([job], PoolOfNode, Pools, Day0, Day0.AddDays(1));
        var (rows, total) = UsageCalculator.Group(slices, UsageGrouping.Project);

        var row = Assert.Single(rows);
        Assert.Equal("vision", row.Key);
        Assert.Equal(24, row.GpuHours, 9);
        Assert.Equal(48, row.CpuHours, 9);
        Assert.Equal(384, row.MemoryGbHours, 9);
        Assert.Equal(24 * 2.5m + 48 * 0.04m + 384 * 0.005m, row.Cost);
        Assert.Equal(1, row.Jobs);
        Assert.Equal(row.Cost, total.Cost);
    }

    [Fact]
    public void Slices_AttemptAcrossMidnight_IsSplitIntoDays()
    {
        var job = Job(1, "vision", "alice", 1, 1, 1, 1, ("g1", Day0.AddHours(22), Day0.AddHours(26)));
        var (rows, _) = UsageCalculator.Group(UsageCalculator.Slices([job], PoolOfNode, Pools, Day0, Day0.AddDays(3)), UsageGrouping.Day);
        Assert.Equal(["2026-11-01", "2026-11-02"], rows.Select(r => r.Key));
        Assert.Equal([2.0, 2.0], rows.Select(r => r.GpuHours));
    }

    [Fact]
    public void Slices_ClipToTheWindowAndCountRunningJobsUntilNow()
    {
        var old = Job(1, "vision", "alice", 1, 1, 1, 1, ("g1", Day0.AddHours(-10), Day0.AddHours(2)));
        var running = Job(2, "nlp", "bob", 2, 1, 1, 1, ("s1", Day0.AddHours(5), null));
        var until = Day0.AddHours(6);
        var (rows, total) = UsageCalculator.Group(UsageCalculator.Slices([old, running], PoolOfNode, Pools, Day0, until), UsageGrouping.User);
        Assert.Equal(2, rows.Single(r => r.Key == "alice").GpuHours, 9);
        Assert.Equal(2, rows.Single(r => r.Key == "bob").GpuHours, 9);
        Assert.Equal(2m * 2.5m + 2m * 1m + 2 * 0.04m + 2 * 0.005m, total.Cost);
    }

    [Fact]
    public void Group_ByPool_SeparatesAttemptsOnDifferentPools()
    {
        var moved = Job(1, "vision", "alice", 1, 0.5, 1, 1, ("s1", Day0, Day0.AddHours(1)), ("g1", Day0.AddHours(2), Day0.AddHours(3)));
        var (rows, _) = UsageCalculator.Group(UsageCalculator.Slices([moved], PoolOfNode, Pools, Day0, Day0.AddDays(1)), UsageGrouping.Pool);
        Assert.Equal(["gpu", "spot"], rows.Select(r => r.Key));
        Assert.All(rows, r => Assert.Equal(1, r.GpuHours, 9));
    }
}

public sealed class UsageApiTests
{
    [Fact]
    public async Task Usage_AfterAJobRan_ReportsItsCpuHoursAndCost()
    {
        await using var server = await TestServer.StartAsync(declareNode: false);
        await server.ApplyAsync("""
            pools:
              - name: paid
                price: {cpuCoreHour: 3600}
            nodes:
              - name: n1
                pool: paid
                cpu: "4"
                memory: 8Gi
            """);
        var job = await server.SubmitAsync(TestServer.Job("sleep", "0.5") with { Resources = new ResourcesDto { Cpu = "2", Memory = "64Mi" } });
        var done = await server.WaitForStateAsync(job.Id, "Succeeded");
        var seconds = (done.EndedAt!.Value - done.StartedAt!.Value).TotalSeconds;

        var report = await server.Admin.GetFromJsonAsync<UsageReportDto>("/api/v1/usage?by=project&since=1h", TestServer.JsonOptions);
        var row = Assert.Single(report!.Rows);
        Assert.Equal("default", row.Key);
        Assert.Equal(2 * seconds / 3600, row.CpuHours, 3);
        // 3600 per core-hour is one per core-second: the cost is the job's core-seconds.
        Assert.Equal((decimal)(2 * seconds), row.Cost, 1);
        Assert.Equal(1, row.Jobs);

        var bad = await server.Admin.GetAsync("/api/v1/usage?by=planet");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }
}
