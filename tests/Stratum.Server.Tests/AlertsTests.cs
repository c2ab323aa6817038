using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.Logging;
using Stratum.Server.Alerts;

namespace Stratum.Server.Tests;

public sealed class AlertsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private const string Metrics = """
        # TYPE stratum_jobs gauge
        stratum_jobs{project="ml",state="Pending"} 3
        stratum_jobs{project="ml",state="Running"} 2
        stratum_jobs{project="web",state="Pending"} 1
        stratum_node_ready{node="n1",pool="a",state="Ready"} 1
        stratum_node_ready{node="n2",pool="a",state="Down"} 0
        stratum_node_allocatable_gpus{node="n1",pool="a"} 8
        stratum_node_allocated_gpus{node="n1",pool="a"} 2
        """;

    [Theory]
    [InlineData("stratum_jobs{state=\"Pending\"} > 0", "project=ml:3|project=web:1")]
    [InlineData("stratum_jobs{state=\"Pending\",project!=\"web\"} >= 3", "project=ml:3")]
    [InlineData("stratum_jobs{state=~\"Pend.*|Run.*\",project=\"ml\"} < 3", "project=ml:2")]
    [InlineData("sum(stratum_jobs{state=\"Pending\"}) > 3", ":4")]
    [InlineData("sum(stratum_jobs) by (project) > 1", "project=ml:5")]
    [InlineData("count(stratum_node_ready{state=\"Down\"}) > 0", ":1")]
    [InlineData("stratum_node_ready{state=\"Down\"} > 0", "")]
    [InlineData("sum(stratum_node_allocatable_gpus) > 4 and sum(stratum_jobs{state=\"Pending\"}) > 0", ":8")]
    [InlineData("sum(stratum_node_allocatable_gpus) > 4 and sum(stratum_jobs{state=\"Preempted\"}) > 0", "")]
    public void Evaluate_PromQlSubset_MatchesPrometheusSemantics(string expression, string expected)
    {
        var parsed = AlertExpression.TryParse(expression, out var error);
        Assert.True(parsed is not null, error);

        var result = parsed!.Evaluate(PrometheusText.Parse(Metrics))
            .Select(s => string.Join(",", s.Labels.Where(l => l.Key != "state" && l.Key != "node" && l.Key != "pool").Select(l => $"{l.Key}={l.Value}")) + ":" + s.Value)
            .Order(StringComparer.Ordinal);
        Assert.Equal(expected, string.Join("|", result));
    }

    [Theory]
    [InlineData("stratum_jobs{state=\"Pending\"}", "expected a comparison")]
    [InlineData("stratum_jobs{state=Pending} > 0", "quoted value for label 'state'")]
    [InlineData("stratum_jobs > lots", "expected a number")]
    [InlineData("rate(stratum_jobs[5m]) > 0", "unexpected '['")]
    [InlineData("stratum_jobs > 0 or up > 0", "join comparisons with 'and'")]
    public void TryParse_Malformed_SaysWhatAndWhere(string expression, string message)
    {
        Assert.Null(AlertExpression.TryParse(expression, out var error));
        Assert.Contains(message, error);
    }

    [Fact]
    public void Parse_InvalidRules_NameLineRuleAndField()
    {
        var (rules, errors) = AlertRuleFile.Parse("""
            rules:
              - name: NodeDown
                expr: stratum_node_ready{state="Down"} > 0
                for: 5 minutes
              - name: QueueLong
                expr: stratum_jobs{state="Pending"} >
                severity: page
              - name: bad-name
                expr: up > 0
                colour: red
            webhooks:
              - url: ftp://example
            """);

        Assert.Null(rules);
        Assert.Contains(errors, e => e.StartsWith("alerts.yaml:4: rules[0] (NodeDown).for:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("alerts.yaml:6: rules[1] (QueueLong).expr: expected a number", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("alerts.yaml:7: rules[1] (QueueLong).severity: 'page'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("alerts.yaml:8: rules[2] (bad-name).name:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("alerts.yaml:10: rules[2] (bad-name).colour: unknown field", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("alerts.yaml:12: webhooks[0].url:", StringComparison.Ordinal));
        Assert.Equal(6, errors.Count);
    }

    [Fact]
    public void Evaluate_ConditionHoldsThenClears_GoesPendingFiringResolvedWithoutDuplicates()
    {
        var evaluator = new AlertEvaluator();
        evaluator.SetRules(Rules("""
            rules:
              - name: QueueLong
                expr: stratum_jobs{state="Pending"} > 2
                for: 1m
                severity: critical
                labels: { team: ml }
                annotations: { summary: "{{ $labels.project }} has {{ $value }} queued" }
            """).Rules);
        var high = PrometheusText.Parse("stratum_jobs{project=\"ml\",state=\"Pending\"} 5\n");
        var low = PrometheusText.Parse("stratum_jobs{project=\"ml\",state=\"Pending\"} 1\n");

        Assert.Equal(AlertState.Inactive, evaluator.Status()[0].State);
        Assert.Empty(evaluator.Evaluate(high, T0));
        Assert.Equal(AlertState.Pending, evaluator.Status()[0].State);
        Assert.Empty(evaluator.Evaluate(high, T0.AddSeconds(30)));

        var fired = Assert.Single(evaluator.Evaluate(high, T0.AddSeconds(60)));
        Assert.Equal(AlertState.Firing, fired.State);
        Assert.Equal(T0, fired.ActiveAt);
        Assert.Equal("ml has 5 queued", fired.Annotations["summary"]);
        Assert.Equal("QueueLong", fired.Labels["alertname"]);
        Assert.Equal("critical", fired.Labels["severity"]);
        Assert.Equal("ml", fired.Labels["team"]);
        Assert.Equal("ml", fired.Labels["project"]);
        Assert.Empty(evaluator.Evaluate(high, T0.AddSeconds(90)));

        var resolved = Assert.Single(evaluator.Evaluate(low, T0.AddSeconds(120)));
        Assert.Equal(AlertState.Resolved, resolved.State);
        Assert.Equal(fired.Fingerprint, resolved.Fingerprint);
        Assert.Equal(T0.AddSeconds(120), resolved.ResolvedAt);
        Assert.Empty(evaluator.Evaluate(low, T0.AddSeconds(150)));
        Assert.Equal(AlertState.Resolved, evaluator.Status()[0].State);
        Assert.Empty(evaluator.Evaluate(low, T0.AddSeconds(120) + AlertEvaluator.ResolvedRetention));
        Assert.Equal(AlertState.Inactive, evaluator.Status()[0].State);
    }

    [Fact]
    public void Evaluate_ConditionClearsWhilePending_NeverFires()
    {
        var evaluator = new AlertEvaluator();
        evaluator.SetRules(Rules("rules: [{ name: Down, expr: 'stratum_node_ready{state=\"Down\"} > 0', for: 5m }]").Rules);
        var down = PrometheusText.Parse("stratum_node_ready{node=\"n1\",state=\"Down\"} 1\n");

        Assert.Empty(evaluator.Evaluate(down, T0));
        Assert.Empty(evaluator.Evaluate([], T0.AddMinutes(4)));
        Assert.Equal(AlertState.Inactive, evaluator.Status()[0].State);
        Assert.Empty(evaluator.Evaluate(down, T0.AddMinutes(6)));
        Assert.Equal(AlertState.Pending, evaluator.Status()[0].State);
    }

    [Fact]
    public async Task Notify_ReceiverFailsTwice_RetriesWithBackoffAndDeliversAlertmanagerFormat()
    {
        await using var receiver = new AlertsWebhookReceiver(HttpStatusCode.InternalServerError, HttpStatusCode.ServiceUnavailable);
        var delays = new List<TimeSpan>();
        var logger = new RecordingLogger<WebhookNotifier>();
        await using var notifier = new WebhookNotifier(new HttpClient(), logger, (delay, _) =>
        {
            lock (delays)
            {
                delays.Add(delay);
            }

            return Task.CompletedTask;
        });

        notifier.Notify([Firing("NodeDown", ("node", "n2"))], [new WebhookReceiver(receiver.Url)], "http://stratum:8470/");
        var body = await receiver.NextAsync();

        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)], delays);
        Assert.Equal(3, receiver.Requests);
        Assert.Equal("4", body.GetProperty("version").GetString());
        Assert.Equal("firing", body.GetProperty("status").GetString());
        Assert.Equal("NodeDown", body.GetProperty("groupLabels").GetProperty("alertname").GetString());
        Assert.Equal("http://stratum:8470/", body.GetProperty("externalURL").GetString());
        var alert = Assert.Single(body.GetProperty("alerts").EnumerateArray());
        Assert.Equal("firing", alert.GetProperty("status").GetString());
        Assert.Equal("n2", alert.GetProperty("labels").GetProperty("node").GetString());
        Assert.Equal(T0, alert.GetProperty("startsAt").GetDateTimeOffset());
        Assert.Equal("0001-01-01T00:00:00+00:00", alert.GetProperty("endsAt").GetString());
        Assert.Equal("http://stratum:8470/ui/alerts", alert.GetProperty("generatorURL").GetString());
        Assert.Equal(2, logger.Messages.Count);
        Assert.All(logger.Messages, m => Assert.DoesNotContain("s3cr3t", m, StringComparison.Ordinal));
        Assert.All(logger.Messages, m => Assert.DoesNotContain("hunter2", m, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Notify_OneReceiverHangs_OtherReceiverStillGetsItAndHungOneGivesUp()
    {
        await using var hanging = new AlertsWebhookReceiver { Hang = true };
        await using var healthy = new AlertsWebhookReceiver();
        var logger = new RecordingLogger<WebhookNotifier>();
        await using var notifier = new WebhookNotifier(new HttpClient(), logger, (_, _) => Task.CompletedTask)
        {
            AttemptTimeout = TimeSpan.FromMilliseconds(200),
            MaxAttempts = 2,
        };

        notifier.Notify([Firing("A"), Firing("B")], [new WebhookReceiver(hanging.Url), new WebhookReceiver(healthy.Url)], "http://stratum/");

        Assert.Equal("A", (await healthy.NextAsync()).GetProperty("groupLabels").GetProperty("alertname").GetString());
        Assert.Equal("B", (await healthy.NextAsync()).GetProperty("groupLabels").GetProperty("alertname").GetString());
        var deadline = Stopwatch.StartNew();
        while (notifier.Failed < 2 && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(20);
        }

        Assert.Equal(2, notifier.Failed);
        Assert.Equal(2, notifier.Delivered);
        Assert.Contains(logger.Messages, m => m.Contains("giving up after 2 attempts (no answer within 0s)", StringComparison.Ordinal)
            || m.Contains("giving up after 2 attempts", StringComparison.Ordinal));
        Assert.All(logger.Messages, m => Assert.DoesNotContain("s3cr3t", m, StringComparison.Ordinal));
    }

    [Fact]
    public async Task DisposeAsync_Twice_IsANoOpAndLaterNotificationsAreDropped()
    {
        await using var receiver = new AlertsWebhookReceiver(HttpStatusCode.OK);
        var notifier = new WebhookNotifier(new HttpClient(), new RecordingLogger<WebhookNotifier>(), (_, _) => Task.CompletedTask);

        await notifier.DisposeAsync();
        await notifier.DisposeAsync();
        notifier.Notify([Firing("A")], [new WebhookReceiver(receiver.Url)], "http://stratum/");

        Assert.Equal(0, notifier.Failed);
    }

    [Fact]
    public async Task Notify_PermanentClientError_IsNotRetried()
    {
        await using var receiver = new AlertsWebhookReceiver(HttpStatusCode.BadRequest);
        var logger = new RecordingLogger<WebhookNotifier>();
        await using var notifier = new WebhookNotifier(new HttpClient(), logger, (_, _) => Task.CompletedTask);

        notifier.Notify([Firing("A")], [new WebhookReceiver(receiver.Url)], "http://stratum/");
        var deadline = Stopwatch.StartNew();
        while (notifier.Failed < 1 && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(20);
        }

        Assert.Equal(1, notifier.Failed);
        Assert.Equal(1, receiver.Requests);
    }

    [Fact]
    public async Task PrometheusRules_Export_PassesPromtoolCheckRules()
    {
        var rules = Rules("""
            interval: 30s
            rules:
              - name: NodeDown
                expr: stratum_node_ready{state="Down"} > 0
                for: 1m
                severity: critical
                annotations: { summary: "node {{ $labels.node }} is down", description: "It said: \"gone\"" }
              - name: GpusIdleWhileJobsQueue
                expr: sum(stratum_node_allocatable_gpus) - 0 > 0 and sum(stratum_jobs{state="Pending"}) > 0
            """, expectValid: false);
        Assert.Null(rules.Rules.FirstOrDefault(r => r.Name == "GpusIdleWhileJobsQueue"));

        var valid = Rules("""
            interval: 30s
            rules:
              - name: NodeDown
                expr: stratum_node_ready{state="Down"} > 0
                for: 1m
                severity: critical
                labels: { team: infra }
                annotations: { summary: "node {{ $labels.node }} is down", description: "It said: \"gone\"" }
              - name: GpusIdleWhileJobsQueue
                expr: sum(stratum_node_allocatable_gpus) > 0 and sum(stratum_jobs{state=~"Pending|Preempted"}) > 0
                for: 90s
              - name: QueueLong
                expr: sum(stratum_jobs{state="Pending"}) by (project) > 50
            """);
        var text = PrometheusRules.Render(valid);
        Assert.Contains("  - alert: GpusIdleWhileJobsQueue\n", text.Replace("    ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("for: 90s", text, StringComparison.Ordinal);

        if (Promtool() is not { } promtool)
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "promtool is missing under CI: .ci/run installs Debian's prometheus package");
            return;
        }

        var file = Path.Combine(Path.GetTempPath(), $"stratum-rules-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, text);
        try
        {
            var start = new ProcessStartInfo(promtool, ["check", "rules", file]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(process.ExitCode == 0, $"promtool check rules failed:\n{output}\n--- rules ---\n{text}");
            Assert.Contains("SUCCESS: 3 rules found", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Server_JobsQueue_AlertFiresListedAndPostedToWebhook()
    {
        await using var receiver = new AlertsWebhookReceiver();
        var data = Path.Combine(Path.GetTempPath(), "stratum-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(data);
        await File.WriteAllTextAsync(Path.Combine(data, "alerts.yaml"), $$$"""
            interval: 1s
            webhooks:
              - url: {{{receiver.Url}}}
            rules:
              - name: JobsQueued
                expr: stratum_jobs{state="Pending"} > 0
                severity: warning
                annotations: { summary: "{{ $value }} jobs of {{ $labels.project }} wait" }
            """);
        await using var server = await TestServer.StartAsync(data);

        // The first job holds all four cores of the only node, so the second waits.
        var holder = await server.SubmitAsync(TestServer.Job("sleep", "60") with { Resources = new() { Cpu = "4", Memory = "256Mi" } });
        await server.WaitForStateAsync(holder.Id, "Running");
        var job = await server.SubmitAsync(TestServer.Job("true"));
        var message = await receiver.NextAsync();

        Assert.Equal("firing", message.GetProperty("status").GetString());
        var alert = Assert.Single(message.GetProperty("alerts").EnumerateArray());
        Assert.Equal("default", alert.GetProperty("labels").GetProperty("project").GetString());
        Assert.Equal("1 jobs of default wait", alert.GetProperty("annotations").GetProperty("summary").GetString());

        var status = await server.Admin.GetFromJsonAsync<AlertsDto>("/api/v1/alerts", TestServer.JsonOptions);
        var rule = Assert.Single(status!.Rules);
        Assert.Equal("JobsQueued", rule.Name);
        Assert.Equal("firing", rule.State);
        Assert.Equal($"http://127.0.0.1:{receiver.Port}/…", Assert.Single(status.Webhooks));

        var rules = await server.Admin.GetStringAsync("/api/v1/alerts/prometheus-rules");
        Assert.Contains("- alert: JobsQueued", rules, StringComparison.Ordinal);

        using var anonymous = server.Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/alerts")).StatusCode);

        await server.Admin.PostAsync($"/api/v1/jobs/{job.Id}/cancel", null);
        var resolved = await receiver.NextAsync();
        Assert.Equal("resolved", resolved.GetProperty("status").GetString());
        Assert.False(receiver.TryNext(out _));
        await server.Admin.PostAsync($"/api/v1/jobs/{holder.Id}/cancel", null);
    }

    [Fact]
    public async Task Server_InvalidRuleFile_RefusesToStartNamingRuleAndField()
    {
        var data = Path.Combine(Path.GetTempPath(), "stratum-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(data);
        await File.WriteAllTextAsync(Path.Combine(data, "alerts.yaml"), "rules:\n  - name: Broken\n    expr: stratum_jobs >\n");
        try
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => TestServer.StartAsync(data, declareNode: false));
            Assert.Contains("alerts.yaml:3: rules[0] (Broken).expr", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Dashboard_WithoutToken_ServesPageAndAssetsButNoData()
    {
        await using var server = await TestServer.StartAsync(declareNode: false);
        using var anonymous = server.Client(null);

        foreach (var path in new[] { "/", "/ui", "/ui/jobs" })
        {
            var page = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            Assert.Contains("/ui/assets/app.js", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        }

        var script = await anonymous.GetAsync("/ui/assets/app.js");
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync("/ui/assets/missing.js")).StatusCode);
        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/ui/assets/app.css");
        conditional.Headers.TryAddWithoutValidation("If-None-Match", (await anonymous.GetAsync("/ui/assets/app.css")).Headers.ETag!.Tag);
        Assert.Equal(HttpStatusCode.NotModified, (await anonymous.SendAsync(conditional)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/jobs")).StatusCode);
    }

    private static AlertRuleSet Rules(string yaml, bool expectValid = true)
    {
        var (rules, errors) = AlertRuleFile.Parse(yaml);
        if (expectValid)
        {
            Assert.True(rules is not null, string.Join("\n", errors));
        }

        return rules ?? AlertRuleSet.Empty;
    }

    private static AlertInstance Firing(string rule, params (string Key, string Value)[] labels)
    {
        var all = labels.ToDictionary(l => l.Key, l => l.Value);
        all["alertname"] = rule;
        return new AlertInstance(rule, AlertEvaluator.Fingerprint(all), all, new Dictionary<string, string>(), AlertState.Firing, 1, T0, T0, null);
    }

    private static string? Promtool() => new[] { "/usr/bin/promtool", "/usr/local/bin/promtool" }.FirstOrDefault(File.Exists);
}

/// <summary>Keeps every formatted log message, to check what a component writes (and what it must not).</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly List<string> _messages = [];

    public IReadOnlyList<string> Messages
    {
        get
        {
            lock (_messages)
            {
                return [.. _messages];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_messages)
        {
            _messages.Add(formatter(state, exception) + (exception is null ? "" : " " + exception));
        }
    }
}
