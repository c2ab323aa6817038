using Stratum.Storage.Backends;
using Stratum.Storage.Tests.Backends;
using Stratum.Storage.Tiering;

namespace Stratum.Storage.Tests.Tiering;

/// <summary>The blob-backend conformance suite on a tiered backend (names outside packs/ and index/: written to both tiers).</summary>
public sealed class TieredBackendConformanceTests : BlobBackendConformance
{
    private readonly string _hot = TestStores.NewDirectory();
    private readonly string _cold = TestStores.NewDirectory();

    protected override Task<IBlobBackend> CreateBackendAsync() =>
        Task.FromResult<IBlobBackend>(new TieredBackend(new LocalDirectoryBackend(_hot), new LocalDirectoryBackend(_cold), new TieredBackendOptions { AccessFlushInterval = TimeSpan.Zero }));

    protected override async Task DestroyBackendAsync(IBlobBackend backend)
    {
        await ((TieredBackend)backend).DisposeAsync();
        Directory.Delete(_hot, recursive: true);
        Directory.Delete(_cold, recursive: true);
    }

    [Fact]
    public async Task PutAsync_Metadata_InBothTiers_PackHotOnly_ListedOnceDeletedFromBoth()
    {
        var tiers = (TieredBackend)Backend;
        await tiers.PutAsync("repos/x/refs/heads/main", new MemoryStream([1, 2, 3]));
        await tiers.PutAsync("packs/ab/abc.pack", new MemoryStream([4, 5]));
        await tiers.Cold.PutAsync("packs/ab/abd.pack", new MemoryStream([6]));

        Assert.Equal(BlobTier.Both, await tiers.LocateAsync("repos/x/refs/heads/main"));
        Assert.Equal(BlobTier.Hot, await tiers.LocateAsync("packs/ab/abc.pack"));
        Assert.Equal(["packs/ab/abc.pack", "packs/ab/abd.pack", "repos/x/refs/heads/main"], tiers.ListAsync("").ToBlockingEnumerable().Select(b => b.Name));
        await using (var cold = await tiers.OpenReadAsync("packs/ab/abd.pack", 0, 1))
        {
            Assert.Equal(6, cold!.ReadByte());
        }

        Assert.True(await tiers.DeleteAsync("repos/x/refs/heads/main"));
        Assert.Equal(BlobTier.None, await tiers.LocateAsync("repos/x/refs/heads/main"));
    }
}
