using System.Globalization;
using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Stratum.S3.Tests;

/// <summary>
/// Conditional requests as S3 documents them: writes with If-None-Match: * and If-Match (AWSSDK.S3's
/// IfNoneMatch / IfMatch), reads with If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since
/// and their precedence (hand-signed requests, to set exact header combinations).
/// </summary>
public sealed class ConditionalRequestTests(S3TestServer server) : IClassFixture<S3TestServer>
{
    private AmazonS3Client Client() =>
        new(new BasicAWSCredentials(S3TestServer.AccessKey, server.SecretKey), new AmazonS3Config { ServiceURL = server.Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });

    private async Task<(int Status, string Code, string Body, HttpResponseMessage Response)> SendAsync(
        HttpMethod method, string path, byte[]? body = null, Action<HttpRequestMessage>? headers = null)
    {
        var request = TestSigner.Signed(method, server.BaseAddress, path, body, S3TestServer.AccessKey, server.SecretKey, server.Clock.Now, extraHeaders: headers);
        using var http = new HttpClient();
        var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var code = System.Text.RegularExpressions.Regex.Match(text, "<Code>([^<]*)</Code>").Groups[1].Value;
        return ((int)response.StatusCode, code, text, response);
    }

    private async Task<(AmazonS3Client S3, string Bucket)> BucketAsync(string stem)
    {
        var s3 = Client();
        var bucket = S3TestServer.NewBucket(stem);
        await s3.PutBucketAsync(bucket);
        return (s3, bucket);
    }

    private static async Task<string> ReadAsync(AmazonS3Client s3, string bucket, string key)
    {
        using var got = await s3.GetObjectAsync(bucket, key);
        using var reader = new StreamReader(got.ResponseStream);
        return await reader.ReadToEndAsync();
    }

    private static string Http(DateTimeOffset time) => time.ToString("R", CultureInfo.InvariantCulture);

    [Fact]
    public async Task PutObject_IfNoneMatchStar_CreatesOnce_ThenIs412AndKeepsTheFirst()
    {
        var (s3, bucket) = await BucketAsync("inm");

        var first = await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "lock", ContentBody = "first", IfNoneMatch = "*" });
        var second = await Assert.ThrowsAsync<AmazonS3Exception>(() =>
            s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "lock", ContentBody = "second", IfNoneMatch = "*" }));

        Assert.Equal(HttpStatusCode.OK, first.HttpStatusCode);
        Assert.Equal(HttpStatusCode.PreconditionFailed, second.StatusCode);
        Assert.Equal("PreconditionFailed", second.ErrorCode);
        Assert.Equal("first", await ReadAsync(s3, bucket, "lock"));
    }

    [Fact]
    public async Task PutObject_IfMatch_WritesOverTheCurrentETag_RefusesAStaleOne()
    {
        var (s3, bucket) = await BucketAsync("im");
        var v1 = await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "state.json", ContentBody = "v1" });

        var v2 = await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "state.json", ContentBody = "v2", IfMatch = v1.ETag });
        var stale = await Assert.ThrowsAsync<AmazonS3Exception>(() =>
            s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "state.json", ContentBody = "v3", IfMatch = v1.ETag }));

        Assert.NotEqual(v1.ETag, v2.ETag);
        Assert.Equal(HttpStatusCode.PreconditionFailed, stale.StatusCode);
        Assert.Equal("v2", await ReadAsync(s3, bucket, "state.json"));
    }

    [Fact]
    public async Task PutObject_IfMatchOnAMissingKey_IsNoSuchKeyAndStoresNothing()
    {
        var (s3, bucket) = await BucketAsync("im404");

        var error = await Assert.ThrowsAsync<AmazonS3Exception>(() =>
            s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "absent", ContentBody = "x", IfMatch = "\"0123456789abcdef0123456789abcdef\"" }));
        var listed = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });

        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.Equal("NoSuchKey", error.ErrorCode);
        Assert.Empty(listed.S3Objects ?? []);
    }

    [Fact]
    public async Task PutObject_IfNoneMatchWithAnETag_IsNotImplemented_NeverAWrongSuccess()
    {
        var bucket = (await BucketAsync("inmtag")).Bucket;

        var (status, code, _, _) = await SendAsync(HttpMethod.Put, $"/{bucket}/k", "x"u8.ToArray(), r => r.Headers.TryAddWithoutValidation("If-None-Match", "\"abc\""));
        var (headStatus, _, _, _) = await SendAsync(HttpMethod.Head, $"/{bucket}/k");

        Assert.Equal(501, status);
        Assert.Equal("NotImplemented", code);
        Assert.Equal(404, headStatus);
    }

    [Fact]
    public async Task PutObject_ManyConcurrentIfNoneMatch_ExactlyOneWins()
    {
        var (_, bucket) = await BucketAsync("race");

        // Bodies of a few MiB keep every writer streaming while the others check, so the check that decides
        // is the one made when the write takes effect, not the early one before the body.
        var bodies = Enumerable.Range(0, 8).Select(i =>
        {
            var body = new byte[3 * 1024 * 1024];
            System.Text.Encoding.UTF8.GetBytes($"writer-{i}").CopyTo(body, 0);
            return body;
        }).ToList();
        var attempts = await Task.WhenAll(bodies.Select(body =>
            SendAsync(HttpMethod.Put, $"/{bucket}/leader", body, r => r.Headers.TryAddWithoutValidation("If-None-Match", "*"))));
        var winner = attempts.Single(a => a.Status == 200);
        var (_, _, stored, _) = await SendAsync(HttpMethod.Get, $"/{bucket}/leader");

        Assert.All(attempts.Where(a => a.Status != 200), a => Assert.Equal((412, "PreconditionFailed"), (a.Status, a.Code)));
        Assert.Equal(winner.Response.Headers.ETag!.Tag, (await SendAsync(HttpMethod.Head, $"/{bucket}/leader")).Response.Headers.ETag!.Tag);
        Assert.StartsWith("writer-", stored);
    }

    [Fact]
    public async Task CompleteMultipartUpload_IfNoneMatchOverAnExistingKey_Is412_AndTheUploadRemains()
    {
        var (s3, bucket) = await BucketAsync("mpu");
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "big", ContentBody = "already here" });
        var upload = await s3.InitiateMultipartUploadAsync(bucket, "big");
        var part = await s3.UploadPartAsync(new UploadPartRequest
        {
            BucketName = bucket, Key = "big", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream(new byte[1024]),
        });
        var complete = new CompleteMultipartUploadRequest { BucketName = bucket, Key = "big", UploadId = upload.UploadId, IfNoneMatch = "*" };
        complete.AddPartETags(part);

        var refused = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.CompleteMultipartUploadAsync(complete));
        var parts = await s3.ListPartsAsync(bucket, "big", upload.UploadId);
        complete.IfNoneMatch = null;
        complete.IfMatch = (await s3.GetObjectMetadataAsync(bucket, "big")).ETag;
        var completed = await s3.CompleteMultipartUploadAsync(complete);

        Assert.Equal(HttpStatusCode.PreconditionFailed, refused.StatusCode);
        Assert.Single(parts.Parts);
        Assert.EndsWith("-1\"", completed.ETag, StringComparison.Ordinal);
        Assert.Equal(1024, (await s3.GetObjectMetadataAsync(bucket, "big")).ContentLength);
    }

    [Fact]
    public async Task GetAndHead_ConditionalHeaders_Answer200_304_Or412()
    {
        var (s3, bucket) = await BucketAsync("get");
        var put = await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "obj", ContentBody = "hello" });
        var etag = put.ETag;
        var path = $"/{bucket}/obj";
        var written = server.Clock.Now;

        async Task<(int Status, string Body, string? ETag)> Get(HttpMethod method, params (string Name, string Value)[] headers)
        {
            var (status, _, body, response) = await SendAsync(method, path, headers: r =>
            {
                foreach (var (name, value) in headers)
                {
                    r.Headers.TryAddWithoutValidation(name, value);
                }
            });
            return (status, body, response.Headers.ETag?.Tag);
        }

        Assert.Equal(200, (await Get(HttpMethod.Get, ("If-Match", etag))).Status);
        Assert.Equal(200, (await Get(HttpMethod.Get, ("If-Match", etag.Trim('"')))).Status);
        var wrongMatch = await Get(HttpMethod.Get, ("If-Match", "\"ffffffffffffffffffffffffffffffff\""));
        Assert.Equal(412, wrongMatch.Status);
        Assert.Contains("<Code>PreconditionFailed</Code>", wrongMatch.Body);

        var notModified = await Get(HttpMethod.Get, ("If-None-Match", etag));
        Assert.Equal((304, string.Empty, etag), notModified);
        Assert.Equal(304, (await Get(HttpMethod.Head, ("If-None-Match", etag))).Status);
        Assert.Equal(200, (await Get(HttpMethod.Get, ("If-None-Match", "\"other\""))).Status);

        Assert.Equal(304, (await Get(HttpMethod.Get, ("If-Modified-Since", Http(written.AddHours(1))))).Status);
        Assert.Equal(200, (await Get(HttpMethod.Get, ("If-Modified-Since", Http(written.AddHours(-1))))).Status);
        Assert.Equal(412, (await Get(HttpMethod.Get, ("If-Unmodified-Since", Http(written.AddHours(-1))))).Status);
        Assert.Equal(412, (await Get(HttpMethod.Head, ("If-Unmodified-Since", Http(written.AddHours(-1))))).Status);
        Assert.Equal(200, (await Get(HttpMethod.Get, ("If-Unmodified-Since", Http(written.AddHours(1))))).Status);

        // The documented precedence: If-Match true overrides If-Unmodified-Since false (200), and
        // If-None-Match false (the ETag matches) overrides If-Modified-Since true (304).
        Assert.Equal(200, (await Get(HttpMethod.Get, ("If-Match", etag), ("If-Unmodified-Since", Http(written.AddHours(-1))))).Status);
        Assert.Equal(304, (await Get(HttpMethod.Get, ("If-None-Match", etag), ("If-Modified-Since", Http(written.AddHours(-1))))).Status);
        Assert.Equal(200, (await Get(HttpMethod.Get, ("If-None-Match", "\"other\""), ("If-Modified-Since", Http(written.AddHours(1))))).Status);

        // Conditions come before the range: a range past the end behind a failing If-Match is 412, not 416.
        Assert.Equal(412, (await Get(HttpMethod.Get, ("If-Match", "\"nope\""), ("Range", "bytes=100-"))).Status);
        Assert.Equal(206, (await Get(HttpMethod.Get, ("If-Match", etag), ("Range", "bytes=1-2"))).Status);
    }

    [Fact]
    public async Task GetObject_SdkEtagToMatchAndModifiedSince_AreHonoured()
    {
        var (s3, bucket) = await BucketAsync("sdkget");
        var put = await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "obj", ContentBody = "hello" });

        var mismatch = await Assert.ThrowsAsync<AmazonS3Exception>(() =>
            s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = "obj", EtagToMatch = "\"0000\"" }));
        using var matched = await s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = "obj", EtagToMatch = put.ETag });

        Assert.Equal(HttpStatusCode.PreconditionFailed, mismatch.StatusCode);
        Assert.Equal(5, matched.ContentLength);
    }
}
