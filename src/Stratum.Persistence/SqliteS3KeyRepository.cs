using Microsoft.Data.Sqlite;
using Stratum.Core.Access;

namespace Stratum.Persistence;

internal sealed class SqliteS3KeyRepository(SqliteMetadataStore store) : IS3KeyRepository
{
    private const string Columns = "id, user_name, sealed_secret, created_at";

    public Task CreateAsync(S3AccessKey key, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        return store.Writer.EnqueueAsync(context =>
        {
            context.Command("INSERT INTO s3_access_keys (id, user_name, sealed_secret, created_at) VALUES (@id, @user_name, @sealed_secret, @created_at)")
                .Add("@id", key.Id)
                .Add("@user_name", key.UserName)
                .Add("@sealed_secret", key.SealedSecret)
                .Add("@created_at", PersistenceJson.ToMillis(key.CreatedAt))
                .ExecuteNonQuery();
            context.Audit(audit);
            return true;
        }, cancellationToken);
    }

    public Task<S3AccessKey?> GetAsync(string id, CancellationToken cancellationToken = default) =>
        store.ReadAsync(
            connection => SqliteClusterRepository.ReadOne(connection, $"SELECT {Columns} FROM s3_access_keys WHERE id = @name", id, Read),
            cancellationToken);

    public Task<IReadOnlyList<S3AccessKey>> ListAsync(string? userName, CancellationToken cancellationToken = default) =>
        store.ReadAsync<IReadOnlyList<S3AccessKey>>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = userName is null
                ? $"SELECT {Columns} FROM s3_access_keys ORDER BY created_at, id"
                : $"SELECT {Columns} FROM s3_access_keys WHERE user_name = @user ORDER BY created_at, id";
            command.Add("@user", userName);
            using var reader = command.ExecuteReader();
            var keys = new List<S3AccessKey>();
            while (reader.Read())
            {
                keys.Add(Read(reader));
            }

            return keys;
        }, cancellationToken);

    public Task<bool> ReplaceSecretAsync(string id, string sealedSecret, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentException.ThrowIfNullOrEmpty(sealedSecret);
        return store.Writer.EnqueueAsync(context =>
        {
            var found = context.Command("UPDATE s3_access_keys SET sealed_secret = @sealed_secret WHERE id = @id")
                .Add("@id", id)
                .Add("@sealed_secret", sealedSecret)
                .ExecuteNonQuery() > 0;
            if (found)
            {
                context.Audit(audit);
            }

            return found;
        }, cancellationToken);
    }

    public Task<bool> DeleteAsync(string id, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        return store.Writer.EnqueueAsync(context =>
        {
            var found = context.Command("DELETE FROM s3_access_keys WHERE id = @id").Add("@id", id).ExecuteNonQuery() > 0;
            if (found)
            {
                context.Audit(audit);
            }

            return found;
        }, cancellationToken);
    }

    private static S3AccessKey Read(SqliteDataReader reader) => new()
    {
        Id = reader.GetString(0),
        UserName = reader.GetString(1),
        SealedSecret = reader.GetString(2),
        CreatedAt = PersistenceJson.FromMillis(reader.GetInt64(3)),
    };
}
