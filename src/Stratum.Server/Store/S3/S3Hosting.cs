using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Stratum.Persistence;
using Stratum.S3;
using Stratum.Storage.Repositories;

namespace Stratum.Server.Store.S3;

/// <summary>
/// The S3 endpoint over the server's repositories, on its own port (S3 is path-style, so it owns its host):
/// <see cref="RepositoryS3Backend"/> for the data and <see cref="MetadataS3CredentialStore"/> for the keys.
/// </summary>
public sealed class S3Hosting : IAsyncDisposable
{
    private readonly WebApplication _app;

    private S3Hosting(WebApplication app, Uri baseAddress, MetadataS3CredentialStore credentials)
    {
        _app = app;
        BaseAddress = baseAddress;
        Credentials = credentials;
    }

    /// <summary>http://ADDRESS:PORT/ with the port actually bound.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The key cache, so deleting a key through the API stops it here at once.</summary>
    public MetadataS3CredentialStore Credentials { get; }

    /// <summary>
    /// Starts the endpoint on <paramref name="address"/>:<paramref name="port"/> (0: a free port).
    /// <paramref name="dataDirectory"/> holds the secret key file (<see cref="S3SecretBox.KeyFileName"/>) and,
    /// under s3-uploads/, multipart uploads in progress. <paramref name="mayWrite"/> says who may write
    /// besides admins and a repository's creator (the REST API's rule: members of its project).
    /// </summary>
    public static async Task<S3Hosting> StartAsync(
        RepositoryStore repositories,
        IMetadataStore metadata,
        string dataDirectory,
        IPAddress address,
        int port,
        TimeProvider? time = null,
        ILoggerFactory? loggerFactory = null,
        S3WriteRule? mayWrite = null,
        S3EndpointOptions? endpoint = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        time ??= TimeProvider.System;
        var box = S3SecretBox.ForDataDirectory(dataDirectory);
        var credentials = new MetadataS3CredentialStore(metadata, box, time);
        var backend = new RepositoryS3Backend(repositories, metadata, Path.Combine(dataDirectory, "s3-uploads"), time, mayWrite);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();

        // The endpoint lives and dies with the server that hosts it: a console lifetime of its own would
        // answer Ctrl-C and SIGTERM too, stopping it behind the server's back while the server stops it.
        builder.Services.AddSingleton<IHostLifetime, HostedByServerLifetime>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(address, port);
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.AddServerHeader = false;
        });
        var app = builder.Build();
        var logger = (loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger("Stratum.S3");
        app.Use(async (context, next) =>
        {
            S3CallScope.Begin(context.Request.Query["delimiter"].ToString());
            await next(context);
        });
        app.UseS3(backend, credentials, endpoint ?? new S3EndpointOptions(), time, logger);
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new S3Hosting(app, new Uri(bound.EndsWith('/') ? bound : bound + "/"), credentials);
    }

    public async ValueTask DisposeAsync()
    {
        // Open S3 connections get a few seconds to finish; a client that keeps one open must not hold up the server's stop.
        using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(drain.Token);
        await _app.DisposeAsync();
    }

    private sealed class HostedByServerLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
