using System.Diagnostics.Metrics;
using Stratum.Execution;

namespace Stratum.Server.Metrics;

/// <summary>
/// This machine's telemetry as gauges: CPU utilisation (between two readings, the first at start), memory, load, network
/// bytes, the data directory's filesystem, and each NVIDIA GPU's utilisation, memory, power and
/// temperature. Readings are taken at scrape time; nvidia-smi is asked at most every few seconds
/// because it can take a while, and a GPU it cannot read is left out (unknown), never reported as 0.
/// </summary>
public sealed class TelemetryMetrics
{
    private static readonly TimeSpan GpuRefresh = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan GpuTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Long enough that the gauges of one scrape share one reading of /proc, short enough that the next scrape reads afresh.</summary>
    private static readonly TimeSpan SampleLifetime = TimeSpan.FromMilliseconds(250);

    private readonly string _node;
    private readonly string _dataDirectory;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private CpuTimes? _previousCpu;
    private double? _cpuUtilization;
    private IReadOnlyList<GpuSample> _gpus = [];
    private DateTimeOffset _gpusAt = DateTimeOffset.MinValue;
    private NodeSample? _sample;
    private DateTimeOffset _sampleAt = DateTimeOffset.MinValue;

    public TelemetryMetrics(IMeterFactory meterFactory, string nodeName, string dataDirectory, TimeProvider time)
    {
        _node = nodeName;
        _dataDirectory = dataDirectory;
        _time = time;
        // The baseline for the first scrape: the server is created at start, so even the first scrape
        // measures a real interval.
        _previousCpu = NodeTelemetry.ReadCpu();
        var meter = meterFactory.Create("Stratum.Telemetry");
        KeyValuePair<string, object?> Node() => new("node", _node);

        meter.CreateObservableGauge("stratum.node.cpu.utilization", () => CpuUtilization() is { } value ? [new Measurement<double>(value, Node())] : Array.Empty<Measurement<double>>(),
            "1", "Busy share of this machine's CPU time since the previous scrape.");
        meter.CreateObservableGauge("stratum.node.memory.usage", () => Memory(s => s.MemoryTotalBytes - s.MemoryAvailableBytes),
            "By", "Memory in use (total less available).");
        meter.CreateObservableGauge("stratum.node.memory.limit", () => Memory(s => s.MemoryTotalBytes),
            "By", "Memory installed.");
        meter.CreateObservableGauge("stratum.node.load_average.1m", () => Sample().LoadAverage1m is { } load ? [new Measurement<double>(load, Node())] : Array.Empty<Measurement<double>>(),
            "{process}", "One-minute load average.");
        meter.CreateObservableCounter("stratum.node.network.io", () => Sample().Network.SelectMany(n => new[]
        {
            new Measurement<long>(n.ReceivedBytes, Node(), new("device", n.Device), new("direction", "receive")),
            new Measurement<long>(n.SentBytes, Node(), new("device", n.Device), new("direction", "transmit")),
        }), "By", "Bytes received and sent per network device since boot.");
        meter.CreateObservableGauge("stratum.node.filesystem.usage", () => Filesystem(d => d.TotalSize - d.AvailableFreeSpace),
            "By", "Bytes used on the filesystem that holds the data directory.");
        meter.CreateObservableGauge("stratum.node.filesystem.limit", () => Filesystem(d => d.TotalSize),
            "By", "Size of the filesystem that holds the data directory.");

        meter.CreateObservableGauge("stratum.gpu.utilization", () => Gpus(g => g.Utilization),
            "1", "GPU busy share as nvidia-smi reports it.");
        meter.CreateObservableGauge("stratum.gpu.memory.usage", () => Gpus(g => g.MemoryUsedBytes),
            "By", "GPU memory in use.");
        meter.CreateObservableGauge("stratum.gpu.power_watts", () => Gpus(g => g.PowerWatts),
            "W", "GPU power draw in watts.");
        meter.CreateObservableGauge("stratum.gpu.temperature_celsius", () => Gpus(g => g.TemperatureCelsius),
            "Cel", "GPU temperature in degrees Celsius.");
    }

    private double? CpuUtilization()
    {
        var current = NodeTelemetry.ReadCpu();
        lock (_gate)
        {
            if (current is { } now && _previousCpu is { } before && NodeTelemetry.CpuUtilization(before, now) is { } value)
            {
                _cpuUtilization = value;
                _previousCpu = now;
            }
            else
            {
                // Two readings within one clock tick (a scrape and an alert evaluation together) show no
                // progress: keep the older baseline, so the next reading measures a real interval.
                _previousCpu ??= current;
            }

            return _cpuUtilization;
        }
    }

    private NodeSample Sample()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_sample is null || now - _sampleAt >= SampleLifetime)
            {
                _sample = NodeTelemetry.Read();
                _sampleAt = now;
            }

            return _sample;
        }
    }

    private IEnumerable<Measurement<long>> Memory(Func<NodeSample, long?> pick) =>
        pick(Sample()) is { } bytes ? [new Measurement<long>(bytes, new KeyValuePair<string, object?>("node", _node))] : [];

    private IEnumerable<Measurement<long>> Filesystem(Func<DriveInfo, long> pick)
    {
        try
        {
            var drive = new DriveInfo(_dataDirectory);
            return [new Measurement<long>(pick(drive), new("node", _node), new("mountpoint", drive.RootDirectory.FullName))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return [];
        }
    }

    private IEnumerable<Measurement<double>> Gpus(Func<GpuSample, double?> pick) =>
        CurrentGpus().Where(g => pick(g) is not null).Select(g => new Measurement<double>(pick(g)!.Value, new("node", _node), new("gpu", g.Index), new("uuid", g.Uuid ?? "")));

    private IReadOnlyList<GpuSample> CurrentGpus()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (now - _gpusAt >= GpuRefresh)
            {
                _gpus = GpuTelemetry.Query(GpuTimeout) is { } csv ? GpuTelemetry.Parse(csv) : [];
                _gpusAt = now;
            }

            return _gpus;
        }
    }
}
