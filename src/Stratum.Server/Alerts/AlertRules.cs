using System.Text.RegularExpressions;
using Stratum.Core.Resources;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Stratum.Server.Alerts;

/// <summary>One alerting rule: when <see cref="Expression"/> holds for <see cref="For"/>, its series fire.</summary>
public sealed record AlertRule(
    string Name,
    AlertExpression Expression,
    TimeSpan For,
    string Severity,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations);

/// <summary>Where notifications go: an Alertmanager-compatible webhook receiver.</summary>
public sealed record WebhookReceiver(Uri Url);

/// <summary>The parsed alerts.yaml: rules, receivers and how often to evaluate.</summary>
public sealed record AlertRuleSet(IReadOnlyList<AlertRule> Rules, IReadOnlyList<WebhookReceiver> Webhooks, TimeSpan Interval)
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(15);

    public static AlertRuleSet Empty { get; } = new([], [], DefaultInterval);
}

/// <summary>
/// Reads alerts.yaml. Every problem is reported at once, each with its line and the rule and field it
/// concerns, for example <c>alerts.yaml:7: rules[1] (NodeDown).for: '5 minutes' is not a duration</c>.
/// </summary>
/// <example>
/// <code>
/// interval: 15s
/// webhooks:
///   - url: http://alertmanager:9093/api/v2/alerts
/// rules:
///   - name: NodeDown
///     expr: stratum_node_ready{state="Down"} > 0
///     for: 1m
///     severity: critical
///     annotations: { summary: "node {{ $labels.node }} is down" }
/// </code>
/// </example>
public static partial class AlertRuleFile
{
    private static readonly string[] Severities = ["critical", "warning", "info"];
    private static readonly string[] RuleFields = ["name", "kind", "expr", "for", "severity", "labels", "annotations"];

    /// <summary>
    /// Built-in rule kinds: a rule that names one needs no expr. <c>budget</c> fires once for every
    /// threshold of a project's monthly budget that spend reaches, and resolves when the month changes.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (string DefaultName, string Expression, string Summary)> Kinds =
        new Dictionary<string, (string, string, string)>(StringComparer.Ordinal)
        {
            ["budget"] = ("ProjectBudget", "stratum_project_budget_threshold_reached > 0",
                "project {{ $labels.project }} has spent {{ $labels.threshold }} of its monthly budget"),
        };

    public static (AlertRuleSet? Rules, IReadOnlyList<string> Errors) Parse(string yaml, string source = "alerts.yaml")
    {
        var errors = new List<string>();
        YamlMappingNode? root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            if (stream.Documents.Count == 0)
            {
                return (AlertRuleSet.Empty, errors);
            }

            root = stream.Documents[0].RootNode as YamlMappingNode;
            if (root is null)
            {
                return (null, [$"{source}:{stream.Documents[0].RootNode.Start.Line}: the document must be a mapping with 'rules' (and optionally 'webhooks', 'interval')"]);
            }
        }
        catch (YamlException e)
        {
            return (null, [$"{source}:{e.Start.Line}: not valid YAML: {e.Message}"]);
        }

        void Error(YamlNode node, string field, string message) => errors.Add($"{source}:{node.Start.Line}: {field}: {message}");

        var interval = AlertRuleSet.DefaultInterval;
        var rules = new List<AlertRule>();
        var webhooks = new List<WebhookReceiver>();
        foreach (var (keyNode, value) in root.Children)
        {
            var key = ((keyNode as YamlScalarNode)?.Value) ?? "";
            switch (key)
            {
                case "interval":
                    if (Duration(value) is { } parsed && parsed >= TimeSpan.FromSeconds(1) && parsed <= TimeSpan.FromHours(1))
                    {
                        interval = parsed;
                    }
                    else
                    {
                        Error(value, "interval", $"'{Scalar(value)}' must be a duration between 1s and 1h, for example 15s");
                    }

                    break;
                case "webhooks":
                    foreach (var (item, index) in Items(value, "webhooks", Error))
                    {
                        var url = item is YamlMappingNode map ? Scalar(Child(map, "url")) : Scalar(item);
                        if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
                        {
                            webhooks.Add(new WebhookReceiver(uri));
                        }
                        else
                        {
                            Error(item, $"webhooks[{index}].url", "must be an http:// or https:// URL");
                        }
                    }

                    break;
                case "rules":
                    foreach (var (item, index) in Items(value, "rules", Error))
                    {
                        if (ParseRule(item, index, Error) is { } rule)
                        {
                            if (rules.Any(r => r.Name == rule.Name))
                            {
                                Error(item, $"rules[{index}] ({rule.Name}).name", "is used by an earlier rule; rule names must be unique");
                            }

                            rules.Add(rule);
                        }
                    }

                    break;
                default:
                    Error(keyNode, key, "unknown field; use rules, webhooks or interval");
                    break;
            }
        }

        return errors.Count > 0 ? (null, errors) : (new AlertRuleSet(rules, webhooks, interval), errors);
    }

    private static AlertRule? ParseRule(YamlNode node, int index, Action<YamlNode, string, string> error)
    {
        if (node is not YamlMappingNode map)
        {
            error(node, $"rules[{index}]", "must be a mapping with name, expr and optionally for, severity, labels, annotations");
            return null;
        }

        var name = Scalar(Child(map, "name"));
        var ok = true;
        (string DefaultName, string Expression, string Summary)? kind = null;
        if (Child(map, "kind") is { } kindNode)
        {
            if (Kinds.TryGetValue(Scalar(kindNode) ?? "", out var builtIn))
            {
                kind = builtIn;
                name = string.IsNullOrEmpty(name) ? builtIn.DefaultName : name;
            }
            else
            {
                error(kindNode, $"rules[{index}].kind", $"'{Scalar(kindNode)}' is not a built-in rule kind; use {string.Join(", ", Kinds.Keys)}, or leave kind out and write expr");
                ok = false;
            }
        }

        var where = $"rules[{index}]" + (string.IsNullOrEmpty(name) ? "" : $" ({name})");
        foreach (var (key, _) in map.Children)
        {
            if (key is YamlScalarNode { Value: { } field } && !RuleFields.Contains(field))
            {
                error(key, $"{where}.{field}", $"unknown field; use {string.Join(", ", RuleFields)}");
                ok = false;
            }
        }

        if (string.IsNullOrEmpty(name) || !AlertNamePattern().IsMatch(name))
        {
            // Prometheus requires alert names to be valid metric names.
            error(Child(map, "name") ?? map, $"{where}.name", "is required and must match [a-zA-Z_][a-zA-Z0-9_]*, for example NodeDown");
            ok = false;
        }

        var exprNode = Child(map, "expr");
        if (kind is not null && exprNode is not null)
        {
            error(exprNode, $"{where}.expr", "a rule with a built-in kind has its expression already; remove expr or kind");
            return null;
        }

        var expression = kind is { } known ? AlertExpression.TryParse(known.Expression, out _) : string.IsNullOrWhiteSpace(Scalar(exprNode)) ? null : AlertExpression.TryParse(Scalar(exprNode)!, out var problem) ?? Fail(problem);
        AlertExpression? Fail(string? problem)
        {
            error(exprNode!, $"{where}.expr", problem ?? "is not an expression");
            ok = false;
            return null;
        }

        if (kind is null && (exprNode is null || (expression is null && ok)))
        {
            error(exprNode ?? map, $"{where}.expr", "is required, for example stratum_node_ready{state=\"Down\"} > 0");
            ok = false;
        }

        var forDuration = TimeSpan.Zero;
        if (Child(map, "for") is { } forNode)
        {
            if (Duration(forNode) is { } parsed && parsed >= TimeSpan.Zero && parsed <= TimeSpan.FromDays(7))
            {
                forDuration = parsed;
            }
            else
            {
                error(forNode, $"{where}.for", $"'{Scalar(forNode)}' is not a duration between 0s and 7d; write for example 5m");
                ok = false;
            }
        }

        var severity = "warning";
        if (Child(map, "severity") is { } severityNode)
        {
            severity = Scalar(severityNode) ?? "";
            if (!Severities.Contains(severity))
            {
                error(severityNode, $"{where}.severity", $"'{severity}' is not a severity; use {string.Join(", ", Severities)}");
                ok = false;
            }
        }

        var labels = StringMap(Child(map, "labels"), $"{where}.labels", error, ref ok, checkNames: true);
        var annotations = StringMap(Child(map, "annotations"), $"{where}.annotations", error, ref ok, checkNames: false);
        if (kind is { } withSummary && !annotations.ContainsKey("summary"))
        {
            annotations["summary"] = withSummary.Summary;
        }

        return ok ? new AlertRule(name!, expression!, forDuration, severity, labels, annotations) : null;
    }

    private static Dictionary<string, string> StringMap(YamlNode? node, string field, Action<YamlNode, string, string> error, ref bool ok, bool checkNames)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (node is null)
        {
            return result;
        }

        if (node is not YamlMappingNode map)
        {
            error(node, field, "must be a mapping of names to strings");
            ok = false;
            return result;
        }

        foreach (var (key, value) in map.Children)
        {
            var name = Scalar(key) ?? "";
            if (checkNames && (!LabelNamePattern().IsMatch(name) || name is "alertname" or "severity"))
            {
                error(key, $"{field}.{name}", "must be a label name ([a-zA-Z_][a-zA-Z0-9_]*) other than alertname and severity");
                ok = false;
            }
            else if (value is not YamlScalarNode { Value: { } text })
            {
                error(value, $"{field}.{name}", "must be a string");
                ok = false;
            }
            else
            {
                result[name] = text;
            }
        }

        return result;
    }

    private static IEnumerable<(YamlNode Item, int Index)> Items(YamlNode node, string field, Action<YamlNode, string, string> error)
    {
        if (node is YamlSequenceNode sequence)
        {
            return sequence.Children.Select((item, index) => (item, index));
        }

        if (node is not YamlScalarNode { Value: null or "" })
        {
            error(node, field, "must be a list");
        }

        return [];
    }

    private static YamlNode? Child(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static string? Scalar(YamlNode? node) => (node as YamlScalarNode)?.Value;

    private static TimeSpan? Duration(YamlNode node) =>
        Scalar(node) is { } text && Quantity.TryParseDuration(text, out var duration) ? duration : null;

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex AlertNamePattern();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelNamePattern();
}
