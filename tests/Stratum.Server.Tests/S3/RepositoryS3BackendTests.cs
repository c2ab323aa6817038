using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Stratum.S3;
using Stratum.S3.Backend;
using Stratum.Server.Store.S3;

namespace Stratum.Server.Tests.S3;

/// <summary>The backend and the key sealing without a client in between.</summary>
public sealed class RepositoryS3BackendTests(RepositoryS3Fixture fixture) : IClassFixture<RepositoryS3Fixture>
{
    private RepositoryS3Backend Backend() =>
        new(fixture.Repositories, fixture.Metadata, Path.Combine(fixture.Root, "direct-uploads"), TimeProvider.System);

    [Theory]
    [InlineData("main/a/../b")]
    [InlineData("main/./b")]
    [InlineData("main/a//b")]
    [InlineData("main/a\u0001b")]
    public async Task UnsafeKeys_AreRefused_AndNothingIsStaged(string key)
    {
        var repo = await fixture.NewRepositoryAsync("unsafe");
        S3CallScope.Begin(null).Principal = "alice";
        var error = await Assert.ThrowsAsync<S3ProtocolException>(() =>
            Backend().PutObjectAsync(repo, key, new MemoryStream([1, 2, 3]), S3ObjectWrite.Default, null, default));
        Assert.Equal("InvalidArgument", error.Error.Code);
        Assert.Empty((await fixture.Repositories.ListAsync(repo, "main")).Unwrap().Objects);
    }

    [Fact]
    public async Task KeysWithoutAPathOrOutsideABranch_AreClearErrors()
    {
        var repo = await fixture.NewRepositoryAsync("shape");
        S3CallScope.Begin(null).Principal = "alice";
        var noPath = await Assert.ThrowsAsync<S3ProtocolException>(() => Backend().PutObjectAsync(repo, "file.bin", new MemoryStream([1]), S3ObjectWrite.Default, null, default));
        Assert.Contains("BRANCH/PATH", noPath.Error.Message);
        Assert.Equal(S3Status.NoSuchKey, (await Backend().HeadObjectAsync(repo, "main/none", default)).Status);
        Assert.Equal(S3Status.NoSuchBucket, (await Backend().HeadObjectAsync("no-such-repo", "main/none", default)).Status);
    }

    [Fact]
    public async Task WithoutAnAuthenticatedUser_WritesAreDenied()
    {
        var repo = await fixture.NewRepositoryAsync("anon");
        S3CallScope.Begin(null);
        var error = await Assert.ThrowsAsync<S3ProtocolException>(() => Backend().PutObjectAsync(repo, "main/x", new MemoryStream([1]), S3ObjectWrite.Default, null, default));
        Assert.Equal("AccessDenied", error.Error.Code);
    }

    [Fact]
    public async Task MetadataAndContentType_RoundTrip_AndDeleteBucketNeedsAnEmptyRepository()
    {
        var repo = await fixture.NewRepositoryAsync("meta");
        S3CallScope.Begin(null).Principal = "alice";
        var backend = Backend();
        var write = new S3ObjectWrite("text/csv", new Dictionary<string, string> { ["origin"] = "lab-7" });
        var put = await backend.PutObjectAsync(repo, "main/t.csv", new MemoryStream("a,b\n"u8.ToArray()), write, null, default);
        var head = (await backend.HeadObjectAsync(repo, "main/t.csv", default)).Value!;

        Assert.Equal(Convert.ToHexStringLower(MD5.HashData("a,b\n"u8)), put.Value!.ETag);
        Assert.Equal("text/csv", head.ContentType);
        Assert.Equal("lab-7", head.Metadata["origin"]);
        Assert.DoesNotContain(head.Metadata.Keys, k => k.StartsWith("s3:", StringComparison.Ordinal));
        Assert.Equal(S3Status.BucketNotEmpty, await backend.DeleteBucketAsync(repo, default));
        Assert.Equal(S3Status.Ok, await backend.DeleteObjectAsync(repo, "main/t.csv", default));
        Assert.Equal(S3Status.Ok, await backend.DeleteBucketAsync(repo, default));
        Assert.Equal(S3Status.NoSuchBucket, (await backend.HeadBucketAsync(repo, default)).Status);
    }

    [Fact]
    public async Task ListingAcrossBranches_IsInKeyOrder_AndTheRootShowsOneEntryPerBranch()
    {
        var repo = await fixture.NewRepositoryAsync("order");
        S3CallScope.Begin(null).Principal = "alice";
        var backend = Backend();
        await backend.PutObjectAsync(repo, "main/x", new MemoryStream([1]), S3ObjectWrite.Default, null, default);
        await fixture.CommitAsync(repo);
        (await fixture.Repositories.CreateBranchAsync(repo, "a", "main")).Unwrap();
        (await fixture.Repositories.CreateBranchAsync(repo, "a-b", "main")).Unwrap();
        (await fixture.Repositories.CreateBranchAsync(repo, "a.c", "main")).Unwrap();

        var all = new List<string>();
        await foreach (var item in backend.ListObjectsAsync(repo, string.Empty, null, default))
        {
            all.Add(item.Key);
        }

        S3CallScope.Begin("/").Principal = "alice";
        var root = new List<string>();
        await foreach (var item in backend.ListObjectsAsync(repo, string.Empty, null, default))
        {
            root.Add(item.Key);
        }

        Assert.Equal(["a-b/x", "a.c/x", "a/x", "main/x"], all);
        Assert.Equal(all.Order(StringComparer.Ordinal), all);
        Assert.Equal(["a-b/", "a.c/", "a/", "main/"], root);
    }

    [Fact]
    public async Task Secrets_AreSealedAtRest_AndOnlyTheKeyFileOpensThem()
    {
        var box = S3SecretBox.ForDataDirectory(fixture.Root);
        var key = await S3AccessKeys.CreateAsync(fixture.Metadata, box, "bob", DateTimeOffset.UtcNow, null, default);

        using (var connection = new SqliteConnection($"Data Source={fixture.Metadata.DatabasePath};Mode=ReadOnly;Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT sealed_secret FROM s3_access_keys WHERE id = $id";
            command.Parameters.AddWithValue("$id", key.AccessKeyId);
            var stored = (string)command.ExecuteScalar()!;
            Assert.DoesNotContain(key.SecretAccessKey, stored, StringComparison.Ordinal);
            Assert.Equal(key.SecretAccessKey, box.Open(key.AccessKeyId, stored));

            // Bound to its key id, and to this key file.
            Assert.ThrowsAny<CryptographicException>(() => box.Open(fixture.Bob.AccessKeyId, stored));
            var other = S3SecretBox.LoadOrCreate(Path.Combine(fixture.Root, "other", S3SecretBox.KeyFileName));
            Assert.Contains("sealed under key", Assert.ThrowsAny<CryptographicException>(() => other.Open(key.AccessKeyId, stored)).Message);
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(box.KeyFile));
        var listed = await fixture.Metadata.S3Keys.ListAsync("bob");
        Assert.Contains(listed, k => k.Id == key.AccessKeyId);
        Assert.DoesNotContain(key.SecretAccessKey, listed.Single(k => k.Id == key.AccessKeyId).ToString(), StringComparison.Ordinal);
    }
}
