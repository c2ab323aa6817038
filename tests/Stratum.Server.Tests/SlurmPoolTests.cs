using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Stratum.Client.Contracts;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Execution;
using Stratum.Execution.Slurm;
using Stratum.Execution.Tests.Slurm;
using Stratum.Persistence;
using Stratum.Server.Control;
using Stratum.Server.Execution;
using Stratum.Server.Hosting;

namespace Stratum.Server.Tests;

/// <summary>Pools that run on their own executor: routing, validation, Slurm node inventory (with a fake scontrol).</summary>
public sealed class SlurmPoolTests : IAsyncLifetime
{
    private const string SlurmNodeLine =
        "NodeName=gpu01 Arch=x86_64 CPUTot=8 CPUEfctv=8 RealMemory=16000 Gres=gpu:a100:2 State=IDLE Partitions=batch Reason=(null)";

    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("local", "local", null)]
    [InlineData("slurm", "slurm", null)]
    [InlineData("slurm:debug", "slurm", "debug")]
    public void Parse_KnownExecutor_KindAndPartition(string text, string kind, string? partition)
    {
        var spec = ExecutorSpec.Parse(text, out var problem);

        Assert.Null(problem);
        Assert.Equal(new ExecutorSpec(kind, partition), spec);
        Assert.Equal(text, spec!.ToString());
    }

    [Theory]
    [InlineData("kubernetes", "is not an executor")]
    [InlineData("slurm:", "names no valid Slurm partition")]
    [InlineData("slurm:a b", "names no valid Slurm partition")]
    [InlineData("Local", "is not an executor")]
    public void Parse_UnknownExecutor_NullWithProblem(string text, string expected)
    {
        Assert.Null(ExecutorSpec.Parse(text, out var problem));
        Assert.Contains(expected, problem);
    }

    [Fact]
    public async Task Apply_PoolWithUnknownExecutor_RejectedNamingTheField()
    {
        var response = await _server.Admin.PostAsJsonAsync("/api/v1/apply", new ApplyRequest { Document = "pools:\n  - name: k8s\n    executor: kubernetes\n" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("executor", body);
        Assert.Contains("'kubernetes' is not an executor this server has", body);
    }

    [Fact]
    public async Task Apply_SlurmPool_StoredWithItsExecutor()
    {
        await _server.ApplyAsync("pools:\n  - name: hpc\n    executor: slurm:batch\n");

        var pools = await _server.Server.Services.GetRequiredService<IMetadataStore>().Cluster.ListPoolsAsync();
        Assert.Equal("slurm:batch", pools.Single(p => p.Name == "hpc").Executor);
    }

    [Fact]
    public async Task SpecFor_ReplicasInOnePool_ThatPoolsExecutor()
    {
        await DeclareSlurmPoolWithNodeAsync();
        var router = _server.Server.Services.GetRequiredService<ExecutorRouter>();

        var (slurm, slurmProblem) = await router.SpecForAsync(Attempt("s1", "s1"));
        var (local, localProblem) = await router.SpecForAsync(Attempt("n1"));

        Assert.Null(slurmProblem);
        Assert.Equal(new ExecutorSpec("slurm", "batch"), slurm);
        Assert.Null(localProblem);
        Assert.Equal(ExecutorSpec.LocalSpec, local);
    }

    [Fact]
    public async Task Launch_ReplicasAcrossExecutors_RefusedAndObservedLostWithReason()
    {
        await DeclareSlurmPoolWithNodeAsync();
        var executor = _server.Server.Services.GetRequiredService<IExecutor>();
        var attempt = Attempt("n1", "s1");
        var job = new Job
        {
            Id = 424242,
            Spec = new JobSpec { Name = "mixed", Project = "default", Command = ["true"], Replicas = 2, Resources = new Stratum.Core.Resources.ResourceVector(1000, 256L * 1024 * 1024, []) },
            Owner = "admin",
            State = JobState.Running,
            SubmittedAt = DateTimeOffset.UnixEpoch,
        };

        var refused = await Assert.ThrowsAsync<ExecutorRoutingException>(() => executor.LaunchAsync(job, attempt));
        var observed = await executor.ObserveAsync(job, attempt);

        Assert.Contains("different executors", refused.Message);
        Assert.Contains("hpc: slurm:batch", refused.Message);
        Assert.All(observed.Replicas, r => Assert.Equal(ReplicaStatus.Lost, r.Status));
        Assert.Contains("test: local", observed.Replicas[0].Detail);
        Assert.False(Directory.Exists(Path.Combine(_server.DataDirectory, "jobs", "424242")));
    }

    [Fact]
    public async Task Refresh_SlurmPool_NodesUpsertedThenVanishedOnesMarkedDown()
    {
        await _server.ApplyAsync("pools:\n  - name: hpc\n    executor: slurm:batch\n");
        var commands = new ScriptedScontrol { Output = SlurmNodeLine + "\nNodeName=cpu01 CPUTot=4 RealMemory=8000 State=MIXED Partitions=other\n" };
        var inventory = Inventory(commands);
        var store = _server.Server.Services.GetRequiredService<IMetadataStore>();

        var created = await inventory.RefreshAsync(force: true, CancellationToken.None);
        var unchanged = await inventory.RefreshAsync(force: true, CancellationToken.None);
        commands.Output = "";
        var vanished = await inventory.RefreshAsync(force: true, CancellationToken.None);

        Assert.Equal((1, 0, 1), (created, unchanged, vanished));
        var node = await store.Cluster.GetNodeAsync("gpu01");
        Assert.Equal("hpc", node!.Pool);
        Assert.Equal(2, node.Capacity.Accelerators["a100"]);
        Assert.Equal(NodeState.Down, node.State);
        Assert.Contains("no longer reports", node.StateReason);
        Assert.Null(await store.Cluster.GetNodeAsync("cpu01"));
    }

    [Fact]
    public async Task Refresh_ControllerDown_NodesLeftAsTheyWere()
    {
        await _server.ApplyAsync("pools:\n  - name: hpc\n    executor: slurm:batch\n");
        var commands = new ScriptedScontrol { Output = SlurmNodeLine };
        var inventory = Inventory(commands);
        await inventory.RefreshAsync(force: true, CancellationToken.None);
        commands.Down = true;

        var changed = await inventory.RefreshAsync(force: true, CancellationToken.None);

        Assert.Equal(0, changed);
        var node = await _server.Server.Services.GetRequiredService<IMetadataStore>().Cluster.GetNodeAsync("gpu01");
        Assert.Equal(NodeState.Ready, node!.State);
    }

    [Fact]
    public async Task Refresh_SlurmNodeNamedLikeANodeOfAnotherPool_NotMoved()
    {
        await _server.ApplyAsync("pools:\n  - name: hpc\n    executor: slurm:batch\n");
        var inventory = Inventory(new ScriptedScontrol { Output = SlurmNodeLine.Replace("gpu01", "n1", StringComparison.Ordinal) });

        var changed = await inventory.RefreshAsync(force: true, CancellationToken.None);

        Assert.Equal(0, changed);
        Assert.Equal("test", (await _server.Server.Services.GetRequiredService<IMetadataStore>().Cluster.GetNodeAsync("n1"))!.Pool);
    }

    [Fact]
    public void Validate_BadSlurmSettings_EachNamed()
    {
        var options = new ServerOptions { SlurmGresTypes = "nvidia-h100", SlurmAccount = "a b", SlurmDiscoveryInterval = TimeSpan.Zero, SlurmConfigFile = "/no/such/slurm.conf" };

        var problems = options.Validate();

        Assert.Contains(problems, p => p.StartsWith("slurmGresTypes:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("slurmAccount:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("slurmDiscoveryInterval:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("slurmConfigFile:", StringComparison.Ordinal));
    }

    [Fact]
    public void OptionsFor_ServerSettings_PartitionAndGresMapping()
    {
        var options = SlurmSettings.OptionsFor(new ServerOptions { SlurmGresTypes = "nvidia-h100=h100, nvidia-a100=a100", SlurmAccount = "ml" }, "gpu");

        Assert.Equal("gpu", options.Partition);
        Assert.Equal("ml", options.Account);
        Assert.Equal("h100", options.GresTypes["nvidia-h100"]);
        Assert.Equal("a100", options.GresTypes["nvidia-a100"]);
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void Applies_SlurmSettingSet_TrueOnlyThen()
    {
        Assert.False(SlurmCheck.Applies(new ServerOptions()));
        Assert.True(SlurmCheck.Applies(new ServerOptions { SlurmAccount = "ml" }));
        Assert.True(SlurmCheck.Applies(new ServerOptions { SlurmCommandTimeout = TimeSpan.FromSeconds(5) }));
    }

    [Fact]
    public void SlurmCheck_NoSbatchOnPath_WarningThatSaysSo()
    {
        var missing = SlurmCheck.Run(new ServerOptions(), _ => null);
        var found = SlurmCheck.Run(new ServerOptions(), _ => "/usr/bin/sbatch");

        Assert.Equal(ConfigCheckOutcome.Warning, missing.Outcome);
        Assert.Contains("sbatch is not on PATH", missing.Detail);
        Assert.Equal(ConfigCheckOutcome.Ok, found.Outcome);
        Assert.Contains("/usr/bin/sbatch", found.Detail);
    }

    private static JobAttempt Attempt(params string[] nodes) => new()
    {
        Number = 1,
        Placement = [.. nodes.Select((node, rank) => new ReplicaPlacement(rank, node, []))],
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    private Task DeclareSlurmPoolWithNodeAsync() => _server.ApplyAsync("""
        pools:
          - name: hpc
            executor: slurm:batch
        nodes:
          - name: s1
            pool: hpc
            cpu: "8"
            memory: 16Gi
        """);

    private SlurmInventory Inventory(ScriptedScontrol commands) => new(
        _server.Server.Services.GetRequiredService<IMetadataStore>(),
        _server.Server.Services.GetRequiredService<ClusterCache>(),
        _server.Options,
        TimeProvider.System,
        _ => commands,
        NullLogger<SlurmInventory>.Instance);

    /// <summary>Answers <c>scontrol show node -o</c> with <see cref="Output"/>, or as an unreachable controller.</summary>
    private sealed class ScriptedScontrol : ISlurmCommands
    {
        public string Output { get; set; } = "";

        public bool Down { get; set; }

        public Task<SlurmCommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken = default) =>
            Task.FromResult(Down
                ? new SlurmCommandResult(1, "", "slurm_load_node error: Unable to contact slurm controller (connect failure)")
                : program == "scontrol" ? new SlurmCommandResult(0, Output, "") : new SlurmCommandResult(1, "", $"{program} is not scripted"));
    }
}

/// <summary>A server whose pool slurm-debug runs on the real single-node Slurm (see <see cref="SlurmCluster"/>).</summary>
[Collection(SlurmCollection.Name)]
public sealed class SlurmPoolIntegrationTests(SlurmCluster cluster) : IAsyncLifetime
{
    private static readonly TimeSpan JobDeadline = TimeSpan.FromSeconds(40);

    private StratumServer? _server;
    private HttpClient? _admin;
    private string _dataDirectory = "";

    public async Task InitializeAsync()
    {
        if (SlurmCluster.SkipReason is not null)
        {
            return;
        }

        _dataDirectory = Path.Combine(Path.GetTempPath(), "stratum-slurmpool-" + Guid.NewGuid().ToString("N")[..12]);
        _server = await StratumServer.StartAsync(new ServerOptions
        {
            DataDirectory = _dataDirectory,
            Port = 0,
            RegisterLocalNode = false,
            SchedulingInterval = TimeSpan.FromMilliseconds(200),
            ReconcileInterval = TimeSpan.FromMilliseconds(200),
            StopGracePeriod = TimeSpan.FromSeconds(2),
            SlurmConfigFile = cluster.ConfigFile,
            SlurmCommandTimeout = TimeSpan.FromSeconds(4),
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        });
        _admin = new HttpClient { BaseAddress = _server.Address, Timeout = TestServer.Deadline };
        _admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _server.AdminToken);
    }

    public async Task DisposeAsync()
    {
        _admin?.Dispose();
        if (_server is not null)
        {
            await _server.StopAsync();
            try
            {
                Directory.Delete(_dataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [SlurmFact]
    public async Task Submit_ToSlurmPool_RunsThroughSlurmWithLogsAndExitCodes()
    {
        await PostAsync("/api/v1/apply", new ApplyRequest { Document = "pools:\n  - name: slurm-debug\n    executor: slurm:debug\nprojects:\n  - name: hpc\n" });
        await _server!.Services.GetRequiredService<SlurmInventory>().RefreshAsync(force: true, CancellationToken.None);
        var nodes = await _server.Services.GetRequiredService<IMetadataStore>().Cluster.ListNodesAsync();
        var slurmNode = Assert.Single(nodes, n => n.Pool == "slurm-debug");
        Assert.Equal(NodeState.Ready, slurmNode.State);

        var pool = new Dictionary<string, string> { [NodeLabels.Pool] = "slurm-debug" };
        var good = await SubmitAsync(TestServer.Job("sh", "-c", "echo hello from $SLURM_JOB_PARTITION") with { Project = "hpc", NodeSelector = pool, Retry = new RetryDto { MaxAttempts = 1 } });
        var bad = await SubmitAsync(TestServer.Job("sh", "-c", "echo failing >&2; exit 3") with { Project = "hpc", NodeSelector = pool, Retry = new RetryDto { MaxAttempts = 1 } });

        var succeeded = await WaitForEndAsync(good.Id);
        var failed = await WaitForEndAsync(bad.Id);

        Assert.Equal(("Succeeded", 0), (succeeded.State, succeeded.ExitCode));
        Assert.Equal(slurmNode.Name, succeeded.Attempts.Single().Placement.Single().Node);
        Assert.Equal("hello from debug\n", await _admin!.GetStringAsync($"/api/v1/jobs/{good.Id}/logs"));
        Assert.True(File.Exists(Path.Combine(_dataDirectory, "jobs", good.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "attempt-1", "slurm-job-id")), "the attempt was submitted with sbatch");
        Assert.Equal(("Failed", 3), (failed.State, failed.ExitCode));
        Assert.Equal("failing\n", await _admin.GetStringAsync($"/api/v1/jobs/{bad.Id}/logs?stream=stderr"));
    }

    private async Task PostAsync<T>(string path, T body)
    {
        var response = await _admin!.PostAsJsonAsync(path, body, TestServer.JsonOptions);
        await TestServer.EnsureAsync(response);
    }

    private async Task<JobDto> SubmitAsync(SubmitJobRequest request)
    {
        var response = await _admin!.PostAsJsonAsync("/api/v1/jobs", request, TestServer.JsonOptions);
        await TestServer.EnsureAsync(response);
        return (await response.Content.ReadFromJsonAsync<JobDto>(TestServer.JsonOptions))!;
    }

    private async Task<JobDto> WaitForEndAsync(long id)
    {
        var until = DateTime.UtcNow + JobDeadline;
        JobDto job;
        do
        {
            job = (await _admin!.GetFromJsonAsync<JobDto>($"/api/v1/jobs/{id}", TestServer.JsonOptions))!;
            if (job.State is "Succeeded" or "Failed" or "Cancelled" or "Lost")
            {
                return job;
            }

            await Task.Delay(100);
        }
        while (DateTime.UtcNow < until);

        throw new TimeoutException($"job {id} did not end; last seen {job.State}: {job.Reason}");
    }
}
