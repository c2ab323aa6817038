using Stratum.Storage.Backends;
using Stratum.Storage.Backup;
using Stratum.Storage.Chunking;
using Stratum.Storage.Crypto;
using Stratum.Storage.Repositories;
using Stratum.Storage.Tiering;
using Xunit.Abstractions;

namespace Stratum.Storage.S3.Tests;

/// <summary>
/// Hot tier on disk, cold tier on s3rver (issue 7 item 3): lifecycle moves to S3, a restore from the cold tier
/// alone after the hot directory is deleted, and backup to and restore from S3.
/// </summary>
[RequiresS3rver]
public sealed class TieringS3Tests(ITestOutputHelper output) : IDisposable
{
    private static readonly ChunkStoreOptions Small = new()
    {
        Chunking = new ChunkingOptions { MinSize = 1024, AverageSize = 4096, MaxSize = 16384 },
        PackTargetSize = 64 * 1024,
        Workers = 2,
    };

    private readonly List<string> _directories = [];
    private readonly List<S3BlobBackend> _backends = [];

    [Fact]
    public async Task Lifecycle_ColdOnS3_ThenRestoreFromS3Alone_EveryCommittedVersionReads()
    {
        var hotRoot = Directory();
        var cold = await S3Async();
        SortedDictionary<string, byte[]> expected;
        await using (var tiers = new TieredBackend(new LocalDirectoryBackend(hotRoot), cold, new TieredBackendOptions { AccessFlushInterval = TimeSpan.Zero }))
        await using (var chunks = await ChunkStore.OpenAsync(tiers, Keys(), Small))
        {
            var store = new RepositoryStore(chunks);
            var lifecycle = new TierLifecycle(store);
            (await store.CreateRepositoryAsync("archive", RepositoryKind.Dataset, "ada")).Unwrap();
            (await store.CreateRepositoryAsync("live", RepositoryKind.Model, "ada")).Unwrap();
            for (var version = 0; version < 3; version++)
            {
                await PutAsync(store, "archive", $"part-{version}.bin", Content(40_000 + (version * 9_000), version));
                await PutAsync(store, "archive", "index.json", Content(3_000, 100 + version));
                (await store.CommitAsync("archive", "main", new CommitRequest { Message = $"v{version}", Author = "ada" })).Unwrap();
            }

            await PutAsync(store, "live", "w.bin", Content(50_000, 50));
            (await store.CommitAsync("live", "main", new CommitRequest { Message = "w", Author = "ada" })).Unwrap();
            (await lifecycle.SetPolicyAsync("archive", new LifecyclePolicy { Placement = TierPlacement.Cold })).Unwrap();
            expected = await EverythingAsync(store);

            var report = await lifecycle.ApplyLifecycleAsync(DateTimeOffset.UtcNow);

            Assert.Empty(report.Failures);
            Assert.True(report.PacksMovedToCold >= 3, $"moved {report.PacksMovedToCold}");
            Assert.True(report.PacksMirroredToCold >= 1, $"mirrored {report.PacksMirroredToCold}");
            output.WriteLine($"lifecycle: {report.PacksMovedToCold} packs moved, {report.PacksMirroredToCold} mirrored, {report.BytesCopied} B copied to S3");
            AssertSame(expected, await EverythingAsync(store)); // archive now read from S3
            Assert.True((await store.VerifyAsync()).IsClean);
        }

        System.IO.Directory.Delete(hotRoot, recursive: true);
        await using (var alone = await ChunkStore.OpenAsync(await S3Async(cold.Options.Bucket), Keys(), Small))
        {
            var store = new RepositoryStore(alone);
            AssertSame(expected, await EverythingAsync(store));
            Assert.Equal(10, expected.Count); // archive: 2 + 3 + 4 files over its versions; live: 1
            var verify = await store.VerifyAsync();
            Assert.True(verify.IsClean, string.Join("; ", verify.DamagedFiles.Select(d => $"{d.Repository}:{d.Path}").Concat(verify.DamagedMetadata)));
        }
    }

    [Fact]
    public async Task Backup_ToS3_IncrementalThenRestoreOnFreshMachine()
    {
        var root = Directory();
        var backup = await S3Async();
        await using var chunks = await ChunkStore.OpenAsync(new LocalDirectoryBackend(root), Keys(), Small);
        var store = new RepositoryStore(chunks);
        (await store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada")).Unwrap();
        for (var i = 0; i < 4; i++)
        {
            await PutAsync(store, "data", $"f{i}.bin", Content(30_000, 200 + i));
        }

        (await store.CommitAsync("data", "main", new CommitRequest { Message = "one", Author = "ada" })).Unwrap();
        var full = await StoreBackup.ExportAsync(store, backup);
        await PutAsync(store, "data", "f9.bin", Content(30_000, 299));
        (await store.CommitAsync("data", "main", new CommitRequest { Message = "two", Author = "ada" })).Unwrap();
        var incremental = await StoreBackup.ExportAsync(store, backup);
        output.WriteLine($"full backup {full.BytesCopied} B in {full.BlobsCopied} blobs; after adding one 30 kB file {incremental.BytesCopied} B in {incremental.BlobsCopied} blobs");
        Assert.InRange(incremental.BytesCopied, 15_000, full.BytesCopied / 2);

        var fresh = new LocalDirectoryBackend(Directory());
        await StoreBackup.RestoreAsync(await S3Async(backup.Options.Bucket), fresh);
        await using var restoredChunks = await ChunkStore.OpenAsync(fresh, Keys(), Small);
        var restored = new RepositoryStore(restoredChunks);
        AssertSame(await EverythingAsync(store), await EverythingAsync(restored));
        Assert.True((await restored.VerifyAsync()).IsClean);
    }

    public void Dispose()
    {
        foreach (var backend in _backends)
        {
            backend.Dispose();
        }

        foreach (var directory in _directories.Where(System.IO.Directory.Exists))
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
    }

    private async Task<S3BlobBackend> S3Async(string? bucket = null)
    {
        var backend = new S3BlobBackend(await S3rverServer.OptionsAsync(bucket ?? await S3rverServer.CreateBucketAsync(), "store/"));
        _backends.Add(backend);
        return backend;
    }

    private string Directory()
    {
        var path = Path.Combine(Path.GetTempPath(), "stratum-tier-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(path);
        _directories.Add(path);
        return path;
    }

    private static KeyRing Keys() => new(StoreKey.FromBytes(Enumerable.Range(0, 32).Select(i => (byte)(i * 7 + 3)).ToArray()));

    private static byte[] Content(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        Array.Fill(bytes, (byte)'a', 0, length / 3); // partly compressible
        return bytes;
    }

    private static async Task PutAsync(RepositoryStore store, string repository, string path, byte[] content) =>
        (await store.PutObjectAsync(repository, "main", path, new MemoryStream(content))).Unwrap();

    /// <summary>Every file of every commit of every branch: "repo@commit:path" → bytes.</summary>
    private static async Task<SortedDictionary<string, byte[]>> EverythingAsync(RepositoryStore store)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var repository in await store.ListRepositoriesAsync())
        {
            foreach (var branch in await store.ListBranchesAsync(repository.Name))
            {
                foreach (var commit in (await store.LogAsync(repository.Name, branch.CommitId, 10_000)).Unwrap())
                {
                    foreach (var entry in (await store.ListAsync(repository.Name, commit.Id, limit: 100_000)).Unwrap().Objects)
                    {
                        await using var stream = (await store.OpenReadAsync(repository.Name, commit.Id, entry.Path)).Unwrap();
                        using var copy = new MemoryStream();
                        await stream.CopyToAsync(copy);
                        files[$"{repository.Name}@{commit.Id}:{entry.Path}"] = copy.ToArray();
                    }
                }
            }
        }

        return files;
    }

    private static void AssertSame(SortedDictionary<string, byte[]> expected, SortedDictionary<string, byte[]> actual)
    {
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (key, bytes) in expected)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(actual[key]), $"{key} differs");
        }
    }
}
