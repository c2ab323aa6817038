using System.Globalization;
using Stratum.Client.Contracts;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Persistence;

namespace Stratum.Server.Advice;

/// <summary>
/// What the rules look at: the jobs that ran or waited in [Since, Now), where their nodes' prices come
/// from, and each job's stored series ("cpu_cores", "memory_bytes", "gpu_utilization", "gpus_used") in
/// buckets of <see cref="Step"/>. Pure data: the rules read no clock and do no IO.
/// </summary>
public sealed record AdviceInput(
    DateTimeOffset Now,
    DateTimeOffset Since,
    TimeSpan Step,
    IReadOnlyList<Job> Jobs,
    IReadOnlyDictionary<string, string> PoolOfNode,
    IReadOnlyDictionary<string, Pool> Pools,
    IReadOnlyDictionary<long, IReadOnlyList<TelemetryBucket>> Series);

/// <summary>
/// Right-sizing and waste rules. Each says what to change and what it would have saved over the window,
/// in GPU-, CPU- and memory-GiB-hours and in money at the job's pool prices. A rule needs
/// <see cref="MinimumSamples"/> samples of a job before it judges it: no evidence, no advice.
/// </summary>
public static class AdviceRules
{
    public const string IdleGpus = "idle-gpus";
    public const string GpuOverRequest = "gpu-over-request";
    public const string MemoryOverRequest = "memory-over-request";
    public const string CpuOverRequest = "cpu-over-request";
    public const string LongPending = "long-pending";

    /// <summary>A GPU under this utilisation does no useful work.</summary>
    public const double IdleUtilization = 0.05;

    public const int MinimumSamples = 3;

    /// <summary>How long allocated GPUs must stay idle before they are called idle.</summary>
    public static readonly TimeSpan IdleFor = TimeSpan.FromMinutes(30);

    /// <summary>A waiting job is "far longer than usual" past this many times its project's p90 wait, and at least <see cref="MinimumLongWait"/>.</summary>
    public const double PendingFactor = 2;

    public static readonly TimeSpan MinimumLongWait = TimeSpan.FromMinutes(10);

    /// <summary>The p90 needs this many past waits in the project to mean anything.</summary>
    public const int MinimumPastWaits = 5;

    private const double BytesPerGib = 1024.0 * 1024 * 1024;

    /// <summary>Every rule over every job, largest money saving first, then GPU-hours.</summary>
    public static IReadOnlyList<RecommendationDto> Evaluate(AdviceInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var advice = new List<RecommendationDto>();
        foreach (var job in input.Jobs)
        {
            var series = input.Series.GetValueOrDefault(job.Id) ?? [];
            var idle = Idle(input, job, series);
            if (idle is not null)
            {
                advice.Add(idle);
            }
            else if (Gpus(input, job, series) is { } gpus)
            {
                advice.Add(gpus);
            }

            if (Memory(input, job, series) is { } memory)
            {
                advice.Add(memory);
            }

            if (Cpu(input, job, series) is { } cpu)
            {
                advice.Add(cpu);
            }
        }

        advice.AddRange(Pending(input));
        return [.. advice
            .OrderByDescending(a => a.MoneySaved)
            .ThenByDescending(a => a.GpuHoursSaved + a.CpuHoursSaved + a.MemoryGbHoursSaved)
            .ThenBy(a => a.Kind, StringComparer.Ordinal)
            .ThenBy(a => a.JobId)];
    }

    /// <summary>
    /// A running job whose GPUs have all stayed under 5% for the last 30 minutes. Saving: its GPUs over
    /// every idle bucket in the window, which is what releasing them when they went idle would have saved.
    /// </summary>
    public static RecommendationDto? Idle(AdviceInput input, Job job, IReadOnlyList<TelemetryBucket> series)
    {
        var gpus = GpusPerReplica(job) * job.Spec.Replicas;
        var utilization = Metric(series, "gpu_utilization");
        if (job.State != JobState.Running || gpus == 0 || utilization.Count == 0 || utilization.Sum(b => b.Samples) < MinimumSamples)
        {
            return null;
        }

        // Only a reading that is still current counts: a job whose telemetry stopped is not "idle now".
        if (input.Now - (utilization[^1].At + input.Step) > input.Step)
        {
            return null;
        }

        var trailing = utilization.AsEnumerable().Reverse().TakeWhile(b => b.Max < IdleUtilization).ToList();
        if (trailing.Count == 0 || input.Now - trailing[^1].At < IdleFor)
        {
            return null;
        }

        var idleHours = utilization.Count(b => b.Max < IdleUtilization) * input.Step.TotalHours;
        var price = PriceOf(input, job);
        var gpuHours = gpus * idleHours;
        return new RecommendationDto(
            IdleGpus, job.Id, job.Spec.Project,
            string.Create(CultureInfo.InvariantCulture,
                $"job {job.Id} ({job.Spec.Name}) holds {gpus} GPU(s) that have stayed under {IdleUtilization:P0} for {Minutes(input.Now - trailing[^1].At)}: stop it, or release the GPUs"),
            Round(gpuHours), 0, 0, Money((decimal)gpuHours * price.PerAcceleratorHour), price.Currency);
    }

    /// <summary>A job given N GPUs per replica that never kept more than M &lt; N of them busy: request M.</summary>
    public static RecommendationDto? Gpus(AdviceInput input, Job job, IReadOnlyList<TelemetryBucket> series)
    {
        var requested = GpusPerReplica(job);
        var used = Metric(series, "gpus_used");
        if (requested < 2 || used.Sum(b => b.Samples) < MinimumSamples)
        {
            return null;
        }

        // gpus_used counts a job's GPUs over all its replicas; per replica is what the request is.
        var peak = (int)Math.Ceiling(used.Max(b => b.Max) / job.Spec.Replicas);
        var suggested = Math.Max(1, peak);
        if (suggested >= requested)
        {
            return null;
        }

        var price = PriceOf(input, job);
        var gpuHours = (requested - suggested) * ReplicaHours(input, job);
        return new RecommendationDto(
            GpuOverRequest, job.Id, job.Spec.Project,
            string.Create(CultureInfo.InvariantCulture,
                $"job {job.Id} ({job.Spec.Name}) requests {requested} GPUs per replica but kept at most {peak} busy: request {suggested}"),
            Round(gpuHours), 0, 0, Money((decimal)gpuHours * price.PerAcceleratorHour), price.Currency);
    }

    /// <summary>Memory requested at least twice the peak resident use and at least 1 GiB above it: request the peak plus 25%.</summary>
    public static RecommendationDto? Memory(AdviceInput input, Job job, IReadOnlyList<TelemetryBucket> series)
    {
        var memory = Metric(series, "memory_bytes");
        if (memory.Sum(b => b.Samples) < MinimumSamples)
        {
            return null;
        }

        var requested = job.Spec.Resources.MemoryBytes;
        // Per replica: the job's series sums its replicas.
        var peak = memory.Max(b => b.Max) / job.Spec.Replicas;
        if (requested < 2 * peak || requested - peak < BytesPerGib)
        {
            return null;
        }

        var suggestedGib = Math.Max(1, Math.Ceiling(peak * 1.25 / BytesPerGib));
        var savedGib = requested / BytesPerGib - suggestedGib;
        if (savedGib <= 0)
        {
            return null;
        }

        var price = PriceOf(input, job);
        var gbHours = savedGib * ReplicaHours(input, job);
        return new RecommendationDto(
            MemoryOverRequest, job.Id, job.Spec.Project,
            string.Create(CultureInfo.InvariantCulture,
                $"job {job.Id} ({job.Spec.Name}) requests {requested / BytesPerGib:0.#} GiB of memory per replica but used at most {peak / BytesPerGib:0.##} GiB: request {suggestedGib:0}Gi"),
            0, 0, Round(gbHours), Money((decimal)gbHours * price.PerMemoryGbHour), price.Currency);
    }

    /// <summary>CPU requested at least twice the peak use and at least one core above it: request the peak plus 25%, rounded up to whole cores.</summary>
    public static RecommendationDto? Cpu(AdviceInput input, Job job, IReadOnlyList<TelemetryBucket> series)
    {
        var cpu = Metric(series, "cpu_cores");
        if (cpu.Sum(b => b.Samples) < MinimumSamples)
        {
            return null;
        }

        var requested = job.Spec.Resources.CpuMillis / 1000.0;
        var peak = cpu.Max(b => b.Max) / job.Spec.Replicas;
        if (requested < 2 * peak || requested - peak < 1)
        {
            return null;
        }

        var suggested = Math.Max(1, Math.Ceiling(peak * 1.25));
        if (suggested >= requested)
        {
            return null;
        }

        var price = PriceOf(input, job);
        var cpuHours = (requested - suggested) * ReplicaHours(input, job);
        return new RecommendationDto(
            CpuOverRequest, job.Id, job.Spec.Project,
            string.Create(CultureInfo.InvariantCulture,
                $"job {job.Id} ({job.Spec.Name}) requests {requested:0.##} CPU cores per replica but used at most {peak:0.##}: request {suggested:0}"),
            0, Round(cpuHours), 0, Money((decimal)cpuHours * price.PerCpuCoreHour), price.Currency);
    }

    /// <summary>Jobs waiting more than twice their project's p90 wait (of jobs that started in the window), and at least 10 minutes.</summary>
    public static IEnumerable<RecommendationDto> Pending(AdviceInput input)
    {
        var waits = input.Jobs
            .Where(j => j.Attempts.Count > 0 && j.Attempts[0].StartedAt >= input.Since)
            .GroupBy(j => j.Spec.Project)
            .ToDictionary(g => g.Key, g => g.Select(j => j.Attempts[0].StartedAt - j.SubmittedAt).Order().ToList());
        foreach (var job in input.Jobs.Where(j => j.State == JobState.Pending).OrderBy(j => j.Id))
        {
            if (!waits.TryGetValue(job.Spec.Project, out var past) || past.Count < MinimumPastWaits)
            {
                continue;
            }

            var p90 = past[(int)Math.Ceiling(0.9 * past.Count) - 1];
            var waited = input.Now - job.SubmittedAt;
            if (waited < MinimumLongWait || waited.TotalSeconds <= PendingFactor * p90.TotalSeconds)
            {
                continue;
            }

            yield return new RecommendationDto(
                LongPending, job.Id, job.Spec.Project,
                $"job {job.Id} ({job.Spec.Name}) has waited {Minutes(waited)}, more than {PendingFactor:0}x project {job.Spec.Project}'s usual (p90 {Minutes(p90)} over {past.Count} jobs): 'stratum jobs why {job.Id}' says what blocks it",
                0, 0, 0, 0, "USD");
        }
    }

    /// <summary>Replica-hours the job ran inside the window (each replica holds its per-replica request).</summary>
    public static double ReplicaHours(AdviceInput input, Job job) =>
        job.Attempts.Sum(a =>
        {
            var start = a.StartedAt > input.Since ? a.StartedAt : input.Since;
            var end = a.EndedAt is { } e && e < input.Now ? e : input.Now;
            return end > start ? (end - start).TotalHours * a.Placement.Count : 0;
        });

    private static int GpusPerReplica(Job job) => job.Spec.Resources.AcceleratorCount;

    private static List<TelemetryBucket> Metric(IReadOnlyList<TelemetryBucket> series, string metric) =>
        [.. series.Where(b => b.Metric == metric).OrderBy(b => b.At)];

    private static PriceModel PriceOf(AdviceInput input, Job job)
    {
        var node = job.CurrentAttempt?.Placement.FirstOrDefault()?.Node;
        return node is not null && input.PoolOfNode.TryGetValue(node, out var pool) && input.Pools.TryGetValue(pool, out var found)
            ? found.Price
            : PriceModel.Free;
    }

    private static string Minutes(TimeSpan span) =>
        span.TotalMinutes >= 120 ? string.Create(CultureInfo.InvariantCulture, $"{span.TotalHours:0.#} h") : string.Create(CultureInfo.InvariantCulture, $"{span.TotalMinutes:0} min");

    private static double Round(double value) => Math.Round(value, 4);

    private static decimal Money(decimal value) => Math.Round(value, 4);
}
