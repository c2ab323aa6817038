using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Stratum.Core.Access;
using Stratum.Storage;
using Stratum.Storage.Backends;
using Stratum.Storage.Crypto;
using Stratum.Storage.Repositories;

namespace Stratum.Server.Store;

/// <summary>
/// The artifact store inside the server: one <see cref="RepositoryStore"/> over the backend the settings
/// name, opened when the server starts (a wrong key or an unreachable backend stops the start with an
/// error naming the setting) and closed when it stops. Garbage collection runs only when an admin asks.
/// </summary>
public sealed class StoreServices : IHostedService, IAsyncDisposable
{
    // Repository-to-project bindings live beside the repositories on the same backend, so a copy of the
    // backend keeps who may write where. The engine never lists this prefix.
    private const string AccessPrefix = "server/repository-access/";

    private readonly ServerOptions _options;
    private readonly string _dataDirectory;
    private readonly TimeProvider _time;
    private readonly ILogger<StoreServices> _logger;
    private readonly SemaphoreSlim _maintenance = new(1, 1);
    private RepositoryStore? _repositories;
    private IBlobBackend? _backend;
    private int _disposed;

    public StoreServices(ServerOptions options, DataDirectoryPath dataDirectory, TimeProvider time, ILogger<StoreServices> logger)
    {
        _options = options;
        _dataDirectory = dataDirectory.Path;
        _time = time;
        _logger = logger;
    }

    /// <summary>The repositories; the REST API and the S3 endpoint both work on this one instance.</summary>
    public RepositoryStore Repositories => _repositories ?? throw new InvalidOperationException("The artifact store is not open yet: the server has not started.");

    /// <summary>Where the blobs are, for logs and errors (never a secret).</summary>
    public string Description { get; private set; } = "";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var (backend, description) = StoreSettings.OpenBackend(_options, _dataDirectory);
        _backend = backend;
        Description = description;
        KeyRing keys;
        try
        {
            var fromEnvironment = StoreKey.FromEnvironment();
            keys = new KeyRing(fromEnvironment ?? StoreKey.LoadOrCreateFile(StoreSettings.KeyFile(_options, _dataDirectory)));
        }
        catch (Exception e) when (e is StorageKeyException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"storeKeyFile: cannot use the artifact store key ({e.Message}); fix the file, or set {StoreKey.EnvironmentVariable}", e);
        }

        ChunkStore chunks;
        try
        {
            chunks = await ChunkStore.OpenAsync(backend, keys, new ChunkStoreOptions { CompressionLevel = _options.StoreCompressionLevel }, _time, cancellationToken);
        }
        catch (Exception e) when (e is IOException or StorageKeyException or InvalidDataException)
        {
            throw new InvalidOperationException($"storeBackend: cannot open the artifact store at {description}: {e.Message}", e);
        }

        _repositories = new RepositoryStore(chunks, _time);
        _logger.LogInformation("Artifact store open at {Store}", description);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The project whose members may write to <paramref name="repository"/>, or null when only admins may.</summary>
    public async Task<string?> ProjectOfAsync(string repository, CancellationToken cancellationToken)
    {
        await using var stream = await Repositories.Chunks.Backend.OpenReadAsync(AccessPrefix + repository + ".json", cancellationToken: cancellationToken);
        if (stream is null)
        {
            return null;
        }

        var access = await JsonSerializer.DeserializeAsync<RepositoryAccess>(stream, JsonSerializerOptions.Web, cancellationToken);
        return access?.Project;
    }

    public async Task SetProjectAsync(string repository, string? project, CancellationToken cancellationToken)
    {
        var name = AccessPrefix + repository + ".json";
        if (project is null)
        {
            await Repositories.Chunks.Backend.DeleteAsync(name, cancellationToken);
            return;
        }

        using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(new RepositoryAccess(project), JsonSerializerOptions.Web));
        await Repositories.Chunks.Backend.PutAsync(name, content, cancellationToken);
    }

    /// <summary>Admins write anywhere; otherwise members and owners of the repository's project.</summary>
    public async Task<bool> CanWriteAsync(User user, string repository, CancellationToken cancellationToken) =>
        user.IsAdmin || (await ProjectOfAsync(repository, cancellationToken) is { } project && user.Can(project, ProjectRole.Member));

    /// <summary>Mark and sweep; one at a time, since two sweeps would race over the same packs.</summary>
    public async Task<(GcReport Report, int LiveChunks)> CollectGarbageAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        await _maintenance.WaitAsync(cancellationToken);
        try
        {
            var live = await Repositories.LiveChunksAsync(cancellationToken);
            var report = await Repositories.Chunks.CollectGarbageAsync(live, grace, cancellationToken);
            return (report, live.Count);
        }
        finally
        {
            _maintenance.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (_repositories is not null)
        {
            await _repositories.Chunks.DisposeAsync();
        }

        (_backend as IDisposable)?.Dispose();
        _maintenance.Dispose();
    }

    private sealed record RepositoryAccess(string Project);
}

/// <summary>The server's absolute data directory, for services that keep files there.</summary>
public sealed record DataDirectoryPath(string Path);

public static class StoreServiceCollectionExtensions
{
    /// <summary>Registers the one <see cref="StoreServices"/>; it opens as a hosted service, so a store that cannot open stops the start.</summary>
    public static IServiceCollection AddStratumStore(this IServiceCollection services, string dataDirectory)
    {
        services.AddSingleton(new DataDirectoryPath(dataDirectory));
        services.AddSingleton<StoreServices>();
        services.AddHostedService(provider => provider.GetRequiredService<StoreServices>());
        return services;
    }
}
