using System.Diagnostics.Metrics;
using Stratum.Server.Telemetry;

namespace Stratum.Server.Metrics;

/// <summary>
/// What projects' running jobs really use, next to what they hold (<c>stratum_project_allocated_*</c>),
/// from the telemetry sampler's last round. A project appears only when the use of at least one of its
/// jobs is known: a missing series is unknown, not an idle project.
/// </summary>
public sealed class UsedResourceMetrics
{
    public UsedResourceMetrics(IMeterFactory meterFactory, TelemetrySampler sampler)
    {
        var meter = meterFactory.Create("Stratum.Server.Usage");
        meter.CreateObservableGauge("stratum.project.used.gpus", () => sampler.Latest
            .Where(u => u.GpusUsed is not null)
            .GroupBy(u => u.Job.Spec.Project)
            .Select(g => new Measurement<long>(g.Sum(u => u.GpusUsed!.Value), new KeyValuePair<string, object?>("project", g.Key))),
            "{gpu}", $"Accelerators of a project's running jobs busier than {TelemetrySampler.GpuUsedThreshold:P0}, where nvidia-smi reports them.");
        meter.CreateObservableGauge("stratum.project.used.cpu_cores", () => sampler.Latest
            .Where(u => u.Sample.CpuCores is not null)
            .GroupBy(u => u.Job.Spec.Project)
            .Select(g => new Measurement<double>(g.Sum(u => u.Sample.CpuCores!.Value), new KeyValuePair<string, object?>("project", g.Key))),
            "{core}", "CPU cores a project's running jobs' processes use.");
    }
}
