using System.Globalization;
using System.Text.Json;

namespace Stratum.Storage.Repositories;

public sealed partial class RepositoryStore
{
    /// <summary>
    /// Marks which commits on <paramref name="branch"/>'s first-parent chain keep their content: the newest
    /// <see cref="RetentionPolicy.KeepLast"/> and the best <see cref="RetentionPolicy.KeepBest"/> by the metric
    /// in commit metadata. Nothing moves; the marks go to <c>repos/NAME/retention/BRANCH.json</c>. A dropped
    /// commit stays in the history (log, parents), but <see cref="LiveChunksAsync"/> no longer counts its
    /// files, so the next GC frees chunks no kept commit shares; a ref pointing straight at a commit always keeps it.
    /// </summary>
    public async Task<RepoResult<RetentionResult>> ApplyRetentionAsync(string repository, RetentionPolicy policy, string? branch = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var info = await GetRepositoryAsync(repository, cancellationToken).ConfigureAwait(false);
        if (!info.IsSuccess)
        {
            return info.As<RetentionResult>();
        }

        if (info.Value!.Kind != RepositoryKind.Checkpoints)
        {
            return RepoResult<RetentionResult>.Fail(RepoError.InvalidArgument, $"retention applies to checkpoints repositories; '{repository}' is a {info.Value.Kind.ToString().ToLowerInvariant()} repository");
        }

        if (policy.KeepLast < 1 || policy.KeepBest < 0 || (policy.KeepBest > 0 && string.IsNullOrEmpty(policy.Metric)))
        {
            return RepoResult<RetentionResult>.Fail(RepoError.InvalidArgument, "retention needs keepLast >= 1, keepBest >= 0 and a metric name when keepBest > 0");
        }

        branch ??= info.Value.DefaultBranch;
        await using (await _lock.AcquireAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            var head = await ReadRefAsync(BranchName(repository, branch), cancellationToken).ConfigureAwait(false);
            if (head is null)
            {
                return RepoResult<RetentionResult>.Fail(RepoError.NotFound, $"branch '{branch}' does not exist in '{repository}'");
            }

            var chain = new List<Commit>();
            for (var id = head; id is not null;)
            {
                var commit = await LoadCommitAsync(repository, id, cancellationToken).ConfigureAwait(false);
                if (commit is null)
                {
                    break;
                }

                chain.Add(commit);
                id = commit.Parents.Count > 0 ? commit.Parents[0] : null;
            }

            var kept = chain.Take(policy.KeepLast).Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
            if (policy.KeepBest > 0)
            {
                var scored = chain
                    .Select(c => (c.Id, Score: c.Metadata.TryGetValue(policy.Metric!, out var v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && !double.IsNaN(d) ? d : (double?)null))
                    .Where(s => s.Score is not null);
                var best = policy.LowerIsBetter ? scored.OrderBy(s => s.Score) : scored.OrderByDescending(s => s.Score);
                kept.UnionWith(best.Take(policy.KeepBest).Select(s => s.Id));
            }

            var result = new RetentionResult(
                branch,
                [.. chain.Where(c => kept.Contains(c.Id)).Select(c => c.Id)],
                [.. chain.Where(c => !kept.Contains(c.Id)).Select(c => c.Id)],
                _clock.GetUtcNow());
            await PutJsonAsync($"repos/{repository}/retention/{branch}.json", w =>
            {
                w.WriteString("branch", result.Branch);
                w.WriteString("appliedAt", result.AppliedAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
                w.WriteStartArray("kept");
                result.Kept.ToList().ForEach(w.WriteStringValue);
                w.WriteEndArray();
                w.WriteStartArray("dropped");
                result.Dropped.ToList().ForEach(w.WriteStringValue);
                w.WriteEndArray();
            }, cancellationToken).ConfigureAwait(false);
            return RepoResult<RetentionResult>.Ok(result);
        }
    }

    /// <summary>
    /// Every chunk that must survive garbage collection: the files of every commit reachable from any branch
    /// or tag of any repository (less commits retention dropped), and every staged entry. Pass it to
    /// <see cref="ChunkStore.CollectGarbageAsync"/>; content written but not yet staged is protected by the
    /// store's grace period.
    /// </summary>
    public async Task<HashSet<ChunkId>> LiveChunksAsync(CancellationToken cancellationToken = default)
    {
        var live = new HashSet<ChunkId>();
        foreach (var repository in await ListRepositoriesAsync(cancellationToken).ConfigureAwait(false))
        {
            await foreach (var entry in LiveEntriesAsync(repository.Name, cancellationToken).ConfigureAwait(false))
            {
                live.UnionWith(entry.Entry.Content.Chunks.Select(c => c.Id));
            }
        }

        return live;
    }

    /// <summary>
    /// Verifies every chunk (<see cref="ChunkStore.VerifyAsync"/>), then names each file of each commit (or
    /// staged entry) that uses a damaged chunk, each live file whose chunk is missing from the store, and each
    /// commit or manifest page that is missing or does not hash to its id.
    /// </summary>
    public async Task<RepositoryVerifyReport> VerifyAsync(IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var chunkReport = await _chunks.VerifyAsync(progress, cancellationToken).ConfigureAwait(false);
        var damagedChunks = new Dictionary<ChunkId, string>();
        foreach (var damaged in chunkReport.Damaged)
        {
            damagedChunks.TryAdd(damaged.Id, $"{damaged.Reason} (pack {damaged.Pack}, offset {damaged.Offset})");
        }

        var files = new List<DamagedFile>();
        var metadata = new List<string>();
        long commits = 0;
        foreach (var repository in await ListRepositoriesAsync(cancellationToken).ConfigureAwait(false))
        {
            var name = repository.Name;
            var liveCommits = await LiveCommitsAsync(name, cancellationToken, tolerateDamage: true).ConfigureAwait(false);
            var prefix = CommitsPrefix(name);
            var ids = new List<string>();
            await foreach (var blob in _backend.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
            {
                ids.Add(blob.Name[prefix.Length..]);
            }

            foreach (var id in ids)
            {
                commits++;
                Commit? commit;
                try
                {
                    commit = await LoadCommitAsync(name, id, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is InvalidDataException or JsonException or KeyNotFoundException)
                {
                    metadata.Add($"{name}: commit {id}: {e.Message}");
                    continue;
                }

                foreach (var page in commit!.Pages)
                {
                    List<ManifestEntry> entries;
                    try
                    {
                        entries = await LoadPageAsync(name, page.Id, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is InvalidDataException or JsonException or KeyNotFoundException)
                    {
                        metadata.Add($"{name}: commit {id}: manifest page {page.Id} ({page.FirstPath} .. {page.LastPath}): {e.Message}");
                        continue;
                    }

                    foreach (var entry in entries)
                    {
                        CheckFile(name, id, entry, liveCommits.Contains(id));
                    }
                }
            }

            await foreach (var (branch, entry) in StagedEntriesAsync(name, cancellationToken).ConfigureAwait(false))
            {
                CheckFile(name, "staged:" + branch, entry, checkMissing: true);
            }
        }

        return new RepositoryVerifyReport(chunkReport, files, metadata, commits);

        void CheckFile(string repository, string commit, ManifestEntry entry, bool checkMissing)
        {
            foreach (var chunk in entry.Content.Chunks)
            {
                if (damagedChunks.TryGetValue(chunk.Id, out var reason))
                {
                    files.Add(new DamagedFile(repository, commit, entry.Path, chunk.Id, reason));
                }
                else if (checkMissing && !_chunks.Contains(chunk.Id))
                {
                    files.Add(new DamagedFile(repository, commit, entry.Path, chunk.Id, "the chunk is not in the store"));
                }
            }
        }
    }

    /// <summary>Logical bytes (files at the default branch's head; summed over every live commit) against the stored size of the unique chunks they use.</summary>
    public async Task<RepoResult<DiskUsage>> DiskUsageAsync(string repository, CancellationToken cancellationToken = default)
    {
        var info = await GetRepositoryAsync(repository, cancellationToken).ConfigureAwait(false);
        if (!info.IsSuccess)
        {
            return info.As<DiskUsage>();
        }

        var head = await ReadRefAsync(BranchName(repository, info.Value!.DefaultBranch), cancellationToken).ConfigureAwait(false);
        var headCommit = head is null ? null : await LoadCommitAsync(repository, head, cancellationToken).ConfigureAwait(false);
        var liveCommits = await LiveCommitsAsync(repository, cancellationToken).ConfigureAwait(false);
        long allCommits = 0;
        foreach (var id in liveCommits)
        {
            allCommits += (await LoadCommitAsync(repository, id, cancellationToken).ConfigureAwait(false))?.TotalBytes ?? 0;
        }

        var chunks = new HashSet<ChunkId>();
        await foreach (var entry in LiveEntriesAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            chunks.UnionWith(entry.Entry.Content.Chunks.Select(c => c.Id));
        }

        long stored = 0;
        foreach (var chunk in chunks)
        {
            if (_chunks.TryLocate(chunk, out var location))
            {
                stored += location.RecordLength;
            }
        }

        return RepoResult<DiskUsage>.Ok(new DiskUsage(repository, headCommit?.TotalBytes ?? 0, allCommits, stored, chunks.Count, liveCommits.Count, headCommit?.FileCount ?? 0));
    }

    /// <summary>Commits whose files must be kept: reachable from a branch or tag, not dropped by retention unless a ref points at them.</summary>
    /// <remarks>
    /// A damaged commit throws (garbage collection must not guess which chunks it needs) unless
    /// <paramref name="tolerateDamage"/> is set, as verify does, which reports it separately.
    /// </remarks>
    internal async Task<HashSet<string>> LiveCommitsAsync(string repository, CancellationToken cancellationToken, bool tolerateDamage = false)
    {
        var dropped = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var blob in _backend.ListAsync($"repos/{repository}/retention/", cancellationToken).ConfigureAwait(false))
        {
            if (await ReadBlobAsync(blob.Name, cancellationToken).ConfigureAwait(false) is { } bytes)
            {
                using var document = JsonDocument.Parse(bytes);
                dropped.UnionWith(document.RootElement.GetProperty("dropped").EnumerateArray().Select(e => e.GetString()!));
            }
        }

        var refs = (await ListBranchesAsync(repository, cancellationToken).ConfigureAwait(false))
            .Concat(await ListTagsAsync(repository, cancellationToken).ConfigureAwait(false))
            .Select(r => r.CommitId)
            .ToHashSet(StringComparer.Ordinal);
        var live = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(refs, StringComparer.Ordinal);
        var queue = new Queue<string>(refs);
        while (queue.TryDequeue(out var id))
        {
            if (!dropped.Contains(id) || refs.Contains(id))
            {
                live.Add(id);
            }

            // Walk on through dropped commits: older kept ones lie behind them.
            Commit? commit;
            try
            {
                commit = await LoadCommitAsync(repository, id, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidDataException) when (tolerateDamage)
            {
                continue;
            }

            foreach (var parent in commit?.Parents ?? [])
            {
                if (seen.Add(parent))
                {
                    queue.Enqueue(parent);
                }
            }
        }

        return live;
    }

    /// <summary>Every file of every live commit (each manifest page read once) and every staged entry of the repository.</summary>
    private async IAsyncEnumerable<(string Where, ManifestEntry Entry)> LiveEntriesAsync(string repository, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var pages = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in await LiveCommitsAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            var commit = await LoadCommitAsync(repository, id, cancellationToken).ConfigureAwait(false);
            foreach (var page in commit?.Pages ?? [])
            {
                if (pages.Add(page.Id))
                {
                    foreach (var entry in await LoadPageAsync(repository, page.Id, cancellationToken).ConfigureAwait(false))
                    {
                        yield return (id, entry);
                    }
                }
            }
        }

        await foreach (var (branch, entry) in StagedEntriesAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            yield return ("staged:" + branch, entry);
        }
    }

    private async IAsyncEnumerable<(string Branch, ManifestEntry Entry)> StagedEntriesAsync(string repository, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var prefix = $"repos/{repository}/staging/";
        var names = new List<string>();
        await foreach (var blob in _backend.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            names.Add(blob.Name);
        }

        foreach (var name in names)
        {
            if (await ReadStagedAsync(name, cancellationToken).ConfigureAwait(false) is { Entry: { } entry })
            {
                yield return (name[prefix.Length..name.IndexOf('/', prefix.Length)], entry);
            }
        }
    }
}
