namespace Stratum.Server;

/// <summary>
/// The whole server in-process: API, background loops, executor. <c>stratum up</c> and
/// <c>stratum server</c> host it; tests start it on port 0.
/// </summary>
public sealed class StratumServer : IAsyncDisposable
{
    private StratumServer(Uri address, string dataDirectory, string adminToken)
    {
        Address = address;
        DataDirectory = dataDirectory;
        AdminToken = adminToken;
    }

    /// <summary>The base address clients use, for example http://127.0.0.1:8470/.</summary>
    public Uri Address { get; }

    /// <summary>The absolute data directory.</summary>
    public string DataDirectory { get; }

    /// <summary>The admin token's secret, also written to connection.json in the data directory.</summary>
    public string AdminToken { get; }

    /// <summary>Validates options (throwing <see cref="InvalidOperationException"/> listing every problem), opens or creates the data directory, migrates, and starts listening.</summary>
    public static Task<StratumServer> StartAsync(ServerOptions options, CancellationToken cancellationToken = default) =>
        throw new NotImplementedException("being written: see issue 2");

    /// <summary>Completes when the server has stopped (after <see cref="StopAsync"/> or a fatal error).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <summary>Stops accepting requests, stops the loops, and closes the store. Running jobs keep running and are re-attached by the next start.</summary>
    public Task StopAsync() => Task.CompletedTask;

    public async ValueTask DisposeAsync() => await StopAsync();
}
