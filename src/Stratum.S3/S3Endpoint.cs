using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Stratum.S3.Auth;
using Stratum.S3.Backend;
using System.Net;

namespace Stratum.S3;

/// <summary>Puts the S3 protocol on an ASP.NET Core pipeline.</summary>
public static class S3Endpoint
{
    /// <summary>
    /// Serves every request reaching this point of the pipeline as S3 (path-style, so it should own the
    /// whole host: run it on its own port). Request bodies are unbounded because parts reach 5 GiB.
    /// </summary>
    public static IApplicationBuilder UseS3(
        this IApplicationBuilder app, IS3Backend backend, IS3CredentialStore credentials, S3EndpointOptions options, TimeProvider time, ILogger logger)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, problems), nameof(options));
        }

        var handler = new S3RequestHandler(backend, new S3Authenticator(credentials, time, options.MaxClockSkew), options, logger);
        app.Run(async context =>
        {
            if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = null;
            }

            await handler.HandleAsync(context);
        });
        return app;
    }
}

/// <summary>Where and how <see cref="S3Server"/> listens.</summary>
public sealed class S3ServerOptions
{
    /// <summary>Address to bind. Default loopback; use IPAddress.Any to serve other machines.</summary>
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>TCP port. Default 8471 (<c>stratum up --s3-port</c>); 0 picks a free port (see <see cref="S3Server.BaseAddress"/>).</summary>
    public int Port { get; set; } = 8471;

    public S3EndpointOptions Endpoint { get; set; } = new();
}

/// <summary>A self-contained S3 endpoint on its own Kestrel port, for <c>stratum up --s3-port N</c> and for tests.</summary>
public sealed class S3Server : IAsyncDisposable
{
    private readonly WebApplication _app;

    private S3Server(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    /// <summary>http://ADDRESS:PORT/ with the port actually bound.</summary>
    public Uri BaseAddress { get; }

    public static async Task<S3Server> StartAsync(
        S3ServerOptions options,
        IS3Backend backend,
        IS3CredentialStore credentials,
        TimeProvider? time = null,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(options.Address, options.Port);
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.AddServerHeader = false;
        });
        var app = builder.Build();
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Stratum.S3");
        app.UseS3(backend, credentials, options.Endpoint, time ?? TimeProvider.System, logger);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new S3Server(app, new Uri(address.EndsWith('/') ? address : address + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
