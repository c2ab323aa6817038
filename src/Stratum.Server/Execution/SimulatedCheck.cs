using Microsoft.Data.Sqlite;
using Npgsql;
using Stratum.Persistence.Postgres;
using Stratum.Server.Hosting;

namespace Stratum.Server.Execution;

/// <summary>
/// The <c>--check-config</c> finding for pools on the simulated executor: they run no program, so a server
/// that has one is not a production server. Pools are in the database, which this reads without changing
/// (SQLite opened read-only, one SELECT on PostgreSQL); a database that cannot be read gives no finding
/// here, because the database check already says why.
/// </summary>
public static class SimulatedCheck
{
    public const string Check = "simulated executor";

    private const string Query = "SELECT name FROM pools WHERE executor = 'simulated' ORDER BY name";

    /// <summary>The finding, or null when no pool runs on the simulated executor (or the pools cannot be read).</summary>
    public static async Task<ConfigCheckFinding?> RunAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var pools = await SimulatedPoolsAsync(options, cancellationToken);
        return pools is null || pools.Count == 0
            ? null
            : new(Check, ConfigCheckOutcome.Warning,
                $"pool(s) {string.Join(", ", pools)} run on the simulated executor: their jobs run no program and report made-up usage. It is for benchmarks and demos, not production; 'stratum apply' with another executor changes that");
    }

    private static async Task<List<string>?> SimulatedPoolsAsync(ServerOptions options, CancellationToken cancellationToken)
    {
        var database = options.EffectiveDatabase;
        try
        {
            if (ServerOptions.SqlitePath(database, options.DataDirectory) is { } path)
            {
                if (!File.Exists(path))
                {
                    return null;
                }

                var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false };
                await using var connection = new SqliteConnection(builder.ConnectionString);
                await connection.OpenAsync(cancellationToken);
                await using var exists = connection.CreateCommand();
                exists.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'pools'";
                if (Convert.ToInt64(await exists.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) == 0)
                {
                    return null;
                }

                await using var command = connection.CreateCommand();
                command.CommandText = Query;
                return await ReadNamesAsync(await command.ExecuteReaderAsync(cancellationToken), cancellationToken);
            }

            if (database is not null && ServerOptions.DatabaseKind(database) == "postgres")
            {
                var builder = new NpgsqlConnectionStringBuilder(PostgresConnectionString.Normalize(database)) { Pooling = false, Timeout = 10 };
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(cancellationToken);
                await using var exists = new NpgsqlCommand("SELECT to_regclass('pools') IS NOT NULL", connection);
                if (await exists.ExecuteScalarAsync(cancellationToken) is not true)
                {
                    return null;
                }

                await using var command = new NpgsqlCommand(Query, connection);
                return await ReadNamesAsync(await command.ExecuteReaderAsync(cancellationToken), cancellationToken);
            }
        }
        catch (Exception e) when (e is SqliteException or NpgsqlException or ArgumentException or InvalidOperationException or IOException or TimeoutException)
        {
            // The database finding reports what is wrong with it.
        }

        return null;
    }

    private static async Task<List<string>> ReadNamesAsync(System.Data.Common.DbDataReader reader, CancellationToken cancellationToken)
    {
        await using (reader)
        {
            var names = new List<string>();
            while (await reader.ReadAsync(cancellationToken))
            {
                names.Add(reader.GetString(0));
            }

            return names;
        }
    }
}
