using System.Net;
using System.Net.Http.Json;
using System.Text;
using Stratum.Client.Contracts;

namespace Stratum.Server.Tests;

public sealed class ApiTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Health_WithoutToken_IsOpen()
    {
        using var anonymous = _server.Client(null);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        var ready = await WaitAsync(async () => (await anonymous.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK);
        Assert.True(ready);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("stm_not-a-real-token")]
    public async Task Api_WithoutValidToken_Is401ProblemJson(string? token)
    {
        using var client = _server.Client(token);
        var response = await client.GetAsync("/api/v1/jobs");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task OpenApi_WithToken_DescribesJobRoutes()
    {
        var document = await _server.Admin.GetStringAsync("/openapi/v1.json");
        Assert.Contains("/api/v1/jobs", document);
        Assert.Contains("SubmitJob", document);
    }

    [Fact]
    public async Task Submit_EchoJob_SucceedsWithLogsAndEnvironment()
    {
        var job = await _server.SubmitAsync(TestServer.Job("sh", "-c", "echo hello from $STRATUM_JOB_ID rank $STRATUM_REPLICA_RANK of $STRATUM_WORLD_SIZE; echo oops >&2"));
        Assert.True(job.Id > 0);
        Assert.Equal("Pending", job.State);

        var done = await _server.WaitForStateAsync(job.Id, "Succeeded");
        Assert.Equal(0, done.ExitCode);
        Assert.Equal("n1", Assert.Single(Assert.Single(done.Attempts).Placement).Node);

        var stdout = await _server.Admin.GetStringAsync($"/api/v1/jobs/{job.Id}/logs");
        Assert.Equal($"hello from {job.Id} rank 0 of 1\n", stdout);
        var stderr = await _server.Admin.GetStringAsync($"/api/v1/jobs/{job.Id}/logs?stream=stderr");
        Assert.Equal("oops\n", stderr);
    }

    [Fact]
    public async Task Submit_SameIdempotencyKey_ReturnsTheFirstJob()
    {
        async Task<HttpResponseMessage> Send()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/jobs") { Content = JsonContent.Create(TestServer.Job("true"), options: TestServer.JsonOptions) };
            request.Headers.Add("Idempotency-Key", "submit-once");
            return await _server.Admin.SendAsync(request);
        }

        var first = await Send();
        var second = await Send();
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var a = await first.Content.ReadFromJsonAsync<JobDto>(TestServer.JsonOptions);
        var b = await second.Content.ReadFromJsonAsync<JobDto>(TestServer.JsonOptions);
        Assert.Equal(a!.Id, b!.Id);
        var page = await _server.Admin.GetFromJsonAsync<PageDto<JobDto>>("/api/v1/jobs", TestServer.JsonOptions);
        Assert.Single(page!.Items);
    }

    [Theory]
    [InlineData("{\"command\": [\"true\"", "malformed")]
    [InlineData("{\"command\": [\"true\"], \"colour\": \"blue\"}", "colour")]
    [InlineData("{\"command\": [\"true\"], \"resources\": {\"cpu\": \"-2\"}}", "resources.cpu")]
    [InlineData("{\"command\": [\"true\"], \"resources\": {\"memory\": \"900Pi\"}}", "resources.memory")]
    [InlineData("{\"command\": [\"true\"], \"replicas\": 0}", "replicas")]
    [InlineData("{\"command\": []}", "command")]
    [InlineData("{\"command\": [\"true\"], \"project\": \"nope\"}", "no project named 'nope'")]
    [InlineData("{\"command\": [\"true\"], \"name\": \"../etc\"}", "name")]
    [InlineData("{\"command\": [\"true\"], \"project\": \"a/b\"}", "project")]
    [InlineData("{\"command\": [\"true\"], \"resources\": {\"cpu\": \"64\"}}", "can never run here")]
    [InlineData("{\"command\": [\"true\"], \"resources\": {\"gpus\": 4, \"gpuType\": \"nvidia-h100\"}}", "nvidia-h100")]
    [InlineData("{\"command\": [\"true\"], \"maxRuntime\": \"soon\"}", "maxRuntime")]
    [InlineData("{\"command\": [\"true\"], \"env\": {\"STRATUM_JOB_ID\": \"7\"}}", "STRATUM_JOB_ID")]
    public async Task Submit_BadInput_Is400NamingTheProblemAndStoresNothing(string body, string expected)
    {
        var response = await _server.Admin.PostAsync("/api/v1/jobs", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(expected, text, StringComparison.OrdinalIgnoreCase);
        var page = await _server.Admin.GetFromJsonAsync<PageDto<JobDto>>("/api/v1/jobs", TestServer.JsonOptions);
        Assert.Empty(page!.Items);
    }

    [Fact]
    public async Task List_WithCursor_PagesNewestFirstWithoutGapsOrRepeats()
    {
        var ids = new List<long>();
        for (var i = 0; i < 7; i++)
        {
            var request = TestServer.Job("true") with { Priority = -1, Resources = new ResourcesDto { Cpu = "5m", Memory = "1Mi" } };
            ids.Add((await _server.SubmitAsync(request)).Id);
        }

        var seen = new List<long>();
        string? cursor = null;
        do
        {
            var page = await _server.Admin.GetFromJsonAsync<PageDto<JobDto>>($"/api/v1/jobs?limit=3{(cursor is null ? "" : "&cursor=" + cursor)}", TestServer.JsonOptions);
            seen.AddRange(page!.Items.Select(j => j.Id));
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        Assert.Equal(ids.OrderByDescending(i => i), seen);
    }

    [Fact]
    public async Task Cancel_RunningJob_StopsItsProcessGroupAndRecordsCancelled()
    {
        var job = await _server.SubmitAsync(TestServer.Job("sh", "-c", "sleep 60 & sleep 60; wait"));
        await _server.WaitForStateAsync(job.Id, "Running");

        var response = await _server.Admin.PostAsync($"/api/v1/jobs/{job.Id}/cancel", null);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        var cancelled = await _server.WaitForStateAsync(job.Id, "Cancelled");
        Assert.Contains("cancelled by admin", cancelled.Reason);
        Assert.Equal(143, cancelled.ExitCode);
        var again = await _server.Admin.PostAsync($"/api/v1/jobs/{job.Id}/cancel", null);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    [Fact]
    public async Task Cancel_JobThatIgnoresSigterm_IsKilledAfterGrace()
    {
        var job = await _server.SubmitAsync(TestServer.Job("sh", "-c", "trap '' TERM; echo ready; sleep 60"));
        await _server.WaitForStateAsync(job.Id, "Running");
        await WaitAsync(async () => (await _server.Admin.GetStringAsync($"/api/v1/jobs/{job.Id}/logs")).Contains("ready"));
        await _server.Admin.PostAsync($"/api/v1/jobs/{job.Id}/cancel", null);
        var cancelled = await _server.WaitForStateAsync(job.Id, "Cancelled");
        Assert.Equal(137, cancelled.ExitCode);
    }

    [Fact]
    public async Task MaxRuntime_Exceeded_FailsWithReason()
    {
        var job = await _server.SubmitAsync(TestServer.Job("sleep", "60") with { MaxRuntime = "1s" });
        var failed = await _server.WaitForStateAsync(job.Id, "Failed");
        Assert.Contains("max runtime of 1s", failed.Reason);
    }

    [Fact]
    public async Task FailingJob_WithRetries_IsTriedMaxAttemptsTimes()
    {
        var job = await _server.SubmitAsync(TestServer.Job("sh", "-c", "exit 3") with { Retry = new RetryDto { MaxAttempts = 2 } });
        var failed = await _server.WaitForStateAsync(job.Id, "Failed");
        Assert.Equal(2, failed.Attempts.Count);
        Assert.Equal(3, failed.ExitCode);
        Assert.Equal("exited 3", failed.Reason);
    }

    [Fact]
    public async Task MissingProgram_FailsWithExit127()
    {
        var job = await _server.SubmitAsync(TestServer.Job("/no/such/program"));
        var failed = await _server.WaitForStateAsync(job.Id, "Failed");
        Assert.Equal(127, failed.ExitCode);
    }

    [Fact]
    public async Task GangJob_AllReplicasRunWithTheirRanks()
    {
        var job = await _server.SubmitAsync(TestServer.Job("sh", "-c", "echo $STRATUM_REPLICA_RANK/$STRATUM_WORLD_SIZE") with { Replicas = 3 });
        var done = await _server.WaitForStateAsync(job.Id, "Succeeded");
        Assert.Equal(3, done.Attempts[0].Placement.Count);
        for (var rank = 0; rank < 3; rank++)
        {
            Assert.Equal($"{rank}/3\n", await _server.Admin.GetStringAsync($"/api/v1/jobs/{job.Id}/logs?rank={rank}"));
        }
    }

    [Fact]
    public async Task Quota_Exceeded_JobWaitsWithReasonAndWhyExplains()
    {
        await _server.ApplyAsync("""
            projects:
              - name: vision
                quota: {cpu: "1"}
            """);
        var first = await _server.SubmitAsync(TestServer.Job("sleep", "30") with { Project = "vision" });
        await _server.WaitForStateAsync(first.Id, "Running");
        var second = await _server.SubmitAsync(TestServer.Job("true") with { Project = "vision" });

        var waiting = await _server.WaitForJobAsync(second.Id, j => j.Reason.Contains("quota"));
        Assert.Equal("Pending", waiting.State);
        Assert.Contains("project vision is at its quota: cpu 1/1", waiting.Reason);
        var why = await _server.Admin.GetFromJsonAsync<JobWhyDto>($"/api/v1/jobs/{second.Id}/why", TestServer.JsonOptions);
        Assert.Contains("quota", why!.Reason);
        Assert.Equal(1, why.QueuePosition);

        await _server.Admin.PostAsync($"/api/v1/jobs/{first.Id}/cancel", null);
        await _server.WaitForStateAsync(second.Id, "Succeeded");
    }

    [Fact]
    public async Task Priority_PreemptsPreemptibleJob_WhichResumesAfterwards()
    {
        var checkpoint = "if [ -f \"$STRATUM_CHECKPOINT_DIR/ckpt\" ]; then echo resumed; exit 0; fi; trap 'echo saved > \"$STRATUM_CHECKPOINT_DIR/ckpt\"; exit 0' TERM; echo training; sleep 60 & wait";
        var low = await _server.SubmitAsync(TestServer.Job("sh", "-c", checkpoint) with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" }, Preemptible = true });
        await _server.WaitForStateAsync(low.Id, "Running");
        await WaitAsync(async () => (await _server.Admin.GetStringAsync($"/api/v1/jobs/{low.Id}/logs")).Contains("training"));

        var high = await _server.SubmitAsync(TestServer.Job("sh", "-c", "echo urgent") with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" }, Priority = 100 });

        await _server.WaitForJobAsync(low.Id, j => j.State == "Preempted" || j.Attempts.Count > 1);
        await _server.WaitForStateAsync(high.Id, "Succeeded");
        var resumed = await _server.WaitForStateAsync(low.Id, "Succeeded");
        Assert.Equal(2, resumed.Attempts.Count);
        Assert.StartsWith("preempted", resumed.Attempts[0].Outcome);
        Assert.Equal("resumed\n", await _server.Admin.GetStringAsync($"/api/v1/jobs/{low.Id}/logs?attempt=2"));
    }

    [Fact]
    public async Task Audit_RecordsWhoSubmittedFromWhere()
    {
        await _server.SubmitAsync(TestServer.Job("true"));
        var page = await _server.Admin.GetFromJsonAsync<PageDto<AuditEntryDto>>("/api/v1/audit", TestServer.JsonOptions);
        var entry = Assert.Single(page!.Items, e => e.Action == "job.submit");
        Assert.StartsWith("admin (tok_", entry.Actor);
        Assert.Matches("^job/[0-9]+$", entry.Target);
        Assert.Equal("127.0.0.1", entry.RemoteAddress);
    }

    private static async Task<bool> WaitAsync(Func<Task<bool>> condition)
    {
        var until = DateTime.UtcNow + TestServer.Deadline;
        while (DateTime.UtcNow < until)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }
}
