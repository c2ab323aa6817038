using NpgsqlTypes;

namespace Stratum.Persistence.Postgres;

internal sealed class PostgresTelemetryRepository(PostgresMetadataStore store) : ITelemetryRepository
{
    /// <summary>A whole sample round in one statement: four arrays unnested into rows, one round trip.</summary>
    private const string InsertSql = """
        INSERT INTO telemetry_raw (subject, metric, at, value)
        SELECT * FROM unnest(@subjects, @metrics, @ats, @values)
        ON CONFLICT DO NOTHING
        """;

    public Task RecordAsync(IReadOnlyList<TelemetryPoint> points, CancellationToken cancellationToken = default)
    {
        TelemetrySql.Validate(points);
        if (points.Count == 0)
        {
            return Task.CompletedTask;
        }

        return store.WriteAsync(context => context.ExecuteAsync(InsertSql, p =>
        {
            p.TextArray("@subjects", [.. points.Select(x => x.Subject)]);
            p.TextArray("@metrics", [.. points.Select(x => x.Metric)]);
            p.Add(new Npgsql.NpgsqlParameter("@ats", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = points.Select(x => PersistenceJson.ToMillis(x.At)).ToArray() });
            p.Add(new Npgsql.NpgsqlParameter("@values", NpgsqlDbType.Array | NpgsqlDbType.Double) { Value = points.Select(x => x.Value).ToArray() });
        }), cancellationToken);
    }

    public async Task<IReadOnlyList<TelemetryBucket>> QueryAsync(TelemetryQuery query, CancellationToken cancellationToken = default)
    {
        TelemetrySql.Validate(query);
        var sql = TelemetrySql.Select(query);
        return await store.ReadAsync(
            sql,
            p =>
            {
                p.Int64("@since", PersistenceJson.ToMillis(query.Since)).Int64("@until", PersistenceJson.ToMillis(query.Until)).Int64("@step", (long)query.Step.TotalMilliseconds);
                if (query.Resolution != TelemetryResolution.Raw)
                {
                    p.Int32("@resolution", (int)TelemetrySql.ResolutionMillis(query.Resolution));
                }

                if (query.Subject is not null)
                {
                    p.Text("@subject", query.Subject);
                }
                else if (query.SubjectPrefix is not null)
                {
                    p.Text("@prefix", query.SubjectPrefix).Int32("@prefix_length", query.SubjectPrefix.Length);
                }

                if (query.Metric is not null)
                {
                    p.Text("@metric", query.Metric);
                }
            },
            reader => new TelemetryBucket(
                reader.GetString(0), reader.GetString(1), PersistenceJson.FromMillis(reader.GetInt64(2)),
                reader.GetDouble(3), reader.GetDouble(4), reader.GetInt64(5)),
            cancellationToken).ConfigureAwait(false);
    }

    public Task<TelemetryMaintenance> MaintainAsync(DateTimeOffset now, TelemetryRetention retention, CancellationToken cancellationToken = default)
    {
        TelemetrySql.Validate(retention);
        var nowMillis = PersistenceJson.ToMillis(now);
        return store.WriteAsync(async context =>
        {
            var minutes = await RollupAsync(context, fromRaw: true, TelemetrySql.MinuteMillis, 0, nowMillis).ConfigureAwait(false);
            var hours = await RollupAsync(context, fromRaw: false, TelemetrySql.HourMillis, TelemetrySql.MinuteMillis, nowMillis).ConfigureAwait(false);
            var deleted = await context.ExecuteAsync(TelemetrySql.DeleteRaw, p => p.Int64("@before", nowMillis - (long)retention.Raw.TotalMilliseconds)).ConfigureAwait(false);
            deleted += await context.ExecuteAsync(TelemetrySql.DeleteRollup, p => p.Int32("@resolution", (int)TelemetrySql.MinuteMillis).Int64("@before", nowMillis - (long)retention.Minute.TotalMilliseconds)).ConfigureAwait(false);
            deleted += await context.ExecuteAsync(TelemetrySql.DeleteRollup, p => p.Int32("@resolution", (int)TelemetrySql.HourMillis).Int64("@before", nowMillis - (long)retention.Hour.TotalMilliseconds)).ConfigureAwait(false);
            var overBound = retention.MaxRawRows is { } max
                ? await context.ExecuteAsync(TelemetrySql.DeleteRawOverBound, p => p.Int64("@max", max).Int32("@minute", (int)TelemetrySql.MinuteMillis).Int64("@batch", retention.MaxRawRowsDeletedPerPass - 1).Int64("@max_at", long.MaxValue)).ConfigureAwait(false)
                : 0;
            return new TelemetryMaintenance(minutes, hours, deleted + overBound) { RawOverBound = overBound };
        }, cancellationToken);
    }

    private static async Task<int> RollupAsync(PostgresWriteContext context, bool fromRaw, long step, long source, long nowMillis)
    {
        long? from;
        var watermark = context.Command(TelemetrySql.Watermark(fromRaw));
        await using (watermark.ConfigureAwait(false))
        {
            watermark.Parameters.Int32("@target", (int)step);
            if (!fromRaw)
            {
                watermark.Parameters.Int32("@source", (int)source);
            }

            from = await watermark.ExecuteScalarAsync().ConfigureAwait(false) as long?;
        }

        var to = nowMillis / step * step;
        if (from is not { } start || to <= start)
        {
            return 0;
        }

        return await context.ExecuteAsync(TelemetrySql.Rollup(fromRaw), p =>
        {
            p.Int32("@target", (int)step).Int64("@step", step).Int64("@from", start / step * step).Int64("@to", to);
            if (!fromRaw)
            {
                p.Int32("@source", (int)source);
            }
        }).ConfigureAwait(false);
    }
}
