using Stratum.Server.Advice;
using Stratum.Server.Api;
using Stratum.Server.Metrics;
using Stratum.Server.Telemetry;

namespace Stratum.Server;

public sealed partial class StratumServer
{
    /// <summary>The telemetry sampler (leader only), its used-resource gauges, and nothing else: routes are in <see cref="MapTelemetryRoutes"/>.</summary>
    private static void AddTelemetry(IServiceCollection services)
    {
        services.AddSingleton<TelemetrySampler>();
        services.AddSingleton<UsedResourceMetrics>();
        services.AddHostedService(provider =>
        {
            // The gauges exist from the start, like the other instruments, so the first scrape lists them.
            provider.GetRequiredService<UsedResourceMetrics>();
            return provider.GetRequiredService<TelemetrySampler>();
        });
    }

    private static void MapTelemetryRoutes(WebApplication app)
    {
        app.MapTelemetry();
        app.MapAdvice();
        app.MapFairShare();
    }
}
