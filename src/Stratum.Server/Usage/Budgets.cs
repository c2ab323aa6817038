using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Persistence;
using Stratum.Server.Metrics;

namespace Stratum.Server.Usage;

/// <summary>One project's budget against what it has spent since the start of the current UTC month.</summary>
public sealed record BudgetStatus(string Project, Budget Budget, DateTimeOffset MonthStart, decimal Spent, IReadOnlyList<decimal> Reached)
{
    public double Used => Budget.Monthly == 0 ? 0 : (double)(Spent / Budget.Monthly);
}

/// <summary>
/// Budget arithmetic, pure: spend is the usage calculator's cost over [start of the UTC month, now),
/// so a running job counts up to now and a job that began last month counts only its hours in this
/// one. A threshold is reached once spend is at or above that fraction of the monthly amount.
/// </summary>
public static class BudgetCalculator
{
    public static IReadOnlyList<BudgetStatus> Statuses(
        IEnumerable<Project> projects, IEnumerable<Job> jobs, IReadOnlyDictionary<string, string> poolOfNode, IReadOnlyDictionary<string, Pool> pools, DateTimeOffset now)
    {
        var monthStart = Budget.MonthStart(now);
        var withBudget = projects.Where(p => p.Budget is not null).ToList();
        var names = withBudget.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var slices = UsageCalculator.Slices(jobs.Where(j => names.Contains(j.Spec.Project)), poolOfNode, pools, monthStart, now);
        var spent = slices.GroupBy(s => s.Job.Spec.Project).ToDictionary(g => g.Key, g => g.Sum(s => s.Cost), StringComparer.Ordinal);
        return [.. withBudget.OrderBy(p => p.Name, StringComparer.Ordinal).Select(p =>
        {
            var budget = p.Budget!;
            var spend = spent.GetValueOrDefault(p.Name);
            return new BudgetStatus(p.Name, budget, monthStart, spend, [.. budget.Thresholds.Where(t => spend >= t * budget.Monthly)]);
        })];
    }

    /// <summary>
    /// Every job of the given projects that may have run this month: the store pages newest first, and
    /// paging stops at the first page whose jobs all ended before the month began.
    /// </summary>
    public static async Task<IReadOnlyList<BudgetStatus>> LoadAsync(IMetadataStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var projects = (await store.Cluster.ListProjectsAsync(cancellationToken)).Where(p => p.Budget is not null).ToList();
        if (projects.Count == 0)
        {
            return [];
        }

        var monthStart = Budget.MonthStart(now);
        var nodes = await store.Cluster.ListNodesAsync(cancellationToken);
        var pools = (await store.Cluster.ListPoolsAsync(cancellationToken)).ToDictionary(p => p.Name);
        var jobs = new List<Job>();
        long? before = null;
        while (true)
        {
            var page = await store.Jobs.ListAsync(new JobQuery { Projects = [.. projects.Select(p => p.Name)], BeforeId = before, Limit = 1000 }, cancellationToken);
            jobs.AddRange(page.Jobs.Where(j => j.Attempts.Count > 0));
            var pageIsOld = page.Jobs.All(j => j.SubmittedAt < monthStart && j.State.IsTerminal() && (j.CurrentAttempt?.EndedAt ?? j.UpdatedAt) < monthStart);
            if (page.NextBeforeId is null || pageIsOld)
            {
                break;
            }

            before = page.NextBeforeId;
        }

        return Statuses(projects, jobs, nodes.ToDictionary(n => n.Name, n => n.Pool), pools, now);
    }
}

/// <summary>
/// Keeps every budget's status fresh (every 30 s on the server's clock) and exposes it as gauges, so that
/// alert rules and Prometheus see the same numbers: <c>stratum_project_budget_usage_ratio</c> and one
/// <c>stratum_project_budget_threshold_reached{project,threshold}</c> series per threshold reached.
/// Reached thresholds are separate series so that the built-in <c>budget</c> alert fires once for each,
/// and all of them vanish when the month changes and spend starts again from zero, which resolves them.
/// </summary>
public sealed partial class BudgetTracker : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private readonly IMetadataStore? _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile IReadOnlyList<BudgetStatus> _statuses = [];

    public BudgetTracker(IMeterFactory meterFactory, IMetadataStore? store, TimeProvider time, ILogger<BudgetTracker> logger)
    {
        _store = store;
        _time = time;
        _logger = logger;
        var meter = meterFactory.Create(StratumMetrics.MeterName);
        meter.CreateObservableGauge("stratum.project.budget.usage", () => _statuses
            .Select(s => new Measurement<double>(s.Used, new KeyValuePair<string, object?>("project", s.Project))),
            "1", "Spend this calendar month (UTC) as a fraction of the project's monthly budget.");
        meter.CreateObservableGauge("stratum.project.budget.spend", () => _statuses
            .Select(s => new Measurement<double>((double)s.Spent, new("project", s.Project), new("currency", s.Budget.Currency))),
            null, "Spend this calendar month (UTC), in the budget's currency.");
        meter.CreateObservableGauge("stratum.project.budget.monthly", () => _statuses
            .Select(s => new Measurement<double>((double)s.Budget.Monthly, new("project", s.Project), new("currency", s.Budget.Currency))),
            null, "The project's monthly budget.");
        meter.CreateObservableGauge("stratum.project.budget.threshold.reached", () => _statuses
            .SelectMany(s => s.Reached.Select(t => new Measurement<long>(1, new("project", s.Project), new("threshold", t.ToString(CultureInfo.InvariantCulture))))),
            null, "1 for each budget threshold (a fraction of the monthly budget) that this month's spend has reached.");
    }

    public IReadOnlyList<BudgetStatus> Current => _statuses;

    /// <summary>Replaces the published statuses; the loop does this, and tests drive it on a fixed clock.</summary>
    public void Publish(IReadOnlyList<BudgetStatus> statuses) => _statuses = statuses;

    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        if (_store is not null)
        {
            Publish(await BudgetCalculator.LoadAsync(_store, _time.GetUtcNow(), cancellationToken));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RefreshAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The previous numbers stay published: a store that is briefly away must not look like zero spend.
                LogRefreshFailed(_logger, e);
            }

            try
            {
                await Task.Delay(Interval, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not compute budget spend; keeping the previous figures")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception);
}
