using System.Globalization;
using Stratum.Storage.Repositories;

namespace Stratum.Storage.Tests.Repositories;

public sealed class RepositoryMaintenanceTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    [Fact]
    public async Task LiveChunksAsync_DeletedBranch_GcDropsItsChunksKeepsMainAndStaged()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        var kept = TestStores.Content(30_000, 1);
        var staged = TestStores.Content(30_000, 3);
        await f.PutAsync("data", "main", "kept", kept);
        await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("kept"));
        await f.Store.CreateBranchAsync("data", "scratch", "main");
        var doomed = await f.PutAsync("data", "scratch", "doomed", TestStores.Content(30_000, 2));
        await f.Store.CommitAsync("data", "scratch", RepositoryFixture.Message("doomed"));
        await f.PutAsync("data", "main", "staged", staged);
        (await f.Store.DeleteBranchAsync("data", "scratch")).Unwrap();

        f.Clock.Advance(TimeSpan.FromHours(2));
        var live = await f.Store.LiveChunksAsync();
        var gc = await f.Chunks.CollectGarbageAsync(live, Grace);

        Assert.True(gc.ChunksDropped > 0);
        Assert.DoesNotContain(doomed.Content.Chunks, c => f.Chunks.Contains(c.Id));
        Assert.Equal(kept, await f.ReadAsync("data", "main", "kept"));
        Assert.Equal(staged, await f.ReadAsync("data", "main", "staged"));
        Assert.True((await f.Store.VerifyAsync()).IsClean);
    }

    [Fact]
    public async Task ApplyRetentionAsync_KeepLastAndBest_DroppedCommitsFreedByGc()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("ckpt", RepositoryKind.Checkpoints, "ada");
        var losses = new[] { 0.9, 0.2, 0.5, 0.7 };
        var commits = new List<(Commit Commit, ManifestEntry Entry)>();
        for (var step = 0; step < losses.Length; step++)
        {
            f.Clock.Advance(TimeSpan.FromMinutes(1));
            var entry = await f.PutAsync("ckpt", "main", "model.pt", TestStores.Content(20_000, 100 + step));
            var metadata = new Dictionary<string, string> { ["loss"] = losses[step].ToString(CultureInfo.InvariantCulture) };
            commits.Add(((await f.Store.CommitAsync("ckpt", "main", RepositoryFixture.Message($"step {step}", metadata))).Unwrap(), entry));
        }

        var retention = (await f.Store.ApplyRetentionAsync("ckpt", new RetentionPolicy { KeepLast = 1, KeepBest = 1, Metric = "loss" })).Unwrap();
        f.Clock.Advance(TimeSpan.FromHours(2));
        await f.Chunks.CollectGarbageAsync(await f.Store.LiveChunksAsync(), Grace);

        Assert.Equal([commits[3].Commit.Id, commits[1].Commit.Id], retention.Kept);
        Assert.Contains(commits[0].Commit.Id, retention.Dropped);
        Assert.Contains(commits[2].Commit.Id, retention.Dropped);
        Assert.True(f.Chunks.Contains(commits[1].Entry.Content.Chunks[0].Id));
        Assert.False(f.Chunks.Contains(commits[2].Entry.Content.Chunks[0].Id));
        Assert.Equal(4, (await f.Store.LogAsync("ckpt", "main")).Unwrap().Count(c => c.FileCount == 1));
        Assert.True((await f.Store.VerifyAsync()).IsClean);
        Assert.Equal(RepoError.InvalidArgument, (await f.Store.ApplyRetentionAsync("ckpt", new RetentionPolicy { KeepLast = 0 })).Error);
    }

    [Fact]
    public async Task ApplyRetentionAsync_DatasetRepository_InvalidArgument()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        Assert.Equal(RepoError.InvalidArgument, (await f.Store.ApplyRetentionAsync("data", new RetentionPolicy())).Error);
    }

    [Fact]
    public async Task VerifyAsync_FlippedByteInPack_NamesRepositoryCommitAndFile()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        await f.PutAsync("data", "main", "good.bin", TestStores.Content(20_000, 1));
        var victim = await f.PutAsync("data", "main", "bad.bin", TestStores.Content(20_000, 2));
        var commit = (await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("two"))).Unwrap();
        Assert.True((await f.Store.VerifyAsync()).IsClean);

        var chunk = victim.Content.Chunks[0].Id;
        Assert.True(f.Chunks.TryLocate(chunk, out var location));
        var pack = Path.Combine(f.Root, location.Pack.Name);
        var bytes = await File.ReadAllBytesAsync(pack);
        bytes[location.Offset + (location.RecordLength / 2)] ^= 0x40;
        await File.WriteAllBytesAsync(pack, bytes);

        var report = await f.Store.VerifyAsync();

        Assert.False(report.IsClean);
        var damaged = Assert.Single(report.DamagedFiles, d => d.Chunk == chunk);
        Assert.Equal(("data", commit.Id, "bad.bin"), (damaged.Repository, damaged.Commit, damaged.Path));
        Assert.DoesNotContain(report.DamagedFiles, d => d.Path == "good.bin");
    }

    [Fact]
    public async Task VerifyAsync_DamagedCommitBlob_ReportedAsMetadata()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        await f.PutAsync("data", "main", "a", TestStores.Content(100, 1));
        var commit = (await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("a"))).Unwrap();
        var path = Path.Combine(f.Root, "repos", "data", "commits", commit.Id);
        await File.WriteAllTextAsync(path, (await File.ReadAllTextAsync(path)).Replace("\"a\"", "\"b\"", StringComparison.Ordinal));

        var report = await f.Store.VerifyAsync();

        Assert.Contains(report.DamagedMetadata, m => m.Contains(commit.Id, StringComparison.Ordinal));
    }
}
