namespace Stratum.Client.Contracts;

/// <summary>A repository of the artifact store. <see cref="Project"/>: whose members may write to its branches (null: admins only).</summary>
public sealed record RepositoryDto(string Name, string Kind, string DefaultBranch, string CreatedBy, DateTimeOffset CreatedAt, string? Project);

/// <summary>POST /api/v1/repos (admins).</summary>
public sealed record CreateRepositoryRequest
{
    public string? Name { get; init; }

    /// <summary>dataset, model or checkpoints.</summary>
    public string? Kind { get; init; }

    /// <summary>Default "main".</summary>
    public string? DefaultBranch { get; init; }

    /// <summary>Members of this project may write to the repository's branches.</summary>
    public string? Project { get; init; }
}

/// <summary>A branch or a tag and the commit it names.</summary>
public sealed record RefDto(string Name, string CommitId);

/// <summary>POST .../branches (from a ref) and POST .../tags (at a ref).</summary>
public sealed record CreateRefRequest
{
    public string? Name { get; init; }

    /// <summary>A branch, tag, commit id (or unique prefix of at least 8 hex digits), with an optional ~N.</summary>
    public string? Ref { get; init; }
}

/// <summary>One file: its size, hex MD5 (also its ETag), hex SHA-256, content type and metadata.</summary>
public sealed record StoreObjectDto(string Path, long Size, string Md5, string Sha256, string ContentType, IReadOnlyDictionary<string, string>? Metadata);

/// <summary>One page of a listing, in path order; continue with after=<see cref="NextAfter"/> while <see cref="IsTruncated"/>.</summary>
public sealed record StoreListingDto(string Ref, string CommitId, IReadOnlyList<StoreObjectDto> Objects, IReadOnlyList<string> CommonPrefixes, bool IsTruncated, string? NextAfter);

/// <summary>Where a commit came from: the job and its inputs as "repo@commit".</summary>
public sealed record LineageDto(string? JobId, IReadOnlyList<string>? Inputs);

/// <summary>POST .../branches/{branch}/commits.</summary>
public sealed record CommitRequestDto
{
    public string? Message { get; init; }

    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    public LineageDto? Lineage { get; init; }
}

public sealed record CommitDto(
    string Id,
    IReadOnlyList<string> Parents,
    string Message,
    string Author,
    DateTimeOffset Time,
    LineageDto? Lineage,
    IReadOnlyDictionary<string, string> Metadata,
    long Files,
    long Bytes);

/// <summary>One difference between two refs: added, removed or changed.</summary>
public sealed record DiffEntryDto(string Path, string Kind, long? OldSize, long? NewSize);

public sealed record StoreDiffDto(string From, string To, string FromCommit, string ToCommit, IReadOnlyList<DiffEntryDto> Entries);

/// <summary>
/// GET .../du. <see cref="LogicalBytes"/>: the files at the default branch's head; <see cref="LogicalBytesAllCommits"/>:
/// every file of every commit counted each time; <see cref="StoredBytes"/>: what the unique chunks those use take
/// on the backend (compressed, encrypted).
/// </summary>
public sealed record DiskUsageDto(string Repository, long LogicalBytes, long LogicalBytesAllCommits, long StoredBytes, long UniqueChunks, long Commits, long Files, double DedupRatio);

/// <summary>POST /api/v1/store/gc (admins). Grace: packs and chunks touched more recently are kept (default 1h).</summary>
public sealed record GcRequest
{
    public string? Grace { get; init; }
}

public sealed record GcReportDto(long LiveChunks, int PacksDeleted, int PacksRepacked, int UnreferencedPacksDeleted, long ChunksDropped, long BytesFreed, int TemporaryFilesDeleted, int PacksKeptForGrace);

public sealed record DamagedFileDto(string Repository, string Commit, string Path, string Chunk, string Reason);

public sealed record DamagedChunkDto(string Chunk, string Pack, long Offset, string Reason);

/// <summary>POST /api/v1/store/verify (admins): every chunk re-read and re-hashed; damage named by file and commit.</summary>
public sealed record VerifyReportDto(
    bool Clean,
    long ChunksChecked,
    long PacksChecked,
    long BytesRead,
    long CommitsChecked,
    IReadOnlyList<DamagedFileDto> DamagedFiles,
    IReadOnlyList<DamagedChunkDto> DamagedChunks,
    IReadOnlyList<string> MissingPacks,
    IReadOnlyList<string> DamagedIndexFiles,
    IReadOnlyList<string> DamagedMetadata,
    IReadOnlyList<string> UnreferencedPacks);
