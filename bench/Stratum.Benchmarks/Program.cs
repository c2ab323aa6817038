using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Stratum.Benchmarks;
using Stratum.Client.Contracts;
using Stratum.Core.Access;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Server;
using Stratum.Server.Api;

// Scenario benchmarks for the foundation (issue 2). Each measurement runs next to a baseline measured
// in the same run on the same machine, because absolute numbers on a shared 2-core box are noise:
//   submit:   jobs submitted per second through HTTP into SQLite, against (a) the cheapest authenticated
//             HTTP request the server answers (GET /api/v1/info: the HTTP floor) and (b) submits
//             straight into the store without HTTP (the storage ceiling);
// (The scheduling pass has its own project: bench/Stratum.Scheduling.Benchmarks.)
// Usage: dotnet run -c Release --project bench/Stratum.Benchmarks -- [submit|all] [--jobs N] [--concurrency N] [--repeats N]
var arguments = Arguments.Parse(args);
var results = Path.GetFullPath(Path.Combine(Arguments.RepositoryRoot(), "bench", "results"));
Directory.CreateDirectory(results);

if (arguments.Scenario is "submit" or "all")
{
    await SubmitScenario.RunAsync(arguments, results);
}


namespace Stratum.Benchmarks
{
    internal sealed record Arguments(string Scenario, int Jobs, int Concurrency, int Repeats)
    {
        public static Arguments Parse(string[] args)
        {
            var scenario = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "all";
            int Option(string name, int fallback)
            {
                var index = Array.IndexOf(args, name);
                return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
            }

            if (scenario is not ("submit" or "all"))
            {
                throw new ArgumentException($"unknown scenario '{scenario}'; use submit or all (bench/run.sh schedule runs bench/Stratum.Scheduling.Benchmarks)");
            }

            return new Arguments(scenario, Option("--jobs", 20_000), Option("--concurrency", 64), Option("--repeats", 5));
        }

        public static string RepositoryRoot()
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Stratum.slnx")))
            {
                directory = directory.Parent;
            }

            return directory?.FullName ?? Directory.GetCurrentDirectory();
        }
    }

    internal static class Report
    {
        private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { WriteIndented = true };

        public static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToArray();
            return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        }

        public static void Write(string directory, string name, object result)
        {
            var path = Path.Combine(directory, name + ".json");
            File.WriteAllText(path, JsonSerializer.Serialize(result, Options) + "\n");
            Console.WriteLine($"wrote {Path.GetRelativePath(Arguments.RepositoryRoot(), path)}");
        }

        public static object Machine() => new
        {
            cores = Environment.ProcessorCount,
            os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            date = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        };
    }

    internal static class SubmitScenario
    {
        public static async Task RunAsync(Arguments arguments, string results)
        {
            var rounds = new List<(double Submit, double Floor, double Store)>();
            for (var round = 1; round <= arguments.Repeats; round++)
            {
                var submit = await MeasureHttpAsync(arguments, submitJobs: true);
                var floor = await MeasureHttpAsync(arguments, submitJobs: false);
                var store = await MeasureStoreAsync(arguments);
                rounds.Add((submit, floor, store));
                Console.WriteLine($"round {round}: {submit:F0} submits/s over HTTP, {floor:F0} GET /api/v1/info/s, {store:F0} submits/s straight into the store");
            }

            var submitMedian = Report.Median(rounds.Select(r => r.Submit));
            var floorMedian = Report.Median(rounds.Select(r => r.Floor));
            var storeMedian = Report.Median(rounds.Select(r => r.Store));
            Console.WriteLine($"median: {submitMedian:F0} submits/s over HTTP ({submitMedian / floorMedian:P0} of the HTTP floor, {submitMedian / storeMedian:P0} of the store alone)");
            Report.Write(results, "submit-throughput", new
            {
                benchmark = "job submissions per second through POST /api/v1/jobs into SQLite (synchronous=FULL, group commit)",
                command = $"dotnet run -c Release --project bench/Stratum.Benchmarks -- submit --jobs {arguments.Jobs} --concurrency {arguments.Concurrency} --repeats {arguments.Repeats}",
                machine = Report.Machine(),
                jobsPerRound = arguments.Jobs,
                concurrency = arguments.Concurrency,
                medianSubmitsPerSecond = Math.Round(submitMedian),
                baselines = new
                {
                    httpFloorRequestsPerSecond = Math.Round(floorMedian),
                    storeOnlySubmitsPerSecond = Math.Round(storeMedian),
                    submitToHttpFloorRatio = Math.Round(submitMedian / floorMedian, 3),
                    submitToStoreRatio = Math.Round(submitMedian / storeMedian, 3),
                },
                target = 2000,
                rounds = rounds.Select(r => new { submitsPerSecond = Math.Round(r.Submit), httpFloor = Math.Round(r.Floor), storeOnly = Math.Round(r.Store) }),
                notes = "Client and server share the process and the machine's cores, as a load generator on the same box would; every acknowledged submit is fsynced.",
            });
        }

        /// <summary>
        /// A fresh server whose only node is draining, so submitted jobs are accepted and stay pending
        /// (no processes start); N concurrent clients then send requests as fast as they are answered.
        /// </summary>
        private static async Task<double> MeasureHttpAsync(Arguments arguments, bool submitJobs)
        {
            var data = Path.Combine(Path.GetTempPath(), "stratum-bench-" + Guid.NewGuid().ToString("N")[..8]);
            var server = await StratumServer.StartAsync(new ServerOptions
            {
                DataDirectory = data,
                Port = 0,
                RegisterLocalNode = false,
                MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
            });
            try
            {
                using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = arguments.Concurrency };
                using var client = new HttpClient(handler) { BaseAddress = server.Address };
                client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.AdminToken);
                var apply = await client.PostAsJsonAsync("/api/v1/apply", new ApplyRequest
                {
                    Document = "pools:\n  - name: bench\nnodes:\n  - name: n1\n    pool: bench\n    cpu: \"64\"\n    memory: 256Gi\n    state: Draining\n",
                });
                apply.EnsureSuccessStatusCode();
                var request = new SubmitJobRequest { Name = "bench", Command = ["true"], Resources = new ResourcesDto { Cpu = "1", Memory = "1Gi" } };
                var body = JsonSerializer.SerializeToUtf8Bytes(request, Json.Options);

                // Warm up the connection pool, the JIT and SQLite's caches.
                await RunAsync(client, body, submitJobs, Math.Min(1000, arguments.Jobs / 10), arguments.Concurrency);
                var started = Stopwatch.GetTimestamp();
                await RunAsync(client, body, submitJobs, arguments.Jobs, arguments.Concurrency);
                return arguments.Jobs / Stopwatch.GetElapsedTime(started).TotalSeconds;
            }
            finally
            {
                await server.StopAsync();
                Directory.Delete(data, recursive: true);
            }
        }

        private static async Task RunAsync(HttpClient client, byte[] body, bool submitJobs, int count, int concurrency)
        {
            var remaining = count;
            var workers = Enumerable.Range(0, concurrency).Select(async _ =>
            {
                while (Interlocked.Decrement(ref remaining) >= 0)
                {
                    using var response = submitJobs
                        ? await client.PostAsync("/api/v1/jobs", new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } })
                        : await client.GetAsync("/api/v1/info");
                    if (!response.IsSuccessStatusCode)
                    {
                        throw new InvalidOperationException($"request failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    }
                }
            });
            await Task.WhenAll(workers);
        }

        private static async Task<double> MeasureStoreAsync(Arguments arguments)
        {
            var data = Path.Combine(Path.GetTempPath(), "stratum-bench-" + Guid.NewGuid().ToString("N")[..8]);
            var store = await SqliteMetadataStore.OpenAsync(Path.Combine(data, "stratum.db"));
            try
            {
                var spec = new JobSpec { Name = "bench", Project = "default", Command = ["true"], Resources = ResourceVector.Of(1, 1L << 30) };
                var remaining = arguments.Jobs;
                var started = Stopwatch.GetTimestamp();
                var workers = Enumerable.Range(0, arguments.Concurrency).Select(async _ =>
                {
                    while (Interlocked.Decrement(ref remaining) >= 0)
                    {
                        var now = DateTimeOffset.UtcNow;
                        await store.Jobs.SubmitAsync(spec, "admin", null, now, new AuditRecord(now, "bench", "job.submit", $"job/{AuditPlaceholders.JobId}"));
                    }
                });
                await Task.WhenAll(workers);
                return arguments.Jobs / Stopwatch.GetElapsedTime(started).TotalSeconds;
            }
            finally
            {
                await store.DisposeAsync();
                Directory.Delete(data, recursive: true);
            }
        }
    }
}
