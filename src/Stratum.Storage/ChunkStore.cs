using System.Buffers;
using System.Collections.Concurrent;
using Stratum.Storage.Backends;
using Stratum.Storage.Chunking;
using Stratum.Storage.Crypto;
using Stratum.Storage.Format;

namespace Stratum.Storage;

/// <summary>
/// The storage engine: content in, chunks deduplicated, compressed, encrypted and packed on a blob
/// backend; content back out by chunk list. Repositories, commits and the S3 API sit on top of it.
/// Invariants (docs/storage.md): a pack is durable before its index file is written; an index file
/// names only durable packs; a returned <see cref="StoredContent"/> refers only to durable chunks (unless
/// the caller asked to defer the flush); garbage collection never deletes a pack younger than the grace
/// period nor a chunk a writer touched within it.
/// </summary>
public sealed partial class ChunkStore : IAsyncDisposable
{
    private readonly IBlobBackend _backend;
    private readonly KeyRing? _keys;
    private readonly ChunkStoreOptions _options;
    private readonly TimeProvider _clock;
    private readonly FastCdc _chunker;

    // The global index: chunk id -> where its record is. Readers look up without a lock.
    private readonly ConcurrentDictionary<ChunkId, ChunkLocation> _index = new();
    private readonly ConcurrentDictionary<string, PackInfo> _packs = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<string> _damagedIndexFiles = [];

    // When a writer last referred to each chunk (new or deduplicated), so GC spares chunks of contents
    // that are not yet in any commit. Pruned by GC to the grace period.
    private readonly ConcurrentDictionary<ChunkId, long> _touched = new();
    private readonly PackWriter _packWriter;
    private readonly SemaphoreSlim _gcLock = new(1, 1);
    private long _logicalBytesWritten;
    private long _chunksWritten;
    private long _chunksDeduplicated;

    private ChunkStore(IBlobBackend backend, KeyRing? keys, ChunkStoreOptions options, TimeProvider clock)
    {
        _backend = backend;
        _keys = keys;
        _options = options;
        _clock = clock;
        _chunker = new FastCdc(options.Chunking);
        _packWriter = new PackWriter(this);
    }

    public IBlobBackend Backend => _backend;

    public ChunkStoreOptions Options => _options;

    /// <summary>
    /// Opens (or starts) a store on <paramref name="backend"/> and loads its index. <paramref name="keys"/>
    /// null means no encryption, meant for tests only. Packs no index file names (a crash mid-write) are
    /// ignored here and removed by garbage collection.
    /// </summary>
    public static async Task<ChunkStore> OpenAsync(IBlobBackend backend, KeyRing? keys, ChunkStoreOptions? options = null, TimeProvider? clock = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backend);
        options ??= new ChunkStoreOptions();
        var problems = options.Problems();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid store options: " + string.Join("; ", problems), nameof(options));
        }

        var store = new ChunkStore(backend, keys, options, clock ?? TimeProvider.System);
        await store.ReloadIndexAsync(cancellationToken).ConfigureAwait(false);
        return store;
    }

    /// <summary>Reads index files not loaded yet (written by another process, for example).</summary>
    public async Task ReloadIndexAsync(CancellationToken cancellationToken = default)
    {
        await foreach (var blob in _backend.ListAsync("index/", cancellationToken).ConfigureAwait(false))
        {
            var packId = Path.GetFileNameWithoutExtension(blob.Name);
            if (_packs.ContainsKey(packId))
            {
                continue;
            }

            var bytes = await ReadAllAsync(blob.Name, cancellationToken).ConfigureAwait(false);
            var parsed = bytes is null ? null : PackFormat.ReadIndex(bytes, out var problem);
            if (parsed is not { } index || index.PackId != packId)
            {
                _damagedIndexFiles.Add(blob.Name);
                continue;
            }

            AddPack(new PackInfo(index.PackId, index.PackLength, blob.LastModified, index.Entries));
        }
    }

    /// <summary>Whether the chunk is durable in the store.</summary>
    public bool Contains(ChunkId id) => _index.ContainsKey(id);

    public StoreStats GetStats()
    {
        var packs = _packs.Values.ToList();
        return new StoreStats(
            _index.Count,
            packs.Count,
            _index.Values.Sum(l => (long)l.PlainLength),
            packs.Sum(p => p.Length),
            Interlocked.Read(ref _logicalBytesWritten),
            Interlocked.Read(ref _chunksWritten),
            Interlocked.Read(ref _chunksDeduplicated));
    }

    /// <summary>Writes <paramref name="content"/>; when the task completes every chunk it names is durable.</summary>
    public Task<StoredContent> WriteAsync(Stream content, IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        WriteAsync(content, flush: true, progress, cancellationToken);

    /// <summary>
    /// Writes <paramref name="content"/>. With <paramref name="flush"/> false, its last chunks may still
    /// sit in an open pack (so many small files share packs); call <see cref="FlushAsync"/> before
    /// anything durable refers to the result.
    /// </summary>
    public Task<StoredContent> WriteAsync(Stream content, bool flush, IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        WriteAsync(content, new WriteOptions { Flush = flush }, progress, cancellationToken);

    /// <summary>
    /// Writes <paramref name="content"/> with <paramref name="options"/>: whether to flush (as above) and
    /// which form of MD5 to compute (<see cref="ContentMd5Mode"/>; docs/storage.md, "The file checksum").
    /// </summary>
    public async Task<StoredContent> WriteAsync(Stream content, WriteOptions options, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(options);
        var flush = options.Flush;
        var (stored, packs) = await WritePipelineAsync(content, options.Md5, progress, cancellationToken).ConfigureAwait(false);
        if (flush)
        {
            await _packWriter.WaitDurableAsync(packs, cancellationToken).ConfigureAwait(false);
        }

        Interlocked.Add(ref _logicalBytesWritten, stored.Length);
        return stored;
    }

    /// <summary>Makes every chunk written so far durable; throws if a pack could not be written.</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) => _packWriter.FlushAllAsync(cancellationToken);

    /// <summary>A seekable read-only stream over the whole content.</summary>
    public Stream OpenRead(StoredContent content) => new ChunkedContentStream(this, content, 0, content.Length);

    /// <summary>A seekable read-only stream over <paramref name="length"/> bytes from <paramref name="offset"/> (clipped to the content).</summary>
    public Stream OpenRead(StoredContent content, long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var start = Math.Min(offset, content.Length);
        return new ChunkedContentStream(this, content, start, Math.Min(length, content.Length - start));
    }

    /// <summary>The bytes of a range, read into memory (for small ranged reads).</summary>
    public async Task<byte[]> ReadRangeAsync(StoredContent content, long offset, int length, CancellationToken cancellationToken = default)
    {
        await using var stream = OpenRead(content, offset, length);
        var buffer = new byte[stream.Length];
        await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer;
    }

    /// <summary>The plaintext of one chunk, checked against its id.</summary>
    public async Task<byte[]> ReadChunkAsync(ChunkId id, CancellationToken cancellationToken = default)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (_packWriter.TryCopyPending(id, out var pendingRecord))
            {
                return DecodeOrThrow(id, pendingRecord, "an unflushed pack", 0);
            }

            if (!_index.TryGetValue(id, out var location))
            {
                throw new ChunkMissingException(id, "no index entry names it");
            }

            var record = ArrayPool<byte>.Shared.Rent(location.RecordLength);
            try
            {
                var read = await ReadRangeIntoAsync(location.Pack.Name, location.Offset, record.AsMemory(0, location.RecordLength), cancellationToken).ConfigureAwait(false);
                if (read < 0)
                {
                    // GC may have repacked the chunk between the lookup and the read: look again once.
                    if (attempt == 0 && _index.TryGetValue(id, out var moved) && moved.Pack != location.Pack)
                    {
                        continue;
                    }

                    throw new ChunkMissingException(id, $"its pack {location.Pack.Name} is missing from {_backend.Description}");
                }

                if (read < location.RecordLength)
                {
                    throw new ChunkCorruptException(id, location.Pack.Name, location.Offset, $"the pack is truncated ({read} of {location.RecordLength} record bytes)");
                }

                return DecodeOrThrow(id, record.AsSpan(0, location.RecordLength), location.Pack.Name, location.Offset);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(record);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _packWriter.FlushAllAsync(CancellationToken.None).ConfigureAwait(false);
        _gcLock.Dispose();
    }

    internal bool TryLocate(ChunkId id, out ChunkLocation location) => _index.TryGetValue(id, out location!);

    internal IEnumerable<PackInfo> Packs => _packs.Values;

    internal void Touch(ChunkId id) => _touched[id] = _clock.GetUtcNow().UtcTicks;

    private byte[] DecodeOrThrow(ChunkId id, ReadOnlySpan<byte> record, string pack, long offset)
    {
        var plainLength = ChunkRecord.PlainLength(record);
        if (plainLength < 0 || plainLength > _options.Chunking.MaxSize * 2L + (1 << 20))
        {
            throw new ChunkCorruptException(id, pack, offset, "the record header is damaged (impossible length)");
        }

        var plain = new byte[plainLength];
        if (ChunkRecord.Decode(id, record, _keys, plain, $"pack {pack}") is { } problem)
        {
            throw new ChunkCorruptException(id, pack, offset, problem);
        }

        return plain;
    }

    private void AddPack(PackInfo pack)
    {
        _packs[pack.Id] = pack;
        foreach (var entry in pack.Entries)
        {
            _index[entry.Id] = new ChunkLocation(pack, entry.Offset, entry.RecordLength, entry.PlainLength);
        }
    }

    private async Task<byte[]?> ReadAllAsync(string name, CancellationToken cancellationToken)
    {
        var stream = await _backend.OpenReadAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }

        await using (stream.ConfigureAwait(false))
        {
            using var memory = new MemoryStream();
            await stream.CopyToAsync(memory, cancellationToken).ConfigureAwait(false);
            return memory.ToArray();
        }
    }

    /// <summary>Reads a byte range of a blob; -1 when the blob does not exist, else the bytes read.</summary>
    private async Task<int> ReadRangeIntoAsync(string name, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var stream = await _backend.OpenReadAsync(name, offset, buffer.Length, cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return -1;
        }

        await using (stream.ConfigureAwait(false))
        {
            return await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        }
    }

    internal sealed class PackInfo(string id, long length, DateTimeOffset created, IReadOnlyList<PackEntry> entries)
    {
        public string Id { get; } = id;
        public string Name { get; } = PackFormat.PackName(id);
        public string IndexName { get; } = PackFormat.IndexName(id);
        public long Length { get; } = length;
        public DateTimeOffset Created { get; } = created;
        public IReadOnlyList<PackEntry> Entries { get; } = entries;
    }

    internal sealed record ChunkLocation(PackInfo Pack, long Offset, int RecordLength, int PlainLength);
}
