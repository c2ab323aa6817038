using System.Globalization;
using System.Text.Json;
using Stratum.Storage.Backends;
using Stratum.Storage.Crypto;
using Stratum.Storage.Format;
using Stratum.Storage.Repositories;

namespace Stratum.Storage.Backup;

/// <summary>
/// Backup and restore by copying blobs under their own names to another <see cref="IBlobBackend"/>, plus
/// <see cref="ManifestName"/> describing the backup. A backup is therefore itself a store that opens
/// read-only with the same key; chunk contents stay encrypted as they are in the store.
/// Consistency while writers run: mutable blobs (refs, registry, staging, retention and tier policies) are
/// read into memory first; then every immutable blob (packs, index files, commits, manifest pages) is listed
/// and copied — everything the snapshot refers to was durable before it, so it is in that listing — and the
/// snapshot is written last. A crash mid-export leaves the previous backup's refs with all they need, plus
/// extra blobs. Incremental: immutable blobs already in the target with the same length are skipped,
/// mutable ones are compared byte for byte. GC is held off (the store's maintenance lock) during an export.
/// </summary>
public static class StoreBackup
{
    /// <summary>The backup's own record, at the root of the backup backend.</summary>
    public const string ManifestName = "stratum-backup.json";

    /// <summary>
    /// Exports the whole store (<paramref name="repository"/> null: every blob, metadata included) or one
    /// repository (its registry record, refs, commits, manifest pages, retention record, tier policy, and the
    /// packs and index files holding its chunks; staged, uncommitted changes are not exported) to
    /// <paramref name="target"/>. Repeating it into the same target copies only what changed.
    /// </summary>
    public static async Task<BackupReport> ExportAsync(
        RepositoryStore store, IBlobBackend target, string? repository = null, IProgress<BackupProgress>? progress = null,
        TimeProvider? clock = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(target);
        var source = store.Chunks.Backend;
        if (ReferenceEquals(source, target))
        {
            throw new ArgumentException("the backup target is the store's own backend", nameof(target));
        }

        if (repository is not null)
        {
            var info = await store.GetRepositoryAsync(repository, cancellationToken).ConfigureAwait(false);
            if (!info.IsSuccess)
            {
                throw new ArgumentException($"cannot export repository '{repository}': {info.Message}", nameof(repository));
            }
        }

        var existing = await ReadManifestAsync(target, cancellationToken).ConfigureAwait(false);
        var kind = repository is null ? BackupKind.Store : BackupKind.Repository;
        if (existing is not null && (existing.Kind != kind || (repository is not null && !existing.Repositories.Contains(repository))))
        {
            throw new ArgumentException(
                $"{target.Description} already holds a backup of {Describe(existing.Kind, existing.Repositories)}; export {Describe(kind, repository is null ? [] : [repository])} to another target", nameof(target));
        }

        if (existing is null && await AnyAsync(target, "", cancellationToken).ConfigureAwait(false))
        {
            throw new ArgumentException($"{target.Description} is not empty and holds no Stratum backup ({ManifestName}); export to an empty target", nameof(target));
        }

        await store.Chunks.FlushAsync(cancellationToken).ConfigureAwait(false);
        await store.Chunks.MaintenanceLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var copier = new Copier(source, target, progress);
            await copier.LoadTargetAsync(cancellationToken).ConfigureAwait(false);

            // 1. The snapshot: mutable blobs, in memory.
            var snapshot = new List<(string Name, byte[] Bytes)>();
            foreach (var prefix in repository is null ? [""] : MutablePrefixes(repository))
            {
                await foreach (var blob in source.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
                {
                    if (!IsImmutable(blob.Name) && blob.Name != ManifestName && IsMutableOf(blob.Name, repository)
                        && await ReadAsync(source, blob.Name, cancellationToken).ConfigureAwait(false) is { } bytes)
                    {
                        snapshot.Add((blob.Name, bytes));
                    }
                }
            }

            // 2. Everything the snapshot can refer to.
            var immutable = repository is null
                ? await ImmutableNamesAsync(source, cancellationToken).ConfigureAwait(false)
                : await RepositoryImmutableNamesAsync(store, repository, cancellationToken).ConfigureAwait(false);
            copier.Total = immutable.Count + snapshot.Count;
            await copier.CopyImmutableAsync(immutable, cancellationToken).ConfigureAwait(false);

            // 3. The snapshot, last: a target ref is only replaced once all it needs is there.
            await copier.WriteMutableAsync(snapshot, cancellationToken).ConfigureAwait(false);

            // 4. What the store no longer has (GC'd packs, deleted refs and repositories).
            var keep = immutable.Select(b => b.Name).Concat(snapshot.Select(s => s.Name)).Append(ManifestName).ToHashSet(StringComparer.Ordinal);
            await copier.PruneAsync(name => !keep.Contains(name) && (repository is null || name.StartsWith($"repos/{repository}/refs/", StringComparison.Ordinal)), cancellationToken).ConfigureAwait(false);

            var at = (clock ?? TimeProvider.System).GetUtcNow();
            var repositories = repository is null
                ? (await store.ListRepositoriesAsync(cancellationToken).ConfigureAwait(false)).Select(r => r.Name).ToList()
                : [repository];
            await WriteManifestAsync(target, new BackupManifest(1, kind, repositories, at, keep.Count - 1, copier.TargetBytes, source.Description), cancellationToken).ConfigureAwait(false);
            return copier.Report(kind, repositories, at);
        }
        finally
        {
            store.Chunks.MaintenanceLock.Release();
        }
    }

    /// <summary>
    /// Restores a backup made by <see cref="ExportAsync"/> into <paramref name="target"/>: a whole-store
    /// backup only into an empty backend; a repository backup into any store with the same key that has no
    /// repository of that name. Anything else is refused before a blob is written. Open the store on the
    /// target afterwards (or call <see cref="ChunkStore.ReloadIndexAsync"/> on one already open).
    /// </summary>
    public static async Task<BackupReport> RestoreAsync(IBlobBackend backup, IBlobBackend target, IProgress<BackupProgress>? progress = null, TimeProvider? clock = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backup);
        ArgumentNullException.ThrowIfNull(target);
        var manifest = await ReadManifestAsync(backup, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException($"{backup.Description} is not a Stratum backup: it has no {ManifestName}");
        if (manifest.Format != 1)
        {
            throw new InvalidDataException($"{backup.Description} holds a backup of format {manifest.Format}; this version reads format 1");
        }

        if (manifest.Kind == BackupKind.Store)
        {
            await foreach (var blob in target.ListAsync("", cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException($"cannot restore a whole-store backup into {target.Description}: it is not empty (it holds {blob.Name})");
            }
        }
        else
        {
            foreach (var repository in manifest.Repositories)
            {
                if (await target.StatAsync(RepositoryStore.RegistryName(repository), cancellationToken).ConfigureAwait(false) is not null
                    || await AnyAsync(target, RepositoryStore.RepoPrefix(repository), cancellationToken).ConfigureAwait(false))
                {
                    throw new InvalidOperationException($"cannot restore repository '{repository}' into {target.Description}: it already has a repository of that name");
                }
            }
        }

        var copier = new Copier(backup, target, progress);
        await copier.LoadTargetAsync(cancellationToken).ConfigureAwait(false);
        var immutable = await ImmutableNamesAsync(backup, cancellationToken).ConfigureAwait(false);
        var mutable = new List<(string Name, byte[] Bytes)>();
        await foreach (var blob in backup.ListAsync("", cancellationToken).ConfigureAwait(false))
        {
            if (!IsImmutable(blob.Name) && blob.Name != ManifestName && await ReadAsync(backup, blob.Name, cancellationToken).ConfigureAwait(false) is { } bytes)
            {
                mutable.Add((blob.Name, bytes));
            }
        }

        copier.Total = immutable.Count + mutable.Count;
        await copier.CopyImmutableAsync(immutable, cancellationToken).ConfigureAwait(false);
        await copier.WriteMutableAsync(mutable, cancellationToken).ConfigureAwait(false);
        return copier.Report(manifest.Kind, manifest.Repositories, (clock ?? TimeProvider.System).GetUtcNow());
    }

    /// <summary>
    /// Null when <paramref name="keys"/> can read the backup's chunks (one chunk is read and checked against its
    /// id), else why not. Chunks stay encrypted in a backup, so a restore under another key would give a store
    /// whose every read fails; a backup without chunks passes.
    /// </summary>
    public static async Task<string?> KeyProblemAsync(IBlobBackend backup, KeyRing? keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backup);
        await using var chunks = await ChunkStore.OpenAsync(backup, keys, cancellationToken: cancellationToken).ConfigureAwait(false);
        var first = chunks.Packs.OrderBy(p => p.Name, StringComparer.Ordinal).SelectMany(p => p.Entries).Select(e => (PackEntry?)e).FirstOrDefault();
        if (first is not { } entry)
        {
            return null;
        }

        try
        {
            await chunks.ReadChunkAsync(entry.Id, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (StorageKeyException e)
        {
            return e.Message;
        }
    }

    /// <summary>The backup's record, or null when <paramref name="backup"/> holds none.</summary>
    public static async Task<BackupManifest?> ReadManifestAsync(IBlobBackend backup, CancellationToken cancellationToken = default)
    {
        if (await ReadAsync(backup, ManifestName, cancellationToken).ConfigureAwait(false) is not { } bytes)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            return new BackupManifest(
                root.GetProperty("format").GetInt32(),
                Enum.Parse<BackupKind>(root.GetProperty("kind").GetString()!, ignoreCase: true),
                [.. root.GetProperty("repositories").EnumerateArray().Select(e => e.GetString()!)],
                DateTimeOffset.Parse(root.GetProperty("createdAt").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                root.GetProperty("blobs").GetInt32(),
                root.GetProperty("bytes").GetInt64(),
                root.GetProperty("source").GetString()!);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"{ManifestName} in {backup.Description} is damaged: {e.Message}", e);
        }
    }

    /// <summary>Blobs whose bytes never change under their name: packs and index files (random ids), commits and pages (content ids).</summary>
    internal static bool IsImmutable(string name) =>
        name.StartsWith("packs/", StringComparison.Ordinal)
        || name.StartsWith("index/", StringComparison.Ordinal)
        || (name.StartsWith("repos/", StringComparison.Ordinal) && (name.Contains("/commits/", StringComparison.Ordinal) || name.Contains("/manifests/", StringComparison.Ordinal)));

    private static string[] MutablePrefixes(string repository) =>
        [RepositoryStore.RegistryName(repository), $"repos/{repository}/refs/", $"repos/{repository}/retention/", $"tiering/policies/{repository}.json"];

    private static bool IsMutableOf(string name, string? repository) =>
        repository is null
        || name == RepositoryStore.RegistryName(repository)
        || name == $"tiering/policies/{repository}.json"
        || name.StartsWith($"repos/{repository}/refs/", StringComparison.Ordinal)
        || name.StartsWith($"repos/{repository}/retention/", StringComparison.Ordinal);

    private static async Task<List<BlobInfo>> ImmutableNamesAsync(IBlobBackend source, CancellationToken cancellationToken)
    {
        var names = new List<BlobInfo>();
        await foreach (var blob in source.ListAsync("", cancellationToken).ConfigureAwait(false))
        {
            if (IsImmutable(blob.Name))
            {
                names.Add(blob);
            }
        }

        return Ordered(names);
    }

    /// <summary>
    /// A repository's commits and pages, and the packs (with index files) holding the chunks of every file of
    /// every commit it has, reachable or not — exact whatever its refs do meanwhile. Chunks garbage collection
    /// already freed (files of retention-dropped commits) are skipped. Packs are copied whole, so they may carry
    /// chunks of other repositories sharing them (encrypted; GC of the restored store frees them).
    /// </summary>
    private static async Task<List<BlobInfo>> RepositoryImmutableNamesAsync(RepositoryStore store, string repository, CancellationToken cancellationToken)
    {
        var source = store.Chunks.Backend;
        var names = new List<BlobInfo>();
        var packs = new HashSet<string>(StringComparer.Ordinal);
        var pages = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var blob in source.ListAsync(RepositoryStore.RepoPrefix(repository), cancellationToken).ConfigureAwait(false))
        {
            if (!IsImmutable(blob.Name))
            {
                continue;
            }

            names.Add(blob);
            if (blob.Name.StartsWith(RepositoryStore.CommitsPrefix(repository), StringComparison.Ordinal)
                && await store.LoadCommitAsync(repository, blob.Name[RepositoryStore.CommitsPrefix(repository).Length..], cancellationToken).ConfigureAwait(false) is { } commit)
            {
                foreach (var page in commit.Pages.Where(p => pages.Add(p.Id)))
                {
                    foreach (var entry in await store.LoadPageAsync(repository, page.Id, cancellationToken).ConfigureAwait(false))
                    {
                        packs.UnionWith(entry.Content.Chunks.Select(c => store.Chunks.PackOf(c.Id)).OfType<string>());
                    }
                }
            }
        }

        foreach (var pack in packs)
        {
            var index = $"index/{Path.GetFileNameWithoutExtension(pack)}.idx";
            foreach (var name in new[] { pack, index })
            {
                if (await source.StatAsync(name, cancellationToken).ConfigureAwait(false) is { } info)
                {
                    names.Add(info);
                }
            }
        }

        return Ordered(names);
    }

    /// <summary>Packs before index files (an index names only a pack already copied), then commits and pages.</summary>
    private static List<BlobInfo> Ordered(List<BlobInfo> names) =>
        [.. names.OrderBy(b => b.Name.StartsWith("packs/", StringComparison.Ordinal) ? 0 : b.Name.StartsWith("index/", StringComparison.Ordinal) ? 1 : 2)
            .ThenBy(b => b.Name, StringComparer.Ordinal)];

    private static async Task<bool> AnyAsync(IBlobBackend backend, string prefix, CancellationToken cancellationToken)
    {
        await foreach (var _ in backend.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            return true;
        }

        return false;
    }

    private static async Task<byte[]?> ReadAsync(IBlobBackend backend, string name, CancellationToken cancellationToken)
    {
        var stream = await backend.OpenReadAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }

        await using (stream.ConfigureAwait(false))
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
            return copy.ToArray();
        }
    }

    private static async Task WriteManifestAsync(IBlobBackend target, BackupManifest manifest, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("format", manifest.Format);
            json.WriteString("kind", manifest.Kind.ToString().ToLowerInvariant());
            json.WriteStartArray("repositories");
            foreach (var repository in manifest.Repositories)
            {
                json.WriteStringValue(repository);
            }

            json.WriteEndArray();
            json.WriteString("createdAt", manifest.CreatedAt.ToString("O", CultureInfo.InvariantCulture));
            json.WriteNumber("blobs", manifest.Blobs);
            json.WriteNumber("bytes", manifest.Bytes);
            json.WriteString("source", manifest.Source);
            json.WriteEndObject();
        }

        buffer.Position = 0;
        await target.PutAsync(ManifestName, buffer, cancellationToken).ConfigureAwait(false);
    }

    private static string Describe(BackupKind kind, IReadOnlyList<string> repositories) =>
        kind == BackupKind.Store ? "the whole store" : "repository " + string.Join(", ", repositories.Select(r => $"'{r}'"));

    /// <summary>One copy pass: what the target has, counts, progress.</summary>
    private sealed class Copier(IBlobBackend source, IBlobBackend target, IProgress<BackupProgress>? progress)
    {
        private readonly Dictionary<string, long> _target = new(StringComparer.Ordinal);
        private int _done, _copied, _skipped, _deleted;
        private long _bytes;

        public int Total { get; set; }

        public long TargetBytes => _target.Values.Sum();

        public async Task LoadTargetAsync(CancellationToken cancellationToken)
        {
            await foreach (var blob in target.ListAsync("", cancellationToken).ConfigureAwait(false))
            {
                _target[blob.Name] = blob.Length;
            }
        }

        public async Task CopyImmutableAsync(IReadOnlyList<BlobInfo> blobs, CancellationToken cancellationToken)
        {
            foreach (var blob in blobs)
            {
                // Same name and length: the same bytes (names are random or content ids, and puts are atomic).
                if (_target.TryGetValue(blob.Name, out var length) && length == blob.Length)
                {
                    Skipped("data");
                    continue;
                }

                var stream = await source.OpenReadAsync(blob.Name, cancellationToken: cancellationToken).ConfigureAwait(false)
                    ?? throw new IOException($"{blob.Name} disappeared from {source.Description} during the copy");
                await using (stream.ConfigureAwait(false))
                {
                    await target.PutAsync(blob.Name, stream, cancellationToken).ConfigureAwait(false);
                }

                Copied("data", blob.Name, blob.Length);
            }
        }

        public async Task WriteMutableAsync(IReadOnlyList<(string Name, byte[] Bytes)> blobs, CancellationToken cancellationToken)
        {
            foreach (var (name, bytes) in blobs)
            {
                if (_target.TryGetValue(name, out var length) && length == bytes.Length
                    && await ReadAsync(target, name, cancellationToken).ConfigureAwait(false) is { } current && current.AsSpan().SequenceEqual(bytes))
                {
                    Skipped("metadata");
                    continue;
                }

                await target.PutAsync(name, new MemoryStream(bytes, writable: false), cancellationToken).ConfigureAwait(false);
                Copied("metadata", name, bytes.Length);
            }
        }

        public async Task PruneAsync(Func<string, bool> stale, CancellationToken cancellationToken)
        {
            foreach (var name in _target.Keys.Where(stale).ToList())
            {
                await target.DeleteAsync(name, cancellationToken).ConfigureAwait(false);
                _target.Remove(name);
                _deleted++;
                progress?.Report(new BackupProgress("prune", _done, Total, _bytes));
            }
        }

        public BackupReport Report(BackupKind kind, IReadOnlyList<string> repositories, DateTimeOffset at) =>
            new(kind, repositories, _done, _copied, _skipped, _deleted, _bytes, at);

        private void Skipped(string phase)
        {
            _skipped++;
            progress?.Report(new BackupProgress(phase, ++_done, Total, _bytes));
        }

        private void Copied(string phase, string name, long length)
        {
            _copied++;
            _bytes += length;
            _target[name] = length;
            progress?.Report(new BackupProgress(phase, ++_done, Total, _bytes));
        }
    }
}
