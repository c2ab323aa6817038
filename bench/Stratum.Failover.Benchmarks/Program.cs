using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Stratum.Client.Contracts;
using Stratum.Persistence.Postgres.Tests;

// Failover of the highly available control plane (issue 7): three `stratum server` replicas on one
// PostgreSQL; the leader is killed with SIGKILL KILLS times, each time measuring kill -> the new leader's
// first completed controller pass (polled every 20 ms on /api/v1/info), then a replacement replica is
// started so three run again. Baseline in the same run: a clean stop (SIGINT) of the leader STOPS
// times, which hands the lease over at once, so the difference is what waiting for the lease to expire costs.
// Usage: dotnet run -c Release --project bench/Stratum.Failover.Benchmarks -- [--kills N] [--stops N] [--lease 6s]
var kills = Option("--kills", 20);
var stops = Option("--stops", 3);
var lease = args.SkipWhile(a => a != "--lease").Skip(1).FirstOrDefault() ?? "6s";

if (PostgresTestServer.SkipReason is { } skip)
{
    Console.Error.WriteLine(skip);
    return 2;
}

var database = PostgresTestServer.ToUrl(await PostgresTestServer.CreateDatabaseAsync());
var root = Directory.CreateTempSubdirectory("stratum-failover-bench-").FullName;
var jobs = Path.Combine(root, "jobs");
var settings = new Dictionary<string, string> { ["leaderLease"] = lease, ["minimumLogLevel"] = "Warning" };
var replicas = new List<LeadershipReplica> { await LeadershipReplica.StartAsync(root, "r0", database, jobs, settings) };
var started = 1;
replicas.AddRange(await Task.WhenAll(
    LeadershipReplica.StartAsync(root, $"r{started++}", database, jobs, settings),
    LeadershipReplica.StartAsync(root, $"r{started++}", database, jobs, settings)));

var killTimes = new List<double>();
var stopTimes = new List<double>();
try
{
    var (leader, info) = await WaitForLeaderAsync(replicas, 0, TimeSpan.FromSeconds(60));
    for (var round = 0; round < kills + stops; round++)
    {
        var crash = round < kills;
        var watch = Stopwatch.StartNew();
        var stopping = Task.CompletedTask;
        if (crash)
        {
            await leader.KillAsync();
        }
        else
        {
            // Not awaited here: the handover is measured while the old leader shuts down.
            stopping = leader.DisposeAsync().AsTask();
        }

        replicas.Remove(leader);
        var (next, nextInfo) = await WaitForLeaderAsync(replicas, info.FencingToken!.Value, TimeSpan.FromSeconds(60));
        var seconds = watch.Elapsed.TotalSeconds;
        (crash ? killTimes : stopTimes).Add(seconds);
        Console.WriteLine($"{(crash ? "kill" : "stop")} {round + 1}: {leader.Name} -> {next.Name} (token {nextInfo.FencingToken}) in {seconds:0.000}s");
        await (crash ? leader.DisposeAsync().AsTask() : stopping);
        (leader, info) = (next, nextInfo);
        replicas.Add(await LeadershipReplica.StartAsync(root, $"r{started++}", database, jobs, settings));
    }
}
finally
{
    await Task.WhenAll(replicas.Select(r => r.DisposeAsync().AsTask()));
}

var result = new
{
    scenario = "failover",
    description = "3 stratum server replicas on one PostgreSQL; time from kill -9 of the leader to the first completed controller pass of the new leader, polled every 20 ms",
    machine = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
    leaderLease = lease,
    kills = Summary(killTimes),
    baselineCleanStop = Summary(stopTimes),
    measuredAt = DateTimeOffset.UtcNow,
};
var path = Path.Combine(RepositoryRoot(), "bench", "results", "failover.json");
Directory.CreateDirectory(Path.GetDirectoryName(path)!);
await File.WriteAllTextAsync(path, JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }) + "\n");
Console.WriteLine($"kill -9: median {Median(killTimes):0.000}s, max {killTimes.DefaultIfEmpty().Max():0.000}s; clean stop: median {Median(stopTimes):0.000}s -> {path}");
return 0;

int Option(string name, int fallback) =>
    args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

static object Summary(List<double> seconds) => new
{
    count = seconds.Count,
    medianSeconds = Math.Round(Median(seconds), 3),
    maxSeconds = Math.Round(seconds.DefaultIfEmpty().Max(), 3),
    minSeconds = Math.Round(seconds.DefaultIfEmpty().Min(), 3),
    samplesSeconds = seconds.Select(s => Math.Round(s, 3)).ToList(),
};

static double Median(List<double> values)
{
    if (values.Count == 0)
    {
        return 0;
    }

    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
}

static async Task<(LeadershipReplica Replica, LeadershipDto Info)> WaitForLeaderAsync(IReadOnlyList<LeadershipReplica> replicas, long afterToken, TimeSpan limit)
{
    var deadline = Stopwatch.StartNew();
    while (deadline.Elapsed < limit)
    {
        foreach (var replica in replicas)
        {
            if (await replica.LeadershipAsync() is { Leader: true, PassesAsLeader: > 0 } info && info.FencingToken > afterToken)
            {
                return (replica, info);
            }
        }

        await Task.Delay(20);
    }

    throw new TimeoutException($"no replica led within {limit.TotalSeconds}s");
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
