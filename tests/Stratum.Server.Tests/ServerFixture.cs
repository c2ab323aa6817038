using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Stratum.Client.Contracts;
using Stratum.Server.Api;

namespace Stratum.Server.Tests;

/// <summary>
/// A real server on a loopback port with its own data directory. Nodes are declared by the tests
/// (RegisterLocalNode off) so that placement does not depend on this machine's size; the local
/// executor still runs every replica as a real process here.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private TestServer(StratumServer server, string dataDirectory, ServerOptions options)
    {
        Server = server;
        DataDirectory = dataDirectory;
        Options = options;
        Admin = Client(server.AdminToken);
    }

    public StratumServer Server { get; private set; }

    public string DataDirectory { get; }

    public ServerOptions Options { get; }

    public HttpClient Admin { get; private set; }

    public static JsonSerializerOptions JsonOptions { get; } = Json.Options;

    public static async Task<TestServer> StartAsync(string? dataDirectory = null, bool declareNode = true)
    {
        dataDirectory ??= Path.Combine(Path.GetTempPath(), "stratum-test-" + Guid.NewGuid().ToString("N")[..12]);
        var options = new ServerOptions
        {
            DataDirectory = dataDirectory,
            Port = 0,
            RegisterLocalNode = false,
            SchedulingInterval = TimeSpan.FromMilliseconds(200),
            ReconcileInterval = TimeSpan.FromMilliseconds(100),
            StopGracePeriod = TimeSpan.FromSeconds(2),

            // Preemption tests run jobs for seconds, not the minutes the default cooldown protects.
            PreemptionCooldown = TimeSpan.FromSeconds(1),
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        };
        var server = await StratumServer.StartAsync(options);
        var test = new TestServer(server, dataDirectory, options);
        if (declareNode)
        {
            await test.ApplyAsync("""
                pools:
                  - name: test
                nodes:
                  - name: n1
                    pool: test
                    cpu: "4"
                    memory: 8Gi
                """);
        }

        return test;
    }

    /// <summary>Stops this server and starts another on the same data directory, as after a restart.</summary>
    public async Task RestartAsync()
    {
        await Server.StopAsync();
        Admin.Dispose();
        Server = await StratumServer.StartAsync(Options);
        Admin = Client(Server.AdminToken);
    }

    public HttpClient Client(string? token)
    {
        var client = new HttpClient { BaseAddress = Server.Address, Timeout = Deadline };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public async Task<ApplyResultDto> ApplyAsync(string yaml)
    {
        var response = await Admin.PostAsJsonAsync("/api/v1/apply", new ApplyRequest { Document = yaml });
        await EnsureAsync(response);
        return (await response.Content.ReadFromJsonAsync<ApplyResultDto>(JsonOptions))!;
    }

    public async Task<JobDto> SubmitAsync(SubmitJobRequest request, HttpClient? client = null)
    {
        var response = await (client ?? Admin).PostAsJsonAsync("/api/v1/jobs", request, JsonOptions);
        await EnsureAsync(response);
        return (await response.Content.ReadFromJsonAsync<JobDto>(JsonOptions))!;
    }

    public async Task<JobDto> GetJobAsync(long id)
    {
        var response = await Admin.GetAsync($"/api/v1/jobs/{id}");
        await EnsureAsync(response);
        return (await response.Content.ReadFromJsonAsync<JobDto>(JsonOptions))!;
    }

    /// <summary>Polls until the job satisfies <paramref name="condition"/>, failing with its last state after the deadline.</summary>
    public async Task<JobDto> WaitForJobAsync(long id, Func<JobDto, bool> condition, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? Deadline);
        JobDto job;
        do
        {
            job = await GetJobAsync(id);
            if (condition(job))
            {
                return job;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < until);

        throw new TimeoutException($"job {id} did not reach the expected condition; last seen {job.State}: {job.Reason}");
    }

    public Task<JobDto> WaitForStateAsync(long id, string state, TimeSpan? deadline = null) =>
        WaitForJobAsync(id, j => j.State == state, deadline);

    public static async Task EnsureAsync(HttpResponseMessage response)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{(int)response.StatusCode} {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    public static SubmitJobRequest Job(params string[] command) => new()
    {
        Command = command,
        Resources = new ResourcesDto { Cpu = "1", Memory = "256Mi" },
    };

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await Server.StopAsync();
        KillLeftovers();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Ends any replica a failed test left running, so tests do not leak processes into each other.</summary>
    private void KillLeftovers()
    {
        var jobs = Path.Combine(DataDirectory, "jobs");
        if (!Directory.Exists(jobs))
        {
            return;
        }

        foreach (var pidFile in Directory.EnumerateFiles(jobs, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) is "replica.pid" or "program.pid"))
        {
            var text = File.ReadAllText(pidFile).Trim();
            var first = text.Split([' ', '\n', '\t', ','], StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (int.TryParse(first, out var pid) && pid > 1)
            {
                _ = Kill(-pid, 9);
            }
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
