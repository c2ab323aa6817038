using System.Diagnostics;
using Stratum.Core.Jobs;

namespace Stratum.Execution;

/// <summary>
/// One job's use right now, over all its replicas that run on this machine. A null field is unknown
/// (no process to read, no GPU reading), never zero. <see cref="GpuUtilization"/> is the mean of the
/// job's assigned GPUs, 0..1; it is null for a job that holds no GPU.
/// </summary>
public sealed record JobUsageSample(long JobId, int Attempt, int Processes, double? CpuCores, long? MemoryBytes, double? GpuUtilization);

/// <summary>
/// Samples the running jobs of the local executor. CPU is a rate, so the sampler keeps each replica's
/// previous cumulative CPU time; the first reading of a replica is its average since it started. This
/// memory is only a cache for rates: losing it (a restart) costs one less precise reading, nothing else.
/// </summary>
public sealed class LocalJobUsageSampler(JobDirectories directories)
{
    private readonly Dictionary<(long Job, int Attempt, int Rank), (double CpuSeconds, long Timestamp)> _previous = [];
    private readonly Lock _gate = new();

    /// <summary>
    /// Reads every replica of each job's current attempt. Jobs with no process to read are left out.
    /// <paramref name="gpus"/> is this machine's latest GPU reading (null when there is none).
    /// </summary>
    public IReadOnlyList<JobUsageSample> Sample(IEnumerable<Job> runningJobs, IReadOnlyList<GpuSample>? gpus)
    {
        ArgumentNullException.ThrowIfNull(runningJobs);
        var samples = new List<JobUsageSample>();
        lock (_gate)
        {
            var seen = new HashSet<(long, int, int)>();
            var jobs = runningJobs.Where(j => j.CurrentAttempt is not null).ToList();
            var sessions = new Dictionary<(long Job, int Attempt, int Rank), int>();
            foreach (var job in jobs)
            {
                foreach (var replica in job.CurrentAttempt!.Placement)
                {
                    if (ProcessTreeUsage.ReplicaSession(directories.ReplicaDirectory(job.Id, job.CurrentAttempt.Number, replica.Rank)) is { } session)
                    {
                        sessions[(job.Id, job.CurrentAttempt.Number, replica.Rank)] = session;
                    }
                }
            }

            // One walk of /proc for every job of the round.
            var readings = ProcessTreeUsage.ReadSessions(sessions.Values);
            foreach (var job in jobs)
            {
                var attempt = job.CurrentAttempt!;
                var processes = 0;
                double? cores = null;
                long? memory = null;
                var gpuIndices = new List<int>();
                foreach (var replica in attempt.Placement)
                {
                    gpuIndices.AddRange(replica.AcceleratorIndices);
                    var key = (job.Id, attempt.Number, replica.Rank);
                    if (!sessions.TryGetValue(key, out var session) || !readings.TryGetValue(session, out var reading))
                    {
                        continue;
                    }

                    seen.Add(key);
                    var now = Stopwatch.GetTimestamp();
                    double? rate = null;
                    if (_previous.TryGetValue(key, out var previous) && Stopwatch.GetElapsedTime(previous.Timestamp, now).TotalSeconds is var elapsed && elapsed > 0.2)
                    {
                        rate = Math.Max(0, (reading.CpuSeconds - previous.CpuSeconds) / elapsed);
                    }
                    else if (reading.AgeSeconds > 0.2)
                    {
                        rate = reading.CpuSeconds / reading.AgeSeconds;
                    }

                    _previous[key] = (reading.CpuSeconds, now);
                    processes += reading.Processes;
                    cores = rate is { } r ? (cores ?? 0) + r : cores;
                    memory = (memory ?? 0) + reading.ResidentBytes;
                }

                if (processes == 0)
                {
                    continue;
                }

                samples.Add(new JobUsageSample(job.Id, attempt.Number, processes, cores, memory, GpuUtilization(gpuIndices, gpus)));
            }

            foreach (var stale in _previous.Keys.Where(k => !seen.Contains(k)).ToList())
            {
                _previous.Remove(stale);
            }
        }

        return samples;
    }

    /// <summary>
    /// The mean utilisation of the GPUs a job was given. A local GPU is given to one job at a time, so the
    /// device's utilisation is the job's. Unknown when any of them has no reading.
    /// </summary>
    public static double? GpuUtilization(IReadOnlyCollection<int> indices, IReadOnlyList<GpuSample>? gpus)
    {
        if (indices.Count == 0 || gpus is null)
        {
            return null;
        }

        double sum = 0;
        foreach (var index in indices)
        {
            if (gpus.FirstOrDefault(g => g.Index == index)?.Utilization is not { } utilization)
            {
                return null;
            }

            sum += utilization;
        }

        return sum / indices.Count;
    }
}
