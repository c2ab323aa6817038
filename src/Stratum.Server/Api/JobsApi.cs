using System.Globalization;
using Stratum.Client.Contracts;
using Stratum.Core.Access;
using Stratum.Core.Jobs;
using Stratum.Execution;
using Stratum.Persistence;
using Stratum.Scheduling;
using Stratum.Server.Auth;
using Stratum.Server.Control;
using Stratum.Server.Metrics;

namespace Stratum.Server.Api;

public static class JobsApi
{
    private const int MaxIdempotencyKeyLength = 200;

    public static void MapJobs(this IEndpointRouteBuilder routes)
    {
        var jobs = routes.MapGroup("/api/v1/jobs").WithTags("Jobs");
        jobs.MapPost("", SubmitAsync).WithName("SubmitJob");
        jobs.MapGet("", ListAsync).WithName("ListJobs");
        jobs.MapGet("/{id:long}", GetAsync).WithName("GetJob");
        jobs.MapPost("/{id:long}/cancel", CancelAsync).WithName("CancelJob");
        jobs.MapGet("/{id:long}/why", WhyAsync).WithName("WhyJob");
        jobs.MapGet("/{id:long}/logs", LogsAsync).WithName("JobLogs");
    }

    private static async Task<IResult> SubmitAsync(
        HttpContext context, IMetadataStore store, ClusterCache cache, ControllerSignal signal, StratumMetrics metrics, TimeProvider time, Store.StoreServices repositories, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        var (request, error) = await Json.ReadAsync<SubmitJobRequest>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var idempotencyKey = context.Request.Headers["Idempotency-Key"].ToString();
        if (idempotencyKey.Length > MaxIdempotencyKeyLength)
        {
            return Problems.Validation("Idempotency-Key", $"must be at most {MaxIdempotencyKeyLength} characters");
        }

        var (spec, errors) = request!.ToSpec(await cache.AcceleratorTypesAsync(cancellationToken));
        if (spec is null)
        {
            return Problems.Validation(errors);
        }

        var project = await cache.ProjectAsync(spec.Project, cancellationToken);
        if (project is null)
        {
            return Problems.Validation("project", $"no project named '{spec.Project}'; 'stratum projects list' shows the projects you can use");
        }

        if (!caller.Can(project.Name, ProjectRole.Member))
        {
            return Problems.Forbidden($"{caller.Name} may not submit to project '{project.Name}': that needs the member or owner role.");
        }

        if (Feasibility.WhyNeverFits(spec, await cache.NodesAsync(cancellationToken), project) is { } never)
        {
            return Problems.Validation("resources", $"this job can never run here: {never}");
        }

        // Inputs, outputs and checkpoints are checked against the store, and inputs pinned to commits.
        var (pinned, storeProblem) = await Jobs.JobStoreChecks.CheckAsync(spec, caller, repositories, cancellationToken);
        if (pinned is null)
        {
            return storeProblem!;
        }

        spec = pinned;

        var now = time.GetUtcNow();
        var result = await store.Jobs.SubmitAsync(
            spec,
            caller.Name,
            idempotencyKey.Length == 0 ? null : idempotencyKey,
            now,
            caller.Audit(now, "job.submit", $"job/{AuditPlaceholders.JobId}", $"{spec.Name} in project {spec.Project}"),
            cancellationToken);
        if (!result.Created)
        {
            return Results.Ok(result.Job.ToDto());
        }

        metrics.JobSubmitted(spec.Project);
        signal.Wake();
        return Results.Created($"/api/v1/jobs/{result.Job.Id}", result.Job.ToDto());
    }

    private static async Task<IResult> ListAsync(
        HttpContext context, IMetadataStore store, ClusterCache cache, SchedulerView view, Jobs.JobDataSteps steps, CancellationToken cancellationToken,
        string[]? project = null, string[]? state = null, string? owner = null, int? limit = null, string? cursor = null)
    {
        var caller = context.Caller();
        var states = new List<JobState>();
        foreach (var text in state ?? [])
        {
            if (!Enum.TryParse<JobState>(text, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed))
            {
                return Problems.Validation("state", $"'{text}' is not a job state; use one of {string.Join(", ", Enum.GetNames<JobState>())}");
            }

            states.Add(parsed);
        }

        long? beforeId = null;
        if (cursor is { Length: > 0 })
        {
            if (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var parsedCursor))
            {
                return Problems.Validation("cursor", "is not a cursor this server handed out");
            }

            beforeId = parsedCursor;
        }

        if (limit is < 1 or > 1000)
        {
            return Problems.Validation("limit", "must be between 1 and 1000");
        }

        // Non-admins see the projects they have a role in; asking for another project is a 403, not an empty list.
        IReadOnlyCollection<string>? projects = project is { Length: > 0 } ? project : null;
        if (!caller.IsAdmin)
        {
            var visible = caller.User.Roles.Keys.ToHashSet(StringComparer.Ordinal);
            if (projects?.FirstOrDefault(p => !visible.Contains(p)) is { } hidden)
            {
                return Problems.Forbidden($"{caller.Name} has no role in project '{hidden}'.");
            }

            projects ??= visible;
        }

        var page = await store.Jobs.ListAsync(new JobQuery
        {
            Projects = projects,
            States = states.Count > 0 ? states : null,
            Owner = owner,
            BeforeId = beforeId,
            Limit = limit ?? 100,
        }, cancellationToken);
        return Results.Ok(new PageDto<JobDto>(
            page.Jobs.Select(j => j.ToDto(view.Pending(j.Id)?.Reason, steps.Phase(j.Id))).ToList(),
            page.NextBeforeId?.ToString(CultureInfo.InvariantCulture)));
    }

    private static async Task<IResult> GetAsync(long id, HttpContext context, IMetadataStore store, SchedulerView view, Jobs.JobDataSteps steps, CancellationToken cancellationToken)
    {
        var (job, denied) = await FindAsync(id, context.Caller(), ProjectRole.Viewer, store, cancellationToken);
        return denied ?? Results.Ok(job!.ToDto(view.Pending(id)?.Reason, steps.Phase(id)));
    }

    private static async Task<IResult> CancelAsync(
        long id, HttpContext context, IMetadataStore store, ControllerSignal signal, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        for (var tries = 0; tries < 10; tries++)
        {
            var (job, denied) = await FindAsync(id, caller, ProjectRole.Viewer, store, cancellationToken);
            if (denied is not null)
            {
                return denied;
            }

            if (job!.Owner != caller.Name && !caller.Can(job.Spec.Project, ProjectRole.Owner))
            {
                return Problems.Forbidden($"job {id} belongs to {job.Owner}; only its owner, an owner of project '{job.Spec.Project}' or an admin may cancel it.");
            }

            if (job.State.IsTerminal())
            {
                return Problems.Conflict($"job {id} has already ended ({job.State}); there is nothing to cancel.");
            }

            if (job.Stop?.Kind == StopKind.Cancel)
            {
                return Results.Accepted($"/api/v1/jobs/{id}", job.ToDto());
            }

            var now = time.GetUtcNow();
            var updated = job.State.IsQueued()
                ? job with { State = JobState.Cancelled, Reason = $"cancelled by {caller.Name} before it started", Stop = null, UpdatedAt = now }
                : job with { Stop = new StopRequest(StopKind.Cancel, now, caller.Name, $"cancelled by {caller.Name}"), UpdatedAt = now };
            if (await store.Jobs.UpdateAsync([updated], caller.Audit(now, "job.cancel", $"job/{id}"), cancellationToken))
            {
                signal.Wake();
                return Results.Accepted($"/api/v1/jobs/{id}", (updated with { Version = job.Version + 1 }).ToDto());
            }
        }

        return Problems.Conflict($"job {id} kept changing while it was being cancelled; try again.");
    }

    private static async Task<IResult> WhyAsync(long id, HttpContext context, IMetadataStore store, SchedulerView view, CancellationToken cancellationToken)
    {
        var (job, denied) = await FindAsync(id, context.Caller(), ProjectRole.Viewer, store, cancellationToken);
        if (denied is not null)
        {
            return denied;
        }

        var pending = view.Pending(id);
        return Results.Ok(new JobWhyDto
        {
            Id = id,
            State = job!.State.ToWire(),
            Reason = job.State.IsQueued()
                ? pending?.Reason ?? (job.Reason.Length > 0 ? job.Reason : "waiting for the next scheduling pass")
                : job.Reason,
            NodeRejections = job.State.IsQueued() && pending is not null ? pending.NodeRejections : new Dictionary<string, int>(),
            QueuePosition = job.State.IsQueued() ? pending?.QueuePosition ?? 0 : 0,
            QueueAhead = job.State.IsQueued()
                ? view.Ahead(id).Select(q => new QueuedJobDto(q.Id, q.Name, q.Project, q.Priority, q.State)).ToList()
                : [],
            LastScheduledAt = view.LastPassAt,
            EstimatedStart = job.State.IsQueued() ? pending?.EstimatedStart : null,
        });
    }

    private static async Task LogsAsync(
        long id, HttpContext context, IMetadataStore store, IExecutor executor, CancellationToken cancellationToken,
        int rank = 0, string stream = "stdout", int? attempt = null, bool follow = false)
    {
        var (found, denied) = await FindAsync(id, context.Caller(), ProjectRole.Viewer, store, cancellationToken);
        if (denied is not null)
        {
            await denied.ExecuteAsync(context);
            return;
        }

        var job = found!;

        if (!Enum.TryParse<LogStream>(stream, ignoreCase: true, out var logStream))
        {
            await Problems.Validation("stream", "must be stdout or stderr").ExecuteAsync(context);
            return;
        }

        if (rank < 0 || rank >= job.Spec.Replicas)
        {
            await Problems.Validation("rank", $"must be between 0 and {job.Spec.Replicas - 1}").ExecuteAsync(context);
            return;
        }

        var number = attempt ?? job.CurrentAttempt?.Number;
        if (number is null || number < 1 || number > job.Attempts.Count)
        {
            await Problems.Validation("attempt", job.Attempts.Count == 0
                ? $"job {id} has not started yet ({job.State}); 'stratum jobs why {id}' says why"
                : $"must be between 1 and {job.Attempts.Count}").ExecuteAsync(context);
            return;
        }

        if (executor is not ISupportsLogFiles files)
        {
            await Problems.NotFound($"the '{executor.Name}' executor keeps no log files").ExecuteAsync(context);
            return;
        }

        context.Response.ContentType = "text/plain; charset=utf-8";
        var path = files.LogPath(id, number.Value, rank, logStream);
        await LogFollower.CopyAsync(path, context.Response.Body, follow, async ct =>
        {
            var current = await store.Jobs.GetAsync(id, ct);
            return current is not null && current.State == JobState.Running && current.CurrentAttempt?.Number == number;
        }, cancellationToken);
    }

    private static async Task<(Job? Job, IResult? Denied)> FindAsync(long id, Caller caller, ProjectRole needed, IMetadataStore store, CancellationToken cancellationToken)
    {
        var job = await store.Jobs.GetAsync(id, cancellationToken);
        if (job is null)
        {
            return (null, Problems.NotFound($"no job {id}; 'stratum jobs list' shows your jobs"));
        }

        return caller.Can(job.Spec.Project, needed)
            ? (job, null)
            : (null, Problems.Forbidden($"job {id} is in project '{job.Spec.Project}', where {caller.Name} has no {needed.ToString().ToLowerInvariant()} role."));
    }
}

/// <summary>Streams a log file, and with follow keeps streaming what is appended until the attempt ends.</summary>
public static class LogFollower
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    public static async Task CopyAsync(string path, Stream output, bool follow, Func<CancellationToken, Task<bool>> stillWriting, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        long offset = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (File.Exists(path))
            {
                await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                file.Seek(offset, SeekOrigin.Begin);
                int read;
                while ((read = await file.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    offset += read;
                }

                await output.FlushAsync(cancellationToken);
            }

            if (!follow)
            {
                return;
            }

            // Check "still writing" before the last read, so output written just before the end is not missed.
            var writing = await stillWriting(cancellationToken);
            if (!writing)
            {
                follow = false;
                continue;
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
    }
}
