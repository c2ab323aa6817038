using System.Buffers;
using System.Security.Cryptography;
using System.Threading.Channels;
using Stratum.Storage.Format;

namespace Stratum.Storage;

public sealed partial class ChunkStore
{
    /// <summary>
    /// The ingest pipeline, in four kinds of task so both cores stay busy:
    /// 1. one producer reads the stream and cuts chunks (FastCDC is sequential by nature);
    /// 2. N workers hash each chunk, skip known ones, compress and encrypt the rest (any order);
    /// 3. two hashers, one for MD5 and one for SHA-256 of the whole content, each in order: on one thread
    ///    together they capped ingest near 420 MB/s (MD5 ~600 MB/s, SHA-256 ~1.4 GB/s per core), apart
    ///    the slower one, MD5, is the only sequential ceiling left;
    /// 4. this task takes encoded chunks in order and appends them to the open pack.
    /// Channels are bounded, so memory stays at a few chunks per worker whatever the content size.
    /// </summary>
    private async Task<(StoredContent Content, IReadOnlyCollection<long> Packs)> WritePipelineAsync(Stream content, ContentMd5Mode md5Mode, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = cancel.Token;
        var bound = _options.Workers * 2;
        var ordered = Channel.CreateBounded<Pending>(new BoundedChannelOptions(bound * 2) { SingleWriter = true, SingleReader = true });
        var work = Channel.CreateBounded<Pending>(new BoundedChannelOptions(bound) { SingleWriter = true });
        var md5Input = Channel.CreateBounded<Pending>(new BoundedChannelOptions(bound * 2) { SingleWriter = true, SingleReader = true });
        var sha256Input = Channel.CreateBounded<Pending>(new BoundedChannelOptions(bound * 2) { SingleWriter = true, SingleReader = true });
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        var producer = Task.Run(() => ProduceAsync(content, ordered.Writer, work.Writer, md5Input.Writer, sha256Input.Writer, token), token);
        var workers = Enumerable.Range(0, _options.Workers).Select(_ => Task.Run(() => EncodeAsync(work.Reader, token), token)).ToArray();
        var partMd5s = md5Mode == ContentMd5Mode.Parts ? new PartMd5s(_options.Workers) : null;
        var md5Hasher = partMd5s is null
            ? Task.Run(() => HashAsync(md5Input.Reader, md5, token), token)
            : Task.Run(() => partMd5s.HashAsync(md5Input.Reader, token), token);
        var sha256Hasher = Task.Run(() => ContentSha256Async(sha256Input.Reader, sha256, token), token);

        var chunks = new List<ChunkRef>();
        var packs = new HashSet<long>();
        long total = 0;
        try
        {
            await foreach (var pending in ordered.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                var encoded = await pending.Result.Task.WaitAsync(token).ConfigureAwait(false);
                var seq = await _packWriter.AppendAsync(encoded.Id, encoded.Record?.AsMemory(0, encoded.RecordLength), pending.Length, force: false, token).ConfigureAwait(false);
                if (seq == PackWriter.NeedRecord)
                {
                    // The chunk was pending in a pack whose write failed after the worker saw it: encode it here.
                    var record = ArrayPool<byte>.Shared.Rent(ChunkRecord.MaxRecordSize(pending.Length));
                    var length = ChunkRecord.Encode(encoded.Id, pending.Buffer.AsSpan(0, pending.Length), _options.CompressionLevel, _keys, record);
                    seq = await _packWriter.AppendAsync(encoded.Id, record.AsMemory(0, length), pending.Length, force: false, token).ConfigureAwait(false);
                    ArrayPool<byte>.Shared.Return(record);
                }

                if (encoded.Record is not null)
                {
                    ArrayPool<byte>.Shared.Return(encoded.Record);
                }

                if (seq >= 0)
                {
                    packs.Add(seq);
                }

                Interlocked.Increment(ref encoded.Record is null ? ref _chunksDeduplicated : ref _chunksWritten);
                chunks.Add(new ChunkRef(encoded.Id, pending.Length));
                total += pending.Length;
                pending.Release();
                progress?.Report(total);
            }

            await producer.ConfigureAwait(false);
            await Task.WhenAll(workers).ConfigureAwait(false);
            await md5Hasher.ConfigureAwait(false);
            await sha256Hasher.ConfigureAwait(false);
        }
        catch
        {
            await cancel.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll([producer, md5Hasher, sha256Hasher, .. workers]).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The first failure is the one rethrown below; the others are its consequences.
            }

            throw;
        }

        var stored = new StoredContent(
            total,
            partMd5s?.Result(total) ?? Convert.ToHexStringLower(md5.GetHashAndReset()),
            await sha256Hasher.ConfigureAwait(false),
            chunks);
        return (stored, packs);
    }

    private static async Task HashAsync(ChannelReader<Pending> reader, IncrementalHash hash, CancellationToken token)
    {
        await foreach (var pending in reader.ReadAllAsync(token).ConfigureAwait(false))
        {
            hash.AppendData(pending.Buffer, 0, pending.Length);
            pending.Release();
        }
    }

    /// <summary>
    /// SHA-256 of the content in order; for content of one chunk (every file up to the minimum chunk size,
    /// 512 KiB by default) it is that chunk's id, which a worker computes anyway, so the second pass is skipped.
    /// </summary>
    private static async Task<string> ContentSha256Async(ChannelReader<Pending> reader, IncrementalHash hash, CancellationToken token)
    {
        Pending? first = null;
        var count = 0;
        await foreach (var pending in reader.ReadAllAsync(token).ConfigureAwait(false))
        {
            if (++count == 1)
            {
                first = pending;
                continue;
            }

            if (first is not null)
            {
                hash.AppendData(first.Buffer, 0, first.Length);
                first.Release();
                first = null;
            }

            hash.AppendData(pending.Buffer, 0, pending.Length);
            pending.Release();
        }

        if (first is not null)
        {
            var encoded = await first.Result.Task.WaitAsync(token).ConfigureAwait(false);
            first.Release();
            return encoded.Id.ToString();
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private async Task ProduceAsync(Stream content, ChannelWriter<Pending> ordered, ChannelWriter<Pending> work, ChannelWriter<Pending> md5, ChannelWriter<Pending> sha256, CancellationToken token)
    {
        Exception? error = null;
        var max = _chunker.MaxSize;
        var buffer = ArrayPool<byte>.Shared.Rent(max * 2);
        try
        {
            int start = 0, end = 0;
            var eof = false;
            while (true)
            {
                while (!eof && end - start < max)
                {
                    if (end == buffer.Length)
                    {
                        Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                        end -= start;
                        start = 0;
                    }

                    var read = await content.ReadAsync(buffer.AsMemory(end, buffer.Length - end), token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        eof = true;
                    }

                    end += read;
                }

                if (start == end)
                {
                    break;
                }

                var length = _chunker.Cut(buffer.AsSpan(start, end - start));
                var chunk = ArrayPool<byte>.Shared.Rent(length);
                Buffer.BlockCopy(buffer, start, chunk, 0, length);
                start += length;
                var pending = new Pending(chunk, length);
                await ordered.WriteAsync(pending, token).ConfigureAwait(false);
                await work.WriteAsync(pending, token).ConfigureAwait(false);
                await md5.WriteAsync(pending, token).ConfigureAwait(false);
                await sha256.WriteAsync(pending, token).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            error = e;
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            ordered.TryComplete(error);
            work.TryComplete(error);
            md5.TryComplete(error);
            sha256.TryComplete(error);
        }
    }

    private async Task EncodeAsync(ChannelReader<Pending> reader, CancellationToken token)
    {
        // One cipher per worker: a worker encodes one chunk at a time, and AesGcm is not thread-safe.
        using var cipher = _keys is null ? null : ChunkRecord.CreateCipher(_keys.Current);
        await foreach (var pending in reader.ReadAllAsync(token).ConfigureAwait(false))
        {
            try
            {
                var plain = pending.Buffer.AsSpan(0, pending.Length);
                var id = ChunkId.Of(plain);

                // Touch before looking the chunk up: garbage collection unhooks a pack's entries before it
                // checks touches, so either it sees this touch or this lookup misses and the chunk is stored anew.
                Touch(id);
                if (_index.ContainsKey(id) || _packWriter.IsPending(id))
                {
                    pending.Result.TrySetResult(new Encoded(id, null, 0));
                    continue;
                }

                var record = ArrayPool<byte>.Shared.Rent(ChunkRecord.MaxRecordSize(pending.Length));
                var length = ChunkRecord.Encode(id, plain, _options.CompressionLevel, _keys, record, cipher);
                pending.Result.TrySetResult(new Encoded(id, record, length));
            }
            catch (Exception e)
            {
                pending.Result.TrySetException(e);
            }
        }
    }

    /// <summary>A cut chunk on its way through the pipeline; its buffer goes back to the pool once both hashers and the pack appender are done with it.</summary>
    private sealed class Pending(byte[] buffer, int length)
    {
        private int _users = 3;

        public byte[] Buffer { get; } = buffer;

        public int Length { get; } = length;

        public TaskCompletionSource<Encoded> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>One more user (a part hasher holding a slice of this chunk).</summary>
        public void AddRef() => Interlocked.Increment(ref _users);

        public void Release()
        {
            if (Interlocked.Decrement(ref _users) == 0)
            {
                ArrayPool<byte>.Shared.Return(Buffer);
            }
        }
    }

    /// <summary>
    /// The <see cref="ContentMd5Mode.Parts"/> checksum: takes chunks in order, cuts them into fixed parts
    /// (slices, no copies) and hashes each part on the thread pool, at most one part per worker at once,
    /// so chunk buffers held by parts stay bounded (workers x 8 MiB).
    /// </summary>
    private sealed class PartMd5s(int parallelism)
    {
        private readonly List<byte[]> _digests = [];
        private readonly SemaphoreSlim _slots = new(parallelism, parallelism);
        private readonly List<Task> _hashing = [];

        public async Task HashAsync(ChannelReader<Pending> reader, CancellationToken token)
        {
            var slices = new List<(Pending Chunk, int Start, int Length)>();
            var filled = 0;
            try
            {
                await foreach (var pending in reader.ReadAllAsync(token).ConfigureAwait(false))
                {
                    var offset = 0;
                    while (offset < pending.Length)
                    {
                        var take = Math.Min(pending.Length - offset, ContentMd5.PartSize - filled);
                        pending.AddRef();
                        slices.Add((pending, offset, take));
                        offset += take;
                        filled += take;
                        if (filled == ContentMd5.PartSize)
                        {
                            await StartPartAsync(slices, token).ConfigureAwait(false);
                            slices = [];
                            filled = 0;
                        }
                    }

                    pending.Release();
                }

                // The last, short part; or the only one, empty, when the content is.
                if (slices.Count > 0 || _digests.Count == 0)
                {
                    await StartPartAsync(slices, token).ConfigureAwait(false);
                }
            }
            finally
            {
                await Task.WhenAll(_hashing).ConfigureAwait(false);
            }
        }

        public string Result(long length)
        {
            var all = new byte[_digests.Count * 16];
            for (var i = 0; i < _digests.Count; i++)
            {
                _digests[i].CopyTo(all, i * 16);
            }

            return ContentMd5.Combine(all, _digests.Count, length);
        }

        private async Task StartPartAsync(List<(Pending Chunk, int Start, int Length)> slices, CancellationToken token)
        {
            await _slots.WaitAsync(token).ConfigureAwait(false);
            var digest = new byte[16];
            _digests.Add(digest);
            _hashing.Add(Task.Run(() =>
            {
                try
                {
                    using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
                    foreach (var (chunk, start, length) in slices)
                    {
                        md5.AppendData(chunk.Buffer, start, length);
                        chunk.Release();
                    }

                    md5.GetHashAndReset(digest);
                }
                finally
                {
                    _slots.Release();
                }
            }, CancellationToken.None));
        }
    }

    /// <summary>A hashed chunk; Record is null when the store already had it.</summary>
    private readonly record struct Encoded(ChunkId Id, byte[]? Record, int RecordLength);
}
