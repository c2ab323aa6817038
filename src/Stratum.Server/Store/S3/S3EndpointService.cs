using System.Net;
using Microsoft.Extensions.Hosting;
using Stratum.Persistence;

namespace Stratum.Server.Store.S3;

/// <summary>
/// Runs <see cref="S3Hosting"/> inside the server on <see cref="ServerOptions.EffectiveS3Port"/> (−1: off), over the
/// same <see cref="StoreServices"/> repositories as the REST API and with its write rule. Registered after
/// the store so it starts once the repositories are open and stops before they close.
/// </summary>
public sealed class S3EndpointService(
    ServerOptions options, StoreServices store, IMetadataStore metadata, DataDirectoryPath dataDirectory, TimeProvider time, ILoggerFactory loggers) : IHostedService, IAsyncDisposable
{
    private S3Hosting? _hosting;

    /// <summary>Where the endpoint listens; null when it is off or not started.</summary>
    public Uri? BaseAddress => _hosting?.BaseAddress;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.EffectiveS3Port < 0)
        {
            return;
        }

        _hosting = await S3Hosting.StartAsync(
            store.Repositories,
            metadata,
            dataDirectory.Path,
            IPAddress.Parse(options.ListenAddress),
            options.EffectiveS3Port,
            time,
            loggers,
            (user, repository, ct) => store.CanWriteAsync(user, repository.Name, ct),
            cancellationToken: cancellationToken);
        loggers.CreateLogger<S3EndpointService>().LogInformation("S3 endpoint listening on {Address}", _hosting.BaseAddress);
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync();

    /// <summary>Drops a deleted key from the endpoint's cache so it stops working at once.</summary>
    public void Forget(string accessKeyId) => _hosting?.Credentials.Forget(accessKeyId);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _hosting, null) is { } hosting)
        {
            await hosting.DisposeAsync();
        }
    }
}

public static class S3EndpointServiceCollectionExtensions
{
    /// <summary>The S3 endpoint as a hosted service; call after <c>AddStratumStore</c>.</summary>
    public static IServiceCollection AddStratumS3(this IServiceCollection services)
    {
        services.AddSingleton<S3EndpointService>();
        services.AddHostedService(provider => provider.GetRequiredService<S3EndpointService>());
        return services;
    }
}
