using Stratum.Storage.Chunking;

namespace Stratum.Storage;

/// <summary>Settings of a <see cref="ChunkStore"/>; <see cref="Problems"/> lists every mistake at once.</summary>
public sealed record ChunkStoreOptions
{
    /// <summary>FastCDC sizes; default 512 KiB / 1 MiB / 4 MiB.</summary>
    public ChunkingOptions Chunking { get; init; } = new();

    /// <summary>
    /// zstd level, 1 to 19, or 0 to store every chunk raw. Default 1: on text-like data (bench storage)
    /// level 3 took 2-3x the CPU and its output was no smaller (0.367 of the input against level 1's
    /// 0.357), and compression was the largest ingest cost (docs/storage.md, "Measured: ingest cost").
    /// </summary>
    public int CompressionLevel { get; init; } = 1;

    /// <summary>
    /// A pack is sealed and written once it holds this many bytes. Default 32 MiB: at least 8 maximal
    /// chunks per pack, one S3 PUT of a size object stores handle well, a few thousand index files per
    /// 100 GB, and garbage collection repacks at most this much to reclaim a pack.
    /// </summary>
    public int PackTargetSize { get; init; } = 32 * 1024 * 1024;

    /// <summary>Worker tasks that hash, compress and encrypt chunks. Default: one per core.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>Garbage collection repacks a pack once more than this share of its bytes is dead. Default 0.5.</summary>
    public double RepackThreshold { get; init; } = 0.5;

    public IReadOnlyList<string> Problems()
    {
        var problems = Chunking.Problems().ToList();
        if (CompressionLevel is < 0 or > 19)
        {
            problems.Add($"compressionLevel must be 0 (off) to 19 (got {CompressionLevel})");
        }

        if (PackTargetSize < 1024 || PackTargetSize > 512 * 1024 * 1024)
        {
            problems.Add($"packTargetSize must be 1 KiB to 512 MiB (got {PackTargetSize})");
        }

        if (Workers is < 1 or > 256)
        {
            problems.Add($"workers must be 1 to 256 (got {Workers})");
        }

        if (RepackThreshold is <= 0 or > 1)
        {
            problems.Add($"repackThreshold must be in (0, 1] (got {RepackThreshold})");
        }

        return problems;
    }
}

/// <summary>One chunk of a content, in order.</summary>
public sealed record ChunkRef(ChunkId Id, int Length);

/// <summary>
/// What the store returns for one written content: what a manifest records about a file. Md5 is hex
/// (the S3 ETag of a single-part upload); Sha256 is hex of the whole content.
/// </summary>
public sealed record StoredContent(long Length, string Md5, string Sha256, IReadOnlyList<ChunkRef> Chunks);

/// <summary>Counts for `stratum store du` and the benchmarks.</summary>
public sealed record StoreStats(
    long Chunks,
    long Packs,
    long UniqueBytes,
    long StoredBytes,
    long LogicalBytesWritten,
    long ChunksWritten,
    long ChunksDeduplicated);

/// <summary>One damaged or unreachable chunk found by verify.</summary>
public sealed record DamagedChunk(ChunkId Id, string Pack, long Offset, string Reason);

/// <summary>What <see cref="ChunkStore.VerifyAsync"/> found. <see cref="IsClean"/> when nothing is damaged or missing.</summary>
public sealed record VerifyReport(
    long ChunksChecked,
    long PacksChecked,
    long BytesRead,
    IReadOnlyList<DamagedChunk> Damaged,
    IReadOnlyList<string> MissingPacks,
    IReadOnlyList<string> DamagedIndexFiles,
    IReadOnlyList<string> UnreferencedPacks)
{
    public bool IsClean => Damaged.Count == 0 && MissingPacks.Count == 0 && DamagedIndexFiles.Count == 0;
}

/// <summary>What <see cref="ChunkStore.CollectGarbageAsync"/> did.</summary>
public sealed record GcReport(
    int PacksDeleted,
    int PacksRepacked,
    int UnreferencedPacksDeleted,
    long ChunksDropped,
    long BytesFreed,
    int TemporaryFilesDeleted,
    int PacksKeptForGrace);

/// <summary>A chunk's stored record failed its checks: a damaged pack, not a transient fault.</summary>
public sealed class ChunkCorruptException(ChunkId chunk, string pack, long offset, string reason)
    : IOException($"chunk {chunk} in pack {pack} at offset {offset} is damaged: {reason}")
{
    public ChunkId Chunk { get; } = chunk;
    public string Pack { get; } = pack;
    public long Offset { get; } = offset;
    public string Reason { get; } = reason;
}

/// <summary>A chunk a content refers to is not in the store's index (or its pack is gone).</summary>
public sealed class ChunkMissingException(ChunkId chunk, string detail)
    : IOException($"chunk {chunk} is missing from the store: {detail}")
{
    public ChunkId Chunk { get; } = chunk;
}
