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
    public async Task GetCatalog_ListsEveryAcceleratorWithDatedFigures()
    {
        // The A100s have no FP8 figure: listing them must not fail on it.
        var response = await Client.GetAsync("/api/v1/plan/catalog");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var accelerators = json.RootElement.GetProperty("accelerators").EnumerateArray().ToList();
        Assert.Equal(CatalogLoader.Default.Accelerators.Count, accelerators.Count);
        var a100 = accelerators.Single(a => a.GetProperty("name").GetString() == "nvidia-a100-80gb");
        var fp8 = a100.GetProperty("fp8Tflops");
        Assert.True(!fp8.TryGetProperty("value", out var value) || value.ValueKind == JsonValueKind.Null, $"an A100 has no FP8 figure: {fp8}");
        Assert.Equal(312, a100.GetProperty("bf16Tflops").GetProperty("value").GetDouble());
        Assert.False(string.IsNullOrEmpty(a100.GetProperty("bf16Tflops").GetProperty("date").GetString()));
    }

    [Fact]
    public async Task PostTrain_UnknownGpu_ReturnsProblemListingKnownOnes()
    {
        var problem = await Problem("/api/v1/plan/train", new { @params = 7e9, tokens = 1e12, gpu = "h100", gpus = 8 });

        Assert.Contains("nvidia-h100-sxm", Field(problem, "gpu"));
    }

    [Fact]
    public async Task PostTrain_ModelFitsNoLayout_ReturnsProblemSayingWhatItNeeds()
    {
        var problem = await Problem("/api/v1/plan/train", new { @params = 1e15, tokens = 1e12, gpu = "nvidia-l40s", gpus = 8 });

        Assert.Contains("does not fit", Field(problem, "gpus"));
    }

    [Fact]
    public async Task PostTrain_ImpossibleDeadline_ReturnsProblemNamingDeadlineDays()
    {
        var problem = await Problem("/api/v1/plan/train", new { @params = 1e12, tokens = 1e14, gpu = "nvidia-a100-40gb", deadlineDays = 0.04 });

        var message = Field(problem, "deadlineDays");
        Assert.DoesNotContain("Infinity", message);
        Assert.DoesNotContain("NaN", message);
    }

    [Fact]
    public async Task PostServe_ZeroTokens_ReturnsProblemNamingBodyFields()
    {
        var problem = await Problem("/api/v1/plan/serve", new { @params = 70e9, gpu = "nvidia-h100-sxm", gpus = 0, inputTokens = 0, outputTokens = -1 });

        Assert.NotEmpty(Field(problem, "inputTokens"));
        Assert.NotEmpty(Field(problem, "outputTokens"));
        Assert.NotEmpty(Field(problem, "gpus"));
    }

    [Fact]
    public async Task PostTrain_BadExpertParallel_ReturnsProblemNamingIt()
    {
        var problem = await Problem("/api/v1/plan/train", new { @params = 47e9, activeParams = 13e9, tokens = 1e12, gpu = "nvidia-h100-sxm", gpus = 64, expertParallel = 0 });

        Assert.NotEmpty(Field(problem, "expertParallel"));
    }

    private async Task<JsonElement> Problem(string path, object body)
    {
        var response = await Client.PostAsJsonAsync(path, body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.Clone();
    }

    private static string Field(JsonElement problem, string field)
    {
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), $"no error for '{field}' in {problem}");
        return string.Join("; ", messages.EnumerateArray().Select(m => m.GetString()));
    }

    [Fact]
    public async Task PostTrain_UnknownField_IsRejected()
    {
        var response = await Client.PostAsJsonAsync("/api/v1/plan/train", new { @params = 7e9, tokens = 1e12, gpu = "nvidia-h100-sxm", gpus = 8, gpuz = 3 });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("gpuz", await response.Content.ReadAsStringAsync());
    }
}
