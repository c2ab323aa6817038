using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Stratum.Storage.Backends;

namespace Stratum.Storage.S3.Tests;

/// <summary>What the conformance suite does not reach: multipart uploads, paging, and the errors users see.</summary>
[RequiresS3rver]
public sealed class S3BlobBackendTests
{
    private const int MiB = 1024 * 1024;

    private static async Task<S3BlobBackend> BackendAsync(Func<S3BlobBackendOptions, S3BlobBackendOptions>? change = null)
    {
        var options = await S3rverServer.OptionsAsync(await S3rverServer.CreateBucketAsync());
        return new S3BlobBackend(change is null ? options : change(options), _ => null);
    }

    private static S3BlobBackendOptions Small(S3BlobBackendOptions o) => With(o, threshold: MiB, partSize: S3BlobBackendOptions.MinPartSize);

    private static S3BlobBackendOptions With(
        S3BlobBackendOptions o, long? threshold = null, long? partSize = null, int? pageSize = null, string? bucket = null,
        string? accessKey = null, string? secret = null, string? serviceUrl = null) => new()
        {
            ServiceUrl = serviceUrl ?? o.ServiceUrl,
            Region = o.Region,
            Bucket = bucket ?? o.Bucket,
            KeyPrefix = o.KeyPrefix,
            AccessKeyId = accessKey ?? o.AccessKeyId,
            SecretAccessKey = secret ?? o.SecretAccessKey,
            MultipartThreshold = threshold ?? o.MultipartThreshold,
            PartSize = partSize ?? o.PartSize,
            ListPageSize = pageSize ?? o.ListPageSize,
            MaxErrorRetry = 0,
        };

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<byte[]> ReadAsync(IBlobBackend backend, string name, long offset = 0, long? length = null)
    {
        await using var stream = await backend.OpenReadAsync(name, offset, length) ?? throw new InvalidOperationException($"{name} missing");
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    private static async Task<string> ETagAsync(S3BlobBackend backend, string name)
    {
        using var client = await S3rverServer.ClientAsync();
        return (await client.GetObjectMetadataAsync(backend.Options.Bucket, backend.Key(name))).ETag.Trim('"');
    }

    [Fact]
    public async Task PutAsync_AboveThreshold_GoesMultipartAndReadsBack()
    {
        using var backend = await BackendAsync(Small);
        var data = Bytes((int)(2 * S3BlobBackendOptions.MinPartSize) + 12_345, 1);

        var sent = new System.Collections.Concurrent.ConcurrentQueue<string>();
        backend.ObserveRequests(sent.Enqueue);

        await backend.PutAsync("big/blob", new MemoryStream(data));

        Assert.Equal(["InitiateMultipartUploadRequest", "UploadPartRequest", "UploadPartRequest", "UploadPartRequest", "CompleteMultipartUploadRequest"], sent);
        Assert.Equal(data.Length, (await backend.StatAsync("big/blob"))!.Length);
        Assert.Equal(data, await ReadAsync(backend, "big/blob"));
    }

    [Fact]
    public async Task PutAsync_AtThreshold_IsOneSinglePut()
    {
        using var backend = await BackendAsync(Small);
        var data = Bytes(MiB, 2);
        var sent = new System.Collections.Concurrent.ConcurrentQueue<string>();
        backend.ObserveRequests(sent.Enqueue);

        await backend.PutAsync("edge", new MemoryStream(data));

        Assert.Equal(["PutObjectRequest"], sent);

#pragma warning disable CA5351 // Comparing with S3's MD5 ETag.
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(data)), await ETagAsync(backend, "edge"));
#pragma warning restore CA5351
        Assert.Equal(data, await ReadAsync(backend, "edge"));
    }

    [Fact]
    public async Task PutAsync_ExactlyWholeParts_ReadsBack()
    {
        using var backend = await BackendAsync(Small);
        var data = Bytes((int)(2 * S3BlobBackendOptions.MinPartSize), 3);

        await backend.PutAsync("whole", new MemoryStream(data));

        Assert.Equal(data, await ReadAsync(backend, "whole"));
    }

    [Theory]
    [InlineData(5 * MiB - 10, 20)]
    [InlineData(0, 1)]
    [InlineData(10 * MiB + 12_340, 100)]
    [InlineData(3, 7 * MiB)]
    public async Task OpenReadAsync_RangeOfMultipartBlob_ReturnsThoseBytes(long offset, long length)
    {
        using var backend = await BackendAsync(Small);
        var data = Bytes((int)(2 * S3BlobBackendOptions.MinPartSize) + 12_345, 4);
        await backend.PutAsync("ranged", new MemoryStream(data));

        var read = await ReadAsync(backend, "ranged", offset, length);

        Assert.Equal(data[(int)offset..(int)Math.Min(data.Length, offset + length)], read);
    }

    [Fact]
    public async Task PutAsync_MultipartSourceFails_LeavesNoObjectAndAbortsUpload()
    {
        using var backend = await BackendAsync(Small);
        var sent = new System.Collections.Concurrent.ConcurrentQueue<string>();
        backend.ObserveRequests(sent.Enqueue);

        var error = await Assert.ThrowsAsync<IOException>(() =>
            backend.PutAsync("broken", new FailingStream(Bytes(8 * MiB, 5), failAfter: 7 * MiB)));

        Assert.Equal("the client went away", error.Message);

        // s3rver cannot list multipart uploads, so the abort is checked on the wire.
        Assert.Equal(["InitiateMultipartUploadRequest", "UploadPartRequest", "AbortMultipartUploadRequest"], sent);
        Assert.Null(await backend.StatAsync("broken"));
    }

    [Fact]
    public async Task ListAsync_MoreThanOnePage_ReturnsEveryBlobInOrder()
    {
        using var backend = await BackendAsync(o => With(o, pageSize: 2));
        var names = Enumerable.Range(0, 7).Select(i => $"page/{(char)('g' - i)}").ToList();
        foreach (var name in names)
        {
            await backend.PutAsync(name, new MemoryStream([1, 2, 3]));
        }

        var listed = new List<BlobInfo>();
        await foreach (var blob in backend.ListAsync("page/"))
        {
            listed.Add(blob);
        }

        Assert.Equal(names.Order(StringComparer.Ordinal), listed.Select(b => b.Name));
        Assert.All(listed, b => Assert.Equal(3, b.Length));
    }

    [Fact]
    public async Task PutAsync_WrongSecret_ClearErrorWithoutTheSecret()
    {
        // s3rver does not check signatures; this server answers as S3 does to a wrong secret.
        const string Secret = "wrong-secret-must-not-leak";
        await using var server = new CannedS3Server(403, "Forbidden", "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.");
        using var backend = new S3BlobBackend(With(await S3rverServer.OptionsAsync("some-bucket"), secret: Secret, serviceUrl: server.Endpoint), _ => null);

        var error = await Assert.ThrowsAsync<IOException>(() => backend.PutAsync("x", new MemoryStream([1])));

        Assert.Contains("SignatureDoesNotMatch", error.Message, StringComparison.Ordinal);
        Assert.Contains("AWS_SECRET_ACCESS_KEY", error.Message, StringComparison.Ordinal);
        Assert.Contains($"s3://{backend.Options.Bucket}/x", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListAsync_UnknownAccessKey_ClearError()
    {
        using var backend = await BackendAsync(o => With(o, accessKey: "NOBODY"));

        var error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            await foreach (var unused in backend.ListAsync(""))
            {
            }
        });

        Assert.Contains("InvalidAccessKeyId", error.Message, StringComparison.Ordinal);
        Assert.Contains("AWS_ACCESS_KEY_ID", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AllMethods_MissingBucket_SayCreateBucket()
    {
        using var backend = await BackendAsync(o => With(o, bucket: "no-such-bucket-" + Guid.NewGuid().ToString("N")[..12]));
        var advice = $"create bucket {backend.Options.Bucket} or fix bucket:";

        Assert.Contains(advice, (await Assert.ThrowsAsync<IOException>(() => backend.PutAsync("x", new MemoryStream([1])))).Message, StringComparison.Ordinal);
        Assert.Contains(advice, (await Assert.ThrowsAsync<IOException>(() => backend.StatAsync("x"))).Message, StringComparison.Ordinal);
        Assert.Contains(advice, (await Assert.ThrowsAsync<IOException>(() => backend.OpenReadAsync("x"))).Message, StringComparison.Ordinal);
        Assert.Contains(advice, (await Assert.ThrowsAsync<IOException>(() => backend.DeleteAsync("x"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatAsync_EndpointDown_SaysCannotReach()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        using var backend = await BackendAsync(o => With(o, serviceUrl: $"http://127.0.0.1:{port}"));

        var error = await Assert.ThrowsAsync<IOException>(() => backend.StatAsync("x"));

        Assert.Contains("cannot reach the endpoint", error.Message, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A source that throws after some bytes, like a client that disconnects mid-upload.</summary>
    private sealed class FailingStream(byte[] data, int failAfter) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => Check(base.Read(buffer, offset, Math.Min(count, 65536)));

        public override int Read(Span<byte> buffer) => Check(base.Read(buffer[..Math.Min(buffer.Length, 65536)]));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer, offset, count));

        private int Check(int read) => Position > failAfter ? throw new IOException("the client went away") : read;
    }
}
