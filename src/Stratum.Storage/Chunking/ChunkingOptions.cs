namespace Stratum.Storage.Chunking;

/// <summary>
/// FastCDC sizes. Defaults 512 KiB / 1 MiB / 4 MiB: large binary files (tensors, parquet) dedup at this
/// granularity as well as at 64 KiB while an index entry (~64 bytes) per MiB keeps the index of a 10 TB
/// store under 1 GB; bench/Stratum.Storage.Benchmarks measures the dedup ratio of smaller sizes.
/// </summary>
public sealed record ChunkingOptions
{
    /// <summary>No cut before this many bytes (cut-point skipping). Default 512 KiB.</summary>
    public int MinSize { get; init; } = 512 * 1024;

    /// <summary>The normal size the masks aim for; must be a power of two. Default 1 MiB.</summary>
    public int AverageSize { get; init; } = 1024 * 1024;

    /// <summary>A cut is forced here. Default 4 MiB.</summary>
    public int MaxSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>Every problem with these sizes, empty when they are usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (MinSize < 64)
        {
            problems.Add($"chunking.minSize must be at least 64 bytes (got {MinSize})");
        }

        if (AverageSize <= 0 || (AverageSize & (AverageSize - 1)) != 0)
        {
            problems.Add($"chunking.averageSize must be a power of two (got {AverageSize})");
        }

        if (!(MinSize < AverageSize && AverageSize < MaxSize))
        {
            problems.Add($"chunking sizes must satisfy minSize < averageSize < maxSize (got {MinSize} / {AverageSize} / {MaxSize})");
        }

        if (MaxSize > 64 * 1024 * 1024)
        {
            problems.Add($"chunking.maxSize must be at most 64 MiB (got {MaxSize})");
        }

        return problems;
    }
}
