using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Stratum.Server.Metrics;

/// <summary>
/// Serves System.Diagnostics.Metrics instruments in the Prometheus text exposition format (0.0.4).
/// Written here because neither the OpenTelemetry Prometheus exporter nor prometheus-net is served by
/// the package mirror this project builds from; the instruments themselves are standard .NET ones, so
/// an OpenTelemetry exporter can replace this class without touching them.
/// It listens to Stratum's own meters and to ASP.NET Core's (http.server.request.duration), keeps the
/// running aggregates (counter sums, histogram buckets, last gauge values) per label set, and renders
/// them on scrape. Names follow the OpenTelemetry-to-Prometheus convention: dots become underscores, the
/// unit becomes a suffix ("s" → _seconds, "By" → _bytes), counters end in _total.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>OpenTelemetry's default histogram boundaries, used when an instrument gives no advice.</summary>
    private static readonly double[] DefaultBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Series> _series = new();
    private readonly Func<Meter, bool> _includeMeter;

    // One render at a time: observable gauges are cleared and re-recorded per render, so a scrape and an
    // alert evaluation interleaving would each see the other's half-cleared series.
    private readonly Lock _renderLock = new();

    public PrometheusExporter(Func<Meter, bool>? includeMeter = null)
    {
        _includeMeter = includeMeter ?? (meter => meter.Name.StartsWith("Stratum", StringComparison.Ordinal) || meter.Name == "Microsoft.AspNetCore.Hosting");
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (_includeMeter(instrument.Meter))
            {
                _series[instrument] = new Series(instrument, Boundaries(instrument));
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<float>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>The current values of every instrument, as Prometheus text.</summary>
    public string Render()
    {
        lock (_renderLock)
        {
            return RenderLocked();
        }
    }

    private string RenderLocked()
    {
        // Observable instruments report only when asked; their last values replace the previous ones.
        foreach (var series in _series.Values.Where(s => s.IsObservable))
        {
            series.ClearGauges();
        }

        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        foreach (var group in _series.Values.GroupBy(s => s.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            // Two meters may publish the same name (for example two servers in one test process):
            // merge them under one HELP/TYPE header.
            var first = group.First();
            text.Append("# HELP ").Append(first.Name).Append(' ').Append(Escape(first.Help, inLabel: false)).Append('\n');
            text.Append("# TYPE ").Append(first.Name).Append(' ').Append(first.Type).Append('\n');
            foreach (var series in group)
            {
                series.Render(text);
            }
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_series.TryGetValue(instrument, out var series))
        {
            series.Record(value, tags);
        }
    }

    private static double[] Boundaries(Instrument instrument) => instrument switch
    {
        Histogram<double> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } advice => [.. advice],
        Histogram<long> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } advice => [.. advice.Select(b => (double)b)],
        Histogram<int> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } advice => [.. advice.Select(b => (double)b)],
        _ => DefaultBoundaries,
    };

    internal static string MetricName(Instrument instrument)
    {
        var name = new StringBuilder();
        foreach (var c in instrument.Name)
        {
            name.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        var suffix = instrument.Unit switch
        {
            "s" => "_seconds",
            "ms" => "_milliseconds",
            "By" => "_bytes",
            "1" => "_ratio",
            _ => "",
        };
        if (suffix.Length > 0 && !name.ToString().EndsWith(suffix, StringComparison.Ordinal))
        {
            name.Append(suffix);
        }

        if (instrument is Counter<long> or Counter<double> or Counter<int> or ObservableCounter<long> or ObservableCounter<double> or ObservableCounter<int>)
        {
            name.Append("_total");
        }

        return name.ToString();
    }

    internal static string Escape(string text, bool inLabel)
    {
        var escaped = text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
        return inLabel ? escaped.Replace("\"", "\\\"", StringComparison.Ordinal) : escaped;
    }

    internal static string FormatValue(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN"
        : value.ToString("G17", CultureInfo.InvariantCulture);

    /// <summary>The aggregates of one instrument, keyed by its label set.</summary>
    private sealed class Series
    {
        private readonly Instrument _instrument;
        private readonly double[] _boundaries;
        private readonly ConcurrentDictionary<string, Aggregate> _byLabels = new(StringComparer.Ordinal);

        public Series(Instrument instrument, double[] boundaries)
        {
            _instrument = instrument;
            _boundaries = boundaries;
            Name = MetricName(instrument);
            Help = instrument.Description ?? instrument.Name;
            Type = instrument switch
            {
                Counter<long> or Counter<double> or Counter<int> or ObservableCounter<long> or ObservableCounter<double> or ObservableCounter<int> => "counter",
                Histogram<long> or Histogram<double> or Histogram<int> => "histogram",
                _ => "gauge",
            };
            IsObservable = instrument.IsObservable;
        }

        public string Name { get; }

        public string Help { get; }

        public string Type { get; }

        public bool IsObservable { get; }

        public void ClearGauges() => _byLabels.Clear();

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = Labels(tags);
            var aggregate = _byLabels.GetOrAdd(labels, _ => new Aggregate(_boundaries.Length));
            lock (aggregate)
            {
                switch (Type)
                {
                    case "histogram":
                        aggregate.Count++;
                        aggregate.Sum += value;
                        var bucket = Array.FindIndex(_boundaries, b => value <= b);
                        aggregate.Buckets[bucket < 0 ? _boundaries.Length : bucket]++;
                        break;
                    case "counter" when !IsObservable:
                    case "gauge" when _instrument is UpDownCounter<long> or UpDownCounter<double> or UpDownCounter<int>:
                        aggregate.Sum += value;
                        break;
                    default:
                        // Observable counters report their running total, gauges their current value.
                        aggregate.Sum = value;
                        break;
                }
            }
        }

        public void Render(StringBuilder text)
        {
            foreach (var (labels, aggregate) in _byLabels.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                lock (aggregate)
                {
                    if (Type != "histogram")
                    {
                        Line(text, Name, labels, aggregate.Sum);
                        continue;
                    }

                    long cumulative = 0;
                    for (var i = 0; i < _boundaries.Length; i++)
                    {
                        cumulative += aggregate.Buckets[i];
                        Line(text, Name + "_bucket", Join(labels, $"le=\"{FormatValue(_boundaries[i])}\""), cumulative);
                    }

                    Line(text, Name + "_bucket", Join(labels, "le=\"+Inf\""), aggregate.Count);
                    Line(text, Name + "_sum", labels, aggregate.Sum);
                    Line(text, Name + "_count", labels, aggregate.Count);
                }
            }
        }

        private static void Line(StringBuilder text, string name, string labels, double value)
        {
            text.Append(name);
            if (labels.Length > 0)
            {
                text.Append('{').Append(labels).Append('}');
            }

            text.Append(' ').Append(FormatValue(value)).Append('\n');
        }

        private static string Join(string labels, string extra) => labels.Length == 0 ? extra : labels + "," + extra;

        private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length == 0)
            {
                return "";
            }

            var pairs = new List<(string Key, string Value)>(tags.Length);
            foreach (var (key, value) in tags)
            {
                var name = new string(key.Select(c => char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_').ToArray());
                pairs.Add((name, Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""));
            }

            return string.Join(",", pairs.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}=\"{Escape(p.Value, inLabel: true)}\""));
        }

        private sealed class Aggregate(int boundaries)
        {
            public double Sum { get; set; }

            public long Count { get; set; }

            public long[] Buckets { get; } = new long[boundaries + 1];
        }
    }
}
