using System.Net;
using Microsoft.AspNetCore.Hosting;

namespace Stratum.Server.Hosting;

/// <summary>
/// What answers on the server's port while it waits for its metadata store at start: <c>/healthz</c>
/// says the process lives, <c>/readyz</c> and every other path answer 503 with the reason, so a load
/// balancer or an operator sees "waiting for PostgreSQL" instead of a refused connection. It gives the
/// port back before the real server binds it.
/// </summary>
internal sealed class StartupStatusListener : IAsyncDisposable
{
    private readonly WebApplication _app;
    private volatile string _reason = "starting";

    private StartupStatusListener(WebApplication app) => _app = app;

    /// <summary>Why the server is not ready yet; shown by /readyz.</summary>
    public string Reason
    {
        get => _reason;
        set => _reason = value;
    }

    /// <summary>Listens on the server's address, or returns null when the port is 0 (chosen at bind time, so nobody could be asking yet).</summary>
    public static async Task<StartupStatusListener?> StartAsync(ServerOptions options, CancellationToken cancellationToken)
    {
        if (options.Port == 0)
        {
            return null;
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Parse(options.ListenAddress), options.Port));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var listener = new StartupStatusListener(app);
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapFallback(context =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "5";
            return context.Response.WriteAsync($"not ready: {listener.Reason}\n", context.RequestAborted);
        });
        await app.StartAsync(cancellationToken);
        return listener;
    }

    public async ValueTask DisposeAsync()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(deadline.Token);
        await _app.DisposeAsync();
    }
}
