using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>
/// A real PostgreSQL for the tests: a throwaway cluster started once per test run on 127.0.0.1 in a
/// temporary directory (initdb and pg_ctl from Debian's <c>postgresql</c> package), or an existing server
/// named by <c>STRATUM_TEST_POSTGRES</c> (a URL or connection string of a user that may create
/// databases). Every store a test opens gets a database of its own. The cluster is stopped and its
/// directory removed when the test process exits.
/// </summary>
internal static class PostgresTestServer
{
    public const string ServerVariable = "STRATUM_TEST_POSTGRES";

    /// <summary>A directory holding initdb and pg_ctl, searched instead of the usual places.</summary>
    public const string BinariesVariable = "STRATUM_TEST_POSTGRES_BIN";

    /// <summary>Databases made on a server the tests did not start, dropped again when the process exits.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentQueue<string> Created = new();

    private static readonly Lazy<Task<string>> Admin = new(StartAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Why PostgreSQL tests cannot run here, or null when they can (or must: under CI=true they fail instead).</summary>
    public static string? SkipReason { get; } = FindSkipReason();

    private static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>A connection string for a new, empty database.</summary>
    public static async Task<string> CreateDatabaseAsync()
    {
        var admin = await Admin.Value.ConfigureAwait(false);
        var name = "stratum_test_" + Guid.NewGuid().ToString("N");
        var connection = new NpgsqlConnection(admin);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync().ConfigureAwait(false);
            var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await using (command.ConfigureAwait(false))
            {
                await command.ExecuteNonQueryAsync().ConfigureAwait(false);
            }
        }

        Created.Enqueue(name);
        return new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }

    /// <summary>The same database as a postgres:// URL, the form users give <c>--database</c>.</summary>
    public static string ToUrl(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var user = Uri.EscapeDataString(builder.Username ?? "postgres");
        var password = builder.Password is null ? "" : ":" + Uri.EscapeDataString(builder.Password);
        return $"postgres://{user}{password}@{builder.Host}:{builder.Port}/{Uri.EscapeDataString(builder.Database!)}";
    }

    private static string? FindSkipReason()
    {
        if (Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } || FindBinaries() is not null)
        {
            return null;
        }

        return InCi
            ? null
            : $"PostgreSQL is not installed (no initdb/pg_ctl under /usr/lib/postgresql/*/bin, on PATH or in {BinariesVariable}; apt-get install postgresql), and {ServerVariable} names no server.";
    }

    private static string? FindBinaries()
    {
        if (Environment.GetEnvironmentVariable(BinariesVariable) is { Length: > 0 } named)
        {
            return File.Exists(Path.Combine(named, "initdb")) && File.Exists(Path.Combine(named, "pg_ctl")) ? named : null;
        }

        var candidates = new List<string>();
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            // Newest major version first.
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        }

        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries));
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    private static async Task<string> StartAsync()
    {
        if (Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } existing)
        {
            var admin = PostgresConnectionString.Normalize(existing);
            AppDomain.CurrentDomain.ProcessExit += (_, _) => DropCreated(admin);
            return admin;
        }

        var bin = FindBinaries()
            ?? throw new InvalidOperationException(
                $"PostgreSQL is required here (CI=true) but not installed: apt-get install postgresql, or set {ServerVariable}.");

        // PostgreSQL refuses to run as root: then the server runs as the 'postgres' user the package made.
        var runAs = Environment.UserName == "root" ? "postgres" : null;
        RemoveLeftovers();
        var directory = Directory.CreateTempSubdirectory("stratum-pg-").FullName;
        var data = Path.Combine(directory, "data");
        if (runAs is not null)
        {
            await RunAsync("chown", [$"{runAs}:", directory], null).ConfigureAwait(false);
        }

        await RunAsync(Path.Combine(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"], runAs).ConfigureAwait(false);

        // A free port can be taken between asking and binding; a few tries make that race harmless.
        for (var attempt = 1; ; attempt++)
        {
            var port = UnusedPort();
            try
            {
                // Durability settings off: these databases live for one test run, and speed matters more.
                await RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", data, "-l", Path.Combine(directory, "server.log"), "-w", "-t", "60", "-o",
                    $"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                    "start"], runAs).ConfigureAwait(false);
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                continue;
            }

            AppDomain.CurrentDomain.ProcessExit += (_, _) => Stop(bin, data, directory, runAs);
            return new NpgsqlConnectionStringBuilder
            {
                Host = "127.0.0.1",
                Port = port,
                Username = "postgres",
                Database = "postgres",
            }.ConnectionString;
        }
    }

    private static void Stop(string bin, string data, string directory, string? runAs)
    {
        try
        {
            // One process stops the server and removes its directory: the test host may be torn down
            // right after this handler returns, so nothing is left to a second step.
            RunAsync("sh", ["-c", "\"$0\" -D \"$1\" -m immediate -w stop >/dev/null; rm -rf \"$2\"", Path.Combine(bin, "pg_ctl"), data, directory], runAs)
                .GetAwaiter().GetResult();
        }
        catch (InvalidOperationException)
        {
            // The process is exiting; a leftover temporary directory is removed by the next run.
        }
    }

    private static void DropCreated(string admin)
    {
        try
        {
            using var connection = new NpgsqlConnection(admin);
            connection.Open();
            while (Created.TryDequeue(out var name))
            {
                using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
                command.ExecuteNonQuery();
            }
        }
        catch (NpgsqlException)
        {
            // The process is exiting; leftover test databases are named stratum_test_* and safe to drop by hand.
        }
    }

    /// <summary>
    /// Directories of earlier runs whose cluster is gone (no postmaster.pid) but whose removal at exit was
    /// cut short. Only old ones: a run starting right now has no postmaster.pid yet either.
    /// </summary>
    private static void RemoveLeftovers()
    {
        foreach (var directory in Directory.GetDirectories(Path.GetTempPath(), "stratum-pg-*"))
        {
            try
            {
                if (!File.Exists(Path.Combine(directory, "data", "postmaster.pid"))
                    && Directory.GetLastWriteTimeUtc(directory) < DateTime.UtcNow.AddMinutes(-10))
                {
                    Directory.Delete(directory, recursive: true);
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // Someone else's, or in use: not ours to insist on.
            }
        }
    }

    /// <summary>A loopback port nothing listens on right now.</summary>
    public static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task RunAsync(string program, IReadOnlyList<string> arguments, string? runAs)
    {
        var start = new ProcessStartInfo(runAs is null ? program : "runuser")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (runAs is not null)
        {
            foreach (var argument in new[] { "-u", runAs, "--", program })
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await error.ConfigureAwait(false)} {await output.ConfigureAwait(false)}");
        }
    }
}
