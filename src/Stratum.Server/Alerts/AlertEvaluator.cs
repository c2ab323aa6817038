using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Stratum.Server.Alerts;

/// <summary>inactive → pending → firing → resolved, as in Prometheus.</summary>
public enum AlertState
{
    Inactive,
    Pending,
    Firing,
    Resolved,
}

/// <summary>One alert: a rule's expression holding for one series.</summary>
public sealed record AlertInstance(
    string Rule,
    string Fingerprint,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    AlertState State,
    double Value,
    DateTimeOffset ActiveAt,
    DateTimeOffset? FiredAt,
    DateTimeOffset? ResolvedAt);

/// <summary>A rule and its alerts after the latest evaluation.</summary>
public sealed record RuleStatus(AlertRule Rule, AlertState State, IReadOnlyList<AlertInstance> Alerts, DateTimeOffset? LastEvaluation);

/// <summary>
/// The alert state machine, a pure function of rules, samples and the time of each evaluation. Only
/// transitions produce notifications: an alert is sent once when it starts firing and once when it
/// resolves, never again while it stays in either state (no duplicates on every evaluation).
/// </summary>
public sealed partial class AlertEvaluator
{
    /// <summary>How long a resolved alert stays listed, like Prometheus' resolved-alert retention.</summary>
    public static readonly TimeSpan ResolvedRetention = TimeSpan.FromMinutes(15);

    private readonly Dictionary<string, Dictionary<string, AlertInstance>> _active = new(StringComparer.Ordinal);
    private IReadOnlyList<AlertRule> _rules = [];
    private DateTimeOffset? _lastEvaluation;

    /// <summary>Replaces the rules; alerts of rules that keep their name keep their state.</summary>
    public void SetRules(IReadOnlyList<AlertRule> rules)
    {
        _rules = rules;
        foreach (var name in _active.Keys.Where(n => rules.All(r => r.Name != n)).ToList())
        {
            _active.Remove(name);
        }
    }

    /// <summary>Evaluates every rule at <paramref name="now"/> and returns the alerts that started firing or resolved.</summary>
    public IReadOnlyList<AlertInstance> Evaluate(IReadOnlyList<MetricSample> samples, DateTimeOffset now)
    {
        _lastEvaluation = now;
        var changed = new List<AlertInstance>();
        foreach (var rule in _rules)
        {
            if (!_active.TryGetValue(rule.Name, out var alerts))
            {
                alerts = new Dictionary<string, AlertInstance>(StringComparer.Ordinal);
                _active[rule.Name] = alerts;
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var series in rule.Expression.Evaluate(samples))
            {
                var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
                foreach (var (key, value) in series.Labels)
                {
                    labels[key] = value;
                }

                foreach (var (key, value) in rule.Labels)
                {
                    labels[key] = value;
                }

                labels["alertname"] = rule.Name;
                labels["severity"] = rule.Severity;
                var fingerprint = Fingerprint(labels);
                if (!seen.Add(fingerprint))
                {
                    continue;
                }

                var annotations = rule.Annotations.ToDictionary(a => a.Key, a => Expand(a.Value, labels, series.Value), StringComparer.Ordinal);
                if (!alerts.TryGetValue(fingerprint, out var alert) || alert.State == AlertState.Resolved)
                {
                    alert = new AlertInstance(rule.Name, fingerprint, labels, annotations, AlertState.Pending, series.Value, now, null, null);
                }

                alert = alert with { Value = series.Value, Annotations = annotations };
                if (alert.State == AlertState.Pending && now - alert.ActiveAt >= rule.For)
                {
                    alert = alert with { State = AlertState.Firing, FiredAt = now };
                    changed.Add(alert);
                }

                alerts[fingerprint] = alert;
            }

            foreach (var (fingerprint, alert) in alerts.ToList())
            {
                if (seen.Contains(fingerprint))
                {
                    continue;
                }

                switch (alert.State)
                {
                    case AlertState.Pending:
                        alerts.Remove(fingerprint);
                        break;
                    case AlertState.Firing:
                        var resolved = alert with { State = AlertState.Resolved, ResolvedAt = now };
                        alerts[fingerprint] = resolved;
                        changed.Add(resolved);
                        break;
                    case AlertState.Resolved when now - alert.ResolvedAt >= ResolvedRetention:
                        alerts.Remove(fingerprint);
                        break;
                }
            }
        }

        return changed;
    }

    /// <summary>Every rule with its alerts, in rule order.</summary>
    public IReadOnlyList<RuleStatus> Status() => [.. _rules.Select(rule =>
    {
        var alerts = _active.TryGetValue(rule.Name, out var found)
            ? found.Values.OrderBy(a => a.ActiveAt).ThenBy(a => a.Fingerprint, StringComparer.Ordinal).ToList()
            : [];
        var state = alerts.Any(a => a.State == AlertState.Firing) ? AlertState.Firing
            : alerts.Any(a => a.State == AlertState.Pending) ? AlertState.Pending
            : alerts.Count > 0 ? AlertState.Resolved
            : AlertState.Inactive;
        return new RuleStatus(rule, state, alerts, _lastEvaluation);
    })];

    /// <summary>A stable id of a label set, as Alertmanager uses to tell alerts apart.</summary>
    public static string Fingerprint(IReadOnlyDictionary<string, string> labels)
    {
        var text = string.Join("\n", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }

    /// <summary>The two Prometheus template forms people use in annotations: {{ $labels.NAME }} and {{ $value }}.</summary>
    internal static string Expand(string template, IReadOnlyDictionary<string, string> labels, double value) =>
        TemplatePattern().Replace(template, match => match.Groups[1].Success
            ? labels.TryGetValue(match.Groups[1].Value, out var label) ? label : ""
            : value.ToString("G6", CultureInfo.InvariantCulture));

    [GeneratedRegex(@"\{\{\s*(?:\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)|\$value)\s*\}\}")]
    private static partial Regex TemplatePattern();
}
