using System.Diagnostics;
using System.Globalization;
using System.Text;
using Stratum.Client;
using Stratum.Client.Contracts;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>
/// One replica of a highly available control plane: a real <c>stratum server --config FILE</c> child
/// process with its own data directory and port, on a shared database and jobs directory. Used by the
/// failover test and, compiled in, by the failover benchmark.
/// </summary>
internal sealed class LeadershipReplica : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private LeadershipReplica(Process process, string name, string dataDirectory, int port)
    {
        _process = process;
        Name = name;
        DataDirectory = dataDirectory;
        Port = port;
    }

    /// <summary>stratum.dll next to the running assembly (a project reference to Stratum.Cli puts it there).</summary>
    public static string ProgramPath { get; } = Path.Combine(AppContext.BaseDirectory, "stratum.dll");

    public string Name { get; }

    public string DataDirectory { get; }

    public int Port { get; }

    public bool HasExited => _process.HasExited;

    public StratumClient Client { get; private set; } = null!;

    /// <summary>Everything the server printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts replica <paramref name="name"/> under <paramref name="root"/> and returns once it answers /readyz.</summary>
    public static async Task<LeadershipReplica> StartAsync(string root, string name, string database, string jobsDirectory, IReadOnlyDictionary<string, string>? extraSettings = null)
    {
        if (!File.Exists(ProgramPath))
        {
            throw new InvalidOperationException($"{ProgramPath} is missing; the project must reference src/Stratum.Cli");
        }

        // A port found free can be taken (an outgoing connection's ephemeral port) before the replica binds it:
        // then it is started again on another, as a person would.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(root, name, database, jobsDirectory, extraSettings, PostgresTestServer.UnusedPort());
            }
            catch (PortTakenException) when (attempt < 3)
            {
            }
        }
    }

    private static async Task<LeadershipReplica> StartOnceAsync(string root, string name, string database, string jobsDirectory,
        IReadOnlyDictionary<string, string>? extraSettings, int port)
    {
        var dataDirectory = Path.Combine(root, name);
        Directory.CreateDirectory(dataDirectory);
        File.Delete(LocalConnection.PathIn(dataDirectory));
        var config = Path.Combine(root, name + ".yaml");
        var settings = new Dictionary<string, object>
        {
            ["dataDirectory"] = dataDirectory,
            ["jobsDirectory"] = jobsDirectory,
            ["database"] = database,
            ["port"] = port,
            ["reconcileInterval"] = "200ms",
            ["stopGracePeriod"] = "2s",
        };
        foreach (var (key, value) in extraSettings ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        // JSON is YAML, and needs no thought about quoting paths and URLs.
        await File.WriteAllTextAsync(config, System.Text.Json.JsonSerializer.Serialize(settings));

        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { ProgramPath, "server", "--config", config })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var variable in new[] { "STRATUM_ADDR", "STRATUM_TOKEN", "STRATUM_DATA", "STRATUM_DATABASE" })
        {
            start.Environment.Remove(variable);
        }

        start.Environment["NO_COLOR"] = "1";
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var replica = new LeadershipReplica(process, name, dataDirectory, port);
        process.OutputDataReceived += (_, e) => replica.Append(e.Data);
        process.ErrorDataReceived += (_, e) => replica.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        try
        {
            await replica.WaitUntilReadyAsync();
        }
        catch
        {
            await replica.DisposeAsync();
            throw;
        }

        return replica;
    }

    /// <summary>The leadership part of /api/v1/info, or null when the replica does not answer.</summary>
    public async Task<LeadershipDto?> LeadershipAsync()
    {
        try
        {
            return (await Client.GetInfoAsync()).Leadership;
        }
        catch (Exception e) when (e is StratumUnreachableException or StratumApiException or HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>SIGKILL to the server process alone, as a crash would; the jobs it launched live on.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                using (var interrupt = Process.Start("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]))
                {
                    await interrupt.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                }

                try
                {
                    await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
                }
                catch (TimeoutException)
                {
                    _process.Kill(entireProcessTree: false);
                    await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                }
            }
        }
        finally
        {
            Client?.Dispose();
            _process.Dispose();
        }
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private async Task WaitUntilReadyAsync()
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                var why = $"replica {Name} exited with code {_process.ExitCode} before it was ready:\n{Output}";
                throw Output.Contains("address already in use", StringComparison.Ordinal) ? new PortTakenException(why) : new InvalidOperationException(why);
            }

            if (LocalConnection.TryRead(DataDirectory) is { } connection)
            {
                Client ??= new StratumClient(new Uri(connection.Address), connection.Token) { RequestTimeout = TimeSpan.FromSeconds(5) };
                try
                {
                    if (await Client.CheckReadyAsync())
                    {
                        return;
                    }
                }
                catch (StratumUnreachableException)
                {
                    // Written but not yet listening: poll again.
                }
            }

            // Polling a file another process writes: there is no event to wait on.
            await Task.Delay(100);
        }

        throw new TimeoutException($"replica {Name} was not ready within {StartTimeout.TotalSeconds}s:\n{Output}");
    }

    /// <summary>The replica could not bind the port it was given: another process took it after it was found free.</summary>
    private sealed class PortTakenException(string message) : InvalidOperationException(message);
}
