using System.Text.Json;
using Stratum.Client;

namespace Stratum.EndToEnd.Tests;

/// <summary>
/// One <c>stratum up</c> in a fresh data directory for a test class, and the CLI pointed at it through
/// STRATUM_DATA, as a user on the same machine would use it. At the end the jobs still running are
/// cancelled and the server is stopped by SIGINT, whatever the tests did.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private ServerProcess? _server;

    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "stratum-e2e-" + Guid.NewGuid().ToString("N")[..12]);

    public ServerProcess Server => _server ?? throw new InvalidOperationException("the server did not start");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(DataDirectory);
        _server = await ServerProcess.StartAsync(DataDirectory);
    }

    public async Task DisposeAsync()
    {
        if (_server is null)
        {
            TryDelete(DataDirectory);
            return;
        }

        try
        {
            await CancelLeftoverJobsAsync();
        }
        finally
        {
            await _server.DisposeAsync();
            TryDelete(DataDirectory);
        }
    }

    /// <summary>Runs <c>stratum ARGS</c> with STRATUM_DATA naming this server's data directory.</summary>
    public Task<ProgramResult> RunAsync(params string[] args) =>
        StratumProgram.RunAsync(args, new Dictionary<string, string?> { ["STRATUM_DATA"] = DataDirectory });

    /// <summary>Runs <c>stratum ARGS --output json</c>, asserts exit 0 and that stdout is one JSON document, and returns it typed.</summary>
    public async Task<T> RunJsonAsync<T>(params string[] args)
    {
        // Options go before the "--" that starts a job's command, or they would become part of it.
        var separator = Array.IndexOf(args, "--");
        var withJson = separator < 0 ? [.. args, "--output", "json"] : args[..separator].Concat(["--output", "json"]).Concat(args[separator..]).ToArray();
        var result = await RunAsync(withJson);
        Assert.True(result.ExitCode == 0, $"stratum {string.Join(' ', args)} failed: {result}");
        try
        {
            return JsonSerializer.Deserialize<T>(result.Stdout, Json) ?? throw new InvalidOperationException("null JSON");
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"stdout of 'stratum {string.Join(' ', args)} --output json' is not one JSON document ({e.Message}):\n{result}", e);
        }
    }

    private async Task CancelLeftoverJobsAsync()
    {
        if (_server is null || _server.HasExited)
        {
            return;
        }

        using var client = _server.CreateClient();
        client.RequestTimeout = TimeSpan.FromSeconds(10);
        try
        {
            await foreach (var job in client.ListAllJobsAsync(new JobListQuery { States = [JobStates.Pending, JobStates.Running, JobStates.Preempted] }))
            {
                await client.CancelJobAsync(job.Id);
            }
        }
        catch (Exception e) when (e is StratumApiException or StratumUnreachableException)
        {
            // Best effort: the server's own shutdown and the data directory's removal follow either way.
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A job's process may still hold a file; the temp directory is cleaned by the OS eventually.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }
}
