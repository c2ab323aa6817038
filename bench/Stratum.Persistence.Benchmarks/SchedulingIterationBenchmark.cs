using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Npgsql;
using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Persistence.Postgres;
using Stratum.Scheduling;

/// <summary>
/// The store-bound part of one controller iteration (ClusterController.RunOnceAsync), PostgreSQL
/// against SQLite in the same run, at a realistic size: (a) the snapshot read (ListActiveAsync every
/// iteration; nodes and projects, which the controller caches, measured apart), (b) the pure
/// scheduling pass over that snapshot, the same work for both stores and so the baseline, (c) persisting
/// one pass's starts in one transaction: UpdateFencedAsync as the controller does it (lease check,
/// no audit record), and UpdateAsync with one audit record for the batch. Every write is reverted
/// (untimed) so that all rounds see the same queue.
/// </summary>
internal static class SchedulingIterationBenchmark
{
    private static readonly DateTimeOffset Now = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    public static async Task RunAsync(string[] args)
    {
        var nodeCount = Option(args, "--nodes", 1000);
        var pendingCount = Option(args, "--pending", 10_000);
        var runningCount = Option(args, "--running", 2000);
        var startsPerPass = Option(args, "--starts", 200);
        var repeats = Option(args, "--repeats", 5);
        var root = RepositoryRoot();
        var clusterDirectory = default(string);
        var server = Array.IndexOf(args, "--database") is var at and >= 0 ? args[at + 1] : null;
        if (server is null)
        {
            clusterDirectory = Path.Combine(Path.GetTempPath(), "stratum-bench-pg-" + Guid.NewGuid().ToString("N"));
            server = Run(Path.Combine(root, "scripts", "postgres-up.sh"), clusterDirectory).Trim();
        }

        var sqliteDirectory = Path.Combine(Path.GetTempPath(), "stratum-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var world = World.Make(nodeCount, pendingCount, runningCount, seed: 7);
            var stores = new (string Name, IMetadataStore Store)[]
            {
                ("postgres", await PostgresMetadataStore.OpenAsync(await NewDatabaseAsync(server))),
                ("sqlite", await SqliteMetadataStore.OpenAsync(Path.Combine(sqliteDirectory, "stratum.db"))),
            };
            var fences = new Dictionary<string, LeaderFence>();
            foreach (var (name, store) in stores)
            {
                var watch = Stopwatch.StartNew();
                await world.SeedAsync(store);
                fences[name] = (await store.Leases.TryAcquireAsync("controller", "bench", TimeSpan.FromHours(1))).Fence;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: seeded {nodeCount} nodes, {pendingCount} pending and {runningCount} running jobs in {watch.Elapsed.TotalSeconds:F1} s"));
            }

            var policy = SchedulingPolicies.Create(SchedulingPolicies.Default);
            var rounds = new List<Dictionary<string, double>>();
            var startsFound = 0;
            var startsPersisted = 0;
            var activeRead = 0;

            // Round -1 warms up the JIT, the pools and both stores' parsed-job caches, and is not reported.
            for (var round = -1; round < repeats; round++)
            {
                var measured = new Dictionary<string, double>();
                IReadOnlyList<long>? firstStarts = null;
                foreach (var (name, store) in stores)
                {
                    var watch = Stopwatch.StartNew();
                    var active = await store.Jobs.ListActiveAsync();
                    measured[$"{name}.readActiveJobs"] = watch.Elapsed.TotalMilliseconds;

                    watch.Restart();
                    var nodes = await store.Cluster.ListNodesAsync();
                    var projects = await store.Cluster.ListProjectsAsync();
                    measured[$"{name}.readNodesAndProjects"] = watch.Elapsed.TotalMilliseconds;

                    var snapshot = new ClusterSnapshot
                    {
                        Now = Now,
                        Nodes = nodes,
                        Projects = projects,
                        Queued = active.Where(j => j.State.IsQueued()).OrderBy(j => j.Id).ToList(),
                        Running = active.Where(j => j.State == JobState.Running).OrderBy(j => j.Id).ToList(),
                    };
                    watch.Restart();
                    var decisions = policy.Schedule(snapshot);
                    var passMilliseconds = watch.Elapsed.TotalMilliseconds;

                    // Both stores must hand the policy the same world, or the comparison means nothing.
                    var starts = decisions.Starts.Select(s => s.JobId).ToList();
                    if (firstStarts is null)
                    {
                        firstStarts = starts;
                        measured["pass"] = passMilliseconds;
                    }
                    else if (!firstStarts.SequenceEqual(starts))
                    {
                        throw new InvalidOperationException($"{name} gave the policy a different snapshot: {starts.Count} starts against {firstStarts.Count}");
                    }

                    activeRead = active.Count;
                    startsFound = decisions.Starts.Count;
                    var byId = active.ToDictionary(j => j.Id);
                    var updates = decisions.Starts.Take(startsPerPass).Select(s => Started(byId[s.JobId], s.Placement)).ToList();
                    startsPersisted = updates.Count;

                    watch.Restart();
                    if (!await store.Jobs.UpdateFencedAsync(updates, fences[name]))
                    {
                        throw new InvalidOperationException($"{name}: the fenced update found a job that moved on");
                    }

                    measured[$"{name}.persistStartsFenced"] = watch.Elapsed.TotalMilliseconds;
                    await RevertAsync(store, updates, byId, versionsAhead: 1);

                    watch.Restart();
                    if (!await store.Jobs.UpdateAsync(updates.Select(u => u with { Version = u.Version + 2 }).ToList(), new AuditRecord(Now, "scheduler", "job.start", $"{updates.Count} jobs")))
                    {
                        throw new InvalidOperationException($"{name}: the audited update found a job that moved on");
                    }

                    measured[$"{name}.persistStartsAudited"] = watch.Elapsed.TotalMilliseconds;
                    await RevertAsync(store, updates, byId, versionsAhead: 3);
                }

                if (round >= 0)
                {
                    rounds.Add(measured.ToDictionary(m => m.Key, m => Math.Round(m.Value, 2)));
                }

                Console.WriteLine(string.Join("  ", measured.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Key} {m.Value:F1}"))));
            }

            foreach (var (_, store) in stores)
            {
                await store.DisposeAsync();
            }

            double Median(string key)
            {
                var sorted = rounds.Select(r => r[key]).Order().ToArray();
                return Math.Round(sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2, 2);
            }

            object Store(string name) => new
            {
                readActiveJobs = Median($"{name}.readActiveJobs"),
                readNodesAndProjects = Median($"{name}.readNodesAndProjects"),
                persistStartsFenced = Median($"{name}.persistStartsFenced"),
                persistStartsAudited = Median($"{name}.persistStartsAudited"),
                iteration = Math.Round(Median($"{name}.readActiveJobs") + Median("pass") + Median($"{name}.persistStartsFenced"), 2),
            };

            var result = new
            {
                benchmark = "store-bound part of one controller iteration, PostgreSQL against SQLite in the same run: the snapshot read, the pure scheduling pass (the same for both: the baseline), persisting one pass's starts in one transaction",
                command = $"dotnet run -c Release --project bench/Stratum.Persistence.Benchmarks -- --scheduling --nodes {nodeCount} --pending {pendingCount} --running {runningCount} --starts {startsPerPass} --repeats {repeats}",
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
                size = new { nodes = nodeCount, gpusPerNode = 8, pending = pendingCount, running = runningCount, activeJobsRead = activeRead, policy = SchedulingPolicies.Default },
                startsInPass = startsFound,
                startsPersisted,
                note = "milliseconds, medians of the rounds after a warm-up round; readActiveJobs is ListActiveAsync on a warm store (parsed-job cache hit), as in every controller iteration; nodes and projects are cached by the controller and read only after a change; persistStartsFenced is UpdateFencedAsync (what the controller does, lease checked, no audit record); persistStartsAudited is UpdateAsync with one audit record for the batch; iteration = readActiveJobs + pass + persistStartsFenced",
                medianMilliseconds = new
                {
                    pass = Median("pass"),
                    postgres = Store("postgres"),
                    sqlite = Store("sqlite"),
                },
                rounds,
            };
            var output = Path.Combine(root, "bench", "results", "persistence-scheduling.json");
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

            if (Directory.Exists(sqliteDirectory))
            {
                Directory.Delete(sqliteDirectory, recursive: true);
            }
        }
    }

    /// <summary>What the controller stores for a start decision: the job Running with a new attempt.</summary>
    private static Job Started(Job queued, IReadOnlyList<ReplicaPlacement> placement) => queued with
    {
        State = JobState.Running,
        Reason = "started",
        Attempts = [.. queued.Attempts, new JobAttempt { Number = queued.Attempts.Count + 1, Placement = placement, StartedAt = Now }],
        UpdatedAt = Now,
    };

    /// <summary>Puts the started jobs back as they were read, so the next measurement finds the same queue.</summary>
    private static async Task RevertAsync(IMetadataStore store, List<Job> started, Dictionary<long, Job> original, int versionsAhead)
    {
        var reverts = started.Select(j => original[j.Id] with { Version = original[j.Id].Version + versionsAhead }).ToList();
        if (!await store.Jobs.UpdateAsync(reverts, audit: null))
        {
            throw new InvalidOperationException("could not put the started jobs back");
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static async Task<string> NewDatabaseAsync(string admin)
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

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Stratum.slnx")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? Directory.GetCurrentDirectory();
    }

    private static string Run(string program, params string[] arguments)
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

    /// <summary>
    /// A seeded cluster of 8-GPU nodes and eight projects sharing a cohort, written through the stores'
    /// public API: nodes and projects upserted, every job submitted, the running ones then started with
    /// placements the policy chose on the empty cluster (so the pass sees a consistent, partly busy cluster).
    /// </summary>
    private sealed class World
    {
        private readonly List<Node> _nodes;
        private readonly List<Project> _projects;
        private readonly List<JobSpec> _running;
        private readonly List<JobSpec> _pending;

        private World(List<Node> nodes, List<Project> projects, List<JobSpec> running, List<JobSpec> pending)
        {
            _nodes = nodes;
            _projects = projects;
            _running = running;
            _pending = pending;
        }

        public static World Make(int nodeCount, int pendingCount, int runningCount, int seed)
        {
            var random = new Random(seed);
            var nodes = Enumerable.Range(0, nodeCount).Select(i => new Node
            {
                Name = $"n{i:D5}",
                Pool = "gpu",
                Capacity = ResourceVector.Of(128, 1L << 40, "nvidia-h100", 8),
                Allocatable = ResourceVector.Of(120, 1000L << 30, "nvidia-h100", 8),
                Labels = new Dictionary<string, string> { ["rack"] = $"r{i / 16}" },
                Accelerators = Enumerable.Range(0, 8).Select(g => new AcceleratorDevice(g, "nvidia-h100", "NVIDIA H100 80GB HBM3", 80L << 30)).ToList(),
                UpdatedAt = Now,
            }).ToList();
            var projects = Enumerable.Range(0, 8).Select(i => new Project
            {
                Name = $"p{i}",
                Quota = new Quota { Accelerators = nodeCount * 8 / 4, Cohort = "all" },
                CreatedAt = Now,
            }).ToList();

            // Running jobs are small enough (2.75 GPUs on average) to leave about a third of the GPUs
            // free, so the pass has real starts to make from the pending queue.
            JobSpec Spec(int i, int[] sizes)
            {
                var gpus = sizes[random.Next(sizes.Length)];
                return new JobSpec
                {
                    Name = $"job{i}",
                    Project = $"p{random.Next(8)}",
                    Command = ["train"],
                    Resources = ResourceVector.Of(gpus * 8, gpus * (64L << 30), "nvidia-h100", gpus),
                    Priority = random.Next(3) * 10,
                    Preemptible = random.Next(3) == 0,
                    MaxRuntime = TimeSpan.FromMinutes(10 * random.Next(1, 144)),
                };
            }

            var running = Enumerable.Range(0, runningCount).Select(i => Spec(i, [1, 2, 4, 4])).ToList();
            var pending = Enumerable.Range(runningCount, pendingCount).Select(i => Spec(i, [1, 1, 2, 4, 8])).ToList();
            return new World(nodes, projects, running, pending);
        }

        public async Task SeedAsync(IMetadataStore store)
        {
            await store.Cluster.UpsertPoolAsync(new Pool { Name = "gpu" }, audit: null);
            foreach (var node in _nodes)
            {
                await store.Cluster.UpsertNodeAsync(node, audit: null);
            }

            foreach (var project in _projects)
            {
                await store.Cluster.UpsertProjectAsync(project, audit: null);
            }

            // One at a time, so ids follow the spec order in every store and both hand the policy the same
            // queue (group commit would number concurrent submissions in arrival order).
            var specs = _running.Concat(_pending).ToList();
            for (var i = 0; i < specs.Count; i++)
            {
                await store.Jobs.SubmitAsync(specs[i], "bench", $"key-{i}", Now, new AuditRecord(Now, "bench", "job.submit", "job/" + AuditPlaceholders.JobId));
            }

            var runningNames = _running.Select(s => s.Name).ToHashSet();
            var toStart = (await store.Jobs.ListActiveAsync()).Where(j => runningNames.Contains(j.Spec.Name)).OrderBy(j => j.Id).ToList();
            var placed = PlanningPolicy.Backfill().Schedule(new ClusterSnapshot
            {
                Now = Now,
                Nodes = _nodes,
                Projects = _projects.Select(p => p with { Quota = Quota.Unlimited }).ToList(),
                Queued = toStart,
                Running = [],
                ExplainPending = false,
            });
            var byId = toStart.ToDictionary(j => j.Id);
            var started = placed.Starts.Select(s => Started(byId[s.JobId], s.Placement) with
            {
                Attempts = [new JobAttempt { Number = 1, Placement = s.Placement, StartedAt = Now.AddMinutes(-_startedMinutesAgo.Next(1, 600)) }],
            }).ToList();
            if (started.Count != _running.Count)
            {
                throw new InvalidOperationException($"only {started.Count} of {_running.Count} running jobs fit the cluster");
            }

            foreach (var chunk in started.Chunk(500))
            {
                if (!await store.Jobs.UpdateAsync(chunk, audit: null))
                {
                    throw new InvalidOperationException("seeding: a running job moved on");
                }
            }
        }

        // Seeded, so every store gets the same start times and the pass sees the same runtimes.
        private readonly Random _startedMinutesAgo = new(11);
    }
}
