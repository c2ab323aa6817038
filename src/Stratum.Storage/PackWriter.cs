using System.Security.Cryptography;
using Stratum.Storage.Format;

namespace Stratum.Storage;

public sealed partial class ChunkStore
{
    /// <summary>
    /// The open pack all writers append to, and the sealed packs on their way to the backend. A pack
    /// becomes visible to readers of the index only after the pack and then its index file are durable.
    /// </summary>
    private sealed class PackWriter(ChunkStore store)
    {
        /// <summary>AppendAsync: the chunk is already durable.</summary>
        public const long Durable = -1;

        /// <summary>AppendAsync: the chunk is nowhere and no record was given.</summary>
        public const long NeedRecord = -2;

        private readonly Lock _lock = new();
        private readonly Dictionary<ChunkId, (OpenPack Pack, PackEntry Entry)> _pending = [];
        private readonly Dictionary<long, Task> _inFlight = [];
        private readonly HashSet<string> _uploading = new(StringComparer.Ordinal);
        private readonly SortedDictionary<long, Exception> _failed = [];
        private readonly HashSet<long> _reported = [];

        // Two packs uploading at once overlap one pack's fsync with filling the next, and cap the memory
        // held by sealed packs at two pack sizes.
        private readonly SemaphoreSlim _uploads = new(2, 2);
        private OpenPack? _open;
        private long _nextSeq;

        public bool IsPending(ChunkId id)
        {
            lock (_lock)
            {
                return _pending.ContainsKey(id);
            }
        }

        /// <summary>Whether the named pack is being written (its index file not yet), so GC must not take it for a leftover.</summary>
        public bool IsUploading(string packName)
        {
            lock (_lock)
            {
                return _uploading.Contains(packName);
            }
        }

        public bool TryCopyPending(ChunkId id, out byte[] record)
        {
            lock (_lock)
            {
                if (_pending.TryGetValue(id, out var found))
                {
                    record = found.Pack.Stream.GetBuffer().AsSpan((int)found.Entry.Offset, found.Entry.RecordLength).ToArray();
                    return true;
                }
            }

            record = [];
            return false;
        }

        /// <summary>
        /// Appends a record unless the chunk is durable (<see cref="Durable"/>) or already pending (its
        /// pack's number); <paramref name="force"/> appends even a durable chunk (repacking).
        /// </summary>
        public async ValueTask<long> AppendAsync(ChunkId id, ReadOnlyMemory<byte>? record, int plainLength, bool force, CancellationToken cancellationToken)
        {
            OpenPack? sealedPack = null;
            long seq;
            lock (_lock)
            {
                if (_pending.TryGetValue(id, out var found))
                {
                    return found.Pack.Seq;
                }

                if (!force && store._index.ContainsKey(id))
                {
                    return Durable;
                }

                if (record is not { } bytes)
                {
                    return NeedRecord;
                }

                _open ??= new OpenPack(_nextSeq++, PackCapacity());
                var entry = new PackEntry(id, _open.Stream.Position, bytes.Length, plainLength);
                _open.Stream.Write(bytes.Span);
                _open.Entries.Add(entry);
                _pending[id] = (_open, entry);
                seq = _open.Seq;
                if (_open.Stream.Length >= store._options.PackTargetSize)
                {
                    sealedPack = SealLocked();
                }
            }

            if (sealedPack is not null)
            {
                await StartUploadAsync(sealedPack).ConfigureAwait(false);
            }

            return seq;
        }

        /// <summary>Waits until the given packs are durable, sealing the open one if it is among them.</summary>
        public async Task WaitDurableAsync(IReadOnlyCollection<long> packs, CancellationToken cancellationToken)
        {
            OpenPack? sealedPack = null;
            List<Task> waits;
            lock (_lock)
            {
                if (_open is not null && packs.Contains(_open.Seq))
                {
                    sealedPack = SealLocked();
                }

                waits = [.. packs.Select(s => _inFlight.GetValueOrDefault(s)).OfType<Task>()];
            }

            // Started before any failure is reported: a sealed pack left unstarted would hang its waiters.
            if (sealedPack is not null)
            {
                await StartUploadAsync(sealedPack).ConfigureAwait(false);
            }

            try
            {
                await Task.WhenAll(waits).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // Reported below with the failures that finished before this call.
            }

            lock (_lock)
            {
                var failures = packs.Where(_failed.ContainsKey).ToList();
                if (failures.Count > 0)
                {
                    // This writer has been told; a later FlushAsync need not report these again.
                    _reported.UnionWith(failures);
                    throw _failed[failures[0]];
                }
            }
        }

        /// <summary>Seals the open pack and waits for every upload; throws a failure not reported by an earlier flush.</summary>
        public async Task FlushAllAsync(CancellationToken cancellationToken)
        {
            OpenPack? sealedPack = null;
            List<Task> waits;
            lock (_lock)
            {
                if (_open is { Entries.Count: > 0 })
                {
                    sealedPack = SealLocked();
                }

                waits = [.. _inFlight.Values];
            }

            if (sealedPack is not null)
            {
                await StartUploadAsync(sealedPack).ConfigureAwait(false);
            }

            try
            {
                await Task.WhenAll(waits).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // Reported below, once, with every other unreported failure.
            }

            lock (_lock)
            {
                var unreported = _failed.Where(f => !_reported.Contains(f.Key)).ToList();
                if (unreported.Count > 0)
                {
                    _reported.UnionWith(unreported.Select(f => f.Key));
                    throw unreported[0].Value;
                }
            }
        }

        /// <summary>
        /// The target size plus the largest record (or the target again, for tiny test packs) and room for
        /// the trailer: a pack is sealed only after the record that crosses the target, which can overshoot
        /// by up to a maximal chunk (4 MiB by default), and a stream that outgrows its capacity doubles it,
        /// copying the whole pack, as the former target + 1 MiB allowed.
        /// </summary>
        private int PackCapacity()
        {
            var target = store._options.PackTargetSize;
            return target + Math.Min(target, ChunkRecord.MaxRecordSize(store._chunker.MaxSize)) + (1 << 16);
        }

        private OpenPack SealLocked()
        {
            var pack = _open!;
            _open = null;
            PackFormat.WritePackTrailer(pack.Stream, pack.Entries);
            _inFlight[pack.Seq] = pack.Done.Task;
            _uploading.Add(PackFormat.PackName(pack.Id));
            return pack;
        }

        private async Task StartUploadAsync(OpenPack pack)
        {
            // Not cancellable: a sealed pack must reach an outcome, or writers waiting on it would hang.
            await _uploads.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            _ = Task.Run(() => UploadAsync(pack));
        }

        private async Task UploadAsync(OpenPack pack)
        {
            var backend = store._backend;
            var name = PackFormat.PackName(pack.Id);
            try
            {
                var length = pack.Stream.Length;
                await backend.PutAsync(name, new MemoryStream(pack.Stream.GetBuffer(), 0, (int)length, writable: false)).ConfigureAwait(false);
                var index = PackFormat.WriteIndex(pack.Id, length, pack.Entries);
                await backend.PutAsync(PackFormat.IndexName(pack.Id), new MemoryStream(index, writable: false)).ConfigureAwait(false);
                store.AddPack(new PackInfo(pack.Id, length, store._clock.GetUtcNow(), pack.Entries));
                lock (_lock)
                {
                    RemovePendingLocked(pack);
                    _inFlight.Remove(pack.Seq);
                    _uploading.Remove(name);
                }

                pack.Done.SetResult();
            }
            catch (Exception e)
            {
                var failure = new IOException($"writing pack {name} to {backend.Description} failed, so its {pack.Entries.Count} chunks were not stored: {e.Message}", e);
                lock (_lock)
                {
                    RemovePendingLocked(pack);
                    _inFlight.Remove(pack.Seq);
                    _uploading.Remove(name);
                    _failed[pack.Seq] = failure;
                }

                pack.Done.SetException(failure);
            }
            finally
            {
                _uploads.Release();
            }
        }

        private void RemovePendingLocked(OpenPack pack)
        {
            foreach (var entry in pack.Entries)
            {
                if (_pending.TryGetValue(entry.Id, out var found) && found.Pack == pack)
                {
                    _pending.Remove(entry.Id);
                }
            }
        }
    }

    private sealed class OpenPack
    {
        public OpenPack(long seq, int capacity)
        {
            Seq = seq;
            Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(PackFormat.PackIdSize));
            Stream = new MemoryStream(capacity);
            PackFormat.WritePackHeader(Stream, Convert.FromHexString(Id));
            // A failed pack is reported through WaitDurableAsync and FlushAllAsync; observe it so it is not "unobserved" too.
            _ = Done.Task.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        public long Seq { get; }

        public string Id { get; }

        public MemoryStream Stream { get; }

        public List<PackEntry> Entries { get; } = [];

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
