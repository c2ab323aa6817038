namespace Stratum.Storage.Repositories;

/// <summary>What a repository holds; checkpoints repositories get retention.</summary>
public enum RepositoryKind
{
    Dataset,
    Model,
    Checkpoints,
}

/// <summary>A repository's record, stored as <c>repositories/NAME.json</c> on the backend.</summary>
public sealed record RepositoryInfo(string Name, RepositoryKind Kind, string DefaultBranch, string CreatedBy, DateTimeOffset CreatedAt);

/// <summary>
/// One file of a commit (or a staged one). <see cref="Content"/> holds length, hex MD5 (the S3 ETag),
/// hex SHA-256 and the chunk list.
/// </summary>
public sealed record ManifestEntry(string Path, StoredContent Content, string ContentType, IReadOnlyDictionary<string, string> Metadata)
{
    public long Size => Content.Length;

    public string Md5 => Content.Md5;

    public string Sha256 => Content.Sha256;
}

/// <summary>Where a commit came from: the job that produced it and its inputs as "repo@commitId".</summary>
public sealed record Lineage(string? JobId, IReadOnlyList<string> Inputs);

/// <summary>
/// One page of a commit's manifest: up to <see cref="RepositoryStoreOptions.ManifestPageSize"/> entries
/// sorted by path, stored content-addressed as <c>repos/NAME/manifests/ID</c>.
/// </summary>
public sealed record ManifestPage(string Id, string FirstPath, string LastPath, int Count, long Bytes);

/// <summary>
/// An immutable commit. <see cref="Id"/> is the SHA-256 (hex) of the canonical serialisation of every
/// other field; the manifest is a list of pages, so a commit of millions of files stays small.
/// </summary>
public sealed record Commit(
    string Id,
    string Repository,
    IReadOnlyList<string> Parents,
    string Message,
    string Author,
    DateTimeOffset Time,
    Lineage? Lineage,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<ManifestPage> Pages)
{
    public long FileCount => Pages.Sum(p => (long)p.Count);

    public long TotalBytes => Pages.Sum(p => p.Bytes);
}

/// <summary>What to put into a new commit besides its files.</summary>
public sealed record CommitRequest
{
    public required string Message { get; init; }

    public required string Author { get; init; }

    public Lineage? Lineage { get; init; }

    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>A branch or tag and the commit it points at.</summary>
public sealed record RefInfo(string Name, string CommitId);

/// <summary>A ref resolved to a commit; <see cref="Branch"/> is set when reads also see that branch's staged changes.</summary>
public sealed record ResolvedRef(string Repository, string CommitId, string? Branch);

/// <summary>One page of a listing: objects, and "directories" when a delimiter was given.</summary>
public sealed record ListResult(IReadOnlyList<ManifestEntry> Objects, IReadOnlyList<string> CommonPrefixes, bool IsTruncated, string? NextStartAfter);

public enum DiffKind
{
    Added,
    Removed,
    Changed,
}

/// <summary>One path that differs between two refs; sizes are null on the side where the path is absent.</summary>
public sealed record DiffEntry(string Path, DiffKind Kind, long? OldSize, long? NewSize);

/// <summary>Progress of a checkout or a directory put.</summary>
public sealed record TransferProgress(int FilesDone, int FilesTotal, long BytesDone, long BytesTotal);

/// <summary>Retention for a checkpoints repository: keep the newest <see cref="KeepLast"/> and the best <see cref="KeepBest"/> by a metric.</summary>
public sealed record RetentionPolicy
{
    public int KeepLast { get; init; } = 5;

    public int KeepBest { get; init; }

    /// <summary>Commit metadata key holding a number (e.g. "val_loss"); required when KeepBest &gt; 0.</summary>
    public string? Metric { get; init; }

    /// <summary>True for losses (default), false for accuracies.</summary>
    public bool LowerIsBetter { get; init; } = true;
}

/// <summary>Which commits of a branch retention keeps; written to <c>repos/NAME/retention.json</c>.</summary>
public sealed record RetentionResult(string Branch, IReadOnlyList<string> Kept, IReadOnlyList<string> Dropped, DateTimeOffset AppliedAt);

/// <summary>A file whose content is damaged or missing, named by repository, commit (or "staged:BRANCH") and path.</summary>
public sealed record DamagedFile(string Repository, string Commit, string Path, ChunkId Chunk, string Reason);

/// <summary>Chunk-level verify plus what it means for files; <see cref="IsClean"/> when nothing is damaged.</summary>
public sealed record RepositoryVerifyReport(VerifyReport Chunks, IReadOnlyList<DamagedFile> DamagedFiles, IReadOnlyList<string> DamagedMetadata, long CommitsChecked)
{
    public bool IsClean => Chunks.IsClean && DamagedFiles.Count == 0 && DamagedMetadata.Count == 0;
}

/// <summary>Logical bytes (as files) against stored bytes (unique chunks after compression and encryption).</summary>
public sealed record DiskUsage(string Repository, long LogicalBytesHead, long LogicalBytesAllCommits, long StoredBytes, long UniqueChunks, long Commits, long FilesAtHead);

/// <summary>Why an operation did not happen: expected outcomes, mapped to HTTP statuses by the API.</summary>
public enum RepoError
{
    None,
    InvalidArgument,
    NotFound,
    AlreadyExists,
    Conflict,
    NothingToCommit,
}

/// <summary>A value or the reason there is none.</summary>
public readonly record struct RepoResult<T>(T? Value, RepoError Error, string? Message)
{
    public bool IsSuccess => Error == RepoError.None;

    public static RepoResult<T> Ok(T value) => new(value, RepoError.None, null);

    public static RepoResult<T> Fail(RepoError error, string message) => new(default, error, message);

    /// <summary>The value; throws when there is none (for callers that checked, and tests).</summary>
    public T Unwrap() => IsSuccess ? Value! : throw new InvalidOperationException($"{Error}: {Message}");

    public RepoResult<TOther> As<TOther>() => new(default, Error, Message);
}

/// <summary>Settings of a <see cref="RepositoryStore"/>.</summary>
public sealed record RepositoryStoreOptions
{
    /// <summary>Entries per manifest page. Default 4096 (about 1 MB of JSON per page with 4 chunks per file).</summary>
    public int ManifestPageSize { get; init; } = 4096;

    /// <summary>How long to wait for a repository's lock before giving up. Default 30 s.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (ManifestPageSize is < 1 or > 1_000_000)
        {
            problems.Add($"manifestPageSize must be 1 to 1000000 (got {ManifestPageSize})");
        }

        if (LockTimeout <= TimeSpan.Zero)
        {
            problems.Add($"lockTimeout must be positive (got {LockTimeout})");
        }

        return problems;
    }
}
