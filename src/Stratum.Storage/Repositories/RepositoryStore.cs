using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Stratum.Storage.Backends;

namespace Stratum.Storage.Repositories;

/// <summary>
/// Versioned repositories (lakeFS semantics) over a <see cref="ChunkStore"/>. Every piece of metadata is a
/// blob on the store's backend (layout in docs/storage.md, "Repositories"), so a copy of the backend is a
/// copy of everything and a fresh process can open it. Content-addressed objects (commits, manifest pages)
/// are written before the ref that makes them visible; the ref write (an atomic put) is the commit point.
/// </summary>
public sealed partial class RepositoryStore
{
    private const string RegistryPrefix = "repositories/";
    private readonly ChunkStore _chunks;
    private readonly IBlobBackend _backend;
    private readonly TimeProvider _clock;
    private readonly RepositoryStoreOptions _options;
    private readonly RepositoryLock _lock;

    public RepositoryStore(ChunkStore chunks, TimeProvider? clock = null, RepositoryStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        options ??= new RepositoryStoreOptions();
        var problems = options.Problems();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid repository options: " + string.Join("; ", problems), nameof(options));
        }

        _chunks = chunks;
        _backend = chunks.Backend;
        _clock = clock ?? TimeProvider.System;
        _options = options;
        _lock = new RepositoryLock(_backend, options.LockTimeout);
    }

    public ChunkStore Chunks => _chunks;

    // ---- repositories ----

    public async Task<RepoResult<RepositoryInfo>> CreateRepositoryAsync(string name, RepositoryKind kind, string createdBy, string defaultBranch = "main", CancellationToken cancellationToken = default)
    {
        if (RepositoryNames.RepositoryProblem(name) is { } problem)
        {
            return RepoResult<RepositoryInfo>.Fail(RepoError.InvalidArgument, problem);
        }

        if (RepositoryNames.RefProblem(defaultBranch) is { } refProblem)
        {
            return RepoResult<RepositoryInfo>.Fail(RepoError.InvalidArgument, refProblem);
        }

        await using (await _lock.AcquireAsync(name, cancellationToken).ConfigureAwait(false))
        {
            if (await _backend.StatAsync(RegistryName(name), cancellationToken).ConfigureAwait(false) is not null)
            {
                return RepoResult<RepositoryInfo>.Fail(RepoError.AlreadyExists, $"repository '{name}' already exists");
            }

            var info = new RepositoryInfo(name, kind, defaultBranch, createdBy, _clock.GetUtcNow());

            // The root commit (empty manifest) first, then the branch, then the registry record that makes
            // the repository visible: a crash leaves at most unreferenced blobs that a retry overwrites.
            var root = await WriteCommitAsync(name, [], new CommitRequest { Message = "Repository created", Author = createdBy }, [], cancellationToken).ConfigureAwait(false);
            await PutJsonAsync(BranchName(name, defaultBranch), w => w.WriteString("commit", root.Id), cancellationToken).ConfigureAwait(false);
            await PutJsonAsync(RegistryName(name), w =>
            {
                w.WriteNumber("format", ManifestFormat.Version);
                w.WriteString("name", info.Name);
                w.WriteString("kind", info.Kind.ToString().ToLowerInvariant());
                w.WriteString("defaultBranch", info.DefaultBranch);
                w.WriteString("createdBy", info.CreatedBy);
                w.WriteString("createdAt", info.CreatedAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
            }, cancellationToken).ConfigureAwait(false);
            return RepoResult<RepositoryInfo>.Ok(info);
        }
    }

    public async Task<RepoResult<RepositoryInfo>> GetRepositoryAsync(string name, CancellationToken cancellationToken = default)
    {
        if (RepositoryNames.RepositoryProblem(name) is { } problem)
        {
            return RepoResult<RepositoryInfo>.Fail(RepoError.InvalidArgument, problem);
        }

        var bytes = await ReadBlobAsync(RegistryName(name), cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return RepoResult<RepositoryInfo>.Fail(RepoError.NotFound, $"repository '{name}' does not exist");
        }

        using var document = JsonDocument.Parse(bytes);
        var root = document.RootElement;
        return RepoResult<RepositoryInfo>.Ok(new RepositoryInfo(
            root.GetProperty("name").GetString()!,
            Enum.Parse<RepositoryKind>(root.GetProperty("kind").GetString()!, ignoreCase: true),
            root.GetProperty("defaultBranch").GetString()!,
            root.GetProperty("createdBy").GetString()!,
            DateTimeOffset.Parse(root.GetProperty("createdAt").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind)));
    }

    public async Task<IReadOnlyList<RepositoryInfo>> ListRepositoriesAsync(CancellationToken cancellationToken = default)
    {
        var found = new List<RepositoryInfo>();
        await foreach (var blob in _backend.ListAsync(RegistryPrefix, cancellationToken).ConfigureAwait(false))
        {
            var name = blob.Name[RegistryPrefix.Length..^".json".Length];
            if (await GetRepositoryAsync(name, cancellationToken).ConfigureAwait(false) is { IsSuccess: true, Value: { } info })
            {
                found.Add(info);
            }
        }

        return found;
    }

    /// <summary>Deletes the repository's record first (it disappears at once), then its refs, commits, manifests and staging. Its chunks go at the next GC.</summary>
    public async Task<RepoResult<bool>> DeleteRepositoryAsync(string name, CancellationToken cancellationToken = default)
    {
        var existing = await GetRepositoryAsync(name, cancellationToken).ConfigureAwait(false);
        if (!existing.IsSuccess)
        {
            return existing.As<bool>();
        }

        await using (await _lock.AcquireAsync(name, cancellationToken).ConfigureAwait(false))
        {
            await _backend.DeleteAsync(RegistryName(name), cancellationToken).ConfigureAwait(false);
            var names = new List<string>();
            await foreach (var blob in _backend.ListAsync(RepoPrefix(name), cancellationToken).ConfigureAwait(false))
            {
                names.Add(blob.Name);
            }

            foreach (var blob in names)
            {
                await _backend.DeleteAsync(blob, cancellationToken).ConfigureAwait(false);
            }
        }

        return RepoResult<bool>.Ok(true);
    }

    // ---- refs ----

    public Task<IReadOnlyList<RefInfo>> ListBranchesAsync(string repository, CancellationToken cancellationToken = default) =>
        ListRefsAsync(repository, "heads", cancellationToken);

    public Task<IReadOnlyList<RefInfo>> ListTagsAsync(string repository, CancellationToken cancellationToken = default) =>
        ListRefsAsync(repository, "tags", cancellationToken);

    /// <summary>Creates a branch at the commit <paramref name="fromRef"/> resolves to (staged changes of a source branch are not copied).</summary>
    public Task<RepoResult<RefInfo>> CreateBranchAsync(string repository, string branch, string fromRef, CancellationToken cancellationToken = default) =>
        CreateRefAsync(repository, "heads", branch, fromRef, cancellationToken);

    /// <summary>Tags are immutable: creating an existing tag is a conflict; delete it first.</summary>
    public Task<RepoResult<RefInfo>> CreateTagAsync(string repository, string tag, string fromRef, CancellationToken cancellationToken = default) =>
        CreateRefAsync(repository, "tags", tag, fromRef, cancellationToken);

    /// <summary>Deletes a branch and its staged changes; the default branch cannot be deleted.</summary>
    public async Task<RepoResult<bool>> DeleteBranchAsync(string repository, string branch, CancellationToken cancellationToken = default)
    {
        var info = await GetRepositoryAsync(repository, cancellationToken).ConfigureAwait(false);
        if (!info.IsSuccess)
        {
            return info.As<bool>();
        }

        if (info.Value!.DefaultBranch == branch)
        {
            return RepoResult<bool>.Fail(RepoError.Conflict, $"'{branch}' is the default branch of '{repository}'");
        }

        await using (await _lock.AcquireAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            if (!await _backend.DeleteAsync(BranchName(repository, branch), cancellationToken).ConfigureAwait(false))
            {
                return RepoResult<bool>.Fail(RepoError.NotFound, $"branch '{branch}' does not exist in '{repository}'");
            }

            await foreach (var staged in _backend.ListAsync(StagingPrefix(repository, branch), cancellationToken).ConfigureAwait(false))
            {
                await _backend.DeleteAsync(staged.Name, cancellationToken).ConfigureAwait(false);
            }
        }

        return RepoResult<bool>.Ok(true);
    }

    public async Task<RepoResult<bool>> DeleteTagAsync(string repository, string tag, CancellationToken cancellationToken = default)
    {
        if (RepositoryNames.RefProblem(tag) is { } problem)
        {
            return RepoResult<bool>.Fail(RepoError.InvalidArgument, problem);
        }

        await using (await _lock.AcquireAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            return await _backend.DeleteAsync(RefName(repository, "tags", tag), cancellationToken).ConfigureAwait(false)
                ? RepoResult<bool>.Ok(true)
                : RepoResult<bool>.Fail(RepoError.NotFound, $"tag '{tag}' does not exist in '{repository}'");
        }
    }

    /// <summary>
    /// Compare-and-swap of a branch: points it at <paramref name="newCommit"/> only if it still points at
    /// <paramref name="expectedCommit"/>; otherwise a <see cref="RepoError.Conflict"/> naming the current head.
    /// </summary>
    public async Task<RepoResult<RefInfo>> UpdateBranchAsync(string repository, string branch, string expectedCommit, string newCommit, CancellationToken cancellationToken = default)
    {
        if (RepositoryNames.RefProblem(branch) is { } problem)
        {
            return RepoResult<RefInfo>.Fail(RepoError.InvalidArgument, problem);
        }

        if (await LoadCommitAsync(repository, newCommit, cancellationToken).ConfigureAwait(false) is null)
        {
            return RepoResult<RefInfo>.Fail(RepoError.NotFound, $"commit '{newCommit}' does not exist in '{repository}'");
        }

        await using (await _lock.AcquireAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            var current = await ReadRefAsync(BranchName(repository, branch), cancellationToken).ConfigureAwait(false);
            if (current is null)
            {
                return RepoResult<RefInfo>.Fail(RepoError.NotFound, $"branch '{branch}' does not exist in '{repository}'");
            }

            if (current != expectedCommit)
            {
                return RepoResult<RefInfo>.Fail(RepoError.Conflict, $"branch '{branch}' is at {current}, not {expectedCommit}");
            }

            await PutJsonAsync(BranchName(repository, branch), w => w.WriteString("commit", newCommit), cancellationToken).ConfigureAwait(false);
            return RepoResult<RefInfo>.Ok(new RefInfo(branch, newCommit));
        }
    }

    /// <summary>
    /// Resolves, in this order: a branch, a tag, a full commit id or a unique prefix of at least 8 hex
    /// digits; any of them followed by <c>~N</c> walks N first parents back.
    /// </summary>
    public async Task<RepoResult<ResolvedRef>> ResolveAsync(string repository, string reference, CancellationToken cancellationToken = default)
    {
        var info = await GetRepositoryAsync(repository, cancellationToken).ConfigureAwait(false);
        if (!info.IsSuccess)
        {
            return info.As<ResolvedRef>();
        }

        var back = 0;
        var tilde = reference.IndexOf('~', StringComparison.Ordinal);
        if (tilde >= 0)
        {
            var count = reference[(tilde + 1)..];
            if (count.Length == 0)
            {
                back = 1;
            }
            else if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out back))
            {
                return RepoResult<ResolvedRef>.Fail(RepoError.InvalidArgument, $"'{reference}': '~' must be followed by a number");
            }

            reference = reference[..tilde];
        }

        string? branch = null;
        string? commitId = null;
        if (RepositoryNames.RefProblem(reference) is null)
        {
            commitId = await ReadRefAsync(BranchName(repository, reference), cancellationToken).ConfigureAwait(false);
            branch = commitId is null ? null : reference;
            commitId ??= await ReadRefAsync(RefName(repository, "tags", reference), cancellationToken).ConfigureAwait(false);
        }

        if (commitId is null && reference.Length is >= 8 and <= 64 && reference.All(char.IsAsciiHexDigitLower))
        {
            var matches = new List<string>();
            await foreach (var blob in _backend.ListAsync(CommitsPrefix(repository) + reference, cancellationToken).ConfigureAwait(false))
            {
                matches.Add(blob.Name[CommitsPrefix(repository).Length..]);
            }

            if (matches.Count > 1)
            {
                return RepoResult<ResolvedRef>.Fail(RepoError.InvalidArgument, $"'{reference}' matches {matches.Count} commits in '{repository}'; give more digits");
            }

            commitId = matches.SingleOrDefault();
        }

        if (commitId is null)
        {
            return RepoResult<ResolvedRef>.Fail(RepoError.NotFound, $"'{reference}' is not a branch, tag or commit of '{repository}'");
        }

        for (var i = 0; i < back; i++)
        {
            var commit = await LoadCommitAsync(repository, commitId, cancellationToken).ConfigureAwait(false);
            if (commit is null || commit.Parents.Count == 0)
            {
                return RepoResult<ResolvedRef>.Fail(RepoError.NotFound, $"'{reference}~{back}' goes past the first commit of '{repository}'");
            }

            commitId = commit.Parents[0];
            branch = null;
        }

        return RepoResult<ResolvedRef>.Ok(new ResolvedRef(repository, commitId, branch));
    }

    /// <summary>The commit with this full id, or null. Throws <see cref="InvalidDataException"/> if its blob does not hash to its id (damage).</summary>
    public async Task<Commit?> LoadCommitAsync(string repository, string id, CancellationToken cancellationToken = default)
    {
        if (id.Length != 64 || !id.All(char.IsAsciiHexDigitLower))
        {
            return null;
        }

        var bytes = await ReadBlobAsync(CommitsPrefix(repository) + id, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        if (ManifestFormat.Hash(bytes) != id)
        {
            throw new InvalidDataException($"commit {id} of repository '{repository}' is damaged: its blob does not hash to its id");
        }

        return ManifestFormat.ReadCommit(id, bytes);
    }

    // ---- helpers shared by the partial files ----

    internal static string RegistryName(string repository) => RegistryPrefix + repository + ".json";

    internal static string RepoPrefix(string repository) => $"repos/{repository}/";

    internal static string CommitsPrefix(string repository) => $"repos/{repository}/commits/";

    internal static string ManifestName(string repository, string pageId) => $"repos/{repository}/manifests/{pageId}";

    internal static string RefName(string repository, string kind, string name) => $"repos/{repository}/refs/{kind}/{name}";

    internal static string BranchName(string repository, string branch) => RefName(repository, "heads", branch);

    internal static string StagingPrefix(string repository, string branch) => $"repos/{repository}/staging/{branch}/";

    /// <summary>A staged entry's blob is named by the SHA-256 of its path, so any path fits and a re-put replaces it.</summary>
    internal static string StagingName(string repository, string branch, string path) =>
        StagingPrefix(repository, branch) + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(path)));

    internal async Task<byte[]?> ReadBlobAsync(string name, CancellationToken cancellationToken)
    {
        var stream = await _backend.OpenReadAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false);
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

    internal async Task PutJsonAsync(string name, Action<Utf8JsonWriter> body, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }

        buffer.Position = 0;
        await _backend.PutAsync(name, buffer, cancellationToken).ConfigureAwait(false);
    }

    internal async Task<string?> ReadRefAsync(string name, CancellationToken cancellationToken)
    {
        var bytes = await ReadBlobAsync(name, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        using var document = JsonDocument.Parse(bytes);
        return document.RootElement.GetProperty("commit").GetString();
    }

    private async Task<IReadOnlyList<RefInfo>> ListRefsAsync(string repository, string kind, CancellationToken cancellationToken)
    {
        var prefix = $"repos/{repository}/refs/{kind}/";
        var refs = new List<RefInfo>();
        await foreach (var blob in _backend.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (await ReadRefAsync(blob.Name, cancellationToken).ConfigureAwait(false) is { } commit)
            {
                refs.Add(new RefInfo(blob.Name[prefix.Length..], commit));
            }
        }

        return refs;
    }

    private async Task<RepoResult<RefInfo>> CreateRefAsync(string repository, string kind, string name, string fromRef, CancellationToken cancellationToken)
    {
        if (RepositoryNames.RefProblem(name) is { } problem)
        {
            return RepoResult<RefInfo>.Fail(RepoError.InvalidArgument, problem);
        }

        var source = await ResolveAsync(repository, fromRef, cancellationToken).ConfigureAwait(false);
        if (!source.IsSuccess)
        {
            return source.As<RefInfo>();
        }

        await using (await _lock.AcquireAsync(repository, cancellationToken).ConfigureAwait(false))
        {
            // A branch and a tag of the same name would make resolution depend on the order above.
            foreach (var existing in new[] { BranchName(repository, name), RefName(repository, "tags", name) })
            {
                if (await _backend.StatAsync(existing, cancellationToken).ConfigureAwait(false) is not null)
                {
                    return RepoResult<RefInfo>.Fail(RepoError.AlreadyExists, $"a branch or tag '{name}' already exists in '{repository}'");
                }
            }

            await PutJsonAsync(RefName(repository, kind, name), w => w.WriteString("commit", source.Value!.CommitId), cancellationToken).ConfigureAwait(false);
            return RepoResult<RefInfo>.Ok(new RefInfo(name, source.Value!.CommitId));
        }
    }
}
