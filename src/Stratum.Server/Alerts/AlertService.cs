using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Stratum.Server.Metrics;

namespace Stratum.Server.Alerts;

/// <summary>
/// The alert loop: every interval (alerts.yaml <c>interval</c>, default 15s, on the injected clock)
/// it reads the same samples /metrics serves, steps the state machine and hands transitions to the
/// webhook notifier. The rule file is re-read when it changes; a broken edit keeps the previous rules
/// and is reported in the log and in GET /api/v1/alerts.
/// </summary>
public sealed partial class AlertService : BackgroundService
{
    private readonly Func<string> _metrics;
    private readonly TimeProvider _time;
    private readonly WebhookNotifier _notifier;
    private readonly ILogger _logger;
    private readonly Func<string> _externalUrl;
    private readonly AlertEvaluator _evaluator = new();
    private readonly Lock _gate = new();
    private AlertRuleSet _rules = AlertRuleSet.Empty;
    private DateTime _loadedWriteTime;
    private IReadOnlyList<string> _loadErrors = [];

    /// <summary>Loads the rules now, throwing <see cref="InvalidOperationException"/> listing every problem when the file is invalid.</summary>
    public AlertService(string? rulesPath, Func<string> metrics, TimeProvider time, WebhookNotifier notifier, ILogger<AlertService> logger, Func<string> externalUrl)
    {
        RulesPath = rulesPath;
        _metrics = metrics;
        _time = time;
        _notifier = notifier;
        _logger = logger;
        _externalUrl = externalUrl;
        if (!TryReload() && _loadErrors.Count > 0)
        {
            throw new InvalidOperationException("The alert rules are invalid:\n  " + string.Join("\n  ", _loadErrors));
        }
    }

    /// <summary>The server's way in: rules from options.AlertsFile, else DATA/alerts.yaml when it exists.</summary>
    public static AlertService Create(IServiceProvider services, string dataDirectory)
    {
        var options = services.GetRequiredService<ServerOptions>();
        var time = services.GetRequiredService<TimeProvider>();
        var exporter = services.GetRequiredService<PrometheusExporter>();
        var notifier = new WebhookNotifier(new HttpClient(), services.GetRequiredService<ILogger<WebhookNotifier>>(), (delay, token) => Task.Delay(delay, time, token));
        var path = options.AlertsFile ?? Path.Combine(dataDirectory, "alerts.yaml");
        return new AlertService(path, exporter.Render, time, notifier, services.GetRequiredService<ILogger<AlertService>>(), () =>
        {
            var address = services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "";
            return address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal);
        });
    }

    /// <summary>The rule file; null or missing means no rules.</summary>
    public string? RulesPath { get; }

    public WebhookNotifier Notifier => _notifier;

    public AlertRuleSet Rules
    {
        get
        {
            lock (_gate)
            {
                return _rules;
            }
        }
    }

    /// <summary>Problems with the rule file as it is on disk now; the previous rules stay in force meanwhile.</summary>
    public IReadOnlyList<string> LoadErrors
    {
        get
        {
            lock (_gate)
            {
                return _loadErrors;
            }
        }
    }

    public IReadOnlyList<RuleStatus> Status()
    {
        lock (_gate)
        {
            return _evaluator.Status();
        }
    }

    /// <summary>One evaluation: reload if changed, read the metrics, step the state machine, queue notifications.</summary>
    public IReadOnlyList<AlertInstance> EvaluateOnce()
    {
        TryReload();
        var samples = PrometheusText.Parse(_metrics());
        IReadOnlyList<AlertInstance> changed;
        AlertRuleSet rules;
        lock (_gate)
        {
            changed = _evaluator.Evaluate(samples, _time.GetUtcNow());
            rules = _rules;
        }

        foreach (var alert in changed)
        {
            LogTransition(_logger, alert.Rule, alert.State, alert.Fingerprint);
        }

        _notifier.Notify(changed, rules.Webhooks, _externalUrl());
        return changed;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await _notifier.DisposeAsync();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (Rules.Rules.Count > 0)
                {
                    EvaluateOnce();
                }
                else
                {
                    TryReload();
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogEvaluationFailed(_logger, e);
            }

            try
            {
                await Task.Delay(Rules.Interval, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Re-reads the rule file when its modification time changed; true when rules were (re)loaded.</summary>
    private bool TryReload()
    {
        if (RulesPath is null || !File.Exists(RulesPath))
        {
            return false;
        }

        var written = File.GetLastWriteTimeUtc(RulesPath);
        if (written == _loadedWriteTime)
        {
            return false;
        }

        var (rules, errors) = AlertRuleFile.Parse(File.ReadAllText(RulesPath), Path.GetFileName(RulesPath));
        lock (_gate)
        {
            _loadedWriteTime = written;
            _loadErrors = errors;
            if (rules is not null)
            {
                _rules = rules;
                _evaluator.SetRules(rules.Rules);
            }
        }

        if (rules is null)
        {
            LogInvalidRules(_logger, RulesPath, string.Join("; ", errors));
            return false;
        }

        LogLoaded(_logger, rules.Rules.Count, rules.Webhooks.Count, RulesPath);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Loaded {Rules} alert rules and {Webhooks} webhooks from {Path}")]
    private static partial void LogLoaded(ILogger logger, int rules, int webhooks, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "Alert rules in {Path} are invalid, keeping the previous ones: {Problems}")]
    private static partial void LogInvalidRules(ILogger logger, string path, string problems);

    [LoggerMessage(Level = LogLevel.Information, Message = "Alert {Rule} is {State} ({Fingerprint})")]
    private static partial void LogTransition(ILogger logger, string rule, AlertState state, string fingerprint);

    [LoggerMessage(Level = LogLevel.Error, Message = "Alert evaluation failed")]
    private static partial void LogEvaluationFailed(ILogger logger, Exception exception);
}
