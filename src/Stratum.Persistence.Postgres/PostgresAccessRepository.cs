using Npgsql;
using Stratum.Core.Access;

namespace Stratum.Persistence.Postgres;

internal sealed class PostgresAccessRepository(PostgresMetadataStore store) : IAccessRepository
{
    private const string UserColumns = "name, is_admin, roles, created_at";
    private const string TokenColumns = "id, user_name, name, secret_hash, created_at, expires_at, revoked_at";

    public async Task<User?> GetUserAsync(string name, CancellationToken cancellationToken = default) =>
        (await store.ReadAsync($"SELECT {UserColumns} FROM users WHERE name = @name", p => p.Text("@name", name), ReadUser, cancellationToken).ConfigureAwait(false))
            .FirstOrDefault();

    public async Task<IReadOnlyList<User>> ListUsersAsync(CancellationToken cancellationToken = default) =>
        await store.ReadAsync($"SELECT {UserColumns} FROM users ORDER BY name", null, ReadUser, cancellationToken).ConfigureAwait(false);

    public Task UpsertUserAsync(User user, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        var roles = PersistenceJson.WriteRoles(user.Roles);
        return PostgresClusterRepository.WriteWithAuditAsync(
            store,
            """
            INSERT INTO users (name, is_admin, roles, created_at) VALUES (@name, @is_admin, @roles, @created_at)
            ON CONFLICT (name) DO UPDATE SET is_admin = excluded.is_admin, roles = excluded.roles
            """,
            p => p.Text("@name", user.Name)
                .Boolean("@is_admin", user.IsAdmin)
                .Text("@roles", roles)
                .Int64("@created_at", PersistenceJson.ToMillis(user.CreatedAt)),
            audit,
            cancellationToken);
    }

    public Task CreateTokenAsync(ApiToken token, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        return PostgresClusterRepository.WriteWithAuditAsync(
            store,
            """
            INSERT INTO tokens (id, user_name, name, secret_hash, created_at, expires_at, revoked_at)
            VALUES (@id, @user_name, @name, @secret_hash, @created_at, @expires_at, @revoked_at)
            """,
            p => p.Text("@id", token.Id)
                .Text("@user_name", token.UserName)
                .Text("@name", token.Name)
                .Text("@secret_hash", token.SecretHash)
                .Int64("@created_at", PersistenceJson.ToMillis(token.CreatedAt))
                .Int64("@expires_at", PersistenceJson.ToMillis(token.ExpiresAt))
                .Int64("@revoked_at", PersistenceJson.ToMillis(token.RevokedAt)),
            audit,
            cancellationToken);
    }

    public async Task<ApiToken?> FindTokenByHashAsync(string secretHash, CancellationToken cancellationToken = default) =>
        (await store.ReadAsync($"SELECT {TokenColumns} FROM tokens WHERE secret_hash = @hash", p => p.Text("@hash", secretHash), ReadToken, cancellationToken).ConfigureAwait(false))
            .FirstOrDefault();

    public async Task<IReadOnlyList<ApiToken>> ListTokensAsync(string? userName, CancellationToken cancellationToken = default) =>
        await store.ReadAsync(
            userName is null
                ? $"SELECT {TokenColumns} FROM tokens ORDER BY created_at, id"
                : $"SELECT {TokenColumns} FROM tokens WHERE user_name = @user ORDER BY created_at, id",
            p =>
            {
                if (userName is not null)
                {
                    p.Text("@user", userName);
                }
            },
            ReadToken,
            cancellationToken).ConfigureAwait(false);

    public Task<bool> RevokeTokenAsync(string tokenId, DateTimeOffset now, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenId);
        return store.WriteAsync(async context =>
        {
            // Revoking twice keeps the first time: it is when the token stopped working.
            var found = await context.ExecuteAsync(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, @now) WHERE id = @id",
                p => p.Text("@id", tokenId).Int64("@now", PersistenceJson.ToMillis(now))).ConfigureAwait(false) > 0;
            if (found)
            {
                await context.AuditAsync(audit).ConfigureAwait(false);
            }

            return found;
        }, cancellationToken);
    }

    private static User ReadUser(NpgsqlDataReader reader) => new()
    {
        Name = reader.GetString(0),
        IsAdmin = reader.GetBoolean(1),
        Roles = PersistenceJson.ReadRoles(reader.GetString(2)),
        CreatedAt = PersistenceJson.FromMillis(reader.GetInt64(3)),
    };

    private static ApiToken ReadToken(NpgsqlDataReader reader) => new()
    {
        Id = reader.GetString(0),
        UserName = reader.GetString(1),
        Name = reader.GetString(2),
        SecretHash = reader.GetString(3),
        CreatedAt = PersistenceJson.FromMillis(reader.GetInt64(4)),
        ExpiresAt = PersistenceJson.FromMillis(reader.GetNullableInt64(5)),
        RevokedAt = PersistenceJson.FromMillis(reader.GetNullableInt64(6)),
    };
}
