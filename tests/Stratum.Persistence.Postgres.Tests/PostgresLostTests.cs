using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Npgsql;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Server;
using Xunit.Abstractions;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>
/// PostgreSQL lost while the server runs, under a stream of submissions: <c>pg_ctl stop -m immediate</c>
/// on a cluster of this test's own (the shared test cluster serves other tests at the same time).
/// Requests must fail cleanly and quickly, /readyz must say so, the server must recover by itself when
/// PostgreSQL returns, and no acknowledged job may be lost or stored twice.
/// </summary>
[RequiresPostgres]
public sealed class PostgresLostTests(ITestOutputHelper output)
{
    /// <summary>How long any one request may take while PostgreSQL is gone: failing is fine, hanging is not.</summary>
    private static readonly TimeSpan RequestBound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task PostgresStoppedMidSubmissions_FailCleanlyNotReadyRecoverNothingLostOrDoubled()
    {
        await using var postgres = await OwnCluster.StartAsync();
        var options = new ServerOptions
        {
            DataDirectory = Directory.CreateTempSubdirectory("stratum-pglost-").FullName,
            Database = postgres.Url,
            Port = PostgresTestServer.UnusedPort(),
            RegisterLocalNode = false,
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Error,
        };
        using var stopAll = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await using var server = await StratumServer.StartAsync(options, stopAll.Token);
        var connection = LocalConnection.TryRead(options.DataDirectory) ?? throw new InvalidOperationException("the server left no connection file");
        using var http = new HttpClient { BaseAddress = new Uri(connection.Address), Timeout = RequestBound };
        http.DefaultRequestHeaders.Authorization = new("Bearer", connection.Token);
        await PollAsync(http, "readyz", HttpStatusCode.OK, TimeSpan.FromSeconds(30));
        // Jobs no node could ever hold are refused at submission, so the cluster needs a node; jobs start
        // and finish ('true') on it, so the controller writes to PostgreSQL during the loss too.
        using (var apply = await http.PostAsJsonAsync("api/v1/apply", new ApplyRequest
        {
            Document = "pools:\n  - name: lab\nnodes:\n  - name: n1\n    pool: lab\n    cpu: \"64\"\n    memory: 256Gi\n",
        }, JsonOptions))
        {
            Assert.True(apply.IsSuccessStatusCode, await apply.Content.ReadAsStringAsync());
        }

        var outcomes = new ConcurrentDictionary<string, Outcome>();
        using var stopSubmitting = new CancellationTokenSource();
        var submitters = Enumerable.Range(0, 4).Select(w => SubmitLoopAsync(http, $"w{w}", outcomes, stopSubmitting.Token)).ToList();

        await WaitUntilAsync(() => outcomes.Values.Count(o => o.Status == HttpStatusCode.Created) >= 20, TimeSpan.FromSeconds(30), () => Summary(outcomes.Values));
        await postgres.StopImmediateAsync();
        var stoppedAt = Clock.Elapsed.TotalSeconds;
        output.WriteLine($"stopped PostgreSQL after {outcomes.Count} submissions");

        // While it is gone: submissions keep coming, and every answer must be a clean failure.
        await WaitUntilAsync(() => outcomes.Values.Count(o => o.At - o.Seconds > stoppedAt && o.Status is not null && (int)o.Status >= 500) >= 8, TimeSpan.FromSeconds(60), () => Summary(outcomes.Values.Where(o => o.At - o.Seconds > stoppedAt)));
        using (var ready = await http.GetAsync("readyz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var body = await ready.Content.ReadAsStringAsync();
            Assert.Contains("metadata store", body, StringComparison.Ordinal);
        }

        using (var list = await http.GetAsync("api/v1/jobs"))
        {
            Assert.True(list.StatusCode == HttpStatusCode.ServiceUnavailable, $"listing jobs without PostgreSQL answered {list.StatusCode}");
            Assert.NotNull(list.Headers.RetryAfter);
            Assert.Equal("application/problem+json", list.Content.Headers.ContentType?.MediaType);
        }

        await postgres.StartAgainAsync();
        var restartedAt = Clock.Elapsed.TotalSeconds;
        await PollAsync(http, "readyz", HttpStatusCode.OK, TimeSpan.FromSeconds(60));
        output.WriteLine($"ready again {Clock.Elapsed.TotalSeconds - restartedAt:0.0}s after PostgreSQL restarted");
        await WaitUntilAsync(() => outcomes.Values.Count(o => o.At - o.Seconds > restartedAt && o.Status == HttpStatusCode.Created) >= 4, TimeSpan.FromSeconds(60), () => Summary(outcomes.Values.Where(o => o.At - o.Seconds > restartedAt)));
        await stopSubmitting.CancelAsync();
        await Task.WhenAll(submitters);

        var all = outcomes.Values.ToList();
        var failures = all.Where(o => o.Status != HttpStatusCode.Created).ToList();
        output.WriteLine($"{all.Count} submissions: {all.Count - failures.Count} acknowledged, failures: "
            + string.Join(", ", failures.GroupBy(f => f.Status?.ToString() ?? f.Error).Select(g => $"{g.Count()} x {g.Key}")));
        Assert.All(all, o => Assert.True(o.Seconds < RequestBound.TotalSeconds, $"{o.Key} took {o.Seconds:0.0}s"));
        Assert.All(failures, f => Assert.True(f.Status is HttpStatusCode.ServiceUnavailable && f.ProblemJson,
            $"{f.Key}: {f.Status} {f.Error} (problem+json: {f.ProblemJson})"));
        Assert.NotEmpty(failures);

        // A failed submission may or may not have been committed (the answer can be lost after the commit):
        // the client's way out is to retry with its idempotency key, which must yield exactly one job.
        foreach (var failed in failures)
        {
            using var request = Request(failed.Key);
            using var retry = await http.SendAsync(request);
            Assert.True(retry.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, $"retrying {failed.Key}: {retry.StatusCode}");
            var job = await retry.Content.ReadFromJsonAsync<JobDto>(JsonOptions);
            outcomes[failed.Key] = failed with { Id = job!.Id, Committed = retry.StatusCode == HttpStatusCode.OK };
        }

        output.WriteLine($"{outcomes.Values.Count(o => o.Committed)} failed submissions had been committed all the same; the retry returned them");
        var stored = await ListAllAsync(connection);
        var byName = stored.GroupBy(j => j.Name).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var outcome in outcomes.Values)
        {
            Assert.True(byName.TryGetValue(outcome.Key, out var jobs), $"{outcome.Key} (id {outcome.Id}) was acknowledged and is missing");
            var job = Assert.Single(jobs);
            Assert.Equal(outcome.Id, job.Id);
        }

        Assert.Equal(outcomes.Count, stored.Count);
    }

    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new(System.Text.Json.JsonSerializerDefaults.Web);

    private sealed record Outcome(string Key, HttpStatusCode? Status, string? Error, bool ProblemJson, long Id, double At, double Seconds, bool Committed = false);

    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    private static HttpRequestMessage Request(string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/jobs")
        {
            Content = JsonContent.Create(new SubmitJobRequest
            {
                Name = key,
                Project = "default",
                Command = ["true"],
                Resources = new ResourcesDto { Cpu = "100m", Memory = "16Mi" },
            }, options: JsonOptions),
        };
        request.Headers.Add("Idempotency-Key", key);
        return request;
    }

    private static async Task SubmitLoopAsync(HttpClient http, string worker, ConcurrentDictionary<string, Outcome> outcomes, CancellationToken stop)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var key = $"{worker}-{i}";
            var started = Clock.Elapsed.TotalSeconds;
            Outcome outcome;
            try
            {
                using var request = Request(key);
                using var response = await http.SendAsync(request, CancellationToken.None);
                var id = response.StatusCode == HttpStatusCode.Created ? (await response.Content.ReadFromJsonAsync<JobDto>(JsonOptions, CancellationToken.None))!.Id : 0;
                outcome = new(key, response.StatusCode, null, response.Content.Headers.ContentType?.MediaType == "application/problem+json", id, Clock.Elapsed.TotalSeconds, Clock.Elapsed.TotalSeconds - started);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                outcome = new(key, null, e.GetType().Name + ": " + e.Message, false, 0, Clock.Elapsed.TotalSeconds, Clock.Elapsed.TotalSeconds - started);
            }

            outcomes[key] = outcome;
            await Task.Delay(outcome.Status == HttpStatusCode.Created ? 20 : 200, CancellationToken.None);
        }
    }

    private static async Task<List<JobDto>> ListAllAsync(LocalConnection connection)
    {
        using var client = new StratumClient(new Uri(connection.Address), connection.Token);
        var jobs = new List<JobDto>();
        string? cursor = null;
        do
        {
            var page = await client.ListJobsAsync(new JobListQuery { Limit = 1000, Cursor = cursor });
            jobs.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return jobs;
    }

    private static async Task PollAsync(HttpClient http, string path, HttpStatusCode wanted, TimeSpan limit)
    {
        var deadline = Stopwatch.StartNew();
        var last = "";
        while (deadline.Elapsed < limit)
        {
            try
            {
                using var response = await http.GetAsync(path);
                if (response.StatusCode == wanted)
                {
                    return;
                }

                last = $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"/{path} did not answer {wanted} within {limit.TotalSeconds:0}s; last: {last}");
    }

    private static string Summary(IEnumerable<Outcome> outcomes) =>
        string.Join(", ", outcomes.GroupBy(o => o.Status?.ToString() ?? o.Error).Select(g => $"{g.Count()} x {g.Key}"));

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan limit, Func<string>? describe = null)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < limit, $"gave up after {limit.TotalSeconds:0}s; {describe?.Invoke()}");
            await Task.Delay(100);
        }
    }

    /// <summary>A PostgreSQL cluster of this test's own, which it may stop and start at will.</summary>
    private sealed class OwnCluster : IAsyncDisposable
    {
        private readonly string _bin;
        private readonly string _directory;
        private readonly string? _runAs;
        private readonly int _port;

        private OwnCluster(string bin, string directory, string? runAs, int port) => (_bin, _directory, _runAs, _port) = (bin, directory, runAs, port);

        public string Url => $"postgres://postgres@127.0.0.1:{_port}/stratum";

        private string Data => Path.Combine(_directory, "data");

        public static async Task<OwnCluster> StartAsync()
        {
            var bin = Binaries() ?? throw new InvalidOperationException("initdb and pg_ctl are needed (apt-get install postgresql)");
            var runAs = Environment.UserName == "root" ? "postgres" : null;
            var directory = Directory.CreateTempSubdirectory("stratum-pg-lost-").FullName;
            if (runAs is not null)
            {
                await RunAsync("chown", [$"{runAs}:", directory], null);
            }

            var cluster = new OwnCluster(bin, directory, runAs, PostgresTestServer.UnusedPort());
            await RunAsync(Path.Combine(bin, "initdb"), ["-D", cluster.Data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"], runAs);
            await cluster.StartAgainAsync();
            await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={cluster._port};Username=postgres;Database=postgres");
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("CREATE DATABASE stratum", connection);
            await command.ExecuteNonQueryAsync();
            return cluster;
        }

        // fsync stays on: this test is about what survives an immediate stop.
        public Task StartAgainAsync() => RunAsync(Path.Combine(_bin, "pg_ctl"),
            ["-D", Data, "-l", Path.Combine(_directory, "server.log"), "-w", "-t", "60", "-o", $"-c listen_addresses=127.0.0.1 -p {_port} -k {_directory}", "start"], _runAs);

        public Task StopImmediateAsync() => RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", Data, "-m", "immediate", "-w", "stop"], _runAs);

        public async ValueTask DisposeAsync()
        {
            try
            {
                await RunAsync("sh", ["-c", "\"$0\" -D \"$1\" -m immediate -w stop >/dev/null 2>&1; true", Path.Combine(_bin, "pg_ctl"), Data], _runAs);
            }
            finally
            {
                Directory.Delete(_directory, recursive: true);
            }
        }

        private static string? Binaries()
        {
            var candidates = Directory.Exists("/usr/lib/postgresql")
                ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0).Select(d => Path.Combine(d, "bin")).ToList()
                : [];
            candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries));
            if (Environment.GetEnvironmentVariable(PostgresTestServer.BinariesVariable) is { Length: > 0 } named)
            {
                candidates.Insert(0, named);
            }

            return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
        }

        private static async Task RunAsync(string program, IReadOnlyList<string> arguments, string? runAs)
        {
            var start = new ProcessStartInfo(runAs is null ? program : "runuser") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in (runAs is null ? [] : new[] { "-u", runAs, "--", program }).Concat(arguments))
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await stderr} {await stdout}");
            }
        }
    }
}
