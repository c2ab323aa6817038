using Stratum.Storage.Backends;
using Stratum.Storage.Repositories;
using Stratum.Storage.Tiering;

namespace Stratum.Storage.Tests.Tiering;

public sealed class TierLifecycleTests
{
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    [Fact]
    public async Task ApplyLifecycleAsync_ColdPolicy_MovesPacksToColdAndEverythingStillReads()
    {
        await using var f = await TieredFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("archive", RepositoryKind.Dataset, "ada");
        await f.PutAsync("archive", "a.bin", TestStores.Content(150_000, 1));
        await f.PutAsync("archive", "b.bin", TestStores.Content(90_000, 2));
        await f.CommitAsync("archive", "two files");
        var before = await StoreSnapshot.ReadEverythingAsync(f.Store);
        (await f.Lifecycle.SetPolicyAsync("archive", new LifecyclePolicy { Placement = TierPlacement.Cold })).Unwrap();

        var report = await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow());

        Assert.Empty(report.Failures);
        Assert.True(report.PacksMovedToCold >= 2, $"moved {report.PacksMovedToCold}");
        Assert.Equal(report.PacksExamined, report.PacksMovedToCold);
        Assert.Empty(f.PackFiles(f.HotRoot));
        Assert.Equal(report.PacksMovedToCold, f.PackFiles(f.ColdRoot).Count);
        Assert.True(report.HotBytesFreed > 0);
        // Metadata stays hot (and is in cold too): refs, commits, pages, index files.
        Assert.True(Directory.EnumerateFiles(Path.Combine(f.HotRoot, "index")).Any());
        StoreSnapshot.AssertSame(before, await StoreSnapshot.ReadEverythingAsync(f.Store));

        await f.OpenAsync();
        StoreSnapshot.AssertSame(before, await StoreSnapshot.ReadEverythingAsync(f.Store));
        Assert.True((await f.Store.VerifyAsync()).IsClean);
        var again = await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow());
        Assert.Equal((0, 0L), (again.PacksMovedToCold, again.BytesCopied));
    }

    [Fact]
    public async Task ApplyLifecycleAsync_PackSharedByTwoRepositories_ColdOnlyWhenBothAllow()
    {
        await using var f = await TieredFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("cold-one", RepositoryKind.Dataset, "ada");
        await f.Store.CreateRepositoryAsync("hot-one", RepositoryKind.Dataset, "ada");
        var shared = TestStores.Content(60_000, 7);
        var sharedEntry = await f.PutAsync("cold-one", "shared.bin", shared);
        var own = await f.PutAsync("cold-one", "own.bin", TestStores.Content(60_000, 8));
        await f.CommitAsync("cold-one", "c");
        await f.PutAsync("hot-one", "copy-of-shared.bin", shared);
        await f.CommitAsync("hot-one", "h");
        (await f.Lifecycle.SetPolicyAsync("cold-one", new LifecyclePolicy { Placement = TierPlacement.Cold })).Unwrap();
        var sharedPack = f.Store.Chunks.PackOf(sharedEntry.Content.Chunks[0].Id)!;
        var ownPack = f.Store.Chunks.PackOf(own.Content.Chunks[0].Id)!;
        Assert.NotEqual(sharedPack, ownPack);

        var first = await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow());

        Assert.Empty(first.Failures);
        Assert.Equal(BlobTier.Cold, await f.Tiers.LocateAsync(ownPack));
        Assert.Equal(BlobTier.Both, await f.Tiers.LocateAsync(sharedPack)); // kept hot for hot-one, mirrored to cold

        (await f.Lifecycle.SetPolicyAsync("hot-one", new LifecyclePolicy { Placement = TierPlacement.Lifecycle, ColdAfterAge = 30 * Day })).Unwrap();
        await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow() + (10 * Day));
        Assert.Equal(BlobTier.Both, await f.Tiers.LocateAsync(sharedPack));

        var late = await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow() + (31 * Day));
        Assert.Empty(late.Failures);
        Assert.Equal(BlobTier.Cold, await f.Tiers.LocateAsync(sharedPack));
        Assert.Equal(shared, await ReadAsync(f.Store, "hot-one", "copy-of-shared.bin"));
    }

    [Fact]
    public async Task ApplyLifecycleAsync_IdleRule_FollowsReadsAndBringsReadPacksBack()
    {
        await using var f = await TieredFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("logs", RepositoryKind.Dataset, "ada");
        var read = await f.PutAsync("logs", "read.bin", TestStores.Content(60_000, 11));
        var idle = await f.PutAsync("logs", "idle.bin", TestStores.Content(60_000, 12));
        await f.CommitAsync("logs", "two");
        (await f.Lifecycle.SetPolicyAsync("logs", new LifecyclePolicy { Placement = TierPlacement.Lifecycle, ColdAfterIdle = 7 * Day })).Unwrap();
        var readPack = f.Store.Chunks.PackOf(read.Content.Chunks[0].Id)!;
        var idlePack = f.Store.Chunks.PackOf(idle.Content.Chunks[0].Id)!;

        Assert.True((await f.Store.VerifyAsync()).IsClean); // whole-pack reads: not an access
        Assert.Null(f.Tiers.LastAccess(idlePack));
        f.Clock.Advance(3 * Day);
        var early = await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow());
        Assert.Equal(0, early.PacksMovedToCold);
        Assert.True(early.PacksMirroredToCold >= 2);
        await ReadAsync(f.Store, "logs", "read.bin");

        f.Clock.Advance(5 * Day);
        var moved = await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow());
        Assert.Empty(moved.Failures);
        Assert.Equal(BlobTier.Cold, await f.Tiers.LocateAsync(idlePack));
        Assert.Equal(BlobTier.Both, await f.Tiers.LocateAsync(readPack));

        // Access times survive a restart (flushed by the run and on dispose).
        await f.OpenAsync();
        Assert.Equal(f.Clock.GetUtcNow() - (5 * Day), f.Tiers.LastAccess(readPack));

        Assert.Equal(TestStores.Content(60_000, 12), await ReadAsync(f.Store, "logs", "idle.bin"));
        f.Clock.Advance(Day);
        var back = await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow());
        Assert.Equal(1, back.PacksRehydrated);
        Assert.Equal(BlobTier.Both, await f.Tiers.LocateAsync(idlePack));
    }

    [Fact]
    public async Task OpenReadAsync_RehydrateOnRead_CopiesColdPackToHotOnce()
    {
        await using var f = await TieredFixture.CreateAsync(options: new TieredBackendOptions { RehydrateOnRead = true, AccessFlushInterval = TimeSpan.Zero });
        await f.Store.CreateRepositoryAsync("models", RepositoryKind.Model, "ada");
        var content = TestStores.Content(40_000, 21);
        var entry = await f.PutAsync("models", "w.bin", content);
        await f.CommitAsync("models", "w");
        (await f.Lifecycle.SetPolicyAsync("models", new LifecyclePolicy { Placement = TierPlacement.Cold })).Unwrap();
        await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow());
        var pack = f.Store.Chunks.PackOf(entry.Content.Chunks[0].Id)!;
        Assert.Equal(BlobTier.Cold, await f.Tiers.LocateAsync(pack));

        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ => Assert.Equal(content, await ReadAsync(f.Store, "models", "w.bin"))));

        Assert.Equal(BlobTier.Both, await f.Tiers.LocateAsync(pack));
        Assert.Equal(1, f.Tiers.PacksRehydrated);
    }

    [Fact]
    public async Task SetPolicyAsync_BadPolicyOrRepository_ClearErrorNothingWritten()
    {
        await using var f = await TieredFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");

        var noRule = await f.Lifecycle.SetPolicyAsync("data", new LifecyclePolicy { Placement = TierPlacement.Lifecycle });
        var negative = await f.Lifecycle.SetPolicyAsync("data", new LifecyclePolicy { Placement = TierPlacement.Lifecycle, ColdAfterIdle = -Day });
        var ruleOnHot = await f.Lifecycle.SetPolicyAsync("data", new LifecyclePolicy { ColdAfterAge = Day });
        var missing = await f.Lifecycle.SetPolicyAsync("nope", new LifecyclePolicy { Placement = TierPlacement.Cold });

        Assert.Equal(RepoError.InvalidArgument, noRule.Error);
        Assert.Contains("coldAfterIdle, coldAfterAge or both", noRule.Message, StringComparison.Ordinal);
        Assert.Contains("coldAfterIdle must be positive", negative.Message, StringComparison.Ordinal);
        Assert.Contains("lifecycle placement only", ruleOnHot.Message, StringComparison.Ordinal);
        Assert.Equal(RepoError.NotFound, missing.Error);
        Assert.Equal(LifecyclePolicy.AlwaysHot, await f.Lifecycle.GetPolicyAsync("data"));
        Assert.False(Directory.Exists(Path.Combine(f.HotRoot, "tiering")));

        var set = new LifecyclePolicy { Placement = TierPlacement.Lifecycle, ColdAfterIdle = 7 * Day, ColdAfterAge = 90 * Day };
        (await f.Lifecycle.SetPolicyAsync("data", set)).Unwrap();
        await f.OpenAsync();
        Assert.Equal(set, await f.Lifecycle.GetPolicyAsync("data"));

        await using var untiered = await TestStores.OpenAsync(new LocalDirectoryBackend(f.ColdRoot), TestStores.Keys());
        var wrongStore = Assert.Throws<ArgumentException>(() => new TierLifecycle(new RepositoryStore(untiered)));
        Assert.Contains("TieredBackend", wrongStore.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RestoreFromColdTierAlone_HotDirectoryDeleted_EveryCommittedVersionReads()
    {
        byte[] keyedContent(int i) => TestStores.Content(30_000 + (i * 7_000), 40 + i);
        var f = await TieredFixture.CreateAsync();
        await using (f)
        {
            await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
            for (var version = 0; version < 3; version++)
            {
                await f.PutAsync("data", $"part-{version}.bin", keyedContent(version));
                await f.PutAsync("data", "latest.bin", keyedContent(10 + version));
                await f.CommitAsync("data", $"v{version}");
            }

            await f.Store.CreateTagAsync("data", "v2", "main");
            var expected = await StoreSnapshot.ReadEverythingAsync(f.Store);
            var report = await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow());
            Assert.Empty(report.Failures);
            await f.Tiers.DisposeAsync();
            await f.Store.Chunks.DisposeAsync();
            Directory.Delete(f.HotRoot, recursive: true);

            // The cold backend alone, with the key: a complete store.
            await using (var alone = await TestStores.OpenAsync(new LocalDirectoryBackend(f.ColdRoot), TestStores.Keys()))
            {
                var store = new RepositoryStore(alone);
                StoreSnapshot.AssertSame(expected, await StoreSnapshot.ReadEverythingAsync(store));
                Assert.Equal(9, expected.Count);
                var verify = await store.VerifyAsync();
                Assert.True(verify.IsClean, string.Join("; ", verify.DamagedFiles.Select(d => d.Path).Concat(verify.DamagedMetadata)));
            }

            // And as the cold tier of a fresh machine's empty hot directory.
            await f.OpenAsync();
            StoreSnapshot.AssertSame(expected, await StoreSnapshot.ReadEverythingAsync(f.Store));
        }
    }

    [Fact]
    public async Task RestoreFromColdTierAlone_WritePacksThrough_NeedsNoLifecycleRun()
    {
        await using var f = await TieredFixture.CreateAsync(options: new TieredBackendOptions { WritePacksThrough = true, AccessFlushInterval = TimeSpan.Zero });
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        await f.PutAsync("data", "x.bin", TestStores.Content(50_000, 60));
        await f.CommitAsync("data", "x");
        var expected = await StoreSnapshot.ReadEverythingAsync(f.Store);

        await using var alone = await TestStores.OpenAsync(new LocalDirectoryBackend(f.ColdRoot), TestStores.Keys());
        StoreSnapshot.AssertSame(expected, await StoreSnapshot.ReadEverythingAsync(new RepositoryStore(alone)));
    }

    public static TheoryData<CrashPoint> CrashPoints => [.. Enum.GetValues<CrashPoint>()];

    /// <summary>
    /// A lifecycle run dies (an exception that is not an IOException escapes, as a kill would stop it) or a
    /// copy is corrupted at each step of a move; a fresh process on the same directories reads every file,
    /// verify is clean, and the next run finishes the move.
    /// </summary>
    [Theory]
    [MemberData(nameof(CrashPoints))]
    public async Task ApplyLifecycleAsync_CrashAtEachStep_EveryPackReadableInSomeTier(CrashPoint point)
    {
        CrashingBackend? crashing = null;
        await using var f = await TieredFixture.CreateAsync(cold => crashing = new CrashingBackend(cold));
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        await f.PutAsync("data", "a.bin", TestStores.Content(70_000, 31));
        await f.PutAsync("data", "b.bin", TestStores.Content(70_000, 32));
        await f.CommitAsync("data", "ab");
        (await f.Lifecycle.SetPolicyAsync("data", new LifecyclePolicy { Placement = TierPlacement.Cold })).Unwrap();
        var expected = await StoreSnapshot.ReadEverythingAsync(f.Store);
        var packs = f.PackFiles(f.HotRoot).Count;

        crashing!.Arm(point);
        if (point == CrashPoint.CorruptPackCopy)
        {
            var report = await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow());
            var failure = Assert.Single(report.Failures);
            Assert.Contains("did not verify", failure.Reason, StringComparison.Ordinal);
        }
        else
        {
            await Assert.ThrowsAsync<SimulatedCrashException>(() => f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow()));
        }

        Assert.True(crashing.Fired);
        Assert.Equal(packs, f.PackFiles(f.HotRoot).Count + f.PackFiles(f.ColdRoot).Except(f.PackFiles(f.HotRoot)).Count());

        await f.OpenAsync();
        StoreSnapshot.AssertSame(expected, await StoreSnapshot.ReadEverythingAsync(f.Store));
        Assert.True((await f.Store.VerifyAsync()).IsClean);

        var finish = await f.Lifecycle.ApplyLifecycleAsync(f.Clock.GetUtcNow());
        Assert.Empty(finish.Failures);
        Assert.Empty(f.PackFiles(f.HotRoot));
        Assert.Equal(packs, f.PackFiles(f.ColdRoot).Count);
        await f.OpenAsync();
        StoreSnapshot.AssertSame(expected, await StoreSnapshot.ReadEverythingAsync(f.Store));
        Assert.True((await f.Store.VerifyAsync()).IsClean);
    }

    private static async Task<byte[]> ReadAsync(RepositoryStore store, string repository, string path)
    {
        await using var stream = (await store.OpenReadAsync(repository, "main", path)).Unwrap();
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }
}

public enum CrashPoint
{
    /// <summary>Dies as the first pack's cold put starts: nothing in cold.</summary>
    BeforePackPut,

    /// <summary>Dies right after the cold put answered, before verifying it.</summary>
    AfterPackPut,

    /// <summary>Dies while reading the cold copy back to verify it.</summary>
    DuringVerifyRead,

    /// <summary>Dies after the pack and its index file are in cold, just before the hot copy is deleted.</summary>
    AfterIndexPut,

    /// <summary>The cold tier stores a damaged copy (a flipped byte): the verify catches it, the hot copy stays.</summary>
    CorruptPackCopy,
}

internal sealed class SimulatedCrashException(string message) : Exception(message);

/// <summary>A cold backend that "kills" the lifecycle run once, at a chosen step, or damages one copy.</summary>
internal sealed class CrashingBackend(IBlobBackend inner) : IBlobBackend
{
    private CrashPoint? _armed;

    public bool Fired { get; private set; }

    public string Description => "crashing:" + inner.Description;

    public void Arm(CrashPoint point) => _armed = point;

    public async Task PutAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        var isPack = name.StartsWith("packs/", StringComparison.Ordinal);
        if (isPack && Take(CrashPoint.BeforePackPut))
        {
            throw new SimulatedCrashException("killed before putting " + name);
        }

        if (isPack && Take(CrashPoint.CorruptPackCopy))
        {
            using var copy = new MemoryStream();
            await content.CopyToAsync(copy, cancellationToken);
            var bytes = copy.ToArray();
            bytes[bytes.Length / 2] ^= 0x10;
            await inner.PutAsync(name, new MemoryStream(bytes), cancellationToken);
            return;
        }

        await inner.PutAsync(name, content, cancellationToken);
        if ((isPack && Take(CrashPoint.AfterPackPut)) || (name.StartsWith("index/", StringComparison.Ordinal) && Take(CrashPoint.AfterIndexPut)))
        {
            throw new SimulatedCrashException("killed after putting " + name);
        }
    }

    public Task<Stream?> OpenReadAsync(string name, long offset = 0, long? length = null, CancellationToken cancellationToken = default) =>
        name.StartsWith("packs/", StringComparison.Ordinal) && Take(CrashPoint.DuringVerifyRead)
            ? throw new SimulatedCrashException("killed while reading back " + name)
            : inner.OpenReadAsync(name, offset, length, cancellationToken);

    public Task<BlobInfo?> StatAsync(string name, CancellationToken cancellationToken = default) => inner.StatAsync(name, cancellationToken);

    public IAsyncEnumerable<BlobInfo> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default) => inner.DeleteAsync(name, cancellationToken);

    private bool Take(CrashPoint point)
    {
        if (_armed != point)
        {
            return false;
        }

        _armed = null;
        Fired = true;
        return true;
    }
}
