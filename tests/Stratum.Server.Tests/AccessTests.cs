using System.Net;
using System.Net.Http.Json;
using System.Text;
using Stratum.Client.Contracts;

namespace Stratum.Server.Tests;

public sealed class AccessTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync();
        await _server.ApplyAsync("""
            projects:
              - name: vision
              - name: nlp
            users:
              - name: bob
                roles: {vision: member}
              - name: vera
                roles: {vision: viewer}
            """);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<HttpClient> ClientForAsync(string user)
    {
        var response = await _server.Admin.PostAsJsonAsync("/api/v1/tokens", new CreateTokenRequest { User = user, Name = "test" });
        await TestServer.EnsureAsync(response);
        var created = await response.Content.ReadFromJsonAsync<CreatedTokenDto>(TestServer.JsonOptions);
        return _server.Client(created!.Secret);
    }

    [Fact]
    public async Task Member_SubmitsToOwnProject_ButNotToAnother()
    {
        using var bob = await ClientForAsync("bob");
        var mine = await _server.SubmitAsync(TestServer.Job("true") with { Project = "vision" }, bob);
        Assert.Equal("bob", mine.Owner);

        var response = await bob.PostAsJsonAsync("/api/v1/jobs", TestServer.Job("true") with { Project = "nlp" }, TestServer.JsonOptions);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("nlp", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Member_CannotSeeOrCancelAnotherProjectsJob()
    {
        var theirs = await _server.SubmitAsync(TestServer.Job("sleep", "30") with { Project = "nlp" });
        using var bob = await ClientForAsync("bob");
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync($"/api/v1/jobs/{theirs.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.PostAsync($"/api/v1/jobs/{theirs.Id}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync("/api/v1/jobs?project=nlp")).StatusCode);
        var visible = await bob.GetFromJsonAsync<PageDto<JobDto>>("/api/v1/jobs", TestServer.JsonOptions);
        Assert.DoesNotContain(visible!.Items, j => j.Id == theirs.Id);
        Assert.NotEqual("Cancelled", (await _server.GetJobAsync(theirs.Id)).State);
    }

    [Fact]
    public async Task Viewer_ReadsButCannotSubmit()
    {
        var job = await _server.SubmitAsync(TestServer.Job("true") with { Project = "vision" });
        using var vera = await ClientForAsync("vera");
        Assert.Equal(HttpStatusCode.OK, (await vera.GetAsync($"/api/v1/jobs/{job.Id}")).StatusCode);
        var response = await vera.PostAsJsonAsync("/api/v1/jobs", TestServer.Job("true") with { Project = "vision" }, TestServer.JsonOptions);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task NonAdmin_CannotChangeInfrastructure()
    {
        using var bob = await ClientForAsync("bob");
        var apply = await bob.PostAsJsonAsync("/api/v1/apply", new ApplyRequest { Document = "projects:\n  - name: mine\n" });
        Assert.Equal(HttpStatusCode.Forbidden, apply.StatusCode);
        var quota = await bob.PutAsJsonAsync("/api/v1/projects/vision/quota", new QuotaDto { Gpus = 100 });
        Assert.Equal(HttpStatusCode.Forbidden, quota.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync("/api/v1/audit")).StatusCode);
    }

    [Fact]
    public async Task Token_Revoked_IsRejectedAtOnce()
    {
        var response = await _server.Admin.PostAsJsonAsync("/api/v1/tokens", new CreateTokenRequest { User = "bob", Name = "short-lived" });
        var created = (await response.Content.ReadFromJsonAsync<CreatedTokenDto>(TestServer.JsonOptions))!;
        Assert.StartsWith("stm_", created.Secret);
        using var bob = _server.Client(created.Secret);
        Assert.Equal(HttpStatusCode.OK, (await bob.GetAsync("/api/v1/jobs")).StatusCode);

        var listed = await _server.Admin.GetStringAsync("/api/v1/tokens?user=bob");
        Assert.Contains(created.Token.Id, listed);
        Assert.DoesNotContain(created.Secret, listed);

        Assert.Equal(HttpStatusCode.NoContent, (await _server.Admin.DeleteAsync($"/api/v1/tokens/{created.Token.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await bob.GetAsync("/api/v1/jobs")).StatusCode);
    }

    [Fact]
    public async Task Tokens_AreStoredHashed()
    {
        var response = await _server.Admin.PostAsJsonAsync("/api/v1/tokens", new CreateTokenRequest { Name = "hashed" });
        var created = (await response.Content.ReadFromJsonAsync<CreatedTokenDto>(TestServer.JsonOptions))!;
        var database = await File.ReadAllBytesAsync(Path.Combine(_server.DataDirectory, "stratum.db"));
        var wal = Path.Combine(_server.DataDirectory, "stratum.db-wal");
        var all = database.Concat(File.Exists(wal) ? await ReadSharedAsync(wal) : []).ToArray();
        Assert.DoesNotContain(created.Secret, Encoding.UTF8.GetString(all));
    }

    private static async Task<byte[]> ReadSharedAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }
}

public sealed class ApplyTests : IAsyncLifetime
{
    private const string Infra = """
        pools:
          - name: gpu
            kind: on-prem
            price: {model: on-demand, gpuHour: 2.5, cpuCoreHour: 0.04}
        nodes:
          - name: g1
            pool: gpu
            cpu: "64"
            memory: 512Gi
            accelerators: {nvidia-h100: 8}
            labels: {site: ams, rack: r1}
        projects:
          - name: vision
            quota: {gpus: 8}
        users:
          - name: alice
            roles: {vision: owner}
        """;

    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(declareNode: false);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Apply_Twice_SecondTimeChangesNothing()
    {
        var first = await _server.ApplyAsync(Infra);
        Assert.All(first.Changes, c => Assert.Equal("create", c.Action));
        Assert.Equal(4, first.Changes.Count);

        var second = await _server.ApplyAsync(Infra);
        Assert.All(second.Changes, c => Assert.Equal("unchanged", c.Action));

        var third = await _server.ApplyAsync(Infra.Replace("gpus: 8", "gpus: 16", StringComparison.Ordinal));
        var change = Assert.Single(third.Changes, c => c.Action != "unchanged");
        Assert.Equal("project", change.Kind);
        Assert.Contains("16", change.Detail);

        var nodes = await _server.Admin.GetFromJsonAsync<List<NodeDto>>("/api/v1/nodes", TestServer.JsonOptions);
        var g1 = Assert.Single(nodes!);
        Assert.Equal(8, g1.Capacity.Gpus);
        Assert.Equal("r1", g1.Labels["rack"]);
    }

    [Fact]
    public async Task Apply_DryRun_WritesNothing()
    {
        var response = await _server.Admin.PostAsJsonAsync("/api/v1/apply", new ApplyRequest { Document = Infra, DryRun = true });
        await TestServer.EnsureAsync(response);
        var nodes = await _server.Admin.GetFromJsonAsync<List<NodeDto>>("/api/v1/nodes", TestServer.JsonOptions);
        Assert.Empty(nodes!);
    }

    [Theory]
    [InlineData("pools:\n  - name: gpu\n    colour: red\n", "colour")]
    [InlineData("nodes:\n  - name: g1\n    pool: nowhere\n    cpu: \"4\"\n    memory: 1Gi\n", "no pool named 'nowhere'")]
    [InlineData("projects:\n  - name: ../x\n", "projects[0].name")]
    [InlineData("users:\n  - name: carol\n    roles: {vision: emperor}\n", "no project named 'vision'")]
    public async Task Apply_BadDocument_Is400AndChangesNothing(string yaml, string expected)
    {
        var response = await _server.Admin.PostAsJsonAsync("/api/v1/apply", new ApplyRequest { Document = yaml });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, await response.Content.ReadAsStringAsync());
        Assert.Empty((await _server.Admin.GetFromJsonAsync<List<NodeDto>>("/api/v1/nodes", TestServer.JsonOptions))!);
        var projects = await _server.Admin.GetFromJsonAsync<List<ProjectDto>>("/api/v1/projects", TestServer.JsonOptions);
        Assert.Equal(["default"], projects!.Select(p => p.Name));
    }
}
