namespace Stratum.Client.Contracts;

/// <summary>One bucket of a stored series: its start, and the average and maximum of the samples in it.</summary>
public sealed record TelemetryPointDto(DateTimeOffset At, double Average, double Max);

public sealed record TelemetrySeriesDto(string Metric, IReadOnlyList<TelemetryPointDto> Points);

/// <summary>
/// GET /api/v1/telemetry: a node's or a job's series over [Since, Until), in buckets of StepSeconds, read
/// from the resolution (raw, minute or hour) that still covers the window.
/// </summary>
public sealed record TelemetryReportDto(string Subject, string Resolution, DateTimeOffset Since, DateTimeOffset Until, double StepSeconds, IReadOnlyList<TelemetrySeriesDto> Series);

/// <summary>
/// GET /api/v1/jobs/{id}/usage: what a job used over its run, from stored telemetry. Null fields were
/// never measured (no sample yet, a job on a remote executor, no GPU); they are not zero.
/// </summary>
public sealed record JobUsageSummaryDto(
    long JobId,
    DateTimeOffset Since,
    DateTimeOffset Until,
    long Samples,
    double? CpuCoresAverage,
    double? CpuCoresMax,
    double? MemoryBytesAverage,
    double? MemoryBytesMax,
    double? GpuUtilizationAverage,
    double? GpuUtilizationMax,
    double? CpuCoresRequested,
    long MemoryBytesRequested,
    int GpusRequested);

/// <summary>One recommendation of `stratum advise`, with what following it would have saved over the window.</summary>
public sealed record RecommendationDto(
    string Kind,
    long? JobId,
    string Project,
    string Message,
    double GpuHoursSaved,
    double CpuHoursSaved,
    double MemoryGbHoursSaved,
    decimal MoneySaved,
    string Currency);

/// <summary>GET /api/v1/advice?since=7d: recommendations, largest saving first, and their total.</summary>
public sealed record AdviceReportDto(DateTimeOffset Since, DateTimeOffset Until, IReadOnlyList<RecommendationDto> Recommendations, double GpuHoursSaved, decimal MoneySaved, string Currency);
