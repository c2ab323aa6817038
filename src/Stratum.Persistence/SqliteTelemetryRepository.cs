using Microsoft.Data.Sqlite;

namespace Stratum.Persistence;

internal sealed class SqliteTelemetryRepository(SqliteMetadataStore store) : ITelemetryRepository
{
    private const string InsertSql = "INSERT INTO telemetry_raw (subject, metric, at, value) VALUES (@subject, @metric, @at, @value) ON CONFLICT DO NOTHING";

    public Task RecordAsync(IReadOnlyList<TelemetryPoint> points, CancellationToken cancellationToken = default)
    {
        TelemetrySql.Validate(points);
        if (points.Count == 0)
        {
            return Task.CompletedTask;
        }

        // One queued operation is one savepoint in one group commit: the round is stored whole or not at all.
        return store.Writer.EnqueueAsync(context =>
        {
            var command = context.Command(InsertSql);
            var subject = command.Parameters.Add("@subject", SqliteType.Text);
            var metric = command.Parameters.Add("@metric", SqliteType.Text);
            var at = command.Parameters.Add("@at", SqliteType.Integer);
            var value = command.Parameters.Add("@value", SqliteType.Real);
            foreach (var point in points)
            {
                subject.Value = point.Subject;
                metric.Value = point.Metric;
                at.Value = PersistenceJson.ToMillis(point.At);
                value.Value = point.Value;
                command.ExecuteNonQuery();
            }

            return true;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<TelemetryBucket>> QueryAsync(TelemetryQuery query, CancellationToken cancellationToken = default)
    {
        TelemetrySql.Validate(query);
        return store.ReadAsync<IReadOnlyList<TelemetryBucket>>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = TelemetrySql.Select(query);
            command.Add("@since", PersistenceJson.ToMillis(query.Since))
                .Add("@until", PersistenceJson.ToMillis(query.Until))
                .Add("@step", (long)query.Step.TotalMilliseconds)
                .Add("@resolution", TelemetrySql.ResolutionMillis(query.Resolution))
                .Add("@subject", query.Subject)
                .Add("@prefix", query.SubjectPrefix)
                .Add("@prefix_length", query.SubjectPrefix?.Length ?? 0)
                .Add("@metric", query.Metric);
            using var reader = command.ExecuteReader();
            var buckets = new List<TelemetryBucket>();
            while (reader.Read())
            {
                buckets.Add(new TelemetryBucket(
                    reader.GetString(0), reader.GetString(1), PersistenceJson.FromMillis(reader.GetInt64(2)),
                    reader.GetDouble(3), reader.GetDouble(4), reader.GetInt64(5)));
            }

            return buckets;
        }, cancellationToken);
    }

    public Task<TelemetryMaintenance> MaintainAsync(DateTimeOffset now, TelemetryRetention retention, CancellationToken cancellationToken = default)
    {
        TelemetrySql.Validate(retention);
        var nowMillis = PersistenceJson.ToMillis(now);
        return store.Writer.EnqueueAsync(context =>
        {
            var minutes = Rollup(context, fromRaw: true, TelemetrySql.MinuteMillis, 0, nowMillis);
            var hours = Rollup(context, fromRaw: false, TelemetrySql.HourMillis, TelemetrySql.MinuteMillis, nowMillis);
            var deleted = Delete(context, TelemetrySql.DeleteRaw, 0, nowMillis - (long)retention.Raw.TotalMilliseconds)
                + Delete(context, TelemetrySql.DeleteRollup, TelemetrySql.MinuteMillis, nowMillis - (long)retention.Minute.TotalMilliseconds)
                + Delete(context, TelemetrySql.DeleteRollup, TelemetrySql.HourMillis, nowMillis - (long)retention.Hour.TotalMilliseconds);
            var overBound = retention.MaxRawRows is { } max
                ? context.Command(TelemetrySql.DeleteRawOverBound).Add("@max", max).Add("@minute", TelemetrySql.MinuteMillis).Add("@batch", retention.MaxRawRowsDeletedPerPass - 1).Add("@max_at", long.MaxValue).ExecuteNonQuery()
                : 0;
            return new TelemetryMaintenance(minutes, hours, deleted + overBound) { RawOverBound = overBound };
        }, cancellationToken);
    }

    private static int Rollup(WriteContext context, bool fromRaw, long step, long source, long nowMillis)
    {
        var watermark = context.Command(TelemetrySql.Watermark(fromRaw)).Add("@target", step).Add("@source", source).ExecuteScalar();
        if (watermark is not long from)
        {
            return 0;
        }

        // Only complete buckets: the current one still grows.
        var to = nowMillis / step * step;
        if (to <= from)
        {
            return 0;
        }

        return context.Command(TelemetrySql.Rollup(fromRaw))
            .Add("@target", step).Add("@source", source).Add("@step", step).Add("@from", from / step * step).Add("@to", to)
            .ExecuteNonQuery();
    }

    private static int Delete(WriteContext context, string sql, long resolution, long before) =>
        context.Command(sql).Add("@resolution", resolution).Add("@before", before).ExecuteNonQuery();
}
