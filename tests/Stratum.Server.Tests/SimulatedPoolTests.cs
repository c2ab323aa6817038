using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Execution;
using Stratum.Server.Advice;
using Stratum.Server.Execution;
using Stratum.Server.Hosting;

namespace Stratum.Server.Tests;

/// <summary>
/// A pool on the simulated executor inside the real server, with telemetry every second: jobs start, end
/// and stop through the controller as real ones do, and their made-up usage reaches the usage API,
/// <c>/metrics</c> and advice exactly as measured usage does.
/// </summary>
public sealed class SimulatedPoolTests : IAsyncLifetime
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "stratum-simulated-" + Guid.NewGuid().ToString("N")[..12]);
    private StratumServer _server = null!;
    private StratumClient _client = null!;
    private ServerOptions _options = null!;

    public async Task InitializeAsync()
    {
        _options = new ServerOptions
        {
            DataDirectory = _data,
            Port = 0,
            RegisterLocalNode = false,
            SchedulingInterval = TimeSpan.FromMilliseconds(200),
            ReconcileInterval = TimeSpan.FromMilliseconds(100),
            StopGracePeriod = TimeSpan.FromSeconds(2),
            TelemetryInterval = TimeSpan.FromSeconds(1),
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        };
        _server = await StratumServer.StartAsync(_options);
        _client = new StratumClient(_server.Address, _server.AdminToken);
        await _client.ApplyAsync(new ApplyRequest
        {
            Document = """
                pools:
                  - name: sim
                    executor: simulated
                    price: {gpuHour: 3600}
                nodes:
                  - name: sim-1
                    pool: sim
                    cpu: "16"
                    memory: 64Gi
                    accelerators: {nvidia-h100: 4}
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
    public async Task JobUsingOneOfFourGpus_ShowsInUsageAndMetricsAndIsAdvisedToRequestOne()
    {
        var job = await _client.SubmitJobAsync(new SubmitJobRequest
        {
            Name = "four-gpus",
            Command = ["python", "train.py"],
            Resources = new ResourcesDto { Cpu = "8", Memory = "16Gi", Gpus = 4 },
            Env = new Dictionary<string, string>
            {
                [SimulatedJobSettings.GpuUtilizationVariable] = "0.8",
                [SimulatedJobSettings.CpuVariable] = "2",
                [SimulatedJobSettings.MemoryVariable] = "4Gi",
            },
        });

        var usage = await Polling.UntilAsync(() => _client.GetJobUsageAsync(job.Id), u => u.Samples >= 3, "three samples of the simulated job");
        Assert.Equal(0.2, usage.GpuUtilizationMax!.Value, 6);
        Assert.Equal(2, usage.CpuCoresMax!.Value, 6);
        Assert.Equal(4L << 30, usage.MemoryBytesMax);

        using var anonymous = new HttpClient { BaseAddress = _server.Address };
        var metrics = await anonymous.GetStringAsync("/metrics");
        Assert.Contains("stratum_project_used_gpus{project=\"default\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("stratum_project_used_cpu_cores{project=\"default\"} 2\n", metrics, StringComparison.Ordinal);

        var advice = await _client.GetAdviceAsync("1h");
        var gpus = Assert.Single(advice.Recommendations, a => a.Kind == AdviceRules.GpuOverRequest);
        Assert.Equal(job.Id, gpus.JobId);
        Assert.Contains("requests 4 GPUs per replica but kept at most 1 busy: request 1", gpus.Message, StringComparison.Ordinal);
        Assert.True(gpus.MoneySaved > 0, "three spare GPUs at a unit per GPU-second save money");

        await _client.CancelJobAsync(job.Id);
        var cancelled = await Polling.UntilAsync(() => _client.GetJobAsync(job.Id), j => j.State == "Cancelled", "the job cancelled");
        Assert.Equal(SimulatedExecutor.TerminatedExitCode, cancelled.ExitCode);
        var log = await File.ReadAllTextAsync(Path.Combine(_data, "jobs", job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "attempt-1", "replica-0", "stdout.log"));
        Assert.Contains("received SIGTERM", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JobsEndByThemselves_WithTheirExitCode_AndBadSettingsFailNamingTheVariable()
    {
        var done = await _client.SubmitJobAsync(new SubmitJobRequest
        {
            Name = "short", Command = ["x"], Resources = new ResourcesDto { Cpu = "1", Memory = "1Gi", Gpus = 1 },
            Env = new Dictionary<string, string> { [SimulatedJobSettings.DurationVariable] = "1s" },
        });
        var failing = await _client.SubmitJobAsync(new SubmitJobRequest
        {
            Name = "failing", Command = ["x"], Resources = new ResourcesDto { Cpu = "1", Memory = "1Gi" },
            Env = new Dictionary<string, string> { [SimulatedJobSettings.DurationVariable] = "1s", [SimulatedJobSettings.ExitCodeVariable] = "3" },
        });
        var malformed = await _client.SubmitJobAsync(new SubmitJobRequest
        {
            Name = "malformed", Command = ["x"], Resources = new ResourcesDto { Cpu = "1", Memory = "1Gi" },
            Env = new Dictionary<string, string> { [SimulatedJobSettings.DurationVariable] = "soon" },
        });

        var succeeded = await Polling.UntilAsync(() => _client.GetJobAsync(done.Id), j => j.State is "Succeeded" or "Failed" or "Cancelled", "the short job ended");
        var failed = await Polling.UntilAsync(() => _client.GetJobAsync(failing.Id), j => j.State is "Succeeded" or "Failed" or "Cancelled", "the failing job ended");
        var rejected = await Polling.UntilAsync(() => _client.GetJobAsync(malformed.Id), j => j.State is "Succeeded" or "Failed" or "Cancelled", "the malformed job ended");

        Assert.Equal(("Succeeded", (int?)0), (succeeded.State, succeeded.ExitCode));
        Assert.Equal(("Failed", (int?)3), (failed.State, failed.ExitCode));
        Assert.Equal(("Failed", (int?)SimulatedExecutor.BadSettingsExitCode), (rejected.State, rejected.ExitCode));
        var stderr = await File.ReadAllTextAsync(Path.Combine(_data, "jobs", malformed.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "attempt-1", "replica-0", "stderr.log"));
        Assert.Contains("SIM_DURATION='soon' is not a duration", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckConfig_FlagsTheSimulatedPoolAsNotForProduction()
    {
        var finding = await SimulatedCheck.RunAsync(_options);

        Assert.NotNull(finding);
        Assert.Equal(ConfigCheckOutcome.Warning, finding.Outcome);
        Assert.Contains("pool(s) sim run on the simulated executor", finding.Detail, StringComparison.Ordinal);
        Assert.Contains("not production", finding.Detail, StringComparison.Ordinal);

        // A server without simulated pools has no such finding.
        Assert.Null(await SimulatedCheck.RunAsync(new ServerOptions { DataDirectory = Path.Combine(_data, "elsewhere") }));
    }
}
