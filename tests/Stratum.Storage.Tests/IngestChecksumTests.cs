using System.Security.Cryptography;
using Stratum.Storage.Backends;
using Stratum.Storage.Format;
using Stratum.Storage.Native;
using Stratum.Storage.Repositories;
using Stratum.Storage.Tests.Repositories;

namespace Stratum.Storage.Tests;

/// <summary>
/// The file checksum's two forms (whole MD5 for S3 single PUTs, S3's multipart form over 8 MiB parts for
/// bulk ingest) and the ingest shortcuts that must not change a stored byte: one SHA-256 pass for
/// single-chunk content, zstd and AES contexts kept per thread.
/// </summary>
public sealed class IngestChecksumTests : IDisposable
{
    private const int Part = 8 * 1024 * 1024;
    private readonly string _root = TestStores.NewDirectory();

    public void Dispose() => Directory.Delete(_root, recursive: true);

    public static TheoryData<int> Lengths => [0, 1, 100_000, Part, Part + 1, 2 * Part, (2 * Part) + 12_345];

    [Theory]
    [MemberData(nameof(Lengths))]
    public async Task WriteAsync_PartsMode_S3MultipartEtagOverEightMiBParts(int length)
    {
        var data = TestStores.Content(length, length + 1);
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());

        var stored = await store.WriteAsync(new MemoryStream(data), new WriteOptions { Md5 = ContentMd5Mode.Parts });

        Assert.Equal(ExpectedPartsEtag(data), stored.Md5);
        Assert.Equal(TestStores.Sha256Hex(data), stored.Sha256);
        Assert.Equal(data, await TestStores.ReadAllAsync(store, stored));
        Assert.Equal(ExpectedPartsEtag(data), await ContentMd5.PartsAsync(new MemoryStream(data)));
    }

    [Fact]
    public async Task WriteAsync_PartsModeDefaultChunkSizes_ChunksStraddlingPartsHashedRight()
    {
        // 1-4 MiB chunks: most 8 MiB part boundaries fall inside a chunk.
        var data = TestStores.Content((3 * Part) + 777, 42);
        await using var store = await ChunkStore.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());

        var stored = await store.WriteAsync(new MemoryStream(data), new WriteOptions { Md5 = ContentMd5Mode.Parts });

        Assert.EndsWith("-4", stored.Md5, StringComparison.Ordinal);
        Assert.Equal(ExpectedPartsEtag(data), stored.Md5);
    }

    [Fact]
    public async Task WriteAsync_PartsModeSourceFailsAfterTwoParts_FailsWithItsErrorAndStoreStillWrites()
    {
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());
        var source = new FailingAfter(TestStores.Content((2 * Part) + 4096, 8), (2 * Part) + 1000);

        var write = store.WriteAsync(source, new WriteOptions { Md5 = ContentMd5Mode.Parts });
        var error = await Assert.ThrowsAsync<IOException>(() => write.WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.Equal("the client went away", error.Message);
        var data = TestStores.Content(Part + 10, 21);
        var stored = await store.WriteAsync(new MemoryStream(data), new WriteOptions { Md5 = ContentMd5Mode.Parts });
        Assert.Equal(ExpectedPartsEtag(data), stored.Md5);
    }

    [Fact]
    public async Task WriteAsync_Default_WholeMd5EvenOverOnePart()
    {
        var data = TestStores.Content(Part + 5, 3);
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());

        var stored = await store.WriteAsync(new MemoryStream(data));

        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(data)), stored.Md5);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(1024)]
    [InlineData(20_000)]
    public async Task WriteAsync_OneChunkOrMore_ContentSha256IsOfTheBytes(int length)
    {
        // Up to the minimum chunk size (1 KiB here) the content is one chunk and its id is reused as the file's SHA-256.
        var data = TestStores.Content(length, 9);
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());

        var stored = await store.WriteAsync(new MemoryStream(data));

        Assert.Equal(TestStores.Sha256Hex(data), stored.Sha256);
        if (stored.Chunks.Count == 1)
        {
            Assert.Equal(stored.Sha256, stored.Chunks[0].Id.ToString());
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(-1)]
    public void Compress_ContextPerThread_SameFrameAsOneShot(int level)
    {
        var data = TestStores.Content(300_000, level + 10);
        var reused = new byte[Zstd.CompressBound(data.Length)];
        var oneShot = new byte[reused.Length];

        // Twice on this thread, so the second call runs on a context the first one left behind.
        _ = Zstd.Compress(TestStores.Content(70_000, 99), reused, 19);
        var reusedLength = Zstd.Compress(data, reused, level);
        var oneShotLength = Zstd.CompressOneShot(data, oneShot, level);

        Assert.Equal(oneShot.AsSpan(0, oneShotLength).ToArray(), reused.AsSpan(0, reusedLength).ToArray());
        var back = new byte[data.Length];
        Assert.Equal(data.Length, Zstd.Decompress(reused.AsSpan(0, reusedLength), back));
        Assert.Equal(data, back);
    }

    [Fact]
    public async Task Read_TwoStoresWithDifferentKeysAlternately_EachDecryptsWithItsOwnKey()
    {
        // The decryptor kept per thread must follow the key id of each record, not stick to the last key.
        var otherRoot = TestStores.NewDirectory();
        try
        {
            var a = TestStores.Content(50_000, 1);
            var b = TestStores.Content(50_000, 2);
            await using var first = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys(1));
            await using var second = await TestStores.OpenAsync(new LocalDirectoryBackend(otherRoot), TestStores.Keys(2));
            var storedA = await first.WriteAsync(new MemoryStream(a));
            var storedB = await second.WriteAsync(new MemoryStream(b));

            for (var i = 0; i < 3; i++)
            {
                var chunkB = await second.ReadChunkAsync(storedB.Chunks[0].Id);
                Assert.Equal(b.AsSpan(0, storedB.Chunks[0].Length).ToArray(), chunkB);
                Assert.Equal(a, await TestStores.ReadAllAsync(first, storedA));
                Assert.Equal(b, await TestStores.ReadAllAsync(second, storedB));
            }
        }
        finally
        {
            Directory.Delete(otherRoot, recursive: true);
        }
    }

    [Fact]
    public async Task Repositories_PutObjectWholeAndPutDirectoryParts_ManifestKeepsEachForm()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("data", RepositoryKind.Dataset, "ada");
        var big = TestStores.Content(Part + 100, 5);
        var small = TestStores.Content(4000, 6);
        var local = Path.Combine(_root, "upload");
        Directory.CreateDirectory(local);
        await File.WriteAllBytesAsync(Path.Combine(local, "big.bin"), big);
        await File.WriteAllBytesAsync(Path.Combine(local, "small.bin"), small);

        // An S3 single PUT goes through the old overload: the ETag must stay the plain MD5.
        var put = (await f.Store.PutObjectAsync("data", "main", "single.bin", new MemoryStream(big))).Unwrap();
        (await f.Store.PutDirectoryAsync("data", "main", local, "dir", RepositoryFixture.Message("upload"))).Unwrap();

        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(big)), put.Md5);
        var bigEntry = (await f.Store.StatAsync("data", "main", "dir/big.bin")).Unwrap();
        var smallEntry = (await f.Store.StatAsync("data", "main", "dir/small.bin")).Unwrap();
        Assert.Equal(ExpectedPartsEtag(big), bigEntry.Md5);
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(small)), smallEntry.Md5);
        Assert.Equal(TestStores.Sha256Hex(big), bigEntry.Sha256);
        Assert.Equal(big, await f.ReadAsync("data", "main", "dir/big.bin"));
    }

    /// <summary>Serves <c>data</c> up to <c>failAt</c> bytes, then fails as a dropped connection does.</summary>
    private sealed class FailingAfter(byte[] data, int failAt) : MemoryStream(data, writable: false)
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (Position >= failAt)
            {
                throw new IOException("the client went away");
            }

            return base.Read(buffer, offset, (int)Math.Min(count, failAt - Position));
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position >= failAt)
            {
                throw new IOException("the client went away");
            }

            return base.ReadAsync(buffer[..(int)Math.Min(buffer.Length, failAt - Position)], cancellationToken);
        }
    }

    /// <summary>Written out here, apart from the engine: plain MD5 up to one part, else MD5 of the part MD5s, "-", part count.</summary>
    private static string ExpectedPartsEtag(byte[] data)
    {
        if (data.Length <= Part)
        {
            return Convert.ToHexStringLower(MD5.HashData(data));
        }

        var digests = new List<byte>();
        var parts = 0;
        for (var offset = 0; offset < data.Length; offset += Part)
        {
            digests.AddRange(MD5.HashData(data.AsSpan(offset, Math.Min(Part, data.Length - offset))));
            parts++;
        }

        return $"{Convert.ToHexStringLower(MD5.HashData(digests.ToArray()))}-{parts}";
    }
}
