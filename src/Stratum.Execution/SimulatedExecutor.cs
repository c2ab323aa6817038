using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Stratum.Core.Jobs;

namespace Stratum.Execution;

/// <summary>
/// An executor that runs no program, for benchmarks and demos: each replica "runs" from its launch until
/// <see cref="SimulatedJobSettings.DurationVariable"/> has passed (then exits with 0, or the code the job
/// asks for) or until it is stopped, and reports synthetic CPU, memory and GPU use (<see cref="SimulatedUsage"/>)
/// through <see cref="IJobUsageSource"/>. It follows the controller's lifecycle as a real program would:
/// SIGTERM makes it exit after <see cref="SimulatedJobSettings.StopAfterVariable"/> with 143, SIGKILL at
/// once with 137. Like the local executor it keeps what matters in the replica's directory (a start record,
/// a stop record, the exit code, one line per event in stdout.log), so a restarted server sees its replicas
/// where they were; memory only caches those files, because the controller observes every running job every second.
/// </summary>
public sealed partial class SimulatedExecutor : IExecutor, ISupportsLogFiles, IJobUsageSource, IDisposable
{
    public const string ExecutorName = "simulated";

    /// <summary>Exit code of a replica whose settings are malformed (the message is in its stderr.log).</summary>
    public const int BadSettingsExitCode = 2;

    public const int TerminatedExitCode = 128 + 15;

    public const int KilledExitCode = 128 + 9;

    /// <summary>Unix milliseconds of the replica's start.</summary>
    internal const string StartFile = "simulated.start";

    /// <summary>Unix milliseconds of the first SIGTERM.</summary>
    internal const string TerminateFile = "simulated.terminate";

    private readonly JobDirectories _directories;
    private readonly TimeProvider _time;
    private readonly ILogger<SimulatedExecutor> _logger;
    private readonly ConcurrentDictionary<(long Job, int Attempt, int Rank), Replica> _replicas = new();
    private int _announced;

    public SimulatedExecutor(JobDirectories directories, TimeProvider time, ILogger<SimulatedExecutor> logger)
    {
        ArgumentNullException.ThrowIfNull(directories);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _directories = directories;
        _time = time;
        _logger = logger;
    }

    public event Action<long>? ReplicaEnded;

    public string Name => ExecutorName;

    public string LogPath(long jobId, int attempt, int rank, LogStream stream) => _directories.LogPath(jobId, attempt, rank, stream);

    /// <summary>Starts every replica; idempotent per replica, as the local executor's launch is.</summary>
    public Task LaunchAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        if (Interlocked.Exchange(ref _announced, 1) == 0)
        {
            LogInUse();
        }

        var settings = SimulatedJobSettings.From(job.Spec, out var problems);
        foreach (var placement in attempt.Placement)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var key = (job.Id, attempt.Number, placement.Rank);
            var directory = _directories.ReplicaDirectory(job.Id, attempt.Number, placement.Rank);
            if (_replicas.ContainsKey(key) || File.Exists(Path.Combine(directory, StartFile)) || File.Exists(Path.Combine(directory, ReplicaFiles.ExitCode)))
            {
                continue;
            }

            Directory.CreateDirectory(directory);
            var now = _time.GetUtcNow();
            if (settings is null)
            {
                AppendLog(directory, LogStream.Stderr, "stratum-simulated: " + string.Join("; ", problems));
                WriteAtomically(Path.Combine(directory, ReplicaFiles.ExitCode), BadSettingsExitCode.ToString(CultureInfo.InvariantCulture));
                _replicas[key] = new Replica(job.Id, new SimulatedJobSettings(), now) { ExitCode = BadSettingsExitCode };
                LogBadSettings(job.Id, attempt.Number, string.Join("; ", problems));
                ReplicaEnded?.Invoke(job.Id);
                continue;
            }

            AppendLog(directory, LogStream.Stdout, string.Create(CultureInfo.InvariantCulture,
                $"{now:O} simulated replica {placement.Rank} of job {job.Id} started on {placement.Node}; runs {(settings.Duration is { } d ? d.TotalSeconds + " s" : "until stopped")}"));
            WriteAtomically(Path.Combine(directory, StartFile), now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
            var replica = new Replica(job.Id, settings, now);
            _replicas[key] = replica;
            Arm(replica);
        }

        return Task.CompletedTask;
    }

    public Task SignalAsync(Job job, JobAttempt attempt, ReplicaSignal signal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        var now = _time.GetUtcNow();
        foreach (var placement in attempt.Placement)
        {
            var directory = _directories.ReplicaDirectory(job.Id, attempt.Number, placement.Rank);
            if (Find(job, attempt.Number, placement.Rank) is not { } replica || Settle(replica, directory, now) is not null)
            {
                continue;
            }

            lock (replica)
            {
                if (signal == ReplicaSignal.Kill)
                {
                    AppendLog(directory, LogStream.Stdout, string.Create(CultureInfo.InvariantCulture, $"{now:O} received SIGKILL"));
                    Finish(replica, directory, KilledExitCode);
                }
                else if (replica.TerminatedAt is null)
                {
                    AppendLog(directory, LogStream.Stdout, string.Create(CultureInfo.InvariantCulture, $"{now:O} received SIGTERM; exiting in {replica.Settings.StopAfter.TotalSeconds} s"));
                    WriteAtomically(Path.Combine(directory, TerminateFile), now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
                    replica.TerminatedAt = now;
                    Arm(replica);
                }
            }

            LogSignalled(job.Id, attempt.Number, placement.Rank, signal);
        }

        return Task.CompletedTask;
    }

    public Task<AttemptObservation> ObserveAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        var now = _time.GetUtcNow();
        var replicas = new List<ReplicaObservation>(attempt.Placement.Count);
        foreach (var placement in attempt.Placement)
        {
            var directory = _directories.ReplicaDirectory(job.Id, attempt.Number, placement.Rank);
            if (Find(job, attempt.Number, placement.Rank) is not { } replica)
            {
                replicas.Add(new ReplicaObservation(placement.Rank, ReplicaStatus.NotStarted, null, "no simulated start record: the replica was never started"));
                continue;
            }

            if (Settle(replica, directory, now) is { } code)
            {
                // Its exit code is on disk now; the cache keeps only replicas that run, so it stays as small as the cluster.
                _replicas.TryRemove((job.Id, attempt.Number, placement.Rank), out _);
                replicas.Add(new ReplicaObservation(placement.Rank, ReplicaStatus.Exited, code, null));
            }
            else
            {
                replicas.Add(new ReplicaObservation(placement.Rank, ReplicaStatus.Running, null, null));
            }
        }

        return Task.FromResult(new AttemptObservation(replicas));
    }

    /// <summary>Synthetic usage of the running replicas this executor launched (or finds records of), summed per job.</summary>
    public IReadOnlyList<JobUsageReading> SampleUsage(IReadOnlyCollection<Job> runningJobs)
    {
        ArgumentNullException.ThrowIfNull(runningJobs);
        var now = _time.GetUtcNow();
        var readings = new List<JobUsageReading>();
        foreach (var job in runningJobs)
        {
            if (job.CurrentAttempt is not { } attempt)
            {
                continue;
            }

            var processes = 0;
            double cores = 0;
            long memory = 0;
            var gpus = new List<double>();
            foreach (var placement in attempt.Placement)
            {
                if (Find(job, attempt.Number, placement.Rank, readFiles: false) is not { } replica
                    || Settle(replica, _directories.ReplicaDirectory(job.Id, attempt.Number, placement.Rank), now) is not null)
                {
                    continue;
                }

                processes++;
                cores += SimulatedUsage.CpuCores(job, replica.Settings);
                memory += SimulatedUsage.MemoryBytes(job, replica.Settings);
                gpus.AddRange(SimulatedUsage.GpuUtilizations(job, replica.Settings, placement.AcceleratorIndices.Count));
            }

            if (processes == 0)
            {
                continue;
            }

            readings.Add(new JobUsageReading(
                new JobUsageSample(job.Id, attempt.Number, processes, cores, memory, gpus.Count == 0 ? null : gpus.Average()),
                gpus.Count == 0 ? null : gpus));
        }

        return readings;
    }

    public void Dispose()
    {
        foreach (var replica in _replicas.Values)
        {
            lock (replica)
            {
                replica.Timer?.Dispose();
                replica.Timer = null;
            }
        }
    }

    /// <summary>
    /// The replica from the cache, else from its files (a restarted server, or another executor instance).
    /// Usage sampling passes <paramref name="readFiles"/> false: every running job, local ones included, is
    /// offered to it, and only replicas launched or observed here are simulated ones.
    /// </summary>
    private Replica? Find(Job job, int attempt, int rank, bool readFiles = true)
    {
        var key = (job.Id, attempt, rank);
        if (_replicas.TryGetValue(key, out var cached))
        {
            return cached;
        }

        if (!readFiles)
        {
            return null;
        }

        var directory = _directories.ReplicaDirectory(job.Id, attempt, rank);
        var started = ReadMilliseconds(Path.Combine(directory, StartFile));
        var exitText = ProcFs.ReadText(Path.Combine(directory, ReplicaFiles.ExitCode));
        int? exitCode = exitText is not null && int.TryParse(exitText.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code) ? code : null;
        if (started is null && exitCode is null)
        {
            return null;
        }

        var settings = SimulatedJobSettings.From(job.Spec, out _) ?? new SimulatedJobSettings();
        var replica = new Replica(job.Id, settings, started ?? _time.GetUtcNow())
        {
            TerminatedAt = ReadMilliseconds(Path.Combine(directory, TerminateFile)),
            ExitCode = exitCode,
        };
        replica = _replicas.GetOrAdd(key, replica);
        if (replica.ExitCode is null)
        {
            Arm(replica);
        }

        return replica;
    }

    /// <summary>The replica's exit code once it has ended by <paramref name="now"/> (recording it the first time), else null.</summary>
    private static int? Settle(Replica replica, string directory, DateTimeOffset now)
    {
        lock (replica)
        {
            if (replica.ExitCode is { } known)
            {
                return known;
            }

            if (EndOf(replica) is { } end && end.At <= now)
            {
                AppendLog(directory, LogStream.Stdout, string.Create(CultureInfo.InvariantCulture, $"{end.At:O} exited with {end.Code}"));
                Finish(replica, directory, end.Code);
                return end.Code;
            }

            return null;
        }
    }

    /// <summary>When and how the replica ends by itself: its duration or its SIGTERM handling, whichever comes first.</summary>
    private static (DateTimeOffset At, int Code)? EndOf(Replica replica)
    {
        (DateTimeOffset At, int Code)? end = replica.Settings.Duration is { } duration ? (replica.StartedAt + duration, replica.Settings.ExitCode) : null;
        if (replica.TerminatedAt is { } terminated && terminated + replica.Settings.StopAfter is var stopped && (end is null || stopped < end.Value.At))
        {
            end = (stopped, TerminatedExitCode);
        }

        return end;
    }

    private static void Finish(Replica replica, string directory, int code)
    {
        WriteAtomically(Path.Combine(directory, ReplicaFiles.ExitCode), code.ToString(CultureInfo.InvariantCulture));
        replica.ExitCode = code;
        replica.Timer?.Dispose();
        replica.Timer = null;
    }

    /// <summary>A timer for the replica's end, so the controller observes it at once rather than at its next poll.</summary>
    private void Arm(Replica replica)
    {
        lock (replica)
        {
            replica.Timer?.Dispose();
            replica.Timer = null;
            if (replica.ExitCode is null && EndOf(replica) is { } end)
            {
                // Timers count whole milliseconds of a monotonic clock and may fire up to one before the wall
                // clock reaches the end; a replica observed then would not have ended yet. Two spare ones.
                var due = end.At - _time.GetUtcNow() + TimeSpan.FromMilliseconds(2);
                replica.Timer = _time.CreateTimer(OnEnd, replica.JobId, due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void OnEnd(object? state)
    {
        try
        {
            ReplicaEnded?.Invoke((long)state!);
        }
        catch (Exception e)
        {
            // A subscriber's bug must not take the server down from a timer callback.
            LogReplicaEndedHandlerFailed(e, (long)state!);
        }
    }

    private static DateTimeOffset? ReadMilliseconds(string path) =>
        ProcFs.ReadText(path) is { } text && long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : null;

    private static void AppendLog(string directory, LogStream stream, string line) =>
        File.AppendAllText(Path.Combine(directory, JobDirectories.LogFileName(stream)), line + "\n");

    private static void WriteAtomically(string path, string text)
    {
        File.WriteAllText(path + ".tmp", text + "\n");
        File.Move(path + ".tmp", path, overwrite: true);
    }

    private sealed class Replica(long jobId, SimulatedJobSettings settings, DateTimeOffset startedAt)
    {
        public long JobId { get; } = jobId;

        public SimulatedJobSettings Settings { get; } = settings;

        public DateTimeOffset StartedAt { get; } = startedAt;

        public DateTimeOffset? TerminatedAt { get; set; }

        public int? ExitCode { get; set; }

        public ITimer? Timer { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A pool runs on the simulated executor: its jobs run no program and report made-up usage. It is meant for benchmarks and demos, not production")]
    private partial void LogInUse();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Simulated job {JobId} attempt {Attempt} exits with 2: {Problems}")]
    private partial void LogBadSettings(long jobId, int attempt, string problems);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Simulated job {JobId} attempt {Attempt} replica {Rank} received {Signal}")]
    private partial void LogSignalled(long jobId, int attempt, int rank, ReplicaSignal signal);

    [LoggerMessage(Level = LogLevel.Error, Message = "A ReplicaEnded handler failed for job {JobId}")]
    private partial void LogReplicaEndedHandlerFailed(Exception exception, long jobId);
}
