using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Stratum.Client;
using Stratum.Client.Contracts;

namespace Stratum.Server.Tests;

/// <summary>The artifact store's REST API against a real in-process server, through the real typed client.</summary>
public sealed class StoreApiTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private StratumClient _admin = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(declareNode: false);
        _admin = new StratumClient(_server.Server.Address, _server.Server.AdminToken);
        await _server.ApplyAsync("""
            projects:
              - name: vision
            users:
              - name: bob
                roles: {vision: member}
              - name: vera
                roles: {vision: viewer}
            """);
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task PutCommitListGetLogDiff_RoundTripsBytesAndHistory()
    {
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "images", Kind = "dataset" });
        var first = RandomBytes(3 * 1024 * 1024 + 17);
        var put = await _admin.PutObjectAsync("images", "main", "train/a.bin", new MemoryStream(first));
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(first)), put.Md5);
        await _admin.PutObjectAsync("images", "main", "train/b.bin", new MemoryStream([1, 2, 3]));
        var c1 = await _admin.CommitAsync("images", "main", new CommitRequestDto { Message = "first", Metadata = new Dictionary<string, string> { ["source"] = "test" } });
        Assert.Equal(2, c1.Files);

        var top = await _admin.ListObjectsAsync("images", "main", delimiter: "/");
        Assert.Equal(["train/"], top.CommonPrefixes);
        var page = await _admin.ListObjectsAsync("images", "main", prefix: "train/", limit: 1);
        Assert.True(page.IsTruncated);
        var next = await _admin.ListObjectsAsync("images", "main", prefix: "train/", after: page.NextAfter, limit: 1);
        Assert.Equal("train/b.bin", Assert.Single(next.Objects).Path);

        await using (var read = await _admin.OpenObjectAsync("images", "main", "train/a.bin"))
        {
            var copy = new MemoryStream();
            await read.CopyToAsync(copy);
            Assert.Equal(first, copy.ToArray());
        }

        // Range and ETag through plain HTTP, as curl or a browser would ask.
        using var http = _server.Client(_server.Server.AdminToken);
        using var ranged = new HttpRequestMessage(HttpMethod.Get, "/api/v1/repos/images/refs/main/object?path=train/a.bin");
        ranged.Headers.Range = new RangeHeaderValue(1_000_000, 1_000_099);
        using var partial = await http.SendAsync(ranged);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(first.AsSpan(1_000_000, 100).ToArray(), await partial.Content.ReadAsByteArrayAsync());
        Assert.Equal($"\"{put.Md5}\"", partial.Headers.ETag?.Tag);

        await _admin.PutObjectAsync("images", "main", "train/c.bin", new MemoryStream([9]));
        await _admin.DeleteObjectAsync("images", "main", "train/b.bin");
        var c2 = await _admin.CommitAsync("images", "main", new CommitRequestDto { Message = "second" });
        var diff = await _admin.DiffAsync("images", c1.Id, "main");
        Assert.Equal(["train/b.bin:removed", "train/c.bin:added"], diff.Entries.Select(e => $"{e.Path}:{e.Kind}").ToArray());

        var log = await _admin.LogAsync("images", "main");
        Assert.Equal([c2.Id, c1.Id], log.Take(2).Select(c => c.Id).ToArray());
        Assert.Equal("test", log[1].Metadata["source"]);

        await _admin.CreateTagAsync("images", "v1", c1.Id);
        await _admin.CreateBranchAsync("images", "exp", "v1");
        Assert.Contains(await _admin.ListBranchesAsync("images"), b => b.Name == "exp" && b.CommitId == c1.Id);
        await using (var old = await _admin.OpenObjectAsync("images", "v1", "train/b.bin"))
        {
            var bytes = new MemoryStream();
            await old.CopyToAsync(bytes);
            Assert.Equal([1, 2, 3], bytes.ToArray());
        }

        var usage = await _admin.DiskUsageAsync("images");
        Assert.Equal(first.Length + 1, usage.LogicalBytes);
        Assert.InRange(usage.StoredBytes, first.Length / 2, first.Length * 2);

        var verify = await _admin.VerifyStoreAsync();
        Assert.True(verify.Clean);
        Assert.True(verify.ChunksChecked > 0);

        var gc = await _admin.CollectGarbageAsync("0s");
        Assert.True(gc.LiveChunks > 0);
        await using var after = await _admin.OpenObjectAsync("images", "main", "train/a.bin");
        Assert.Equal(first.Length, await CountAsync(after));

        var audit = await http.GetFromJsonAsync<PageDto<AuditEntryDto>>("/api/v1/audit?limit=100", TestServer.JsonOptions);
        Assert.Contains(audit!.Items, a => a.Action == "repo.commit" && a.Target == "repo/images/branch/main");
        Assert.Contains(audit.Items, a => a.Action == "repo.create");
    }

    [Fact]
    public async Task LargeUpload_IsStreamedPastTheDefaultBodyLimit()
    {
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "big", Kind = "model" });
        var bytes = RandomBytes(40 * 1024 * 1024);
        var put = await _admin.PutObjectAsync("big", "main", "weights.bin", new MemoryStream(bytes));
        Assert.Equal(bytes.Length, put.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), put.Sha256);
    }

    [Fact]
    public async Task BadInput_GetsTheRightStatusAndChangesNothing()
    {
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "data", Kind = "dataset" });

        var unknown = await Assert.ThrowsAsync<StratumApiException>(() => _admin.ListObjectsAsync("nope", "main"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        var badRef = await Assert.ThrowsAsync<StratumApiException>(() => _admin.LogAsync("data", "no-such-branch"));
        Assert.Equal(HttpStatusCode.NotFound, badRef.StatusCode);
        var dots = await Assert.ThrowsAsync<StratumApiException>(() => _admin.PutObjectAsync("data", "main", "a/../b", new MemoryStream([1])));
        Assert.Equal(HttpStatusCode.BadRequest, dots.StatusCode);
        Assert.Contains("..", dots.Message, StringComparison.Ordinal);
        var kind = await Assert.ThrowsAsync<StratumApiException>(() => _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "other", Kind = "video" }));
        Assert.Equal(HttpStatusCode.BadRequest, kind.StatusCode);
        Assert.Contains("kind", kind.Message, StringComparison.Ordinal);
        var twice = await Assert.ThrowsAsync<StratumApiException>(() => _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "data", Kind = "dataset" }));
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        var empty = await Assert.ThrowsAsync<StratumApiException>(() => _admin.CommitAsync("data", "main", new CommitRequestDto { Message = "nothing" }));
        Assert.Equal(HttpStatusCode.Conflict, empty.StatusCode);
        var noMessage = await Assert.ThrowsAsync<StratumApiException>(() => _admin.CommitAsync("data", "main", new CommitRequestDto()));
        Assert.Equal(HttpStatusCode.BadRequest, noMessage.StatusCode);
        var missingObject = await Assert.ThrowsAsync<StratumApiException>(() => _admin.OpenObjectAsync("data", "main", "absent.bin"));
        Assert.Equal(HttpStatusCode.NotFound, missingObject.StatusCode);

        Assert.Empty((await _admin.ListObjectsAsync("data", "main")).Objects);
        Assert.Single(await _admin.LogAsync("data", "main"));
    }

    [Fact]
    public async Task Writes_NeedAdminOrAMemberOfTheRepositorysProject()
    {
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "vision-data", Kind = "dataset", Project = "vision" });
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "private", Kind = "model" });
        using var bob = await ClientForAsync("bob");
        using var vera = await ClientForAsync("vera");

        await bob.PutObjectAsync("vision-data", "main", "x.bin", new MemoryStream([1]));
        await bob.CommitAsync("vision-data", "main", new CommitRequestDto { Message = "bob's" });
        Assert.Single((await vera.ListObjectsAsync("vision-data", "main")).Objects);

        var viewer = await Assert.ThrowsAsync<StratumApiException>(() => vera.PutObjectAsync("vision-data", "main", "y.bin", new MemoryStream([1])));
        Assert.Equal(HttpStatusCode.Forbidden, viewer.StatusCode);
        var noProject = await Assert.ThrowsAsync<StratumApiException>(() => bob.PutObjectAsync("private", "main", "y.bin", new MemoryStream([1])));
        Assert.Equal(HttpStatusCode.Forbidden, noProject.StatusCode);
        var create = await Assert.ThrowsAsync<StratumApiException>(() => bob.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "mine", Kind = "dataset" }));
        Assert.Equal(HttpStatusCode.Forbidden, create.StatusCode);
        var gc = await Assert.ThrowsAsync<StratumApiException>(() => bob.CollectGarbageAsync());
        Assert.Equal(HttpStatusCode.Forbidden, gc.StatusCode);
    }

    [Fact]
    public async Task Restart_KeepsCommittedDataReadableWithTheSameKey()
    {
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "kept", Kind = "checkpoints" });
        var bytes = RandomBytes(100_000);
        await _admin.PutObjectAsync("kept", "main", "step-1/model.pt", new MemoryStream(bytes));
        await _admin.CommitAsync("kept", "main", new CommitRequestDto { Message = "step 1" });
        Assert.True(File.Exists(Path.Combine(_server.DataDirectory, "store.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_server.DataDirectory, "store.key")));

        await _server.RestartAsync();
        using var client = new StratumClient(_server.Server.Address, _server.Server.AdminToken);
        await using var read = await client.OpenObjectAsync("kept", "main", "step-1/model.pt");
        var copy = new MemoryStream();
        await read.CopyToAsync(copy);
        Assert.Equal(bytes, copy.ToArray());
    }

    [Fact]
    public void Settings_AreValidatedNamingTheSetting()
    {
        var problems = new ServerOptions { StoreBackend = "ftp://x", StoreCompressionLevel = 40, StoreS3AccessKeyId = "id" }.Validate();
        Assert.Contains(problems, p => p.StartsWith("storeBackend:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("storeCompressionLevel:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("storeS3AccessKeyId", StringComparison.Ordinal));
        Assert.DoesNotContain(new ServerOptions { StoreBackend = "s3://my-bucket/stratum/main" }.Validate(), p => p.StartsWith("store", StringComparison.Ordinal));
    }

    private async Task<StratumClient> ClientForAsync(string user)
    {
        var created = await _admin.CreateTokenAsync(new CreateTokenRequest { User = user, Name = "test" });
        return new StratumClient(_server.Server.Address, created.Secret);
    }

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    private static async Task<long> CountAsync(Stream stream)
    {
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            total += read;
        }

        return total;
    }
}
