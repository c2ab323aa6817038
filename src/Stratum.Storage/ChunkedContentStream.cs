namespace Stratum.Storage;

/// <summary>
/// A seekable, read-only view of a range of a stored content. Sequential reads keep the next few chunks
/// decoding on the thread pool (read-ahead), so a restore uses both cores like an ingest does.
/// </summary>
internal sealed class ChunkedContentStream : Stream
{
    private readonly ChunkStore _store;
    private readonly IReadOnlyList<ChunkRef> _chunks;
    private readonly long[] _starts;
    private readonly long _base;
    private readonly long _length;
    private readonly Dictionary<int, Task<byte[]>> _ahead = [];
    private readonly int _readAhead;
    private long _position;
    private int _currentIndex = -1;
    private byte[] _current = [];

    public ChunkedContentStream(ChunkStore store, StoredContent content, long offset, long length)
    {
        _store = store;
        _chunks = content.Chunks;
        _starts = new long[_chunks.Count + 1];
        for (var i = 0; i < _chunks.Count; i++)
        {
            _starts[i + 1] = _starts[i] + _chunks[i].Length;
        }

        if (_starts[^1] != content.Length)
        {
            throw new ArgumentException($"the content's chunks add up to {_starts[^1]} bytes but its length is {content.Length}", nameof(content));
        }

        _base = offset;
        _length = length;
        _readAhead = Math.Max(2, store.Options.Workers * 2);
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    // Synchronous reads block on the asynchronous path; callers that care about threads use ReadAsync.
    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public override int Read(Span<byte> buffer)
    {
        var array = new byte[buffer.Length];
        var read = Read(array, 0, array.Length);
        array.AsSpan(0, read).CopyTo(buffer);
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_position >= _length || buffer.Length == 0)
        {
            return 0;
        }

        var absolute = _base + _position;
        var index = ChunkAt(absolute);
        if (index != _currentIndex)
        {
            _current = await FetchAsync(index, cancellationToken).ConfigureAwait(false);
            _currentIndex = index;
        }

        var within = (int)(absolute - _starts[index]);
        var count = (int)Math.Min(Math.Min(buffer.Length, _current.Length - within), _length - _position);
        _current.AsMemory(within, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int ChunkAt(long absolute)
    {
        var found = Array.BinarySearch(_starts, absolute);
        return found >= 0 ? found : ~found - 1;
    }

    private async Task<byte[]> FetchAsync(int index, CancellationToken cancellationToken)
    {
        // Drop read-ahead that a seek made useless, then keep the next chunks of the range decoding.
        foreach (var stale in _ahead.Keys.Where(k => k < index || k > index + _readAhead).ToList())
        {
            _ahead.Remove(stale);
        }

        var last = ChunkAt(Math.Max(_base, _base + _length - 1));
        for (var i = index; i <= Math.Min(last, index + _readAhead); i++)
        {
            if (!_ahead.ContainsKey(i))
            {
                var id = _chunks[i].Id;
                _ahead[i] = Task.Run(() => _store.ReadChunkAsync(id, CancellationToken.None), CancellationToken.None);
            }
        }

        var task = _ahead[index];
        _ahead.Remove(index);
        var data = await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (data.Length != _chunks[index].Length)
        {
            throw new InvalidDataException($"chunk {_chunks[index].Id} has {data.Length} bytes but the content lists {_chunks[index].Length}");
        }

        return data;
    }

    protected override void Dispose(bool disposing)
    {
        // Read-ahead that is still running is left to finish; its results are dropped.
        _ahead.Clear();
        base.Dispose(disposing);
    }
}
