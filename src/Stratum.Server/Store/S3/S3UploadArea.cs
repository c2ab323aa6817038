using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Stratum.S3.Backend;

namespace Stratum.Server.Store.S3;

/// <summary>
/// Multipart uploads in progress, outside the repositories until they complete:
/// <c>ROOT/UPLOADID/upload.json</c> (bucket, key, content type, metadata) and one file per part named
/// <c>part-NNNNN.MD5HEX</c>, so a part's ETag is published by the same rename that publishes its bytes.
/// Upload ids are 32 hex digits and checked before they touch a path.
/// </summary>
internal sealed class S3UploadArea(string root)
{
    private const int CopyBufferSize = 256 * 1024;

    private readonly string _root = Directory.CreateDirectory(Path.GetFullPath(root)).FullName;

    public async Task<string> CreateAsync(string bucket, string key, S3ObjectWrite write, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var dir = Directory.CreateDirectory(Path.Combine(_root, id)).FullName;
        var record = new S3UploadRecord(id, bucket, key, now, write.ContentType, new Dictionary<string, string>(write.Metadata));
        var tmp = Path.Combine(dir, "upload.json.tmp");
        await File.WriteAllBytesAsync(tmp, JsonSerializer.SerializeToUtf8Bytes(record, S3UploadJson.Default.S3UploadRecord), cancellationToken);
        File.Move(tmp, Path.Combine(dir, "upload.json"));
        return id;
    }

    /// <summary>The upload, when it exists and is for this bucket and key.</summary>
    public async Task<S3UploadRecord?> FindAsync(string bucket, string key, string uploadId, CancellationToken cancellationToken)
    {
        if (uploadId.Length != 32 || !uploadId.All(char.IsAsciiHexDigitLower))
        {
            return null;
        }

        var record = await ReadAsync(Path.Combine(_root, uploadId), cancellationToken);
        return record is not null && record.Bucket == bucket && record.Key == key ? record : null;
    }

    public async Task<S3PartInfo> WritePartAsync(S3UploadRecord upload, int partNumber, Stream body, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(_root, upload.Id);
        var tmp = Path.Combine(dir, $"tmp-{Guid.NewGuid():N}");
        try
        {
            long size = 0;
            string etag;
            await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
                var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
                try
                {
                    int read;
                    while ((read = await body.ReadAsync(buffer.AsMemory(0, CopyBufferSize), cancellationToken)) > 0)
                    {
                        md5.AppendData(buffer, 0, read);
                        await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                        size += read;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                etag = Convert.ToHexStringLower(md5.GetHashAndReset());
                file.Flush(flushToDisk: true);
            }

            // A part uploaded again replaces the earlier one: drop other versions of this number first.
            foreach (var old in Directory.EnumerateFiles(dir, PartPrefix(partNumber) + "*"))
            {
                File.Delete(old);
            }

            File.Move(tmp, Path.Combine(dir, PartPrefix(partNumber) + etag), overwrite: true);
            return new S3PartInfo(partNumber, size, etag, now);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    public List<S3PartInfo> ListParts(S3UploadRecord upload)
    {
        var parts = new List<S3PartInfo>();
        foreach (var path in Directory.EnumerateFiles(Path.Combine(_root, upload.Id), "part-*"))
        {
            var name = Path.GetFileName(path);
            var dot = name.IndexOf('.', StringComparison.Ordinal);
            if (dot == 10 && int.TryParse(name.AsSpan(5, 5), NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                var info = new FileInfo(path);
                parts.Add(new S3PartInfo(number, info.Length, name[(dot + 1)..], new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero)));
            }
        }

        parts.Sort((a, b) => a.PartNumber.CompareTo(b.PartNumber));
        return parts;
    }

    /// <summary>The named parts one after the other, read lazily (the endpoint checked they exist).</summary>
    public Stream OpenConcatenated(S3UploadRecord upload, IReadOnlyList<int> partNumbers)
    {
        var byNumber = ListParts(upload).ToDictionary(p => p.PartNumber);
        var files = partNumbers.Select(n => Path.Combine(_root, upload.Id, PartPrefix(n) + byNumber[n].ETag)).ToList();
        return new ConcatenatedFiles(files);
    }

    public void Delete(S3UploadRecord upload)
    {
        var dir = Path.Combine(_root, upload.Id);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    public async Task<List<S3UploadInfo>> ListAsync(string bucket, string prefix, CancellationToken cancellationToken)
    {
        var uploads = new List<S3UploadInfo>();
        foreach (var dir in Directory.EnumerateDirectories(_root))
        {
            var record = await ReadAsync(dir, cancellationToken);
            if (record is not null && record.Bucket == bucket && record.Key.StartsWith(prefix, StringComparison.Ordinal))
            {
                uploads.Add(new S3UploadInfo(record.Key, record.Id, record.Initiated));
            }
        }

        uploads.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key) is var byKey && byKey != 0 ? byKey : a.Initiated.CompareTo(b.Initiated));
        return uploads;
    }

    private static string PartPrefix(int partNumber) => string.Create(CultureInfo.InvariantCulture, $"part-{partNumber:D5}.");

    private static async Task<S3UploadRecord?> ReadAsync(string dir, CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(dir, "upload.json"), cancellationToken);
            return JsonSerializer.Deserialize(bytes, S3UploadJson.Default.S3UploadRecord);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Reads files in order as one forward-only stream, opening each only when it is reached.</summary>
    private sealed class ConcatenatedFiles(IReadOnlyList<string> files) : Stream
    {
        private int _next;
        private FileStream? _current;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (true)
            {
                if (_current is null)
                {
                    if (_next == files.Count)
                    {
                        return 0;
                    }

                    _current = new FileStream(files[_next++], FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
                }

                var read = await _current.ReadAsync(buffer, cancellationToken);
                if (read > 0)
                {
                    return read;
                }

                await _current.DisposeAsync();
                _current = null;
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

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
                _current?.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

internal sealed record S3UploadRecord(string Id, string Bucket, string Key, DateTimeOffset Initiated, string ContentType, Dictionary<string, string> Metadata);

[JsonSerializable(typeof(S3UploadRecord))]
internal sealed partial class S3UploadJson : JsonSerializerContext;
