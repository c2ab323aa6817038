using Microsoft.Data.Sqlite;

namespace Stratum.Persistence;

/// <summary>
/// The embedded metadata store: one SQLite file in WAL mode. Writes go through one writer thread with
/// group commit (see <see cref="SqliteWriter"/>) and are durable when their task completes
/// (synchronous=FULL); reads use their own connections and never wait for the writer.
/// </summary>
public sealed class SqliteMetadataStore : IMetadataStore
{
    /// <summary>How long a statement waits for a lock held by another process before it fails.</summary>
    private const int BusyTimeoutMilliseconds = 10_000;

    private readonly ReadConnections _readers;
    private readonly TimeProvider _time;
    private int _disposed;

    private SqliteMetadataStore(string databasePath, string connectionString, SqliteConnection writeConnection, TimeProvider time)
    {
        DatabasePath = databasePath;
        _time = time;
        _readers = new ReadConnections(connectionString);
        Writer = new SqliteWriter(writeConnection);
        Jobs = new SqliteJobRepository(this);
        Cluster = new SqliteClusterRepository(this);
        Access = new SqliteAccessRepository(this);
        Audit = new SqliteAuditLog(this);
        S3Keys = new SqliteS3KeyRepository(this);
        Telemetry = new SqliteTelemetryRepository(this);
        Leases = new SqliteLeaderLeases(time);
    }

    /// <summary>The full path of the database file.</summary>
    public string DatabasePath { get; }

    public IJobRepository Jobs { get; }

    public IClusterRepository Cluster { get; }

    public IAccessRepository Access { get; }

    public IAuditLog Audit { get; }

    public IS3KeyRepository S3Keys { get; }

    public ITelemetryRepository Telemetry { get; }

    public ILeaderLeases Leases { get; }

    internal SqliteWriter Writer { get; }

    /// <summary>
    /// Opens (creating the file and its directory if missing) the database at <paramref name="databasePath"/>
    /// and brings its schema up to date.
    /// </summary>
    public static async Task<SqliteMetadataStore> OpenAsync(string databasePath, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        var fullPath = Path.GetFullPath(databasePath);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);

        // Pooling is off so that disposing the store really closes the file: this class keeps its own
        // connections and applies the PRAGMAs once per connection.
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            ForeignKeys = true,
            DefaultTimeout = BusyTimeoutMilliseconds / 1000,
        }.ToString();

        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var mode = Pragma(connection, "PRAGMA journal_mode = WAL");
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException(
                    $"SQLite could not put '{fullPath}' in WAL mode (it reports '{mode}'); the data directory must be on a local file system.");
            }

            // FULL makes WAL commits fsync, so an acknowledged write survives power loss, not just a crash.
            Pragma(connection, "PRAGMA synchronous = FULL");
            Pragma(connection, $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}");
            Pragma(connection, "PRAGMA foreign_keys = ON");
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var store = new SqliteMetadataStore(fullPath, connectionString, connection, time ?? TimeProvider.System);
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

    public Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        var now = PersistenceJson.ToMillis(_time.GetUtcNow());
        return Writer.EnqueueAsync(context => ApplyMigrations(context, now), cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await Writer.DisposeAsync().ConfigureAwait(false);
        _readers.Dispose();
    }

    /// <summary>Runs <paramref name="read"/> on a reader connection (WAL: it sees the last commit and never blocks the writer).</summary>
    internal Task<T> ReadAsync<T>(Func<SqliteConnection, T> read, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);

        // Microsoft.Data.Sqlite's async methods run synchronously anyway; reads are short.
        var connection = _readers.Rent();
        try
        {
            return Task.FromResult(read(connection));
        }
        finally
        {
            _readers.Return(connection);
        }
    }

    private static int ApplyMigrations(WriteContext context, long now)
    {
        Execute(context, Migrations.CreateMigrationsTable);

        var applied = new HashSet<int>();
        using (var select = context.Connection.CreateCommand())
        {
            select.Transaction = context.Transaction;
            select.CommandText = "SELECT version FROM schema_migrations";
            using var reader = select.ExecuteReader();
            while (reader.Read())
            {
                applied.Add(reader.GetInt32(0));
            }
        }

        var known = Migrations.All.Max(m => m.Version);
        if (applied.Count > 0 && applied.Max() > known)
        {
            throw new InvalidOperationException(
                $"The database has schema version {applied.Max()}, newer than this program knows ({known}); run a newer Stratum.");
        }

        var count = 0;
        foreach (var migration in Migrations.All.Where(m => !applied.Contains(m.Version)).OrderBy(m => m.Version))
        {
            Execute(context, migration.Sql);
            using var insert = context.Connection.CreateCommand();
            insert.Transaction = context.Transaction;
            insert.CommandText = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @applied_at)";
            insert.Add("@version", migration.Version).Add("@name", migration.Name).Add("@applied_at", now);
            insert.ExecuteNonQuery();
            count++;
        }

        return count;
    }

    private static void Execute(WriteContext context, string sql)
    {
        using var command = context.Connection.CreateCommand();
        command.Transaction = context.Transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string? Pragma(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar()?.ToString();
    }

    /// <summary>Idle reader connections, kept so a read does not pay for opening the file and its PRAGMAs.</summary>
    private sealed class ReadConnections(string connectionString) : IDisposable
    {
        private const int MaxIdle = 16;

        private readonly Stack<SqliteConnection> _idle = new();
        private readonly Lock _lock = new();
        private bool _disposed;

        public SqliteConnection Rent()
        {
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, typeof(SqliteMetadataStore));
                if (_idle.TryPop(out var idle))
                {
                    return idle;
                }
            }

            var connection = new SqliteConnection(connectionString);
            try
            {
                connection.Open();

                // A reader that tries to write is a bug; make SQLite say so instead of taking the write lock.
                Pragma(connection, "PRAGMA query_only = ON");
                Pragma(connection, $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}");
            }
            catch
            {
                connection.Dispose();
                throw;
            }

            return connection;
        }

        public void Return(SqliteConnection connection)
        {
            lock (_lock)
            {
                if (!_disposed && _idle.Count < MaxIdle)
                {
                    _idle.Push(connection);
                    return;
                }
            }

            connection.Dispose();
        }

        public void Dispose()
        {
            lock (_lock)
            {
                _disposed = true;
                while (_idle.TryPop(out var connection))
                {
                    connection.Dispose();
                }
            }
        }
    }
}
