namespace Stratum.Persistence;

/// <summary>
/// One measured value. <see cref="Subject"/> names what was measured ("node/gpu-01", "job/42"),
/// <see cref="Metric"/> which quantity ("cpu_utilization", "gpu0_power_watts"). An unknown value is
/// not stored at all: a missing point means "not measured", never zero.
/// </summary>
public sealed record TelemetryPoint(string Subject, string Metric, DateTimeOffset At, double Value);

/// <summary>How finely a series is kept: raw samples, 1-minute or 1-hour buckets (average and maximum).</summary>
public enum TelemetryResolution
{
    Raw,
    Minute,
    Hour,
}

/// <summary>A bucket of a series: its start, the average and maximum of the samples in it, and how many there were.</summary>
public sealed record TelemetryBucket(string Subject, string Metric, DateTimeOffset At, double Average, double Max, long Samples);

public sealed record TelemetryQuery
{
    /// <summary>One subject ("node/NAME", "job/ID"); null for every subject whose name starts with <see cref="SubjectPrefix"/>.</summary>
    public string? Subject { get; init; }

    /// <summary>With no <see cref="Subject"/>: all subjects starting with this ("job/"); null for all.</summary>
    public string? SubjectPrefix { get; init; }

    /// <summary>One metric; null for all of the subject's.</summary>
    public string? Metric { get; init; }

    public required DateTimeOffset Since { get; init; }

    public required DateTimeOffset Until { get; init; }

    public TelemetryResolution Resolution { get; init; } = TelemetryResolution.Raw;

    /// <summary>Width of the returned buckets; at least the resolution's own (raw: any). One bucket spanning the window summarises it.</summary>
    public required TimeSpan Step { get; init; }
}

/// <summary>How long each resolution is kept. The defaults bound the store's size (docs/observability.md#stored-telemetry).</summary>
public sealed record TelemetryRetention
{
    public TimeSpan Raw { get; init; } = TimeSpan.FromDays(1);

    public TimeSpan Minute { get; init; } = TimeSpan.FromDays(30);

    public TimeSpan Hour { get; init; } = TimeSpan.FromDays(365);
}

/// <summary>What one maintenance pass did: buckets written per resolution and rows deleted past retention.</summary>
public sealed record TelemetryMaintenance(int MinuteBuckets, int HourBuckets, int Deleted);

/// <summary>
/// Stored telemetry with downsampling: raw samples, rolled up into 1-minute and then 1-hour buckets
/// (average and maximum), each resolution deleted after its retention. Only the leader writes.
/// </summary>
public interface ITelemetryRepository
{
    /// <summary>Stores one sample round in one transaction. A point already stored (same subject, metric and instant) is kept as it was.</summary>
    /// <exception cref="ArgumentException">A point has an empty subject or metric, or a value that is not finite; nothing is stored.</exception>
    Task RecordAsync(IReadOnlyList<TelemetryPoint> points, CancellationToken cancellationToken = default);

    /// <summary>Buckets of <see cref="TelemetryQuery.Step"/> over the window, oldest first per series, from the resolution asked for.</summary>
    Task<IReadOnlyList<TelemetryBucket>> QueryAsync(TelemetryQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// Rolls complete minutes of raw samples into minute buckets and complete hours of minute buckets into
    /// hour buckets (up to <paramref name="now"/>), then deletes what is past <paramref name="retention"/>.
    /// Safe to repeat: a bucket computed again replaces itself.
    /// </summary>
    Task<TelemetryMaintenance> MaintainAsync(DateTimeOffset now, TelemetryRetention retention, CancellationToken cancellationToken = default);
}

/// <summary>SQL shared by the SQLite and PostgreSQL repositories: the statements are written to run unchanged on both.</summary>
internal static class TelemetrySql
{
    public const long MinuteMillis = 60_000;
    public const long HourMillis = 3_600_000;
    public const int MaxSubjectLength = 200;
    public const int MaxMetricLength = 100;

    /// <summary>
    /// Rolls up <c>[@from, @to)</c> of the finer table into buckets of <c>@step</c>. Raw points have a
    /// count of one; a minute bucket's average is weighted by its count so that the hour's is exact.
    /// </summary>
    public static string Rollup(bool fromRaw) => fromRaw
        ? """
            INSERT INTO telemetry_rollup (resolution, subject, metric, at, avg_value, max_value, samples)
            SELECT @target, subject, metric, (at / @step) * @step, AVG(value), MAX(value), COUNT(*)
            FROM telemetry_raw WHERE at >= @from AND at < @to
            GROUP BY subject, metric, (at / @step) * @step
            ON CONFLICT (resolution, subject, metric, at) DO UPDATE SET
                avg_value = excluded.avg_value, max_value = excluded.max_value, samples = excluded.samples
            """
        : """
            INSERT INTO telemetry_rollup (resolution, subject, metric, at, avg_value, max_value, samples)
            SELECT @target, subject, metric, (at / @step) * @step, SUM(avg_value * samples) / CAST(SUM(samples) AS DOUBLE PRECISION), MAX(max_value), CAST(SUM(samples) AS BIGINT)
            FROM telemetry_rollup WHERE resolution = @source AND at >= @from AND at < @to
            GROUP BY subject, metric, (at / @step) * @step
            ON CONFLICT (resolution, subject, metric, at) DO UPDATE SET
                avg_value = excluded.avg_value, max_value = excluded.max_value, samples = excluded.samples
            """;

    /// <summary>
    /// Where the next rollup of a resolution starts: at its newest bucket (computed again, in case a sample
    /// round that was slow to commit added to it), or at the oldest source row.
    /// </summary>
    public static string Watermark(bool fromRaw) => fromRaw
        ? "SELECT COALESCE((SELECT MAX(at) FROM telemetry_rollup WHERE resolution = @target), (SELECT MIN(at) FROM telemetry_raw))"
        : "SELECT COALESCE((SELECT MAX(at) FROM telemetry_rollup WHERE resolution = @target), (SELECT MIN(at) FROM telemetry_rollup WHERE resolution = @source))";

    public const string DeleteRaw = "DELETE FROM telemetry_raw WHERE at < @before";
    public const string DeleteRollup = "DELETE FROM telemetry_rollup WHERE resolution = @resolution AND at < @before";

    public static string Select(TelemetryQuery query)
    {
        var filter = "at >= @since AND at < @until"
            + (query.Subject is not null ? " AND subject = @subject" : query.SubjectPrefix is not null ? " AND substr(subject, 1, @prefix_length) = @prefix" : "")
            + (query.Metric is not null ? " AND metric = @metric" : "");
        var bucket = "(at - @since) / @step * @step + @since";
        return query.Resolution == TelemetryResolution.Raw
            ? $"SELECT subject, metric, {bucket} AS b, AVG(value), MAX(value), COUNT(*) FROM telemetry_raw WHERE {filter} GROUP BY subject, metric, b ORDER BY subject, metric, b"
            : $"SELECT subject, metric, {bucket} AS b, SUM(avg_value * samples) / CAST(SUM(samples) AS DOUBLE PRECISION), MAX(max_value), CAST(SUM(samples) AS BIGINT) FROM telemetry_rollup WHERE resolution = @resolution AND {filter} GROUP BY subject, metric, b ORDER BY subject, metric, b";
    }

    public static long ResolutionMillis(TelemetryResolution resolution) => resolution switch
    {
        TelemetryResolution.Minute => MinuteMillis,
        TelemetryResolution.Hour => HourMillis,
        _ => 0,
    };

    public static void Validate(IReadOnlyList<TelemetryPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        for (var i = 0; i < points.Count; i++)
        {
            var point = points[i];
            if (string.IsNullOrEmpty(point.Subject) || point.Subject.Length > MaxSubjectLength)
            {
                throw new ArgumentException($"telemetry point {i}: subject must be 1 to {MaxSubjectLength} characters", nameof(points));
            }

            if (string.IsNullOrEmpty(point.Metric) || point.Metric.Length > MaxMetricLength)
            {
                throw new ArgumentException($"telemetry point {i} ({point.Subject}): metric must be 1 to {MaxMetricLength} characters", nameof(points));
            }

            if (!double.IsFinite(point.Value))
            {
                throw new ArgumentException($"telemetry point {i} ({point.Subject} {point.Metric}): value {point.Value} is not a finite number", nameof(points));
            }
        }
    }

    public static void Validate(TelemetryQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Until <= query.Since)
        {
            throw new ArgumentException($"the window is empty: until ({query.Until:O}) is not after since ({query.Since:O})", nameof(query));
        }

        if (query.Step < TimeSpan.FromMilliseconds(Math.Max(1, ResolutionMillis(query.Resolution))))
        {
            throw new ArgumentException($"step {query.Step} is finer than the {query.Resolution} resolution", nameof(query));
        }
    }
}
