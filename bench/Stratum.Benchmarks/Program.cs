using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Stratum.Benchmarks;
using Stratum.Client.Contracts;
using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Scheduling;
using Stratum.Server;
using Stratum.Server.Api;

// Scenario benchmarks for the foundation (issue 2). Each measurement runs next to a baseline measured
// in the same run on the same machine, because absolute numbers on a shared 2-core box are noise:
//   submit:   jobs submitted per second through HTTP into SQLite, against (a) the cheapest authenticated
//             HTTP request the server answers (GET /api/v1/info: the HTTP floor) and (b) submits
//             straight into the store without HTTP (the storage ceiling);
//   schedule: one scheduling pass of the priority policy over growing clusters and queues, against a
//             pass over the same cluster with an empty queue (the fixed cost).
// Usage: dotnet run -c Release --project bench/Stratum.Benchmarks -- [submit|schedule|all] [--jobs N] [--concurrency N] [--repeats N]
var arguments = Arguments.Parse(args);
var results = Path.GetFullPath(Path.Combine(Arguments.RepositoryRoot(), "bench", "results"));
Directory.CreateDirectory(results);

if (arguments.Scenario is "submit" or "all")
{
    await SubmitScenario.RunAsync(arguments, results);
}

if (arguments.Scenario is "schedule" or "all")
{
    ScheduleScenario.Run(arguments, results);
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

            if (scenario is not ("submit" or "schedule" or "all"))
            {
                throw new ArgumentException($"unknown scenario '{scenario}'; use submit, schedule or all");
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

    internal static class ScheduleScenario
    {
        private static readonly DateTimeOffset Now = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

        public static void Run(Arguments arguments, string results)
        {
            var policy = SchedulingPolicies.Create("priority");
            var cases = new (int Nodes, int Queued, int Running)[] { (16, 100, 50), (64, 1000, 200), (256, 5000, 1000), (1024, 10000, 4000) };
            var rows = new List<object>();
            foreach (var (nodes, queued, running) in cases)
            {
                var full = Snapshot(nodes, queued, running, seed: nodes);
                var empty = full with { Queued = [] };
                var passMs = Measure(policy, full, arguments.Repeats * 4);
                var baseMs = Measure(policy, empty, arguments.Repeats * 4);
                var decisions = policy.Schedule(full);
                Console.WriteLine($"{nodes} nodes, {queued} queued, {running} running: pass {passMs:F2} ms (empty-queue baseline {baseMs:F2} ms), {decisions.Starts.Count} starts, {decisions.Preemptions.Count} preemptions");
                rows.Add(new
                {
                    nodes,
                    gpusPerNode = 8,
                    queued,
                    running,
                    medianPassMilliseconds = Math.Round(passMs, 3),
                    emptyQueueBaselineMilliseconds = Math.Round(baseMs, 3),
                    ratioToBaseline = Math.Round(passMs / Math.Max(baseMs, 1e-6), 1),
                    starts = decisions.Starts.Count,
                    preemptions = decisions.Preemptions.Count,
                });
            }

            Report.Write(results, "scheduling-pass", new
            {
                benchmark = "one scheduling pass of the 'priority' policy (pure function: snapshot in, decisions out)",
                command = $"dotnet run -c Release --project bench/Stratum.Benchmarks -- schedule --repeats {arguments.Repeats}",
                machine = Report.Machine(),
                cases = rows,
            });
        }

        private static double Measure(ISchedulingPolicy policy, ClusterSnapshot snapshot, int repeats)
        {
            policy.Schedule(snapshot);
            var samples = new List<double>();
            for (var i = 0; i < repeats; i++)
            {
                var started = Stopwatch.GetTimestamp();
                policy.Schedule(snapshot);
                samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            return Report.Median(samples);
        }

        /// <summary>A seeded synthetic cluster: 8-GPU nodes in racks, a mix of 1-8 GPU jobs and multi-node gangs, some preemptible, several projects with quotas.</summary>
        public static ClusterSnapshot Snapshot(int nodeCount, int queuedCount, int runningCount, int seed)
        {
            var random = new Random(seed);
            var nodes = Enumerable.Range(0, nodeCount).Select(i => new Node
            {
                Name = $"n{i:D4}",
                Pool = "gpu",
                Capacity = ResourceVector.Of(128, 1L << 40, "nvidia-h100", 8),
                Allocatable = ResourceVector.Of(120, 1000L << 30, "nvidia-h100", 8),
                Labels = new Dictionary<string, string> { ["rack"] = $"r{i / 16}" },
                Accelerators = Enumerable.Range(0, 8).Select(g => new AcceleratorDevice(g, "nvidia-h100", "NVIDIA H100 80GB HBM3", 80L << 30)).ToList(),
            }).ToList();
            var projects = Enumerable.Range(0, 8).Select(i => new Project { Name = $"p{i}", Quota = new Quota { Accelerators = nodeCount * 8 / 4 } }).ToList();
            long id = 0;
            Job MakeJob(JobState state)
            {
                var gpus = new[] { 1, 1, 2, 4, 8, 8 }[random.Next(6)];
                var replicas = gpus == 8 && random.Next(4) == 0 ? random.Next(2, 5) : 1;
                return new Job
                {
                    Id = ++id,
                    Owner = "bench",
                    State = state,
                    SubmittedAt = Now.AddSeconds(id),
                    Spec = new JobSpec
                    {
                        Name = $"job{id}",
                        Project = $"p{random.Next(8)}",
                        Command = ["train"],
                        Resources = ResourceVector.Of(gpus * 8, gpus * (64L << 30), "nvidia-h100", gpus),
                        Replicas = replicas,
                        Priority = random.Next(3) * 10,
                        Preemptible = random.Next(3) == 0,
                    },
                };
            }

            // Running jobs get real placements by letting the policy place them on an empty cluster first.
            var candidates = Enumerable.Range(0, runningCount).Select(_ => MakeJob(JobState.Pending)).ToList();
            var placed = new PriorityPolicy().Schedule(new ClusterSnapshot { Now = Now, Nodes = nodes, Projects = projects.Select(p => p with { Quota = Quota.Unlimited }).ToList(), Queued = candidates, Running = [] });
            var byId = candidates.ToDictionary(j => j.Id);
            var running = placed.Starts.Select(s => byId[s.JobId] with
            {
                State = JobState.Running,
                Attempts = [new JobAttempt { Number = 1, Placement = s.Placement, StartedAt = Now }],
            }).ToList();
            var queued = Enumerable.Range(0, queuedCount).Select(_ => MakeJob(JobState.Pending)).ToList();
            return new ClusterSnapshot { Now = Now.AddHours(1), Nodes = nodes, Projects = projects, Queued = queued, Running = running };
        }
    }
}
