using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Stratum.Server;
using Stratum.Server.Telemetry;

namespace Stratum.Telemetry.Benchmarks;

/// <summary>
/// The child side of the simulated scenario: one real server in a process of its own (so its CPU and memory
/// are its own, not the benchmark's), told what to do on stdin and answering on stdout with lines that
/// start with a keyword; the server's own log lines pass through and are ignored.
/// </summary>
internal static class SimulatedServer
{
    public const string ServeFlag = "--serve-simulated";

    public static async Task<int> ServeAsync(string[] args)
    {
        var data = Argument(args, "--data");
        var options = new ServerOptions
        {
            DataDirectory = data,
            Port = 0,
            RegisterLocalNode = false,
            TelemetryInterval = TimeSpan.FromSeconds(int.Parse(Argument(args, "--telemetry-seconds"), CultureInfo.InvariantCulture)),
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        };
        var server = await StratumServer.StartAsync(options);
        Console.WriteLine($"READY {server.Address} {server.AdminToken}");
        while (Console.ReadLine() is { } line)
        {
            if (line.StartsWith("rounds ", StringComparison.Ordinal))
            {
                var result = await RoundsAsync(server, options, int.Parse(line["rounds ".Length..], CultureInfo.InvariantCulture));
                Console.WriteLine("ROUNDS " + JsonSerializer.Serialize(result));
            }
            else if (line == "heap")
            {
                Console.WriteLine("HEAP " + GC.GetTotalMemory(forceFullCollection: true).ToString(CultureInfo.InvariantCulture));
            }
            else if (line == "quit")
            {
                break;
            }
        }

        await server.StopAsync();
        return 0;
    }

    /// <summary>
    /// Sample rounds run by hand on a server whose sampler loop is off, so that nothing else samples meanwhile:
    /// each round's wall time, the process CPU they took, and what they added to the database file.
    /// </summary>
    private static async Task<object> RoundsAsync(StratumServer server, ServerOptions options, int rounds)
    {
        var sampler = server.Services.GetRequiredService<TelemetrySampler>();
        var database = ServerOptions.SqlitePath(options.EffectiveDatabase, Path.GetFullPath(options.DataDirectory))
            ?? throw new InvalidOperationException("the simulated scenario measures the SQLite store");

        // The first round also rolls up and applies retention (once a minute); run it before measuring.
        await sampler.SampleOnceAsync(CancellationToken.None);
        var bytesBefore = DatabaseBytes(database);
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var times = new List<double>();
        var points = new List<int>();
        for (var i = 0; i < rounds; i++)
        {
            var one = Stopwatch.StartNew();
            await sampler.SampleOnceAsync(CancellationToken.None);
            times.Add(one.Elapsed.TotalMilliseconds);
            points.Add(sampler.LastRoundPoints);
        }

        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpuBefore).TotalMilliseconds / rounds;
        var bytes = (DatabaseBytes(database) - bytesBefore) / (double)rounds;
        times.Sort();
        return new
        {
            rounds,
            jobs_sampled = sampler.Latest.Count,
            jobs_with_gpus_used_known = sampler.Latest.Count(u => u.GpusUsed is not null),
            rows_per_round = points.Max(),
            wall_ms_median = Math.Round(ResultFile.Median(times), 1),
            wall_ms_max = Math.Round(times[^1], 1),
            cpu_ms_mean = Math.Round(cpu, 1),
            database_bytes_per_round = Math.Round(bytes),
        };
    }

    /// <summary>Pages in use in the main file once the write-ahead log is folded in: what the rows really take.</summary>
    private static long DatabaseBytes(string path)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ConnectionString);
        connection.Open();
        long Scalar(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
        }

        using (var checkpoint = connection.CreateCommand())
        {
            checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
            checkpoint.ExecuteNonQuery();
        }

        return (Scalar("PRAGMA page_count") - Scalar("PRAGMA freelist_count")) * Scalar("PRAGMA page_size");
    }

    private static string Argument(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : throw new ArgumentException($"{name} is required");
    }
}
