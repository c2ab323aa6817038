using Stratum.Core.Access;

namespace Stratum.Persistence;

internal sealed class SqliteAuditLog(SqliteMetadataStore store) : IAuditLog
{
    public const int MaxPageSize = 1000;

    public Task AppendAsync(AuditRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        return store.Writer.EnqueueAsync(context =>
        {
            context.Audit(record);
            return true;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<AuditEntry>> ListAsync(long? beforeId, int limit, CancellationToken cancellationToken = default) =>
        store.ReadAsync<IReadOnlyList<AuditEntry>>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = beforeId is null
                ? "SELECT id, at, actor, action, target, detail, remote_address FROM audit ORDER BY id DESC LIMIT @limit"
                : "SELECT id, at, actor, action, target, detail, remote_address FROM audit WHERE id < @before ORDER BY id DESC LIMIT @limit";
            command.Add("@before", beforeId).Add("@limit", Math.Clamp(limit, 1, MaxPageSize));
            using var reader = command.ExecuteReader();
            var entries = new List<AuditEntry>();
            while (reader.Read())
            {
                entries.Add(new AuditEntry(
                    reader.GetInt64(0),
                    PersistenceJson.FromMillis(reader.GetInt64(1)),
                    reader.GetString(2),
                    reader.GetString(3),
                    reader.GetString(4),
                    reader.GetNullableString(5),
                    reader.GetNullableString(6)));
            }

            return entries;
        }, cancellationToken);
}
