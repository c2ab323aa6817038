using Microsoft.Extensions.Logging.Abstractions;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Execution.Tests;

/// <summary>
/// The simulated executor on a hand-moved clock: it runs for its duration, follows SIGTERM and SIGKILL as
/// the controller uses them, keeps its state on disk for the next server, and reports made-up usage that is
/// the same every time for the same job.
/// </summary>
public sealed class SimulatedExecutorTests : IDisposable
{
    private static long _nextJobId = 50_000;
    private readonly TempDirectory _temp = new();
    private readonly HandClock _clock = new(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
    private readonly JobDirectories _directories;
    private readonly SimulatedExecutor _executor;

    public SimulatedExecutorTests()
    {
        _directories = new JobDirectories(_temp.File("jobs"));
        _executor = NewExecutor();
    }

    public void Dispose()
    {
        _executor.Dispose();
        _temp.Dispose();
    }

    [Fact]
    public async Task Launch_WithDuration_RunsThatLongThenExitsZeroWithLogLines()
    {
        var (job, attempt) = Job(new() { [SimulatedJobSettings.DurationVariable] = "300s" });
        await _executor.LaunchAsync(job, attempt);

        _clock.Advance(TimeSpan.FromSeconds(299));
        Assert.Equal(ReplicaStatus.Running, (await _executor.ObserveAsync(job, attempt)).Replicas.Single().Status);

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(new ReplicaObservation(0, ReplicaStatus.Exited, 0, null), (await _executor.ObserveAsync(job, attempt)).Replicas.Single());
        var log = File.ReadAllText(_directories.LogPath(job.Id, 1, 0, LogStream.Stdout));
        Assert.Contains("started on node-a; runs 300 s", log, StringComparison.Ordinal);
        Assert.Contains("exited with 0", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Launch_WithoutDuration_RunsUntilStopped()
    {
        var (job, attempt) = Job([]);
        await _executor.LaunchAsync(job, attempt);

        _clock.Advance(TimeSpan.FromDays(30));

        Assert.Equal(ReplicaStatus.Running, (await _executor.ObserveAsync(job, attempt)).Replicas.Single().Status);
    }

    [Fact]
    public async Task Terminate_ExitsWith143AfterItsStopTime()
    {
        var (job, attempt) = Job(new() { [SimulatedJobSettings.StopAfterVariable] = "5s" });
        await _executor.LaunchAsync(job, attempt);
        await _executor.SignalAsync(job, attempt, ReplicaSignal.Terminate);

        _clock.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(ReplicaStatus.Running, (await _executor.ObserveAsync(job, attempt)).Replicas.Single().Status);

        // A second SIGTERM does not restart the countdown.
        await _executor.SignalAsync(job, attempt, ReplicaSignal.Terminate);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var replica = (await _executor.ObserveAsync(job, attempt)).Replicas.Single();
        Assert.Equal((ReplicaStatus.Exited, (int?)SimulatedExecutor.TerminatedExitCode), (replica.Status, replica.ExitCode));
        Assert.Contains("received SIGTERM", File.ReadAllText(_directories.LogPath(job.Id, 1, 0, LogStream.Stdout)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kill_AfterGraceOfASlowCheckpoint_ExitsWith137AtOnce()
    {
        // Preemption with grace: SIGTERM, the program needs longer than the grace period, SIGKILL.
        var (job, attempt) = Job(new() { [SimulatedJobSettings.StopAfterVariable] = "1h" });
        await _executor.LaunchAsync(job, attempt);
        await _executor.SignalAsync(job, attempt, ReplicaSignal.Terminate);
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(ReplicaStatus.Running, (await _executor.ObserveAsync(job, attempt)).Replicas.Single().Status);

        await _executor.SignalAsync(job, attempt, ReplicaSignal.Kill);

        Assert.Equal(SimulatedExecutor.KilledExitCode, (await _executor.ObserveAsync(job, attempt)).Replicas.Single().ExitCode);
    }

    [Fact]
    public async Task NewExecutor_OnTheSameDirectory_SeesRunningAndStoppingReplicasWhereTheyWere()
    {
        var (job, attempt) = Job(new() { [SimulatedJobSettings.DurationVariable] = "1h", [SimulatedJobSettings.StopAfterVariable] = "30s" });
        var (other, otherAttempt) = Job(new() { [SimulatedJobSettings.DurationVariable] = "10m" });
        await _executor.LaunchAsync(job, attempt);
        await _executor.LaunchAsync(other, otherAttempt);
        _clock.Advance(TimeSpan.FromMinutes(5));
        await _executor.SignalAsync(job, attempt, ReplicaSignal.Terminate);

        using var restarted = NewExecutor();
        Assert.Equal(ReplicaStatus.Running, (await restarted.ObserveAsync(job, attempt)).Replicas.Single().Status);
        Assert.Equal(ReplicaStatus.Running, (await restarted.ObserveAsync(other, otherAttempt)).Replicas.Single().Status);

        _clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(SimulatedExecutor.TerminatedExitCode, (await restarted.ObserveAsync(job, attempt)).Replicas.Single().ExitCode);
        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(0, (await restarted.ObserveAsync(other, otherAttempt)).Replicas.Single().ExitCode);

        // Launching again (a launch repeated after a crash) starts nothing: the recorded end stands.
        await restarted.LaunchAsync(other, otherAttempt);
        Assert.Equal(0, (await restarted.ObserveAsync(other, otherAttempt)).Replicas.Single().ExitCode);
    }

    [Fact]
    public async Task NeverLaunched_ObservedNotStarted()
    {
        var (job, attempt) = Job([]);

        Assert.Equal(ReplicaStatus.NotStarted, (await _executor.ObserveAsync(job, attempt)).Replicas.Single().Status);
    }

    [Fact]
    public async Task MalformedSettings_ExitWithTwoAndStderrNamesEachVariable()
    {
        var (job, attempt) = Job(new()
        {
            [SimulatedJobSettings.DurationVariable] = "forever",
            [SimulatedJobSettings.GpuUtilizationVariable] = "0.5,150%",
        });
        var ended = new List<long>();
        _executor.ReplicaEnded += ended.Add;

        await _executor.LaunchAsync(job, attempt);

        Assert.Equal(SimulatedExecutor.BadSettingsExitCode, (await _executor.ObserveAsync(job, attempt)).Replicas.Single().ExitCode);
        var stderr = File.ReadAllText(_directories.LogPath(job.Id, 1, 0, LogStream.Stderr));
        Assert.Contains("SIM_DURATION='forever' is not a duration", stderr, StringComparison.Ordinal);
        Assert.Contains("'150%' is not a utilisation", stderr, StringComparison.Ordinal);
        Assert.Equal([job.Id], ended);
        Assert.Empty(_executor.SampleUsage([job]));
    }

    [Fact]
    public async Task ReplicaEnded_IsRaisedWhenTheDurationPasses()
    {
        using var executor = new SimulatedExecutor(_directories, TimeProvider.System, NullLogger<SimulatedExecutor>.Instance);
        var ended = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        executor.ReplicaEnded += id => ended.TrySetResult(id);
        var (job, attempt) = Job(new() { [SimulatedJobSettings.DurationVariable] = "1s" });

        await executor.LaunchAsync(job, attempt);

        Assert.Equal(job.Id, await ended.Task.WaitAsync(Poll.DefaultTimeout));
        Assert.Equal(0, (await executor.ObserveAsync(job, attempt)).Replicas.Single().ExitCode);
    }

    [Fact]
    public async Task SampleUsage_GivenSettings_SumsReplicasAndReportsEachGpu()
    {
        var (job, attempt) = Job(
            new()
            {
                [SimulatedJobSettings.CpuVariable] = "1500m",
                [SimulatedJobSettings.MemoryVariable] = "2Gi",
                [SimulatedJobSettings.GpuUtilizationVariable] = "90%,0.5",
            },
            replicas: 2,
            gpusPerReplica: 4);
        await _executor.LaunchAsync(job, attempt);

        var reading = Assert.Single(_executor.SampleUsage([job]));

        Assert.Equal(2, reading.Usage.Processes);
        Assert.Equal(3.0, reading.Usage.CpuCores);
        Assert.Equal(4L << 30, reading.Usage.MemoryBytes);
        Assert.Equal([0.9, 0.5, 0, 0, 0.9, 0.5, 0, 0], reading.GpuUtilizations!);
        Assert.Equal(2.8 / 8, reading.Usage.GpuUtilization!.Value, 6);
    }

    [Fact]
    public async Task SampleUsage_Drawn_IsTheSameForTheSameJobAndWithinItsRequest()
    {
        var jobs = new List<Job>();
        for (var i = 0; i < 50; i++)
        {
            var (job, attempt) = Job([], gpusPerReplica: 4);
            await _executor.LaunchAsync(job, attempt);
            jobs.Add(job);
        }

        var first = _executor.SampleUsage(jobs);
        using var other = NewExecutor();
        var again = other.SampleUsage(jobs);
        Assert.Empty(again); // Sampling reads no files: a job is sampled by the executor that launched or observed it.
        foreach (var job in jobs)
        {
            await other.ObserveAsync(job, job.CurrentAttempt!);
        }

        again = other.SampleUsage(jobs);
        Assert.Equal(first.Select(r => (r.Usage, string.Join(',', r.GpuUtilizations!))), again.Select(r => (r.Usage, string.Join(',', r.GpuUtilizations!))));
        Assert.All(first, r =>
        {
            Assert.InRange(r.Usage.CpuCores!.Value, 0.15 * 4, 4);
            Assert.InRange(r.Usage.MemoryBytes!.Value, (long)(0.2 * (8L << 30)), 8L << 30);
            Assert.All(r.GpuUtilizations!, u => Assert.InRange(u, 0, 1));
        });

        // Some jobs keep every GPU busy, some only part of them, some none: the spread advice needs.
        var busy = first.Select(r => r.GpuUtilizations!.Count(u => u >= 0.05)).ToList();
        Assert.Contains(0, busy);
        Assert.Contains(4, busy);
        Assert.Contains(busy, b => b is > 0 and < 4);
    }

    [Fact]
    public async Task SampleUsage_LeavesOutJobsItDidNotLaunchAndReplicasThatEnded()
    {
        var (ended, endedAttempt) = Job(new() { [SimulatedJobSettings.DurationVariable] = "1m" });
        var (running, runningAttempt) = Job([]);
        var (local, _) = Job([]);
        await _executor.LaunchAsync(ended, endedAttempt);
        await _executor.LaunchAsync(running, runningAttempt);
        _clock.Advance(TimeSpan.FromMinutes(2));

        var readings = _executor.SampleUsage([ended, running, local]);

        Assert.Equal([running.Id], readings.Select(r => r.Usage.JobId));
        Assert.Null(readings[0].GpuUtilizations);
        Assert.Null(readings[0].Usage.GpuUtilization);
    }

    private SimulatedExecutor NewExecutor() => new(_directories, _clock, NullLogger<SimulatedExecutor>.Instance);

    private static (Job Job, JobAttempt Attempt) Job(Dictionary<string, string> environment, int replicas = 1, int gpusPerReplica = 0)
    {
        var attempt = new JobAttempt
        {
            Number = 1,
            StartedAt = DateTimeOffset.UnixEpoch,
            Placement = [.. Enumerable.Range(0, replicas).Select(rank => new ReplicaPlacement(rank, "node-a", [.. Enumerable.Range(rank * gpusPerReplica, gpusPerReplica)]))],
        };
        var job = Make.Job(Interlocked.Increment(ref _nextJobId), ["train"], replicas, environment: environment) with
        {
            Attempts = [attempt],
        };
        job = job with
        {
            Spec = job.Spec with
            {
                Resources = new ResourceVector(4000, 8L << 30, gpusPerReplica == 0 ? [] : [new KeyValuePair<string, int>("nvidia-h100", gpusPerReplica)]),
            },
        };
        return (job, attempt);
    }

    /// <summary>A clock the test moves; timers it creates run on real time, which these tests do not wait for.</summary>
    private sealed class HandClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
