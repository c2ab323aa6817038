using Npgsql;

namespace Stratum.Persistence.Postgres;

/// <summary>
/// The metadata store on PostgreSQL, for a control plane that outlives one machine and for several
/// servers sharing one database. Every change runs in one transaction with its audit record and has
/// committed before its task completes; job versions make concurrent changes optimistic, so two servers
/// (or a server and an operator) never overwrite each other silently. Submissions are group-committed
/// (see <see cref="PostgresSubmitWriter"/>); other writes each take a pooled connection and their own
/// transaction, so a slow one does not hold up the rest.
/// </summary>
public sealed class PostgresMetadataStore : IMetadataStore
{
    /// <summary>
    /// Statements Npgsql prepares by itself per connection once it has seen them a few times. Every
    /// statement here is one of a fixed set, so preparing them skips parsing and planning on each call.
    /// </summary>
    private const int AutoPreparedStatements = 64;

    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;
    private int _disposed;

    private PostgresMetadataStore(NpgsqlDataSource dataSource, TimeProvider time)
    {
        _dataSource = dataSource;
        _time = time;
        Submits = new PostgresSubmitWriter(this);
        Jobs = new PostgresJobRepository(this);
        Cluster = new PostgresClusterRepository(this);
        Access = new PostgresAccessRepository(this);
        Audit = new PostgresAuditLog(this);
        S3Keys = new PostgresS3KeyRepository(this);
        Telemetry = new PostgresTelemetryRepository(this);
        Leases = new PostgresLeaderLeases(this);
    }

    /// <summary>Where the store connects, without the password.</summary>
    public string ConnectionDescription => PostgresConnectionString.Redact(_dataSource.ConnectionString);

    public IJobRepository Jobs { get; }

    public IClusterRepository Cluster { get; }

    public IAccessRepository Access { get; }

    public IAuditLog Audit { get; }

    public IS3KeyRepository S3Keys { get; }

    public ITelemetryRepository Telemetry { get; }

    public ILeaderLeases Leases { get; }

    internal PostgresSubmitWriter Submits { get; }

    /// <summary>
    /// Connects to the database named by <paramref name="connectionStringOrUrl"/> (a <c>postgres://</c>
    /// URL or an Npgsql connection string) and brings its schema up to date. The database must exist;
    /// the user needs the right to create tables in it. A server that cannot be reached surfaces as an
    /// <see cref="NpgsqlException"/> whose <see cref="NpgsqlException.IsTransient"/> says whether to retry.
    /// </summary>
    public static async Task<PostgresMetadataStore> OpenAsync(string connectionStringOrUrl, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresConnectionString.Normalize(connectionStringOrUrl));
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = AutoPreparedStatements;
        }

        var store = new PostgresMetadataStore(NpgsqlDataSource.Create(builder), time ?? TimeProvider.System);
        try
        {
            await store.MigrateAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return store;
    }

    /// <summary>
    /// Connects once, changes nothing, and says what is there: the server version and how far the schema
    /// is migrated ("PostgreSQL 15.8; schema 3 of 3", or "empty database: the first start creates the
    /// schema"). For <c>stratum server --check-config</c>.
    /// </summary>
    public static async Task<string> DescribeAsync(string connectionStringOrUrl, CancellationToken cancellationToken = default)
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresConnectionString.Normalize(connectionStringOrUrl)) { Pooling = false };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var latest = PostgresMigrations.All.Max(m => m.Version);
            var command = new NpgsqlCommand("SELECT to_regclass('schema_migrations') IS NOT NULL", connection);
            await using (command.ConfigureAwait(false))
            {
                if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
                {
                    return $"PostgreSQL {connection.PostgreSqlVersion}; empty database: the first start creates schema version {latest}";
                }
            }

            var version = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", connection);
            await using (version.ConfigureAwait(false))
            {
                var current = Convert.ToInt32(await version.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
                return current > latest
                    ? throw new InvalidOperationException($"the database has schema version {current}, newer than this program's {latest}: upgrade stratum")
                    : $"PostgreSQL {connection.PostgreSqlVersion}; schema version {current} of {latest}{(current < latest ? " (the next start migrates it)" : "")}";
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="exception"/>, thrown while opening the store, is worth retrying: the server
    /// is unreachable, starting up, shutting down or out of connections. A wrong password, a missing
    /// database or a bad URL are not: retrying them only hides the mistake.
    /// </summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        PostgresException postgres => postgres.SqlState is PostgresErrorCodes.CannotConnectNow
            or PostgresErrorCodes.TooManyConnections or PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown,
        NpgsqlException npgsql => npgsql.IsTransient,
        System.Net.Sockets.SocketException or TimeoutException => true,
        _ => false,
    };

    public Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        var now = PersistenceJson.ToMillis(_time.GetUtcNow());
        return WriteAsync(context => ApplyMigrationsAsync(context, now), cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // Submissions already queued still commit: a caller that was told nothing is not left hanging.
        await Submits.DisposeAsync().ConfigureAwait(false);
        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="work"/> in a transaction of its own and commits it, unless the work set
    /// <see cref="PostgresWriteContext.Discard"/> or threw (then nothing is written). Cancellation is
    /// honoured until the transaction starts; after that the outcome would be unknown to the caller.
    /// </summary>
    internal async Task<T> WriteAsync<T>(Func<PostgresWriteContext, Task<T>> work, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfDisposed();
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(CancellationToken.None).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var context = new PostgresWriteContext(connection, transaction);
                var result = await work(context).ConfigureAwait(false);
                if (context.Discard)
                {
                    await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                }
                else
                {
                    await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                }

                return result;
            }
        }
    }

    /// <summary>Rows of one query on a pooled connection, outside any transaction (each statement sees the last commit).</summary>
    internal async Task<List<T>> ReadAsync<T>(string sql, Action<NpgsqlParameterCollection>? bind, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfDisposed();
        var command = _dataSource.CreateCommand(sql);
        await using (command.ConfigureAwait(false))
        {
            bind?.Invoke(command.Parameters);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var rows = new List<T>();
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    rows.Add(read(reader));
                }

                return rows;
            }
        }
    }

    internal ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken) => _dataSource.OpenConnectionAsync(cancellationToken);

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);

    private static async Task<int> ApplyMigrationsAsync(PostgresWriteContext context, long now)
    {
        // Held until this transaction ends; a second server blocks here and then sees the scripts applied.
        await context.ExecuteAsync("SELECT pg_advisory_xact_lock(@key)", p => p.Int64("@key", PostgresMigrations.AdvisoryLockKey)).ConfigureAwait(false);
        await context.ExecuteAsync(PostgresMigrations.CreateMigrationsTable, null).ConfigureAwait(false);

        var applied = new HashSet<int>();
        var select = context.Command("SELECT version FROM schema_migrations");
        await using (select.ConfigureAwait(false))
        {
            var reader = await select.ExecuteReaderAsync().ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    applied.Add(reader.GetInt32(0));
                }
            }
        }

        var known = PostgresMigrations.All.Max(m => m.Version);
        if (applied.Count > 0 && applied.Max() > known)
        {
            throw new InvalidOperationException(
                $"The database has schema version {applied.Max()}, newer than this program knows ({known}); run a newer Stratum.");
        }

        var count = 0;
        foreach (var migration in PostgresMigrations.All.Where(m => !applied.Contains(m.Version)).OrderBy(m => m.Version))
        {
            // DDL is transactional in PostgreSQL: a script that fails leaves no half-made schema behind.
            await context.ExecuteAsync(migration.Sql, null).ConfigureAwait(false);
            await context.ExecuteAsync(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @applied_at)",
                p => p.Int32("@version", migration.Version).Text("@name", migration.Name).Int64("@applied_at", now)).ConfigureAwait(false);
            count++;
        }

        return count;
    }
}
