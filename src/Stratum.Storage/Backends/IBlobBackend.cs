namespace Stratum.Storage.Backends;

/// <summary>What a backend knows about one stored blob.</summary>
public sealed record BlobInfo(string Name, long Length, DateTimeOffset LastModified);

/// <summary>
/// The small contract every blob backend implements (local directory now, S3 later). Names are
/// '/'-separated and validated by <see cref="BlobNames.Validate"/>; every method rejects a bad name with
/// an <see cref="ArgumentException"/>. Missing blobs are expected outcomes (null / false), not exceptions.
/// </summary>
public interface IBlobBackend
{
    /// <summary>A short description for messages, e.g. "local:/data/store".</summary>
    string Description { get; }

    /// <summary>
    /// Stores <paramref name="content"/> under <paramref name="name"/>, replacing any blob there. When the
    /// task completes the blob is durable (local: written to a temporary file, fsynced, renamed, directory
    /// fsynced; S3: the PUT answered) and readers see either the old blob or the whole new one, never a part.
    /// If it fails, nothing under <paramref name="name"/> changed.
    /// </summary>
    Task PutAsync(string name, Stream content, CancellationToken cancellationToken = default);

    /// <summary>
    /// Opens the blob for reading from <paramref name="offset"/>, at most <paramref name="length"/> bytes
    /// (all the rest when null); a range past the end yields the bytes that exist. Null when there is no blob.
    /// </summary>
    Task<Stream?> OpenReadAsync(string name, long offset = 0, long? length = null, CancellationToken cancellationToken = default);

    /// <summary>Size and modification time, or null when there is no blob.</summary>
    Task<BlobInfo?> StatAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Blobs whose names start with <paramref name="prefix"/> (a plain string prefix, as in S3, not only at a
    /// '/' boundary; empty lists everything), in ordinal order of name.
    /// </summary>
    IAsyncEnumerable<BlobInfo> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Deletes the blob; false when there was none.</summary>
    Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default);
}

/// <summary>
/// Optional capability: a backend that leaves temporary files behind when its process dies mid-put
/// (the local directory) lets garbage collection remove the ones older than a cut-off.
/// </summary>
public interface ISupportsTemporaryCleanup
{
    /// <summary>Deletes temporary files last written before <paramref name="olderThan"/>; returns how many.</summary>
    Task<int> DeleteStaleTemporaryFilesAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default);
}
