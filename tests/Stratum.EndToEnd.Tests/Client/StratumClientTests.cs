using System.Net;
using System.Text;
using Stratum.Client;
using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests.Client;

/// <summary>The typed client against a recorded HTTP exchange: what it sends and how it reads errors.</summary>
public sealed class StratumClientTests
{
    private static readonly Uri Address = new("http://127.0.0.1:8470");

    [Fact]
    public async Task SubmitJobAsync_WithIdempotencyKey_SendsKeyTokenAndCamelCaseBody()
    {
        using var handler = new RecordingHandler(_ => Json(HttpStatusCode.Created, JobJson(7, "Pending")));
        using var client = new StratumClient(Address, "secret", handler);

        var job = await client.SubmitJobAsync(new SubmitJobRequest { Name = "train", Project = "vision", Command = ["sh", "train.sh"] }, "key-1");

        var request = Assert.Single(handler.Requests);
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("http://127.0.0.1:8470/api/v1/jobs", request.Uri.ToString());
        Assert.Equal("Bearer secret", request.Authorization);
        Assert.Equal("key-1", request.IdempotencyKey);
        Assert.Contains("\"project\":\"vision\"", request.Body, StringComparison.Ordinal);
        Assert.Equal(7, job.Id);
        Assert.Equal("Pending", job.State);
    }

    [Fact]
    public async Task ListJobsAsync_WithFilters_EncodesEveryStateAndSkipsEmptyOnes()
    {
        using var handler = new RecordingHandler(_ => Json(HttpStatusCode.OK, """{"items":[],"nextCursor":null}"""));
        using var client = new StratumClient(new Uri("http://host:1/base"), "t", handler);

        await client.ListJobsAsync(new JobListQuery { Project = "vision", States = ["Running", "Pending"], Limit = 5, Cursor = "a b" });

        Assert.Equal("http://host:1/base/api/v1/jobs?project=vision&limit=5&cursor=a%20b&state=Running&state=Pending", handler.Requests[0].Uri.AbsoluteUri);
    }

    [Fact]
    public async Task ListAllJobsAsync_TwoPages_FollowsTheCursorToTheEnd()
    {
        using var handler = new RecordingHandler(request => request.RequestUri!.Query.Contains("cursor=c1", StringComparison.Ordinal)
            ? Json(HttpStatusCode.OK, $$"""{"items":[{{JobJson(1, "Running")}}],"nextCursor":null}""")
            : Json(HttpStatusCode.OK, $$"""{"items":[{{JobJson(3, "Pending")}},{{JobJson(2, "Pending")}}],"nextCursor":"c1"}"""));
        using var client = new StratumClient(Address, "t", handler);

        var ids = new List<long>();
        await foreach (var job in client.ListAllJobsAsync())
        {
            ids.Add(job.Id);
        }

        Assert.Equal([3, 2, 1], ids);
        Assert.Equal(2, handler.Requests.Count);
    }

    [Fact]
    public async Task GetProjectAsync_ProblemWithFieldErrors_ThrowsWithFieldsInTheMessage()
    {
        using var handler = new RecordingHandler(_ => Problem(
            HttpStatusCode.UnprocessableEntity,
            """{"type":"about:blank","title":"Invalid job","status":422,"errors":{"project":["no project named 'x'; run 'stratum projects list'"]}}"""));
        using var client = new StratumClient(Address, "t", handler);

        var error = await Assert.ThrowsAsync<StratumApiException>(() => client.GetProjectAsync("x"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, error.StatusCode);
        Assert.Equal("project: no project named 'x'; run 'stratum projects list'", error.Message);
        Assert.Equal("Invalid job", error.Title);
        Assert.Equal(["no project named 'x'; run 'stratum projects list'"], error.Errors["project"]);
    }

    [Fact]
    public async Task GetJobAsync_ProblemWithDetailOnly_UsesTheDetail()
    {
        using var handler = new RecordingHandler(_ => Problem(HttpStatusCode.NotFound, """{"title":"Not found","status":404,"detail":"no job 42"}"""));
        using var client = new StratumClient(Address, "t", handler);

        var error = await Assert.ThrowsAsync<StratumApiException>(() => client.GetJobAsync(42));

        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.Equal("no job 42", error.Message);
    }

    [Fact]
    public async Task GetInfoAsync_EmptyUnauthorized_SaysWhatToDoAboutTheToken()
    {
        using var handler = new RecordingHandler(_ => new HttpResponseMessage(HttpStatusCode.Unauthorized));
        using var client = new StratumClient(Address, "t", handler);

        var error = await Assert.ThrowsAsync<StratumApiException>(() => client.GetInfoAsync());

        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Contains("STRATUM_TOKEN", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListNodesAsync_ConnectionRefused_ThrowsUnreachableNamingAddressAndStratumUp()
    {
        using var handler = new RecordingHandler(_ => throw new HttpRequestException("Connection refused (127.0.0.1:8470)"));
        using var client = new StratumClient(Address, "t", handler);

        var error = await Assert.ThrowsAsync<StratumUnreachableException>(() => client.ListNodesAsync());

        Assert.Equal(client.Address, error.Address);
        Assert.Contains("http://127.0.0.1:8470/", error.Message, StringComparison.Ordinal);
        Assert.Contains("stratum up", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListNodesAsync_CallerCancels_ThrowsCancellationNotUnreachable()
    {
        using var handler = new RecordingHandler(_ => Json(HttpStatusCode.OK, "[]"));
        using var client = new StratumClient(Address, "t", handler);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ListNodesAsync(cancelled.Token));
    }

    [Fact]
    public async Task StreamLogsAsync_Follow_YieldsLinesAndAsksForTheStream()
    {
        using var handler = new RecordingHandler(_ => new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new StringContent("step 1 loss 2.0\nstep 2 loss 1.9\n", Encoding.UTF8, "text/plain"),
        });
        using var client = new StratumClient(Address, "t", handler);

        var lines = new List<string>();
        await foreach (var line in client.StreamLogsAsync(5, new LogQuery { Follow = true, Stderr = true, Rank = 1, Attempt = 2 }))
        {
            lines.Add(line);
        }

        Assert.Equal(["step 1 loss 2.0", "step 2 loss 1.9"], lines);
        Assert.Equal("/api/v1/jobs/5/logs?rank=1&stream=stderr&attempt=2&follow=true", handler.Requests[0].Uri.PathAndQuery);
    }

    [Fact]
    public async Task RevokeTokenAsync_NoContent_Completes()
    {
        using var handler = new RecordingHandler(_ => new HttpResponseMessage(HttpStatusCode.NoContent));
        using var client = new StratumClient(Address, "t", handler);

        await client.RevokeTokenAsync("tok 1");

        Assert.Equal(HttpMethod.Delete, handler.Requests[0].Method);
        Assert.Equal("/api/v1/tokens/tok%201", handler.Requests[0].Uri.AbsolutePath);
    }

    [Fact]
    public void Connect_EnvironmentVariables_WinOverConnectionFile()
    {
        var directory = TempDirectory();
        new LocalConnection("http://127.0.0.1:1111", "from-file").Write(directory);
        var variables = new Dictionary<string, string?> { ["STRATUM_ADDR"] = "http://10.0.0.5:8470", ["STRATUM_TOKEN"] = "from-env" };

        using var client = StratumClient.Connect(directory, name => variables.GetValueOrDefault(name));

        Assert.Equal("http://10.0.0.5:8470/", client.Address.ToString());
    }

    [Fact]
    public void Connect_NoVariables_ReadsConnectionFileOfStratumData()
    {
        var directory = TempDirectory();
        new LocalConnection("http://127.0.0.1:4321/", "from-file").Write(directory);
        var variables = new Dictionary<string, string?> { ["STRATUM_DATA"] = directory };

        using var client = StratumClient.Connect(null, name => variables.GetValueOrDefault(name));

        Assert.Equal("http://127.0.0.1:4321/", client.Address.ToString());
    }

    [Fact]
    public void Connect_NothingConfigured_ThrowsUnreachableSayingWhereItLooked()
    {
        var directory = TempDirectory();

        var error = Assert.Throws<StratumUnreachableException>(() => StratumClient.Connect(directory, _ => null));

        Assert.Contains(LocalConnection.PathIn(directory), error.Message, StringComparison.Ordinal);
        Assert.Contains("stratum up", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Connect_AddressNotHttp_ThrowsUnreachableNamingTheVariable()
    {
        var variables = new Dictionary<string, string?> { ["STRATUM_ADDR"] = "localhost:8470", ["STRATUM_TOKEN"] = "t" };

        var error = Assert.Throws<StratumUnreachableException>(() => StratumClient.Connect(TempDirectory(), name => variables.GetValueOrDefault(name)));

        Assert.Contains("STRATUM_ADDR", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("running", "Running")]
    [InlineData(" PREEMPTED ", "Preempted")]
    [InlineData("done", null)]
    public void Normalize_StateSpelling_ReturnsCanonicalOrNull(string text, string? expected) =>
        Assert.Equal(expected, JobStates.Normalize(text));

    internal static string JobJson(long id, string state) => $$"""
        {"id":{{id}},"name":"j{{id}}","project":"default","owner":"admin","state":"{{state}}","reason":"","command":["true"],
         "resources":{"cpu":"1","memory":"1Gi","gpus":0,"accelerators":{},"cpuMillis":1000,"memoryBytes":1073741824},
         "replicas":1,"priority":0,"preemptible":false,"maxAttempts":1,"submittedAt":"2025-01-01T00:00:00Z","updatedAt":"2025-01-01T00:00:00Z","attempts":[]}
        """;

    private static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    private static HttpResponseMessage Problem(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/problem+json") };

    private static string TempDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "stratum-client-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        return directory;
    }
}

/// <summary>An HTTP handler that records what was sent and answers from a function.</summary>
internal sealed class RecordingHandler(Func<HttpRequestMessage, HttpResponseMessage> respond) : HttpMessageHandler
{
    public List<RecordedRequest> Requests { get; } = [];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var body = request.Content is null ? string.Empty : await request.Content.ReadAsStringAsync(cancellationToken);
        Requests.Add(new RecordedRequest(
            request.Method,
            request.RequestUri!,
            request.Headers.Authorization?.ToString(),
            request.Headers.TryGetValues("Idempotency-Key", out var keys) ? keys.Single() : null,
            body));
        return respond(request);
    }
}

internal sealed record RecordedRequest(HttpMethod Method, Uri Uri, string? Authorization, string? IdempotencyKey, string Body);
