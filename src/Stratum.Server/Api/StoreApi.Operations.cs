using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Core;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Server.Auth;
using Stratum.Server.Store;
using Stratum.Storage.Backup;
using Stratum.Storage.Repositories;
using Stratum.Storage.Tiering;

namespace Stratum.Server.Api;

/// <summary>
/// The store's operations (docs/store.md): tier policies and lifecycle runs (a cold tier must be configured),
/// checkpoint retention, backup and restore. Lifecycle, backup and restore are admins' and may take long: asked
/// with <c>Accept: application/x-ndjson</c> they stream progress lines once they are under way.
/// </summary>
public static partial class StoreApi
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    private static void MapStoreOperations(IEndpointRouteBuilder repos, IEndpointRouteBuilder store)
    {
        repos.MapGet("/{repo}/tier", GetTierAsync).WithName("GetTier");
        repos.MapPut("/{repo}/tier", SetTierAsync).WithName("SetTier");
        repos.MapPost("/{repo}/retention", ApplyRetentionAsync).WithName("ApplyRetention");
        store.MapPost("/lifecycle", RunLifecycleAsync).WithName("StoreLifecycle");
        store.MapPost("/backup", BackupAsync).WithName("StoreBackup");
        store.MapPost("/restore", RestoreAsync).WithName("StoreRestore");
    }

    // ---- tiers ----

    private static async Task<IResult> GetTierAsync(string repo, StoreServices store, CancellationToken cancellationToken)
    {
        if (await RepositoryExistsAsync(store, repo, cancellationToken) is { } missing)
        {
            return missing;
        }

        var policy = store.Lifecycle is { } lifecycle ? await lifecycle.GetPolicyAsync(repo, cancellationToken) : LifecyclePolicy.AlwaysHot;
        return Results.Ok(ToDto(repo, policy));
    }

    private static async Task<IResult> SetTierAsync(
        string repo, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins place repositories in tiers");
        }

        var (request, error) = await Json.ReadAsync<SetTierRequest>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var errors = new List<ValidationError>();
        TierPlacement? placement = request!.Placement?.ToLowerInvariant() switch
        {
            "hot" => TierPlacement.Hot,
            "cold" => TierPlacement.Cold,
            "lifecycle" => TierPlacement.Lifecycle,
            _ => null,
        };
        if (placement is null)
        {
            errors.Add(new("placement", $"'{request.Placement}' is not a placement; use hot, cold or lifecycle"));
        }

        var idle = ParseAge(request.ColdAfterIdle, "coldAfterIdle", errors);
        var age = ParseAge(request.ColdAfterAge, "coldAfterAge", errors);
        var policy = new LifecyclePolicy { Placement = placement ?? TierPlacement.Hot, ColdAfterIdle = idle, ColdAfterAge = age };
        if (placement is not null)
        {
            errors.AddRange(policy.Problems().Select(p => new ValidationError(p.StartsWith("coldAfterIdle", StringComparison.Ordinal) ? "coldAfterIdle" : p.StartsWith("coldAfterAge", StringComparison.Ordinal) ? "coldAfterAge" : "placement", p)));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        if (store.Lifecycle is not { } lifecycle)
        {
            return Problems.Conflict("the store has no cold tier: set storeColdBackend (s3://BUCKET[/PREFIX]) in the server's settings to place repositories in tiers");
        }

        var set = await lifecycle.SetPolicyAsync(repo, policy, cancellationToken);
        if (!set.IsSuccess)
        {
            return Failure(set.Error, set.Message);
        }

        var dto = ToDto(repo, policy);
        await AuditAsync(metadata, caller, time, "repo.tier.set", $"repo/{repo}", Describe(dto), cancellationToken);
        return Results.Ok(dto);
    }

    private static async Task<IResult> RunLifecycleAsync(HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins run the lifecycle");
        }

        var request = new LifecycleRunRequest();
        // A body may come without a length (chunked): its content type says it is there. Missing it would turn a dry run into a real one.
        if (context.Request.ContentLength is > 0 || context.Request.ContentType is not null)
        {
            var (read, error) = await Json.ReadAsync<LifecycleRunRequest>(context.Request, cancellationToken);
            if (error is not null)
            {
                return error;
            }

            request = read!;
        }

        if (store.Lifecycle is null)
        {
            return Problems.Conflict("the store has no cold tier: set storeColdBackend (s3://BUCKET[/PREFIX]) in the server's settings");
        }

        return await WithProgressAsync(
            context,
            async progress =>
            {
                var report = await store.RunLifecycleAsync(
                    request.DryRun, progress is null ? null : new Reporter<LifecycleProgress>(p => progress.Report(new("packs", p.PacksDone, p.PacksTotal, p.BytesCopied))), cancellationToken);
                if (!request.DryRun)
                {
                    await AuditAsync(metadata, caller, time, "store.lifecycle", "store", string.Create(CultureInfo.InvariantCulture,
                        $"{report.PacksMovedToCold} packs to cold, {report.PacksRehydrated} to hot, {report.PacksMirroredToCold} mirrored, {report.BytesCopied} bytes copied, {report.Failures.Count} failures"), CancellationToken.None);
                }

                return new LifecycleReportDto(request.DryRun, report.PacksExamined, report.PacksMovedToCold, report.PacksMirroredToCold, report.PacksRehydrated,
                    report.PacksUnreferenced, report.BytesCopied, report.HotBytesFreed, report.Failures.Select(f => new LifecycleFailureDto(f.Pack, f.Step, f.Reason)).ToList());
            },
            cancellationToken);
    }

    // ---- retention ----

    private static async Task<IResult> ApplyRetentionAsync(
        string repo, HttpContext context, StoreServices store, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (await WriteDeniedAsync(store, caller, repo, cancellationToken) is { } denied)
        {
            return denied;
        }

        var (request, error) = await Json.ReadAsync<RetentionRequest>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var errors = new List<ValidationError>();
        if (request!.KeepLast < 1)
        {
            errors.Add(new("keepLast", $"{request.KeepLast} must be at least 1: the newest commit is always kept"));
        }

        if (request.KeepBest < 0)
        {
            errors.Add(new("keepBest", $"{request.KeepBest} must not be negative"));
        }

        if (request.KeepBest > 0 && string.IsNullOrWhiteSpace(request.Metric))
        {
            errors.Add(new("metric", "required with keepBest: the commit metadata key holding a number, e.g. loss"));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var applied = await store.Repositories.ApplyRetentionAsync(
            repo, new RetentionPolicy { KeepLast = request.KeepLast, KeepBest = request.KeepBest, Metric = request.Metric, LowerIsBetter = !request.HigherIsBetter }, request.Branch, cancellationToken);
        if (!applied.IsSuccess)
        {
            return Failure(applied.Error, applied.Message);
        }

        var result = applied.Value!;
        await AuditAsync(metadata, caller, time, "repo.retention", $"repo/{repo}/branch/{result.Branch}",
            string.Create(CultureInfo.InvariantCulture, $"keep last {request.KeepLast}, best {request.KeepBest}{(request.Metric is null ? "" : $" by {request.Metric}")}: {result.Kept.Count} kept, {result.Dropped.Count} dropped"), cancellationToken);
        return Results.Ok(new RetentionResultDto(repo, result.Branch, result.Kept, result.Dropped, result.AppliedAt));
    }

    // ---- backup and restore ----

    private static async Task<IResult> BackupAsync(
        HttpContext context, StoreServices store, ServerOptions options, DataDirectoryPath dataDirectory, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins back up the store");
        }

        var (request, error) = await Json.ReadAsync<BackupRequest>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        if (StoreSettings.LocationProblem(options, dataDirectory.Path, request!.To) is { } problem)
        {
            return Problems.Validation("to", problem);
        }

        if (request.Repository is { } repository && await RepositoryExistsAsync(store, repository, cancellationToken) is { } missing)
        {
            return missing;
        }

        var (target, unusable) = Open(options, request.To!, "to");
        if (unusable is not null)
        {
            return unusable;
        }

        return await WithProgressAsync(
            context,
            async progress =>
            {
                try
                {
                    var report = await store.BackupAsync(target!, request.Repository, ToReporter(progress), cancellationToken);
                    await AuditAsync(metadata, caller, time, "store.backup", request.Repository is null ? "store" : $"repo/{request.Repository}",
                        string.Create(CultureInfo.InvariantCulture, $"to {request.To}: {report.BlobsCopied} blobs copied, {report.BytesCopied} bytes"), CancellationToken.None);
                    return ToDto(report, request.To!);
                }
                finally
                {
                    (target as IDisposable)?.Dispose();
                }
            },
            cancellationToken);
    }

    private static async Task<IResult> RestoreAsync(
        HttpContext context, StoreServices store, ServerOptions options, DataDirectoryPath dataDirectory, IMetadataStore metadata, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins restore the store");
        }

        var (request, error) = await Json.ReadAsync<RestoreRequest>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        if (StoreSettings.LocationProblem(options, dataDirectory.Path, request!.From) is { } problem)
        {
            return Problems.Validation("from", problem);
        }

        if (!request.From!.StartsWith("s3://", StringComparison.Ordinal) && !Directory.Exists(request.From))
        {
            return Problems.Validation("from", $"'{request.From}' does not exist on the server's machine");
        }

        var (backup, unusable) = Open(options, request.From, "from");
        if (unusable is not null)
        {
            return unusable;
        }

        return await WithProgressAsync(
            context,
            async progress =>
            {
                try
                {
                    var report = await store.RestoreAsync(backup!, ToReporter(progress), cancellationToken);
                    await AuditAsync(metadata, caller, time, "store.restore", report.Kind == BackupKind.Store ? "store" : string.Join(",", report.Repositories.Select(r => $"repo/{r}")),
                        string.Create(CultureInfo.InvariantCulture, $"from {request.From}: {report.BlobsCopied} blobs copied, {report.BytesCopied} bytes"), CancellationToken.None);
                    return ToDto(report, request.From);
                }
                finally
                {
                    (backup as IDisposable)?.Dispose();
                }
            },
            cancellationToken);
    }

    /// <summary>The backend at a location, or a 400 naming <paramref name="field"/> when the settings cannot make one (S3 without credentials, say).</summary>
    private static (Storage.Backends.IBlobBackend? Backend, IResult? Problem) Open(ServerOptions options, string location, string field)
    {
        try
        {
            return (StoreSettings.OpenLocation(options, location).Backend, null);
        }
        catch (ArgumentException e)
        {
            return (null, Problems.Validation(field, $"'{location}' cannot be opened: {e.Message} (s3:// locations use the storeS3Endpoint, storeS3Region and credential settings)"));
        }
    }

    // ---- progress ----

    /// <summary>
    /// Runs <paramref name="work"/>. Asked for <see cref="StratumClient.ProgressMediaType"/>, the answer stays an ordinary
    /// one (its result, or a problem with its status) while the work ends or fails before reporting progress —
    /// so refusals such as "the target is not empty" keep their codes — and becomes a stream of progress lines
    /// (at most four a second, the latest each time) with the result or the error last once it reports.
    /// </summary>
    private static async Task<IResult> WithProgressAsync<T>(HttpContext context, Func<IProgress<StoreOperationProgressDto>?, Task<T>> work, CancellationToken cancellationToken)
        where T : notnull
    {
        var streaming = context.Request.Headers.Accept.Any(a => a?.Contains(StratumClient.ProgressMediaType, StringComparison.OrdinalIgnoreCase) == true);
        if (!streaming)
        {
            return await AnswerAsync(() => work(null));
        }

        var updates = Channel.CreateUnbounded<StoreOperationProgressDto>(new UnboundedChannelOptions { SingleReader = true });
        var running = Task.Run(() => work(new Reporter<StoreOperationProgressDto>(p => updates.Writer.TryWrite(p))), cancellationToken);
        await Task.WhenAny(running, updates.Reader.WaitToReadAsync(cancellationToken).AsTask());
        if (running.IsCompleted)
        {
            return await AnswerAsync(() => running);
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = StratumClient.ProgressMediaType;
        response.Headers.CacheControl = "no-store";
        while (!running.IsCompleted)
        {
            StoreOperationProgressDto? latest = null;
            while (updates.Reader.TryRead(out var update))
            {
                latest = update;
            }

            if (latest is not null)
            {
                await WriteLineAsync(response, new { progress = latest }, cancellationToken);
            }

            await Task.WhenAny(running, Task.Delay(ProgressInterval, cancellationToken));
        }

        try
        {
            await WriteLineAsync(response, new { result = await running }, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The status line is long gone; the error travels as the last line, and the client raises it.
            await WriteLineAsync(response, new { error = new { title = e is IOException ? "storage error" : "refused", detail = e.Message } }, cancellationToken);
        }

        return Results.Empty;
    }

    private static async Task<IResult> AnswerAsync<T>(Func<Task<T>> work)
    {
        try
        {
            return Results.Ok(await work());
        }
        catch (Exception e) when (Refusal(e) is { } refused)
        {
            return refused;
        }
        catch (IOException e)
        {
            return Results.Problem(e.Message, statusCode: StatusCodes.Status502BadGateway, title: "storage error");
        }
    }

    /// <summary>The engine's refusals, which change nothing: a target in use, a backup of the wrong kind, a store not empty.</summary>
    private static IResult? Refusal(Exception e) => e switch
    {
        InvalidDataException => Problems.BadRequest(e.Message),
        ArgumentException => Problems.Conflict(e.Message),
        InvalidOperationException => Problems.Conflict(e.Message),
        _ => null,
    };

    private static async Task WriteLineAsync(HttpResponse response, object line, CancellationToken cancellationToken)
    {
        await response.WriteAsync(JsonSerializer.Serialize(line, Json.Options) + "\n", cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    private static Reporter<BackupProgress>? ToReporter(IProgress<StoreOperationProgressDto>? progress) =>
        progress is null ? null : new Reporter<BackupProgress>(p => progress.Report(new(p.Phase, p.BlobsDone, p.BlobsTotal, p.BytesCopied)));

    /// <summary>Reports on the caller's thread, in order (<see cref="Progress{T}"/> posts to the thread pool and may reorder).</summary>
    private sealed class Reporter<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    // ---- shapes ----

    private static TimeSpan? ParseAge(string? text, string field, List<ValidationError> errors)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (!Quantity.TryParseDuration(text, out var value) || value <= TimeSpan.Zero || value > TimeSpan.FromDays(36500))
        {
            errors.Add(new(field, $"'{text}' is not a positive duration; write for example \"30d\" or \"12h\""));
            return null;
        }

        return value;
    }

    private static TierPolicyDto ToDto(string repo, LifecyclePolicy policy) =>
        new(repo, policy.Placement.ToString().ToLowerInvariant(), (long?)policy.ColdAfterIdle?.TotalSeconds, (long?)policy.ColdAfterAge?.TotalSeconds);

    private static string Describe(TierPolicyDto dto) =>
        dto.Placement + (dto.ColdAfterIdleSeconds is { } idle ? $", cold after {Quantity.FormatDuration(TimeSpan.FromSeconds(idle))} idle" : "")
        + (dto.ColdAfterAgeSeconds is { } age ? $", cold after {Quantity.FormatDuration(TimeSpan.FromSeconds(age))} of age" : "");

    private static BackupReportDto ToDto(BackupReport report, string location) =>
        new(report.Kind == BackupKind.Store ? "store" : "repository", location, report.Repositories, report.BlobsExamined, report.BlobsCopied,
            report.BlobsSkipped, report.BlobsDeleted, report.BytesCopied, report.At);
}
