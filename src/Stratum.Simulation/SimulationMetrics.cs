namespace Stratum.Simulation;

/// <summary>
/// The figures a replay is judged by. JCT (job completion time) is finish less submit; queue time is
/// JCT less the time the job held its GPUs; GPU utilisation is GPU-time held over all attempts (restart
/// cost and work lost to preemption included) divided by the cluster's GPUs times the makespan (first
/// submit to last finish). Only finished jobs count towards JCT and queue figures.
/// </summary>
public sealed record SimulationMetrics(
    string Policy,
    int Jobs,
    int Finished,
    double AvgJctSeconds,
    double MedianJctSeconds,
    double P95JctSeconds,
    double AvgQueueSeconds,
    double MakespanSeconds,
    double GpuUtilization,
    int Preemptions,
    int Passes,
    double WallSeconds)
{
    public static SimulationMetrics From(string policy, IReadOnlyList<JobOutcome> jobs, SimulatedCluster cluster, int preemptions, int passes, TimeSpan wall)
    {
        var finished = jobs.Where(j => j.FinishedAt is not null).ToList();
        var jct = finished.Select(j => (j.FinishedAt!.Value - j.SubmittedAt).TotalSeconds).Order().ToArray();
        var queue = finished.Select(j => (j.FinishedAt!.Value - j.SubmittedAt - HeldWallTime(j, cluster)).TotalSeconds).ToArray();
        double makespan = 0;
        double utilization = 0;
        if (finished.Count > 0)
        {
            makespan = (finished.Max(j => j.FinishedAt!.Value) - jobs.Min(j => j.SubmittedAt)).TotalSeconds;
            var gpuSeconds = jobs.Sum(j => j.HeldTime.TotalSeconds * PerReplicaGpus(j, cluster));
            utilization = makespan > 0 ? gpuSeconds / (cluster.TotalGpus * makespan) : 0;
        }

        return new SimulationMetrics(policy, jobs.Count, finished.Count,
            jct.Length == 0 ? 0 : jct.Average(),
            Percentile(jct, 0.5),
            Percentile(jct, 0.95),
            queue.Length == 0 ? 0 : queue.Average(),
            makespan,
            utilization,
            preemptions,
            passes,
            wall.TotalSeconds);
    }

    /// <summary>Nearest-rank percentile of sorted values; 0 for none.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0)
        {
            return 0;
        }

        var rank = (int)Math.Ceiling(p * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    private static int Replicas(JobOutcome job, SimulatedCluster cluster) =>
        job.Gpus <= cluster.GpusPerNode ? 1 : cluster.HeldGpus(job.Gpus) / cluster.GpusPerNode;

    private static int PerReplicaGpus(JobOutcome job, SimulatedCluster cluster) =>
        job.Gpus <= cluster.GpusPerNode ? job.Gpus : cluster.GpusPerNode;

    // HeldTime sums every replica's time; the wall-clock time the job held GPUs is that over its replicas.
    private static TimeSpan HeldWallTime(JobOutcome job, SimulatedCluster cluster) => job.HeldTime / Replicas(job, cluster);
}
