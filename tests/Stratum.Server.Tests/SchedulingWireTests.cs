using System.Net.Http.Json;
using Stratum.Client.Contracts;

namespace Stratum.Server.Tests;

/// <summary>The live server on the planning engine (<c>default</c>): preemption, estimated starts, cohort quotas, node selectors.</summary>
public sealed class SchedulingWireTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Info_NoPolicySetting_RunsTheDefaultPolicy()
    {
        var info = await _server.Admin.GetFromJsonAsync<ServerInfoDto>("/api/v1/info", TestServer.JsonOptions);

        Assert.Equal("default", info!.SchedulingPolicy);
    }

    [Fact]
    public async Task DefaultPolicy_HighPriorityJob_PreemptsPreemptibleJobWhichCheckpointsAndResumes()
    {
        var checkpoint = "if [ -f \"$STRATUM_CHECKPOINT_DIR/ckpt\" ]; then echo resumed; exit 0; fi; trap 'echo saved > \"$STRATUM_CHECKPOINT_DIR/ckpt\"; exit 0' TERM; echo training; sleep 60 & wait";
        var low = await _server.SubmitAsync(TestServer.Job("sh", "-c", checkpoint) with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" }, Preemptible = true });
        await _server.WaitForStateAsync(low.Id, "Running");
        await WaitForLogAsync(low.Id, "training");

        var high = await _server.SubmitAsync(TestServer.Job("sh", "-c", "echo urgent") with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" }, Priority = 100 });

        await _server.WaitForStateAsync(high.Id, "Succeeded");
        var resumed = await _server.WaitForStateAsync(low.Id, "Succeeded");
        Assert.Equal(2, resumed.Attempts.Count);
        Assert.StartsWith("preempted", resumed.Attempts[0].Outcome);
        Assert.True(resumed.Attempts[1].StartedAt >= (await _server.GetJobAsync(high.Id)).StartedAt);
        Assert.Equal("resumed\n", await _server.Admin.GetStringAsync($"/api/v1/jobs/{low.Id}/logs?attempt=2"));
    }

    [Fact]
    public async Task Why_JobQueuedBehindRunningJobWithMaxRuntime_HasEstimatedStartAtItsEnd()
    {
        var running = await _server.SubmitAsync(TestServer.Job("sleep", "60") with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" }, MaxRuntime = "10m" });
        var started = (await _server.WaitForStateAsync(running.Id, "Running")).StartedAt!.Value;
        var queued = await _server.SubmitAsync(TestServer.Job("true") with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" } });

        var why = await WaitForWhyAsync(queued.Id, w => w.EstimatedStart is not null);

        Assert.Equal("Pending", why.State);
        Assert.Equal(1, why.QueuePosition);
        // The estimate is the running job's start plus its max runtime, give or take the store's millisecond rounding.
        Assert.InRange(why.EstimatedStart!.Value, started + TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1), started + TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        Assert.Contains("estimated start", why.Reason);
        await _server.Admin.PostAsync($"/api/v1/jobs/{running.Id}/cancel", null);
        await _server.WaitForStateAsync(queued.Id, "Succeeded");
    }

    [Fact]
    public async Task Why_JobQueuedBehindJobWithNoKnownEnd_HasNoEstimatedStart()
    {
        var running = await _server.SubmitAsync(TestServer.Job("sleep", "60") with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" } });
        await _server.WaitForStateAsync(running.Id, "Running");
        var queued = await _server.SubmitAsync(TestServer.Job("true") with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" } });

        var why = await WaitForWhyAsync(queued.Id, w => w.QueuePosition == 1 && w.LastScheduledAt > queued.SubmittedAt);

        Assert.Null(why.EstimatedStart);
        await _server.Admin.PostAsync($"/api/v1/jobs/{running.Id}/cancel", null);
    }

    [Fact]
    public async Task Apply_CohortQuota_RoundTripsThroughTheStoreAndIsUnchangedWhenReapplied()
    {
        const string Document = """
            projects:
              - name: vision
                quota: {gpus: 8, cohort: research, borrowingLimit: {gpus: 8}, lendingLimit: {gpus: 4}}
            """;
        var created = await _server.ApplyAsync(Document);
        Assert.Contains(created.Changes, c => c.Kind == "project" && c.Name == "vision" && c.Action == "create");

        await _server.RestartAsync();
        var project = await _server.Admin.GetFromJsonAsync<ProjectDto>("/api/v1/projects/vision", TestServer.JsonOptions);
        var again = await _server.ApplyAsync(Document);

        Assert.Equal(8, project!.Quota!.Gpus);
        Assert.Equal("research", project.Quota.Cohort);
        Assert.Equal(8, project.Quota.BorrowingLimit!.Gpus);
        Assert.Equal(4, project.Quota.LendingLimit!.Gpus);
        Assert.Null(project.Quota.LendingLimit.Cohort);
        Assert.Contains(again.Changes, c => c.Kind == "project" && c.Name == "vision" && c.Action == "unchanged");
    }

    [Fact]
    public async Task Apply_LimitWithoutCohort_IsRejectedNamingTheField()
    {
        var response = await _server.Admin.PostAsJsonAsync("/api/v1/apply", new ApplyRequest
        {
            Document = """
                projects:
                  - name: nlp
                    quota: {gpus: 4, borrowingLimit: {gpus: 2}}
                """,
        });

        Assert.False(response.IsSuccessStatusCode);
        Assert.Contains("projects[0].quota.cohort", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Submit_NodeSelectorMatchingNoNode_PendsWithAReasonNamingTheSelector()
    {
        var job = await _server.SubmitAsync(TestServer.Job("true") with { NodeSelector = new Dictionary<string, string> { ["gpu-class"] = "a100" } });

        var why = await WaitForWhyAsync(job.Id, w => w.Reason.Contains("node selector"));
        var shown = await _server.GetJobAsync(job.Id);

        Assert.Equal("Pending", why.State);
        Assert.Contains("gpu-class=a100", why.Reason);
        Assert.Equal("a100", shown.NodeSelector["gpu-class"]);
    }

    [Fact]
    public async Task Submit_NodeSelectorMatchingTheNode_Runs()
    {
        var job = await _server.SubmitAsync(TestServer.Job("true") with { NodeSelector = new Dictionary<string, string> { ["pool"] = "test" } });

        var done = await _server.WaitForStateAsync(job.Id, "Succeeded");

        Assert.Equal("n1", done.Attempts[0].Placement[0].Node);
    }

    private async Task<JobWhyDto> WaitForWhyAsync(long id, Func<JobWhyDto, bool> condition)
    {
        var until = DateTime.UtcNow + TestServer.Deadline;
        JobWhyDto why;
        do
        {
            why = (await _server.Admin.GetFromJsonAsync<JobWhyDto>($"/api/v1/jobs/{id}/why", TestServer.JsonOptions))!;
            if (condition(why))
            {
                return why;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < until);

        throw new TimeoutException($"job {id}'s why never matched; last: {why.State}: {why.Reason}");
    }

    private async Task WaitForLogAsync(long id, string text)
    {
        var until = DateTime.UtcNow + TestServer.Deadline;
        while (!(await _server.Admin.GetStringAsync($"/api/v1/jobs/{id}/logs")).Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"job {id} never logged '{text}'");
            }

            await Task.Delay(50);
        }
    }
}
