using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using Stratum.Client.Contracts;
using Stratum.Core;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Server.Auth;
using Stratum.Server.Store;
using Stratum.Storage.Repositories;

namespace Stratum.Server.Api;

/// <summary>
/// The artifact store under /api/v1/repos (docs/store.md). Reads: any authenticated user. Creating and
/// deleting repositories, gc and verify: admins. Writes to branches (objects, commits, branches, tags):
/// admins, and members or owners of the project the repository was created for.
/// </summary>
public static partial class StoreApi
{
    private const int MaxListLimit = 1000;
    private static readonly TimeSpan DefaultGcGrace = TimeSpan.FromHours(1);

    public static void MapStore(this IEndpointRouteBuilder routes)
    {
        var repos = routes.MapGroup("/api/v1/repos").WithTags("Store");
        repos.MapGet("", ListRepositoriesAsync).WithName("ListRepositories");
        repos.MapPost("", CreateRepositoryAsync).WithName("CreateRepository");
        repos.MapGet("/{repo}", GetRepositoryAsync).WithName("GetRepository");
        repos.MapDelete("/{repo}", DeleteRepositoryAsync).WithName("DeleteRepository");

        repos.MapGet("/{repo}/branches", ListBranchesAsync).WithName("ListBranches");
        repos.MapPost("/{repo}/branches", CreateBranchAsync).WithName("CreateBranch");
        repos.MapDelete("/{repo}/branches/{branch}", DeleteBranchAsync).WithName("DeleteBranch");
        repos.MapGet("/{repo}/tags", ListTagsAsync).WithName("ListTags");
        repos.MapPost("/{repo}/tags", CreateTagAsync).WithName("CreateTag");
        repos.MapDelete("/{repo}/tags/{tag}", DeleteTagAsync).WithName("DeleteTag");

        repos.MapGet("/{repo}/refs/{reference}/objects", ListObjectsAsync).WithName("ListObjects");
        repos.MapGet("/{repo}/refs/{reference}/object", GetObjectAsync).WithName("GetObject");
        repos.MapPut("/{repo}/branches/{branch}/object", PutObjectAsync).WithName("PutObject");
        repos.MapDelete("/{repo}/branches/{branch}/object", DeleteObjectAsync).WithName("DeleteObject");
        repos.MapDelete("/{repo}/branches/{branch}/staged", ResetBranchAsync).WithName("ResetBranch");
        repos.MapPost("/{repo}/branches/{branch}/commits", CommitAsync).WithName("Commit");
        repos.MapGet("/{repo}/refs/{reference}/log", LogAsync).WithName("Log");
        repos.MapGet("/{repo}/diff", DiffAsync).WithName("Diff");
        repos.MapGet("/{repo}/du", DiskUsageAsync).WithName("DiskUsage");

        var store = routes.MapGroup("/api/v1/store").WithTags("Store");
        store.MapPost("/gc", CollectGarbageAsync).WithName("StoreGc");
        store.MapPost("/verify", VerifyAsync).WithName("StoreVerify");
        MapStoreOperations(repos, store);
    }

    // ---- repositories ----

    private static async Task<IResult> ListRepositoriesAsync(StoreServices store, CancellationToken cancellationToken)
    {
        var list = new List<RepositoryDto>();
        foreach (var repository in await store.Repositories.ListRepositoriesAsync(cancellationToken))
        {
            list.Add(ToDto(repository, await store.ProjectOfAsync(repository.Name, cancellationToken)));
        }

        return Results.Ok(list);
    }

    private static async Task<IResult> CreateRepositoryAsync(
        HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins create repositories");
        }

        var (request, error) = await Json.ReadAsync<CreateRepositoryRequest>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var errors = new List<ValidationError>();
        if (string.IsNullOrEmpty(request!.Name))
        {
            errors.Add(new("name", "required: 3 to 63 of a-z, 0-9 and '-'"));
        }
        else if (RepositoryNames.RepositoryProblem(request.Name) is { } nameProblem)
        {
            errors.Add(new("name", nameProblem));
        }

        var kind = ParseKind(request.Kind);
        if (kind is null)
        {
            errors.Add(new("kind", $"'{request.Kind}' is not a repository kind; use dataset, model or checkpoints"));
        }

        if (request.DefaultBranch is { } branch && RepositoryNames.RefProblem(branch) is { } branchProblem)
        {
            errors.Add(new("defaultBranch", branchProblem));
        }

        if (request.Project is { } project && await metadata.Cluster.GetProjectAsync(project, cancellationToken) is null)
        {
            errors.Add(new("project", $"no project named '{project}'; 'stratum projects list' shows them"));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var created = await store.Repositories.CreateRepositoryAsync(request.Name!, kind!.Value, caller.Name, request.DefaultBranch ?? "main", cancellationToken);
        if (!created.IsSuccess)
        {
            return Failure(created.Error, created.Message);
        }

        await store.SetProjectAsync(request.Name!, request.Project, cancellationToken);
        await AuditAsync(metadata, caller, time, "repo.create", $"repo/{request.Name}", $"kind {Kind(kind.Value)}{(request.Project is null ? "" : $", project {request.Project}")}", cancellationToken);
        return Results.Created($"/api/v1/repos/{request.Name}", ToDto(created.Value!, request.Project));
    }

    private static async Task<IResult> GetRepositoryAsync(string repo, StoreServices store, CancellationToken cancellationToken)
    {
        var found = await store.Repositories.GetRepositoryAsync(repo, cancellationToken);
        return found.IsSuccess ? Results.Ok(ToDto(found.Value!, await store.ProjectOfAsync(repo, cancellationToken))) : Failure(found.Error, found.Message);
    }

    private static async Task<IResult> DeleteRepositoryAsync(
        string repo, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins delete repositories");
        }

        var deleted = await store.Repositories.DeleteRepositoryAsync(repo, cancellationToken);
        if (!deleted.IsSuccess)
        {
            return Failure(deleted.Error, deleted.Message);
        }

        await store.SetProjectAsync(repo, null, cancellationToken);
        await AuditAsync(metadata, caller, time, "repo.delete", $"repo/{repo}", null, cancellationToken);
        return Results.NoContent();
    }

    // ---- branches and tags ----

    private static async Task<IResult> ListBranchesAsync(string repo, StoreServices store, CancellationToken cancellationToken) =>
        await RepositoryExistsAsync(store, repo, cancellationToken) is { } missing
            ? missing
            : Results.Ok((await store.Repositories.ListBranchesAsync(repo, cancellationToken)).Select(r => new RefDto(r.Name, r.CommitId)).ToList());

    private static async Task<IResult> ListTagsAsync(string repo, StoreServices store, CancellationToken cancellationToken) =>
        await RepositoryExistsAsync(store, repo, cancellationToken) is { } missing
            ? missing
            : Results.Ok((await store.Repositories.ListTagsAsync(repo, cancellationToken)).Select(r => new RefDto(r.Name, r.CommitId)).ToList());

    private static Task<IResult> CreateBranchAsync(string repo, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken) =>
        CreateRefAsync(repo, "branch", context, store, metadata, time, cancellationToken);

    private static Task<IResult> CreateTagAsync(string repo, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken) =>
        CreateRefAsync(repo, "tag", context, store, metadata, time, cancellationToken);

    private static async Task<IResult> CreateRefAsync(
        string repo, string what, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (await WriteDeniedAsync(store, caller, repo, cancellationToken) is { } denied)
        {
            return denied;
        }

        var (request, error) = await Json.ReadAsync<CreateRefRequest>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var errors = new List<ValidationError>();
        if (string.IsNullOrEmpty(request!.Name))
        {
            errors.Add(new("name", $"required: the new {what}'s name"));
        }

        if (string.IsNullOrEmpty(request.Ref))
        {
            errors.Add(new("ref", $"required: the branch, tag or commit the {what} starts at"));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var created = what == "branch"
            ? await store.Repositories.CreateBranchAsync(repo, request.Name!, request.Ref!, cancellationToken)
            : await store.Repositories.CreateTagAsync(repo, request.Name!, request.Ref!, cancellationToken);
        if (!created.IsSuccess)
        {
            return Failure(created.Error, created.Message);
        }

        await AuditAsync(metadata, caller, time, $"repo.{what}.create", $"repo/{repo}/{what}/{request.Name}", $"at {created.Value!.CommitId}", cancellationToken);
        return Results.Created($"/api/v1/repos/{repo}/{(what == "branch" ? "branches" : "tags")}/{request.Name}", new RefDto(created.Value.Name, created.Value.CommitId));
    }

    private static async Task<IResult> DeleteBranchAsync(
        string repo, string branch, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        return await ChangeThenAuditAsync(store, metadata, time, caller, repo,
            () => store.Repositories.DeleteBranchAsync(repo, branch, cancellationToken), "repo.branch.delete", $"repo/{repo}/branch/{branch}", null, cancellationToken);
    }

    private static async Task<IResult> DeleteTagAsync(
        string repo, string tag, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        return await ChangeThenAuditAsync(store, metadata, time, caller, repo,
            () => store.Repositories.DeleteTagAsync(repo, tag, cancellationToken), "repo.tag.delete", $"repo/{repo}/tag/{tag}", null, cancellationToken);
    }

    // ---- objects ----

    private static async Task<IResult> ListObjectsAsync(
        string repo, string reference, StoreServices store, CancellationToken cancellationToken,
        string? prefix = null, string? delimiter = null, string? after = null, int? limit = null)
    {
        if (limit is { } l && (l < 1 || l > MaxListLimit))
        {
            return Problems.Validation("limit", $"{l} must be between 1 and {MaxListLimit}");
        }

        if (delimiter is { Length: 0 })
        {
            delimiter = null;
        }

        var resolved = await store.Repositories.ResolveAsync(repo, reference, cancellationToken);
        if (!resolved.IsSuccess)
        {
            return Failure(resolved.Error, resolved.Message);
        }

        // Listing by commit id keeps pages consistent while the branch moves; a branch also shows its staged changes.
        var at = resolved.Value!.Branch ?? resolved.Value.CommitId;
        var listed = await store.Repositories.ListAsync(repo, at, prefix ?? "", delimiter, after, limit ?? MaxListLimit, cancellationToken);
        if (!listed.IsSuccess)
        {
            return Failure(listed.Error, listed.Message);
        }

        var page = listed.Value!;
        return Results.Ok(new StoreListingDto(reference, resolved.Value.CommitId, page.Objects.Select(ToDto).ToList(), page.CommonPrefixes, page.IsTruncated, page.NextStartAfter));
    }

    private static async Task<IResult> GetObjectAsync(string repo, string reference, StoreServices store, CancellationToken cancellationToken, string? path = null)
    {
        if (string.IsNullOrEmpty(path))
        {
            return Problems.Validation("path", "required: the file's path in the repository, e.g. ?path=train/part-0.parquet");
        }

        var stat = await store.Repositories.StatAsync(repo, reference, path, cancellationToken);
        if (!stat.IsSuccess)
        {
            return Failure(stat.Error, stat.Message);
        }

        var entry = stat.Value!;

        // The chunk store's stream is seekable, so the framework answers Range, If-Range and If-None-Match itself.
        var stream = store.Repositories.Chunks.OpenRead(entry.Content);
        return Results.Stream(stream, entry.ContentType, enableRangeProcessing: true, entityTag: new EntityTagHeaderValue($"\"{entry.Md5}\""));
    }

    private static async Task<IResult> PutObjectAsync(
        string repo, string branch, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken, string? path = null)
    {
        // Artifacts are large: no body limit here, and the body goes straight into the chunker, never buffered whole.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        var caller = context.Caller();
        if (string.IsNullOrEmpty(path))
        {
            return Problems.Validation("path", "required: where to put the file in the repository, e.g. ?path=train/part-0.parquet");
        }

        if (await WriteDeniedAsync(store, caller, repo, cancellationToken) is { } denied)
        {
            return denied;
        }

        var contentType = string.IsNullOrEmpty(context.Request.ContentType) ? "application/octet-stream" : context.Request.ContentType;
        RepoResult<ManifestEntry> put;
        try
        {
            put = await store.Repositories.PutObjectAsync(repo, branch, path, context.Request.Body, Stratum.Storage.Format.ContentMd5Mode.Parts, contentType, cancellationToken: cancellationToken);
        }
        catch (IOException e) when (IsStorageFull(e))
        {
            return StorageFull(store, e);
        }

        if (!put.IsSuccess)
        {
            return Failure(put.Error, put.Message);
        }

        var entry = put.Value!;
        if (context.Request.ContentLength is { } declared && declared != entry.Size)
        {
            // The connection ended early; the staged entry is dropped again so a short file is never committed.
            await store.Repositories.DeleteObjectAsync(repo, branch, path, cancellationToken);
            return Problems.BadRequest($"the body ended after {entry.Size} of {declared} bytes; nothing was stored");
        }

        await AuditAsync(metadata, caller, time, "repo.object.put", $"repo/{repo}/branch/{branch}/{path}", $"{entry.Size} bytes, md5 {entry.Md5}", cancellationToken);
        context.Response.Headers.ETag = $"\"{entry.Md5}\"";
        return Results.Ok(ToDto(entry));
    }

    private static async Task<IResult> DeleteObjectAsync(
        string repo, string branch, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken, string? path = null)
    {
        var caller = context.Caller();
        if (string.IsNullOrEmpty(path))
        {
            return Problems.Validation("path", "required: the file to delete, e.g. ?path=train/part-0.parquet");
        }

        return await ChangeThenAuditAsync(store, metadata, time, caller, repo,
            () => store.Repositories.DeleteObjectAsync(repo, branch, path, cancellationToken), "repo.object.delete", $"repo/{repo}/branch/{branch}/{path}", null, cancellationToken);
    }

    private static async Task<IResult> ResetBranchAsync(
        string repo, string branch, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        return await ChangeThenAuditAsync(store, metadata, time, caller, repo,
            () => store.Repositories.ResetAsync(repo, branch, cancellationToken), "repo.branch.reset", $"repo/{repo}/branch/{branch}", dropped => $"{dropped} staged changes dropped", cancellationToken);
    }

    private static async Task<IResult> CommitAsync(
        string repo, string branch, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (await WriteDeniedAsync(store, caller, repo, cancellationToken) is { } denied)
        {
            return denied;
        }

        var (request, error) = await Json.ReadAsync<CommitRequestDto>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        if (string.IsNullOrWhiteSpace(request!.Message))
        {
            return Problems.Validation("message", "required: say what this commit holds");
        }

        var lineage = request.Lineage is { } l ? new Lineage(l.JobId, l.Inputs ?? []) : null;
        RepoResult<Commit> committed;
        try
        {
            committed = await store.Repositories.CommitAsync(
                repo, branch, new CommitRequest { Message = request.Message, Author = caller.Name, Lineage = lineage, Metadata = request.Metadata }, cancellationToken);
        }
        catch (IOException e) when (IsStorageFull(e))
        {
            return StorageFull(store, e);
        }

        if (!committed.IsSuccess)
        {
            return Failure(committed.Error, committed.Message);
        }

        var commit = committed.Value!;
        await AuditAsync(metadata, caller, time, "repo.commit", $"repo/{repo}/branch/{branch}", $"commit {commit.Id}: {commit.FileCount} files", cancellationToken);
        return Results.Created($"/api/v1/repos/{repo}/refs/{commit.Id}/log", ToDto(commit));
    }

    // ---- history ----

    private static async Task<IResult> LogAsync(string repo, string reference, StoreServices store, CancellationToken cancellationToken, int? limit = null)
    {
        if (limit is { } l && (l < 1 || l > 10_000))
        {
            return Problems.Validation("limit", $"{l} must be between 1 and 10000");
        }

        var log = await store.Repositories.LogAsync(repo, reference, limit ?? 100, cancellationToken);
        return log.IsSuccess ? Results.Ok(log.Value!.Select(ToDto).ToList()) : Failure(log.Error, log.Message);
    }

    private static async Task<IResult> DiffAsync(string repo, StoreServices store, CancellationToken cancellationToken, string? from = null, string? to = null, string? prefix = null)
    {
        var errors = new List<ValidationError>();
        if (string.IsNullOrEmpty(from))
        {
            errors.Add(new("from", "required: the older ref"));
        }

        if (string.IsNullOrEmpty(to))
        {
            errors.Add(new("to", "required: the newer ref"));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var fromRef = await store.Repositories.ResolveAsync(repo, from!, cancellationToken);
        var toRef = await store.Repositories.ResolveAsync(repo, to!, cancellationToken);
        if (!fromRef.IsSuccess || !toRef.IsSuccess)
        {
            var failed = fromRef.IsSuccess ? toRef : fromRef;
            return Failure(failed.Error, failed.Message);
        }

        var diff = await store.Repositories.DiffAsync(repo, from!, to!, prefix ?? "", cancellationToken);
        if (!diff.IsSuccess)
        {
            return Failure(diff.Error, diff.Message);
        }

        var entries = diff.Value!.Select(e => new DiffEntryDto(e.Path, e.Kind.ToString().ToLowerInvariant(), e.OldSize, e.NewSize)).ToList();
        return Results.Ok(new StoreDiffDto(from!, to!, fromRef.Value!.CommitId, toRef.Value!.CommitId, entries));
    }

    private static async Task<IResult> DiskUsageAsync(string repo, StoreServices store, CancellationToken cancellationToken)
    {
        var usage = await store.Repositories.DiskUsageAsync(repo, cancellationToken);
        if (!usage.IsSuccess)
        {
            return Failure(usage.Error, usage.Message);
        }

        var u = usage.Value!;
        var ratio = u.StoredBytes == 0 ? 0 : Math.Round((double)u.LogicalBytesAllCommits / u.StoredBytes, 3);
        return Results.Ok(new DiskUsageDto(u.Repository, u.LogicalBytesHead, u.LogicalBytesAllCommits, u.StoredBytes, u.UniqueChunks, u.Commits, u.FilesAtHead, ratio));
    }

    // ---- maintenance ----

    private static async Task<IResult> CollectGarbageAsync(HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins collect garbage");
        }

        var grace = DefaultGcGrace;
        if (context.Request.ContentLength is > 0 || context.Request.ContentType is not null)
        {
            var (request, error) = await Json.ReadAsync<GcRequest>(context.Request, cancellationToken);
            if (error is not null)
            {
                return error;
            }

            if (request!.Grace is { } text)
            {
                if (!Quantity.TryParseDuration(text, out grace) || grace < TimeSpan.Zero || grace > TimeSpan.FromDays(365))
                {
                    return Problems.Validation("grace", $"'{text}' is not a duration between 0s and 365d; write for example \"1h\"");
                }
            }
        }

        var (report, live) = await store.CollectGarbageAsync(grace, cancellationToken);
        await AuditAsync(metadata, caller, time, "store.gc", "store", string.Create(CultureInfo.InvariantCulture, $"grace {grace}, {report.BytesFreed} bytes freed"), cancellationToken);
        return Results.Ok(new GcReportDto(live, report.PacksDeleted, report.PacksRepacked, report.UnreferencedPacksDeleted, report.ChunksDropped, report.BytesFreed, report.TemporaryFilesDeleted, report.PacksKeptForGrace));
    }

    private static async Task<IResult> VerifyAsync(HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins verify the store");
        }

        var report = await store.Repositories.VerifyAsync(cancellationToken: cancellationToken);
        var chunks = report.Chunks;
        await AuditAsync(metadata, caller, time, "store.verify", "store", report.IsClean ? "clean" : $"{report.DamagedFiles.Count} damaged files", cancellationToken);
        return Results.Ok(new VerifyReportDto(
            report.IsClean,
            chunks.ChunksChecked,
            chunks.PacksChecked,
            chunks.BytesRead,
            report.CommitsChecked,
            report.DamagedFiles.Select(f => new DamagedFileDto(f.Repository, f.Commit, f.Path, f.Chunk.ToString(), f.Reason)).ToList(),
            chunks.Damaged.Select(c => new DamagedChunkDto(c.Id.ToString(), c.Pack, c.Offset, c.Reason)).ToList(),
            chunks.MissingPacks,
            chunks.DamagedIndexFiles,
            report.DamagedMetadata,
            chunks.UnreferencedPacks));
    }

    // ---- helpers ----

    private static async Task<IResult?> RepositoryExistsAsync(StoreServices store, string repo, CancellationToken cancellationToken)
    {
        var found = await store.Repositories.GetRepositoryAsync(repo, cancellationToken);
        return found.IsSuccess ? null : Failure(found.Error, found.Message);
    }

    /// <summary>Null when the caller may write to <paramref name="repo"/>; 404 when it does not exist; else 403 saying who may.</summary>
    private static async Task<IResult?> WriteDeniedAsync(StoreServices store, Caller caller, string repo, CancellationToken cancellationToken)
    {
        if (await RepositoryExistsAsync(store, repo, cancellationToken) is { } missing)
        {
            return missing;
        }

        if (await store.CanWriteAsync(caller.User, repo, cancellationToken))
        {
            return null;
        }

        var project = await store.ProjectOfAsync(repo, cancellationToken);
        return Problems.Forbidden(project is null
            ? $"repository '{repo}' belongs to no project, so only admins write to it"
            : $"writing to repository '{repo}' needs the member or owner role in project '{project}'");
    }

    /// <summary>
    /// A write the disk (or a quota) had no room for, anywhere in the chain of causes. .NET carries the errno
    /// of a failed write (ENOSPC 28, EDQUOT 122) in HResult; a preallocated file that does not fit only says so
    /// in its message ("... because the disk was full"), with no code.
    /// </summary>
    internal static bool IsStorageFull(Exception e)
    {
        for (Exception? cause = e; cause is not null; cause = cause.InnerException)
        {
            if (cause is IOException && ((cause.HResult & 0xFFFF) is 28 or 122
                || cause.Message.Contains("disk was full", StringComparison.OrdinalIgnoreCase)
                || cause.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase)
                || cause.Message.Contains("Disk quota exceeded", StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>507: nothing of this write is visible; what was committed before is untouched (blobs are written to temporary files and renamed only when whole).</summary>
    private static IResult StorageFull(StoreServices store, IOException e) =>
        Results.Problem(
            $"the store at {store.Description} is out of space ({e.Message}); nothing of this write was stored and earlier commits are intact. Free space or move data to the cold tier, then retry",
            statusCode: StatusCodes.Status507InsufficientStorage,
            title: "insufficient storage");

    private static IResult Failure(RepoError error, string? message) => error switch
    {
        RepoError.NotFound => Problems.NotFound(message ?? "not found"),
        RepoError.AlreadyExists or RepoError.Conflict or RepoError.NothingToCommit => Problems.Conflict(message ?? "conflict"),
        _ => Problems.Validation(FieldOf(message), message ?? "invalid"),
    };

    // The engine's messages name the thing ("repository name ...", "path ..."); the field follows from it.
    private static string FieldOf(string? message) =>
        message is null ? "request"
        : message.StartsWith("repository", StringComparison.Ordinal) ? "repo"
        : message.StartsWith("path", StringComparison.Ordinal) ? "path"
        : message.Contains("branch", StringComparison.Ordinal) ? "branch"
        : message.Contains("tag", StringComparison.Ordinal) ? "tag"
        : "ref";

    /// <summary>
    /// Every change that answers 204 has one shape: the caller may write to the repository, the change
    /// succeeds (else its error maps to a status), and it is audited with <paramref name="detail"/> of its result.
    /// </summary>
    private static async Task<IResult> ChangeThenAuditAsync<T>(
        StoreServices store, IMetadataStore metadata, TimeProvider time, Caller caller, string repo,
        Func<Task<RepoResult<T>>> change, string action, string target, Func<T, string>? detail, CancellationToken cancellationToken)
    {
        if (await WriteDeniedAsync(store, caller, repo, cancellationToken) is { } denied)
        {
            return denied;
        }

        var result = await change();
        if (!result.IsSuccess)
        {
            return Failure(result.Error, result.Message);
        }

        await AuditAsync(metadata, caller, time, action, target, detail?.Invoke(result.Value!), cancellationToken);
        return Results.NoContent();
    }

    private static Task AuditAsync(IMetadataStore metadata, Caller caller, TimeProvider time, string action, string target, string? detail, CancellationToken cancellationToken) =>
        metadata.Audit.AppendAsync(caller.Audit(time.GetUtcNow(), action, target, detail), cancellationToken);

    private static RepositoryKind? ParseKind(string? kind) => kind?.ToLowerInvariant() switch
    {
        "dataset" => RepositoryKind.Dataset,
        "model" => RepositoryKind.Model,
        "checkpoints" => RepositoryKind.Checkpoints,
        _ => null,
    };

    private static string Kind(RepositoryKind kind) => kind.ToString().ToLowerInvariant();

    private static RepositoryDto ToDto(RepositoryInfo info, string? project) =>
        new(info.Name, Kind(info.Kind), info.DefaultBranch, info.CreatedBy, info.CreatedAt, project);

    private static StoreObjectDto ToDto(ManifestEntry entry) =>
        new(entry.Path, entry.Size, entry.Md5, entry.Sha256, entry.ContentType, entry.Metadata.Count == 0 ? null : entry.Metadata);

    private static CommitDto ToDto(Commit commit) =>
        new(commit.Id, commit.Parents, commit.Message, commit.Author, commit.Time,
            commit.Lineage is { } l ? new LineageDto(l.JobId, l.Inputs) : null, commit.Metadata, commit.FileCount, commit.TotalBytes);
}
