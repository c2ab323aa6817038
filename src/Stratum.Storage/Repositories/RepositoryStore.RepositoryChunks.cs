namespace Stratum.Storage.Repositories;

public sealed partial class RepositoryStore
{
    /// <summary>
    /// The chunks one repository needs: files of its live commits (as in <see cref="LiveChunksAsync(CancellationToken)"/>)
    /// and its staged entries. Tier placement and repository backups work per repository with it.
    /// </summary>
    public async Task<RepoResult<HashSet<ChunkId>>> RepositoryChunksAsync(string repository, CancellationToken cancellationToken = default)
    {
        var info = await GetRepositoryAsync(repository, cancellationToken).ConfigureAwait(false);
        if (!info.IsSuccess)
        {
            return info.As<HashSet<ChunkId>>();
        }

        var chunks = new HashSet<ChunkId>();
        await foreach (var entry in LiveEntriesAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            chunks.UnionWith(entry.Entry.Content.Chunks.Select(c => c.Id));
        }

        return RepoResult<HashSet<ChunkId>>.Ok(chunks);
    }
}
