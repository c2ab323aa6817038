using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Stratum.Storage.Backends;

namespace Stratum.Storage.Tiering;

/// <summary>Where a blob is: a flag set, so a pack copied to cold and still hot is <see cref="Both"/>.</summary>
[Flags]
public enum BlobTier
{
    None = 0,
    Hot = 1,
    Cold = 2,
    Both = Hot | Cold,
}

/// <summary>Settings of a <see cref="TieredBackend"/>.</summary>
public sealed record TieredBackendOptions
{
    /// <summary>
    /// A pack read from the cold tier is first copied whole to the hot tier and served from there, so the
    /// next reads are local. Off by default: a scan of old data would otherwise fill the hot disk; the
    /// lifecycle run also brings back packs that are read again (their idle time restarts).
    /// </summary>
    public bool RehydrateOnRead { get; init; }

    /// <summary>
    /// Packs and their index files are written to both tiers at once (the cold PUT answered before the
    /// write returns), so the cold tier alone holds every acknowledged write. Off by default: packs go to
    /// the hot tier only and reach the cold one at the next lifecycle run.
    /// </summary>
    public bool WritePacksThrough { get; init; }

    /// <summary>A pack's last access is updated in memory at most once per this much time. Default 1 minute.</summary>
    public TimeSpan AccessResolution { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often changed access times are written to the hot directory; zero: only on lifecycle runs and dispose. Default 5 minutes.</summary>
    public TimeSpan AccessFlushInterval { get; init; } = TimeSpan.FromMinutes(5);

    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (AccessResolution < TimeSpan.Zero)
        {
            problems.Add($"accessResolution must not be negative (got {AccessResolution})");
        }

        if (AccessFlushInterval < TimeSpan.Zero)
        {
            problems.Add($"accessFlushInterval must not be negative (got {AccessFlushInterval})");
        }

        return problems;
    }
}

/// <summary>
/// Two blob backends seen as one: a hot local directory and a cold backend (in practice S3). Packs
/// (<c>packs/</c>) and their index files (<c>index/</c>) are written to the hot tier (to both with
/// <see cref="TieredBackendOptions.WritePacksThrough"/>); <see cref="TierLifecycle"/> copies them to the cold
/// tier and removes hot copies. Every other blob — refs, commits, manifests, registry, staging, policies —
/// is metadata and is written to both tiers, cold first, so it stays readable from either and the cold tier
/// alone can be opened as the whole store. Reads look in the hot tier first, then in the cold one. Deletes
/// remove the blob from both. Listing is the union of both tiers. Ranged reads of packs (chunk reads) record a last-access
/// time per pack (in memory, written to HOT/.tmp/tiering/access.json periodically) for idle-based lifecycle rules.
/// </summary>
public sealed class TieredBackend : IBlobBackend, ISupportsTemporaryCleanup, IAsyncDisposable
{
    private const string PackPrefix = "packs/";
    private const string IndexPrefix = "index/";
    private readonly TieredBackendOptions _options;
    private readonly TimeProvider _clock;
    private readonly PackAccessLog _access;
    private readonly ConcurrentDictionary<string, Lazy<Task<bool>>> _rehydrating = new(StringComparer.Ordinal);
    private readonly ITimer? _flushTimer;
    private long _rehydrated;

    public TieredBackend(LocalDirectoryBackend hot, IBlobBackend cold, TieredBackendOptions? options = null, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(hot);
        ArgumentNullException.ThrowIfNull(cold);
        options ??= new TieredBackendOptions();
        var problems = options.Problems();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid tier options: " + string.Join("; ", problems), nameof(options));
        }

        if (cold is TieredBackend)
        {
            throw new ArgumentException("the cold tier cannot itself be tiered", nameof(cold));
        }

        Hot = hot;
        Cold = cold;
        _options = options;
        _clock = clock ?? TimeProvider.System;
        _access = new PackAccessLog(Path.Combine(hot.Root, ".tmp", "tiering", "access.json"), options.AccessResolution);
        if (options.AccessFlushInterval > TimeSpan.Zero)
        {
            _flushTimer = _clock.CreateTimer(_ => _ = FlushQuietlyAsync(), null, options.AccessFlushInterval, options.AccessFlushInterval);
        }
    }

    public LocalDirectoryBackend Hot { get; }

    public IBlobBackend Cold { get; }

    public TieredBackendOptions Options => _options;

    public string Description => $"tiered(hot {Hot.Description}, cold {Cold.Description})";

    /// <summary>Packs copied to the hot tier because they were read from the cold one (this process).</summary>
    public long PacksRehydrated => Interlocked.Read(ref _rehydrated);

    /// <summary>Whether <paramref name="name"/> moves between tiers (packs and their index files) rather than living in both.</summary>
    public static bool IsTiered(string name) => name.StartsWith(PackPrefix, StringComparison.Ordinal) || name.StartsWith(IndexPrefix, StringComparison.Ordinal);

    public async Task PutAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        if (IsTiered(name) && !_options.WritePacksThrough)
        {
            await Hot.PutAsync(name, content, cancellationToken).ConfigureAwait(false);
            return;
        }

        // Cold first: what this process reads (hot first) is then always in the cold tier too, so a
        // restore from the cold tier alone never misses an acknowledged write.
        var source = content;
        if (!content.CanSeek)
        {
            source = new MemoryStream();
            await content.CopyToAsync(source, cancellationToken).ConfigureAwait(false);
            source.Position = 0;
        }

        var start = source.Position;
        await Cold.PutAsync(name, source, cancellationToken).ConfigureAwait(false);
        source.Position = start;
        await Hot.PutAsync(name, source, cancellationToken).ConfigureAwait(false);
    }

    public async Task<Stream?> OpenReadAsync(string name, long offset = 0, long? length = null, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        // Chunk reads are ranged; whole-pack reads are maintenance (verify, GC repack, backup) and must
        // neither count as use — a nightly verify would keep every pack hot — nor pull packs back to hot.
        var isPack = name.StartsWith(PackPrefix, StringComparison.Ordinal) && length is not null;
        if (isPack)
        {
            _access.Record(name, _clock.GetUtcNow());
        }

        // The hot file is opened with delete sharing, so a lifecycle run removing it mid-read does not
        // cut this read short; a pack gone from hot is by then verified in cold.
        if (await Hot.OpenReadAsync(name, offset, length, cancellationToken).ConfigureAwait(false) is { } hot)
        {
            return hot;
        }

        if (isPack && _options.RehydrateOnRead && await RehydrateAsync(name, cancellationToken).ConfigureAwait(false)
            && await Hot.OpenReadAsync(name, offset, length, cancellationToken).ConfigureAwait(false) is { } rehydrated)
        {
            return rehydrated;
        }

        return await Cold.OpenReadAsync(name, offset, length, cancellationToken).ConfigureAwait(false);
    }

    public async Task<BlobInfo?> StatAsync(string name, CancellationToken cancellationToken = default) =>
        await Hot.StatAsync(name, cancellationToken).ConfigureAwait(false)
        ?? await Cold.StatAsync(name, cancellationToken).ConfigureAwait(false);

    public async IAsyncEnumerable<BlobInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var merged = new Dictionary<string, BlobInfo>(StringComparer.Ordinal);
        await foreach (var blob in Cold.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            merged[blob.Name] = blob;
        }

        await foreach (var blob in Hot.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            merged[blob.Name] = blob;
        }

        foreach (var name in merged.Keys.Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return merged[name];
        }
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        // Cold first, the reverse of a put: a crash in between leaves the blob hot, visible, and the
        // delete is simply repeated; never a blob that only a later restore from cold brings back.
        var cold = await Cold.DeleteAsync(name, cancellationToken).ConfigureAwait(false);
        var hot = await Hot.DeleteAsync(name, cancellationToken).ConfigureAwait(false);
        return cold || hot;
    }

    /// <summary>Which tiers hold <paramref name="name"/>.</summary>
    public async Task<BlobTier> LocateAsync(string name, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        var tier = BlobTier.None;
        if (await Hot.StatAsync(name, cancellationToken).ConfigureAwait(false) is not null)
        {
            tier |= BlobTier.Hot;
        }

        if (await Cold.StatAsync(name, cancellationToken).ConfigureAwait(false) is not null)
        {
            tier |= BlobTier.Cold;
        }

        return tier;
    }

    /// <summary>The last read of a pack recorded by this backend (this process, or flushed by an earlier one); null if never.</summary>
    public DateTimeOffset? LastAccess(string packName) => _access.Get(packName);

    /// <summary>Writes changed access times to HOT/.tmp/tiering/access.json (atomically: temporary file, fsync, rename).</summary>
    public Task FlushAccessTimesAsync(CancellationToken cancellationToken = default) => _access.FlushAsync(cancellationToken);

    public Task<int> DeleteStaleTemporaryFilesAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default) =>
        Hot.DeleteStaleTemporaryFilesAsync(olderThan, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_flushTimer is not null)
        {
            await _flushTimer.DisposeAsync().ConfigureAwait(false);
        }

        await FlushQuietlyAsync().ConfigureAwait(false);
    }

    internal void ForgetAccessExcept(IReadOnlySet<string> packNames) => _access.Retain(packNames);

    /// <summary>
    /// Copies a pack from cold to hot once, however many readers ask at the same time. False when it
    /// could not (the caller reads from cold instead: a full hot disk must not fail reads).
    /// </summary>
    private async Task<bool> RehydrateAsync(string name, CancellationToken cancellationToken)
    {
        var lazy = _rehydrating.GetOrAdd(name, n => new Lazy<Task<bool>>(() => CopyToHotAsync(n)));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _rehydrating.TryRemove(new KeyValuePair<string, Lazy<Task<bool>>>(name, lazy));
        }
    }

    private async Task<bool> CopyToHotAsync(string name)
    {
        try
        {
            var (copied, _) = await TierCopy.CopyVerifiedAsync(Cold, Hot, name, CancellationToken.None).ConfigureAwait(false);
            if (copied)
            {
                Interlocked.Increment(ref _rehydrated);
            }

            return copied;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private async Task FlushQuietlyAsync()
    {
        try
        {
            await _access.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Access times are advisory: losing some makes packs look idler, which at worst moves them to
            // cold early (still readable). The next flush tries again.
        }
    }
}
