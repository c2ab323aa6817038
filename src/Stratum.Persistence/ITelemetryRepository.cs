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

    /// <summary>
    /// The most raw rows kept, whatever their age; null: only <see cref="Raw"/> bounds them. Over it, the
    /// oldest raw rounds already rolled into minute buckets are deleted first; rows not yet rolled up are
    /// never deleted, so the table may pass the bound by the rows of the last minute or two until the next
    /// pass. A row count, not bytes: it is exact on both stores, and a row's size barely varies.
    /// </summary>
    public long? MaxRawRows { get; init; }

    /// <summary>
    /// The most raw rows one pass deletes for <see cref="MaxRawRows"/> (whole rounds, so up to one round more).
    /// Deleting 800,000 rows at once held SQLite's write lock for 11 s, stalling every submit behind it; a
    /// backlog (a lowered bound, an upgrade) drains over a few passes instead. Default 100,000: four times
    /// what 1,000 running jobs add per minute at the default 10 s interval.
    /// </summary>
    public long MaxRawRowsDeletedPerPass { get; init; } = 100_000;
}

/// <summary>
/// What one maintenance pass did: buckets written per resolution and rows deleted (past retention, and of
/// those, <see cref="RawOverBound"/> raw rows deleted because the raw table was over <see cref="TelemetryRetention.MaxRawRows"/>).
/// </summary>
public sealed record TelemetryMaintenance(int MinuteBuckets, int HourBuckets, int Deleted)
{
    public int RawOverBound { get; init; }
}

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

    /// <summary>
    /// Deletes whole sample rounds, oldest first, until at most <c>@max</c> raw rows remain: every row at or
    /// before the instant of the (max+1)-th newest row. Only rows older than the newest minute bucket go, because
    /// older minutes are never rolled up again, while the newest one is recomputed from raw rows at the next pass.
    /// A missing bucket or a table within the bound makes a subquery null, and null deletes nothing.
    /// At most the oldest <c>@batch</c> rows (rounded up to a whole round) go per pass.
    /// Cost: one walk of <c>@max</c> entries of the index on <c>at</c> (0.2 s, 33 ms of CPU, at 4 million rows).
    /// </summary>
    public const string DeleteRawOverBound = """
        DELETE FROM telemetry_raw
        WHERE at <= (SELECT at FROM telemetry_raw ORDER BY at DESC LIMIT 1 OFFSET @max)
          AND at < (SELECT MAX(at) FROM telemetry_rollup WHERE resolution = @minute)
          AND at <= COALESCE((SELECT at FROM telemetry_raw ORDER BY at LIMIT 1 OFFSET @batch), @max_at)
        """;
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

    public static void Validate(TelemetryRetention retention)
    {
        ArgumentNullException.ThrowIfNull(retention);
        if (retention.MaxRawRows is < 1)
        {
            throw new ArgumentException($"MaxRawRows {retention.MaxRawRows} must be at least 1, or null for no bound", nameof(retention));
        }

        if (retention.MaxRawRowsDeletedPerPass < 1)
        {
            throw new ArgumentException($"MaxRawRowsDeletedPerPass {retention.MaxRawRowsDeletedPerPass} must be at least 1", nameof(retention));
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
