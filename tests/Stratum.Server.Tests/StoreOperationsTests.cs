using System.Net;
using System.Net.Http.Json;
using System.Text;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Storage.S3.Tests;

namespace Stratum.Server.Tests;

/// <summary>A [Fact] that needs s3rver: skipped with the reason where it is missing, run (and failing if it cannot start) under CI=true.</summary>
public sealed class S3rverFactAttribute : FactAttribute
{
    public S3rverFactAttribute()
    {
        if (S3rverServer.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>
/// The store's operations through a real server and its REST API, driven by the real client: tier policies and
/// lifecycle runs with s3rver as the cold tier, checkpoint retention, backup and restore onto a fresh server.
/// </summary>
public sealed class StoreOperationsTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<string> _directories = [];
    private readonly List<StratumServer> _servers = [];

    [S3rverFact]
    public async Task Tier_Cold_LifecycleMovesPacksToS3_ReadsAndVerifyStayClean_Audited()
    {
        var bucket = await S3rverServer.CreateBucketAsync();
        var (server, client) = await StartAsync(cold: $"s3://{bucket}/cold");
        var files = await FillAsync(client, "archive", "dataset", commits: 3);
        await FillAsync(client, "live", "model", commits: 1);
        var hotPacks = Path.Combine(server.DataDirectory, "store", "packs");
        var packsBefore = Directory.GetFiles(hotPacks, "*", SearchOption.AllDirectories).Length;

        Assert.Equal("hot", (await client.GetTierAsync("archive")).Placement);
        var policy = await client.SetTierAsync("archive", new SetTierRequest { Placement = "cold" });
        Assert.Equal("cold", policy.Placement);
        Assert.Equal("cold", (await client.GetTierAsync("archive")).Placement);

        // A dry run says what would move and moves nothing.
        var plan = await client.RunLifecycleAsync(new LifecycleRunRequest { DryRun = true });
        Assert.True(plan.DryRun);
        Assert.True(plan.PacksMovedToCold >= 1, $"plan: {plan}");
        Assert.Equal(packsBefore, Directory.GetFiles(hotPacks, "*", SearchOption.AllDirectories).Length);
        Assert.Empty(await ColdPacksAsync(bucket));

        var progress = new List<StoreOperationProgressDto>();
        var report = await client.RunLifecycleAsync(new LifecycleRunRequest(), new SyncProgress(progress.Add));
        Assert.False(report.DryRun);
        Assert.Empty(report.Failures);
        Assert.Equal(plan.PacksMovedToCold, report.PacksMovedToCold);
        Assert.True(report.HotBytesFreed > 0);
        Assert.All(progress, p => Assert.Equal("packs", p.Phase));
        Assert.Equal(packsBefore - report.PacksMovedToCold, Directory.GetFiles(hotPacks, "*", SearchOption.AllDirectories).Length);
        Assert.Equal(report.PacksMovedToCold + report.PacksMirroredToCold, (await ColdPacksAsync(bucket)).Count);

        // Every version still reads, now partly from S3, and verify re-reads both tiers clean.
        foreach (var (key, bytes) in files)
        {
            Assert.Equal(bytes, await ReadAsync(client, "archive", key.Commit, key.Path));
        }

        Assert.True((await client.VerifyStoreAsync()).Clean);

        // Back to hot: the next run brings the packs home.
        await client.SetTierAsync("archive", new SetTierRequest { Placement = "hot" });
        var back = await client.RunLifecycleAsync(new LifecycleRunRequest());
        Assert.Equal(report.PacksMovedToCold, back.PacksRehydrated);
        Assert.Equal(packsBefore, Directory.GetFiles(hotPacks, "*", SearchOption.AllDirectories).Length);

        var audit = (await client.ListAuditAsync(limit: 200)).Items;
        Assert.Contains(audit, a => a.Action == "repo.tier.set" && a.Target == "repo/archive" && a.Detail == "cold");
        Assert.Equal(2, audit.Count(a => a.Action == "store.lifecycle")); // the dry run changed nothing and is not audited
    }

    [S3rverFact]
    public async Task Tier_Lifecycle_ByAge_AndBackupToS3_RestoresOnAFreshServer()
    {
        var bucket = await S3rverServer.CreateBucketAsync();
        var key = Path.Combine(Temporary(create: true), "store.key");
        var (_, client) = await StartAsync(cold: $"s3://{bucket}/cold", keyFile: key);
        var files = await FillAsync(client, "aged", "dataset", commits: 2);

        // Packs written a moment ago are younger than a day: nothing is old enough yet.
        await client.SetTierAsync("aged", new SetTierRequest { Placement = "lifecycle", ColdAfterAge = "1d" });
        var young = await client.RunLifecycleAsync(new LifecycleRunRequest());
        Assert.Equal(0, young.PacksMovedToCold);
        Assert.True(young.PacksMirroredToCold >= 1); // mirrored: the cold tier holds every version

        var backup = await client.BackupAsync(new BackupRequest { To = $"s3://{bucket}/backup", Repository = "aged" });
        Assert.Equal("repository", backup.Kind);
        Assert.True(backup.BlobsCopied > 0);

        var (_, fresh) = await StartAsync(keyFile: key, s3: true);
        var restored = await fresh.RestoreAsync(new RestoreRequest { From = $"s3://{bucket}/backup" });
        Assert.Equal(["aged"], restored.Repositories);
        await AssertSameAsync(fresh, "aged", files);
        Assert.True((await fresh.VerifyStoreAsync()).Clean);
    }

    [Fact]
    public async Task Tier_WithoutColdTier_IsAConflict_BadInputNamesTheField_NonAdminsRefused()
    {
        var (server, client) = await StartAsync();
        await FillAsync(client, "plain", "dataset", commits: 1);
        Assert.Equal("hot", (await client.GetTierAsync("plain")).Placement);

        var noCold = await Assert.ThrowsAsync<StratumApiException>(() => client.SetTierAsync("plain", new SetTierRequest { Placement = "cold" }));
        Assert.Equal(HttpStatusCode.Conflict, noCold.StatusCode);
        Assert.Contains("storeColdBackend", noCold.Message);
        var noRun = await Assert.ThrowsAsync<StratumApiException>(() => client.RunLifecycleAsync(new LifecycleRunRequest()));
        Assert.Equal(HttpStatusCode.Conflict, noRun.StatusCode);

        var bad = await Assert.ThrowsAsync<StratumApiException>(() => client.SetTierAsync("plain", new SetTierRequest { Placement = "lukewarm", ColdAfterIdle = "soon" }));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.True(bad.Errors!.ContainsKey("placement"), string.Join("; ", bad.Errors!.Keys));
        Assert.True(bad.Errors!.ContainsKey("coldAfterIdle"), string.Join("; ", bad.Errors!.Keys));
        var lifecycleWithoutRule = await Assert.ThrowsAsync<StratumApiException>(() => client.SetTierAsync("plain", new SetTierRequest { Placement = "lifecycle" }));
        Assert.Equal(HttpStatusCode.BadRequest, lifecycleWithoutRule.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAsync<StratumApiException>(() => client.GetTierAsync("nope-not-here"))).StatusCode);

        using var bob = await UserClientAsync(server, client, "bob");
        foreach (var call in new Func<Task>[]
        {
            () => bob.SetTierAsync("plain", new SetTierRequest { Placement = "cold" }),
            () => bob.RunLifecycleAsync(new LifecycleRunRequest { DryRun = true }),
            () => bob.BackupAsync(new BackupRequest { To = Temporary() }),
            () => bob.RestoreAsync(new RestoreRequest { From = Temporary() }),
        })
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await Assert.ThrowsAsync<StratumApiException>(call)).StatusCode);
        }
    }

    [Fact]
    public void ColdBackend_Setting_IsCheckedAtStart_NamingTheSetting()
    {
        Assert.Contains(new ServerOptions { StoreColdBackend = "/mnt/cold" }.Validate(), p => p.StartsWith("storeColdBackend: '/mnt/cold' must be an S3 URL", StringComparison.Ordinal));
        Assert.Contains(new ServerOptions { StoreBackend = "s3://hot-bucket", StoreColdBackend = "s3://cold-bucket" }.Validate(), p => p.StartsWith("storeColdBackend: a cold tier needs the local store", StringComparison.Ordinal));
        Assert.DoesNotContain(new ServerOptions { StoreColdBackend = "s3://cold-bucket/stratum" }.Validate(), p => p.StartsWith("store", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Retention_KeepsLastAndBest_ByMetric_ThenGcFreesTheRest()
    {
        var (_, client) = await StartAsync();
        await client.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "ckpt", Kind = "checkpoints" });
        var losses = new[] { 0.9, 0.2, 0.5, 0.7, 0.6 };
        var ids = new List<string>();
        for (var step = 0; step < losses.Length; step++)
        {
            await client.PutObjectAsync("ckpt", "main", "model.bin", new MemoryStream(Content(200_000, step)));
            ids.Add((await client.CommitAsync("ckpt", "main", new CommitRequestDto
            {
                Message = $"step {step}",
                Metadata = new Dictionary<string, string> { ["loss"] = losses[step].ToString(System.Globalization.CultureInfo.InvariantCulture) },
            })).Id);
        }

        var result = await client.ApplyRetentionAsync("ckpt", new RetentionRequest { KeepLast = 2, KeepBest = 1, Metric = "loss" });
        Assert.Equal("main", result.Branch);
        Assert.Equal(new[] { ids[4], ids[3], ids[1] }.Order(), result.Kept.Order());
        Assert.Contains(ids[2], result.Dropped);
        Assert.Contains(ids[0], result.Dropped);
        Assert.Equal(losses.Length + 1 - 3, result.Dropped.Count); // and the repository's first, empty commit

        var gc = await client.CollectGarbageAsync("0s");
        Assert.True(gc.BytesFreed > 0, "the dropped checkpoints' chunks are freed");
        Assert.Equal(Content(200_000, 1), await ReadAsync(client, "ckpt", ids[1], "model.bin"));
        Assert.True((await client.VerifyStoreAsync()).Clean);

        await FillAsync(client, "data", "dataset", commits: 1);
        var wrongKind = await Assert.ThrowsAsync<StratumApiException>(() => client.ApplyRetentionAsync("data", new RetentionRequest { KeepLast = 1 }));
        Assert.Equal(HttpStatusCode.BadRequest, wrongKind.StatusCode);
        Assert.Contains("checkpoints", wrongKind.Message);
        var bad = await Assert.ThrowsAsync<StratumApiException>(() => client.ApplyRetentionAsync("ckpt", new RetentionRequest { KeepLast = 0, KeepBest = 2 }));
        Assert.True(bad.Errors!.ContainsKey("keepLast"), string.Join("; ", bad.Errors!.Keys));
        Assert.True(bad.Errors!.ContainsKey("metric"), string.Join("; ", bad.Errors!.Keys));
        Assert.Contains((await client.ListAuditAsync(limit: 100)).Items, a => a.Action == "repo.retention" && a.Target == "repo/ckpt/branch/main");
    }

    [Fact]
    public async Task Backup_WholeStore_DeleteDataDirectory_RestoreOnFreshServer_SameFilesCommitsAndClean()
    {
        var key = Path.Combine(Temporary(create: true), "store.key");
        var (server, client) = await StartAsync(keyFile: key);
        var datasets = await FillAsync(client, "datasets", "dataset", commits: 3);
        var models = await FillAsync(client, "models", "model", commits: 2);
        var backupDirectory = Temporary();

        var progress = new List<StoreOperationProgressDto>();
        var first = await client.BackupAsync(new BackupRequest { To = backupDirectory }, new SyncProgress(progress.Add));
        Assert.Equal("store", first.Kind);
        Assert.Equal(["datasets", "models"], first.Repositories.Order());
        Assert.True(first.BlobsCopied > 0 && first.BytesCopied > 0);
        Assert.All(progress, p => Assert.Contains(p.Phase, new[] { "snapshot", "data", "metadata", "prune" }));

        // Again into the same place: nothing changed, nothing copied but the mutable records.
        var again = await client.BackupAsync(new BackupRequest { To = backupDirectory });
        Assert.True(again.BlobsSkipped > 0);
        Assert.True(again.BytesCopied < first.BytesCopied);
        var log = await client.LogAsync("datasets", "main");

        // Refusals change nothing: inside the store, not absolute, into a non-empty store.
        var inside = await Assert.ThrowsAsync<StratumApiException>(() => client.BackupAsync(new BackupRequest { To = Path.Combine(server.DataDirectory, "store", "b") }));
        Assert.Equal(HttpStatusCode.BadRequest, inside.StatusCode);
        Assert.True(inside.Errors!.ContainsKey("to"), string.Join("; ", inside.Errors!.Keys));
        Assert.Equal(HttpStatusCode.BadRequest, (await Assert.ThrowsAsync<StratumApiException>(() => client.BackupAsync(new BackupRequest { To = "relative/dir" }))).StatusCode);
        var notEmpty = await Assert.ThrowsAsync<StratumApiException>(() => client.RestoreAsync(new RestoreRequest { From = backupDirectory }));
        Assert.Equal(HttpStatusCode.Conflict, notEmpty.StatusCode);
        Assert.Contains("not empty", notEmpty.Message);
        var notABackup = await Assert.ThrowsAsync<StratumApiException>(() => client.RestoreAsync(new RestoreRequest { From = Temporary(create: true) }));
        Assert.Equal(HttpStatusCode.BadRequest, notABackup.StatusCode);

        var audit = (await client.ListAuditAsync(limit: 100)).Items;
        Assert.Equal(2, audit.Count(a => a.Action == "store.backup" && a.Target == "store"));

        // The machine is lost: server stopped, its data directory gone.
        await server.StopAsync();
        Directory.Delete(server.DataDirectory, recursive: true);

        // A fresh server with a key of its own cannot read the backup: refused, and it stays empty.
        var (_, stranger) = await StartAsync();
        var wrongKey = await Assert.ThrowsAsync<StratumApiException>(() => stranger.RestoreAsync(new RestoreRequest { From = backupDirectory }));
        Assert.Equal(HttpStatusCode.Conflict, wrongKey.StatusCode);
        Assert.Contains("store key", wrongKey.Message);
        Assert.Empty(await stranger.ListRepositoriesAsync());

        var (_, fresh) = await StartAsync(keyFile: key);
        var restored = await fresh.RestoreAsync(new RestoreRequest { From = backupDirectory });
        Assert.Equal("store", restored.Kind);
        await AssertSameAsync(fresh, "datasets", datasets);
        await AssertSameAsync(fresh, "models", models);
        Assert.Equal(log.Select(c => c.Id), (await fresh.LogAsync("datasets", "main")).Select(c => c.Id));
        var verify = await fresh.VerifyStoreAsync();
        Assert.True(verify.Clean, string.Join("; ", verify.DamagedMetadata));
        Assert.Contains((await fresh.ListAuditAsync(limit: 100)).Items, a => a.Action == "store.restore");

        // The restored store takes new versions.
        await fresh.PutObjectAsync("datasets", "main", "after.bin", new MemoryStream(Content(10_000, 99)));
        await fresh.CommitAsync("datasets", "main", new CommitRequestDto { Message = "after restore" });
    }

    [Fact]
    public async Task Backup_OneRepository_RestoresBesideOthers_AndNotTwice()
    {
        var key = Path.Combine(Temporary(create: true), "store.key");
        var (_, client) = await StartAsync(keyFile: key);
        var files = await FillAsync(client, "solo", "model", commits: 2);
        var backupDirectory = Temporary();
        var report = await client.BackupAsync(new BackupRequest { To = backupDirectory, Repository = "solo" });
        Assert.Equal("repository", report.Kind);
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAsync<StratumApiException>(() => client.BackupAsync(new BackupRequest { To = Temporary(), Repository = "ghost-repo" }))).StatusCode);

        var (_, other) = await StartAsync(keyFile: key);
        await FillAsync(other, "resident", "dataset", commits: 1);
        await other.RestoreAsync(new RestoreRequest { From = backupDirectory });
        await AssertSameAsync(other, "solo", files);
        Assert.Equal(["resident", "solo"], (await other.ListRepositoriesAsync()).Select(r => r.Name).Order());
        var twice = await Assert.ThrowsAsync<StratumApiException>(() => other.RestoreAsync(new RestoreRequest { From = backupDirectory }));
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        Assert.True((await other.VerifyStoreAsync()).Clean);
    }

    [Fact]
    public async Task Progress_StreamsLines_EndingWithTheResult()
    {
        var (server, client) = await StartAsync();
        await FillAsync(client, "many", "dataset", commits: 12);
        using var http = new HttpClient { BaseAddress = server.Address };
        http.DefaultRequestHeaders.Authorization = new("Bearer", server.AdminToken);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/store/backup") { Content = JsonContent.Create(new BackupRequest { To = Temporary() }) };
        request.Headers.Accept.ParseAdd(StratumClient.ProgressMediaType);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType?.MediaType == StratumClient.ProgressMediaType)
        {
            var lines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            output.WriteLine($"streamed {lines.Length - 1} progress lines, then the result");
            Assert.All(lines[..^1], l => Assert.StartsWith("{\"progress\":", l));
            Assert.StartsWith("{\"result\":", lines[^1]);
        }
        else
        {
            // Finished before its first progress report: an ordinary answer.
            output.WriteLine("answered without progress lines");
            Assert.Contains("\"blobsCopied\"", body);
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }

        foreach (var directory in _directories.Where(Directory.Exists))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// A server on a new data directory. <paramref name="keyFile"/>: the store key kept outside it, as an
    /// operator keeps it to restore a backup elsewhere; <paramref name="s3"/>: the s3rver settings (without
    /// <paramref name="cold"/>, for s3:// backup locations only).
    /// </summary>
    private async Task<(StratumServer Server, StratumClient Client)> StartAsync(string? cold = null, string? keyFile = null, bool s3 = false)
    {
        var options = new ServerOptions
        {
            DataDirectory = Temporary(),
            Port = 0,
            RegisterLocalNode = false,
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
            StoreKeyFile = keyFile,
            StoreColdBackend = cold,
        };
        if (cold is not null || s3)
        {
            options.StoreS3Endpoint = await S3rverServer.EndpointAsync();
            options.StoreS3Region = "us-east-1";
            options.StoreS3AccessKeyId = S3rverServer.AccessKey;
            options.StoreS3SecretAccessKey = S3rverServer.SecretKey;
        }

        var server = await StratumServer.StartAsync(options);
        _servers.Add(server);
        return (server, new StratumClient(server.Address, server.AdminToken));
    }

    private static async Task<StratumClient> UserClientAsync(StratumServer server, StratumClient admin, string user)
    {
        using var http = new HttpClient { BaseAddress = server.Address };
        http.DefaultRequestHeaders.Authorization = new("Bearer", server.AdminToken);
        (await http.PostAsJsonAsync("/api/v1/apply", new ApplyRequest { Document = $"users:\n  - name: {user}\n" })).EnsureSuccessStatusCode();
        var token = await (await http.PostAsJsonAsync("/api/v1/tokens", new CreateTokenRequest { User = user, Name = "t" })).Content.ReadFromJsonAsync<CreatedTokenDto>(TestServer.JsonOptions);
        _ = admin;
        return new StratumClient(server.Address, token!.Secret);
    }

    /// <summary>Creates <paramref name="repo"/> and makes <paramref name="commits"/> commits of a few files each; every (commit, path) and its bytes.</summary>
    private static async Task<Dictionary<(string Commit, string Path), byte[]>> FillAsync(StratumClient client, string repo, string kind, int commits)
    {
        await client.CreateRepositoryAsync(new CreateRepositoryRequest { Name = repo, Kind = kind });
        var files = new Dictionary<(string, string), byte[]>();
        var current = new Dictionary<string, byte[]>();
        for (var version = 0; version < commits; version++)
        {
            foreach (var (path, size) in new[] { ($"part-{version}.bin", 150_000 + (version * 7_000)), ("index.json", 2_000 + version) })
            {
                var bytes = Content(size, (repo.GetHashCode(StringComparison.Ordinal) & 0xFFFF) + (version * 31) + path.Length);
                await client.PutObjectAsync(repo, "main", path, new MemoryStream(bytes));
                current[path] = bytes;
            }

            var commit = await client.CommitAsync(repo, "main", new CommitRequestDto { Message = $"v{version}" });
            foreach (var (path, bytes) in current)
            {
                files[(commit.Id, path)] = bytes;
            }
        }

        return files;
    }

    private static async Task AssertSameAsync(StratumClient client, string repo, Dictionary<(string Commit, string Path), byte[]> files)
    {
        foreach (var ((commit, path), bytes) in files)
        {
            Assert.Equal(bytes, await ReadAsync(client, repo, commit, path));
        }
    }

    private static async Task<byte[]> ReadAsync(StratumClient client, string repo, string reference, string path)
    {
        await using var stream = await client.OpenObjectAsync(repo, reference, path);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    private static async Task<List<string>> ColdPacksAsync(string bucket)
    {
        using var s3 = await S3rverServer.ClientAsync();
        var listed = await s3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket, Prefix = "cold/packs/" });
        return (listed.S3Objects ?? []).Select(o => o.Key).ToList();
    }

    /// <summary>Incompressible-enough bytes that differ by seed, so chunks do not dedup across files by accident.</summary>
    private static byte[] Content(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        Encoding.ASCII.GetBytes($"seed {seed}").CopyTo(bytes, 0);
        return bytes;
    }

    private string Temporary(bool create = false)
    {
        var path = Path.Combine(Path.GetTempPath(), "stratum-storeops-" + Guid.NewGuid().ToString("N")[..12]);
        if (create)
        {
            Directory.CreateDirectory(path);
        }

        _directories.Add(path);
        return path;
    }

    private sealed class SyncProgress(Action<StoreOperationProgressDto> report) : IProgress<StoreOperationProgressDto>
    {
        public void Report(StoreOperationProgressDto value) => report(value);
    }
}
