using Stratum.Storage.Backends;
using Stratum.Storage.Repositories;
using Stratum.Storage.Tests.Repositories;
using Stratum.Storage.Tiering;

namespace Stratum.Storage.Tests.Tiering;

/// <summary>A repository store on a hot temp directory and a cold one (a local directory standing in for S3), optionally behind a fault injector.</summary>
internal sealed class TieredFixture : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _open = [];

    private TieredFixture(string hotRoot, string coldRoot, ManualClock clock)
    {
        HotRoot = hotRoot;
        ColdRoot = coldRoot;
        Clock = clock;
    }

    public string HotRoot { get; }

    public string ColdRoot { get; }

    public ManualClock Clock { get; }

    public TieredBackend Tiers { get; private set; } = null!;

    public RepositoryStore Store { get; private set; } = null!;

    public TierLifecycle Lifecycle { get; private set; } = null!;

    public static async Task<TieredFixture> CreateAsync(Func<IBlobBackend, IBlobBackend>? wrapCold = null, TieredBackendOptions? options = null)
    {
        var fixture = new TieredFixture(TestStores.NewDirectory(), TestStores.NewDirectory(), new ManualClock(DateTimeOffset.UtcNow));
        await fixture.OpenAsync(wrapCold, options);
        return fixture;
    }

    /// <summary>Opens (again) on the same directories, as a fresh process would: nothing carried over in memory.</summary>
    public async Task OpenAsync(Func<IBlobBackend, IBlobBackend>? wrapCold = null, TieredBackendOptions? options = null)
    {
        IBlobBackend cold = new LocalDirectoryBackend(ColdRoot);
        Tiers = new TieredBackend(new LocalDirectoryBackend(HotRoot), wrapCold?.Invoke(cold) ?? cold, options ?? new TieredBackendOptions { AccessFlushInterval = TimeSpan.Zero }, Clock);
        var chunks = await TestStores.OpenAsync(Tiers, TestStores.Keys(), clock: Clock);
        _open.Add(chunks);
        _open.Add(Tiers);
        Store = new RepositoryStore(chunks, Clock, RepositoryFixture.SmallPages);
        Lifecycle = new TierLifecycle(Store);
    }

    public async Task<ManifestEntry> PutAsync(string repository, string path, byte[] content, string branch = "main") =>
        (await Store.PutObjectAsync(repository, branch, path, new MemoryStream(content))).Unwrap();

    public Task<Commit> CommitAsync(string repository, string message, string branch = "main") =>
        Store.CommitAsync(repository, branch, RepositoryFixture.Message(message)).ContinueWith(t => t.Result.Unwrap(), TaskScheduler.Default);

    public IReadOnlyList<string> PackFiles(string root) =>
        Directory.Exists(Path.Combine(root, "packs"))
            ? [.. Directory.EnumerateFiles(Path.Combine(root, "packs"), "*.pack", SearchOption.AllDirectories).Select(Path.GetFileName).Order(StringComparer.Ordinal)!]
            : [];

    public async ValueTask DisposeAsync()
    {
        foreach (var open in _open)
        {
            try
            {
                await open.DisposeAsync();
            }
            catch (IOException)
            {
                // A fault-injected backend may refuse the final flush; the directories go anyway.
            }
        }

        foreach (var root in new[] { HotRoot, ColdRoot })
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }
}

/// <summary>Reads every file of every commit reachable from every branch and tag of a store: (repository, commit, path) → bytes.</summary>
internal static class StoreSnapshot
{
    public static async Task<SortedDictionary<string, byte[]>> ReadEverythingAsync(RepositoryStore store)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var repository in await store.ListRepositoriesAsync())
        {
            var refs = (await store.ListBranchesAsync(repository.Name)).Concat(await store.ListTagsAsync(repository.Name));
            foreach (var reference in refs)
            {
                foreach (var commit in (await store.LogAsync(repository.Name, reference.CommitId, limit: 10_000)).Unwrap())
                {
                    var listing = (await store.ListAsync(repository.Name, commit.Id, limit: 100_000)).Unwrap();
                    foreach (var entry in listing.Objects)
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

    public static void AssertSame(SortedDictionary<string, byte[]> expected, SortedDictionary<string, byte[]> actual)
    {
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (key, bytes) in expected)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(actual[key]), $"{key} differs");
        }
    }
}
