using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Stratum.Client;
using Microsoft.Extensions.Hosting;
using Stratum.Client.Contracts;
using Stratum.Execution;
using Stratum.Persistence;
using Stratum.Server.Alerts;
using Stratum.Server.Api;
using Stratum.Server.Apply;
using Stratum.Server.Auth;
using Stratum.Server.Control;
using Stratum.Server.Dashboard;
using Stratum.Server.Execution;
using Stratum.Server.Hosting;
using Stratum.Server.Leadership;
using Stratum.Server.Metrics;
using Stratum.Server.Store;
using Stratum.Server.Store.S3;
using Stratum.Server.Usage;

namespace Stratum.Server;

/// <summary>
/// The whole server in-process: API, background loops, executor. <c>stratum up</c> and
/// <c>stratum server</c> host it; tests start it on port 0. This is the composition root: the only
/// place that picks concrete backends and reads the real clock.
/// </summary>
public sealed partial class StratumServer : IAsyncDisposable
{
    public const string Version = "0.1.0";

    private readonly WebApplication _app;
    private readonly IMetadataStore _store;
    private readonly DataDirectoryLock _lock;
    private int _stopped;

    private StratumServer(WebApplication app, IMetadataStore store, DataDirectoryLock dataLock, Uri address, string dataDirectory, string adminToken)
    {
        _app = app;
        _store = store;
        _lock = dataLock;
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

    public IServiceProvider Services => _app.Services;

    /// <summary>Validates options (throwing <see cref="InvalidOperationException"/> listing every problem), opens or creates the data directory, migrates, and starts listening.</summary>
    public static async Task<StratumServer> StartAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new InvalidOperationException("The server settings are invalid:\n  " + string.Join("\n  ", problems));
        }

        var dataDirectory = Path.GetFullPath(options.DataDirectory);
        Directory.CreateDirectory(dataDirectory);
        var dataLock = DataDirectoryLock.Acquire(dataDirectory);
        IMetadataStore? store = null;
        try
        {
            var time = TimeProvider.System;
            store = await StoreStartup.OpenAsync(options, dataDirectory, time, cancellationToken);
            var secret = await Bootstrap.PrepareAsync(store, dataDirectory, options, time, cancellationToken);

            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
            {
                ApplicationName = typeof(StratumServer).Assembly.GetName().Name,
                ContentRootPath = dataDirectory,
                Args = [],
            });
            builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Parse(options.ListenAddress), options.Port));
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(options.MinimumLogLevel);
            builder.Logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss ";
            });
            builder.Logging.AddFilter("Microsoft.AspNetCore", options.MinimumLogLevel < LogLevel.Warning ? LogLevel.Warning : options.MinimumLogLevel);
            builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);

            var services = builder.Services;
            services.AddSingleton(options);
            services.AddSingleton(time);
            services.AddSingleton(store);
            services.AddSingleton(new JobDirectories(Path.GetFullPath(options.JobsDirectory ?? Path.Combine(dataDirectory, "jobs"))));
            services.AddStratumExecution();
            services.AddStratumStore(dataDirectory);
            services.AddStratumS3();
            services.AddSingleton(ServerPolicy.Create(options));
            services.AddSingleton<SchedulerView>();
            services.AddSingleton<ControllerSignal>();
            services.AddSingleton<ClusterCache>();
            services.AddSingleton<TokenAuthenticator>();
            services.AddSingleton<StratumMetrics>();
            services.AddSingleton(provider => new TelemetryMetrics(
                provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), LocalNodeDiscovery.DefaultNodeName(), dataDirectory, time));
            services.AddSingleton(provider =>
            {
                // This server's meters (and ASP.NET Core's, made by the same factory), plus the store's
                // process-wide one: a test process that runs several servers keeps their numbers apart.
                var factory = provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
                return new PrometheusExporter(meter => ReferenceEquals(meter.Scope, factory) || (meter.Scope is null && meter.Name == "Stratum.Persistence"));
            });
            // The elector before the controller: hosted services stop in reverse order, so the controller
            // has stopped acting before the lease is handed back.
            services.AddSingleton<LeaderElector>();
            services.AddHostedService(provider => provider.GetRequiredService<LeaderElector>());
            services.AddSingleton<Jobs.JobStoreData>();
            services.AddSingleton<Jobs.JobDataSteps>();
            services.AddSingleton<ClusterController>();
            services.AddHostedService(provider => provider.GetRequiredService<ClusterController>());
            services.AddSingleton(provider => AlertService.Create(provider, dataDirectory));
            services.AddHostedService(provider => provider.GetRequiredService<AlertService>());
            services.AddSingleton<Usage.BudgetTracker>();
            services.AddHostedService(provider => provider.GetRequiredService<Usage.BudgetTracker>());
            AddTelemetry(services);
            services.AddProblemDetails();
            services.AddExceptionHandler<Hosting.StoreUnavailableHandler>();
            services.AddOpenApi();
            services.ConfigureHttpJsonOptions(json => Json.Configure(json.SerializerOptions));

            var app = builder.Build();
            // Created now, not at the first scrape, so that it counts from the start.
            app.Services.GetRequiredService<PrometheusExporter>();
            app.Services.GetRequiredService<TelemetryMetrics>();
            app.Services.GetRequiredService<AlertService>();
            app.UseExceptionHandler();
            app.UseStatusCodePages();
            app.UseMiddleware<DashboardMiddleware>();
            app.UseMiddleware<AuthenticationMiddleware>();
            MapRoutes(app, dataDirectory, time);

            await app.StartAsync(cancellationToken);
            var address = ListeningAddress(app, options);
            new LocalConnection(address.ToString(), secret).Write(dataDirectory);
            return new StratumServer(app, store, dataLock, address, dataDirectory, secret);
        }
        catch
        {
            if (store is not null)
            {
                await store.DisposeAsync();
            }

            dataLock.Dispose();
            throw;
        }
    }

    /// <summary>Completes when the server has stopped (after <see cref="StopAsync"/> or a fatal error).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    /// <summary>Stops accepting requests, stops the loops, and closes the store. Running jobs keep running and are re-attached by the next start.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _app.StopAsync(deadline.Token);
            await _app.DisposeAsync();
        }
        finally
        {
            await _store.DisposeAsync();
            _lock.Dispose();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private static void MapRoutes(WebApplication app, string dataDirectory, TimeProvider time)
    {
        var startedAt = time.GetUtcNow();
        app.MapGet("/healthz", () => Results.Text("ok\n")).ExcludeFromDescription();
        app.MapGet("/readyz", async (IMetadataStore store, ClusterController controller, CancellationToken cancellationToken) =>
        {
            try
            {
                await store.Cluster.ListPoolsAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return Results.Text($"not ready: the metadata store does not answer ({e.Message})\n", statusCode: 503);
            }

            return controller.Passes > 0
                ? Results.Text("ready\n")
                : Results.Text("not ready: the first reconciliation has not finished\n", statusCode: 503);
        }).ExcludeFromDescription();
        app.MapGet("/metrics", (PrometheusExporter exporter) => Results.Text(exporter.Render(), PrometheusExporter.ContentType)).ExcludeFromDescription();
        app.MapOpenApi();
        app.MapGet("/api/v1/info", async (ServerOptions options, ClusterCache cache, LeaderElector leadership, ClusterController controller, CancellationToken cancellationToken) =>
            Results.Ok(new ServerInfoDto(
                Version,
                dataDirectory,
                startedAt,
                options.SchedulingPolicy,
                (await cache.NodesAsync(cancellationToken)).Count,
                (await cache.ProjectsAsync(cancellationToken)).Count,
                LeadershipInfo.Describe(leadership, controller)))).WithTags("Server").WithName("Info");
        app.MapJobs();
        app.MapJobsExport();
        app.MapCluster();
        app.MapAccess();
        app.MapApply();
        app.MapPlan();
        app.MapUsage();
        app.MapAlerts();
        MapTelemetryRoutes(app);
        app.MapStore();
        app.MapS3Keys();
    }

    private static Uri ListeningAddress(WebApplication app, ServerOptions options)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        var first = addresses?.FirstOrDefault() ?? $"http://{options.ListenAddress}:{options.Port}";
        var uri = new Uri(first);
        // 0.0.0.0 is where we listen, not an address to call: clients on this machine use loopback.
        var host = uri.Host is "0.0.0.0" or "[::]" ? "127.0.0.1" : uri.Host;
        return new Uri($"http://{host}:{uri.Port}/");
    }
}
