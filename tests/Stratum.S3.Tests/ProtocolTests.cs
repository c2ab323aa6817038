using Stratum.S3.Backend;
using Stratum.S3.Protocol;

namespace Stratum.S3.Tests;

public sealed class ProtocolTests
{
    private static async IAsyncEnumerable<S3ObjectInfo> Keys(params string[] keys)
    {
        await Task.Yield();
        foreach (var key in keys.Order(StringComparer.Ordinal))
        {
            yield return new S3ObjectInfo(key, 1, "e", DateTimeOffset.UnixEpoch, "t", new Dictionary<string, string>());
        }
    }

    private static readonly string[] Tree = ["a.txt", "dir/x", "dir/y", "dir/sub/z", "other/q", "z.txt"];

    [Fact]
    public async Task PageAsync_Delimiter_RollsKeysIntoCommonPrefixes()
    {
        var page = await S3Listing.PageAsync(Keys(Tree), string.Empty, "/", null, 1000, default);

        Assert.Equal(["a.txt", "z.txt"], page.Objects.Select(o => o.Key));
        Assert.Equal(["dir/", "other/"], page.CommonPrefixes);
        Assert.False(page.IsTruncated);
    }

    [Fact]
    public async Task PageAsync_PrefixAndDelimiter_ListsOneLevel()
    {
        var page = await S3Listing.PageAsync(Keys(Tree), "dir/", "/", null, 1000, default);

        Assert.Equal(["dir/x", "dir/y"], page.Objects.Select(o => o.Key));
        Assert.Equal(["dir/sub/"], page.CommonPrefixes);
    }

    [Fact]
    public async Task PageAsync_PagesOfTwo_VisitEachEntryOnceAcrossPrefixes()
    {
        var seen = new List<string>();
        string? marker = null;
        var pages = 0;
        do
        {
            var page = await S3Listing.PageAsync(Keys(Tree), string.Empty, "/", marker, 2, default);
            seen.AddRange(page.Objects.Select(o => o.Key).Concat(page.CommonPrefixes));
            Assert.True(page.Objects.Count + page.CommonPrefixes.Count <= 2);
            marker = page.NextMarker;
            pages++;
            Assert.Equal(page.IsTruncated, marker is not null);
        }
        while (marker is not null);

        Assert.Equal(["a.txt", "dir/", "other/", "z.txt"], seen.Order(StringComparer.Ordinal));
        Assert.Equal(2, pages);
    }

    [Fact]
    public async Task PageAsync_ExactlyMaxKeys_IsNotTruncated()
    {
        var page = await S3Listing.PageAsync(Keys("a", "b"), string.Empty, null, null, 2, default);

        Assert.False(page.IsTruncated);
        Assert.Null(page.NextMarker);
    }

    [Fact]
    public async Task PageAsync_Marker_StartsAfterIt()
    {
        var page = await S3Listing.PageAsync(Keys(Tree), string.Empty, null, "dir/y", 1000, default);

        Assert.Equal(["other/q", "z.txt"], page.Objects.Select(o => o.Key));
    }

    [Fact]
    public void ContinuationToken_RoundTrips()
    {
        const string Marker = "dir/ünïcode/+/=?&";

        Assert.Equal(Marker, S3Listing.DecodeToken(S3Listing.EncodeToken(Marker)));
    }

    [Theory]
    [InlineData("a/../b")]
    [InlineData("..")]
    [InlineData("a//b")]
    [InlineData("/a")]
    [InlineData("a/./b")]
    [InlineData("a\nb")]
    [InlineData("a\u0001b")]
    [InlineData("")]
    public void ValidateKey_UnsafeKey_IsInvalidArgument(string key)
    {
        Assert.Equal("InvalidArgument", S3Names.ValidateKey(key)?.Code);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("main/train/part-0.parquet")]
    [InlineData("folder/")]
    [InlineData("a..b/c...d")]
    [InlineData("sp ace/ünï")]
    public void ValidateKey_OrdinaryKey_IsAccepted(string key)
    {
        Assert.Null(S3Names.ValidateKey(key));
    }

    [Fact]
    public void ValidateKey_Over1024Bytes_IsKeyTooLong()
    {
        Assert.Equal("KeyTooLongError", S3Names.ValidateKey(new string('é', 513))?.Code);
    }

    [Theory]
    [InlineData("ab")]
    [InlineData("Upper")]
    [InlineData("-dash")]
    [InlineData("under_score")]
    [InlineData("192.168.1.1")]
    [InlineData("a..b")]
    public void ValidateBucket_BadName_IsInvalidBucketName(string name)
    {
        Assert.Equal("InvalidBucketName", S3Names.ValidateBucket(name)?.Code);
    }

    [Theory]
    [InlineData("bytes=0-9", 0L, 10L)]
    [InlineData("bytes=5-", 5L, 95L)]
    [InlineData("bytes=-10", 90L, 10L)]
    [InlineData("bytes=-500", 0L, 100L)]
    [InlineData("bytes=90-500", 90L, 10L)]
    public void ResolveRange_SatisfiableRange_GivesOffsetAndLength(string header, long offset, long length)
    {
        var (o, l, error) = S3RequestHandler.ResolveRange(header, 100);

        Assert.Null(error);
        Assert.Equal(offset, o);
        Assert.Equal(length, l);
    }

    [Theory]
    [InlineData("bytes=100-")]
    [InlineData("bytes=200-300")]
    [InlineData("bytes=-0")]
    public void ResolveRange_PastTheEnd_IsInvalidRange(string header)
    {
        Assert.Equal("InvalidRange", S3RequestHandler.ResolveRange(header, 100).Error?.Code);
    }

    [Theory]
    [InlineData("")]
    [InlineData("bytes=0-1,5-6")]
    [InlineData("items=0-1")]
    [InlineData("bytes=9-2")]
    public void ResolveRange_UnsupportedSyntax_ServesWholeObject(string header)
    {
        var (offset, length, error) = S3RequestHandler.ResolveRange(header, 100);

        Assert.Null(error);
        Assert.Null(offset);
        Assert.Equal(100, length);
    }
}

public sealed class FileSystemS3BackendTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("stratum-s3fs-").FullName;
    private readonly FileSystemS3Backend _backend;

    public FileSystemS3BackendTests() => _backend = new FileSystemS3Backend(_root, new ManualClock(DateTimeOffset.UnixEpoch));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private sealed class FailingStream(int failAfter) : Stream
    {
        private int _given;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _given; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_given >= failAfter)
            {
                throw new S3ProtocolException(S3Errors.BadDigest);
            }

            var n = Math.Min(count, failAfter - _given);
            Array.Fill(buffer, (byte)'x', offset, n);
            _given += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task PutObjectAsync_BodyFailsPartWay_LeavesOldVersionAndNoTempFile()
    {
        await _backend.CreateBucketAsync("bkt", default);
        await _backend.PutObjectAsync("bkt", "k", new MemoryStream([1, 2, 3]), S3ObjectWrite.Default, null, default);

        await Assert.ThrowsAsync<S3ProtocolException>(() => _backend.PutObjectAsync("bkt", "k", new FailingStream(1_000_000), S3ObjectWrite.Default, null, default));

        var head = await _backend.HeadObjectAsync("bkt", "k", default);
        Assert.Equal(3, head.Value!.Size);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_root, "bkt", "tmp")));
    }

    [Fact]
    public async Task PutObjectAsync_KeysThatNestAsPaths_CoexistAndListInOrder()
    {
        await _backend.CreateBucketAsync("bkt", default);
        foreach (var key in new[] { "a/b", "a", "a/b/c", "a/" })
        {
            await _backend.PutObjectAsync("bkt", key, new MemoryStream(System.Text.Encoding.UTF8.GetBytes(key)), S3ObjectWrite.Default, null, default);
        }

        var keys = new List<string>();
        await foreach (var item in _backend.ListObjectsAsync("bkt", string.Empty, null, default))
        {
            keys.Add(item.Key);
        }

        Assert.Equal(["a", "a/", "a/b", "a/b/c"], keys);
        await using var content = (await _backend.GetObjectAsync("bkt", "a/b", default)).Value!;
        Assert.Equal("a/b"u8.ToArray(), await ReadAllAsync(content.Data));
    }

    [Fact]
    public async Task DeleteBucketAsync_WithObject_IsBucketNotEmpty()
    {
        await _backend.CreateBucketAsync("bkt", default);
        await _backend.PutObjectAsync("bkt", "k", new MemoryStream([1]), S3ObjectWrite.Default, null, default);

        Assert.Equal(S3Status.BucketNotEmpty, await _backend.DeleteBucketAsync("bkt", default));
        await _backend.DeleteObjectAsync("bkt", "k", default);
        Assert.Equal(S3Status.Ok, await _backend.DeleteBucketAsync("bkt", default));
        Assert.Equal(S3Status.NoSuchBucket, (await _backend.HeadBucketAsync("bkt", default)).Status);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }
}
