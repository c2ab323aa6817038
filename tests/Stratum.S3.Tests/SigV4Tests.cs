using System.Text;
using Stratum.S3.Auth;
using Stratum.S3.Streaming;

namespace Stratum.S3.Tests;

/// <summary>Against the worked examples in AWS's SigV4 documentation (IAM signing key; S3 header, presigned and chunked examples).</summary>
public sealed class SigV4Tests
{
    private const string ExampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    private const string Scope = "20130524/us-east-1/s3/aws4_request";

    [Fact]
    public void DeriveSigningKey_AwsIamExample_MatchesPublishedKey()
    {
        var key = SigV4.DeriveSigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");

        Assert.Equal("f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d", Convert.ToHexStringLower(key));
    }

    [Fact]
    public void Sign_AwsGetObjectExample_MatchesPublishedSignature()
    {
        var headers = new List<KeyValuePair<string, string>>
        {
            new("host", "examplebucket.s3.amazonaws.com"),
            new("range", "bytes=0-9"),
            new("x-amz-content-sha256", SigV4.EmptySha256),
            new("x-amz-date", "20130524T000000Z"),
        };

        var canonical = SigV4.CanonicalRequest("GET", "/test.txt", [], headers, SigV4.EmptySha256);
        var signature = SigV4.Sign(SigV4.DeriveSigningKey(ExampleSecret, "20130524", "us-east-1", "s3"), SigV4.StringToSign("20130524T000000Z", Scope, canonical));

        Assert.Equal("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972", SigV4.Sha256Hex(canonical));
        Assert.Equal("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", signature);
    }

    [Fact]
    public void Sign_AwsListObjectsExample_SortsAndEncodesQuery()
    {
        var headers = new List<KeyValuePair<string, string>>
        {
            new("host", "examplebucket.s3.amazonaws.com"),
            new("x-amz-content-sha256", SigV4.EmptySha256),
            new("x-amz-date", "20130524T000000Z"),
        };

        var canonical = SigV4.CanonicalRequest("GET", "/", [new("prefix", "J"), new("max-keys", "2")], headers, SigV4.EmptySha256);
        var signature = SigV4.Sign(SigV4.DeriveSigningKey(ExampleSecret, "20130524", "us-east-1", "s3"), SigV4.StringToSign("20130524T000000Z", Scope, canonical));

        Assert.Equal("34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", signature);
    }

    [Fact]
    public void Sign_AwsPresignedExample_MatchesPublishedSignature()
    {
        var query = new List<KeyValuePair<string, string>>
        {
            new("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            new("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/" + Scope),
            new("X-Amz-Date", "20130524T000000Z"),
            new("X-Amz-Expires", "86400"),
            new("X-Amz-SignedHeaders", "host"),
        };

        var canonical = SigV4.CanonicalRequest("GET", "/test.txt", query, [new("host", "examplebucket.s3.amazonaws.com")], SigV4.UnsignedPayload);
        var signature = SigV4.Sign(SigV4.DeriveSigningKey(ExampleSecret, "20130524", "us-east-1", "s3"), SigV4.StringToSign("20130524T000000Z", Scope, canonical));

        Assert.Equal("aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404", signature);
    }

    [Fact]
    public async Task AwsChunkedStream_AwsSignedChunkExample_VerifiesAndDecodes()
    {
        var key = SigV4.DeriveSigningKey(ExampleSecret, "20130524", "us-east-1", "s3");
        const string Seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        var body = new MemoryStream();
        void Chunk(int size, string signature)
        {
            body.Write(Encoding.ASCII.GetBytes($"{size:x};chunk-signature={signature}\r\n"));
            body.Write(Enumerable.Repeat((byte)'a', size).ToArray());
            body.Write("\r\n"u8);
        }

        Chunk(65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
        Chunk(1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
        Chunk(0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
        body.Position = 0;

        var decoded = new MemoryStream();
        await new AwsChunkedStream(body, new ChunkSigning(key, "20130524T000000Z", Scope, Seed), null, 66560).CopyToAsync(decoded);

        Assert.Equal(66560, decoded.Length);
        Assert.All(decoded.ToArray(), b => Assert.Equal((byte)'a', b));
    }

    [Fact]
    public async Task AwsChunkedStream_TamperedChunk_FailsWithSignatureDoesNotMatch()
    {
        var key = SigV4.DeriveSigningKey(ExampleSecret, "20130524", "us-east-1", "s3");
        var data = Enumerable.Repeat((byte)'a', 1023).Append((byte)'b').ToArray();
        var body = new MemoryStream([
            .. Encoding.ASCII.GetBytes("400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"),
            .. data,
            .. "\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"u8.ToArray(),
        ]);

        var stream = new AwsChunkedStream(body, new ChunkSigning(key, "20130524T000000Z", Scope, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"), null, null);
        var error = await Assert.ThrowsAsync<S3ProtocolException>(() => stream.CopyToAsync(Stream.Null));

        Assert.Equal("SignatureDoesNotMatch", error.Error.Code);
    }

    [Fact]
    public void CanonicalRequest_KeyWithReservedCharacters_EncodesLikeSdks()
    {
        var canonical = SigV4.CanonicalRequest("PUT", "/b/dir/a b+c$~é.txt", [], [new("host", "h")], SigV4.UnsignedPayload);

        Assert.StartsWith("PUT\n/b/dir/a%20b%2Bc%24~%C3%A9.txt\n\n", canonical);
    }

    [Fact]
    public void CanonicalHeaderValue_RunsOfSpaces_CollapsesAndTrims()
    {
        Assert.Equal("a b c", SigV4.CanonicalHeaderValue("  a   b c "));
    }
}
