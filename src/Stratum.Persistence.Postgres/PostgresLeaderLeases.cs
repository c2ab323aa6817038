using Npgsql;

namespace Stratum.Persistence.Postgres;

/// <summary>
/// Leader leases as rows of <c>leader_lease</c>, every time taken from the database's <c>now()</c> so that
/// replicas whose clocks disagree still agree on who holds the lease. Taking and renewing is one
/// conditional upsert: it succeeds for the holder itself or when the lease has expired, and raises the
/// fencing token whenever the lease changes hands or is taken again after expiring.
/// </summary>
internal sealed class PostgresLeaderLeases(PostgresMetadataStore store) : ILeaderLeases
{
    private const string Columns = "name, holder, fencing_token, renewed_at, expires_at";

    private const string AcquireSql = $"""
        INSERT INTO leader_lease AS l (name, holder, fencing_token, renewed_at, expires_at)
        VALUES (@name, @holder, 1, now(), now() + @duration_ms * interval '1 millisecond')
        ON CONFLICT (name) DO UPDATE SET
            holder = EXCLUDED.holder,
            fencing_token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now() THEN l.fencing_token ELSE l.fencing_token + 1 END,
            renewed_at = now(),
            expires_at = EXCLUDED.expires_at
        WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
        RETURNING {Columns}
        """;

    /// <summary>The check every fenced write makes first; FOR SHARE holds off a takeover until the write commits.</summary>
    internal const string FenceSql = "SELECT 1 FROM leader_lease WHERE name = @name AND fencing_token = @token AND expires_at > now() FOR SHARE";

    public async Task<LeaderLease> TryAcquireAsync(string name, string holder, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(holder);
        if (duration <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(duration), duration, "A lease must last a positive time.");
        }

        return await store.WriteAsync(async context =>
        {
            var taken = await ReadOneAsync(context, AcquireSql, p => p
                .Text("@name", name)
                .Text("@holder", holder)
                .Int64("@duration_ms", (long)duration.TotalMilliseconds)).ConfigureAwait(false);
            return taken ?? await ReadOneAsync(context, $"SELECT {Columns} FROM leader_lease WHERE name = @name", p => p.Text("@name", name)).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"lease '{name}' was neither taken nor found");
        }, cancellationToken).ConfigureAwait(false);
    }

    public async Task<LeaderLease?> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        var rows = await store.ReadAsync($"SELECT {Columns} FROM leader_lease WHERE name = @name", p => p.Text("@name", name), Read, cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    public Task<bool> ReleaseAsync(LeaderFence fence, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fence);
        return store.WriteAsync(async context => await context.ExecuteAsync(
            "UPDATE leader_lease SET expires_at = now() WHERE name = @name AND fencing_token = @token AND expires_at > now()",
            p => p.Text("@name", fence.Name).Int64("@token", fence.FencingToken)).ConfigureAwait(false) == 1, cancellationToken);
    }

    /// <summary>Inside a write's transaction: throws <see cref="StaleFencingTokenException"/> unless the lease still has the fence's token.</summary>
    internal static async Task CheckAsync(PostgresWriteContext context, LeaderFence fence)
    {
        var command = context.Command(FenceSql);
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.Text("@name", fence.Name).Int64("@token", fence.FencingToken);
            if (await command.ExecuteScalarAsync().ConfigureAwait(false) is not null)
            {
                return;
            }
        }

        var current = await ReadOneAsync(context, $"SELECT {Columns} FROM leader_lease WHERE name = @name", p => p.Text("@name", fence.Name)).ConfigureAwait(false);
        throw new StaleFencingTokenException(fence, current);
    }

    private static async Task<LeaderLease?> ReadOneAsync(PostgresWriteContext context, string sql, Action<NpgsqlParameterCollection> bind)
    {
        var command = context.Command(sql);
        await using (command.ConfigureAwait(false))
        {
            bind(command.Parameters);
            var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                return await reader.ReadAsync().ConfigureAwait(false) ? Read(reader) : null;
            }
        }
    }

    private static LeaderLease Read(NpgsqlDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetInt64(2),
        reader.GetFieldValue<DateTimeOffset>(3),
        reader.GetFieldValue<DateTimeOffset>(4));
}
