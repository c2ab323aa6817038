using Stratum.Client.Contracts;

namespace Stratum.Client;

public sealed partial class StratumClient
{
    /// <summary>A node's (<paramref name="node"/>) or a job's (<paramref name="job"/>) stored series; give exactly one of them.</summary>
    public Task<TelemetryReportDto> GetTelemetryAsync(string? node = null, long? job = null, string? metric = null, string? since = null, string? step = null, CancellationToken cancellationToken = default) =>
        SendAsync<TelemetryReportDto>(HttpMethod.Get, "api/v1/telemetry" + QueryString([
            ("node", node), ("job", job?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("metric", metric), ("since", since), ("step", step)]), null, cancellationToken);

    public Task<JobUsageSummaryDto> GetJobUsageAsync(long id, CancellationToken cancellationToken = default) =>
        SendAsync<JobUsageSummaryDto>(HttpMethod.Get, $"api/v1/jobs/{id.ToString(System.Globalization.CultureInfo.InvariantCulture)}/usage", null, cancellationToken);

    public Task<AdviceReportDto> GetAdviceAsync(string? since = null, CancellationToken cancellationToken = default) =>
        SendAsync<AdviceReportDto>(HttpMethod.Get, "api/v1/advice" + QueryString([("since", since)]), null, cancellationToken);
}
