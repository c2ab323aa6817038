using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Npgsql;
using Stratum.Core.Access;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Persistence.Postgres;

// Store-level submission throughput, PostgreSQL against SQLite, measured in the same run (issue 7):
//   postgres:        PostgresMetadataStore.SubmitAsync (group commit: one pipelined batch, one commit);
//   postgres-naive:  the baseline without group commit: one pooled connection and one transaction per
//                    submit (insert + audit), what a plain repository on Npgsql would do;
//   sqlite:          SqliteMetadataStore.SubmitAsync (synchronous=FULL, group commit), the embedded default.
// Every submission carries an idempotency key and an audit record, as the API's do. The PostgreSQL
// cluster is durable (fsync and synchronous_commit on), started by scripts/postgres-up.sh unless
// --database names one.
// Usage: dotnet run -c Release --project bench/Stratum.Persistence.Benchmarks -- [--jobs N] [--concurrency N] [--repeats N] [--database URL]
// With --scheduling it measures a controller iteration's store work instead (SchedulingIterationBenchmark.cs):
//   -- --scheduling [--nodes N] [--pending N] [--running N] [--starts N] [--repeats N] [--database URL]
if (args.Contains("--scheduling"))
{
    await SchedulingIterationBenchmark.RunAsync(args);
    return;
}

var jobs = Option("--jobs", 5000);
var concurrency = Option("--concurrency", 64);
var repeats = Option("--repeats", 3);
var root = RepositoryRoot();
var clusterDirectory = default(string);
var server = Array.IndexOf(args, "--database") is var at and >= 0 ? args[at + 1] : null;
if (server is null)
{
    clusterDirectory = Path.Combine(Path.GetTempPath(), "stratum-bench-pg-" + Guid.NewGuid().ToString("N"));
    server = Run(Path.Combine(root, "scripts", "postgres-up.sh"), clusterDirectory).Trim();
}

try
{
    var rounds = new List<Dictionary<string, double>>();

    // Round 0 warms up the JIT, the connection pools and the cluster's caches, and is not reported.
    for (var round = -1; round < repeats; round++)
    {
        var measured = new Dictionary<string, double>
        {
            ["postgres"] = await MeasureAsync(async () => await PostgresMetadataStore.OpenAsync(await NewDatabaseAsync(server))),
            ["postgresNaive"] = await MeasureNaiveAsync(await NewDatabaseAsync(server)),
            ["sqlite"] = await MeasureAsync(async () =>
                await SqliteMetadataStore.OpenAsync(Path.Combine(Path.GetTempPath(), "stratum-bench-" + Guid.NewGuid().ToString("N"), "stratum.db"))),
        };
        if (round >= 0)
        {
            rounds.Add(measured.ToDictionary(m => m.Key, m => Math.Round(m.Value)));
        }

        Console.WriteLine(string.Join("  ", measured.Select(m => $"{m.Key} {m.Value:F0}/s")));
    }

    double Median(string key)
    {
        var sorted = rounds.Select(r => r[key]).Order().ToArray();
        return Math.Round(sorted[sorted.Length / 2]);
    }

    var result = new
    {
        benchmark = "job submissions per second straight into the metadata store, PostgreSQL (group commit) against SQLite and against PostgreSQL without group commit",
        command = $"dotnet run -c Release --project bench/Stratum.Persistence.Benchmarks -- --jobs {jobs} --concurrency {concurrency} --repeats {repeats}",
        machine = new
        {
            cores = Environment.ProcessorCount,
            os = File.Exists("/etc/os-release")
                ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?[12..].Trim('"')
                : Environment.OSVersion.ToString(),
            runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            postgres = Run("sh", "-c", "ls -d /usr/lib/postgresql/*/ | sort -V | tail -1 | xargs basename").Trim(),
            date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        },
        jobsPerRound = jobs,
        concurrency,
        medianSubmitsPerSecond = new
        {
            postgres = Median("postgres"),
            postgresWithoutGroupCommit = Median("postgresNaive"),
            sqlite = Median("sqlite"),
        },
        ratios = new
        {
            postgresToWithoutGroupCommit = Math.Round(Median("postgres") / Median("postgresNaive"), 2),
            postgresToSqlite = Math.Round(Median("postgres") / Median("sqlite"), 2),
        },
        rounds,
    };
    var output = Path.Combine(root, "bench", "results", "postgres-submit.json");
    Directory.CreateDirectory(Path.GetDirectoryName(output)!);
    await File.WriteAllTextAsync(output, JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }) + "\n");
    Console.WriteLine($"wrote {output}");
}
finally
{
    if (clusterDirectory is not null)
    {
        Run(Path.Combine(root, "scripts", "postgres-down.sh"), clusterDirectory);
    }
}

async Task<double> MeasureAsync(Func<Task<IMetadataStore>> open)
{
    await using var store = await open();
    return await ClientsAsync((i, client) => store.Jobs.SubmitAsync(Spec(i), $"user-{client}", $"key-{i}", DateTimeOffset.UnixEpoch, Audit()));
}

async Task<double> MeasureNaiveAsync(string database)
{
    // The schema comes from the real store; the writes bypass its group commit.
    await (await PostgresMetadataStore.OpenAsync(database)).DisposeAsync();
    await using var source = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(PostgresConnectionString.Normalize(database)) { MaxAutoPrepare = 64 }.ConnectionString);
    var spec = """{"name":"bench","project":"p","command":["true"],"resources":{"cpuMillis":1000,"memoryBytes":1048576},"replicas":1,"priority":0,"preemptible":false}""";
    return await ClientsAsync(async (i, client) =>
    {
        await using var connection = await source.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using var insert = new NpgsqlCommand("""
            INSERT INTO jobs (project, owner, state, idempotency_key, reason, submitted_at, updated_at, version, failed_attempts, spec, attempts, stop)
            VALUES ('p', @owner, 'Pending', @key, '', 0, 0, 1, 0, @spec, '[]', NULL)
            ON CONFLICT (owner, idempotency_key) DO NOTHING RETURNING id
            """, connection, transaction);
        insert.Parameters.AddWithValue("owner", $"user-{client}");
        insert.Parameters.AddWithValue("key", $"key-{i}");
        insert.Parameters.AddWithValue("spec", spec);
        var id = (long)(await insert.ExecuteScalarAsync())!;
        await using var audit = new NpgsqlCommand(
            "INSERT INTO audit (at, actor, action, target, detail, remote_address) VALUES (0, 'bench', 'job.submit', @target, NULL, NULL)", connection, transaction);
        audit.Parameters.AddWithValue("target", $"job/{id}");
        await audit.ExecuteNonQueryAsync();
        await transaction.CommitAsync();
    });
}

async Task<double> ClientsAsync(Func<int, int, Task> submit)
{
    var next = -1;
    var watch = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, concurrency).Select(client => Task.Run(async () =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < jobs)
        {
            await submit(i, client);
        }
    })));
    return jobs / watch.Elapsed.TotalSeconds;
}

async Task<string> NewDatabaseAsync(string admin)
{
    var builder = new NpgsqlConnectionStringBuilder(PostgresConnectionString.Normalize(admin));
    var name = "stratum_bench_" + Guid.NewGuid().ToString("N");
    await using (var connection = new NpgsqlConnection(builder.ConnectionString))
    {
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await create.ExecuteNonQueryAsync();
    }

    builder.Database = name;
    return builder.ConnectionString;
}

static JobSpec Spec(int i) => new()
{
    Name = "bench-" + i.ToString(CultureInfo.InvariantCulture),
    Project = "p",
    Command = ["true"],
    Resources = ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20),
};

static AuditRecord Audit() => new(DateTimeOffset.UnixEpoch, "bench", "job.submit", "job/" + AuditPlaceholders.JobId);

int Option(string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
}

static string RepositoryRoot()
{
    var directory = new DirectoryInfo(AppContext.BaseDirectory);
    while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Stratum.slnx")))
    {
        directory = directory.Parent;
    }

    return directory?.FullName ?? Directory.GetCurrentDirectory();
}

static string Run(string program, params string[] arguments)
{
    var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, UseShellExecute = false };
    foreach (var argument in arguments)
    {
        start.ArgumentList.Add(argument);
    }

    using var process = Process.Start(start)!;
    var output = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    return process.ExitCode == 0 ? output : throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}");
}
