using System.Collections.Concurrent;
using System.Diagnostics;
using Stratum.Client.Contracts;
using Xunit.Abstractions;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>
/// The highly available control plane end to end: three real <c>stratum server</c> processes on one
/// PostgreSQL and one jobs directory, a stream of short jobs submitted through the followers, and the
/// leader killed with SIGKILL in the middle of it. Another replica must lead within 10 s, every job
/// acknowledged before the kill must finish, and no job may be launched twice (each job appends a line
/// to a file of its own when it starts, and keeps one attempt).
/// </summary>
[RequiresPostgres]
public sealed class LeadershipFailoverTests(ITestOutputHelper output)
{
    private static readonly TimeSpan FailoverLimit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task KillLeader_UnderLoad_AnotherLeadsWithin10sAndEveryJobRunsOnce()
    {
        var database = PostgresTestServer.ToUrl(await PostgresTestServer.CreateDatabaseAsync());
        var root = Directory.CreateTempSubdirectory("stratum-failover-").FullName;
        var jobs = Path.Combine(root, "jobs");
        var marks = Directory.CreateDirectory(Path.Combine(root, "marks")).FullName;
        var replicas = new List<LeadershipReplica>();
        var clock = Stopwatch.StartNew();
        try
        {
            // The first start creates the schema and the admin; the others then start together.
            replicas.Add(await LeadershipReplica.StartAsync(root, "a", database, jobs));
            replicas.AddRange(await Task.WhenAll(
                LeadershipReplica.StartAsync(root, "b", database, jobs),
                LeadershipReplica.StartAsync(root, "c", database, jobs)));
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0}s: three replicas ready");
            var (leader, first) = await WaitForLeaderAsync(replicas, afterToken: 0, TimeSpan.FromSeconds(30));
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0}s: {leader.Name} leads with token {first.FencingToken}");
            var followers = replicas.Where(r => r != leader).ToList();
            Assert.All(await Task.WhenAll(followers.Select(f => f.LeadershipAsync())), info =>
            {
                Assert.NotNull(info);
                Assert.False(info.Leader);
            });

            var acknowledged = new ConcurrentDictionary<long, int>();
            using var stopSubmitting = new CancellationTokenSource();
            var submitter = SubmitStreamAsync(followers, marks, acknowledged, stopSubmitting.Token);
            await WaitUntilAsync(() => acknowledged.Count >= 15 || submitter.IsCompleted, TimeSpan.FromSeconds(30));

            var sinceKill = Stopwatch.StartNew();
            await leader.KillAsync();
            var acknowledgedBeforeKill = acknowledged.Keys.ToList();
            var (next, taken) = await WaitForLeaderAsync(followers, first.FencingToken!.Value, FailoverLimit + TimeSpan.FromSeconds(5));
            var failover = sinceKill.Elapsed;
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0}s: killed {leader.Name} after {acknowledgedBeforeKill.Count} jobs; {next.Name} led {failover.TotalSeconds:0.00}s later with token {taken.FencingToken}");
            Assert.True(failover < FailoverLimit, $"replica {next.Name} led only {failover.TotalSeconds:0.0}s after the kill\n{Logs(replicas)}");
            Assert.True(taken.FencingToken > first.FencingToken);

            // Submissions go on through the takeover; then stop and let everything finish.
            await WaitUntilAsync(() => acknowledged.Count >= acknowledgedBeforeKill.Count + 10 || submitter.IsCompleted, TimeSpan.FromSeconds(30));
            await stopSubmitting.CancelAsync();
            await submitter;

            Assert.Contains(acknowledgedBeforeKill, acknowledged.ContainsKey);
            var final = await WaitForFinalAsync(next, acknowledged.Keys, TimeSpan.FromSeconds(40), replicas);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0}s: all {final.Count} jobs final");
            foreach (var job in final)
            {
                Assert.True(job.State == "Succeeded", $"job {job.Id} is {job.State}: {job.Reason}\n{Logs(replicas)}");
                Assert.Single(job.Attempts);
                var launches = await File.ReadAllLinesAsync(Path.Combine(marks, $"{acknowledged[job.Id]}"));
                Assert.True(launches.Length == 1, $"job {job.Id} was launched {launches.Length} times");
            }
        }
        finally
        {
            await Task.WhenAll(replicas.Select(r => r.DisposeAsync().AsTask()));
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0}s: replicas stopped");
        }
    }

    /// <summary>Submits a short job every 100 ms, alternating between the replicas given, until cancelled; each job marks its own file when it starts.</summary>
    private static async Task SubmitStreamAsync(IReadOnlyList<LeadershipReplica> through, string marks, ConcurrentDictionary<long, int> acknowledged, CancellationToken stop)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var job = await through[i % through.Count].Client.SubmitJobAsync(new SubmitJobRequest
            {
                Name = $"short-{i}",
                Command = ["sh", "-c", "echo started >>\"$MARK\"; sleep 0.3"],
                Env = new Dictionary<string, string> { ["MARK"] = Path.Combine(marks, $"{i}") },
                Resources = new ResourcesDto { Cpu = "100m", Memory = "16Mi" },
            }, cancellationToken: CancellationToken.None);
            acknowledged[job.Id] = i;
            await Task.Delay(100, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>The replica that leads with a token above <paramref name="afterToken"/> and has finished a pass as leader.</summary>
    internal static async Task<(LeadershipReplica Replica, LeadershipDto Info)> WaitForLeaderAsync(IReadOnlyList<LeadershipReplica> replicas, long afterToken, TimeSpan limit)
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

            // Polling other processes' answers: there is nothing to wait on.
            await Task.Delay(20);
        }

        throw new TimeoutException($"no replica led within {limit.TotalSeconds}s\n{Logs(replicas)}");
    }

    private static async Task<List<JobDto>> WaitForFinalAsync(LeadershipReplica through, ICollection<long> ids, TimeSpan limit, IReadOnlyList<LeadershipReplica> all)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var jobs = await Task.WhenAll(ids.Select(id => through.Client.GetJobAsync(id)));
            if (jobs.All(j => j.State is "Succeeded" or "Failed" or "Cancelled"))
            {
                return [.. jobs];
            }

            if (deadline.Elapsed > limit)
            {
                var open = string.Join(", ", jobs.Where(j => j.State is not ("Succeeded" or "Failed" or "Cancelled")).Select(j => $"{j.Id} {j.State} ({j.Reason})"));
                throw new TimeoutException($"jobs not final after {limit.TotalSeconds}s: {open}\n{Logs(all)}");
            }

            await Task.Delay(200);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan limit)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > limit)
            {
                throw new TimeoutException($"condition not met within {limit.TotalSeconds}s");
            }

            await Task.Delay(20);
        }
    }

    private static string Logs(IEnumerable<LeadershipReplica> replicas) =>
        string.Join("\n", replicas.Select(r => $"--- replica {r.Name}\n{r.Output}"));
}
