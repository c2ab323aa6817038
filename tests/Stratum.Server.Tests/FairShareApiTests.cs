using System.Net;
using System.Net.Http.Json;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Execution;
using Stratum.Server.Api;

namespace Stratum.Server.Tests;

/// <summary>
/// GET /api/v1/fair-share on the real server with a simulated GPU pool: a finished job's GPU-seconds become
/// its project's decayed usage, a running job's GPUs its dominant share, and the penalty combines the two.
/// </summary>
public sealed class FairShareApiTests : IAsyncLifetime
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "stratum-fairshare-" + Guid.NewGuid().ToString("N")[..12]);
    private StratumServer _server = null!;
    private StratumClient _client = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _server = await StratumServer.StartAsync(new ServerOptions
        {
            DataDirectory = _data,
            Port = 0,
            RegisterLocalNode = false,
            SchedulingInterval = TimeSpan.FromMilliseconds(200),
            ReconcileInterval = TimeSpan.FromMilliseconds(100),
            TelemetryInterval = TimeSpan.Zero,
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        });
        _client = new StratumClient(_server.Address, _server.AdminToken);
        _http = new HttpClient { BaseAddress = _server.Address };
        _http.DefaultRequestHeaders.Authorization = new("Bearer", _server.AdminToken);
        await _client.ApplyAsync(new ApplyRequest
        {
            Document = """
                pools:
                  - name: sim
                    executor: simulated
                nodes:
                  - name: sim-1
                    pool: sim
                    cpu: "16"
                    memory: 64Gi
                    accelerators: {nvidia-h100: 4}
                projects:
                  - name: vision
                users:
                  - name: ana
                    roles: {vision: member}
                """,
        });
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        _client.Dispose();
        await _server.StopAsync();
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    [Fact]
    public async Task FinishedAndRunningGpuJobs_ShowAsDecayedUsageDominantShareAndPenalty()
    {
        var finished = await _client.SubmitJobAsync(new SubmitJobRequest
        {
            Name = "two-gpus", Command = ["x"], Resources = new ResourcesDto { Cpu = "1", Memory = "1Gi", Gpus = 2 },
            Env = new Dictionary<string, string> { [SimulatedJobSettings.DurationVariable] = "2s" },
        });
        var done = await Polling.UntilAsync(() => _client.GetJobAsync(finished.Id), j => j.State == "Succeeded", "the two-GPU job to succeed");
        var attempt = Assert.Single(done.Attempts);
        var gpuHours = 2 * (attempt.EndedAt!.Value - attempt.StartedAt).TotalHours;

        await _client.SubmitJobAsync(new SubmitJobRequest
        {
            Name = "one-gpu", Project = "vision", Command = ["x"], Resources = new ResourcesDto { Cpu = "1", Memory = "1Gi", Gpus = 1 },
        });
        var state = await Polling.UntilAsync(
            () => _http.GetFromJsonAsync<FairShareDto>("/api/v1/fair-share", Json.Options)!,
            s => s!.Projects.Any(p => p.Project == "vision" && p.DominantShare > 0) && s.Projects.Any(p => p.DecayedGpuHours > 0),
            "the pass that sees the finished job's usage and the running job");

        Assert.Equal(("default", true, (double?)10, 168.0), (state!.Policy, state.FairShare, state.Weight, state.HalfLifeHours));
        Assert.NotNull(state.At);
        var byName = state.Projects.ToDictionary(p => p.Project);
        Assert.Equal(["default", "vision"], byName.Keys.Order());

        // A week's half-life takes off about a millionth in seconds: the usage is the attempt's GPU-hours, to the
        // millisecond the API rounds its times to (the controller records the unrounded ones).
        Assert.Equal(gpuHours, byName["default"].DecayedGpuHours, 2 * 0.002 / 3600);
        Assert.Equal((1.0, 0.5, 0.0), (byName["default"].UsageShare, byName["default"].Entitlement, byName["default"].DominantShare));
        Assert.Equal(10 * (1.0 + 0) / 2, byName["default"].Penalty!.Value, 9);

        // One of sim-1's 4 GPUs (its CPU and memory shares are smaller) and no history.
        Assert.Equal((0.0, 0.0, 0.5, 0.25), (byName["vision"].DecayedGpuHours, byName["vision"].UsageShare, byName["vision"].Entitlement, byName["vision"].DominantShare));
        Assert.Equal(10 * (0 + 0.25) / 2, byName["vision"].Penalty!.Value, 9);
    }

    [Fact]
    public async Task WithoutToken_IsRefused_AndAUserSeesOnlyTheirProjects()
    {
        using var anonymous = new HttpClient { BaseAddress = _server.Address };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/fair-share")).StatusCode);

        // The server's first pass may come before the apply: wait for one that knows both projects.
        await Polling.UntilAsync(() => _http.GetFromJsonAsync<FairShareDto>("/api/v1/fair-share", Json.Options)!, s => s!.Projects.Count == 2, "a pass after the apply");
        var token = await CreateUserTokenAsync("ana");
        using var ana = new HttpClient { BaseAddress = _server.Address };
        ana.DefaultRequestHeaders.Authorization = new("Bearer", token);

        var seen = await ana.GetFromJsonAsync<FairShareDto>("/api/v1/fair-share", Json.Options);

        var only = Assert.Single(seen!.Projects);
        Assert.Equal(("vision", 0.5), (only.Project, only.Entitlement));
    }

    private async Task<string> CreateUserTokenAsync(string user)
    {
        using var response = await _http.PostAsJsonAsync("/api/v1/tokens", new CreateTokenRequest { User = user, Name = "test" }, Json.Options);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<CreatedTokenDto>(Json.Options))!.Secret;
    }
}
