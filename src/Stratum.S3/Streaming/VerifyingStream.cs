using System.Security.Cryptography;

namespace Stratum.S3.Streaming;

/// <summary>One check over a whole body: a running digest, the value the client declared, and the error if they differ.</summary>
public sealed class BodyCheck
{
    private readonly Action<ReadOnlySpan<byte>> _append;
    private readonly Func<string> _result;

    private BodyCheck(Action<ReadOnlySpan<byte>> append, Func<string> result, string expected, S3Error error)
    {
        _append = append;
        _result = result;
        Expected = expected;
        Error = error;
    }

    public string Expected { get; }

    public S3Error Error { get; }

    public void Append(ReadOnlySpan<byte> data) => _append(data);

    public bool Matches() => string.Equals(_result(), Expected, StringComparison.Ordinal);

    /// <summary>x-amz-content-sha256 of a signed payload: lower-case hex SHA-256.</summary>
    public static BodyCheck Sha256Hex(string expectedHex)
    {
        var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        return new BodyCheck(hash.AppendData, () => Convert.ToHexStringLower(hash.GetHashAndReset()), expectedHex.ToLowerInvariant(), S3Errors.XAmzContentSha256Mismatch);
    }

    /// <summary>Content-MD5: base64 MD5.</summary>
    public static BodyCheck ContentMd5(string expectedBase64)
    {
        var hash = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        return new BodyCheck(hash.AppendData, () => Convert.ToBase64String(hash.GetHashAndReset()), expectedBase64, S3Errors.BadDigest);
    }

    /// <summary>An x-amz-checksum-ALGORITHM header sent with a plain body.</summary>
    public static BodyCheck Checksum(S3Checksum checksum, string expectedBase64) =>
        new(checksum.Append, checksum.ToBase64, expectedBase64,
            S3Errors.BadDigest.WithMessage($"The {checksum.Name.ToUpperInvariant()} you specified did not match the calculated checksum."));
}

/// <summary>
/// Passes a body through while feeding each <see cref="BodyCheck"/>; at end of stream it compares them
/// and throws the first mismatch, so a writer never sees end of stream for a body that fails a check.
/// </summary>
public sealed class VerifyingStream(Stream inner, IReadOnlyList<BodyCheck> checks, long? expectedLength = null) : Stream
{
    private long _read;
    private bool _verified;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        if (n > 0)
        {
            var span = buffer.Span[..n];
            foreach (var check in checks)
            {
                check.Append(span);
            }

            _read += n;
            return n;
        }

        if (buffer.Length > 0 && !_verified)
        {
            if (expectedLength is { } length && length != _read)
            {
                throw new S3ProtocolException(S3Errors.IncompleteBody);
            }

            foreach (var check in checks)
            {
                if (!check.Matches())
                {
                    throw new S3ProtocolException(check.Error);
                }
            }

            _verified = true;
        }

        return 0;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
