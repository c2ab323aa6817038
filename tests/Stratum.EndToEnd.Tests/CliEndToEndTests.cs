using Stratum.Client;
using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests;

/// <summary>
/// The real program end to end: <c>stratum up</c> in a child process, the CLI in others, checked
/// through their JSON output and exit codes.
/// </summary>
public sealed class CliEndToEndTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    // Small enough to fit beside anything else on a 2-core machine.
    private static readonly string[] Small = ["--cpus", "100m", "--memory", "64Mi"];

    [Fact]
    public async Task JobsSubmit_EchoJob_PrintsIdAndStateAndSucceeds()
    {
        var marker = "hello-" + Guid.NewGuid().ToString("N")[..8];

        var submitted = await fixture.RunJsonAsync<JobDto>(["jobs", "submit", .. Small, "--", "sh", "-c", $"echo {marker}"]);

        Assert.True(submitted.Id > 0);
        Assert.Contains(submitted.State, JobStates.All);
        Assert.Equal("sh", submitted.Name);
        Assert.Equal("default", submitted.Project);

        var waited = await fixture.RunAsync("jobs", "wait", Id(submitted), "--timeout", "60s");
        Assert.True(waited.ExitCode == 0, waited.ToString());

        var logs = await fixture.RunAsync("jobs", "logs", Id(submitted));
        Assert.Equal(0, logs.ExitCode);
        Assert.Contains(marker, logs.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JobsLogsFollow_RunningJob_StreamsUntilTheJobEnds()
    {
        var submitted = await fixture.RunJsonAsync<JobDto>(["jobs", "submit", .. Small, "--", "sh", "-c", "echo first; sleep 2; echo last"]);

        var followed = await fixture.RunAsync("jobs", "logs", Id(submitted), "-f");

        Assert.True(followed.ExitCode == 0, followed.ToString());
        Assert.Equal(["first", "last"], followed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task JobsListAndShow_SubmittedJob_AppearWithTheSameId()
    {
        var submitted = await fixture.RunJsonAsync<JobDto>(["jobs", "submit", .. Small, "--name", "listed", "--", "true"]);

        var page = await fixture.RunJsonAsync<PageDto<JobDto>>("jobs", "list", "--all-pages");
        var shown = await fixture.RunJsonAsync<JobDto>("jobs", "show", Id(submitted));

        Assert.Contains(page.Items, j => j.Id == submitted.Id && j.Name == "listed");
        Assert.Equal(submitted.Id, shown.Id);
        Assert.Equal("listed", shown.Name);
        Assert.Equal(["true"], shown.Command);
    }

    [Fact]
    public async Task JobsList_TextOutput_IsATableWithTheJob()
    {
        var submitted = await fixture.RunJsonAsync<JobDto>(["jobs", "submit", .. Small, "--name", "tabled", "--", "true"]);

        var listed = await fixture.RunAsync("jobs", "list");

        Assert.Equal(0, listed.ExitCode);
        Assert.Contains("NAME", listed.Stdout, StringComparison.Ordinal);
        Assert.Contains(listed.Stdout.Split('\n'), line => line.Contains(Id(submitted), StringComparison.Ordinal) && line.Contains("tabled", StringComparison.Ordinal));
    }

    [Fact]
    public async Task JobsWait_FailingJob_ExitsJobFailedWithTheExitCode()
    {
        var submitted = await fixture.RunJsonAsync<JobDto>(["jobs", "submit", .. Small, "--max-attempts", "1", "--", "sh", "-c", "echo oops >&2; exit 3"]);

        var waited = await fixture.RunAsync("jobs", "wait", Id(submitted), "--timeout", "60s", "--output", "json");

        Assert.True(waited.ExitCode == 8, waited.ToString());
        var job = System.Text.Json.JsonSerializer.Deserialize<JobDto>(waited.Stdout, ServerFixture.Json)!;
        Assert.Equal(JobStates.Failed, job.State);
        Assert.Equal(3, job.ExitCode);
        Assert.Single(waited.Stderr.Trim().Split('\n'));

        var stderr = await fixture.RunAsync("jobs", "logs", Id(submitted), "--stderr");
        Assert.Contains("oops", stderr.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JobsCancel_RunningJob_EndsCancelled()
    {
        var submitted = await fixture.RunJsonAsync<JobDto>(["jobs", "submit", .. Small, "--", "sleep", "300"]);

        var cancelled = await fixture.RunJsonAsync<JobDto>("jobs", "cancel", Id(submitted));
        var waited = await fixture.RunAsync("jobs", "wait", Id(submitted), "--timeout", "60s", "--output", "json");

        Assert.Equal(submitted.Id, cancelled.Id);
        Assert.Equal(8, waited.ExitCode);
        Assert.Equal(JobStates.Cancelled, System.Text.Json.JsonSerializer.Deserialize<JobDto>(waited.Stdout, ServerFixture.Json)!.State);
    }

    [Fact]
    public async Task JobsWhy_JobOverItsProjectsQuota_WaitsWithAReason()
    {
        var project = "quota-" + Guid.NewGuid().ToString("N")[..8];
        await fixture.RunJsonAsync<ProjectDto>("projects", "create", project, "--cpus", "200m", "--memory", "1Gi");
        var holder = await fixture.RunJsonAsync<JobDto>("jobs", "submit", "--project", project, "--cpus", "200m", "--memory", "64Mi", "--", "sleep", "300");
        var waiter = await fixture.RunJsonAsync<JobDto>("jobs", "submit", "--project", project, "--cpus", "200m", "--memory", "64Mi", "--", "true");

        var why = await PollAsync(
            () => fixture.RunJsonAsync<JobWhyDto>("jobs", "why", Id(waiter)),
            w => w.State == JobStates.Pending && w.Reason.Contains("quota", StringComparison.OrdinalIgnoreCase));

        Assert.Equal(waiter.Id, why.Id);
        Assert.Contains(project, why.Reason, StringComparison.Ordinal);
        await fixture.RunAsync("jobs", "cancel", Id(waiter));
        await fixture.RunAsync("jobs", "cancel", Id(holder));
    }

    [Fact]
    public async Task JobsSubmit_UnknownProject_FailsWithOneLineAndNothingIsCreated()
    {
        var project = "nope-" + Guid.NewGuid().ToString("N")[..8];
        var before = await fixture.RunJsonAsync<PageDto<JobDto>>("jobs", "list", "--all-pages");

        var result = await fixture.RunAsync(["jobs", "submit", "--project", project, .. Small, "--", "true"]);

        Assert.True(result.ExitCode is 6 or 3, result.ToString());
        Assert.Equal(string.Empty, result.Stdout);
        var line = Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.Contains(project, line, StringComparison.Ordinal);
        var after = await fixture.RunJsonAsync<PageDto<JobDto>>("jobs", "list", "--all-pages");
        Assert.DoesNotContain(after.Items, j => j.Project == project);
        Assert.True(after.Items.Count >= before.Items.Count);
    }

    [Fact]
    public async Task JobsShow_UnknownJob_ExitsNotFound()
    {
        var result = await fixture.RunAsync("jobs", "show", "987654321");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Single(result.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task JobsSubmit_SameIdempotencyKeyTwice_CreatesOneJob()
    {
        var key = Guid.NewGuid().ToString("N");

        var first = await fixture.RunJsonAsync<JobDto>(["jobs", "submit", .. Small, "--idempotency-key", key, "--", "true"]);
        var second = await fixture.RunJsonAsync<JobDto>(["jobs", "submit", .. Small, "--idempotency-key", key, "--", "true"]);

        Assert.Equal(first.Id, second.Id);
    }

    [Fact]
    public async Task Nodes_LocalServer_ListsThisMachineInPoolLocal()
    {
        var nodes = await fixture.RunJsonAsync<List<NodeDto>>("nodes");

        var local = Assert.Single(nodes, n => n.Pool == "local");
        Assert.True(local.Allocatable.CpuMillis > 0);
        Assert.True(local.Allocatable.MemoryBytes > 0);
    }

    [Fact]
    public async Task Projects_CreateQuotaList_RoundTrip()
    {
        var name = "proj-" + Guid.NewGuid().ToString("N")[..8];

        var created = await fixture.RunJsonAsync<ProjectDto>("projects", "create", name, "--description", "end to end", "--cpus", "4");
        var updated = await fixture.RunJsonAsync<ProjectDto>("projects", "quota", name, "--cpus", "8", "--memory", "16Gi");
        var listed = await fixture.RunJsonAsync<List<ProjectDto>>("projects", "list");

        Assert.Equal(name, created.Name);
        Assert.Equal(name, updated.Name);
        var project = Assert.Single(listed, p => p.Name == name);
        Assert.Equal("end to end", project.Description);
        Assert.NotNull(project.Quota);
        Assert.Equal("16Gi", project.Quota.Memory);
    }

    [Fact]
    public async Task Tokens_CreateListRevoke_RevokedSecretStopsWorking()
    {
        var created = await fixture.RunJsonAsync<CreatedTokenDto>("tokens", "create", "--name", "e2e", "--expires-in", "1d");
        var environment = new Dictionary<string, string?>
        {
            ["STRATUM_ADDR"] = fixture.Server.Connection.Address,
            ["STRATUM_TOKEN"] = created.Secret,
        };

        var withNewToken = await StratumProgram.RunAsync(["info", "--output", "json"], environment);
        var listed = await fixture.RunJsonAsync<List<TokenDto>>("tokens", "list");
        var revoked = await fixture.RunAsync("tokens", "revoke", created.Token.Id);
        var afterRevoke = await StratumProgram.RunAsync(["info"], environment);

        Assert.False(string.IsNullOrWhiteSpace(created.Secret));
        Assert.True(withNewToken.ExitCode == 0, withNewToken.ToString());
        Assert.Contains(listed, t => t.Id == created.Token.Id && t.Name == "e2e");
        Assert.DoesNotContain(listed, t => t.ToString().Contains(created.Secret, StringComparison.Ordinal));
        Assert.True(revoked.ExitCode == 0, revoked.ToString());
        Assert.True(afterRevoke.ExitCode == 4, afterRevoke.ToString());
    }

    [Fact]
    public async Task Apply_SameFileTwice_SecondRunChangesNothing()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var file = Path.Combine(fixture.DataDirectory, $"infra-{suffix}.yaml");
        await File.WriteAllTextAsync(file, $$"""
            pools:
              - name: cloud-{{suffix}}
                kind: cloud
                price: {model: spot, gpuHour: 2.1}
            projects:
              - name: applied-{{suffix}}
                description: from apply
                quota: {gpus: 8, cpu: "128", memory: 1Ti}
            users:
              - name: user-{{suffix}}
                admin: false
                roles: {applied-{{suffix}}: owner}
            """);

        var dryRun = await fixture.RunJsonAsync<ApplyResultDto>("apply", "-f", file, "--dry-run");
        var first = await fixture.RunJsonAsync<ApplyResultDto>("apply", "-f", file);
        var second = await fixture.RunJsonAsync<ApplyResultDto>("apply", "-f", file);
        var projects = await fixture.RunJsonAsync<List<ProjectDto>>("projects", "list");

        Assert.True(dryRun.DryRun);
        Assert.Contains(dryRun.Changes, c => c.Kind == "project" && c.Name == $"applied-{suffix}" && c.Action == "create");
        Assert.Contains(first.Changes, c => c.Action == "create");
        Assert.NotEmpty(second.Changes);
        Assert.All(second.Changes, c => Assert.Equal("unchanged", c.Action));
        Assert.Contains(projects, p => p.Name == $"applied-{suffix}");
    }

    [Fact]
    public async Task Apply_MalformedFile_ExitsInvalidAndChangesNothing()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var file = Path.Combine(fixture.DataDirectory, $"bad-{suffix}.yaml");
        await File.WriteAllTextAsync(file, $"projects:\n  - name: bad-{suffix}\n    quota: {{cpu: lots}}\n");

        var result = await fixture.RunAsync("apply", "-f", file);
        var projects = await fixture.RunJsonAsync<List<ProjectDto>>("projects", "list");

        Assert.True(result.ExitCode == 6, result.ToString());
        Assert.DoesNotContain(projects, p => p.Name == $"bad-{suffix}");
    }

    [Fact]
    public async Task Audit_AfterAChange_ListsIt()
    {
        var name = "audited-" + Guid.NewGuid().ToString("N")[..8];
        await fixture.RunJsonAsync<ProjectDto>("projects", "create", name);

        var page = await fixture.RunJsonAsync<PageDto<AuditEntryDto>>("audit", "--limit", "200");

        Assert.Contains(page.Items, e => e.Target.Contains(name, StringComparison.Ordinal));
    }

    private static string Id(JobDto job) => job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var last = await read();
        while (!done(last))
        {
            Assert.True(DateTime.UtcNow < deadline, $"gave up waiting; last seen: {last}");

            // Scheduling runs in another process on its own interval; there is nothing to await but time.
            await Task.Delay(500);
            last = await read();
        }

        return last;
    }
}
