using System.Runtime.CompilerServices;

namespace Stratum.Storage.Repositories;

public sealed partial class RepositoryStore
{
    /// <summary>
    /// Objects under <paramref name="prefix"/> in path order, after <paramref name="startAfter"/>, at most
    /// <paramref name="limit"/> (objects plus common prefixes, as S3 counts). A branch shows its staged changes.
    /// </summary>
    public async Task<RepoResult<ListResult>> ListAsync(string repository, string reference, string prefix = "", string? delimiter = null, string? startAfter = null, int limit = 1000, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var resolved = await ResolveAsync(repository, reference, cancellationToken).ConfigureAwait(false);
        if (!resolved.IsSuccess)
        {
            return resolved.As<ListResult>();
        }

        var objects = new List<ManifestEntry>();
        var prefixes = new List<string>();
        string? last = null;
        await foreach (var entry in EnumerateAsync(resolved.Value!, prefix, startAfter, cancellationToken).ConfigureAwait(false))
        {
            string? common = null;
            if (!string.IsNullOrEmpty(delimiter))
            {
                var cut = entry.Path.IndexOf(delimiter, prefix.Length, StringComparison.Ordinal);
                common = cut < 0 ? null : entry.Path[..(cut + delimiter.Length)];
            }

            if (common is not null && prefixes.Count > 0 && prefixes[^1] == common)
            {
                continue;
            }

            if (objects.Count + prefixes.Count == limit)
            {
                return RepoResult<ListResult>.Ok(new ListResult(objects, prefixes, true, last));
            }

            if (common is null)
            {
                objects.Add(entry);
                last = entry.Path;
            }
            else
            {
                prefixes.Add(common);

                // Continuing after the prefix's last possible path skips the rest of the "directory".
                last = common + char.MaxValue;
            }
        }

        return RepoResult<ListResult>.Ok(new ListResult(objects, prefixes, false, null));
    }

    /// <summary>The entry at <paramref name="path"/>, NotFound when the ref does not show it.</summary>
    public async Task<RepoResult<ManifestEntry>> StatAsync(string repository, string reference, string path, CancellationToken cancellationToken = default)
    {
        var resolved = await ResolveAsync(repository, reference, cancellationToken).ConfigureAwait(false);
        if (!resolved.IsSuccess)
        {
            return resolved.As<ManifestEntry>();
        }

        var entry = await FindAsync(resolved.Value!, path, cancellationToken).ConfigureAwait(false);
        return entry is null
            ? RepoResult<ManifestEntry>.Fail(RepoError.NotFound, $"'{path}' does not exist at {reference} of '{repository}'")
            : RepoResult<ManifestEntry>.Ok(entry);
    }

    /// <summary>A seekable stream of the file, or of <paramref name="length"/> bytes from <paramref name="offset"/>.</summary>
    public async Task<RepoResult<Stream>> OpenReadAsync(string repository, string reference, string path, long offset = 0, long? length = null, CancellationToken cancellationToken = default)
    {
        var stat = await StatAsync(repository, reference, path, cancellationToken).ConfigureAwait(false);
        if (!stat.IsSuccess)
        {
            return stat.As<Stream>();
        }

        var content = stat.Value!.Content;
        if (offset < 0 || offset > content.Length)
        {
            return RepoResult<Stream>.Fail(RepoError.InvalidArgument, $"offset {offset} is outside '{path}' ({content.Length} bytes)");
        }

        var take = Math.Min(length ?? long.MaxValue, content.Length - offset);
        return RepoResult<Stream>.Ok(_chunks.OpenRead(content, offset, take));
    }

    /// <summary>Ancestors of the ref, newest first (every parent, ordered by time), at most <paramref name="limit"/>.</summary>
    public async Task<RepoResult<IReadOnlyList<Commit>>> LogAsync(string repository, string reference, int limit = 100, CancellationToken cancellationToken = default)
    {
        var resolved = await ResolveAsync(repository, reference, cancellationToken).ConfigureAwait(false);
        if (!resolved.IsSuccess)
        {
            return resolved.As<IReadOnlyList<Commit>>();
        }

        var log = new List<Commit>();
        var seen = new HashSet<string>(StringComparer.Ordinal) { resolved.Value!.CommitId };
        var frontier = new PriorityQueue<Commit, (DateTimeOffset, string)>(Comparer<(DateTimeOffset Time, string Id)>.Create((a, b) =>
            b.Time != a.Time ? b.Time.CompareTo(a.Time) : string.CompareOrdinal(a.Id, b.Id)));
        var start = await LoadCommitAsync(repository, resolved.Value.CommitId, cancellationToken).ConfigureAwait(false);
        if (start is not null)
        {
            frontier.Enqueue(start, (start.Time, start.Id));
        }

        while (log.Count < limit && frontier.TryDequeue(out var commit, out _))
        {
            log.Add(commit);
            foreach (var parentId in commit.Parents.Where(seen.Add))
            {
                if (await LoadCommitAsync(repository, parentId, cancellationToken).ConfigureAwait(false) is { } parent)
                {
                    frontier.Enqueue(parent, (parent.Time, parent.Id));
                }
            }
        }

        return RepoResult<IReadOnlyList<Commit>>.Ok(log);
    }

    /// <summary>Paths that differ from <paramref name="fromRef"/> to <paramref name="toRef"/>, in path order (a merge join of two sorted listings).</summary>
    public async Task<RepoResult<IReadOnlyList<DiffEntry>>> DiffAsync(string repository, string fromRef, string toRef, string prefix = "", CancellationToken cancellationToken = default)
    {
        var from = await ResolveAsync(repository, fromRef, cancellationToken).ConfigureAwait(false);
        var to = await ResolveAsync(repository, toRef, cancellationToken).ConfigureAwait(false);
        if (!from.IsSuccess || !to.IsSuccess)
        {
            return (from.IsSuccess ? to : from).As<IReadOnlyList<DiffEntry>>();
        }

        var diff = new List<DiffEntry>();
        await using var a = EnumerateAsync(from.Value!, prefix, null, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using var b = EnumerateAsync(to.Value!, prefix, null, cancellationToken).GetAsyncEnumerator(cancellationToken);
        var hasA = await a.MoveNextAsync().ConfigureAwait(false);
        var hasB = await b.MoveNextAsync().ConfigureAwait(false);
        while (hasA || hasB)
        {
            var order = !hasA ? 1 : !hasB ? -1 : string.CompareOrdinal(a.Current.Path, b.Current.Path);
            if (order < 0)
            {
                diff.Add(new DiffEntry(a.Current.Path, DiffKind.Removed, a.Current.Size, null));
                hasA = await a.MoveNextAsync().ConfigureAwait(false);
            }
            else if (order > 0)
            {
                diff.Add(new DiffEntry(b.Current.Path, DiffKind.Added, null, b.Current.Size));
                hasB = await b.MoveNextAsync().ConfigureAwait(false);
            }
            else
            {
                if (!SameFile(a.Current, b.Current))
                {
                    diff.Add(new DiffEntry(a.Current.Path, DiffKind.Changed, a.Current.Size, b.Current.Size));
                }

                hasA = await a.MoveNextAsync().ConfigureAwait(false);
                hasB = await b.MoveNextAsync().ConfigureAwait(false);
            }
        }

        return RepoResult<IReadOnlyList<DiffEntry>>.Ok(diff);
    }

    /// <summary>
    /// Writes the files of the ref under <paramref name="prefix"/> into <paramref name="localDirectory"/>,
    /// named relative to the prefix's directory ("train/" → "a.bin", not "train/a.bin"). Each file is written
    /// to a temporary name beside it and renamed, so a reader never sees half a file. Returns the file count.
    /// </summary>
    public async Task<RepoResult<int>> CheckoutAsync(string repository, string reference, string localDirectory, string prefix = "", IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var resolved = await ResolveAsync(repository, reference, cancellationToken).ConfigureAwait(false);
        if (!resolved.IsSuccess)
        {
            return resolved.As<int>();
        }

        var entries = new List<ManifestEntry>();
        await foreach (var entry in EnumerateAsync(resolved.Value!, prefix, null, cancellationToken).ConfigureAwait(false))
        {
            entries.Add(entry);
        }

        var strip = prefix.LastIndexOf('/') + 1;
        var root = Path.GetFullPath(localDirectory);
        var total = entries.Sum(e => e.Size);
        long done = 0;
        var files = 0;
        foreach (var entry in entries)
        {
            // Paths were validated on the way in (no "..", no empty segment), so this stays under root.
            var target = Path.Combine(root, entry.Path[strip..].Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var temporary = Path.Combine(Path.GetDirectoryName(target)!, $".stratum-{Guid.NewGuid():N}.tmp");
            try
            {
                await using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                await using (var input = _chunks.OpenRead(entry.Content))
                {
                    await input.CopyToAsync(output, 1 << 20, cancellationToken).ConfigureAwait(false);
                }

                File.Move(temporary, target, overwrite: true);
            }
            catch
            {
                File.Delete(temporary);
                throw;
            }

            done += entry.Size;
            files++;
            progress?.Report(new TransferProgress(files, entries.Count, done, total));
        }

        return RepoResult<int>.Ok(files);
    }

    /// <summary>The view of a ref: its commit's entries, overlaid by the branch's staged changes when it is a branch.</summary>
    internal async IAsyncEnumerable<ManifestEntry> EnumerateAsync(ResolvedRef view, string prefix, string? startAfter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var commit = await LoadCommitAsync(view.Repository, view.CommitId, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException($"commit {view.CommitId} of '{view.Repository}' is missing");
        var committed = EnumerateCommitAsync(view.Repository, commit, prefix, startAfter, cancellationToken);
        if (view.Branch is null)
        {
            await foreach (var entry in committed.ConfigureAwait(false))
            {
                yield return entry;
            }

            yield break;
        }

        var staged = (await LoadStagedAsync(view.Repository, view.Branch, cancellationToken).ConfigureAwait(false))
            .Where(p => p.Key.StartsWith(prefix, StringComparison.Ordinal) && (startAfter is null || string.CompareOrdinal(p.Key, startAfter) > 0))
            .ToList();
        var next = 0;
        await foreach (var entry in committed.ConfigureAwait(false))
        {
            for (; next < staged.Count && string.CompareOrdinal(staged[next].Key, entry.Path) < 0; next++)
            {
                if (staged[next].Value is { } added)
                {
                    yield return added;
                }
            }

            if (next < staged.Count && staged[next].Key == entry.Path)
            {
                if (staged[next].Value is { } replaced)
                {
                    yield return replaced;
                }

                next++;
                continue;
            }

            yield return entry;
        }

        for (; next < staged.Count; next++)
        {
            if (staged[next].Value is { } added)
            {
                yield return added;
            }
        }
    }

    /// <summary>A commit's entries under a prefix and after a path, loading only the pages that can hold them.</summary>
    internal async IAsyncEnumerable<ManifestEntry> EnumerateCommitAsync(string repository, Commit commit, string prefix, string? startAfter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var page in commit.Pages)
        {
            if (string.CompareOrdinal(page.LastPath, prefix) < 0 || (startAfter is not null && string.CompareOrdinal(page.LastPath, startAfter) <= 0))
            {
                continue;
            }

            if (string.CompareOrdinal(page.FirstPath, prefix) > 0 && !page.FirstPath.StartsWith(prefix, StringComparison.Ordinal))
            {
                yield break;
            }

            foreach (var entry in await LoadPageAsync(repository, page.Id, cancellationToken).ConfigureAwait(false))
            {
                if (startAfter is not null && string.CompareOrdinal(entry.Path, startAfter) <= 0)
                {
                    continue;
                }

                if (entry.Path.StartsWith(prefix, StringComparison.Ordinal))
                {
                    yield return entry;
                }
                else if (string.CompareOrdinal(entry.Path, prefix) > 0)
                {
                    yield break;
                }
            }
        }
    }

    internal async Task<List<ManifestEntry>> LoadPageAsync(string repository, string pageId, CancellationToken cancellationToken)
    {
        var bytes = await ReadBlobAsync(ManifestName(repository, pageId), cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException($"manifest page {pageId} of repository '{repository}' is missing");
        if (ManifestFormat.Hash(bytes) != pageId)
        {
            throw new InvalidDataException($"manifest page {pageId} of repository '{repository}' is damaged: it does not hash to its id");
        }

        return ManifestFormat.ReadPage(bytes);
    }

    internal async Task<ManifestEntry?> FindInCommitAsync(string repository, string commitId, string path, CancellationToken cancellationToken)
    {
        var commit = await LoadCommitAsync(repository, commitId, cancellationToken).ConfigureAwait(false);
        if (commit is null)
        {
            return null;
        }

        // Pages are sorted and disjoint: binary search for the one whose range holds the path.
        var pages = commit.Pages;
        int low = 0, high = pages.Count - 1;
        while (low <= high)
        {
            var middle = (low + high) / 2;
            if (string.CompareOrdinal(pages[middle].LastPath, path) < 0)
            {
                low = middle + 1;
            }
            else if (string.CompareOrdinal(pages[middle].FirstPath, path) > 0)
            {
                high = middle - 1;
            }
            else
            {
                var entries = await LoadPageAsync(repository, pages[middle].Id, cancellationToken).ConfigureAwait(false);
                return entries.Find(e => e.Path == path);
            }
        }

        return null;
    }

    private async Task<ManifestEntry?> FindAsync(ResolvedRef view, string path, CancellationToken cancellationToken)
    {
        if (view.Branch is not null && await ReadStagedAsync(StagingName(view.Repository, view.Branch, path), cancellationToken).ConfigureAwait(false) is { } staged)
        {
            return staged.Entry;
        }

        return await FindInCommitAsync(view.Repository, view.CommitId, path, cancellationToken).ConfigureAwait(false);
    }
}
