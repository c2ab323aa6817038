namespace Stratum.S3.Backend;

/// <summary>What a backend call can report besides success. The endpoint maps each to an S3 error.</summary>
public enum S3Status
{
    Ok,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    BucketAlreadyExists,
    BucketNotEmpty,

    /// <summary>A conditional write's If-Match or If-None-Match did not hold when the write was to take effect.</summary>
    PreconditionFailed,
}

/// <summary>A backend result: a value when <see cref="Status"/> is <see cref="S3Status.Ok"/>.</summary>
public readonly record struct S3Outcome<T>(S3Status Status, T? Value)
{
    public bool IsOk => Status == S3Status.Ok;

    public static implicit operator S3Outcome<T>(T value) => new(S3Status.Ok, value);

    public static implicit operator S3Outcome<T>(S3Status status) => new(status, default);
}

public sealed record S3BucketInfo(string Name, DateTimeOffset CreatedAt);

/// <summary>An object's description. <see cref="ETag"/> is stored without quotes: 32 hex digits, or hex-N for multipart.</summary>
public sealed record S3ObjectInfo(
    string Key,
    long Size,
    string ETag,
    DateTimeOffset LastModified,
    string ContentType,
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>What the client said about an object it writes: content type and x-amz-meta-* pairs (names lower case, without the prefix).</summary>
public sealed record S3ObjectWrite(string ContentType, IReadOnlyDictionary<string, string> Metadata)
{
    public static readonly S3ObjectWrite Default = new("binary/octet-stream", new Dictionary<string, string>());
}

/// <summary>
/// The precondition of a conditional write (PutObject, CopyObject, CompleteMultipartUpload):
/// <c>If-None-Match: *</c> (<see cref="IfNoneMatchAny"/>: only when the key does not exist) and/or
/// <c>If-Match</c> (<see cref="IfMatch"/>: the ETags, unquoted, of which the current object must have one;
/// <c>*</c> accepts any existing object). A backend evaluates it at the moment the write takes effect, with
/// no other write to the key in between, because a check made before the body streamed would let a
/// concurrent writer slip in and be overwritten.
/// </summary>
public sealed record S3WriteCondition(IReadOnlyList<string>? IfMatch, bool IfNoneMatchAny)
{
    /// <summary>
    /// Ok when the write may go ahead over the object whose ETag is <paramref name="currentETag"/> (null: no
    /// object). AWS answers If-Match on a missing key with 404 NoSuchKey, and any other failure with 412.
    /// </summary>
    public S3Status Check(string? currentETag)
    {
        if (IfMatch is not null)
        {
            if (currentETag is null)
            {
                return S3Status.NoSuchKey;
            }

            if (!IfMatch.Any(tag => tag == "*" || string.Equals(tag, currentETag, StringComparison.OrdinalIgnoreCase)))
            {
                return S3Status.PreconditionFailed;
            }
        }

        return IfNoneMatchAny && currentETag is not null ? S3Status.PreconditionFailed : S3Status.Ok;
    }
}

public sealed record S3PartInfo(int PartNumber, long Size, string ETag, DateTimeOffset LastModified);

public sealed record S3UploadInfo(string Key, string UploadId, DateTimeOffset Initiated);

/// <summary>
/// An open object: its description and a readable, seekable stream of exactly its bytes (the endpoint
/// seeks for ranged reads). Disposing closes the stream.
/// </summary>
public sealed class S3ObjectContent(S3ObjectInfo info, Stream data) : IAsyncDisposable
{
    public S3ObjectInfo Info { get; } = info;

    public Stream Data { get; } = data;

    public ValueTask DisposeAsync() => Data.DisposeAsync();
}

/// <summary>
/// Where the S3 endpoint keeps buckets and objects. The endpoint owns the protocol (auth, validation,
/// listing with delimiters, multipart rules, ETags of completed uploads); a backend stores bytes and
/// answers plain questions. Bodies are streams: a backend never holds a whole object in memory, and a
/// write becomes visible only when complete (a body stream that throws part way leaves nothing behind).
/// Keys and bucket names arrive already validated.
/// </summary>
public interface IS3Backend
{
    IAsyncEnumerable<S3BucketInfo> ListBucketsAsync(CancellationToken cancellationToken);

    /// <summary>Ok, or BucketAlreadyExists.</summary>
    Task<S3Status> CreateBucketAsync(string bucket, CancellationToken cancellationToken);

    Task<S3Outcome<S3BucketInfo>> HeadBucketAsync(string bucket, CancellationToken cancellationToken);

    /// <summary>Ok, NoSuchBucket or BucketNotEmpty.</summary>
    Task<S3Status> DeleteBucketAsync(string bucket, CancellationToken cancellationToken);

    /// <summary>
    /// Stores the body under the key; the result's ETag is the hex MD5 of the bytes stored. With a
    /// <paramref name="condition"/>, stores nothing and answers its status when it does not hold at commit.
    /// </summary>
    Task<S3Outcome<S3ObjectInfo>> PutObjectAsync(string bucket, string key, Stream body, S3ObjectWrite write, S3WriteCondition? condition, CancellationToken cancellationToken);

    Task<S3Outcome<S3ObjectInfo>> HeadObjectAsync(string bucket, string key, CancellationToken cancellationToken);

    Task<S3Outcome<S3ObjectContent>> GetObjectAsync(string bucket, string key, CancellationToken cancellationToken);

    /// <summary>Ok also when the key does not exist (S3 semantics); NoSuchBucket when the bucket does not.</summary>
    Task<S3Status> DeleteObjectAsync(string bucket, string key, CancellationToken cancellationToken);

    /// <summary>Copies an object; <paramref name="replace"/> null keeps the source's content type and metadata.</summary>
    Task<S3Outcome<S3ObjectInfo>> CopyObjectAsync(string sourceBucket, string sourceKey, string bucket, string key, S3ObjectWrite? replace, S3WriteCondition? condition, CancellationToken cancellationToken);

    /// <summary>
    /// Objects whose key starts with <paramref name="prefix"/> and sorts after <paramref name="startAfter"/>
    /// (null: from the start), in ordinal key order. The bucket is known to exist.
    /// </summary>
    IAsyncEnumerable<S3ObjectInfo> ListObjectsAsync(string bucket, string prefix, string? startAfter, CancellationToken cancellationToken);

    /// <summary>Starts a multipart upload and returns its id.</summary>
    Task<S3Outcome<string>> CreateMultipartUploadAsync(string bucket, string key, S3ObjectWrite write, CancellationToken cancellationToken);

    /// <summary>Stores a part (replacing an earlier one with the same number); its ETag is the hex MD5 of its bytes.</summary>
    Task<S3Outcome<S3PartInfo>> UploadPartAsync(string bucket, string key, string uploadId, int partNumber, Stream body, CancellationToken cancellationToken);

    /// <summary>The parts uploaded so far, ordered by part number.</summary>
    Task<S3Outcome<IReadOnlyList<S3PartInfo>>> ListPartsAsync(string bucket, string key, string uploadId, CancellationToken cancellationToken);

    /// <summary>
    /// Concatenates the named parts (already validated by the endpoint) into the object and ends the
    /// upload. <paramref name="etag"/> is the object's ETag, computed by the endpoint. When
    /// <paramref name="condition"/> does not hold at commit, nothing is stored and the upload stays, so the
    /// client can abort it (or retry once the key is as it expects).
    /// </summary>
    Task<S3Outcome<S3ObjectInfo>> CompleteMultipartUploadAsync(string bucket, string key, string uploadId, IReadOnlyList<int> partNumbers, string etag, S3WriteCondition? condition, CancellationToken cancellationToken);

    /// <summary>Ok, NoSuchBucket or NoSuchUpload.</summary>
    Task<S3Status> AbortMultipartUploadAsync(string bucket, string key, string uploadId, CancellationToken cancellationToken);

    /// <summary>Uploads in progress whose key starts with the prefix, ordered by key then initiation time.</summary>
    Task<S3Outcome<IReadOnlyList<S3UploadInfo>>> ListMultipartUploadsAsync(string bucket, string prefix, CancellationToken cancellationToken);
}
