using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Server.Advice;

namespace Stratum.Server.Tests;

/// <summary>Each advice rule on a fixed clock with synthetic one-minute series.</summary>
public sealed class AdviceRulesTests
{
    private const long Gib = 1L << 30;
    private static readonly DateTimeOffset Now = new(2025, 6, 2, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Since = Now.AddDays(-1);
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(1);
    private static readonly PriceModel Price = new(PricingKind.OnDemand, PerAcceleratorHour: 2m, PerCpuCoreHour: 0.05m, PerMemoryGbHour: 0.01m, Currency: "EUR");

    [Fact]
    public void Idle_GpusUnder5PercentFor30Minutes_RecommendsReleaseWithIdleGpuHours()
    {
        // Ran 2 h: busy for the first 60 minutes, then 60 minutes idle up to now.
        var job = Running(1, started: Now.AddHours(-2), ResourceVector.Of(cpus: 4, memoryBytes: 8 * Gib, "nvidia-a100", 2), gpus: [0, 1]);
        var series = Series("gpu_utilization", Now.AddHours(-2), 120, i => i < 60 ? 0.8 : 0.01);

        var advice = AdviceRules.Idle(Input([job], (1, series)), job, series);

        Assert.NotNull(advice);
        Assert.Equal(AdviceRules.IdleGpus, advice.Kind);
        Assert.Equal(2 * 1.0, advice.GpuHoursSaved, 6);     // 2 GPUs x 60 idle minutes
        Assert.Equal(4m, advice.MoneySaved);                // x 2 EUR per GPU-hour
        Assert.Equal("EUR", advice.Currency);
        Assert.Contains("60 min", advice.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Idle_OnlyTwentyMinutesIdleOrNotRunning_NoAdvice()
    {
        var job = Running(1, started: Now.AddHours(-1), ResourceVector.Of(cpus: 1, memoryBytes: Gib, "nvidia-a100", 1), gpus: [0]);
        var recent = Series("gpu_utilization", Now.AddHours(-1), 60, i => i < 40 ? 0.5 : 0.0);
        var allIdle = Series("gpu_utilization", Now.AddHours(-1), 60, _ => 0.0);

        Assert.Null(AdviceRules.Idle(Input([job], (1, recent)), job, recent));
        Assert.Null(AdviceRules.Idle(Input([job], (1, allIdle)), job with { State = JobState.Succeeded }, allIdle));
        // Telemetry that stopped an hour ago says nothing about now.
        var stale = Series("gpu_utilization", Now.AddHours(-3), 60, _ => 0.0);
        Assert.Null(AdviceRules.Idle(Input([job], (1, stale)), job, stale));
    }

    [Fact]
    public void Gpus_FourRequestedAtMostTwoBusy_RecommendsTwo()
    {
        var job = Running(2, started: Now.AddHours(-3), ResourceVector.Of(cpus: 8, memoryBytes: 16 * Gib, "nvidia-h100", 4), gpus: [0, 1, 2, 3]);
        var series = Series("gpus_used", Now.AddHours(-3), 180, i => i % 2 == 0 ? 2 : 1);

        var advice = AdviceRules.Gpus(Input([job], (2, series)), job, series);

        Assert.NotNull(advice);
        Assert.Contains("request 2", advice.Message, StringComparison.Ordinal);
        Assert.Equal(2 * 3.0, advice.GpuHoursSaved, 6);     // 2 spare GPUs x 3 h
        Assert.Equal(12m, advice.MoneySaved);
    }

    [Fact]
    public void Gpus_AllUsedAtPeak_NoAdvice()
    {
        var job = Running(2, started: Now.AddHours(-3), ResourceVector.Of(cpus: 8, memoryBytes: 16 * Gib, "nvidia-h100", 4), gpus: [0, 1, 2, 3]);
        var series = Series("gpus_used", Now.AddHours(-3), 180, i => i == 100 ? 4 : 1);

        Assert.Null(AdviceRules.Gpus(Input([job], (2, series)), job, series));
    }

    [Fact]
    public void Memory_32GiRequestedPeak3Gi_RecommendsPeakPlusQuarterRoundedUp()
    {
        var job = Running(3, started: Now.AddHours(-10), ResourceVector.Of(cpus: 2, memoryBytes: 32 * Gib), gpus: []);
        var series = Series("memory_bytes", Now.AddHours(-10), 600, i => i == 300 ? 3.0 * Gib : 2.0 * Gib);

        var advice = AdviceRules.Memory(Input([job], (3, series)), job, series);

        Assert.NotNull(advice);
        Assert.Contains("request 4Gi", advice.Message, StringComparison.Ordinal); // 3 GiB x 1.25 = 3.75 -> 4
        Assert.Equal((32 - 4) * 10.0, advice.MemoryGbHoursSaved, 6);
        Assert.Equal(2.8m, advice.MoneySaved);
        Assert.Equal(0, advice.GpuHoursSaved);
    }

    [Fact]
    public void Memory_PeakNearRequest_NoAdvice()
    {
        var job = Running(3, started: Now.AddHours(-1), ResourceVector.Of(cpus: 2, memoryBytes: 4 * Gib), gpus: []);
        var series = Series("memory_bytes", Now.AddHours(-1), 60, _ => 2.5 * Gib);

        Assert.Null(AdviceRules.Memory(Input([job], (3, series)), job, series));
    }

    [Fact]
    public void Cpu_FourRequestedAlmostNoneUsed_RecommendsOneCore()
    {
        var job = Finished(4, started: Now.AddHours(-5), ended: Now.AddHours(-1), ResourceVector.Of(cpus: 4, memoryBytes: Gib));
        var series = Series("cpu_cores", Now.AddHours(-5), 240, _ => 0.02);

        var advice = AdviceRules.Cpu(Input([job], (4, series)), job, series);

        Assert.NotNull(advice);
        Assert.Equal(AdviceRules.CpuOverRequest, advice.Kind);
        Assert.Contains("request 1", advice.Message, StringComparison.Ordinal);
        Assert.Equal(3 * 4.0, advice.CpuHoursSaved, 6);     // 3 spare cores x the 4 h it ran
        Assert.Equal(0.6m, advice.MoneySaved);
    }

    [Fact]
    public void Cpu_TooFewSamples_NoAdvice()
    {
        var job = Finished(4, started: Now.AddHours(-5), ended: Now.AddHours(-1), ResourceVector.Of(cpus: 4, memoryBytes: Gib));
        var series = Series("cpu_cores", Now.AddHours(-5), AdviceRules.MinimumSamples - 1, _ => 0.0, samplesPerBucket: 1);

        Assert.Null(AdviceRules.Cpu(Input([job], (4, series)), job, series));
    }

    [Fact]
    public void Pending_WaitingFarLongerThanProjectP90_IsFlagged()
    {
        // Ten past jobs that waited 1..10 minutes: p90 is 9 minutes.
        var past = Enumerable.Range(1, 10).Select(i => Finished(100 + i, started: Now.AddHours(-3).AddMinutes(i), ended: Now.AddHours(-2),
            ResourceVector.Of(cpus: 1, memoryBytes: Gib)) with { SubmittedAt = Now.AddHours(-3) }).ToList();
        var waiting = Pending(200, submitted: Now.AddMinutes(-19));
        var shortWait = Pending(201, submitted: Now.AddMinutes(-17));

        var advice = AdviceRules.Pending(Input([.. past, waiting, shortWait])).ToList();

        var flagged = Assert.Single(advice);
        Assert.Equal((AdviceRules.LongPending, 200L), (flagged.Kind, flagged.JobId!.Value));
        Assert.Contains("p90 9 min", flagged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_OrdersByMoneySavedAndDoesNotCountIdleGpusTwice()
    {
        var idle = Running(1, started: Now.AddHours(-2), ResourceVector.Of(cpus: 1, memoryBytes: Gib, "nvidia-a100", 4), gpus: [0, 1, 2, 3]);
        var cpu = Finished(4, started: Now.AddHours(-5), ended: Now.AddHours(-1), ResourceVector.Of(cpus: 4, memoryBytes: Gib));
        var input = Input([cpu, idle],
            (1, [.. Series("gpu_utilization", Now.AddHours(-2), 120, _ => 0.0), .. Series("gpus_used", Now.AddHours(-2), 120, _ => 0)]),
            (4, Series("cpu_cores", Now.AddHours(-5), 240, _ => 0.02)));

        var advice = AdviceRules.Evaluate(input);

        Assert.Equal([AdviceRules.IdleGpus, AdviceRules.CpuOverRequest], advice.Select(a => a.Kind));
        Assert.Equal(16m, advice[0].MoneySaved);
    }

    private static AdviceInput Input(IReadOnlyList<Job> jobs, params (long Job, IReadOnlyList<TelemetryBucket> Series)[] series) => new(
        Now, Since, Step, jobs,
        new Dictionary<string, string> { ["n1"] = "paid" },
        new Dictionary<string, Pool> { ["paid"] = new() { Name = "paid", Price = Price } },
        series.ToDictionary(s => s.Job, s => s.Series));

    /// <summary>One bucket a minute of <paramref name="samplesPerBucket"/> samples (six: a 10 s interval).</summary>
    private static List<TelemetryBucket> Series(string metric, DateTimeOffset from, int minutes, Func<int, double> value, int samplesPerBucket = 6) =>
        [.. Enumerable.Range(0, minutes).Select(i => new TelemetryBucket("job/x", metric, from.Add(Step * i), value(i), value(i), samplesPerBucket))];

    private static JobSpec Spec(long id, ResourceVector resources) => new()
    {
        Name = $"job-{id}", Project = "research", Command = ["train"], Resources = resources,
    };

    private static Job Running(long id, DateTimeOffset started, ResourceVector resources, int[] gpus) => new()
    {
        Id = id, Owner = "alice", State = JobState.Running, SubmittedAt = started.AddMinutes(-1), Spec = Spec(id, resources),
        Attempts = [new JobAttempt { Number = 1, StartedAt = started, Placement = [new ReplicaPlacement(0, "n1", gpus)] }],
    };

    private static Job Finished(long id, DateTimeOffset started, DateTimeOffset ended, ResourceVector resources) =>
        Running(id, started, resources, []) with
        {
            State = JobState.Succeeded,
            Attempts = [new JobAttempt { Number = 1, StartedAt = started, EndedAt = ended, ExitCode = 0, Placement = [new ReplicaPlacement(0, "n1", [])] }],
        };

    private static Job Pending(long id, DateTimeOffset submitted) => new()
    {
        Id = id, Owner = "alice", State = JobState.Pending, SubmittedAt = submitted, Spec = Spec(id, ResourceVector.Of(cpus: 1, memoryBytes: Gib)),
    };
}
