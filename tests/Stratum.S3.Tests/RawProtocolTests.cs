using System.Security.Cryptography;
using System.Text;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Stratum.S3.Streaming;

namespace Stratum.S3.Tests;

/// <summary>Hand-signed requests for the error paths real clients never take: bad clocks, bad hashes, bad checksums.</summary>
public sealed class RawProtocolTests(S3TestServer server) : IClassFixture<S3TestServer>
{
    private AmazonS3Client Client() =>
        new(new BasicAWSCredentials(S3TestServer.AccessKey, server.SecretKey), new AmazonS3Config { ServiceURL = server.Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });

    private HttpRequestMessage Signed(HttpMethod method, string pathAndQuery, byte[]? body, DateTimeOffset? at = null, string? payloadHash = null, Action<HttpRequestMessage>? headers = null) =>
        TestSigner.Signed(method, server.BaseAddress, pathAndQuery, body, S3TestServer.AccessKey, server.SecretKey, at ?? server.Clock.Now, payloadHash, headers);

    private async Task<string> NewBucketAsync(string stem)
    {
        var bucket = S3TestServer.NewBucket(stem);
        var (status, _, body) = await TestSigner.SendAsync(Signed(HttpMethod.Put, "/" + bucket, null));
        Assert.True(status == 200, body);
        return bucket;
    }

    private static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public async Task Request_Unsigned_IsAccessDeniedWithErrorXml()
    {
        using var http = new HttpClient();
        var response = await http.GetAsync(server.BaseAddress);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(403, (int)response.StatusCode);
        Assert.Contains("<Code>AccessDenied</Code>", body);
        Assert.Contains("<RequestId>", body);
        Assert.True(response.Headers.Contains("x-amz-request-id"));
    }

    [Fact]
    public async Task Request_SignedTwentyMinutesAgo_IsRequestTimeTooSkewed()
    {
        var (status, code, _) = await TestSigner.SendAsync(Signed(HttpMethod.Get, "/", null, at: server.Clock.Now.AddMinutes(-20)));

        Assert.Equal(403, status);
        Assert.Equal("RequestTimeTooSkewed", code);
    }

    [Fact]
    public async Task PutObject_PayloadHashOfOtherBytes_IsXAmzContentSha256MismatchAndStoresNothing()
    {
        var bucket = await NewBucketAsync("sha");

        var (status, code, _) = await TestSigner.SendAsync(Signed(HttpMethod.Put, $"/{bucket}/k", "actual"u8.ToArray(), payloadHash: Sha256Hex("other")));
        var (headStatus, _, _) = await TestSigner.SendAsync(Signed(HttpMethod.Head, $"/{bucket}/k", null));

        Assert.Equal(400, status);
        Assert.Equal("XAmzContentSHA256Mismatch", code);
        Assert.Equal(404, headStatus);
    }

    [Fact]
    public async Task PutObject_WrongContentMd5_IsBadDigest()
    {
        var bucket = await NewBucketAsync("md5");
        var wrong = Convert.ToBase64String(MD5.HashData("other"u8));

        var (status, code, _) = await TestSigner.SendAsync(Signed(HttpMethod.Put, $"/{bucket}/k", "actual"u8.ToArray(),
            headers: r => r.Content!.Headers.TryAddWithoutValidation("Content-MD5", wrong)));

        Assert.Equal(400, status);
        Assert.Equal("BadDigest", code);
    }

    private static byte[] UnsignedTrailerBody(byte[] data, string crc)
    {
        var body = new MemoryStream();
        body.Write(Encoding.ASCII.GetBytes($"{data.Length:x}\r\n"));
        body.Write(data);
        body.Write(Encoding.ASCII.GetBytes($"\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n"));
        return body.ToArray();
    }

    [Theory]
    [InlineData(true, 200, "")]
    [InlineData(false, 400, "BadDigest")]
    public async Task PutObject_UnsignedPayloadWithCrc32Trailer_ChecksTheTrailer(bool correct, int expectedStatus, string expectedCode)
    {
        var bucket = await NewBucketAsync("trailer");
        var data = TestData.Random(10_000, 20);
        var crc = S3Checksum.Create("crc32")!;
        crc.Append(correct ? data : [9]);

        var (status, code, body) = await TestSigner.SendAsync(Signed(HttpMethod.Put, $"/{bucket}/t", UnsignedTrailerBody(data, crc.ToBase64()), payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            headers: r =>
            {
                r.Content!.Headers.TryAddWithoutValidation("Content-Encoding", "aws-chunked");
                r.Headers.TryAddWithoutValidation("x-amz-trailer", "x-amz-checksum-crc32");
                r.Headers.TryAddWithoutValidation("x-amz-decoded-content-length", data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }));
        var (headStatus, _, _) = await TestSigner.SendAsync(Signed(HttpMethod.Head, $"/{bucket}/t", null));

        Assert.True(expectedStatus == status, body);
        Assert.Equal(expectedCode, code);
        Assert.Equal(correct ? 200 : 404, headStatus);
    }

    [Fact]
    public async Task CompleteMultipartUpload_PartsOutOfOrder_IsInvalidPartOrder()
    {
        var bucket = await NewBucketAsync("order");
        var client = Client();
        var upload = await client.InitiateMultipartUploadAsync(bucket, "m");
        var etags = new List<string>();
        for (var part = 1; part <= 2; part++)
        {
            var uploaded = await client.UploadPartAsync(new UploadPartRequest { BucketName = bucket, Key = "m", UploadId = upload.UploadId, PartNumber = part, InputStream = new MemoryStream(new byte[10]) });
            etags.Add(uploaded.ETag);
        }

        var xml = $"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>{etags[1]}</ETag></Part><Part><PartNumber>1</PartNumber><ETag>{etags[0]}</ETag></Part></CompleteMultipartUpload>";
        var (status, code, _) = await TestSigner.SendAsync(Signed(HttpMethod.Post, $"/{bucket}/m?uploadId={upload.UploadId}", Encoding.UTF8.GetBytes(xml)));

        Assert.Equal(400, status);
        Assert.Equal("InvalidPartOrder", code);
    }

    [Fact]
    public async Task PresignedGet_AfterExpiry_IsAccessDeniedRequestHasExpired()
    {
        var bucket = await NewBucketAsync("expiry");
        var client = Client();
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "x", ContentBody = "soon gone" });
        var url = await client.GetPreSignedURLAsync(new GetPreSignedUrlRequest
        {
            BucketName = bucket, Key = "x", Verb = HttpVerb.GET, Expires = DateTime.UtcNow.AddSeconds(60), Protocol = Amazon.S3.Protocol.HTTP,
        });
        using var http = new HttpClient();
        var before = await http.GetAsync(url);

        var start = server.Clock.Now;
        server.Clock.Now = start.AddMinutes(3);
        try
        {
            var after = await http.GetAsync(url);
            var body = await after.Content.ReadAsStringAsync();

            Assert.Equal(200, (int)before.StatusCode);
            Assert.Equal(403, (int)after.StatusCode);
            Assert.Contains("<Code>AccessDenied</Code>", body);
            Assert.Contains("Request has expired", body);
        }
        finally
        {
            server.Clock.Now = start;
        }
    }

    [Fact]
    public async Task ListObjectsV2_EncodingTypeUrl_EncodesKeys()
    {
        var bucket = await NewBucketAsync("enc");
        var (putStatus, _, _) = await TestSigner.SendAsync(Signed(HttpMethod.Put, $"/{bucket}/a%20b%26c", "x"u8.ToArray()));

        var (status, _, body) = await TestSigner.SendAsync(Signed(HttpMethod.Get, $"/{bucket}?list-type=2&encoding-type=url", null));

        Assert.Equal(200, putStatus);
        Assert.Equal(200, status);
        Assert.Contains("<Key>a%20b%26c</Key>", body);
        Assert.Contains("<EncodingType>url</EncodingType>", body);
    }
}
