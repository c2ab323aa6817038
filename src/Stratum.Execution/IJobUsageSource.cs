using Stratum.Core.Jobs;

namespace Stratum.Execution;

/// <summary>
/// One job's usage as an executor that knows it reports it: the usage the local sampler measures, plus
/// each of the job's GPUs' utilisation (0..1, in replica then device order), or null when it holds none.
/// </summary>
public sealed record JobUsageReading(JobUsageSample Usage, IReadOnlyList<double>? GpuUtilizations);

/// <summary>
/// An executor whose jobs' usage is not read from this machine's /proc and nvidia-smi (as the local
/// executor's is) but reported by the executor itself. The telemetry sampler asks every source once a round.
/// </summary>
public interface IJobUsageSource
{
    /// <summary>The usage of those of <paramref name="runningJobs"/> this source runs; every other job is left out.</summary>
    IReadOnlyList<JobUsageReading> SampleUsage(IReadOnlyCollection<Job> runningJobs);
}
