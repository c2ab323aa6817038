using Stratum.Storage.Chunking;

namespace Stratum.Storage.Tests;

public sealed class FastCdcTests
{
    private static readonly ChunkingOptions Options = new() { MinSize = 2048, AverageSize = 8192, MaxSize = 32768 };

    private static List<byte[]> Chunks(byte[] data, ChunkingOptions options)
    {
        var cdc = new FastCdc(options);
        var chunks = new List<byte[]>();
        for (var offset = 0; offset < data.Length;)
        {
            var length = cdc.Cut(data.AsSpan(offset, Math.Min(options.MaxSize, data.Length - offset)));
            chunks.Add(data[offset..(offset + length)]);
            offset += length;
        }

        return chunks;
    }

    [Fact]
    public void Cut_RandomData_SizesWithinBoundsAndNearAverage()
    {
        var data = TestStores.Content(4 << 20, 1)[(2 << 20)..];

        var chunks = Chunks(data, Options);

        Assert.All(chunks[..^1], c => Assert.InRange(c.Length, Options.MinSize, Options.MaxSize));
        var average = chunks.Average(c => c.Length);
        Assert.InRange(average, Options.AverageSize * 0.7, Options.AverageSize * 1.5);
    }

    [Fact]
    public void Cut_InsertAtStart_LaterChunksUnchanged()
    {
        var data = TestStores.Content(1 << 20, 2);
        var shifted = new byte[] { 1, 2, 3, 4, 5, 6, 7 }.Concat(data).ToArray();

        var before = Chunks(data, Options).Select(Convert.ToHexString).ToHashSet();
        var after = Chunks(shifted, Options).Select(Convert.ToHexString).ToList();

        var shared = after.Count(before.Contains);
        Assert.True(shared >= after.Count - 3, $"only {shared} of {after.Count} chunks survived a 7-byte insert");
    }

    [Fact]
    public void Cut_ShortFinalPiece_ReturnsAll()
    {
        var cdc = new FastCdc(Options);

        Assert.Equal(100, cdc.Cut(new byte[100]));
        Assert.Equal(Options.MaxSize, cdc.Cut(new byte[Options.MaxSize * 2]));
    }

    [Fact]
    public void BuildGear_FixedSeed_StableFirstValues()
    {
        var gear = FastCdc.BuildGear(FastCdc.GearSeed);

        // Changing the table would silently end dedup against every existing store.
        Assert.Equal(256, gear.Distinct().Count());
        Assert.Equal(gear, FastCdc.BuildGear(FastCdc.GearSeed));
        Assert.NotEqual(gear, FastCdc.BuildGear(FastCdc.GearSeed + 1));
    }

    [Fact]
    public void Constructor_BadSizes_ListsEveryProblem()
    {
        var error = Assert.Throws<ArgumentException>(() => new FastCdc(new ChunkingOptions { MinSize = 10, AverageSize = 3000, MaxSize = 100 }));

        Assert.Contains("minSize must be at least 64", error.Message);
        Assert.Contains("power of two", error.Message);
        Assert.Contains("minSize < averageSize < maxSize", error.Message);
    }
}
