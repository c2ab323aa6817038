using Stratum.Storage.Backends;
using Stratum.Storage.Repositories;

namespace Stratum.Storage.Tests.Repositories;

/// <summary>A repository store on a temp directory with small chunks, packs and two-entry manifest pages.</summary>
internal sealed class RepositoryFixture : IAsyncDisposable
{
    private RepositoryFixture(string root, IBlobBackend backend, ChunkStore chunks, ManualClock clock, RepositoryStore store)
    {
        Root = root;
        Backend = backend;
        Chunks = chunks;
        Clock = clock;
        Store = store;
    }

    private readonly List<ChunkStore> _reopened = [];

    public string Root { get; }

    public IBlobBackend Backend { get; }

    public ChunkStore Chunks { get; }

    public ManualClock Clock { get; }

    public RepositoryStore Store { get; }

    public static readonly RepositoryStoreOptions SmallPages = new() { ManifestPageSize = 2 };

    public static async Task<RepositoryFixture> CreateAsync(Func<IBlobBackend, IBlobBackend>? wrap = null)
    {
        var root = TestStores.NewDirectory();
        var backend = new LocalDirectoryBackend(root);
        var wrapped = wrap?.Invoke(backend) ?? backend;
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var chunks = await TestStores.OpenAsync(wrapped, TestStores.Keys(), clock: clock);
        return new RepositoryFixture(root, wrapped, chunks, clock, new RepositoryStore(chunks, clock, SmallPages));
    }

    /// <summary>A second store object over the same directory, as a fresh process would open it.</summary>
    public async Task<RepositoryStore> ReopenAsync()
    {
        var chunks = await TestStores.OpenAsync(new LocalDirectoryBackend(Root), TestStores.Keys(), clock: Clock);
        _reopened.Add(chunks);
        return new RepositoryStore(chunks, Clock, SmallPages);
    }

    public async Task<ManifestEntry> PutAsync(string repository, string branch, string path, byte[] content) =>
        (await Store.PutObjectAsync(repository, branch, path, new MemoryStream(content))).Unwrap();

    public async Task<byte[]> ReadAsync(string repository, string reference, string path, RepositoryStore? store = null)
    {
        await using var stream = (await (store ?? Store).OpenReadAsync(repository, reference, path)).Unwrap();
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    public static CommitRequest Message(string message, IReadOnlyDictionary<string, string>? metadata = null) =>
        new() { Message = message, Author = "ada", Metadata = metadata };

    public async ValueTask DisposeAsync()
    {
        await Chunks.DisposeAsync();
        foreach (var chunks in _reopened)
        {
            await chunks.DisposeAsync();
        }

        Directory.Delete(Root, recursive: true);
    }
}
