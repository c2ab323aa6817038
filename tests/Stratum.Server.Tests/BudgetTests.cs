using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using Stratum.Client.Contracts;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Server.Alerts;
using Stratum.Server.Metrics;
using Stratum.Server.Usage;

namespace Stratum.Server.Tests;

public sealed class BudgetTests
{
    // Mid-month, so that a job can straddle the month's start.
    private static readonly DateTimeOffset Now = new(2026, 11, 10, 12, 0, 0, TimeSpan.Zero);

    private static readonly Dictionary<string, Pool> Pools = new()
    {
        ["gpu"] = new Pool { Name = "gpu", Price = new PriceModel(PricingKind.OnDemand, PerAcceleratorHour: 2m) },
    };

    private static readonly Dictionary<string, string> PoolOfNode = new() { ["g1"] = "gpu" };

    private static Project Project(string name, decimal monthly, params decimal[] thresholds) => new()
    {
        Name = name,
        Budget = new Budget { Monthly = monthly, Thresholds = thresholds.Length > 0 ? thresholds : Budget.DefaultThresholds },
    };

    private static Job GpuJob(long id, string project, int gpus, DateTimeOffset start, DateTimeOffset? end) => new()
    {
        Id = id,
        Owner = "alice",
        State = end is null ? JobState.Running : JobState.Succeeded,
        SubmittedAt = start,
        Spec = new JobSpec { Name = $"job{id}", Project = project, Command = ["train"], Resources = ResourceVector.Of(1, 1L << 30, "nvidia-h100", gpus) },
        Attempts = [new JobAttempt { Number = 1, StartedAt = start, EndedAt = end, Placement = [new ReplicaPlacement(0, "g1", [])] }],
    };

    [Fact]
    public void Statuses_CountOnlyThisMonth_RunningJobsUpToNow()
    {
        var monthStart = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(monthStart, Budget.MonthStart(Now));
        var jobs = new[]
        {
            // 10 h before the month and 5 h in it: only the 5 h count (4 GPUs x 5 h x 2 = 40).
            GpuJob(1, "vision", 4, monthStart.AddHours(-10), monthStart.AddHours(5)),
            // Still running since 2 h ago: 1 GPU x 2 h x 2 = 4.
            GpuJob(2, "vision", 1, Now.AddHours(-2), null),
            // Last month entirely: nothing.
            GpuJob(3, "vision", 8, monthStart.AddDays(-3), monthStart.AddDays(-2)),
            // A project without a budget is not reported.
            GpuJob(4, "nlp", 8, Now.AddHours(-1), Now),
        };

        var status = Assert.Single(BudgetCalculator.Statuses([Project("vision", 80m), new Project { Name = "nlp" }], jobs, PoolOfNode, Pools, Now));
        Assert.Equal("vision", status.Project);
        Assert.Equal(44m, status.Spent);
        Assert.Equal(0.55, status.Used, 9);
        Assert.Equal([0.5m], status.Reached);

        // An hour later the running job has cost 2 more: 46 of 80, still only the first threshold.
        var later = Assert.Single(BudgetCalculator.Statuses([Project("vision", 80m)], jobs, PoolOfNode, Pools, Now.AddHours(1)));
        Assert.Equal(46m, later.Spent);

        // At the next month the finished jobs are out of the window; only the running one counts, from the 1st.
        var december = new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero);
        var next = Assert.Single(BudgetCalculator.Statuses([Project("vision", 80m)], jobs, PoolOfNode, Pools, december));
        Assert.Equal(6m, next.Spent);
        Assert.Empty(next.Reached);
    }

    [Fact]
    public void BudgetAlert_FiresOncePerThreshold_ResolvesAtMonthChange()
    {
        using var factory = new TestMeterFactory();
        using var tracker = new BudgetTracker(factory, null, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<BudgetTracker>.Instance);
        using var exporter = new PrometheusExporter(m => ReferenceEquals(m.Scope, factory));
        var (rules, errors) = AlertRuleFile.Parse("rules:\n  - kind: budget\n    severity: warning\n");
        Assert.Empty(errors);
        var evaluator = new AlertEvaluator();
        evaluator.SetRules(rules!.Rules);

        var monthStart = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var job = GpuJob(1, "vision", 1, monthStart, null);
        var project = Project("vision", 100m, 0.5m, 0.8m, 1.0m);
        var fired = new List<string>();
        var resolved = new List<string>();

        // One GPU at 2 per hour against 100: 50% after 25 h, 80% after 40 h, 100% after 50 h. Evaluate hourly.
        for (var hour = 1; hour <= 60; hour++)
        {
            Step(monthStart.AddHours(hour));
        }

        Assert.Equal(["0.5", "0.8", "1.0"], fired);
        Assert.Empty(resolved);
        Assert.Contains("stratum_project_budget_usage_ratio{project=\"vision\"} 1.2", exporter.Render());

        // The month ends while the job still runs: spend restarts from zero and every threshold resolves, once.
        var december = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        Step(december.AddHours(1));
        Step(december.AddHours(2));
        Assert.Equal(["0.5", "0.8", "1.0"], resolved.Order(StringComparer.Ordinal));
        Assert.Equal(3, fired.Count);

        void Step(DateTimeOffset at)
        {
            tracker.Publish(BudgetCalculator.Statuses([project], [job], PoolOfNode, Pools, at));
            foreach (var alert in evaluator.Evaluate(PrometheusText.Parse(exporter.Render()), at))
            {
                Assert.Equal("ProjectBudget", alert.Rule);
                Assert.Equal("vision", alert.Labels["project"]);
                (alert.State == AlertState.Firing ? fired : resolved).Add(alert.Labels["threshold"]);
            }
        }
    }

    [Fact]
    public void RuleFile_BudgetKind_RejectsUnknownKindsAndExprAlongsideKind()
    {
        var (_, errors) = AlertRuleFile.Parse("rules:\n  - kind: wallet\n  - kind: budget\n    expr: up > 0\n");
        Assert.Contains(errors, e => e.StartsWith("alerts.yaml:2: rules[0].kind:", StringComparison.Ordinal) && e.Contains("'wallet'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("alerts.yaml:4: rules[1] (ProjectBudget).expr:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Apply_Budget_StoredShownInUsageAndMalformedNamesLineAndField()
    {
        await using var server = await TestServer.StartAsync(declareNode: false);
        var bad = await server.Admin.PostAsJsonAsync("/api/v1/apply", new ApplyRequest
        {
            Document = "projects:\n  - name: vision\n  - name: nlp\n    budget:\n      monthly: -5\n      currency: dollars\n      thresholds: [0.8, 0.5]\n",
        });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var problem = await bad.Content.ReadAsStringAsync();
        Assert.Contains("projects[1].budget.monthly", problem);
        Assert.Contains("line 5:", problem);
        Assert.Contains("projects[1].budget.currency", problem);
        Assert.Contains("line 6:", problem);
        Assert.Contains("projects[1].budget.thresholds[1]", problem);
        var projects = await server.Admin.GetStringAsync("/api/v1/projects");
        Assert.DoesNotContain("nlp", projects);

        const string Good = "projects:\n  - name: vision\n    budget: { monthly: 5000, currency: EUR, thresholds: [0.5, 0.9] }\n";
        var created = await server.ApplyAsync(Good);
        Assert.Contains(created.Changes, c => c.Kind == "project" && c.Name == "vision" && c.Action == "create");
        var again = await server.ApplyAsync(Good);
        Assert.Contains(again.Changes, c => c.Name == "vision" && c.Action == "unchanged");
        var changed = await server.ApplyAsync(Good.Replace("5000", "6000", StringComparison.Ordinal));
        Assert.Contains(changed.Changes, c => c.Name == "vision" && c.Action == "update" && c.Detail!.Contains("6000", StringComparison.Ordinal));

        var report = await server.Admin.GetFromJsonAsync<UsageReportDto>("/api/v1/usage?by=project", TestServer.JsonOptions);
        var row = Assert.Single(report!.Rows, r => r.Key == "vision");
        Assert.NotNull(row.Budget);
        Assert.Equal(6000m, row.Budget!.Monthly);
        Assert.Equal("EUR", row.Budget.Currency);
        Assert.Equal(0m, row.Budget.SpentThisMonth);
        Assert.Equal([0.5m, 0.9m], row.Budget.Thresholds);
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, this);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose() => _meters.ForEach(m => m.Dispose());
    }
}
