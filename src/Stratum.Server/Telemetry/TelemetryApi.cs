using Stratum.Client.Contracts;
using Stratum.Core;
using Stratum.Core.Access;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Server.Api;
using Stratum.Server.Auth;

namespace Stratum.Server.Telemetry;

/// <summary>
/// GET /api/v1/telemetry?node=|job=&amp;metric=&amp;since=&amp;step=: stored series, read from the finest
/// resolution that still covers the window; GET /api/v1/jobs/{id}/usage: a job's usage summary.
/// </summary>
public static class TelemetryApi
{
    /// <summary>Enough points for any chart, few enough that one answer stays small.</summary>
    public const int MaxBuckets = 5000;

    private static readonly TimeSpan MaxWindow = TimeSpan.FromDays(366);

    public static void MapTelemetry(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/api/v1/telemetry", GetAsync).WithTags("Telemetry").WithName("GetTelemetry");
        routes.MapGet("/api/v1/jobs/{id:long}/usage", GetJobUsageAsync).WithTags("Telemetry").WithName("GetJobUsage");
    }

    /// <summary>Raw samples are kept a day, minute buckets 30 days, hour buckets a year: the finest one that still holds the window's start.</summary>
    public static TelemetryResolution ResolutionFor(DateTimeOffset since, DateTimeOffset now, TelemetryRetention retention) =>
        now - since <= retention.Raw ? TelemetryResolution.Raw
        : now - since <= retention.Minute ? TelemetryResolution.Minute
        : TelemetryResolution.Hour;

    /// <summary>About 120 buckets over the window, whole seconds, never finer than the resolution.</summary>
    public static TimeSpan DefaultStep(TimeSpan window, TelemetryResolution resolution)
    {
        var floor = resolution switch
        {
            TelemetryResolution.Minute => TimeSpan.FromMinutes(1),
            TelemetryResolution.Hour => TimeSpan.FromHours(1),
            _ => TimeSpan.FromSeconds(1),
        };
        var step = TimeSpan.FromSeconds(Math.Ceiling(window.TotalSeconds / 120));
        return step < floor ? floor : TimeSpan.FromTicks(step.Ticks / floor.Ticks * floor.Ticks);
    }

    private static async Task<IResult> GetAsync(
        HttpContext context, IMetadataStore store, TimeProvider time, CancellationToken cancellationToken,
        string? node = null, long? job = null, string? metric = null, string? since = null, string? step = null)
    {
        var caller = context.Caller();
        var errors = new List<ValidationError>();
        if ((node is null) == (job is null))
        {
            errors.Add(new("node", "give exactly one of node=NAME or job=ID"));
        }

        var window = TimeSpan.FromHours(1);
        if (since is not null && (!Quantity.TryParseDuration(since, out window) || window <= TimeSpan.Zero || window > MaxWindow))
        {
            errors.Add(new("since", $"'{since}' is not a duration between 1s and 366d; write for example \"1h\" or \"7d\""));
        }

        var now = time.GetUtcNow();
        var from = now - window;
        var resolution = ResolutionFor(from, now, new TelemetryRetention());
        var width = DefaultStep(window, resolution);
        if (step is not null && (!Quantity.TryParseDuration(step, out width) || width < DefaultStep(TimeSpan.Zero, resolution)))
        {
            errors.Add(new("step", $"'{step}' is not a duration of at least {DefaultStep(TimeSpan.Zero, resolution).TotalSeconds}s (the {resolution.ToString().ToLowerInvariant()} resolution a {since ?? "1h"} window is read from)"));
        }
        else if (window / width > MaxBuckets)
        {
            errors.Add(new("step", $"{width} over {window} gives more than {MaxBuckets} points; choose a larger step"));
        }

        if (metric is { Length: 0 or > 100 })
        {
            errors.Add(new("metric", "must be 1 to 100 characters"));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        string subject;
        if (job is { } id)
        {
            var found = await store.Jobs.GetAsync(id, cancellationToken);
            if (found is null)
            {
                return Problems.NotFound($"no job {id}; 'stratum jobs list' shows your jobs");
            }

            if (!caller.Can(found.Spec.Project, ProjectRole.Viewer))
            {
                return Problems.Forbidden($"job {id} is in project '{found.Spec.Project}', where {caller.Name} has no viewer role.");
            }

            subject = TelemetrySampler.JobSubject(id);
        }
        else
        {
            subject = TelemetrySampler.NodeSubject(node!);
        }

        var buckets = await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            Subject = subject, Metric = metric, Since = from, Until = now, Resolution = resolution, Step = width,
        }, cancellationToken);
        var series = buckets.GroupBy(b => b.Metric)
            .Select(g => new TelemetrySeriesDto(g.Key, [.. g.Select(b => new TelemetryPointDto(b.At, b.Average, b.Max))]))
            .ToList();
        return Results.Ok(new TelemetryReportDto(subject, resolution.ToString().ToLowerInvariant(), from, now, width.TotalSeconds, series));
    }

    private static async Task<IResult> GetJobUsageAsync(long id, HttpContext context, IMetadataStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        var job = await store.Jobs.GetAsync(id, cancellationToken);
        if (job is null)
        {
            return Problems.NotFound($"no job {id}; 'stratum jobs list' shows your jobs");
        }

        if (!caller.Can(job.Spec.Project, ProjectRole.Viewer))
        {
            return Problems.Forbidden($"job {id} is in project '{job.Spec.Project}', where {caller.Name} has no viewer role.");
        }

        var summary = await SummarizeAsync(store, job, time.GetUtcNow(), cancellationToken);
        return Results.Ok(summary);
    }

    /// <summary>Average and maximum of a job's stored series over its attempts (up to now while it runs).</summary>
    public static async Task<JobUsageSummaryDto> SummarizeAsync(IMetadataStore store, Job job, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var since = job.Attempts.Count > 0 ? job.Attempts[0].StartedAt : job.SubmittedAt;
        var until = job.State.IsTerminal() && job.CurrentAttempt?.EndedAt is { } ended ? ended.AddSeconds(1) : now;
        if (until <= since)
        {
            until = since.AddSeconds(1);
        }

        var resolution = ResolutionFor(since, now, new TelemetryRetention());
        var buckets = await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            Subject = TelemetrySampler.JobSubject(job.Id),
            Since = since,
            Until = until,
            Resolution = resolution,
            Step = TimeSpan.FromMilliseconds(Math.Max(TelemetryBucketFloor(resolution), Math.Ceiling((until - since).TotalMilliseconds))),
        }, cancellationToken);
        TelemetryBucket? Metric(string name) => buckets.FirstOrDefault(b => b.Metric == name);
        var cpu = Metric("cpu_cores");
        var memory = Metric("memory_bytes");
        var gpu = Metric("gpu_utilization");
        var resources = job.Spec.Resources;
        return new JobUsageSummaryDto(
            job.Id, since, until, buckets.Count == 0 ? 0 : buckets.Max(b => b.Samples),
            cpu?.Average, cpu?.Max, memory?.Average, memory?.Max, gpu?.Average, gpu?.Max,
            resources.CpuMillis / 1000.0, resources.MemoryBytes, resources.AcceleratorCount);
    }

    private static double TelemetryBucketFloor(TelemetryResolution resolution) => resolution switch
    {
        TelemetryResolution.Minute => 60_000,
        TelemetryResolution.Hour => 3_600_000,
        _ => 1,
    };
}
