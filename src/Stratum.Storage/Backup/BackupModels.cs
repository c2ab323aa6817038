namespace Stratum.Storage.Backup;

/// <summary>What a backup holds: the whole store, or some repositories.</summary>
public enum BackupKind
{
    Store,
    Repository,
}

/// <summary>How far an export or restore is. Phase: "snapshot", "data", "metadata", "prune".</summary>
public sealed record BackupProgress(string Phase, int BlobsDone, int BlobsTotal, long BytesCopied);

/// <summary>
/// What an export or restore did. Copied blobs were new or changed; skipped ones were already there
/// (same name and length for immutable blobs, same bytes for mutable ones); deleted ones were in the backup
/// but no longer in the store (whole-store exports only).
/// </summary>
public sealed record BackupReport(
    BackupKind Kind,
    IReadOnlyList<string> Repositories,
    int BlobsExamined,
    int BlobsCopied,
    int BlobsSkipped,
    int BlobsDeleted,
    long BytesCopied,
    DateTimeOffset At);

/// <summary>The record a backup keeps of itself, in <see cref="StoreBackup.ManifestName"/> at the backup's root.</summary>
public sealed record BackupManifest(int Format, BackupKind Kind, IReadOnlyList<string> Repositories, DateTimeOffset CreatedAt, int Blobs, long Bytes, string Source);
