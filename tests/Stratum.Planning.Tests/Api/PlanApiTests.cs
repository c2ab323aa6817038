using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Stratum.Server;

namespace Stratum.Planning.Tests.Api;

/// <summary>The planner's REST routes on a real server bound to a loopback port.</summary>
public sealed class PlanApiTests : IAsyncLifetime
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "stratum-plan-test-" + Guid.NewGuid().ToString("N")[..12]);
    private StratumServer? _server;
    private HttpClient? _client;

    private HttpClient Client => _client ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _server = await StratumServer.StartAsync(new ServerOptions
        {
            DataDirectory = _data,
            Port = 0,
            RegisterLocalNode = false,
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        });
        _client = new HttpClient { BaseAddress = _server.Address, Timeout = TimeSpan.FromSeconds(30) };
        _client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _server.AdminToken);
    }

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        if (_server is not null)
        {
            await _server.StopAsync();
        }

        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task PostTrain_ValidBody_ReturnsPlan()
    {
        var response = await Client.PostAsJsonAsync("/api/v1/plan/train", new { @params = 7e9, tokens = 1e12, gpu = "nvidia-h100-sxm", gpus = 64 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(json.RootElement.GetProperty("gpuHours").GetDouble() > 0);
        Assert.NotEmpty(json.RootElement.GetProperty("costs").EnumerateArray());
    }

    [Fact]
    public async Task PostServe_ValidBody_ReturnsPlan()
    {
        var response = await Client.PostAsJsonAsync("/api/v1/plan/serve", new { @params = 70e9, gpu = "nvidia-h100-sxm", gpus = 8, inputTokens = 1000, outputTokens = 1000 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(8, json.RootElement.GetProperty("gpusNeeded").GetInt32());
    }

    [Fact]
    public async Task PostTrain_BadBody_ReturnsProblemNamingFields()
    {
        var response = await Client.PostAsJsonAsync("/api/v1/plan/train", new { @params = -1, gpu = "nvidia-h100-sxm", gpus = 8 });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("params", body);
        Assert.Contains("tokens", body);
    }

    [Fact]
    public async Task PostTrain_UnknownField_IsRejected()
    {
        var response = await Client.PostAsJsonAsync("/api/v1/plan/train", new { @params = 7e9, tokens = 1e12, gpu = "nvidia-h100-sxm", gpus = 8, gpuz = 3 });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("gpuz", await response.Content.ReadAsStringAsync());
    }
}
