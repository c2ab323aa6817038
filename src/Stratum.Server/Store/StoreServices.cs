using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Stratum.Core.Access;
using Stratum.Storage;
using Stratum.Storage.Backends;
using Stratum.Storage.Backup;
using Stratum.Storage.Crypto;
using Stratum.Storage.Repositories;
using Stratum.Storage.Tiering;

namespace Stratum.Server.Store;

/// <summary>
/// The artifact store inside the server: one <see cref="RepositoryStore"/> over the backend the settings
/// name, opened when the server starts (a wrong key or an unreachable backend stops the start with an
/// error naming the setting) and closed when it stops. Garbage collection, lifecycle runs, backups and
/// restores run only when an admin asks, one at a time.
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
    private KeyRing? _keys;
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
        var (backend, description) = StoreSettings.OpenBackend(_options, _dataDirectory, _time);
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

        _keys = keys;
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
        if (backend is TieredBackend)
        {
            Lifecycle = new TierLifecycle(_repositories);
        }

        _logger.LogInformation("Artifact store open at {Store}", description);
    }

    /// <summary>Tier policies and lifecycle runs; null when no cold tier is configured (<c>storeColdBackend</c>).</summary>
    public TierLifecycle? Lifecycle { get; private set; }

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

    /// <summary>A lifecycle run (or, with <paramref name="dryRun"/>, its plan); one maintenance operation at a time.</summary>
    public Task<LifecycleReport> RunLifecycleAsync(bool dryRun, IProgress<LifecycleProgress>? progress, CancellationToken cancellationToken)
    {
        var lifecycle = Lifecycle ?? throw new InvalidOperationException("the store has no cold tier");
        return OneAtATimeAsync(() => dryRun
            ? lifecycle.PlanLifecycleAsync(_time.GetUtcNow(), progress, cancellationToken)
            : lifecycle.ApplyLifecycleAsync(_time.GetUtcNow(), progress, cancellationToken), cancellationToken);
    }

    /// <summary>Exports the whole store (<paramref name="repository"/> null) or one repository to <paramref name="target"/>.</summary>
    public Task<BackupReport> BackupAsync(IBlobBackend target, string? repository, IProgress<BackupProgress>? progress, CancellationToken cancellationToken) =>
        OneAtATimeAsync(() => StoreBackup.ExportAsync(Repositories, target, repository, progress, _time, cancellationToken), cancellationToken);

    /// <summary>
    /// Restores a backup into this store: a whole-store backup only into an empty store (a fresh server), a
    /// repository backup beside others. The engine refuses before writing a blob when that does not hold; the
    /// index is read again afterwards, so the restored packs are readable at once.
    /// </summary>
    public Task<BackupReport> RestoreAsync(IBlobBackend backup, IProgress<BackupProgress>? progress, CancellationToken cancellationToken) =>
        OneAtATimeAsync(async () =>
        {
            if (await StoreBackup.KeyProblemAsync(backup, _keys, cancellationToken) is { } keyProblem)
            {
                throw new InvalidOperationException($"cannot restore this backup with this server's store key: {keyProblem}. Start the server with the key of the store that was backed up (storeKeyFile or {StoreKey.EnvironmentVariable}); nothing was restored");
            }

            var report = await StoreBackup.RestoreAsync(backup, Repositories.Chunks.Backend, progress, _time, cancellationToken);
            await Repositories.Chunks.ReloadIndexAsync(cancellationToken);
            return report;
        }, cancellationToken);

    private async Task<T> OneAtATimeAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken)
    {
        await _maintenance.WaitAsync(cancellationToken);
        try
        {
            return await work();
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

        if (_backend is TieredBackend tiered)
        {
            // Flushes the packs' access times, which idle-based rules read at the next start.
            await tiered.DisposeAsync();
            (tiered.Cold as IDisposable)?.Dispose();
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
