using Stratum.Storage.Backends;
using Stratum.Storage.Backup;
using Stratum.Storage.Repositories;
using Stratum.Storage.Tests.Repositories;
using Stratum.Storage.Tests.Tiering;
using Xunit.Abstractions;

namespace Stratum.Storage.Tests.Backup;

public sealed class StoreBackupTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<string> _directories = [];
    private RepositoryFixture _f = null!;

    public async Task InitializeAsync() => _f = await RepositoryFixture.CreateAsync();

    public async Task DisposeAsync()
    {
        await _f.DisposeAsync();
        foreach (var directory in _directories.Where(Directory.Exists))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task ExportAsync_WholeStore_RestoredOnFreshMachineReadsByteIdenticalAndVerifies()
    {
        await FillAsync();
        var expected = await StoreSnapshot.ReadEverythingAsync(_f.Store);
        var backup = Backend();
        var events = new List<BackupProgress>();

        var exported = await StoreBackup.ExportAsync(_f.Store, backup, progress: new Recorder(events));

        Assert.Equal(BackupKind.Store, exported.Kind);
        Assert.Equal(["data", "models"], exported.Repositories);
        Assert.Equal(exported.BlobsExamined, exported.BlobsCopied);
        Assert.Equal(exported.BlobsCopied, events[^1].BlobsDone);
        Assert.Equal(events[^1].BlobsTotal, events[^1].BlobsDone);
        Assert.Equal(exported.BytesCopied, events[^1].BytesCopied);
        var manifest = await StoreBackup.ReadManifestAsync(backup);
        Assert.Equal(BackupKind.Store, manifest!.Kind);

        var fresh = Backend();
        var restored = await StoreBackup.RestoreAsync(backup, fresh);
        Assert.Equal(exported.BlobsCopied, restored.BlobsCopied);
        await using var chunks = await TestStores.OpenAsync(fresh, TestStores.Keys());
        var store = new RepositoryStore(chunks);
        StoreSnapshot.AssertSame(expected, await StoreSnapshot.ReadEverythingAsync(store));
        Assert.True(expected.Count >= 6);
        Assert.True((await store.VerifyAsync()).IsClean);
        Assert.Equal(["main", "scratch"], (await store.ListBranchesAsync("data")).Select(b => b.Name));
        Assert.Equal(["v1"], (await store.ListTagsAsync("data")).Select(b => b.Name));
        Assert.Null(await fresh.StatAsync(StoreBackup.ManifestName));
    }

    [Fact]
    public async Task ExportAsync_Again_CopiesOnlyWhatIsNewAndDropsWhatIsGone()
    {
        await FillAsync();
        var backup = Backend();
        var first = await StoreBackup.ExportAsync(_f.Store, backup);
        var unchanged = await StoreBackup.ExportAsync(_f.Store, backup);
        var added = TestStores.Content(40_000, 99);
        await _f.PutAsync("data", "main", "new.bin", added);
        await _f.Store.CommitAsync("data", "main", RepositoryFixture.Message("new"));
        (await _f.Store.DeleteBranchAsync("data", "scratch")).Unwrap();
        var second = await StoreBackup.ExportAsync(_f.Store, backup);
        output.WriteLine($"full: {first.BlobsCopied} blobs {first.BytesCopied} B; unchanged: {unchanged.BlobsCopied} blobs {unchanged.BytesCopied} B; one 40 kB file added: {second.BlobsCopied} blobs {second.BytesCopied} B");

        Assert.Equal((0, 0L), (unchanged.BlobsCopied, unchanged.BytesCopied));
        Assert.Equal(first.BlobsCopied, unchanged.BlobsSkipped);
        Assert.InRange(second.BytesCopied, 20_000, first.BytesCopied / 2);
        Assert.True(second.BlobsDeleted >= 1); // the deleted branch's ref

        var fresh = Backend();
        await StoreBackup.RestoreAsync(backup, fresh);
        await using var chunks = await TestStores.OpenAsync(fresh, TestStores.Keys());
        var store = new RepositoryStore(chunks);
        StoreSnapshot.AssertSame(await StoreSnapshot.ReadEverythingAsync(_f.Store), await StoreSnapshot.ReadEverythingAsync(store));
        Assert.Equal(["main"], (await store.ListBranchesAsync("data")).Select(b => b.Name));
        Assert.True((await store.VerifyAsync()).IsClean);
    }

    [Fact]
    public async Task ExportAsync_OneRepository_RestoresAloneAndRefusesToOverwrite()
    {
        await FillAsync();
        var backup = Backend();
        var exported = await StoreBackup.ExportAsync(_f.Store, backup, "models");
        Assert.Equal(BackupKind.Repository, exported.Kind);
        Assert.DoesNotContain(backup.ListAsync("repos/data/").ToBlockingEnumerable(), _ => true);

        var fresh = Backend();
        await StoreBackup.RestoreAsync(backup, fresh);
        await using (var chunks = await TestStores.OpenAsync(fresh, TestStores.Keys()))
        {
            var store = new RepositoryStore(chunks);
            Assert.Equal(["models"], (await store.ListRepositoriesAsync()).Select(r => r.Name));
            var all = await StoreSnapshot.ReadEverythingAsync(_f.Store);
            var models = new SortedDictionary<string, byte[]>(all.Where(e => e.Key.StartsWith("models@", StringComparison.Ordinal)).ToDictionary(), StringComparer.Ordinal);
            StoreSnapshot.AssertSame(models, await StoreSnapshot.ReadEverythingAsync(store));
            Assert.True((await store.VerifyAsync()).IsClean);
        }

        var listed = fresh.ListAsync("").ToBlockingEnumerable().Count();
        var again = await Assert.ThrowsAsync<InvalidOperationException>(() => StoreBackup.RestoreAsync(backup, fresh));
        Assert.Contains("already has a repository of that name", again.Message, StringComparison.Ordinal);
        Assert.Equal(listed, fresh.ListAsync("").ToBlockingEnumerable().Count());

        // A repository backup restores into a live store that lacks it, next to what is there.
        (await _f.Store.DeleteRepositoryAsync("models")).Unwrap();
        await StoreBackup.RestoreAsync(backup, _f.Backend);
        await _f.Chunks.ReloadIndexAsync();
        Assert.Equal(["data", "models"], (await _f.Store.ListRepositoriesAsync()).Select(r => r.Name));
        Assert.Equal(TestStores.Content(80_000, 5), await _f.ReadAsync("models", "main", "weights.bin"));
    }

    [Fact]
    public async Task RestoreAsync_BadInput_ClearErrorsNothingWritten()
    {
        await FillAsync();
        var notABackup = Backend();
        await notABackup.PutAsync("something", new MemoryStream([1, 2, 3]));
        var backup = Backend();
        await StoreBackup.ExportAsync(_f.Store, backup);

        var noManifest = await Assert.ThrowsAsync<InvalidDataException>(() => StoreBackup.RestoreAsync(Backend(), Backend()));
        Assert.Contains("is not a Stratum backup", noManifest.Message, StringComparison.Ordinal);
        var notEmpty = await Assert.ThrowsAsync<InvalidOperationException>(() => StoreBackup.RestoreAsync(backup, notABackup));
        Assert.Contains("it is not empty", notEmpty.Message, StringComparison.Ordinal);
        Assert.Single(notABackup.ListAsync("").ToBlockingEnumerable());
        var foreignTarget = await Assert.ThrowsAsync<ArgumentException>(() => StoreBackup.ExportAsync(_f.Store, notABackup));
        Assert.Contains("holds no Stratum backup", foreignTarget.Message, StringComparison.Ordinal);
        var kindClash = await Assert.ThrowsAsync<ArgumentException>(() => StoreBackup.ExportAsync(_f.Store, backup, "data"));
        Assert.Contains("already holds a backup of the whole store", kindClash.Message, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => StoreBackup.ExportAsync(_f.Store, Backend(), "nope"));
        Assert.Contains("'nope'", unknown.Message, StringComparison.Ordinal);
    }

    private async Task FillAsync()
    {
        await _f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        await _f.Store.CreateRepositoryAsync("models", RepositoryKind.Model, "ada");
        await _f.PutAsync("data", "main", "a.bin", TestStores.Content(60_000, 1));
        await _f.PutAsync("data", "main", "dir/b.bin", TestStores.Content(5_000, 2));
        await _f.Store.CommitAsync("data", "main", RepositoryFixture.Message("one"));
        await _f.Store.CreateTagAsync("data", "v1", "main");
        await _f.PutAsync("data", "main", "a.bin", TestStores.Content(60_000, 3));
        await _f.Store.CommitAsync("data", "main", RepositoryFixture.Message("two"));
        await _f.Store.CreateBranchAsync("data", "scratch", "main");
        await _f.PutAsync("data", "scratch", "c.bin", TestStores.Content(20_000, 4));
        await _f.Store.CommitAsync("data", "scratch", RepositoryFixture.Message("three"));
        await _f.PutAsync("models", "main", "weights.bin", TestStores.Content(80_000, 5));
        await _f.PutAsync("models", "main", "shared.bin", TestStores.Content(60_000, 1)); // dedups against data
        await _f.Store.CommitAsync("models", "main", RepositoryFixture.Message("m"));
    }

    private LocalDirectoryBackend Backend()
    {
        var directory = TestStores.NewDirectory();
        _directories.Add(directory);
        return new LocalDirectoryBackend(directory);
    }

    /// <summary>Synchronous, unlike Progress&lt;T&gt;, so the last event is there when the call returns.</summary>
    private sealed class Recorder(List<BackupProgress> events) : IProgress<BackupProgress>
    {
        public void Report(BackupProgress value) => events.Add(value);
    }
}
