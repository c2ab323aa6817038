using System.Collections.Concurrent;
using System.Diagnostics;
using Stratum.Storage.Backends;

namespace Stratum.Storage.Repositories;

/// <summary>
/// Serialises ref updates and staging of one repository. Within the process a SemaphoreSlim per
/// repository; on the local backend also an OS lock (flock, through FileShare.None) on
/// ROOT/.tmp/locks/NAME.lock, so two processes on one directory exclude each other. Listing never shows
/// .tmp and stale-temporary cleanup only removes files directly in .tmp, so lock files are neither
/// backed up nor deleted under a holder. Other backends (S3) get the in-process lock only: one server
/// owns a store; a conditional PUT (If-Match on the ref's ETag) would make ref CAS safe across servers.
/// </summary>
internal sealed class RepositoryLock(IBlobBackend backend, TimeSpan timeout)
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _local = new(StringComparer.Ordinal);

    public async Task<IAsyncDisposable> AcquireAsync(string repository, CancellationToken cancellationToken)
    {
        var semaphore = _local.GetOrAdd(repository, _ => new SemaphoreSlim(1, 1));
        if (!await semaphore.WaitAsync(timeout, cancellationToken).ConfigureAwait(false))
        {
            throw new TimeoutException($"repository '{repository}' stayed locked by this process for {timeout}");
        }

        try
        {
            var file = (backend as LocalDirectoryBackend ?? (backend as Tiering.TieredBackend)?.Hot) is { } local ? await LockFileAsync(local, repository, cancellationToken).ConfigureAwait(false) : null;
            return new Held(semaphore, file);
        }
        catch
        {
            semaphore.Release();
            throw;
        }
    }

    private async Task<FileStream> LockFileAsync(LocalDirectoryBackend local, string repository, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(local.Root, ".tmp", "locks");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, repository + ".lock");
        // Elapsed real time, not the injected clock: a timeout must expire even under a test's frozen clock.
        var waited = Stopwatch.StartNew();
        var wait = TimeSpan.FromMilliseconds(2);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < timeout)
            {
                // Another process holds it: back off (a commit holds the lock for milliseconds).
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                wait = TimeSpan.FromMilliseconds(Math.Min(wait.TotalMilliseconds * 2, 100));
            }
        }
    }

    private sealed class Held(SemaphoreSlim semaphore, FileStream? file) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            if (file is not null)
            {
                await file.DisposeAsync().ConfigureAwait(false);
            }

            semaphore.Release();
        }
    }
}
