using Amazon.Runtime;
using Amazon.S3.Model;

namespace Stratum.Storage.S3;

/// <summary>
/// The body of a GET, cut to the asked range (a server may ignore or misread a Range header and send more:
/// <c>skip</c> bytes are dropped from the front and at most <c>limit</c> returned), which releases the HTTP response (and its connection) when disposed, and reports the
/// SDK's end-of-body MD5 check failing (the object changed or was damaged while being read) as an IOException.
/// </summary>
internal sealed class ResponseStream(GetObjectResponse response, string where, long skip, long? limit) : Stream
{
    private readonly Stream _body = response.ResponseStream;
    private readonly long _dropped = skip;
    private long _skip = skip;
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => limit is { } most ? Math.Min(most, response.ContentLength - _dropped) : response.ContentLength - _dropped;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (!Trim(ref buffer))
        {
            return 0;
        }

        int read;
        try
        {
            while (_skip > 0 && _body.Read(buffer[..(int)Math.Min(buffer.Length, _skip)]) is var skipped and > 0)
            {
                _skip -= skipped;
            }

            read = _body.Read(buffer);
        }
        catch (AmazonClientException e)
        {
            throw Damaged(e);
        }

        _position += read;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (limit is { } most)
        {
            if (_position >= most)
            {
                return 0;
            }

            buffer = buffer[..(int)Math.Min(buffer.Length, most - _position)];
        }

        int read;
        try
        {
            while (_skip > 0 && await _body.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _skip)], cancellationToken).ConfigureAwait(false) is var skipped and > 0)
            {
                _skip -= skipped;
            }

            read = await _body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonClientException e)
        {
            throw Damaged(e);
        }

        _position += read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Shortens <paramref name="buffer"/> to what the limit leaves; false when nothing is left.</summary>
    private bool Trim(ref Span<byte> buffer)
    {
        if (limit is { } most)
        {
            if (_position >= most)
            {
                return false;
            }

            buffer = buffer[..(int)Math.Min(buffer.Length, most - _position)];
        }

        return true;
    }

    private IOException Damaged(AmazonClientException error) =>
        new($"S3 read {where} failed: {error.Message}; the object changed or was damaged while being read, read it again", error);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _body.Dispose();
            response.Dispose();
        }

        base.Dispose(disposing);
    }
}
