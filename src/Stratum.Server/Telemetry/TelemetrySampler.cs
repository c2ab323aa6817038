using System.Globalization;
using Microsoft.Extensions.Hosting;
using Stratum.Core.Jobs;
using Stratum.Execution;
using Stratum.Persistence;
using Stratum.Server.Leadership;

namespace Stratum.Server.Telemetry;

/// <summary>
/// Every <see cref="ServerOptions.TelemetryInterval"/>, while this server leads (as the controller loop
/// does), reads this machine (CPU, memory, load, disk, network, each GPU) and every running local job
/// (its process tree's CPU and memory, its GPUs' utilisation), asks each <see cref="IJobUsageSource"/>
/// for the jobs its executor runs, and stores the round in one transaction.
/// Once a minute it rolls raw samples up and applies retention. A value that cannot be read is not
/// stored: unknown, never zero.
/// </summary>
public sealed partial class TelemetrySampler(
    IMetadataStore store,
    LeaderElector leadership,
    JobDirectories directories,
    IEnumerable<IJobUsageSource> usageSources,
    ServerOptions options,
    TimeProvider time,
    ILogger<TelemetrySampler> logger) : BackgroundService
{
    private static readonly TimeSpan MaintenanceInterval = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan GpuTimeout = TimeSpan.FromSeconds(5);

    private readonly LocalJobUsageSampler _jobs = new(directories);
    private readonly IReadOnlyList<IJobUsageSource> _sources = [.. usageSources];
    private readonly string _node = LocalNodeDiscovery.DefaultNodeName();
    private readonly string _dataDirectory = Path.GetFullPath(options.DataDirectory);
    private CpuTimes? _previousCpu;
    private (long Received, long Sent, DateTimeOffset At)? _previousNetwork;
    private DateTimeOffset _lastMaintenance = DateTimeOffset.MinValue;
    private volatile IReadOnlyList<JobUsage> _latest = [];

    /// <summary>A running job's latest reading with what it is: for the allocated-versus-used gauges.</summary>
    public sealed record JobUsage(Job Job, JobUsageSample Sample, int? GpusUsed);

    /// <summary>The last round's job readings (empty until the first, and on a server that does not lead).</summary>
    public IReadOnlyList<JobUsage> Latest => _latest;

    /// <summary>Sample rounds stored so far; tests wait on it.</summary>
    public long Rounds { get; private set; }

    /// <summary>Telemetry rows the last round stored: what the table grows by per round before roll-up.</summary>
    public int LastRoundPoints { get; private set; }

    /// <summary>A GPU counts as used by its job above this utilisation (the same threshold as idle-GPU advice).</summary>
    public const double GpuUsedThreshold = 0.05;

    public static string NodeSubject(string node) => "node/" + node;

    public static string JobSubject(long jobId) => "job/" + jobId.ToString(CultureInfo.InvariantCulture);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.TelemetryInterval <= TimeSpan.Zero)
        {
            return;
        }

        _previousCpu = NodeTelemetry.ReadCpu();
        using var timer = new PeriodicTimer(options.TelemetryInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            if (leadership.CurrentFence is null)
            {
                _latest = [];
                continue;
            }

            try
            {
                // /proc walks and nvidia-smi block; keep them off the request threads' pool queue head.
                await Task.Run(() => SampleOnceAsync(stoppingToken), stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogRoundFailed(e);
            }
        }
    }

    /// <summary>One round: read, store, and roll up when a minute has passed. Public for tests and benchmarks.</summary>
    public async Task SampleOnceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var points = new List<TelemetryPoint>();
        var gpus = GpuTelemetry.Query(GpuTimeout) is { } csv ? GpuTelemetry.Parse(csv) : null;
        AddNode(points, now, gpus);

        var running = (await store.Jobs.ListActiveAsync(cancellationToken).ConfigureAwait(false))
            .Where(j => j.State == JobState.Running && j.CurrentAttempt is not null)
            .ToDictionary(j => j.Id);
        var usage = new List<JobUsage>();
        foreach (var sample in _jobs.Sample(running.Values, gpus))
        {
            var job = running[sample.JobId];
            AddJob(points, usage, job, sample, GpusUsed(job, gpus), now);
        }

        // Executors that report their jobs' use themselves (the simulated one) answer for the jobs /proc did not.
        var measured = usage.Select(u => u.Job.Id).ToHashSet();
        var unread = running.Values.Where(j => !measured.Contains(j.Id)).ToList();
        foreach (var source in _sources)
        {
            if (unread.Count == 0)
            {
                break;
            }

            var sampled = new HashSet<long>();
            foreach (var reading in source.SampleUsage(unread))
            {
                if (running.TryGetValue(reading.Usage.JobId, out var job) && sampled.Add(job.Id))
                {
                    var used = reading.GpuUtilizations?.Count(u => u >= GpuUsedThreshold);
                    AddJob(points, usage, job, reading.Usage, used, now);
                }
            }

            unread.RemoveAll(j => sampled.Contains(j.Id));
        }

        await store.Telemetry.RecordAsync(points, cancellationToken).ConfigureAwait(false);
        _latest = usage;
        LastRoundPoints = points.Count;
        Rounds++;

        if (now - _lastMaintenance >= MaintenanceInterval)
        {
            _lastMaintenance = now;
            var done = await store.Telemetry.MaintainAsync(now, new TelemetryRetention { MaxRawRows = options.TelemetryMaxRawRows }, cancellationToken).ConfigureAwait(false);
            LogMaintained(done.MinuteBuckets, done.HourBuckets, done.Deleted, done.RawOverBound);
        }
    }

    private static void AddJob(List<TelemetryPoint> points, List<JobUsage> usage, Job job, JobUsageSample sample, int? gpusUsed, DateTimeOffset now)
    {
        var subject = JobSubject(job.Id);
        Add(points, subject, "cpu_cores", now, sample.CpuCores);
        Add(points, subject, "memory_bytes", now, sample.MemoryBytes);
        Add(points, subject, "gpu_utilization", now, sample.GpuUtilization);
        Add(points, subject, "gpus_used", now, gpusUsed);
        usage.Add(new JobUsage(job, sample, gpusUsed));
    }

    /// <summary>How many of the job's GPUs are busier than <see cref="GpuUsedThreshold"/>; unknown when any has no reading.</summary>
    public static int? GpusUsed(Job job, IReadOnlyList<GpuSample>? gpus)
    {
        var indices = job.CurrentAttempt?.Placement.SelectMany(p => p.AcceleratorIndices).ToList() ?? [];
        if (indices.Count == 0 || gpus is null)
        {
            return null;
        }

        var used = 0;
        foreach (var index in indices)
        {
            if (gpus.FirstOrDefault(g => g.Index == index)?.Utilization is not { } utilization)
            {
                return null;
            }

            used += utilization >= GpuUsedThreshold ? 1 : 0;
        }

        return used;
    }

    private void AddNode(List<TelemetryPoint> points, DateTimeOffset now, IReadOnlyList<GpuSample>? gpus)
    {
        var subject = NodeSubject(_node);
        var sample = NodeTelemetry.Read();
        if (_previousCpu is { } previous && sample.Cpu is { } current)
        {
            Add(points, subject, "cpu_utilization", now, NodeTelemetry.CpuUtilization(previous, current));
        }

        _previousCpu = sample.Cpu ?? _previousCpu;
        Add(points, subject, "memory_used_bytes", now, sample.MemoryTotalBytes - sample.MemoryAvailableBytes);
        Add(points, subject, "memory_total_bytes", now, sample.MemoryTotalBytes);
        Add(points, subject, "load_1m", now, sample.LoadAverage1m);
        try
        {
            var drive = new DriveInfo(_dataDirectory);
            Add(points, subject, "disk_used_bytes", now, drive.TotalSize - drive.AvailableFreeSpace);
            Add(points, subject, "disk_total_bytes", now, drive.TotalSize);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Unknown this round.
        }

        if (sample.Network.Count > 0)
        {
            var received = sample.Network.Sum(n => n.ReceivedBytes);
            var sent = sample.Network.Sum(n => n.SentBytes);
            if (_previousNetwork is { } net && (now - net.At).TotalSeconds is var seconds && seconds > 0 && received >= net.Received && sent >= net.Sent)
            {
                Add(points, subject, "network_receive_bytes_per_second", now, (received - net.Received) / seconds);
                Add(points, subject, "network_transmit_bytes_per_second", now, (sent - net.Sent) / seconds);
            }

            _previousNetwork = (received, sent, now);
        }

        foreach (var gpu in gpus ?? [])
        {
            var prefix = "gpu" + gpu.Index.ToString(CultureInfo.InvariantCulture) + "_";
            Add(points, subject, prefix + "utilization", now, gpu.Utilization);
            Add(points, subject, prefix + "memory_used_bytes", now, gpu.MemoryUsedBytes);
            Add(points, subject, prefix + "power_watts", now, gpu.PowerWatts);
            Add(points, subject, prefix + "temperature_celsius", now, gpu.TemperatureCelsius);
        }
    }

    private static void Add(List<TelemetryPoint> points, string subject, string metric, DateTimeOffset at, double? value)
    {
        if (value is { } known && double.IsFinite(known))
        {
            points.Add(new TelemetryPoint(subject, metric, at, known));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Telemetry round failed; the next one follows at the interval")]
    private partial void LogRoundFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Telemetry rolled up {Minutes} minute and {Hours} hour buckets, deleted {Deleted} rows past retention ({OverBound} raw rows over telemetryMaxRawRows)")]
    private partial void LogMaintained(int minutes, int hours, int deleted, int overBound);
}
