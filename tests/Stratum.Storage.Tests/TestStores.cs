using System.Security.Cryptography;
using Stratum.Storage.Backends;
using Stratum.Storage.Chunking;
using Stratum.Storage.Crypto;

namespace Stratum.Storage.Tests;

/// <summary>Builders for small, fast stores: 1-4-16 KiB chunks and 64 KiB packs.</summary>
internal static class TestStores
{
    public static readonly ChunkStoreOptions Small = new()
    {
        Chunking = new ChunkingOptions { MinSize = 1024, AverageSize = 4096, MaxSize = 16384 },
        PackTargetSize = 64 * 1024,
        Workers = 2,
    };

    public static string NewDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "stratum-store-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    public static Task<ChunkStore> OpenAsync(IBlobBackend backend, KeyRing? keys, ChunkStoreOptions? options = null, TimeProvider? clock = null) =>
        ChunkStore.OpenAsync(backend, keys, options ?? Small, clock);

    public static KeyRing Keys(byte seed = 1) => new(StoreKey.FromBytes(Enumerable.Repeat(seed, 32).Select((b, i) => (byte)(b * 31 + i)).ToArray()));

    /// <summary>Half text-like (compressible), half random bytes, reproducible from the seed.</summary>
    public static byte[] Content(int length, int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[length];
        random.NextBytes(bytes);
        var words = new[] { "alpha ", "beta ", "gamma ", "tensor ", "layer ", "\n" };
        var position = 0;
        while (position < length / 2)
        {
            var word = words[random.Next(words.Length)];
            for (var i = 0; i < word.Length && position < length / 2; i++)
            {
                bytes[position++] = (byte)word[i];
            }
        }

        return bytes;
    }

    public static async Task<byte[]> ReadAllAsync(ChunkStore store, StoredContent content)
    {
        await using var stream = store.OpenRead(content);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    public static string Sha256Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>
/// Wraps a backend and fails puts on demand: after a byte budget with ENOSPC (a full disk), or for names
/// matching a prefix after writing part of the blob to the inner backend's temporary area (a crash).
/// </summary>
internal sealed class FaultyBackend(IBlobBackend inner) : IBlobBackend, ISupportsTemporaryCleanup
{
    private long _budget = long.MaxValue;

    public string Description => "faulty:" + inner.Description;

    /// <summary>Puts fail with "No space left on device" once this many more bytes have been written.</summary>
    public void LimitBytes(long budget) => _budget = budget;

    /// <summary>Puts of names starting with this fail (simulating a crash before the put finished).</summary>
    public string? FailPrefix { get; set; }

    public List<string> Puts { get; } = [];

    public async Task PutAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        if (FailPrefix is { } prefix && name.StartsWith(prefix, StringComparison.Ordinal))
        {
            if (inner is LocalDirectoryBackend local)
            {
                // What a kill -9 mid-put leaves: part of the blob in a temporary file, nothing at the name.
                var partial = new byte[content.Length / 2];
                content.ReadExactly(partial);
                await File.WriteAllBytesAsync(Path.Combine(local.Root, ".tmp", Guid.NewGuid().ToString("N") + ".tmp"), partial, cancellationToken);
            }

            throw new IOException($"simulated crash while writing {name}");
        }

        var bytes = new MemoryStream();
        await content.CopyToAsync(bytes, cancellationToken);
        if (Interlocked.Add(ref _budget, -bytes.Length) < 0)
        {
            throw new IOException("No space left on device");
        }

        bytes.Position = 0;
        await inner.PutAsync(name, bytes, cancellationToken);
        lock (Puts)
        {
            Puts.Add(name);
        }
    }

    public Task<Stream?> OpenReadAsync(string name, long offset = 0, long? length = null, CancellationToken cancellationToken = default) =>
        inner.OpenReadAsync(name, offset, length, cancellationToken);

    public Task<BlobInfo?> StatAsync(string name, CancellationToken cancellationToken = default) => inner.StatAsync(name, cancellationToken);

    public IAsyncEnumerable<BlobInfo> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default) => inner.DeleteAsync(name, cancellationToken);

    public Task<int> DeleteStaleTemporaryFilesAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default) =>
        inner is ISupportsTemporaryCleanup cleanup ? cleanup.DeleteStaleTemporaryFilesAsync(olderThan, cancellationToken) : Task.FromResult(0);
}
