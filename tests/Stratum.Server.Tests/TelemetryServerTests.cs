using System.Net;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Execution;
using Stratum.Server.Advice;

namespace Stratum.Server.Tests;

/// <summary>
/// The real server with the telemetry sampler on a 1 s interval and a real job: stored series, the job's
/// usage summary, the used-resource gauges and `advise` end to end through the real client.
/// </summary>
public sealed class TelemetryServerTests : IAsyncLifetime
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "stratum-telemetry-" + Guid.NewGuid().ToString("N")[..12]);
    private StratumServer _server = null!;
    private StratumClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await StratumServer.StartAsync(new ServerOptions
        {
            DataDirectory = _data,
            Port = 0,
            RegisterLocalNode = false,
            SchedulingInterval = TimeSpan.FromMilliseconds(200),
            ReconcileInterval = TimeSpan.FromMilliseconds(100),
            StopGracePeriod = TimeSpan.FromSeconds(2),
            TelemetryInterval = TimeSpan.FromSeconds(1),
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        });
        _client = new StratumClient(_server.Address, _server.AdminToken);
        await _client.ApplyAsync(new ApplyRequest
        {
            Document = """
                pools:
                  - name: paid
                    price: {cpuCoreHour: 3600}
                nodes:
                  - name: n1
                    pool: paid
                    cpu: "8"
                    memory: 8Gi
                """,
        });
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.StopAsync();
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    [Fact]
    public async Task SleepingJobRequestingFourCpus_IsMeasuredAndAdvisedDownToOne()
    {
        var job = await _client.SubmitJobAsync(new SubmitJobRequest
        {
            Name = "sleeper", Command = ["sleep", "300"], Resources = new ResourcesDto { Cpu = "4", Memory = "64Mi" },
        });

        // A few sample rounds of the running job, read back through the API.
        var usage = await Polling.UntilAsync(() => _client.GetJobUsageAsync(job.Id), u => u.Samples >= 4, "four samples of the job");
        Assert.Equal(4, usage.CpuCoresRequested);
        Assert.InRange(usage.CpuCoresMax!.Value, 0, 0.2);
        Assert.InRange(usage.MemoryBytesMax!.Value, 100_000, 64L << 20);
        Assert.Null(usage.GpuUtilizationMax);

        var series = await _client.GetTelemetryAsync(job: job.Id, metric: "cpu_cores", since: "10m");
        Assert.Equal("raw", series.Resolution);
        Assert.Equal("cpu_cores", Assert.Single(series.Series).Metric);
        var node = await _client.GetTelemetryAsync(node: LocalNodeDiscovery.DefaultNodeName(), since: "5m", step: "1s");
        Assert.Contains(node.Series, s => s.Metric == "memory_used_bytes" && s.Points.All(p => p.Max > 0));
        Assert.Contains(node.Series, s => s.Metric == "cpu_utilization");

        var metrics = await new HttpClient { BaseAddress = _server.Address }.GetStringAsync("/metrics");
        Assert.Contains("stratum_project_used_cpu_cores{project=\"default\"}", metrics, StringComparison.Ordinal);

        // Ended before advice is asked (so its hours are fixed) and before the server stops (so no process outlives the test).
        await _client.CancelJobAsync(job.Id);
        await Polling.UntilAsync(() => _client.GetJobAsync(job.Id), j => j.State == "Cancelled", "the job cancelled");
        var advice = await _client.GetAdviceAsync("1h");

        var cpu = Assert.Single(advice.Recommendations, a => a.Kind == AdviceRules.CpuOverRequest);
        Assert.Equal(job.Id, cpu.JobId);
        Assert.Contains("request 1", cpu.Message, StringComparison.Ordinal);
        // Three spare cores over the seconds it ran, at one unit of money per core-second.
        var ended = (await _client.GetJobAsync(job.Id)).EndedAt ?? DateTimeOffset.UtcNow;
        var ranSeconds = (ended - (await _client.GetJobAsync(job.Id)).StartedAt!.Value).TotalSeconds;
        Assert.InRange((double)cpu.MoneySaved, 3 * ranSeconds * 0.9, 3 * ranSeconds * 1.1);
        Assert.Equal(cpu.MoneySaved, advice.MoneySaved);
    }

    [Fact]
    public async Task Telemetry_BadQueries_AreRejectedNamingTheField()
    {
        var neither = await Assert.ThrowsAsync<StratumApiException>(() => _client.GetTelemetryAsync());
        var since = await Assert.ThrowsAsync<StratumApiException>(() => _client.GetTelemetryAsync(node: "n1", since: "forever"));
        var step = await Assert.ThrowsAsync<StratumApiException>(() => _client.GetTelemetryAsync(node: "n1", since: "30d", step: "10s"));
        var missing = await Assert.ThrowsAsync<StratumApiException>(() => _client.GetTelemetryAsync(job: 999_999));
        var advice = await Assert.ThrowsAsync<StratumApiException>(() => _client.GetAdviceAsync("soon"));

        Assert.Equal(HttpStatusCode.BadRequest, neither.StatusCode);
        Assert.Contains("node", neither.Message, StringComparison.Ordinal);
        Assert.Contains("since", since.Message, StringComparison.Ordinal);
        Assert.Contains("step", step.Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("since", advice.Message, StringComparison.Ordinal);

        var anonymous = await new HttpClient { BaseAddress = _server.Address }.GetAsync("/api/v1/telemetry?node=n1");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }
}
