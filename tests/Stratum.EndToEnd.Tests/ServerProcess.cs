using System.Diagnostics;
using System.Globalization;
using System.Text;
using Stratum.Client;

namespace Stratum.EndToEnd.Tests;

/// <summary>
/// A real <c>stratum up --data DIR --port 0</c> child process. Ready once it has written
/// connection.json and answers /readyz; stopped by SIGINT (then SIGKILL if it hangs).
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServerProcess(Process process, string dataDirectory)
    {
        _process = process;
        DataDirectory = dataDirectory;
    }

    public string DataDirectory { get; }

    public LocalConnection Connection { get; private set; } = new(string.Empty, string.Empty);

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the server printed so far, stdout and stderr interleaved.</summary>
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

    public static async Task<ServerProcess> StartAsync(string dataDirectory, params string[] extraArgs)
    {
        // A connection.json left by an earlier run would look ready before this server is.
        File.Delete(LocalConnection.PathIn(dataDirectory));
        var start = StratumProgram.StartInfo(["up", "--data", dataDirectory, "--port", "0", .. extraArgs]);
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var server = new ServerProcess(process, dataDirectory);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();

        try
        {
            await server.WaitUntilReadyAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    public StratumClient CreateClient() => new(new Uri(Connection.Address), Connection.Token);

    /// <summary>SIGINT, as Ctrl-C sends; returns the exit code, or null when the server had to be killed.</summary>
    /// <summary>Whether the process ignores SIGINT (bit 2 of SigIgn in /proc/PID/status).</summary>
    private static bool IgnoresSigint(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
            return line is not null && (ulong.Parse(line["SigIgn:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture) & 0x2) != 0;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public async Task<int?> StopAsync()
    {
        if (_process.HasExited)
        {
            return _process.ExitCode;
        }

        // A process started from a background shell inherits SIGINT ignored, and the runtime then leaves it
        // ignored (as a shell's background jobs expect): Ctrl-C cannot reach such a server, so stop it as a
        // service manager would, with SIGTERM, which takes the same clean path.
        var signal = IgnoresSigint(_process.Id) ? "-TERM" : "-INT";
        using (var kill = Process.Start("kill", [signal, _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        using var deadline = new CancellationTokenSource(StopTimeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            return null;
        }
    }

    /// <summary>SIGKILL to the server process alone, as a crash or the OOM killer would; its jobs' process groups live on.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private async Task WaitUntilReadyAsync()
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                // Waiting again after the exit drains the redirected output, so the message shows why it exited.
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                throw new InvalidOperationException($"'stratum up' exited with code {_process.ExitCode} before it was ready:\n{Output}");
            }

            if (LocalConnection.TryRead(DataDirectory) is { } connection)
            {
                Connection = connection;
                using var client = CreateClient();
                client.RequestTimeout = TimeSpan.FromSeconds(5);
                try
                {
                    if (await client.CheckReadyAsync())
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

        throw new TimeoutException($"'stratum up' was not ready within {StartTimeout.TotalSeconds}s:\n{Output}");
    }
}
