using Microsoft.Data.Sqlite;
using Stratum.Core.Access;

namespace Stratum.Persistence;

internal sealed class SqliteAccessRepository(SqliteMetadataStore store) : IAccessRepository
{
    private const string UserColumns = "name, is_admin, roles, created_at";
    private const string TokenColumns = "id, user_name, name, secret_hash, created_at, expires_at, revoked_at";

    public Task<User?> GetUserAsync(string name, CancellationToken cancellationToken = default) =>
        store.ReadAsync(
            connection => SqliteClusterRepository.ReadOne(connection, $"SELECT {UserColumns} FROM users WHERE name = @name", name, ReadUser),
            cancellationToken);

    public Task<IReadOnlyList<User>> ListUsersAsync(CancellationToken cancellationToken = default) =>
        store.ReadAsync(
            connection => SqliteClusterRepository.ReadAll(connection, $"SELECT {UserColumns} FROM users ORDER BY name", ReadUser),
            cancellationToken);

    public Task UpsertUserAsync(User user, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        var roles = PersistenceJson.WriteRoles(user.Roles);
        return store.Writer.EnqueueAsync(context =>
        {
            context.Command("""
                INSERT INTO users (name, is_admin, roles, created_at) VALUES (@name, @is_admin, @roles, @created_at)
                ON CONFLICT (name) DO UPDATE SET is_admin = excluded.is_admin, roles = excluded.roles
                """)
                .Add("@name", user.Name)
                .Add("@is_admin", user.IsAdmin ? 1 : 0)
                .Add("@roles", roles)
                .Add("@created_at", PersistenceJson.ToMillis(user.CreatedAt))
                .ExecuteNonQuery();
            context.Audit(audit);
            return true;
        }, cancellationToken);
    }

    public Task CreateTokenAsync(ApiToken token, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        return store.Writer.EnqueueAsync(context =>
        {
            context.Command("""
                INSERT INTO tokens (id, user_name, name, secret_hash, created_at, expires_at, revoked_at)
                VALUES (@id, @user_name, @name, @secret_hash, @created_at, @expires_at, @revoked_at)
                """)
                .Add("@id", token.Id)
                .Add("@user_name", token.UserName)
                .Add("@name", token.Name)
                .Add("@secret_hash", token.SecretHash)
                .Add("@created_at", PersistenceJson.ToMillis(token.CreatedAt))
                .Add("@expires_at", PersistenceJson.ToMillis(token.ExpiresAt))
                .Add("@revoked_at", PersistenceJson.ToMillis(token.RevokedAt))
                .ExecuteNonQuery();
            context.Audit(audit);
            return true;
        }, cancellationToken);
    }

    public Task<ApiToken?> FindTokenByHashAsync(string secretHash, CancellationToken cancellationToken = default) =>
        store.ReadAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {TokenColumns} FROM tokens WHERE secret_hash = @hash";
            command.Add("@hash", secretHash);
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadToken(reader) : null;
        }, cancellationToken);

    public Task<IReadOnlyList<ApiToken>> ListTokensAsync(string? userName, CancellationToken cancellationToken = default) =>
        store.ReadAsync<IReadOnlyList<ApiToken>>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = userName is null
                ? $"SELECT {TokenColumns} FROM tokens ORDER BY created_at, id"
                : $"SELECT {TokenColumns} FROM tokens WHERE user_name = @user ORDER BY created_at, id";
            command.Add("@user", userName);
            using var reader = command.ExecuteReader();
            var tokens = new List<ApiToken>();
            while (reader.Read())
            {
                tokens.Add(ReadToken(reader));
            }

            return tokens;
        }, cancellationToken);

    public Task<bool> RevokeTokenAsync(string tokenId, DateTimeOffset now, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenId);
        return store.Writer.EnqueueAsync(context =>
        {
            // Revoking twice keeps the first time: it is when the token stopped working.
            var found = context.Command("UPDATE tokens SET revoked_at = COALESCE(revoked_at, @now) WHERE id = @id")
                .Add("@id", tokenId)
                .Add("@now", PersistenceJson.ToMillis(now))
                .ExecuteNonQuery() > 0;
            if (found)
            {
                context.Audit(audit);
            }

            return found;
        }, cancellationToken);
    }

    private static User ReadUser(SqliteDataReader reader) => new()
    {
        Name = reader.GetString(0),
        IsAdmin = reader.GetInt64(1) != 0,
        Roles = PersistenceJson.ReadRoles(reader.GetString(2)),
        CreatedAt = PersistenceJson.FromMillis(reader.GetInt64(3)),
    };

    private static ApiToken ReadToken(SqliteDataReader reader) => new()
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
