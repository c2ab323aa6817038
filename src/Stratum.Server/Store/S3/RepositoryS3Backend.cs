using System.Globalization;
using System.Runtime.CompilerServices;
using Stratum.Core.Access;
using Stratum.Persistence;
using Stratum.S3;
using Stratum.S3.Backend;
using Stratum.Storage.Format;
using Stratum.Storage.Repositories;

namespace Stratum.Server.Store.S3;

/// <summary>
/// Decides whether a user may write to a repository (stage, delete, delete the bucket). Reading needs
/// only an authenticated user.
/// </summary>
public delegate Task<bool> S3WriteRule(User user, RepositoryInfo repository, CancellationToken cancellationToken);

/// <summary>
/// Versioned repositories behind the S3 protocol: bucket = repository, first key segment = branch, tag or
/// commit id (<c>s3://datasets/main/train/part-0.parquet</c>). Reads resolve the ref; writes stage changes
/// on a branch (visible on that branch at once, a version after a commit); a write through a tag or a
/// commit is <c>AccessDenied</c>. Listing the bucket root shows the branches as folders.
/// Multipart parts wait as files under the uploads directory and are streamed, concatenated, into the
/// repository on completion; the endpoint's <c>MD5-of-MD5s-N</c> ETag is kept in the entry's metadata.
/// </summary>
public sealed class RepositoryS3Backend : IS3Backend
{
    /// <summary>Entry metadata the endpoint keeps for itself. Names hold ':', which no x-amz-meta-* header name can.</summary>
    public const string ETagMetadata = "s3:etag";

    public const string LastModifiedMetadata = "s3:last-modified";

    private const int ListPageSize = 1000;

    private readonly RepositoryStore _repositories;
    private readonly IMetadataStore _metadata;
    private readonly S3UploadArea _uploads;
    private readonly S3WriteRule _mayWrite;
    private readonly TimeProvider _time;

    /// <summary>
    /// <paramref name="uploadsDirectory"/> holds multipart uploads in progress. <paramref name="mayWrite"/> says who
    /// may write besides admins (the server passes the REST API's rule: members of the repository's project);
    /// without one, admins and the repository's creator may.
    /// </summary>
    public RepositoryS3Backend(RepositoryStore repositories, IMetadataStore metadata, string uploadsDirectory, TimeProvider time, S3WriteRule? mayWrite = null)
    {
        _repositories = repositories;
        _metadata = metadata;
        _uploads = new S3UploadArea(uploadsDirectory);
        _time = time;
        _mayWrite = mayWrite is null
            ? (user, repository, _) => Task.FromResult(user.IsAdmin || repository.CreatedBy == user.Name)
            : async (user, repository, ct) => user.IsAdmin || await mayWrite(user, repository, ct);
    }

    public async IAsyncEnumerable<S3BucketInfo> ListBucketsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var repository in await _repositories.ListRepositoriesAsync(cancellationToken))
        {
            yield return new S3BucketInfo(repository.Name, repository.CreatedAt);
        }
    }

    /// <summary>A new bucket is a <c>dataset</c> repository with branch main. Admins only, as in the REST API.</summary>
    public async Task<S3Status> CreateBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        var user = await CallerAsync(cancellationToken);
        if (!user.IsAdmin)
        {
            throw new S3ProtocolException(S3Errors.AccessDenied.WithMessage($"Only admins create repositories; '{user.Name}' is not one (stratum store create NAME --project P)."));
        }

        if (RepositoryNames.RepositoryProblem(bucket) is { } problem)
        {
            throw new S3ProtocolException(S3Errors.InvalidBucketName.WithMessage($"{problem} (buckets are repositories)"));
        }

        var created = await _repositories.CreateRepositoryAsync(bucket, RepositoryKind.Dataset, user.Name, cancellationToken: cancellationToken);
        return created.Error switch
        {
            RepoError.None => S3Status.Ok,
            RepoError.AlreadyExists => S3Status.BucketAlreadyExists,
            _ => throw Fail(created.Error, created.Message),
        };
    }

    public async Task<S3Outcome<S3BucketInfo>> HeadBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        var info = await _repositories.GetRepositoryAsync(bucket, cancellationToken);
        return info.IsSuccess ? new S3BucketInfo(info.Value!.Name, info.Value.CreatedAt) : S3Status.NoSuchBucket;
    }

    /// <summary>Only when no branch and no tag shows a file, and by a writer: history is never dropped by accident.</summary>
    public async Task<S3Status> DeleteBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        var info = await _repositories.GetRepositoryAsync(bucket, cancellationToken);
        if (!info.IsSuccess)
        {
            return S3Status.NoSuchBucket;
        }

        await RequireWriterAsync(info.Value!, cancellationToken);
        var refs = (await _repositories.ListBranchesAsync(bucket, cancellationToken)).Concat(await _repositories.ListTagsAsync(bucket, cancellationToken));
        foreach (var reference in refs)
        {
            var listed = await _repositories.ListAsync(bucket, reference.Name, limit: 1, cancellationToken: cancellationToken);
            if (listed.IsSuccess && listed.Value!.Objects.Count > 0)
            {
                return S3Status.BucketNotEmpty;
            }
        }

        var deleted = await _repositories.DeleteRepositoryAsync(bucket, cancellationToken);
        return deleted.IsSuccess ? S3Status.Ok : deleted.Error == RepoError.NotFound ? S3Status.NoSuchBucket : throw Fail(deleted.Error, deleted.Message);
    }

    public async Task<S3Outcome<S3ObjectInfo>> PutObjectAsync(string bucket, string key, Stream body, S3ObjectWrite write, S3WriteCondition? condition, CancellationToken cancellationToken)
    {
        var target = await WritableAsync(bucket, key, cancellationToken);
        if (!target.IsOk)
        {
            return target.Status;
        }

        var (branch, path) = target.Value;
        return await StageAsync(bucket, branch, path, key, body, write, etag: null, condition, cancellationToken);
    }

    public async Task<S3Outcome<S3ObjectInfo>> HeadObjectAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        var found = await FindAsync(bucket, key, cancellationToken);
        return found.IsOk ? await ToInfoAsync(bucket, found.Value.Reference, key, found.Value.Entry, cancellationToken) : found.Status;
    }

    public async Task<S3Outcome<S3ObjectContent>> GetObjectAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        var found = await FindAsync(bucket, key, cancellationToken);
        if (!found.IsOk)
        {
            return found.Status;
        }

        // The entry's chunk list pins this version: a write staged after this point does not change the bytes served.
        var entry = found.Value.Entry;
        var info = await ToInfoAsync(bucket, found.Value.Reference, key, entry, cancellationToken);
        return new S3ObjectContent(info, _repositories.Chunks.OpenRead(entry.Content));
    }

    public async Task<S3Status> DeleteObjectAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        var target = await WritableAsync(bucket, key, cancellationToken);
        if (!target.IsOk)
        {
            return target.Status;
        }

        var (branch, path) = target.Value;
        var deleted = await _repositories.DeleteObjectAsync(bucket, branch, path, cancellationToken);
        return deleted.Error is RepoError.None or RepoError.NotFound ? S3Status.Ok : throw Fail(deleted.Error, deleted.Message);
    }

    public async Task<S3Outcome<S3ObjectInfo>> CopyObjectAsync(string sourceBucket, string sourceKey, string bucket, string key, S3ObjectWrite? replace, S3WriteCondition? condition, CancellationToken cancellationToken)
    {
        var target = await WritableAsync(bucket, key, cancellationToken);
        if (!target.IsOk)
        {
            return target.Status;
        }

        var source = await GetObjectAsync(sourceBucket, sourceKey, cancellationToken);
        if (!source.IsOk)
        {
            return source.Status;
        }

        await using var content = source.Value!;
        var write = replace ?? new S3ObjectWrite(content.Info.ContentType, content.Info.Metadata);

        // The copy's bytes are the source's, so a multipart source's ETag carries over (as S3 does).
        var etag = replace is null && content.Info.ETag.Contains('-', StringComparison.Ordinal) ? content.Info.ETag : null;
        var (branch, path) = target.Value;
        return await StageAsync(bucket, branch, path, key, content.Data, write, etag, condition, cancellationToken);
    }

    /// <summary>
    /// Keys in order. At the bucket root with delimiter '/', one marker key "BRANCH/" per branch (the
    /// endpoint folds it into the common prefix and never shows it); under a ref, the repository's own
    /// listing, which skips a whole folder when the request has a delimiter.
    /// </summary>
    public async IAsyncEnumerable<S3ObjectInfo> ListObjectsAsync(string bucket, string prefix, string? startAfter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var delimiter = S3CallScope.Current?.Delimiter;
        var slash = prefix.IndexOf('/', StringComparison.Ordinal);
        IEnumerable<string> references;
        if (slash >= 0)
        {
            references = [prefix[..slash]];
        }
        else
        {
            references = (await _repositories.ListBranchesAsync(bucket, cancellationToken))
                .Select(b => b.Name)
                .Where(name => name.StartsWith(prefix, StringComparison.Ordinal))

                // In key order: "a-b/x" sorts before "a/x" although branch "a" sorts before "a-b".
                .OrderBy(name => name + "/", StringComparer.Ordinal);
        }

        foreach (var reference in references)
        {
            var refPrefix = reference + "/";
            if (startAfter is not null && string.CompareOrdinal(startAfter, refPrefix) >= 0 && !startAfter.StartsWith(refPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            if (slash < 0 && delimiter == "/")
            {
                yield return new S3ObjectInfo(refPrefix, 0, string.Empty, _time.GetUtcNow(), string.Empty, new Dictionary<string, string>());
                continue;
            }

            var pathPrefix = slash >= 0 ? prefix[(slash + 1)..] : string.Empty;
            var after = startAfter is not null && startAfter.StartsWith(refPrefix, StringComparison.Ordinal) && startAfter.Length > refPrefix.Length
                ? startAfter[refPrefix.Length..]
                : null;

            // A delimiter inside the ref lets the repository skip folders instead of listing every file in them.
            var innerDelimiter = delimiter is not null && slash >= 0 ? delimiter : null;
            DateTimeOffset? commitTime = null;
            while (true)
            {
                var page = await _repositories.ListAsync(bucket, reference, pathPrefix, innerDelimiter, after, ListPageSize, cancellationToken);
                if (!page.IsSuccess)
                {
                    break;
                }

                var listed = page.Value!;
                var items = listed.Objects.Select(e => (Path: e.Path, Entry: (ManifestEntry?)e))
                    .Concat(listed.CommonPrefixes.Select(p => (Path: p, Entry: (ManifestEntry?)null)))
                    .OrderBy(i => i.Path, StringComparer.Ordinal);
                foreach (var (path, entry) in items)
                {
                    if (entry is null)
                    {
                        yield return new S3ObjectInfo(refPrefix + path, 0, string.Empty, _time.GetUtcNow(), string.Empty, new Dictionary<string, string>());
                        continue;
                    }

                    if (!entry.Metadata.ContainsKey(LastModifiedMetadata))
                    {
                        commitTime ??= await CommitTimeAsync(bucket, reference, cancellationToken);
                    }

                    yield return Describe(refPrefix + path, entry, commitTime ?? default);
                }

                if (!listed.IsTruncated || listed.NextStartAfter is null)
                {
                    break;
                }

                after = listed.NextStartAfter;
            }
        }
    }

    public async Task<S3Outcome<string>> CreateMultipartUploadAsync(string bucket, string key, S3ObjectWrite write, CancellationToken cancellationToken)
    {
        var target = await WritableAsync(bucket, key, cancellationToken);
        return target.IsOk ? await _uploads.CreateAsync(bucket, key, write, _time.GetUtcNow(), cancellationToken) : target.Status;
    }

    public async Task<S3Outcome<S3PartInfo>> UploadPartAsync(string bucket, string key, string uploadId, int partNumber, Stream body, CancellationToken cancellationToken)
    {
        await CallerAsync(cancellationToken);
        if (await _uploads.FindAsync(bucket, key, uploadId, cancellationToken) is not { } upload)
        {
            return await BucketOr(bucket, S3Status.NoSuchUpload, cancellationToken);
        }

        return await _uploads.WritePartAsync(upload, partNumber, body, _time.GetUtcNow(), cancellationToken);
    }

    public async Task<S3Outcome<IReadOnlyList<S3PartInfo>>> ListPartsAsync(string bucket, string key, string uploadId, CancellationToken cancellationToken)
    {
        if (await _uploads.FindAsync(bucket, key, uploadId, cancellationToken) is not { } upload)
        {
            return await BucketOr(bucket, S3Status.NoSuchUpload, cancellationToken);
        }

        return new S3Outcome<IReadOnlyList<S3PartInfo>>(S3Status.Ok, _uploads.ListParts(upload));
    }

    public async Task<S3Outcome<S3ObjectInfo>> CompleteMultipartUploadAsync(string bucket, string key, string uploadId, IReadOnlyList<int> partNumbers, string etag, S3WriteCondition? condition, CancellationToken cancellationToken)
    {
        var target = await WritableAsync(bucket, key, cancellationToken);
        if (!target.IsOk)
        {
            return target.Status;
        }

        if (await _uploads.FindAsync(bucket, key, uploadId, cancellationToken) is not { } upload)
        {
            return S3Status.NoSuchUpload;
        }

        var (branch, path) = target.Value;
        S3Outcome<S3ObjectInfo> stored;
        await using (var concatenated = _uploads.OpenConcatenated(upload, partNumbers))
        {
            stored = await StageAsync(bucket, branch, path, key, concatenated, new S3ObjectWrite(upload.ContentType, upload.Metadata), etag, condition, cancellationToken);
        }

        // Only once the object is staged (durably) do the parts go: a failure above (or a precondition that
        // did not hold) leaves the upload to retry or abort.
        if (stored.IsOk)
        {
            _uploads.Delete(upload);
        }

        return stored;
    }

    public async Task<S3Status> AbortMultipartUploadAsync(string bucket, string key, string uploadId, CancellationToken cancellationToken)
    {
        await CallerAsync(cancellationToken);
        if (await _uploads.FindAsync(bucket, key, uploadId, cancellationToken) is not { } upload)
        {
            return await BucketOr(bucket, S3Status.NoSuchUpload, cancellationToken);
        }

        _uploads.Delete(upload);
        return S3Status.Ok;
    }

    public async Task<S3Outcome<IReadOnlyList<S3UploadInfo>>> ListMultipartUploadsAsync(string bucket, string prefix, CancellationToken cancellationToken)
    {
        if (!(await _repositories.GetRepositoryAsync(bucket, cancellationToken)).IsSuccess)
        {
            return S3Status.NoSuchBucket;
        }

        return new S3Outcome<IReadOnlyList<S3UploadInfo>>(S3Status.Ok, await _uploads.ListAsync(bucket, prefix, cancellationToken));
    }

    private async Task<S3Outcome<S3ObjectInfo>> StageAsync(
        string bucket, string branch, string path, string key, Stream body, S3ObjectWrite write, string? etag, S3WriteCondition? condition, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in write.Metadata)
        {
            if (!name.StartsWith("s3:", StringComparison.Ordinal))
            {
                metadata[name] = value;
            }
        }

        metadata[LastModifiedMetadata] = now.ToString("O", CultureInfo.InvariantCulture);
        if (etag is not null)
        {
            metadata[ETagMetadata] = etag;
        }

        // The repository evaluates the condition under its lock, against the entry the branch shows then.
        var refused = S3Status.Ok;
        Func<ManifestEntry?, bool>? precondition = condition is null
            ? null
            : current =>
            {
                refused = condition.Check(current is null ? null : Describe(key, current, default).ETag);
                return refused == S3Status.Ok;
            };
        var put = await _repositories.PutObjectIfAsync(bucket, branch, path, body, ContentMd5Mode.Whole, precondition, write.ContentType, metadata, cancellationToken);
        if (refused != S3Status.Ok)
        {
            return refused;
        }

        return put.Error switch
        {
            RepoError.None => Describe(key, put.Value!, now),
            RepoError.NotFound => S3Status.NoSuchBucket,
            _ => throw Fail(put.Error, put.Message),
        };
    }

    /// <summary>The entry a read key names, after resolving its ref.</summary>
    private async Task<S3Outcome<(string Reference, ManifestEntry Entry)>> FindAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        if (!TrySplit(key, out var reference, out var path))
        {
            return await BucketOr(bucket, S3Status.NoSuchKey, cancellationToken);
        }

        var stat = await _repositories.StatAsync(bucket, reference, path, cancellationToken);
        if (stat.IsSuccess)
        {
            return (reference, stat.Value!);
        }

        return await BucketOr(bucket, S3Status.NoSuchKey, cancellationToken);
    }

    /// <summary>The branch and path a write key names, once the caller is known to be allowed to write there.</summary>
    private async Task<S3Outcome<(string Branch, string Path)>> WritableAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        var user = await CallerAsync(cancellationToken);
        var info = await _repositories.GetRepositoryAsync(bucket, cancellationToken);
        if (!info.IsSuccess)
        {
            return S3Status.NoSuchBucket;
        }

        if (!TrySplit(key, out var reference, out var path))
        {
            throw new S3ProtocolException(S3Errors.InvalidArgument.WithMessage(
                $"Key '{key}' names no file: keys are BRANCH/PATH (for example main/{key}), the first segment being a branch of '{bucket}'."));
        }

        if (RepositoryNames.PathProblem(path) is { } pathProblem)
        {
            throw new S3ProtocolException(S3Errors.InvalidArgument.WithMessage($"Key '{key}': {pathProblem}."));
        }

        var resolved = await _repositories.ResolveAsync(bucket, reference, cancellationToken);
        if (!resolved.IsSuccess)
        {
            throw new S3ProtocolException(S3Errors.InvalidArgument.WithMessage(
                $"'{reference}' is not a branch of '{bucket}': the first segment of a key you write must be an existing branch."));
        }

        if (resolved.Value!.Branch is null)
        {
            throw new S3ProtocolException(S3Errors.AccessDenied.WithMessage(
                $"'{reference}' is a tag or commit of '{bucket}', and those never change: write to a branch (for example main/{path})."));
        }

        await RequireWriterAsync(info.Value!, user, cancellationToken);
        return (resolved.Value.Branch, path);
    }

    private async Task RequireWriterAsync(RepositoryInfo repository, CancellationToken cancellationToken) =>
        await RequireWriterAsync(repository, await CallerAsync(cancellationToken), cancellationToken);

    private async Task RequireWriterAsync(RepositoryInfo repository, User user, CancellationToken cancellationToken)
    {
        if (!await _mayWrite(user, repository, cancellationToken))
        {
            throw new S3ProtocolException(S3Errors.AccessDenied.WithMessage(
                $"User '{user.Name}' may not write to repository '{repository.Name}': writers are admins, its creator and members of its project."));
        }
    }

    /// <summary>The user who signed the request; AccessDenied when there is none (the endpoint authenticates every request first).</summary>
    private async Task<User> CallerAsync(CancellationToken cancellationToken)
    {
        var principal = S3CallScope.Current?.Principal
            ?? throw new S3ProtocolException(S3Errors.AccessDenied.WithMessage("No authenticated user for this request."));
        return await _metadata.Access.GetUserAsync(principal, cancellationToken)
            ?? throw new S3ProtocolException(S3Errors.AccessDenied.WithMessage($"The access key's user '{principal}' no longer exists."));
    }

    private async Task<S3Status> BucketOr(string bucket, S3Status otherwise, CancellationToken cancellationToken) =>
        (await _repositories.GetRepositoryAsync(bucket, cancellationToken)).IsSuccess ? otherwise : S3Status.NoSuchBucket;

    private async Task<S3ObjectInfo> ToInfoAsync(string bucket, string reference, string key, ManifestEntry entry, CancellationToken cancellationToken)
    {
        var time = entry.Metadata.ContainsKey(LastModifiedMetadata) ? default : await CommitTimeAsync(bucket, reference, cancellationToken);
        return Describe(key, entry, time);
    }

    /// <summary>When a file carries no write time of its own (it came through the REST API or the CLI), the time of the ref's commit.</summary>
    private async Task<DateTimeOffset> CommitTimeAsync(string bucket, string reference, CancellationToken cancellationToken)
    {
        var resolved = await _repositories.ResolveAsync(bucket, reference, cancellationToken);
        var commit = resolved.IsSuccess ? await _repositories.LoadCommitAsync(bucket, resolved.Value!.CommitId, cancellationToken) : null;
        return commit?.Time ?? default;
    }

    private static S3ObjectInfo Describe(string key, ManifestEntry entry, DateTimeOffset fallbackTime)
    {
        var metadata = entry.Metadata.Where(m => !m.Key.StartsWith("s3:", StringComparison.Ordinal)).ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal);
        var etag = entry.Metadata.TryGetValue(ETagMetadata, out var stored) ? stored : entry.Md5;
        var modified = entry.Metadata.TryGetValue(LastModifiedMetadata, out var text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var parsed)
                ? parsed
                : fallbackTime;
        return new S3ObjectInfo(key, entry.Size, etag, modified, entry.ContentType, metadata);
    }

    private static bool TrySplit(string key, out string reference, out string path)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        reference = slash > 0 ? key[..slash] : string.Empty;
        path = slash > 0 ? key[(slash + 1)..] : string.Empty;
        return slash > 0 && path.Length > 0;
    }

    private static S3ProtocolException Fail(RepoError error, string? message) => new(error switch
    {
        RepoError.InvalidArgument => S3Errors.InvalidArgument.WithMessage(message ?? "Invalid argument."),
        RepoError.Conflict => S3Errors.InternalError.WithMessage($"The repository was busy; retry ({message})."),
        _ => S3Errors.InternalError.WithMessage(message ?? error.ToString()),
    });
}
