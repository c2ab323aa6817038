using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Amazon.S3.Transfer;

namespace Stratum.S3.Tests;

/// <summary>AWSSDK.S3 (v4, path-style, its default flexible checksums and aws-chunked bodies) against the endpoint.</summary>
public sealed class AwsSdkClientTests(S3TestServer server) : IClassFixture<S3TestServer>
{
    private const int MiB = 1024 * 1024;

    private AmazonS3Client Client(string? accessKey = null, string? secret = null) =>
        new(new BasicAWSCredentials(accessKey ?? S3TestServer.AccessKey, secret ?? server.SecretKey), new AmazonS3Config
        {
            ServiceURL = server.Endpoint,
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            MaxErrorRetry = 0,
        });

    private async Task<(AmazonS3Client Client, string Bucket)> WithBucketAsync(string stem)
    {
        var client = Client();
        var bucket = S3TestServer.NewBucket(stem);
        await client.PutBucketAsync(bucket);
        return (client, bucket);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    [Fact]
    public async Task PutObject_WithMetadata_GetReturnsBytesTypeAndMetadata()
    {
        var (client, bucket) = await WithBucketAsync("put");
        var data = TestData.Random(100_000, 10);
        var put = new PutObjectRequest { BucketName = bucket, Key = "dir/ünï code.bin", InputStream = new MemoryStream(data), ContentType = "application/x-test" };
        put.Metadata.Add("origin", "unit-test");

        var putResponse = await client.PutObjectAsync(put);
        using var get = await client.GetObjectAsync(bucket, "dir/ünï code.bin");

        Assert.Equal($"\"{TestData.Md5Hex(data)}\"", putResponse.ETag);
        Assert.Equal(data, await ReadAllAsync(get.ResponseStream));
        Assert.Equal("application/x-test", get.Headers.ContentType);
        Assert.Equal("unit-test", get.Metadata["x-amz-meta-origin"]);
        Assert.Equal(putResponse.ETag, get.ETag);
    }

    [Fact]
    public async Task GetObject_ByteRange_Returns206Slice()
    {
        var (client, bucket) = await WithBucketAsync("range");
        var data = TestData.Random(1000, 11);
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "r", InputStream = new MemoryStream(data) });

        using var get = await client.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = "r", ByteRange = new ByteRange(100, 199) });

        Assert.Equal(HttpStatusCode.PartialContent, get.HttpStatusCode);
        Assert.Equal(data[100..200], await ReadAllAsync(get.ResponseStream));
        Assert.Equal("bytes 100-199/1000", get.ContentRange);
    }

    [Fact]
    public async Task GetObject_RangePastEnd_IsInvalidRange416()
    {
        var (client, bucket) = await WithBucketAsync("badrange");
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "r", ContentBody = "short" });

        var error = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() =>
            client.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = "r", ByteRange = new ByteRange(100, 200) }));

        Assert.Equal("InvalidRange", error.ErrorCode);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, error.StatusCode);
    }

    [Fact]
    public async Task TransferUtility_TwelveMiBIn5MiBParts_RoundTripsWithMultipartETag()
    {
        var (client, bucket) = await WithBucketAsync("mpu");
        var data = TestData.Random(12 * MiB, 12);
        var file = Path.Combine(server.Root, "mpu-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllBytesAsync(file, data);
        using var transfer = new TransferUtility(client, new TransferUtilityConfig { ConcurrentServiceRequests = 2, MinSizeBeforePartUpload = 5 * MiB });

        await transfer.UploadAsync(new TransferUtilityUploadRequest { BucketName = bucket, Key = "big/file.bin", FilePath = file, PartSize = 5 * MiB });
        var head = await client.GetObjectMetadataAsync(bucket, "big/file.bin");
        using var get = await client.GetObjectAsync(bucket, "big/file.bin");

        Assert.EndsWith("-3\"", head.ETag);
        Assert.Equal(data.Length, head.ContentLength);
        Assert.Equal(data, await ReadAllAsync(get.ResponseStream));
    }

    [Fact]
    public async Task GetPreSignedUrl_PlainHttpGet_ReturnsObject()
    {
        var (client, bucket) = await WithBucketAsync("presign");
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "p/x.txt", ContentBody = "presigned body" });

        var url = await client.GetPreSignedURLAsync(new GetPreSignedUrlRequest
        {
            BucketName = bucket, Key = "p/x.txt", Verb = HttpVerb.GET, Expires = DateTime.UtcNow.AddMinutes(5), Protocol = Amazon.S3.Protocol.HTTP,
        });
        using var http = new HttpClient();

        Assert.Equal("presigned body", await http.GetStringAsync(url));
    }

    [Fact]
    public async Task ListObjectsV2_DelimiterAndSmallPages_WalksEveryEntryOnce()
    {
        var (client, bucket) = await WithBucketAsync("list");
        foreach (var key in new[] { "a.txt", "dir/x", "dir/y", "dir/sub/z", "other/q", "z.txt" })
        {
            await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = key });
        }

        var keys = new List<string>();
        var prefixes = new List<string>();
        string? token = null;
        do
        {
            var page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Delimiter = "/", MaxKeys = 2, ContinuationToken = token });
            keys.AddRange((page.S3Objects ?? []).Select(o => o.Key));
            prefixes.AddRange(page.CommonPrefixes ?? []);
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);

        var inDir = await client.ListObjectsAsync(new ListObjectsRequest { BucketName = bucket, Prefix = "dir/", Delimiter = "/" });

        Assert.Equal(["a.txt", "z.txt"], keys);
        Assert.Equal(["dir/", "other/"], prefixes);
        Assert.Equal(["dir/x", "dir/y"], (inDir.S3Objects ?? []).Select(o => o.Key));
        Assert.Equal(["dir/sub/"], inDir.CommonPrefixes ?? []);
    }

    [Fact]
    public async Task DeleteObjects_ManyKeysAndOneUnsafe_DeletesValidAndReportsUnsafe()
    {
        var (client, bucket) = await WithBucketAsync("delmany");
        foreach (var key in new[] { "d/1", "d/2", "keep" })
        {
            await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = key });
        }

        // The SDK raises DeleteObjectsException when the result lists errors; the result rides on it.
        var failed = await Assert.ThrowsAsync<DeleteObjectsException>(() => client.DeleteObjectsAsync(new DeleteObjectsRequest
        {
            BucketName = bucket,
            Objects = [new KeyVersion { Key = "d/1" }, new KeyVersion { Key = "d/2" }, new KeyVersion { Key = "a/../keep" }],
        }));
        var result = failed.Response;
        var left = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });

        Assert.Equal(["d/1", "d/2"], (result.DeletedObjects ?? []).Select(d => d.Key).Order());
        Assert.Equal("InvalidArgument", Assert.Single(result.DeleteErrors ?? []).Code);
        Assert.Equal(["keep"], (left.S3Objects ?? []).Select(o => o.Key));
    }

    [Fact]
    public async Task CopyObject_ReplaceMetadata_CopiesBytesWithNewMetadata()
    {
        var (client, bucket) = await WithBucketAsync("copy");
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "src", ContentBody = "copy me" });
        var copy = new CopyObjectRequest
        {
            SourceBucket = bucket, SourceKey = "src", DestinationBucket = bucket, DestinationKey = "dst/copy", MetadataDirective = S3MetadataDirective.REPLACE,
            ContentType = "text/plain",
        };
        copy.Metadata.Add("color", "blue");

        await client.CopyObjectAsync(copy);
        var head = await client.GetObjectMetadataAsync(bucket, "dst/copy");

        Assert.Equal("blue", head.Metadata["x-amz-meta-color"]);
        Assert.Equal("text/plain", head.Headers.ContentType);
        Assert.Equal(7, head.ContentLength);
    }

    [Fact]
    public async Task Multipart_LowLevelMistakes_GetInvalidPartAndEntityTooSmall()
    {
        var (client, bucket) = await WithBucketAsync("mpuerr");
        var upload = await client.InitiateMultipartUploadAsync(bucket, "m");
        var p1 = await client.UploadPartAsync(new UploadPartRequest { BucketName = bucket, Key = "m", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream(new byte[100]) });
        var p2 = await client.UploadPartAsync(new UploadPartRequest { BucketName = bucket, Key = "m", UploadId = upload.UploadId, PartNumber = 2, InputStream = new MemoryStream(new byte[100]) });
        Task Complete(params PartETag[] parts) =>
            client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = bucket, Key = "m", UploadId = upload.UploadId, PartETags = [.. parts] });

        var wrong = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => Complete(new PartETag(1, p2.ETag.Replace('a', 'b').Replace('0', '1')), new PartETag(2, p2.ETag)));
        var small = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => Complete(new PartETag(1, p1.ETag), new PartETag(2, p2.ETag)));
        var parts = await client.ListPartsAsync(bucket, "m", upload.UploadId);
        var uploads = await client.ListMultipartUploadsAsync(bucket);
        await client.AbortMultipartUploadAsync(bucket, "m", upload.UploadId);
        var gone = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.ListPartsAsync(bucket, "m", upload.UploadId));

        Assert.Equal("InvalidPart", wrong.ErrorCode);
        Assert.Equal("EntityTooSmall", small.ErrorCode);
        Assert.Equal([1, 2], (parts.Parts ?? []).Select(p => p.PartNumber ?? 0));
        Assert.Contains(uploads.MultipartUploads ?? [], u => u.UploadId == upload.UploadId);
        Assert.Equal("NoSuchUpload", gone.ErrorCode);
    }

    [Fact]
    public async Task Buckets_CreateTwiceDeleteNonEmptyAndMissing_GetS3Errors()
    {
        var (client, bucket) = await WithBucketAsync("bkts");
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "k", ContentBody = "x" });

        var twice = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.PutBucketAsync(bucket));
        var notEmpty = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.DeleteBucketAsync(bucket));
        var noKey = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.GetObjectAsync(bucket, "missing"));
        var noBucket = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.GetObjectAsync("no-such-bucket-here", "k"));
        var listed = await client.ListBucketsAsync();
        await client.DeleteObjectAsync(bucket, "k");
        await client.DeleteBucketAsync(bucket);

        Assert.Equal("BucketAlreadyOwnedByYou", twice.ErrorCode);
        Assert.Equal("BucketNotEmpty", notEmpty.ErrorCode);
        Assert.Equal("NoSuchKey", noKey.ErrorCode);
        Assert.Equal("NoSuchBucket", noBucket.ErrorCode);
        Assert.Contains(listed.Buckets ?? [], b => b.BucketName == bucket);
    }

    [Fact]
    public async Task Requests_WrongSecretOrUnknownKey_AreRefused()
    {
        var bad = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => Client(secret: "not-the-secret").ListBucketsAsync());
        var unknown = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => Client(accessKey: "NOSUCHKEY").ListBucketsAsync());

        Assert.Equal("SignatureDoesNotMatch", bad.ErrorCode);
        Assert.Equal("InvalidAccessKeyId", unknown.ErrorCode);
    }

    [Fact]
    public async Task PutObject_KeyWithEmptySegment_IsInvalidArgument()
    {
        var (client, bucket) = await WithBucketAsync("badkey");

        var error = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "a//b", ContentBody = "x" }));

        Assert.Equal("InvalidArgument", error.ErrorCode);
    }
}
