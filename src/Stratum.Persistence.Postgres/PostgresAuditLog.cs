using Stratum.Core.Access;

namespace Stratum.Persistence.Postgres;

internal sealed class PostgresAuditLog(PostgresMetadataStore store) : IAuditLog
{
    public const int MaxPageSize = 1000;

    private const string Columns = "id, at, actor, action, target, detail, remote_address";

    public Task AppendAsync(AuditRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        return store.WriteAsync(async context =>
        {
            await context.AuditAsync(record).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public async Task<IReadOnlyList<AuditEntry>> ListAsync(long? beforeId, int limit, CancellationToken cancellationToken = default) =>
        await store.ReadAsync(
            beforeId is null
                ? $"SELECT {Columns} FROM audit ORDER BY id DESC LIMIT @limit"
                : $"SELECT {Columns} FROM audit WHERE id < @before ORDER BY id DESC LIMIT @limit",
            p =>
            {
                if (beforeId is { } before)
                {
                    p.Int64("@before", before);
                }

                p.Int32("@limit", Math.Clamp(limit, 1, MaxPageSize));
            },
            reader => new AuditEntry(
                reader.GetInt64(0),
                PersistenceJson.FromMillis(reader.GetInt64(1)),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.GetNullableString(5),
                reader.GetNullableString(6)),
            cancellationToken).ConfigureAwait(false);
}
