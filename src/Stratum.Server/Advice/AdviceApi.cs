using Stratum.Client.Contracts;
using Stratum.Core.Access;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Server.Api;
using Stratum.Server.Auth;
using Stratum.Server.Telemetry;

namespace Stratum.Server.Advice;

/// <summary>GET /api/v1/advice?since=7d: waste and right-sizing recommendations over the caller's visible projects.</summary>
public static class AdviceApi
{
    public static void MapAdvice(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/api/v1/advice", GetAsync).WithTags("Advice").WithName("GetAdvice");

    /// <summary>Bucket width per resolution: fine enough for the 30-minute idle rule, coarse enough that a week of many jobs stays small.</summary>
    public static TimeSpan StepFor(TelemetryResolution resolution) => resolution switch
    {
        TelemetryResolution.Raw => TimeSpan.FromMinutes(1),
        TelemetryResolution.Minute => TimeSpan.FromMinutes(5),
        _ => TimeSpan.FromHours(1),
    };

    private static async Task<IResult> GetAsync(HttpContext context, IMetadataStore store, TimeProvider time, CancellationToken cancellationToken, string? since = null)
    {
        var caller = context.Caller();
        var window = TimeSpan.FromDays(7);
        if (since is not null && (!Quantity.TryParseDuration(since, out window) || window <= TimeSpan.Zero || window > TimeSpan.FromDays(366)))
        {
            return Problems.Validation("since", $"'{since}' is not a duration between 1s and 366d; write for example \"7d\" or \"12h\"");
        }

        var now = time.GetUtcNow();
        var input = await LoadAsync(store, caller, now - window, now, cancellationToken);
        var advice = AdviceRules.Evaluate(input);
        var currencies = advice.Where(a => a.MoneySaved != 0).Select(a => a.Currency).Distinct().ToList();
        return Results.Ok(new AdviceReportDto(
            input.Since, now, advice,
            Math.Round(advice.Sum(a => a.GpuHoursSaved), 4),
            advice.Sum(a => a.MoneySaved),
            currencies.Count switch { 0 => "USD", 1 => currencies[0], _ => "mixed" }));
    }

    /// <summary>The jobs, prices and series the rules need, read from the store.</summary>
    public static async Task<AdviceInput> LoadAsync(IMetadataStore store, Caller? caller, DateTimeOffset since, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var visible = caller is null || caller.IsAdmin ? null : caller.User.Roles.Where(r => r.Value >= ProjectRole.Viewer).Select(r => r.Key).ToList();
        var jobs = new List<Job>();
        long? before = null;
        while (true)
        {
            var page = await store.Jobs.ListAsync(new JobQuery { Projects = visible, BeforeId = before, Limit = 1000 }, cancellationToken);
            jobs.AddRange(page.Jobs.Where(j => !j.State.IsTerminal() || (j.CurrentAttempt?.EndedAt ?? j.UpdatedAt) >= since));
            if (page.NextBeforeId is null || page.Jobs.All(j => j.SubmittedAt < since && j.State.IsTerminal() && (j.CurrentAttempt?.EndedAt ?? j.UpdatedAt) < since))
            {
                break;
            }

            before = page.NextBeforeId;
        }

        var resolution = TelemetryApi.ResolutionFor(since, now, new TelemetryRetention());
        var step = StepFor(resolution);
        var buckets = await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            SubjectPrefix = "job/", Since = since, Until = now, Resolution = resolution, Step = step,
        }, cancellationToken);
        var ids = jobs.Select(j => TelemetrySampler.JobSubject(j.Id)).ToHashSet();
        var series = buckets.Where(b => ids.Contains(b.Subject))
            .GroupBy(b => long.Parse(b.Subject.AsSpan("job/".Length), System.Globalization.CultureInfo.InvariantCulture))
            .ToDictionary(g => g.Key, g => (IReadOnlyList<TelemetryBucket>)[.. g]);
        var nodes = await store.Cluster.ListNodesAsync(cancellationToken);
        var pools = (await store.Cluster.ListPoolsAsync(cancellationToken)).ToDictionary(p => p.Name);
        return new AdviceInput(now, since, step, jobs, nodes.ToDictionary(n => n.Name, n => n.Pool), pools, series);
    }
}
