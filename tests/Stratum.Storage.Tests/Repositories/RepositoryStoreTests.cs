using Stratum.Storage.Repositories;

namespace Stratum.Storage.Tests.Repositories;

public sealed class RepositoryStoreTests
{
    [Theory]
    [InlineData("ab")]
    [InlineData("Data")]
    [InlineData("-data")]
    [InlineData("data_set")]
    public async Task CreateRepositoryAsync_BadName_InvalidArgument(string name)
    {
        await using var f = await RepositoryFixture.CreateAsync();
        var result = await f.Store.CreateRepositoryAsync(name, RepositoryKind.Dataset, "ada");
        Assert.Equal(RepoError.InvalidArgument, result.Error);
    }

    [Fact]
    public async Task CreateRepositoryAsync_New_ListedWithMainAndRootCommit()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        var info = (await f.Store.CreateRepositoryAsync("imagenet-1k", RepositoryKind.Dataset, "ada")).Unwrap();
        var again = await f.Store.CreateRepositoryAsync("imagenet-1k", RepositoryKind.Model, "bob");

        Assert.Equal(RepoError.AlreadyExists, again.Error);
        Assert.Equal(f.Clock.GetUtcNow(), info.CreatedAt);
        Assert.Equal("imagenet-1k", Assert.Single(await f.Store.ListRepositoriesAsync()).Name);
        var main = Assert.Single(await f.Store.ListBranchesAsync("imagenet-1k"));
        Assert.Equal("main", main.Name);
        Assert.Equal(0, (await f.Store.LoadCommitAsync("imagenet-1k", main.CommitId))!.FileCount);
    }

    [Fact]
    public async Task PutObjectAsync_Staged_VisibleOnBranchOnlyUntilCommitted()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        var root = (await f.Store.ResolveAsync("data", "main")).Unwrap().CommitId;
        (await f.Store.CreateBranchAsync("data", "dev", "main")).Unwrap();
        var bytes = TestStores.Content(30_000, 1);
        await f.PutAsync("data", "main", "train/a.bin", bytes);

        Assert.Equal(bytes, await f.ReadAsync("data", "main", "train/a.bin"));
        Assert.Equal(RepoError.NotFound, (await f.Store.StatAsync("data", "dev", "train/a.bin")).Error);
        Assert.Equal(RepoError.NotFound, (await f.Store.StatAsync("data", root, "train/a.bin")).Error);

        var commit = (await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("add a"))).Unwrap();
        Assert.Equal([root], commit.Parents);
        Assert.Equal(bytes, await f.ReadAsync("data", commit.Id[..10], "train/a.bin"));
        Assert.Equal(RepoError.NothingToCommit, (await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("again"))).Error);
    }

    [Fact]
    public async Task DeleteObjectAsync_CommittedFile_HiddenOnBranchAndResetRestores()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        await f.PutAsync("data", "main", "a", TestStores.Content(5000, 1));
        await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("a"));
        await f.PutAsync("data", "main", "b", TestStores.Content(5000, 2));

        Assert.True((await f.Store.DeleteObjectAsync("data", "main", "a")).IsSuccess);
        Assert.True((await f.Store.DeleteObjectAsync("data", "main", "b")).IsSuccess);
        Assert.Equal(RepoError.NotFound, (await f.Store.DeleteObjectAsync("data", "main", "b")).Error);
        Assert.Empty((await f.Store.ListAsync("data", "main")).Unwrap().Objects);

        Assert.Equal(1, (await f.Store.ResetAsync("data", "main")).Unwrap());
        Assert.Equal(["a"], (await f.Store.ListAsync("data", "main")).Unwrap().Objects.Select(o => o.Path));
    }

    [Fact]
    public async Task CommitAsync_SeveralCommits_LogDiffTagAndAncestryResolve()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        foreach (var path in new[] { "a", "b", "c", "d", "e" })
        {
            await f.PutAsync("data", "main", path, TestStores.Content(3000, path[0]));
        }

        var first = (await f.Store.CommitAsync("data", "main", new CommitRequest { Message = "five", Author = "ada", Lineage = new Lineage("job-7", ["raw@0123abcd"]) })).Unwrap();
        Assert.Equal(3, first.Pages.Count);
        (await f.Store.CreateTagAsync("data", "v1", "main")).Unwrap();
        f.Clock.Advance(TimeSpan.FromMinutes(1));
        await f.PutAsync("data", "main", "b", TestStores.Content(4000, 99));
        await f.Store.DeleteObjectAsync("data", "main", "d");
        await f.PutAsync("data", "main", "f", TestStores.Content(100, 5));
        var second = (await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("change"))).Unwrap();

        var diff = (await f.Store.DiffAsync("data", "v1", "main")).Unwrap();
        Assert.Equal(
            [new DiffEntry("b", DiffKind.Changed, 3000, 4000), new DiffEntry("d", DiffKind.Removed, 3000, null), new DiffEntry("f", DiffKind.Added, null, 100)],
            diff);
        var log = (await f.Store.LogAsync("data", "main")).Unwrap();
        Assert.Equal([second.Id, first.Id], log.Take(2).Select(c => c.Id));
        Assert.Equal(3, log.Count);
        Assert.Equal("job-7", log[1].Lineage!.JobId);
        Assert.Equal(first.Id, (await f.Store.ResolveAsync("data", "main~1")).Unwrap().CommitId);
        Assert.Equal(RepoError.NotFound, (await f.Store.ResolveAsync("data", "main~3")).Error);
        Assert.Equal(RepoError.AlreadyExists, (await f.Store.CreateTagAsync("data", "v1", "main")).Error);
    }

    [Fact]
    public async Task ListAsync_DelimiterAndPaging_ObjectsAndPrefixesInOrder()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        foreach (var path in new[] { "t/x/1", "t/x/2", "t/a", "t/z", "u/1" })
        {
            await f.PutAsync("data", "main", path, TestStores.Content(100, path.Length));
        }

        await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("files"));
        await f.PutAsync("data", "main", "t/b", TestStores.Content(100, 3));

        var all = (await f.Store.ListAsync("data", "main", "t/", "/")).Unwrap();
        Assert.Equal(["t/a", "t/b", "t/z"], all.Objects.Select(o => o.Path));
        Assert.Equal(["t/x/"], all.CommonPrefixes);

        var page1 = (await f.Store.ListAsync("data", "main", "t/", "/", limit: 2)).Unwrap();
        Assert.True(page1.IsTruncated);
        var page2 = (await f.Store.ListAsync("data", "main", "t/", "/", page1.NextStartAfter, limit: 2)).Unwrap();
        Assert.Equal(["t/a", "t/b", "t/z"], page1.Objects.Concat(page2.Objects).Select(o => o.Path));
        Assert.Equal(["t/x/"], page1.CommonPrefixes.Concat(page2.CommonPrefixes));
        Assert.False(page2.IsTruncated);
    }

    [Fact]
    public async Task UpdateBranchAsync_StaleExpectedCommit_Conflict()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        var root = (await f.Store.ResolveAsync("data", "main")).Unwrap().CommitId;
        await f.PutAsync("data", "main", "a", TestStores.Content(100, 1));
        var next = (await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("a"))).Unwrap();

        var stale = await f.Store.UpdateBranchAsync("data", "main", root, root);
        var ok = await f.Store.UpdateBranchAsync("data", "main", next.Id, root);

        Assert.Equal(RepoError.Conflict, stale.Error);
        Assert.Contains(next.Id, stale.Message);
        Assert.True(ok.IsSuccess);
        Assert.Equal(root, (await f.Store.ResolveAsync("data", "main")).Unwrap().CommitId);
    }

    [Fact]
    public async Task CommitAsync_ConcurrentPutsAndCommits_NoWriteLost()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        var writers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            await f.PutAsync("data", "main", $"f{i}", TestStores.Content(2000, i));
            await f.Store.CommitAsync("data", "main", RepositoryFixture.Message($"c{i}"));
        }));
        await Task.WhenAll(writers);
        await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("rest"));

        var head = (await f.Store.ResolveAsync("data", "main")).Unwrap().CommitId;
        Assert.Equal(8, (await f.Store.LoadCommitAsync("data", head))!.FileCount);
    }

    [Fact]
    public async Task CommitAsync_TwoStoreObjectsOnOneDirectory_FileLockSerialisesCommits()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        var other = await f.ReopenAsync();
        var writers = Enumerable.Range(0, 6).Select(i => Task.Run(async () =>
        {
            var store = i % 2 == 0 ? f.Store : other;
            (await store.PutObjectAsync("data", "main", $"f{i}", new MemoryStream(TestStores.Content(1000, i)))).Unwrap();
            await store.CommitAsync("data", "main", RepositoryFixture.Message($"c{i}"));
        }));
        await Task.WhenAll(writers);
        await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("rest"));

        var head = (await other.ResolveAsync("data", "main")).Unwrap().CommitId;
        Assert.Equal(6, (await other.LoadCommitAsync("data", head))!.FileCount);
    }

    [Fact]
    public async Task CommitAsync_CrashBeforeRefWrite_OldCommitVisibleChangesStillStagedVerifyClean()
    {
        FaultyBackend? faulty = null;
        await using var f = await RepositoryFixture.CreateAsync(inner => faulty = new FaultyBackend(inner));
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        await f.PutAsync("data", "main", "a", TestStores.Content(5000, 1));
        var old = (await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("a"))).Unwrap();
        var staged = TestStores.Content(5000, 2);
        await f.PutAsync("data", "main", "b", staged);

        faulty!.FailPrefix = "repos/data/refs/heads/";
        await Assert.ThrowsAsync<IOException>(() => f.Store.CommitAsync("data", "main", RepositoryFixture.Message("b")));
        Assert.Contains(faulty.Puts, p => p.StartsWith("repos/data/commits/", StringComparison.Ordinal) && !p.EndsWith(old.Id, StringComparison.Ordinal));

        var reopened = await f.ReopenAsync();
        Assert.Equal(old.Id, (await reopened.ResolveAsync("data", "main")).Unwrap().CommitId);
        Assert.Equal(staged, await f.ReadAsync("data", "main", "b", reopened));
        Assert.True((await reopened.VerifyAsync()).IsClean);
        var retried = (await reopened.CommitAsync("data", "main", RepositoryFixture.Message("b"))).Unwrap();
        Assert.Equal(2, retried.FileCount);
    }

    [Fact]
    public async Task ReopenedStore_FreshObject_SeesRepositoriesRefsCommitsAndStaging()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("models", RepositoryKind.Model, "ada");
        var weights = TestStores.Content(40_000, 3);
        await f.PutAsync("models", "main", "w.bin", weights);
        await f.Store.CommitAsync("models", "main", RepositoryFixture.Message("w"));
        await f.Store.CreateTagAsync("models", "v1", "main");
        await f.PutAsync("models", "main", "staged.txt", TestStores.Content(10, 4));

        var reopened = await f.ReopenAsync();

        Assert.Equal(RepositoryKind.Model, (await reopened.GetRepositoryAsync("models")).Unwrap().Kind);
        Assert.Equal(weights, await f.ReadAsync("models", "v1", "w.bin", reopened));
        Assert.Equal(["staged.txt", "w.bin"], (await reopened.ListAsync("models", "main")).Unwrap().Objects.Select(o => o.Path));
    }

    [Fact]
    public async Task PutDirectoryAsync_ThenCheckout_OneCommitAndIdenticalFiles()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        var source = Path.Combine(f.Root, "..", Path.GetFileName(f.Root) + "-src");
        var target = Path.Combine(f.Root, "..", Path.GetFileName(f.Root) + "-out");
        try
        {
            Directory.CreateDirectory(Path.Combine(source, "sub"));
            await File.WriteAllBytesAsync(Path.Combine(source, "one.bin"), TestStores.Content(20_000, 1));
            await File.WriteAllBytesAsync(Path.Combine(source, "sub", "two.bin"), TestStores.Content(7_000, 2));
            var reports = new List<TransferProgress>();

            var commit = (await f.Store.PutDirectoryAsync("data", "main", source, "in/", RepositoryFixture.Message("upload"), new Recorder(reports))).Unwrap();
            var count = (await f.Store.CheckoutAsync("data", commit.Id, target, "in/")).Unwrap();

            Assert.Equal(["in/one.bin", "in/sub/two.bin"], (await f.Store.ListAsync("data", commit.Id)).Unwrap().Objects.Select(o => o.Path));
            Assert.Equal(2, commit.FileCount);
            Assert.Equal(2, count);
            Assert.Equal(27_000, reports[^1].BytesDone);
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(source, "sub", "two.bin")), await File.ReadAllBytesAsync(Path.Combine(target, "sub", "two.bin")));
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(source, "one.bin")), await File.ReadAllBytesAsync(Path.Combine(target, "one.bin")));
            Assert.Empty(Directory.GetFiles(target, ".stratum-*", SearchOption.AllDirectories));
        }
        finally
        {
            Directory.Delete(source, true);
            if (Directory.Exists(target))
            {
                Directory.Delete(target, true);
            }
        }
    }

    [Fact]
    public async Task DiskUsageAsync_SameFileTwice_StoredBelowLogical()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        var bytes = TestStores.Content(50_000, 8);
        await f.PutAsync("data", "main", "a", bytes);
        await f.PutAsync("data", "main", "copy-of-a", bytes);
        await f.Store.CommitAsync("data", "main", RepositoryFixture.Message("twice"));

        var usage = (await f.Store.DiskUsageAsync("data")).Unwrap();

        Assert.Equal(100_000, usage.LogicalBytesHead);
        Assert.Equal(100_000, usage.LogicalBytesAllCommits);
        Assert.InRange(usage.StoredBytes, 1, 50_000);
    }

    private sealed class Recorder(List<TransferProgress> reports) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => reports.Add(value);
    }
}
