using Stratum.Client.Contracts;
using Stratum.Core.Access;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Server.Api;
using Stratum.Server.Auth;

namespace Stratum.Server.Usage;

/// <summary>GET /api/v1/usage?by=project|user|pool|job|day&amp;since=30d: accounting over job attempts.</summary>
public static class UsageApi
{
    public static void MapUsage(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/api/v1/usage", GetAsync).WithTags("Usage").WithName("GetUsage");

    private static async Task<IResult> GetAsync(
        HttpContext context, IMetadataStore store, TimeProvider time, CancellationToken cancellationToken, string? by = null, string? since = null)
    {
        var caller = context.Caller();
        if (!Enum.TryParse<UsageGrouping>(by ?? "project", ignoreCase: true, out var grouping) || !Enum.IsDefined(grouping))
        {
            return Problems.Validation("by", $"'{by}' is not a grouping; use project, user, pool, job or day");
        }

        var window = TimeSpan.FromDays(30);
        if (since is not null && (!Quantity.TryParseDuration(since, out window) || window <= TimeSpan.Zero || window > TimeSpan.FromDays(3660)))
        {
            return Problems.Validation("since", $"'{since}' is not a duration between 1s and 3660d; write for example \"30d\" or \"12h\"");
        }

        var until = time.GetUtcNow();
        var from = until - window;
        var nodes = await store.Cluster.ListNodesAsync(cancellationToken);
        var pools = (await store.Cluster.ListPoolsAsync(cancellationToken)).ToDictionary(p => p.Name);
        var jobs = await JobsInWindowAsync(store, caller, from, cancellationToken);
        var slices = UsageCalculator.Slices(jobs, nodes.ToDictionary(n => n.Name, n => n.Pool), pools, from, until);
        var (rows, total) = UsageCalculator.Group(slices, grouping);
        var rowDtos = rows.Select(ToDto).ToList();
        if (grouping == UsageGrouping.Project)
        {
            // Budgets count the calendar month whatever --since says, so they are computed on their own.
            var budgets = (await BudgetCalculator.LoadAsync(store, until, cancellationToken))
                .Where(b => caller.IsAdmin || caller.User.Roles.GetValueOrDefault(b.Project) >= ProjectRole.Viewer)
                .ToDictionary(b => b.Project, StringComparer.Ordinal);
            rowDtos = [.. rowDtos.Select(r => budgets.TryGetValue(r.Key, out var b) ? r with { Budget = ToDto(b) } : r)];
            rowDtos.AddRange(budgets.Values.Where(b => rowDtos.All(r => r.Key != b.Project))
                .Select(b => new UsageRowDto(b.Project, 0, 0, 0, 0, b.Budget.Currency, 0, ToDto(b))));
        }

        return Results.Ok(new UsageReportDto(
            grouping.ToString().ToLowerInvariant(),
            from,
            until,
            rowDtos,
            ToDto(total)));
    }

    /// <summary>
    /// Jobs that may have used resources since <paramref name="from"/>, newest first, among the projects the
    /// caller may see. Paging stops at the first page whose jobs were all submitted and ended before the window.
    /// </summary>
    private static async Task<List<Job>> JobsInWindowAsync(IMetadataStore store, Caller caller, DateTimeOffset from, CancellationToken cancellationToken)
    {
        var visible = caller.IsAdmin ? null : caller.User.Roles.Where(r => r.Value >= ProjectRole.Viewer).Select(r => r.Key).ToList();
        var jobs = new List<Job>();
        long? before = null;
        while (true)
        {
            var page = await store.Jobs.ListAsync(new JobQuery { Projects = visible, BeforeId = before, Limit = 1000 }, cancellationToken);
            jobs.AddRange(page.Jobs.Where(j => j.Attempts.Count > 0));
            var pageIsOld = page.Jobs.All(j => j.SubmittedAt < from && j.State.IsTerminal() && (j.CurrentAttempt?.EndedAt ?? j.UpdatedAt) < from);
            if (page.NextBeforeId is null || pageIsOld)
            {
                return jobs;
            }

            before = page.NextBeforeId;
        }
    }

    private static BudgetDto ToDto(BudgetStatus status) => new(
        status.Budget.Monthly, status.Budget.Currency, Math.Round(status.Spent, 4), Math.Round(status.Used, 4), status.Budget.Thresholds, status.Reached);

    private static UsageRowDto ToDto(UsageCalculator.Row row) =>
        new(row.Key, Math.Round(row.GpuHours, 4), Math.Round(row.CpuHours, 4), Math.Round(row.MemoryGbHours, 4), Math.Round(row.Cost, 4), row.Currency, row.Jobs);
}
