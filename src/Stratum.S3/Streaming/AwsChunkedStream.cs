using System.Security.Cryptography;
using System.Text;
using Stratum.S3.Auth;

namespace Stratum.S3.Streaming;

/// <summary>What signed aws-chunked bodies need to check each chunk: the key and scope of the request's seed signature.</summary>
public sealed record ChunkSigning(byte[] SigningKey, string AmzDate, string Scope, string SeedSignature);

/// <summary>
/// Decodes an aws-chunked request body (<c>HEX-SIZE[;chunk-signature=SIG]\r\nDATA\r\n ... 0...\r\n[TRAILERS]\r\n</c>)
/// into the object's bytes as they arrive, without holding a chunk in memory. With <see cref="ChunkSigning"/>
/// every chunk's signature is checked against the previous one (the seed is the request's signature),
/// and the trailer signature too. A declared trailer checksum is computed over the decoded bytes and
/// compared at the end; so is x-amz-decoded-content-length. Every check fails the read with an
/// <see cref="S3ProtocolException"/> before end of stream is reported, so a consumer that commits only
/// at end of stream never commits a bad body.
/// </summary>
public sealed class AwsChunkedStream : Stream
{
    private const int MaxLine = 4096;
    private const int BufferSize = 64 * 1024;

    private readonly Stream _inner;
    private readonly ChunkSigning? _signing;
    private readonly string? _trailerName;
    private readonly S3Checksum? _trailerChecksum;
    private readonly long? _decodedLength;
    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly IncrementalHash? _chunkHash;
    private int _start;
    private int _end;
    private long _remainingInChunk;
    private string? _chunkSignature;
    private string? _previousSignature;
    private long _decoded;
    private State _state = State.Header;

    /// <summary>Decodes <paramref name="inner"/>; <paramref name="trailerName"/> is the x-amz-trailer header (for example x-amz-checksum-crc32), null when the body has no trailer.</summary>
    public AwsChunkedStream(Stream inner, ChunkSigning? signing, string? trailerName, long? decodedLength)
    {
        _inner = inner;
        _signing = signing;
        _previousSignature = signing?.SeedSignature;
        _trailerName = trailerName?.Trim().ToLowerInvariant();
        _decodedLength = decodedLength;
        if (_trailerName is not null)
        {
            _trailerChecksum = S3Checksum.ForHeader(_trailerName)
                ?? throw new S3ProtocolException(S3Errors.InvalidArgument.WithMessage($"Unsupported x-amz-trailer '{_trailerName}'."));
        }

        _chunkHash = signing is null ? null : IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    }

    private enum State
    {
        Header,
        Data,
        Done,
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _decoded;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            switch (_state)
            {
                case State.Done:
                    return 0;
                case State.Header:
                    var size = ParseChunkHeader(await ReadLineAsync(cancellationToken));
                    if (size == 0)
                    {
                        VerifyChunk();
                        await ReadTrailerAsync(cancellationToken);
                        Finish();
                        _state = State.Done;
                        return 0;
                    }

                    _remainingInChunk = size;
                    _state = State.Data;
                    continue;
                default:
                    if (_remainingInChunk == 0)
                    {
                        var crlf = await ReadLineAsync(cancellationToken);
                        if (crlf.Length != 0)
                        {
                            throw Malformed("chunk data is not followed by CRLF");
                        }

                        VerifyChunk();
                        _state = State.Header;
                        continue;
                    }

                    if (destination.Length == 0)
                    {
                        return 0;
                    }

                    if (_start == _end && !await FillAsync(cancellationToken))
                    {
                        throw new S3ProtocolException(S3Errors.IncompleteBody);
                    }

                    var n = (int)Math.Min(Math.Min(destination.Length, _end - _start), _remainingInChunk);
                    var span = _buffer.AsSpan(_start, n);
                    span.CopyTo(destination.Span);
                    _chunkHash?.AppendData(span);
                    _trailerChecksum?.Append(span);
                    _start += n;
                    _remainingInChunk -= n;
                    _decoded += n;
                    return n;
            }
        }
    }

    private long ParseChunkHeader(string line)
    {
        var semicolon = line.IndexOf(';', StringComparison.Ordinal);
        var hex = semicolon < 0 ? line : line[..semicolon];
        if (!long.TryParse(hex.Trim(), System.Globalization.NumberStyles.AllowHexSpecifier, null, out var size) || size < 0)
        {
            throw Malformed("bad chunk size");
        }

        _chunkSignature = null;
        if (semicolon >= 0)
        {
            const string SignatureParameter = "chunk-signature=";
            var extension = line[(semicolon + 1)..].Trim();
            if (extension.StartsWith(SignatureParameter, StringComparison.Ordinal))
            {
                _chunkSignature = extension[SignatureParameter.Length..];
            }
        }

        if (_signing is not null && _chunkSignature is null)
        {
            throw new S3ProtocolException(S3Errors.SignatureDoesNotMatch.WithMessage("A chunk of a signed aws-chunked body carries no chunk-signature."));
        }

        return size;
    }

    private void VerifyChunk()
    {
        if (_signing is null)
        {
            return;
        }

        var chunkSha = Convert.ToHexStringLower(_chunkHash!.GetHashAndReset());
        var expected = SigV4.Sign(_signing.SigningKey, SigV4.ChunkStringToSign(_signing.AmzDate, _signing.Scope, _previousSignature!, chunkSha));
        if (!SigV4.SignaturesEqual(expected, _chunkSignature!))
        {
            throw new S3ProtocolException(S3Errors.SignatureDoesNotMatch.WithMessage("A chunk signature of the aws-chunked body does not match."));
        }

        _previousSignature = expected;
    }

    private async Task ReadTrailerAsync(CancellationToken cancellationToken)
    {
        var trailers = new List<(string Name, string Value)>();
        string? trailerSignature = null;
        while (true)
        {
            var line = await ReadLineAsync(cancellationToken, endOfStreamIsEmptyLine: true);
            if (line.Length == 0)
            {
                break;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw Malformed("bad trailer line");
            }

            var name = line[..colon].Trim().ToLowerInvariant();
            var value = line[(colon + 1)..].Trim();
            if (name == "x-amz-trailer-signature")
            {
                trailerSignature = value;
            }
            else
            {
                trailers.Add((name, value));
            }
        }

        if (_signing is not null && _trailerName is not null)
        {
            var text = string.Concat(trailers.Select(t => t.Name + ":" + t.Value + "\n"));
            var expected = SigV4.Sign(_signing.SigningKey, SigV4.TrailerStringToSign(_signing.AmzDate, _signing.Scope, _previousSignature!, SigV4.Sha256Hex(text)));
            if (trailerSignature is null || !SigV4.SignaturesEqual(expected, trailerSignature))
            {
                throw new S3ProtocolException(S3Errors.SignatureDoesNotMatch.WithMessage("The trailer signature of the aws-chunked body does not match."));
            }
        }

        if (_trailerName is not null)
        {
            var sent = trailers.FirstOrDefault(t => t.Name == _trailerName).Value;
            if (sent is null)
            {
                throw Malformed($"the declared trailer {_trailerName} is missing");
            }

            if (sent != _trailerChecksum!.ToBase64())
            {
                throw new S3ProtocolException(S3Errors.BadDigest.WithMessage($"The {_trailerChecksum.Name.ToUpperInvariant()} you specified did not match the calculated checksum."));
            }
        }
    }

    private void Finish()
    {
        if (_decodedLength is { } expected && expected != _decoded)
        {
            throw new S3ProtocolException(S3Errors.IncompleteBody.WithMessage(
                $"x-amz-decoded-content-length says {expected} bytes; the aws-chunked body held {_decoded}."));
        }
    }

    /// <summary>Reads one CRLF-terminated line (without the CRLF), ASCII, at most 4 KiB.</summary>
    private async ValueTask<string> ReadLineAsync(CancellationToken cancellationToken, bool endOfStreamIsEmptyLine = false)
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
            {
                if (endOfStreamIsEmptyLine && line.Length == 0)
                {
                    return string.Empty;
                }

                throw new S3ProtocolException(S3Errors.IncompleteBody);
            }

            var span = _buffer.AsSpan(_start, _end - _start);
            var newline = span.IndexOf((byte)'\n');
            var take = newline < 0 ? span.Length : newline;
            line.Append(Encoding.ASCII.GetString(span[..take]));
            _start += newline < 0 ? take : take + 1;
            if (line.Length > MaxLine)
            {
                throw Malformed("line too long");
            }

            if (newline >= 0)
            {
                if (line.Length > 0 && line[^1] == '\r')
                {
                    line.Length--;
                }

                return line.ToString();
            }
        }
    }

    private async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        _start = 0;
        _end = await _inner.ReadAsync(_buffer, cancellationToken);
        return _end > 0;
    }

    private static S3ProtocolException Malformed(string why) =>
        new(S3Errors.InvalidArgument.WithMessage($"Malformed aws-chunked body: {why}."));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _chunkHash?.Dispose();
        }

        base.Dispose(disposing);
    }
}
