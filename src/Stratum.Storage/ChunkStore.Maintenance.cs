using System.Collections.Concurrent;
using Stratum.Storage.Backends;
using Stratum.Storage.Crypto;
using Stratum.Storage.Format;

namespace Stratum.Storage;

public sealed partial class ChunkStore
{
    /// <summary>
    /// Re-reads every pack the index names and re-checks every record (authentication, decompression,
    /// SHA-256 against the chunk id). Damage is reported, not thrown; a wrong key throws
    /// <see cref="StorageKeyException"/> because nothing could be checked. <paramref name="progress"/> gets bytes read.
    /// </summary>
    public async Task<VerifyReport> VerifyAsync(IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var packs = _packs.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
        var damaged = new ConcurrentBag<DamagedChunk>();
        var missing = new ConcurrentBag<string>();
        long bytesRead = 0, chunksChecked = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _options.Workers, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(packs, parallel, async (pack, token) =>
        {
            var bytes = await ReadAllAsync(pack.Name, token).ConfigureAwait(false);
            if (bytes is null)
            {
                missing.Add(pack.Name);
                foreach (var entry in pack.Entries)
                {
                    damaged.Add(new DamagedChunk(entry.Id, pack.Name, entry.Offset, "the pack is missing"));
                }

                return;
            }

            progress?.Report(Interlocked.Add(ref bytesRead, bytes.Length));
            var plain = new byte[pack.Entries.Count == 0 ? 0 : pack.Entries.Max(e => e.PlainLength)];
            foreach (var entry in pack.Entries)
            {
                Interlocked.Increment(ref chunksChecked);
                string? problem;
                if (entry.Offset < 0 || entry.Offset + entry.RecordLength > bytes.Length)
                {
                    problem = $"the pack is truncated ({bytes.Length} bytes, the record ends at {entry.Offset + entry.RecordLength})";
                }
                else
                {
                    problem = ChunkRecord.Decode(entry.Id, bytes.AsSpan((int)entry.Offset, entry.RecordLength), _keys, plain, $"pack {pack.Name}");
                }

                if (problem is not null)
                {
                    damaged.Add(new DamagedChunk(entry.Id, pack.Name, entry.Offset, problem));
                }
            }
        }).ConfigureAwait(false);

        var unreferenced = new List<string>();
        await foreach (var blob in _backend.ListAsync("packs/", cancellationToken).ConfigureAwait(false))
        {
            if (!_packs.ContainsKey(Path.GetFileNameWithoutExtension(blob.Name)))
            {
                unreferenced.Add(blob.Name);
            }
        }

        return new VerifyReport(
            chunksChecked,
            packs.Count,
            bytesRead,
            [.. damaged.OrderBy(d => d.Pack, StringComparer.Ordinal).ThenBy(d => d.Offset)],
            [.. missing.Order(StringComparer.Ordinal)],
            [.. _damagedIndexFiles.Distinct().Order(StringComparer.Ordinal)],
            unreferenced);
    }

    /// <summary>
    /// Mark and sweep, safe while writers run in this process. Live chunks are <paramref name="live"/>
    /// plus every chunk a writer touched within <paramref name="grace"/> (content written but not yet
    /// committed). Steps:
    /// 1. load index files written since open (other processes);
    /// 2. for each pack older than the grace period: all chunks dead → unhook and delete it; more than
    ///    RepackThreshold of its bytes dead → copy the live records into new packs, then delete it;
    /// 3. delete packs no index names (crash leftovers) older than the grace period, and the backend's
    ///    stale temporary files.
    /// Writers in other processes are protected by the grace period only.
    /// </summary>
    public async Task<GcReport> CollectGarbageAsync(IReadOnlySet<ChunkId> live, TimeSpan grace, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentOutOfRangeException.ThrowIfLessThan(grace, TimeSpan.Zero);
        await _gcLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ReloadIndexAsync(cancellationToken).ConfigureAwait(false);
            var now = _clock.GetUtcNow();
            var cutoff = now - grace;
            foreach (var (id, stamp) in _touched)
            {
                if (stamp < cutoff.UtcTicks)
                {
                    _touched.TryRemove(new KeyValuePair<ChunkId, long>(id, stamp));
                }
            }

            bool IsLive(ChunkId id) => live.Contains(id) || _touched.ContainsKey(id);

            int deleted = 0, repacked = 0, kept = 0;
            long dropped = 0, freed = 0;
            var toRepack = new List<(PackInfo Pack, List<PackEntry> Live)>();
            foreach (var pack in _packs.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToList())
            {
                if (pack.Created > cutoff)
                {
                    kept++;
                    continue;
                }

                // An entry whose chunk the index now places in another pack (a repack that crashed
                // before deleting the old pack) is dead here.
                var liveEntries = pack.Entries.Where(e => IsLive(e.Id) && IndexPointsAt(e.Id, pack)).ToList();
                if (liveEntries.Count == 0)
                {
                    if (await TryRemovePackAsync(pack, IsLive, cancellationToken).ConfigureAwait(false))
                    {
                        deleted++;
                        dropped += pack.Entries.Count;
                        freed += pack.Length;
                    }

                    continue;
                }

                var liveBytes = liveEntries.Sum(e => (long)e.RecordLength);
                if (liveBytes < (1 - _options.RepackThreshold) * pack.Length)
                {
                    toRepack.Add((pack, liveEntries));
                }
            }

            foreach (var (pack, liveEntries) in toRepack)
            {
                var bytes = await ReadAllAsync(pack.Name, cancellationToken).ConfigureAwait(false);
                if (bytes is null)
                {
                    continue;
                }

                // Records are copied as they are: each is self-contained (its own nonce, key id and tag).
                var seqs = new HashSet<long>();
                foreach (var entry in liveEntries)
                {
                    var record = bytes.AsMemory((int)entry.Offset, entry.RecordLength);
                    var seq = await _packWriter.AppendAsync(entry.Id, record, entry.PlainLength, force: true, cancellationToken).ConfigureAwait(false);
                    seqs.Add(seq);
                }

                await _packWriter.WaitDurableAsync(seqs, cancellationToken).ConfigureAwait(false);
                if (await TryRemovePackAsync(pack, IsLive, cancellationToken).ConfigureAwait(false))
                {
                    repacked++;
                    dropped += pack.Entries.Count - liveEntries.Count;
                    freed += pack.Length - liveEntries.Sum(e => (long)e.RecordLength);
                }
            }

            var unreferenced = 0;
            await foreach (var blob in _backend.ListAsync("packs/", cancellationToken).ConfigureAwait(false))
            {
                if (!_packs.ContainsKey(Path.GetFileNameWithoutExtension(blob.Name)) && blob.LastModified <= cutoff && !_packWriter.IsUploading(blob.Name))
                {
                    await _backend.DeleteAsync(blob.Name, cancellationToken).ConfigureAwait(false);
                    unreferenced++;
                    freed += blob.Length;
                }
            }

            var temporary = _backend is ISupportsTemporaryCleanup cleanup
                ? await cleanup.DeleteStaleTemporaryFilesAsync(cutoff, cancellationToken).ConfigureAwait(false)
                : 0;
            return new GcReport(deleted, repacked, unreferenced, dropped, freed, temporary, kept);
        }
        finally
        {
            _gcLock.Release();
        }
    }

    private bool IndexPointsAt(ChunkId id, PackInfo pack) => _index.TryGetValue(id, out var location) && location.Pack == pack;

    /// <summary>
    /// Unhooks the pack's entries from the index, then checks touches again: a writer that deduplicated
    /// against one of its chunks since the mark keeps the pack (the entries are put back). Otherwise the
    /// index file goes first, then the pack, so no index ever names a missing pack.
    /// </summary>
    private async Task<bool> TryRemovePackAsync(PackInfo pack, Func<ChunkId, bool> isLive, CancellationToken cancellationToken)
    {
        var unhooked = new List<KeyValuePair<ChunkId, ChunkLocation>>();
        foreach (var entry in pack.Entries)
        {
            if (_index.TryGetValue(entry.Id, out var location) && location.Pack == pack && _index.TryRemove(new KeyValuePair<ChunkId, ChunkLocation>(entry.Id, location)))
            {
                unhooked.Add(new KeyValuePair<ChunkId, ChunkLocation>(entry.Id, location));
            }
        }

        if (unhooked.Any(e => isLive(e.Key)))
        {
            foreach (var (id, location) in unhooked)
            {
                _index.TryAdd(id, location);
            }

            return false;
        }

        _packs.TryRemove(pack.Id, out _);
        await _backend.DeleteAsync(pack.IndexName, cancellationToken).ConfigureAwait(false);
        await _backend.DeleteAsync(pack.Name, cancellationToken).ConfigureAwait(false);
        return true;
    }
}
