using System.Text.Json;
using Stratum.Storage.Format;

namespace Stratum.Storage.Repositories;

public sealed partial class RepositoryStore
{
    /// <summary>
    /// Stages <paramref name="content"/> at <paramref name="path"/> on <paramref name="branch"/>: visible on
    /// that branch at once, committed by <see cref="CommitAsync"/>. When it returns the content's chunks and
    /// the staged entry are durable (a crash loses no acknowledged write).
    /// </summary>
    /// <remarks>The entry's MD5 is of the whole content (<see cref="ContentMd5Mode.Whole"/>): the ETag S3 gives a single PUT.</remarks>
    public Task<RepoResult<ManifestEntry>> PutObjectAsync(
        string repository,
        string branch,
        string path,
        Stream content,
        string contentType = "application/octet-stream",
        IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellationToken = default) =>
        PutObjectAsync(repository, branch, path, content, ContentMd5Mode.Whole, contentType, metadata, cancellationToken);

    /// <summary>
    /// As above, with the form of the entry's MD5 chosen by the caller: <see cref="ContentMd5Mode.Whole"/> for
    /// S3 single PUTs, <see cref="ContentMd5Mode.Parts"/> for bulk uploads (REST, CLI), where MD5 in one
    /// sequence would cap ingest on any number of cores (docs/storage.md, "The file checksum").
    /// </summary>
    public Task<RepoResult<ManifestEntry>> PutObjectAsync(
        string repository,
        string branch,
        string path,
        Stream content,
        ContentMd5Mode md5,
        string contentType = "application/octet-stream",
        IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellationToken = default) =>
        PutObjectIfAsync(repository, branch, path, content, md5, precondition: null, contentType, metadata, cancellationToken);

    /// <summary>
    /// As above, staged only if <paramref name="precondition"/> accepts the entry the branch shows at that
    /// moment (null: none). It runs under the repository lock, with the staging, so no other write lands
    /// between the check and the write (S3's If-Match and If-None-Match). Refused: nothing is staged and the
    /// result is Conflict; the chunks already written are referenced by nothing, and GC takes them.
    /// </summary>
    public async Task<RepoResult<ManifestEntry>> PutObjectIfAsync(
        string repository,
        string branch,
        string path,
        Stream content,
        ContentMd5Mode md5,
        Func<ManifestEntry?, bool>? precondition,
        string contentType = "application/octet-stream",
        IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (await CheckBranchAsync(repository, branch, path, cancellationToken).ConfigureAwait(false) is { } problem)
        {
            return problem.As<ManifestEntry>();
        }

        var stored = await _chunks.WriteAsync(content, new WriteOptions { Md5 = md5 }, cancellationToken: cancellationToken).ConfigureAwait(false);
        var entry = new ManifestEntry(path, stored, contentType, metadata ?? new Dictionary<string, string>());

        // Under the lock so a concurrent commit either takes this entry or leaves it staged, never drops it.
        await using (await _lock.AcquireAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            if (precondition is not null)
            {
                var head = await ReadRefAsync(BranchName(repository, branch), cancellationToken).ConfigureAwait(false);
                var staged = await ReadStagedAsync(StagingName(repository, branch, path), cancellationToken).ConfigureAwait(false);
                var current = staged is { } s ? s.Entry : await FindInCommitAsync(repository, head!, path, cancellationToken).ConfigureAwait(false);
                if (!precondition(current))
                {
                    return RepoResult<ManifestEntry>.Fail(RepoError.Conflict, $"the precondition on '{path}' of branch '{branch}' of '{repository}' did not hold");
                }
            }

            await PutStagedAsync(repository, branch, path, entry, cancellationToken).ConfigureAwait(false);
        }

        return RepoResult<ManifestEntry>.Ok(entry);
    }

    /// <summary>Stages the removal of <paramref name="path"/> on <paramref name="branch"/>; NotFound when the branch does not show it.</summary>
    public async Task<RepoResult<bool>> DeleteObjectAsync(string repository, string branch, string path, CancellationToken cancellationToken = default)
    {
        if (await CheckBranchAsync(repository, branch, path, cancellationToken).ConfigureAwait(false) is { } problem)
        {
            return problem.As<bool>();
        }

        await using (await _lock.AcquireAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            var head = await ReadRefAsync(BranchName(repository, branch), cancellationToken).ConfigureAwait(false);
            var committed = await FindInCommitAsync(repository, head!, path, cancellationToken).ConfigureAwait(false);
            var staged = await ReadStagedAsync(StagingName(repository, branch, path), cancellationToken).ConfigureAwait(false);
            var visible = staged is { } s ? s.Entry is not null : committed is not null;
            if (!visible)
            {
                return RepoResult<bool>.Fail(RepoError.NotFound, $"'{path}' does not exist on branch '{branch}' of '{repository}'");
            }

            if (committed is null)
            {
                // Only staged: dropping the staged entry is the whole delete.
                await _backend.DeleteAsync(StagingName(repository, branch, path), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await PutStagedAsync(repository, branch, path, null, cancellationToken).ConfigureAwait(false);
            }
        }

        return RepoResult<bool>.Ok(true);
    }

    /// <summary>Drops every staged change of the branch; returns how many there were.</summary>
    public async Task<RepoResult<int>> ResetAsync(string repository, string branch, CancellationToken cancellationToken = default)
    {
        if (await CheckBranchAsync(repository, branch, null, cancellationToken).ConfigureAwait(false) is { } problem)
        {
            return problem.As<int>();
        }

        await using (await _lock.AcquireAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            var names = new List<string>();
            await foreach (var blob in _backend.ListAsync(StagingPrefix(repository, branch), cancellationToken).ConfigureAwait(false))
            {
                names.Add(blob.Name);
            }

            foreach (var name in names)
            {
                await _backend.DeleteAsync(name, cancellationToken).ConfigureAwait(false);
            }

            return RepoResult<int>.Ok(names.Count);
        }
    }

    /// <summary>
    /// Turns the branch's staged changes into one commit. Order: manifest pages, commit blob, then the ref
    /// (an atomic put: the commit point), then the staged entries are removed. A crash before the ref write
    /// leaves the old commit visible and the changes still staged; after it, staged entries equal to the new
    /// commit remain and the next commit finds nothing to do with them.
    /// </summary>
    public async Task<RepoResult<Commit>> CommitAsync(string repository, string branch, CommitRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (await CheckBranchAsync(repository, branch, null, cancellationToken).ConfigureAwait(false) is { } problem)
        {
            return problem.As<Commit>();
        }

        await using (await _lock.AcquireAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            var staged = await LoadStagedAsync(repository, branch, cancellationToken).ConfigureAwait(false);
            if (staged.Count == 0)
            {
                return RepoResult<Commit>.Fail(RepoError.NothingToCommit, $"branch '{branch}' of '{repository}' has no staged changes");
            }

            var result = await CommitLockedAsync(repository, branch, staged, request, cancellationToken).ConfigureAwait(false);
            if (result.IsSuccess || result.Error == RepoError.NothingToCommit)
            {
                foreach (var path in staged.Keys)
                {
                    await _backend.DeleteAsync(StagingName(repository, branch, path), cancellationToken).ConfigureAwait(false);
                }
            }

            return result;
        }
    }

    /// <summary>
    /// Uploads every file under <paramref name="localDirectory"/> to <paramref name="toPrefix"/> and commits
    /// them as one commit (for <c>stratum store put</c>). Other staged changes of the branch stay staged; staged
    /// entries for the uploaded paths are superseded and removed. Files get <see cref="ContentMd5Mode.Parts"/>
    /// MD5s (bulk ingest: plain MD5 up to 8 MiB, S3's multipart form above).
    /// </summary>
    public Task<RepoResult<Commit>> PutDirectoryAsync(
        string repository,
        string branch,
        string localDirectory,
        string toPrefix,
        CommitRequest request,
        IProgress<TransferProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        PutDirectoryAsync(repository, branch, localDirectory, toPrefix, request, ContentMd5Mode.Parts, progress, cancellationToken);

    /// <summary>As above, with the form of each file's MD5 chosen by the caller.</summary>
    public async Task<RepoResult<Commit>> PutDirectoryAsync(
        string repository,
        string branch,
        string localDirectory,
        string toPrefix,
        CommitRequest request,
        ContentMd5Mode md5,
        IProgress<TransferProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!Directory.Exists(localDirectory))
        {
            return RepoResult<Commit>.Fail(RepoError.NotFound, $"local directory '{localDirectory}' does not exist");
        }

        if (await CheckBranchAsync(repository, branch, null, cancellationToken).ConfigureAwait(false) is { } problem)
        {
            return problem.As<Commit>();
        }

        toPrefix = toPrefix.Trim('/');
        var files = Directory.EnumerateFiles(localDirectory, "*", SearchOption.AllDirectories)
            .Select(f => (Local: f, Path: (toPrefix.Length == 0 ? "" : toPrefix + "/") + Path.GetRelativePath(localDirectory, f).Replace(Path.DirectorySeparatorChar, '/')))
            .OrderBy(f => f.Path, StringComparer.Ordinal)
            .ToList();
        foreach (var (_, path) in files)
        {
            if (RepositoryNames.PathProblem(path) is { } pathProblem)
            {
                return RepoResult<Commit>.Fail(RepoError.InvalidArgument, pathProblem);
            }
        }

        var totalBytes = files.Sum(f => new FileInfo(f.Local).Length);
        var changes = new SortedDictionary<string, ManifestEntry?>(StringComparer.Ordinal);
        long bytesDone = 0;
        foreach (var (local, path) in files)
        {
            await using var file = new FileStream(local, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);

            // Small files share packs; one flush below makes them all durable before anything refers to them.
            var stored = await _chunks.WriteAsync(file, new WriteOptions { Flush = false, Md5 = md5 }, cancellationToken: cancellationToken).ConfigureAwait(false);
            changes[path] = new ManifestEntry(path, stored, "application/octet-stream", new Dictionary<string, string>());
            bytesDone += stored.Length;
            progress?.Report(new TransferProgress(changes.Count, files.Count, bytesDone, totalBytes));
        }

        await _chunks.FlushAsync(cancellationToken).ConfigureAwait(false);
        await using (await _lock.AcquireAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            var result = await CommitLockedAsync(repository, branch, changes, request, cancellationToken).ConfigureAwait(false);
            if (result.IsSuccess)
            {
                var staged = await LoadStagedAsync(repository, branch, cancellationToken).ConfigureAwait(false);
                foreach (var path in staged.Keys.Where(changes.ContainsKey))
                {
                    await _backend.DeleteAsync(StagingName(repository, branch, path), cancellationToken).ConfigureAwait(false);
                }
            }

            return result;
        }
    }

    /// <summary>The staged changes of a branch by path: an entry, or null for a staged delete.</summary>
    internal async Task<SortedDictionary<string, ManifestEntry?>> LoadStagedAsync(string repository, string branch, CancellationToken cancellationToken)
    {
        var staged = new SortedDictionary<string, ManifestEntry?>(StringComparer.Ordinal);
        await foreach (var blob in _backend.ListAsync(StagingPrefix(repository, branch), cancellationToken).ConfigureAwait(false))
        {
            if (await ReadStagedAsync(blob.Name, cancellationToken).ConfigureAwait(false) is { } item)
            {
                staged[item.Path] = item.Entry;
            }
        }

        return staged;
    }

    /// <summary>Merges <paramref name="changes"/> into the branch head and moves the branch. The caller holds the lock.</summary>
    private async Task<RepoResult<Commit>> CommitLockedAsync(string repository, string branch, SortedDictionary<string, ManifestEntry?> changes, CommitRequest request, CancellationToken cancellationToken)
    {
        var head = await ReadRefAsync(BranchName(repository, branch), cancellationToken).ConfigureAwait(false);
        if (head is null)
        {
            return RepoResult<Commit>.Fail(RepoError.NotFound, $"branch '{branch}' does not exist in '{repository}'");
        }

        var parent = await LoadCommitAsync(repository, head, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException($"branch '{branch}' of '{repository}' points at missing commit {head}");

        // A streaming merge of two sorted sequences, writing pages as they fill: memory is one page plus the changes.
        var pages = new PageWriter(this, repository, _options.ManifestPageSize);
        var changed = false;
        using var pending = changes.GetEnumerator();
        var hasChange = pending.MoveNext();
        await foreach (var entry in EnumerateCommitAsync(repository, parent, "", null, cancellationToken).ConfigureAwait(false))
        {
            while (hasChange && string.CompareOrdinal(pending.Current.Key, entry.Path) < 0)
            {
                if (pending.Current.Value is { } added)
                {
                    await pages.AddAsync(added, cancellationToken).ConfigureAwait(false);
                    changed = true;
                }

                hasChange = pending.MoveNext();
            }

            if (hasChange && pending.Current.Key == entry.Path)
            {
                var replacement = pending.Current.Value;
                changed |= replacement is null || !SameFile(replacement, entry);
                if (replacement is not null)
                {
                    await pages.AddAsync(replacement, cancellationToken).ConfigureAwait(false);
                }

                hasChange = pending.MoveNext();
                continue;
            }

            await pages.AddAsync(entry, cancellationToken).ConfigureAwait(false);
        }

        for (; hasChange; hasChange = pending.MoveNext())
        {
            if (pending.Current.Value is { } added)
            {
                await pages.AddAsync(added, cancellationToken).ConfigureAwait(false);
                changed = true;
            }
        }

        if (!changed)
        {
            return RepoResult<Commit>.Fail(RepoError.NothingToCommit, $"the staged changes of '{branch}' equal its head commit");
        }

        var manifest = await pages.FinishAsync(cancellationToken).ConfigureAwait(false);
        var commit = await WriteCommitAsync(repository, [head], request, manifest, cancellationToken).ConfigureAwait(false);
        await PutJsonAsync(BranchName(repository, branch), w => w.WriteString("commit", commit.Id), cancellationToken).ConfigureAwait(false);
        return RepoResult<Commit>.Ok(commit);
    }

    private async Task<Commit> WriteCommitAsync(string repository, IReadOnlyList<string> parents, CommitRequest request, IReadOnlyList<ManifestPage> pages, CancellationToken cancellationToken)
    {
        var draft = new Commit("", repository, parents, request.Message, request.Author, _clock.GetUtcNow(), request.Lineage, request.Metadata ?? new Dictionary<string, string>(), pages);
        var bytes = ManifestFormat.WriteCommit(draft);
        var commit = draft with { Id = ManifestFormat.Hash(bytes) };
        await _backend.PutAsync(CommitsPrefix(repository) + commit.Id, new MemoryStream(bytes), cancellationToken).ConfigureAwait(false);
        return commit;
    }

    private static bool SameFile(ManifestEntry a, ManifestEntry b) =>
        a.Sha256 == b.Sha256 && a.Size == b.Size && a.ContentType == b.ContentType &&
        a.Metadata.Count == b.Metadata.Count && a.Metadata.All(p => b.Metadata.TryGetValue(p.Key, out var v) && v == p.Value);

    private async Task PutStagedAsync(string repository, string branch, string path, ManifestEntry? entry, CancellationToken cancellationToken) =>
        await PutJsonAsync(StagingName(repository, branch, path), w =>
        {
            w.WriteNumber("format", ManifestFormat.Version);
            w.WriteString("path", path);
            if (entry is null)
            {
                w.WriteNull("entry");
            }
            else
            {
                w.WritePropertyName("entry");
                ManifestFormat.WriteEntry(w, entry);
            }
        }, cancellationToken).ConfigureAwait(false);

    private async Task<(string Path, ManifestEntry? Entry)?> ReadStagedAsync(string name, CancellationToken cancellationToken)
    {
        var bytes = await ReadBlobAsync(name, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        using var document = JsonDocument.Parse(bytes);
        var root = document.RootElement;
        var entry = root.GetProperty("entry");
        return (root.GetProperty("path").GetString()!, entry.ValueKind == JsonValueKind.Null ? null : ManifestFormat.ReadEntry(entry));
    }

    /// <summary>Null when the repository, the branch and (if given) the path are valid; otherwise why not.</summary>
    private async Task<RepoResult<bool>?> CheckBranchAsync(string repository, string branch, string? path, CancellationToken cancellationToken)
    {
        if (path is not null && RepositoryNames.PathProblem(path) is { } pathProblem)
        {
            return RepoResult<bool>.Fail(RepoError.InvalidArgument, pathProblem);
        }

        if (RepositoryNames.RefProblem(branch) is { } refProblem)
        {
            return RepoResult<bool>.Fail(RepoError.InvalidArgument, refProblem);
        }

        var info = await GetRepositoryAsync(repository, cancellationToken).ConfigureAwait(false);
        if (!info.IsSuccess)
        {
            return info.As<bool>();
        }

        return await _backend.StatAsync(BranchName(repository, branch), cancellationToken).ConfigureAwait(false) is null
            ? RepoResult<bool>.Fail(RepoError.NotFound, $"branch '{branch}' does not exist in '{repository}'")
            : null;
    }

    /// <summary>Collects sorted entries into pages and writes each (content-addressed, skipped if already stored) as it fills.</summary>
    private sealed class PageWriter(RepositoryStore store, string repository, int pageSize)
    {
        private readonly List<ManifestEntry> _current = [];
        private readonly List<ManifestPage> _pages = [];

        public async Task AddAsync(ManifestEntry entry, CancellationToken cancellationToken)
        {
            _current.Add(entry);
            if (_current.Count >= pageSize)
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        public async Task<IReadOnlyList<ManifestPage>> FinishAsync(CancellationToken cancellationToken)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
            return _pages;
        }

        private async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (_current.Count == 0)
            {
                return;
            }

            var bytes = ManifestFormat.WritePage(_current);
            var id = ManifestFormat.Hash(bytes);
            var name = ManifestName(repository, id);
            if (await store._backend.StatAsync(name, cancellationToken).ConfigureAwait(false) is null)
            {
                await store._backend.PutAsync(name, new MemoryStream(bytes), cancellationToken).ConfigureAwait(false);
            }

            _pages.Add(new ManifestPage(id, _current[0].Path, _current[^1].Path, _current.Count, _current.Sum(e => e.Size)));
            _current.Clear();
        }
    }
}
