using System.Text;
using Stratum.S3.Streaming;

namespace Stratum.S3.Tests;

public sealed class ChunkedAndChecksumTests
{
    [Theory]
    [InlineData("crc32", 0xCBF43926u)]
    [InlineData("crc32c", 0xE3069283u)]
    public void S3Checksum_CheckString_MatchesCatalogueValue(string algorithm, uint expected)
    {
        var checksum = S3Checksum.Create(algorithm)!;
        checksum.Append("1234"u8);
        checksum.Append("56789"u8);

        var bytes = Convert.FromBase64String(checksum.ToBase64());
        Assert.Equal(expected, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes));
    }

    [Fact]
    public void S3Checksum_Crc64Nvme_MatchesCatalogueValue()
    {
        var checksum = S3Checksum.Create("crc64nvme")!;
        checksum.Append("123456789"u8);

        var bytes = Convert.FromBase64String(checksum.ToBase64());
        Assert.Equal(0xAE8B14860A799888ul, System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes));
    }

    [Fact]
    public void S3Checksum_Crc32CLongInput_SameAsByteAtATime()
    {
        var data = TestData.Random(1000, 3);
        var whole = S3Checksum.Create("crc32c")!;
        whole.Append(data);
        var bytewise = S3Checksum.Create("crc32c")!;
        foreach (var b in data)
        {
            bytewise.Append([b]);
        }

        Assert.Equal(bytewise.ToBase64(), whole.ToBase64());
    }

    private static MemoryStream UnsignedTrailerBody(byte[] data, int chunk, string trailerName, string trailerValue)
    {
        var body = new MemoryStream();
        for (var at = 0; at < data.Length; at += chunk)
        {
            var n = Math.Min(chunk, data.Length - at);
            body.Write(Encoding.ASCII.GetBytes($"{n:x}\r\n"));
            body.Write(data, at, n);
            body.Write("\r\n"u8);
        }

        body.Write(Encoding.ASCII.GetBytes($"0\r\n{trailerName}:{trailerValue}\r\n\r\n"));
        body.Position = 0;
        return body;
    }

    private static string Crc32(byte[] data)
    {
        var c = S3Checksum.Create("crc32")!;
        c.Append(data);
        return c.ToBase64();
    }

    [Fact]
    public async Task AwsChunkedStream_UnsignedWithCrc32Trailer_DecodesAcrossReadSizes()
    {
        var data = TestData.Random(200_000, 1);
        var stream = new AwsChunkedStream(UnsignedTrailerBody(data, 65_536, "x-amz-checksum-crc32", Crc32(data)), null, "x-amz-checksum-crc32", data.Length);
        var decoded = new MemoryStream();
        var buffer = new byte[7_777];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            decoded.Write(buffer, 0, read);
        }

        Assert.Equal(data, decoded.ToArray());
    }

    [Fact]
    public async Task AwsChunkedStream_WrongTrailerChecksum_FailsWithBadDigest()
    {
        var data = TestData.Random(5_000, 2);
        var stream = new AwsChunkedStream(UnsignedTrailerBody(data, 1_000, "x-amz-checksum-crc32", Crc32([1, 2, 3])), null, "x-amz-checksum-crc32", null);

        var error = await Assert.ThrowsAsync<S3ProtocolException>(() => stream.CopyToAsync(Stream.Null));

        Assert.Equal("BadDigest", error.Error.Code);
    }

    [Fact]
    public async Task AwsChunkedStream_DecodedLengthDiffers_FailsWithIncompleteBody()
    {
        var data = TestData.Random(3_000, 4);
        var stream = new AwsChunkedStream(UnsignedTrailerBody(data, 1_000, "x-amz-checksum-crc32", Crc32(data)), null, "x-amz-checksum-crc32", 3_001);

        var error = await Assert.ThrowsAsync<S3ProtocolException>(() => stream.CopyToAsync(Stream.Null));

        Assert.Equal("IncompleteBody", error.Error.Code);
    }

    [Fact]
    public async Task AwsChunkedStream_TruncatedBody_FailsWithIncompleteBody()
    {
        var body = new MemoryStream("400\r\nabc"u8.ToArray());
        var stream = new AwsChunkedStream(body, null, null, null);

        var error = await Assert.ThrowsAsync<S3ProtocolException>(() => stream.CopyToAsync(Stream.Null));

        Assert.Equal("IncompleteBody", error.Error.Code);
    }

    [Fact]
    public async Task VerifyingStream_Sha256Mismatch_FailsAtEndOfStream()
    {
        var stream = new VerifyingStream(new MemoryStream("hello"u8.ToArray()), [BodyCheck.Sha256Hex(new string('0', 64))]);

        var error = await Assert.ThrowsAsync<S3ProtocolException>(() => stream.CopyToAsync(Stream.Null));

        Assert.Equal("XAmzContentSHA256Mismatch", error.Error.Code);
    }
}
