using Npgsql;
using Stratum.Core.Access;

namespace Stratum.Persistence.Postgres;

internal sealed class PostgresS3KeyRepository(PostgresMetadataStore store) : IS3KeyRepository
{
    private const string Columns = "id, user_name, sealed_secret, created_at";

    public Task CreateAsync(S3AccessKey key, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        return PostgresClusterRepository.WriteWithAuditAsync(
            store,
            "INSERT INTO s3_access_keys (id, user_name, sealed_secret, created_at) VALUES (@id, @user_name, @sealed_secret, @created_at)",
            p => p.Text("@id", key.Id)
                .Text("@user_name", key.UserName)
                .Text("@sealed_secret", key.SealedSecret)
                .Int64("@created_at", PersistenceJson.ToMillis(key.CreatedAt)),
            audit,
            cancellationToken);
    }

    public async Task<S3AccessKey?> GetAsync(string id, CancellationToken cancellationToken = default) =>
        (await store.ReadAsync($"SELECT {Columns} FROM s3_access_keys WHERE id = @id", p => p.Text("@id", id), Read, cancellationToken).ConfigureAwait(false))
            .FirstOrDefault();

    public async Task<IReadOnlyList<S3AccessKey>> ListAsync(string? userName, CancellationToken cancellationToken = default) =>
        await store.ReadAsync(
            userName is null
                ? $"SELECT {Columns} FROM s3_access_keys ORDER BY created_at, id"
                : $"SELECT {Columns} FROM s3_access_keys WHERE user_name = @user ORDER BY created_at, id",
            p =>
            {
                if (userName is not null)
                {
                    p.Text("@user", userName);
                }
            },
            Read,
            cancellationToken).ConfigureAwait(false);

    public Task<bool> ReplaceSecretAsync(string id, string sealedSecret, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentException.ThrowIfNullOrEmpty(sealedSecret);
        return store.WriteAsync(async context =>
        {
            var found = await context.ExecuteAsync(
                "UPDATE s3_access_keys SET sealed_secret = @sealed_secret WHERE id = @id",
                p => p.Text("@id", id).Text("@sealed_secret", sealedSecret)).ConfigureAwait(false) > 0;
            if (found)
            {
                await context.AuditAsync(audit).ConfigureAwait(false);
            }

            return found;
        }, cancellationToken);
    }

    public Task<bool> DeleteAsync(string id, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        return store.WriteAsync(async context =>
        {
            var found = await context.ExecuteAsync("DELETE FROM s3_access_keys WHERE id = @id", p => p.Text("@id", id)).ConfigureAwait(false) > 0;
            if (found)
            {
                await context.AuditAsync(audit).ConfigureAwait(false);
            }

            return found;
        }, cancellationToken);
    }

    private static S3AccessKey Read(NpgsqlDataReader reader) => new()
    {
        Id = reader.GetString(0),
        UserName = reader.GetString(1),
        SealedSecret = reader.GetString(2),
        CreatedAt = PersistenceJson.FromMillis(reader.GetInt64(3)),
    };
}
