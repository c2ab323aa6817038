using System.Security.Cryptography;
using System.Text.Json;
using Stratum.Storage.Backends;
using Stratum.Storage.Crypto;

namespace Stratum.Storage.Tests;

public sealed class ChunkStoreTests : IDisposable
{
    private readonly string _root = TestStores.NewDirectory();

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, true)]
    [InlineData(300_000, true)]
    [InlineData(300_000, false)]
    public async Task WriteAsync_ThenOpenRead_RoundTripsWithHashes(int length, bool encrypted)
    {
        var data = TestStores.Content(length, length);
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), encrypted ? TestStores.Keys() : null);

        var stored = await store.WriteAsync(new MemoryStream(data));

        Assert.Equal(length, stored.Length);
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(data)), stored.Md5);
        Assert.Equal(TestStores.Sha256Hex(data), stored.Sha256);
        Assert.Equal(length, stored.Chunks.Sum(c => (long)c.Length));
        Assert.Equal(data, await TestStores.ReadAllAsync(store, stored));
    }

    [Fact]
    public async Task OpenAsync_AfterWrite_NewStoreReadsContent()
    {
        var data = TestStores.Content(200_000, 3);
        StoredContent stored;
        await using (var first = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys()))
        {
            stored = await first.WriteAsync(new MemoryStream(data));
        }

        await using var second = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());

        Assert.Equal(data, await TestStores.ReadAllAsync(second, stored));
        Assert.True((await second.VerifyAsync()).IsClean);
    }

    [Fact]
    public async Task WriteAsync_SameContentTwice_StoresChunksOnce()
    {
        var data = TestStores.Content(400_000, 4);
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());

        var a = await store.WriteAsync(new MemoryStream(data));
        var storedAfterFirst = store.GetStats().StoredBytes;
        var b = await store.WriteAsync(new MemoryStream(data));

        Assert.Equal(a, b with { Chunks = a.Chunks });
        Assert.Equal(a.Chunks, b.Chunks);
        var stats = store.GetStats();
        Assert.Equal(storedAfterFirst, stats.StoredBytes);
        Assert.Equal(stats.ChunksWritten, stats.ChunksDeduplicated);
        Assert.Equal(800_000, stats.LogicalBytesWritten);
    }

    [Fact]
    public async Task WriteAsync_EditedCopy_SharesMostChunks()
    {
        var data = TestStores.Content(400_000, 5);
        var edited = data.ToArray();
        edited[200_000] ^= 0xFF;
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());

        var a = await store.WriteAsync(new MemoryStream(data));
        var b = await store.WriteAsync(new MemoryStream(edited));

        var shared = b.Chunks.Count(c => a.Chunks.Contains(c));
        Assert.True(shared >= b.Chunks.Count - 2, $"{shared} of {b.Chunks.Count} chunks shared");
        Assert.Equal(edited, await TestStores.ReadAllAsync(store, b));
    }

    [Fact]
    public async Task WriteAsync_CompressibleData_StoredSmallerThanLogical()
    {
        var text = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 20_000).Select(i => $"row {i % 97},value {i % 13}\n")));
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());

        await store.WriteAsync(new MemoryStream(text));

        Assert.True(store.GetStats().StoredBytes < text.Length / 3, $"stored {store.GetStats().StoredBytes} of {text.Length}");
    }

    [Fact]
    public async Task OpenRead_SeekAndRange_ReturnsRequestedBytes()
    {
        var data = TestStores.Content(150_000, 6);
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());
        var stored = await store.WriteAsync(new MemoryStream(data));

        Assert.Equal(data[12_345..(12_345 + 50_000)], await store.ReadRangeAsync(stored, 12_345, 50_000));
        Assert.Equal(data[149_990..], await store.ReadRangeAsync(stored, 149_990, 100));
        Assert.Empty(await store.ReadRangeAsync(stored, 200_000, 10));

        await using var stream = store.OpenRead(stored);
        stream.Seek(-1000, SeekOrigin.End);
        var tail = new byte[1000];
        await stream.ReadExactlyAsync(tail);
        Assert.Equal(data[^1000..], tail);
        stream.Position = 10;
        Assert.Equal(data[10], (byte)stream.ReadByte());
    }

    [Fact]
    public async Task StoredContent_JsonRoundTrip_KeepsChunkIds()
    {
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), null);
        var stored = await store.WriteAsync(new MemoryStream(TestStores.Content(50_000, 7)));

        var json = JsonSerializer.Serialize(stored);
        var back = JsonSerializer.Deserialize<StoredContent>(json)!;

        Assert.Contains(stored.Chunks[0].Id.ToString(), json);
        Assert.Equal(stored.Chunks, back.Chunks);
    }

    [Fact]
    public async Task WriteAsync_ConcurrentWriters_AllContentReadable()
    {
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());
        var inputs = Enumerable.Range(0, 8).Select(i => TestStores.Content(100_000 + i * 7_000, i % 3)).ToList();

        var stored = await Task.WhenAll(inputs.Select(d => store.WriteAsync(new MemoryStream(d))));

        for (var i = 0; i < inputs.Count; i++)
        {
            Assert.Equal(inputs[i], await TestStores.ReadAllAsync(store, stored[i]));
        }

        Assert.True((await store.VerifyAsync()).IsClean);
    }

    [Fact]
    public async Task WriteAsync_DeferredFlush_PacksSharedAndReadableBeforeAndAfterFlush()
    {
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());
        var files = Enumerable.Range(0, 20).Select(i => TestStores.Content(2_000, 100 + i)).ToList();

        var stored = new List<StoredContent>();
        foreach (var file in files)
        {
            stored.Add(await store.WriteAsync(new MemoryStream(file), flush: false));
        }

        Assert.Equal(files[3], await TestStores.ReadAllAsync(store, stored[3]));
        await store.FlushAsync();

        Assert.Equal(1, store.GetStats().Packs);
        Assert.All(stored.SelectMany(s => s.Chunks), c => Assert.True(store.Contains(c.Id)));
    }

    [Fact]
    public async Task ReadChunkAsync_FlippedByteInPack_ErrorNamesChunkAndPack()
    {
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());
        var stored = await store.WriteAsync(new MemoryStream(TestStores.Content(100_000, 8)));
        var victim = stored.Chunks[1].Id;
        var pack = FlipByteInRecord(store, victim);

        var error = await Assert.ThrowsAsync<ChunkCorruptException>(() => TestStores.ReadAllAsync(store, stored));

        Assert.Equal(victim, error.Chunk);
        Assert.Contains(victim.ToString(), error.Message);
        Assert.Contains(pack, error.Message);
        var report = await store.VerifyAsync();
        Assert.False(report.IsClean);
        var damaged = Assert.Single(report.Damaged);
        Assert.Equal(victim, damaged.Id);
        Assert.Equal(pack, damaged.Pack);
    }

    [Fact]
    public async Task ReadChunkAsync_FlippedByteWithoutEncryption_DetectedByHash()
    {
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), null, TestStores.Small with { CompressionLevel = 0 });
        var stored = await store.WriteAsync(new MemoryStream(TestStores.Content(100_000, 9)));
        var victim = stored.Chunks[0].Id;
        FlipByteInRecord(store, victim);

        var error = await Assert.ThrowsAsync<ChunkCorruptException>(() => store.ReadChunkAsync(victim));

        Assert.Contains("does not hash to the chunk id", error.Message);
    }

    [Fact]
    public async Task ReadChunkAsync_WrongKey_StorageKeyExceptionNotGarbage()
    {
        StoredContent stored;
        await using (var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys(1)))
        {
            stored = await store.WriteAsync(new MemoryStream(TestStores.Content(50_000, 10)));
        }

        await using var wrong = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys(2));

        var error = await Assert.ThrowsAsync<StorageKeyException>(() => TestStores.ReadAllAsync(wrong, stored));
        Assert.Contains(TestStores.Keys(1).Current.IdText, error.Message);
        Assert.Contains(StoreKey.EnvironmentVariable, error.Message);
        await Assert.ThrowsAsync<StorageKeyException>(() => wrong.VerifyAsync());
    }

    [Fact]
    public async Task ReadChunkAsync_RotatedKey_OldRecordsStillReadable()
    {
        var data = TestStores.Content(50_000, 11);
        StoredContent stored;
        await using (var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys(1)))
        {
            stored = await store.WriteAsync(new MemoryStream(data));
        }

        var rotated = new KeyRing(TestStores.Keys(2).Current, TestStores.Keys(1).Current);
        await using var reopened = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), rotated);

        Assert.Equal(data, await TestStores.ReadAllAsync(reopened, stored));
    }

    [Fact]
    public async Task WriteAsync_EncryptionOn_NoPlaintextInPacks()
    {
        var marker = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("SECRET-MARKER-", 5000)));
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys(), TestStores.Small with { CompressionLevel = 0 });

        await store.WriteAsync(new MemoryStream(marker));

        foreach (var file in Directory.GetFiles(Path.Combine(_root, "packs"), "*", SearchOption.AllDirectories))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.Equal(-1, bytes.AsSpan().IndexOf("SECRET-MARKER-"u8));
        }
    }

    [Fact]
    public async Task WriteAsync_DiskFullMidWrite_ClearIOExceptionAndEarlierContentReads()
    {
        var faulty = new FaultyBackend(new LocalDirectoryBackend(_root));
        await using var store = await TestStores.OpenAsync(faulty, TestStores.Keys());
        var first = TestStores.Content(100_000, 12);
        var kept = await store.WriteAsync(new MemoryStream(first));
        faulty.LimitBytes(100_000);

        var error = await Assert.ThrowsAsync<IOException>(() => store.WriteAsync(new MemoryStream(TestStores.Content(600_000, 13))));

        Assert.Contains("No space left on device", error.Message);
        Assert.Contains("writing pack", error.Message);
        Assert.Equal(first, await TestStores.ReadAllAsync(store, kept));
        faulty.LimitBytes(long.MaxValue);
        var again = TestStores.Content(600_000, 13);
        var stored = await store.WriteAsync(new MemoryStream(again));
        Assert.Equal(again, await TestStores.ReadAllAsync(store, stored));
        Assert.True((await store.VerifyAsync()).IsClean);
    }

    [Fact]
    public async Task OpenAsync_CrashMidPack_PartialPackIgnoredVerifyCleanGcRemovesIt()
    {
        var faulty = new FaultyBackend(new LocalDirectoryBackend(_root));
        var first = TestStores.Content(100_000, 14);
        var store = await TestStores.OpenAsync(faulty, TestStores.Keys());
        var kept = await store.WriteAsync(new MemoryStream(first));

        // Crash 1: the pack put dies half-way (leaves a temporary file). Crash 2: the pack is durable
        // but the process dies before its index file. The store is abandoned, never disposed.
        faulty.FailPrefix = "packs/";
        await Assert.ThrowsAsync<IOException>(() => store.WriteAsync(new MemoryStream(TestStores.Content(100_000, 15))));
        faulty.FailPrefix = "index/";
        await Assert.ThrowsAsync<IOException>(() => store.WriteAsync(new MemoryStream(TestStores.Content(100_000, 16))));

        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var reopened = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys(), clock: clock);
        Assert.Equal(first, await TestStores.ReadAllAsync(reopened, kept));
        var report = await reopened.VerifyAsync();
        Assert.True(report.IsClean);
        Assert.NotEmpty(report.UnreferencedPacks);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(_root, ".tmp")));

        var young = await reopened.CollectGarbageAsync(kept.Chunks.Select(c => c.Id).ToHashSet(), TimeSpan.FromHours(1));
        Assert.Equal(0, young.UnreferencedPacksDeleted);
        clock.Advance(TimeSpan.FromHours(2));
        var gc = await reopened.CollectGarbageAsync(kept.Chunks.Select(c => c.Id).ToHashSet(), TimeSpan.FromHours(1));

        Assert.Equal(report.UnreferencedPacks.Count, gc.UnreferencedPacksDeleted);
        Assert.True(gc.TemporaryFilesDeleted >= 1);
        Assert.Empty((await reopened.VerifyAsync()).UnreferencedPacks);
        Assert.Equal(first, await TestStores.ReadAllAsync(reopened, kept));
    }

    [Fact]
    public async Task CollectGarbageAsync_DeadContent_PacksDeletedLiveContentKept()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys(), clock: clock);
        var live = TestStores.Content(200_000, 17);
        var keep = await store.WriteAsync(new MemoryStream(live));
        await store.WriteAsync(new MemoryStream(TestStores.Content(300_000, 18)));
        var before = store.GetStats();

        var early = await store.CollectGarbageAsync(keep.Chunks.Select(c => c.Id).ToHashSet(), TimeSpan.FromHours(1));
        Assert.Equal(0, early.PacksDeleted + early.PacksRepacked);
        clock.Advance(TimeSpan.FromHours(2));
        var gc = await store.CollectGarbageAsync(keep.Chunks.Select(c => c.Id).ToHashSet(), TimeSpan.FromHours(1));

        Assert.True(gc.PacksDeleted + gc.PacksRepacked > 0, JsonSerializer.Serialize(gc));
        Assert.True(store.GetStats().StoredBytes < before.StoredBytes);
        Assert.Equal(live, await TestStores.ReadAllAsync(store, keep));
        await using var reopened = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());
        Assert.Equal(live, await TestStores.ReadAllAsync(reopened, keep));
        Assert.True((await reopened.VerifyAsync()).IsClean);
        Assert.Equal(keep.Chunks.Select(c => c.Id).Distinct().Count(), reopened.GetStats().Chunks);
    }

    [Fact]
    public async Task CollectGarbageAsync_ChunkTouchedWithinGrace_Kept()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys(), clock: clock);
        var data = TestStores.Content(100_000, 19);
        await store.WriteAsync(new MemoryStream(data));
        clock.Advance(TimeSpan.FromHours(2));

        // Written again (deduplicated) just now by a writer whose commit is not made yet: not in the live set.
        var pending = await store.WriteAsync(new MemoryStream(data));
        var gc = await store.CollectGarbageAsync(new HashSet<ChunkId>(), TimeSpan.FromHours(1));

        Assert.Equal(0, gc.PacksDeleted);
        Assert.Equal(data, await TestStores.ReadAllAsync(store, pending));
    }

    [Fact]
    public async Task OpenAsync_InvalidOptions_ListsEveryProblem()
    {
        var options = TestStores.Small with { CompressionLevel = 40, Workers = 0 };

        var error = await Assert.ThrowsAsync<ArgumentException>(() => TestStores.OpenAsync(new LocalDirectoryBackend(_root), null, options));

        Assert.Contains("compressionLevel", error.Message);
        Assert.Contains("workers", error.Message);
    }

    [Fact]
    public async Task ReadChunkAsync_UnknownChunk_ChunkMissingException()
    {
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), null);

        await Assert.ThrowsAsync<ChunkMissingException>(() => store.ReadChunkAsync(ChunkId.Of([1, 2, 3])));
    }

    [Fact]
    public async Task WriteAsync_SourceStreamFails_ErrorPropagatesStoreStaysUsable()
    {
        await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(_root), TestStores.Keys());

        var error = await Assert.ThrowsAsync<IOException>(() => store.WriteAsync(new BrokenStream()));
        Assert.Equal("the client went away", error.Message);

        var data = TestStores.Content(30_000, 20);
        Assert.Equal(data, await TestStores.ReadAllAsync(store, await store.WriteAsync(new MemoryStream(data))));
    }

    private string FlipByteInRecord(ChunkStore store, ChunkId id)
    {
        Assert.True(store.TryLocate(id, out var location));
        var path = Path.Combine(_root, location.Pack.Name);
        var bytes = File.ReadAllBytes(path);
        bytes[location.Offset + location.RecordLength - 5] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        return location.Pack.Name;
    }

    private sealed class BrokenStream : Stream
    {
        private int _reads;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (++_reads > 3)
            {
                throw new IOException("the client went away");
            }

            Array.Fill(buffer, (byte)_reads, offset, Math.Min(count, 10_000));
            return Math.Min(count, 10_000);
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
