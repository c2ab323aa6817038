using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Stratum.Storage.Backends;

namespace Stratum.Storage.S3;

/// <summary>
/// Blobs as objects in an S3 bucket (AWS or any S3-compatible server), each under
/// <see cref="S3BlobBackendOptions.KeyPrefix"/> + name. A put is one PUT up to the multipart threshold and a
/// multipart upload above it, every body with a Content-MD5 the server checks; S3 makes the object visible
/// only when the PUT or the CompleteMultipartUpload is answered, which is the durability and atomicity the
/// contract asks for. Failures become <see cref="IOException"/>s naming the bucket, the key and what to do.
/// </summary>
public sealed class S3BlobBackend : IBlobBackend, IDisposable
{
    private const int CopyBufferSize = 81920;

    private readonly S3BlobBackendOptions _options;
    private readonly AmazonS3Client _client;
    private volatile bool _bucketSeen;

    /// <summary>Opens the backend; null options fall back to the AWS environment variables.</summary>
    /// <exception cref="ArgumentException">The options have problems; the message lists every one.</exception>
    public S3BlobBackend(S3BlobBackendOptions options)
        : this(options, Environment.GetEnvironmentVariable)
    {
    }

    /// <summary>As above, reading the environment through <paramref name="environment"/>.</summary>
    public S3BlobBackend(S3BlobBackendOptions options, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Resolve(environment);
        var problems = _options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("S3 storage options are not usable: " + string.Join("; ", problems), nameof(options));
        }

        AWSCredentials credentials = _options.SessionToken is { } token
            ? new SessionAWSCredentials(_options.AccessKeyId, _options.SecretAccessKey, token)
            : new BasicAWSCredentials(_options.AccessKeyId, _options.SecretAccessKey);
        _client = new AmazonS3Client(credentials, new AmazonS3Config
        {
            ServiceURL = _options.ServiceUrl,
            AuthenticationRegion = _options.Region,
            ForcePathStyle = _options.ForcePathStyle,
            MaxErrorRetry = _options.MaxErrorRetry,
            // We send Content-MD5 ourselves; the SDK's default CRC trailers (aws-chunked bodies) are not
            // understood by many S3-compatible servers, so checksums are only added where S3 requires them.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });
    }

    public string Description => $"s3://{_options.Bucket}/{_options.KeyPrefix} at {_options.ServiceUrl}";

    /// <summary>The resolved options (credentials included: do not print them; ToString leaves them out).</summary>
    public S3BlobBackendOptions Options => _options;

    public async Task PutAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        var key = Key(name);

        // Read up to one byte past the threshold first: a failing source then changes nothing on the server,
        // and only a blob that is really larger pays for a multipart upload.
        var head = new MemoryStream();
        var more = await CopyAtMostAsync(content, head, _options.MultipartThreshold + 1, cancellationToken).ConfigureAwait(false);
        if (!more && head.Length <= _options.MultipartThreshold)
        {
            head.Position = 0;
            var request = new PutObjectRequest
            {
                BucketName = _options.Bucket,
                Key = key,
                InputStream = head,
                AutoCloseStream = true,
                // The body is in memory, so it is signed whole: aws-chunked streaming signatures are not
                // understood by every S3-compatible server (s3rver stores the chunk framing as data).
                UseChunkEncoding = false,
                MD5Digest = Md5Base64(head.GetBuffer().AsSpan(0, (int)head.Length)),
            };
            await CallAsync("put", key, () => _client.PutObjectAsync(request, cancellationToken)).ConfigureAwait(false);
            _bucketSeen = true;
            return;
        }

        head.Position = 0;
        await PutMultipartAsync(key, new PrefixedStream(head, content), cancellationToken).ConfigureAwait(false);
    }

    public async Task<Stream?> OpenReadAsync(string name, long offset = 0, long? length = null, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "length must not be negative");
        }

        var key = Key(name);
        if (length == 0)
        {
            return await StatAsync(name, cancellationToken).ConfigureAwait(false) is null ? null : new MemoryStream([], writable: false);
        }

        var request = new GetObjectRequest { BucketName = _options.Bucket, Key = key };
        if (offset > 0 || length is not null)
        {
            request.ByteRange = length is { } count ? new ByteRange(offset, offset + count - 1) : new ByteRange($"bytes={offset}-");
        }

        try
        {
            var response = await _client.GetObjectAsync(request, cancellationToken).ConfigureAwait(false);
            _bucketSeen = true;

            // A 200 to a ranged GET is the whole object: the range is then cut out here.
            var whole = request.ByteRange is not null && response.HttpStatusCode == HttpStatusCode.OK;
            return new ResponseStream(response, $"s3://{_options.Bucket}/{key}", whole ? offset : 0, length);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchKey")
        {
            _bucketSeen = true;
            return null;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // A range wholly past the end (or any range of an empty blob): the contract yields the bytes that exist, none.
            return await StatAsync(name, cancellationToken).ConfigureAwait(false) is null ? null : new MemoryStream([], writable: false);
        }
        catch (Exception e) when (Translate("read", key, e) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<BlobInfo?> StatAsync(string name, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        var key = Key(name);
        try
        {
            var response = await _client.GetObjectMetadataAsync(_options.Bucket, key, cancellationToken).ConfigureAwait(false);
            _bucketSeen = true;
            return new BlobInfo(name, response.ContentLength, ToOffset(response.LastModified));
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            // A HEAD answer has no body, so a missing key and a missing bucket look alike: ask about the bucket once.
            await EnsureBucketAsync(key, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (Translate("stat", key, e) is { } translated)
        {
            throw translated;
        }
    }

    public async IAsyncEnumerable<BlobInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var request = new ListObjectsV2Request
        {
            BucketName = _options.Bucket,
            Prefix = _options.KeyPrefix + prefix,
            MaxKeys = _options.ListPageSize,
        };
        while (true)
        {
            var page = await CallAsync("list", request.Prefix, () => _client.ListObjectsV2Async(request, cancellationToken)).ConfigureAwait(false);
            _bucketSeen = true;
            foreach (var item in page.S3Objects ?? [])
            {
                var name = item.Key[_options.KeyPrefix.Length..];

                // Objects other tools put under the prefix with names no backend accepts are not blobs.
                if (BlobNames.Problem(name) is null)
                {
                    yield return new BlobInfo(name, item.Size ?? 0, ToOffset(item.LastModified));
                }
            }

            if (page.IsTruncated != true || string.IsNullOrEmpty(page.NextContinuationToken))
            {
                yield break;
            }

            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        var key = Key(name);

        // S3 answers a delete the same whether or not the key existed; the HEAD before it gives the answer
        // (two deletes racing may both report true).
        if (await StatAsync(name, cancellationToken).ConfigureAwait(false) is null)
        {
            return false;
        }

        await CallAsync("delete", key, () => _client.DeleteObjectAsync(_options.Bucket, key, cancellationToken)).ConfigureAwait(false);
        return true;
    }

    public void Dispose() => _client.Dispose();

    /// <summary>For tests: called with the SDK request type name (e.g. "UploadPartRequest") of every request sent.</summary>
    internal void ObserveRequests(Action<string> observer) =>
        _client.BeforeRequestEvent += (_, e) =>
        {
            if (e is WebServiceRequestEventArgs request)
            {
                observer(request.Request.GetType().Name);
            }
        };

    /// <summary>Exposed for tests and error messages: the object key of a blob name.</summary>
    internal string Key(string name) => _options.KeyPrefix + name;

    private async Task PutMultipartAsync(string key, Stream source, CancellationToken cancellationToken)
    {
        var started = await CallAsync("start multipart upload", key, () => _client.InitiateMultipartUploadAsync(
            new InitiateMultipartUploadRequest { BucketName = _options.Bucket, Key = key }, cancellationToken)).ConfigureAwait(false);
        _bucketSeen = true;
        try
        {
            var parts = new List<PartETag>();
            var buffer = new MemoryStream();
            for (var number = 1; ; number++)
            {
                buffer.SetLength(0);
                await CopyAtMostAsync(source, buffer, _options.PartSize, cancellationToken).ConfigureAwait(false);
                if (buffer.Length == 0 && number > 1)
                {
                    break;
                }

                buffer.Position = 0;
                var request = new UploadPartRequest
                {
                    BucketName = _options.Bucket,
                    Key = key,
                    UploadId = started.UploadId,
                    PartNumber = number,
                    InputStream = buffer,
                    PartSize = buffer.Length,
                    UseChunkEncoding = false,
                    MD5Digest = Md5Base64(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)),
                };
                var part = await CallAsync($"upload part {number} of", key, () => _client.UploadPartAsync(request, cancellationToken)).ConfigureAwait(false);
                parts.Add(new PartETag(number, part.ETag));
                if (buffer.Length < _options.PartSize)
                {
                    break;
                }
            }

            await CallAsync("complete multipart upload of", key, () => _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = _options.Bucket,
                Key = key,
                UploadId = started.UploadId,
                PartETags = parts,
            }, cancellationToken)).ConfigureAwait(false);
        }
        catch
        {
            // Best effort: an upload left behind costs storage until a bucket lifecycle rule aborts it.
            try
            {
                await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest
                {
                    BucketName = _options.Bucket,
                    Key = key,
                    UploadId = started.UploadId,
                }, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AmazonServiceException or HttpRequestException or IOException)
            {
                // The original failure is the one worth reporting.
            }

            throw;
        }
    }

    private async Task EnsureBucketAsync(string key, CancellationToken cancellationToken)
    {
        if (_bucketSeen)
        {
            return;
        }

        await CallAsync("check bucket for", key, () => _client.ListObjectsV2Async(
            new ListObjectsV2Request { BucketName = _options.Bucket, MaxKeys = 1 }, cancellationToken)).ConfigureAwait(false);
        _bucketSeen = true;
    }

    private async Task<T> CallAsync<T>(string operation, string key, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception e) when (Translate(operation, key, e) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>The clear <see cref="IOException"/> for an S3 or network failure; null leaves others (cancellation, bugs) alone.</summary>
    private IOException? Translate(string operation, string key, Exception error)
    {
        var where = $"S3 {operation} s3://{_options.Bucket}/{key} at {_options.ServiceUrl} failed";
        return error switch
        {
            AmazonS3Exception s3 => new IOException($"{where}: {Describe(s3)}", error),
            AmazonServiceException service when service.InnerException is HttpRequestException or SocketException or IOException =>
                new IOException($"{where}: cannot reach the endpoint ({service.InnerException.Message}); check endpoint: and that the server is running", error),
            AmazonServiceException service => new IOException($"{where}: {service.Message}", error),
            HttpRequestException or SocketException =>
                new IOException($"{where}: cannot reach the endpoint ({error.Message}); check endpoint: and that the server is running", error),
            _ => null,
        };
    }

    private string Describe(AmazonS3Exception error)
    {
        var code = string.IsNullOrEmpty(error.ErrorCode) ? ((int)error.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture) : error.ErrorCode;
        var advice = error.ErrorCode switch
        {
            "NoSuchBucket" => $"the bucket does not exist; create bucket {_options.Bucket} or fix bucket: in the storage configuration",
            "InvalidAccessKeyId" => "the server does not know the access key id; check the access key id (options or AWS_ACCESS_KEY_ID)",
            "SignatureDoesNotMatch" => "the secret access key does not match the access key id; check the secret (options or AWS_SECRET_ACCESS_KEY)",
            "AccessDenied" => $"the credentials may not do this; grant them s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on bucket {_options.Bucket}",
            "BadDigest" or "InvalidDigest" => "the body was damaged on the way (Content-MD5 mismatch); retry",
            "EntityTooLarge" or "EntityTooSmall" => "the server rejected the object or part size; adjust the part size and multipart threshold",
            "RequestTimeTooSkewed" => "this machine's clock is too far from the server's; synchronise it (NTP)",
            "SlowDown" or "ServiceUnavailable" or "InternalError" => "the server is busy or failing; retry later",
            _ when error.StatusCode == HttpStatusCode.Forbidden => "access denied; check the credentials and the bucket policy",
            _ when (int)error.StatusCode >= 500 => "the server failed; retry later",
            _ => error.Message,
        };
        return $"{code} (HTTP {(int)error.StatusCode}): {advice}";
    }

    /// <summary>Copies at most <paramref name="limit"/> bytes; true when the source had more.</summary>
    private static async Task<bool> CopyAtMostAsync(Stream source, MemoryStream target, long limit, CancellationToken cancellationToken)
    {
        var buffer = new byte[CopyBufferSize];
        var left = limit;
        while (left > 0)
        {
            var read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }

            target.Write(buffer, 0, read);
            left -= read;
        }

        return true;
    }

    private static string Md5Base64(ReadOnlySpan<byte> data)
    {
#pragma warning disable CA5351 // S3's Content-MD5 is an integrity check the protocol defines, not a security use.
        return Convert.ToBase64String(MD5.HashData(data));
#pragma warning restore CA5351
    }

    private static DateTimeOffset ToOffset(DateTime? time) =>
        time is { } value ? new DateTimeOffset(value.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(value, DateTimeKind.Utc) : value.ToUniversalTime()) : DateTimeOffset.UnixEpoch;
}
