namespace Stratum.Server.Alerts;

/// <summary>GET /api/v1/alerts (rules, their state and alerts) and GET /api/v1/alerts/prometheus-rules.</summary>
public static class AlertsApi
{
    public static void MapAlerts(this IEndpointRouteBuilder routes)
    {
        var alerts = routes.MapGroup("/api/v1/alerts").WithTags("Alerts");
        alerts.MapGet("", (AlertService service) => Results.Ok(ToDto(service))).WithName("ListAlerts");
        alerts.MapGet("/prometheus-rules", (AlertService service) => Results.Text(PrometheusRules.Render(service.Rules), PrometheusRules.ContentType))
            .WithName("PrometheusRules");
    }

    private static AlertsDto ToDto(AlertService service)
    {
        var rules = service.Rules;
        var status = service.Status();
        return new AlertsDto(
            service.RulesPath,
            service.LoadErrors,
            PrometheusRules.Duration(rules.Interval),
            [.. rules.Webhooks.Select(w => WebhookNotifier.Redact(w.Url))],
            status.FirstOrDefault()?.LastEvaluation,
            [.. status.Select(s => new AlertRuleDto(
                s.Rule.Name,
                s.Rule.Expression.Text,
                PrometheusRules.Duration(s.Rule.For),
                s.Rule.Severity,
                s.Rule.Labels,
                s.Rule.Annotations,
                Wire(s.State),
                [.. s.Alerts.Select(a => new AlertDto(a.Fingerprint, Wire(a.State), a.Labels, a.Annotations, double.IsFinite(a.Value) ? a.Value : null, a.ActiveAt, a.FiredAt, a.ResolvedAt))]))]);
    }

    private static string Wire(AlertState state) => state.ToString().ToLowerInvariant();
}

/// <summary>The rule file's path, problems with its current content, the evaluation interval, receivers (scheme, host and port only) and every rule.</summary>
public sealed record AlertsDto(
    string? RulesFile,
    IReadOnlyList<string> LoadErrors,
    string Interval,
    IReadOnlyList<string> Webhooks,
    DateTimeOffset? LastEvaluation,
    IReadOnlyList<AlertRuleDto> Rules);

/// <summary>A rule; <see cref="State"/> is inactive, pending, firing or resolved (the most severe of its alerts).</summary>
public sealed record AlertRuleDto(
    string Name,
    string Expr,
    string For,
    string Severity,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    string State,
    IReadOnlyList<AlertDto> Alerts);

public sealed record AlertDto(
    string Fingerprint,
    string State,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    double? Value,
    DateTimeOffset ActiveAt,
    DateTimeOffset? FiredAt,
    DateTimeOffset? ResolvedAt);
