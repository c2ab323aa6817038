using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Stratum.S3.Backend;

/// <summary>
/// Buckets as directories and objects as files, for tests and for <c>stratum</c> until versioned
/// repositories replace it. Layout under the root:
/// <c>BUCKET/bucket.json</c>, <c>BUCKET/objects/SHA256(KEY)</c>, <c>BUCKET/uploads/ID/{upload.json,part-NNNNN}</c>,
/// <c>BUCKET/tmp/</c>. An object file is its bytes followed by a JSON header (key, size, ETag, metadata),
/// the header's length (uint32 LE) and an 8-byte magic, so the header can be written after the body is
/// streamed and hashed, and one rename publishes bytes and metadata together. Files are named by the
/// key's hash because S3 keys are not paths (<c>a</c> and <c>a/b</c> may both exist; keys reach 1024 bytes).
/// Writes go to tmp/, are fsynced, renamed into place, and the directory is fsynced.
/// Listing reads every header in the bucket and sorts: O(objects) per page, fine for its purpose.
/// </summary>
public sealed class FileSystemS3Backend : IS3Backend
{
    private const int TrailerSize = 12;
    private const int CopyBufferSize = 256 * 1024;
    private static readonly byte[] Magic = "STRS3OB1"u8.ToArray();

    private readonly string _root;
    private readonly TimeProvider _time;

    // Held from a conditional write's check to its rename, and by every other publish, so no write lands in between.
    private readonly SemaphoreSlim _publish = new(1, 1);

    public FileSystemS3Backend(string root, TimeProvider time)
    {
        _root = Path.GetFullPath(root);
        _time = time;
        Directory.CreateDirectory(_root);
    }

    public async IAsyncEnumerable<S3BucketInfo> ListBucketsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var dir in Directory.EnumerateDirectories(_root).Order(StringComparer.Ordinal))
        {
            var info = await ReadBucketAsync(Path.GetFileName(dir), cancellationToken);
            if (info is not null)
            {
                yield return info;
            }
        }
    }

    public async Task<S3Status> CreateBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        var dir = BucketDir(bucket);
        if (File.Exists(Path.Combine(dir, "bucket.json")))
        {
            return S3Status.BucketAlreadyExists;
        }

        Directory.CreateDirectory(Path.Combine(dir, "objects"));
        Directory.CreateDirectory(Path.Combine(dir, "uploads"));
        Directory.CreateDirectory(Path.Combine(dir, "tmp"));
        var json = JsonSerializer.SerializeToUtf8Bytes(new BucketRecord(_time.GetUtcNow()), FsJson.Default.BucketRecord);
        await WriteSmallFileAtomicallyAsync(dir, "bucket.json", json, cancellationToken);
        return S3Status.Ok;
    }

    public async Task<S3Outcome<S3BucketInfo>> HeadBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        var info = await ReadBucketAsync(bucket, cancellationToken);
        return info is null ? S3Status.NoSuchBucket : info;
    }

    public Task<S3Status> DeleteBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        var dir = BucketDir(bucket);
        if (!File.Exists(Path.Combine(dir, "bucket.json")))
        {
            return Task.FromResult(S3Status.NoSuchBucket);
        }

        if (Directory.EnumerateFileSystemEntries(Path.Combine(dir, "objects")).Any())
        {
            return Task.FromResult(S3Status.BucketNotEmpty);
        }

        // bucket.json goes first so a crash part way leaves a directory that is no longer a bucket.
        File.Delete(Path.Combine(dir, "bucket.json"));
        Directory.Delete(dir, recursive: true);
        return Task.FromResult(S3Status.Ok);
    }

    public async Task<S3Outcome<S3ObjectInfo>> PutObjectAsync(string bucket, string key, Stream body, S3ObjectWrite write, S3WriteCondition? condition, CancellationToken cancellationToken)
    {
        if (!BucketExists(bucket))
        {
            return S3Status.NoSuchBucket;
        }

        return await WriteObjectFileAsync(
            bucket,
            ObjectPath(bucket, key),
            async (file, md5, ct) => await CopyHashingAsync(body, file, md5, ct),
            (size, etag) => new ObjectHeader(key, size, etag, _time.GetUtcNow(), write.ContentType, new Dictionary<string, string>(write.Metadata)),
            condition,
            cancellationToken);
    }

    public async Task<S3Outcome<S3ObjectInfo>> HeadObjectAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        if (!BucketExists(bucket))
        {
            return S3Status.NoSuchBucket;
        }

        var header = await TryReadHeaderAsync(ObjectPath(bucket, key), cancellationToken);
        return header is null ? S3Status.NoSuchKey : header.ToInfo();
    }

    public async Task<S3Outcome<S3ObjectContent>> GetObjectAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        if (!BucketExists(bucket))
        {
            return S3Status.NoSuchBucket;
        }

        FileStream file;
        try
        {
            file = new FileStream(ObjectPath(bucket, key), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.Asynchronous);
        }
        catch (FileNotFoundException)
        {
            return S3Status.NoSuchKey;
        }

        try
        {
            // The open handle keeps reading this version even if a writer renames a new one over it.
            var header = await ReadHeaderAsync(file, cancellationToken);
            file.Position = 0;
            return new S3ObjectContent(header.ToInfo(), new ReadOnlySubStream(file, header.Size));
        }
        catch
        {
            await file.DisposeAsync();
            throw;
        }
    }

    public Task<S3Status> DeleteObjectAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        if (!BucketExists(bucket))
        {
            return Task.FromResult(S3Status.NoSuchBucket);
        }

        File.Delete(ObjectPath(bucket, key));
        return Task.FromResult(S3Status.Ok);
    }

    public async Task<S3Outcome<S3ObjectInfo>> CopyObjectAsync(string sourceBucket, string sourceKey, string bucket, string key, S3ObjectWrite? replace, S3WriteCondition? condition, CancellationToken cancellationToken)
    {
        if (!BucketExists(bucket))
        {
            return S3Status.NoSuchBucket;
        }

        var source = await GetObjectAsync(sourceBucket, sourceKey, cancellationToken);
        if (!source.IsOk)
        {
            return source.Status;
        }

        await using var content = source.Value!;
        var write = replace ?? new S3ObjectWrite(content.Info.ContentType, content.Info.Metadata);
        return await PutObjectAsync(bucket, key, content.Data, write, condition, cancellationToken);
    }

    public async IAsyncEnumerable<S3ObjectInfo> ListObjectsAsync(string bucket, string prefix, string? startAfter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var found = new List<S3ObjectInfo>();
        var dir = Path.Combine(BucketDir(bucket), "objects");
        if (!Directory.Exists(dir))
        {
            yield break;
        }

        foreach (var path in Directory.EnumerateFiles(dir))
        {
            var header = await TryReadHeaderAsync(path, cancellationToken);
            if (header is not null
                && header.Key.StartsWith(prefix, StringComparison.Ordinal)
                && (startAfter is null || string.CompareOrdinal(header.Key, startAfter) > 0))
            {
                found.Add(header.ToInfo());
            }
        }

        found.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var info in found)
        {
            yield return info;
        }
    }

    public async Task<S3Outcome<string>> CreateMultipartUploadAsync(string bucket, string key, S3ObjectWrite write, CancellationToken cancellationToken)
    {
        if (!BucketExists(bucket))
        {
            return S3Status.NoSuchBucket;
        }

        var uploadId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var dir = UploadDir(bucket, uploadId);
        Directory.CreateDirectory(dir);
        var record = new UploadRecord(key, _time.GetUtcNow(), write.ContentType, new Dictionary<string, string>(write.Metadata));
        await WriteSmallFileAtomicallyAsync(dir, "upload.json", JsonSerializer.SerializeToUtf8Bytes(record, FsJson.Default.UploadRecord), cancellationToken);
        return uploadId;
    }

    public async Task<S3Outcome<S3PartInfo>> UploadPartAsync(string bucket, string key, string uploadId, int partNumber, Stream body, CancellationToken cancellationToken)
    {
        var upload = await FindUploadAsync(bucket, key, uploadId, cancellationToken);
        if (!upload.IsOk)
        {
            return upload.Status;
        }

        var written = await WriteObjectFileAsync(
            bucket,
            Path.Combine(UploadDir(bucket, uploadId), PartName(partNumber)),
            async (file, md5, ct) => await CopyHashingAsync(body, file, md5, ct),
            (size, etag) => new ObjectHeader(string.Empty, size, etag, _time.GetUtcNow(), string.Empty, []),
            condition: null,
            cancellationToken);
        var info = written.Value!;
        return new S3PartInfo(partNumber, info.Size, info.ETag, info.LastModified);
    }

    public async Task<S3Outcome<IReadOnlyList<S3PartInfo>>> ListPartsAsync(string bucket, string key, string uploadId, CancellationToken cancellationToken)
    {
        var upload = await FindUploadAsync(bucket, key, uploadId, cancellationToken);
        if (!upload.IsOk)
        {
            return upload.Status;
        }

        var parts = new List<S3PartInfo>();
        foreach (var path in Directory.EnumerateFiles(UploadDir(bucket, uploadId), "part-*"))
        {
            var header = await TryReadHeaderAsync(path, cancellationToken);
            if (header is not null && int.TryParse(Path.GetFileName(path).AsSpan(5), out var number))
            {
                parts.Add(new S3PartInfo(number, header.Size, header.ETag, header.LastModified));
            }
        }

        parts.Sort((a, b) => a.PartNumber.CompareTo(b.PartNumber));
        return parts;
    }

    public async Task<S3Outcome<S3ObjectInfo>> CompleteMultipartUploadAsync(string bucket, string key, string uploadId, IReadOnlyList<int> partNumbers, string etag, S3WriteCondition? condition, CancellationToken cancellationToken)
    {
        var upload = await FindUploadAsync(bucket, key, uploadId, cancellationToken);
        if (!upload.IsOk)
        {
            return upload.Status;
        }

        var record = upload.Value!;
        var dir = UploadDir(bucket, uploadId);
        var result = await WriteObjectFileAsync(
            bucket,
            ObjectPath(bucket, key),
            async (file, _, ct) =>
            {
                long total = 0;
                foreach (var number in partNumbers)
                {
                    await using var part = new FileStream(Path.Combine(dir, PartName(number)), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
                    var header = await ReadHeaderAsync(part, ct);
                    part.Position = 0;
                    total += await CopyHashingAsync(new ReadOnlySubStream(part, header.Size), file, null, ct);
                }

                return total;
            },
            (size, _) => new ObjectHeader(key, size, etag, _time.GetUtcNow(), record.ContentType, record.Metadata),
            condition,
            cancellationToken);
        if (result.IsOk)
        {
            Directory.Delete(dir, recursive: true);
        }

        return result;
    }

    public async Task<S3Status> AbortMultipartUploadAsync(string bucket, string key, string uploadId, CancellationToken cancellationToken)
    {
        var upload = await FindUploadAsync(bucket, key, uploadId, cancellationToken);
        if (upload.IsOk)
        {
            Directory.Delete(UploadDir(bucket, uploadId), recursive: true);
        }

        return upload.Status;
    }

    public async Task<S3Outcome<IReadOnlyList<S3UploadInfo>>> ListMultipartUploadsAsync(string bucket, string prefix, CancellationToken cancellationToken)
    {
        if (!BucketExists(bucket))
        {
            return S3Status.NoSuchBucket;
        }

        var uploads = new List<S3UploadInfo>();
        foreach (var dir in Directory.EnumerateDirectories(Path.Combine(BucketDir(bucket), "uploads")))
        {
            var record = await TryReadUploadAsync(dir, cancellationToken);
            if (record is not null && record.Key.StartsWith(prefix, StringComparison.Ordinal))
            {
                uploads.Add(new S3UploadInfo(record.Key, Path.GetFileName(dir), record.Initiated));
            }
        }

        uploads.Sort((a, b) =>
        {
            var byKey = string.CompareOrdinal(a.Key, b.Key);
            return byKey != 0 ? byKey : a.Initiated.CompareTo(b.Initiated);
        });
        return uploads;
    }

    private string BucketDir(string bucket) => Path.Combine(_root, bucket);

    private bool BucketExists(string bucket) => File.Exists(Path.Combine(BucketDir(bucket), "bucket.json"));

    private string ObjectPath(string bucket, string key) =>
        Path.Combine(BucketDir(bucket), "objects", Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))));

    private string UploadDir(string bucket, string uploadId) => Path.Combine(BucketDir(bucket), "uploads", uploadId);

    private static string PartName(int partNumber) => $"part-{partNumber:D5}";

    private async Task<S3Outcome<UploadRecord>> FindUploadAsync(string bucket, string key, string uploadId, CancellationToken cancellationToken)
    {
        if (!BucketExists(bucket))
        {
            return S3Status.NoSuchBucket;
        }

        // Upload ids are ours (hex); anything else cannot name a directory of ours.
        if (uploadId.Length != 32 || !uploadId.All(char.IsAsciiHexDigitLower))
        {
            return S3Status.NoSuchUpload;
        }

        var record = await TryReadUploadAsync(UploadDir(bucket, uploadId), cancellationToken);
        return record is null || record.Key != key ? S3Status.NoSuchUpload : record;
    }

    private static async Task<UploadRecord?> TryReadUploadAsync(string dir, CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(dir, "upload.json"), cancellationToken);
            return JsonSerializer.Deserialize(bytes, FsJson.Default.UploadRecord);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    private async Task<S3BucketInfo?> ReadBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(BucketDir(bucket), "bucket.json"), cancellationToken);
            var record = JsonSerializer.Deserialize(bytes, FsJson.Default.BucketRecord)!;
            return new S3BucketInfo(bucket, record.CreatedAt);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Streams a body into a temp file, appends the header, fsyncs and renames it over
    /// <paramref name="finalPath"/>. If the body throws (a bad signature or checksum found at its end)
    /// the temp file is removed and nothing becomes visible; so it is when <paramref name="condition"/> does not
    /// hold against the object there at the moment of the rename.
    /// </summary>
    private async Task<S3Outcome<S3ObjectInfo>> WriteObjectFileAsync(
        string bucket,
        string finalPath,
        Func<FileStream, IncrementalHash, CancellationToken, Task<long>> writeBody,
        Func<long, string, ObjectHeader> makeHeader,
        S3WriteCondition? condition,
        CancellationToken cancellationToken)
    {
        var tmp = Path.Combine(BucketDir(bucket), "tmp", Guid.NewGuid().ToString("N"));
        try
        {
            ObjectHeader header;
            await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
                var size = await writeBody(file, md5, cancellationToken);
                header = makeHeader(size, Convert.ToHexStringLower(md5.GetHashAndReset()));
                var json = JsonSerializer.SerializeToUtf8Bytes(header, FsJson.Default.ObjectHeader);
                var trailer = new byte[TrailerSize];
                BinaryPrimitives.WriteUInt32LittleEndian(trailer, (uint)json.Length);
                Magic.AsSpan(0, 8).CopyTo(trailer.AsSpan(4));
                await file.WriteAsync(json, cancellationToken);
                await file.WriteAsync(trailer, cancellationToken);
                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
            }

            await _publish.WaitAsync(cancellationToken);
            try
            {
                if (condition is not null)
                {
                    var current = await TryReadHeaderAsync(finalPath, cancellationToken);
                    var status = condition.Check(current?.ETag);
                    if (status != S3Status.Ok)
                    {
                        return status;
                    }
                }

                File.Move(tmp, finalPath, overwrite: true);
                DirectorySync.Sync(Path.GetDirectoryName(finalPath)!);
            }
            finally
            {
                _publish.Release();
            }

            return header.ToInfo();
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    private async Task WriteSmallFileAtomicallyAsync(string dir, string name, byte[] bytes, CancellationToken cancellationToken)
    {
        var tmp = Path.Combine(dir, name + ".tmp-" + Guid.NewGuid().ToString("N"));
        await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
        {
            await file.WriteAsync(bytes, cancellationToken);
            file.Flush(flushToDisk: true);
        }

        File.Move(tmp, Path.Combine(dir, name), overwrite: true);
        DirectorySync.Sync(dir);
    }

    private static async Task<long> CopyHashingAsync(Stream source, Stream destination, IncrementalHash? md5, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            long total = 0;
            int read;
            while ((read = await source.ReadAsync(buffer.AsMemory(0, CopyBufferSize), cancellationToken)) > 0)
            {
                md5?.AppendData(buffer, 0, read);
                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                total += read;
            }

            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<ObjectHeader?> TryReadHeaderAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.Asynchronous);
            return await ReadHeaderAsync(file, cancellationToken);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    private static async Task<ObjectHeader> ReadHeaderAsync(FileStream file, CancellationToken cancellationToken)
    {
        var length = file.Length;
        var trailer = new byte[TrailerSize];
        if (length < TrailerSize)
        {
            throw new InvalidDataException($"{file.Name} is too short to be an object file");
        }

        file.Position = length - TrailerSize;
        await file.ReadExactlyAsync(trailer, cancellationToken);
        if (!trailer.AsSpan(4).SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{file.Name} does not end with an object header");
        }

        var jsonLength = BinaryPrimitives.ReadUInt32LittleEndian(trailer);
        var json = new byte[jsonLength];
        file.Position = length - TrailerSize - jsonLength;
        await file.ReadExactlyAsync(json, cancellationToken);
        var header = JsonSerializer.Deserialize(json, FsJson.Default.ObjectHeader)
            ?? throw new InvalidDataException($"{file.Name} has an empty header");
        return header.Size == length - TrailerSize - jsonLength
            ? header
            : throw new InvalidDataException($"{file.Name}: header says {header.Size} bytes, file holds {length - TrailerSize - jsonLength}");
    }
}

internal sealed record BucketRecord(DateTimeOffset CreatedAt);

internal sealed record UploadRecord(string Key, DateTimeOffset Initiated, string ContentType, Dictionary<string, string> Metadata);

internal sealed record ObjectHeader(string Key, long Size, string ETag, DateTimeOffset LastModified, string ContentType, Dictionary<string, string> Metadata)
{
    public S3ObjectInfo ToInfo() => new(Key, Size, ETag, LastModified, ContentType, Metadata);
}

[JsonSerializable(typeof(BucketRecord))]
[JsonSerializable(typeof(UploadRecord))]
[JsonSerializable(typeof(ObjectHeader))]
internal sealed partial class FsJson : JsonSerializerContext;
