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
    double WallSeconds,
    double PolicySeconds,
    double RestartGpuSeconds,
    IReadOnlyList<ProjectMetrics> Projects)
{
    /// <summary>
    /// Jain's fairness index over the projects' share of GPU-time divided by their entitlement, each
    /// capped at 1 (a project that asked for less than its entitlement was not treated unfairly): 1 when
    /// every project got at least its entitlement, down to 1/projects when one took everything.
    /// </summary>
    public double FairnessIndex
    {
        get
        {
            if (Projects.Count == 0)
            {
                return 1;
            }

            double sum = 0, squares = 0;
            foreach (var project in Projects)
            {
                var x = project.Entitlement > 0 ? Math.Min(1, project.Share / project.Entitlement) : 1;
                sum += x;
                squares += x * x;
            }

            return squares == 0 ? 1 : sum * sum / (Projects.Count * squares);
        }
    }

    public static SimulationMetrics From(string policy, IReadOnlyList<JobOutcome> jobs, SimulatedCluster cluster, int preemptions, int passes,
        TimeSpan wall, TimeSpan policyTime = default, double restartGpuSeconds = 0)
    {
        var finished = jobs.Where(j => j.FinishedAt is not null).ToList();
        var jct = finished.Select(j => (j.FinishedAt!.Value - j.SubmittedAt).TotalSeconds).Order().ToArray();
        var queue = finished.Select(j => (j.FinishedAt!.Value - j.SubmittedAt - HeldWallTime(j)).TotalSeconds).ToArray();
        double makespan = 0;
        double utilization = 0;
        if (finished.Count > 0)
        {
            makespan = (finished.Max(j => j.FinishedAt!.Value) - jobs.Min(j => j.SubmittedAt)).TotalSeconds;
            var gpuSeconds = jobs.Sum(j => j.HeldTime.TotalSeconds * j.GpusPerReplica);
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
            wall.TotalSeconds,
            policyTime.TotalSeconds,
            restartGpuSeconds,
            ProjectMetrics.Of(jobs, cluster));
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

    // HeldTime sums every replica's time; the wall-clock time the job held GPUs is that over its replicas.
    private static TimeSpan HeldWallTime(JobOutcome job) => job.HeldTime / Math.Max(1, job.Replicas);
}

/// <summary>
/// How one project fared: its jobs and their average JCT (finished ones), the GPU-seconds it held, its
/// share of all GPU-seconds held, and its entitlement (an equal share per project unless the cluster
/// gives weights).
/// </summary>
public sealed record ProjectMetrics(string Project, int Jobs, double AvgJctSeconds, double GpuSeconds, double Share, double Entitlement)
{
    public static IReadOnlyList<ProjectMetrics> Of(IReadOnlyList<JobOutcome> jobs, SimulatedCluster cluster)
    {
        var byProject = new SortedDictionary<string, (int Jobs, int Finished, double Jct, double GpuSeconds)>(StringComparer.Ordinal);
        double total = 0;
        foreach (var job in jobs)
        {
            var entry = byProject.GetValueOrDefault(job.Project);
            var gpuSeconds = job.HeldTime.TotalSeconds * job.GpusPerReplica;
            total += gpuSeconds;
            entry.Jobs++;
            entry.GpuSeconds += gpuSeconds;
            if (job.FinishedAt is { } finished)
            {
                entry.Finished++;
                entry.Jct += (finished - job.SubmittedAt).TotalSeconds;
            }

            byProject[job.Project] = entry;
        }

        var weights = byProject.Keys.ToDictionary(k => k, cluster.WeightOf, StringComparer.Ordinal);
        var weightSum = weights.Values.Sum();
        return byProject.Select(p => new ProjectMetrics(p.Key, p.Value.Jobs,
            p.Value.Finished == 0 ? 0 : p.Value.Jct / p.Value.Finished,
            p.Value.GpuSeconds,
            total > 0 ? p.Value.GpuSeconds / total : 0,
            weightSum > 0 ? weights[p.Key] / weightSum : 0)).ToList();
    }
}
