using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;

namespace Stratum.Server.Alerts;

/// <summary>
/// Sends alerts to webhook receivers in Alertmanager's webhook format (version 4), so receivers
/// written for Alertmanager work unchanged. Each receiver has its own queue and worker: a receiver
/// that hangs or fails delays only its own messages, never the evaluation loop or other receivers.
/// Failed posts are retried with exponential backoff on the injected delay (the clock); 4xx answers
/// other than 408 and 429 are not retried because sending the same body again cannot help.
/// URLs are logged without their path, query or user info, which is where webhook secrets live.
/// </summary>
public sealed partial class WebhookNotifier : IAsyncDisposable
{
    /// <summary>Per receiver; the oldest message is dropped (and logged) beyond this.</summary>
    public const int QueueCapacity = 1000;

    private static readonly JsonSerializerOptions PayloadJson = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly Func<TimeSpan, CancellationToken, Task> _delay;
    private readonly ConcurrentDictionary<string, Worker> _workers = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;
    private long _delivered;
    private long _failed;

    /// <summary><paramref name="delay"/> waits between attempts: the server passes Task.Delay on its TimeProvider, tests a fake that returns at once.</summary>
    public WebhookNotifier(HttpClient http, ILogger<WebhookNotifier> logger, Func<TimeSpan, CancellationToken, Task> delay)
    {
        _http = http;
        _logger = logger;
        _delay = delay;
    }

    /// <summary>Attempts per message before it is dropped. Default 8 (about 4 minutes of backoff).</summary>
    public int MaxAttempts { get; init; } = 8;

    /// <summary>The first wait between attempts; doubled after each failure up to <see cref="MaxBackoff"/>. Default 1s.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Default 1 minute.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long one post may take before it counts as failed. Default 10s.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Messages accepted by a receiver (2xx).</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Messages dropped after their last attempt or a permanent error.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Queues one message per rule among <paramref name="changed"/> for every receiver; returns at once.</summary>
    public void Notify(IReadOnlyList<AlertInstance> changed, IReadOnlyList<WebhookReceiver> receivers, string externalUrl)
    {
        if (Volatile.Read(ref _disposed) == 1)
        {
            return;
        }

        if (changed.Count == 0 || receivers.Count == 0)
        {
            return;
        }

        foreach (var group in changed.GroupBy(a => a.Rule, StringComparer.Ordinal))
        {
            var body = JsonSerializer.SerializeToUtf8Bytes(AlertmanagerMessage.For(group.Key, [.. group], externalUrl), PayloadJson);
            foreach (var receiver in receivers)
            {
                var worker = _workers.GetOrAdd(receiver.Url.ToString(), _ => Worker.Start(this, receiver.Url));
                if (!worker.Queue.Writer.TryWrite(body))
                {
                    LogDropped(_logger, Redact(receiver.Url));
                }
            }
        }
    }

    /// <summary>Scheme, host and port only: paths and queries of webhook URLs often carry tokens.</summary>
    public static string Redact(Uri url) => $"{url.Scheme}://{url.Host}:{url.Port}/…";

    public async ValueTask DisposeAsync()
    {
        // The host may stop its services twice (StopAsync, then DisposeAsync): the second time is a no-op.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        foreach (var worker in _workers.Values)
        {
            worker.Queue.Writer.TryComplete();
            try
            {
                await worker.Loop;
            }
            catch (OperationCanceledException)
            {
            }
        }

        _stopping.Dispose();
    }

    private async Task RunAsync(Uri url, ChannelReader<byte[]> queue)
    {
        var token = _stopping.Token;
        await foreach (var body in queue.ReadAllAsync(token))
        {
            await DeliverAsync(url, body, token);
        }
    }

    private async Task DeliverAsync(Uri url, byte[] body, CancellationToken token)
    {
        var backoff = InitialBackoff;
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            string problem;
            var retry = true;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                timeout.CancelAfter(AttemptTimeout);
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new("application/json");
                using var response = await _http.PostAsync(url, content, timeout.Token);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _delivered);
                    return;
                }

                problem = $"HTTP {(int)response.StatusCode}";
                retry = (int)response.StatusCode >= 500 || response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested)
            {
                problem = $"no answer within {AttemptTimeout.TotalSeconds:0}s";
            }
            catch (HttpRequestException e)
            {
                // The message names the host and the socket error, never the path.
                problem = e.HttpRequestError.ToString();
            }

            if (!retry || attempt == MaxAttempts)
            {
                Interlocked.Increment(ref _failed);
                LogGaveUp(_logger, Redact(url), attempt, problem);
                return;
            }

            LogRetrying(_logger, Redact(url), attempt, problem, backoff);
            await _delay(backoff, token);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert webhook {Receiver}: attempt {Attempt} failed ({Problem}); retrying in {Backoff}")]
    private static partial void LogRetrying(ILogger logger, string receiver, int attempt, string problem, TimeSpan backoff);

    [LoggerMessage(Level = LogLevel.Error, Message = "Alert webhook {Receiver}: giving up after {Attempts} attempts ({Problem})")]
    private static partial void LogGaveUp(ILogger logger, string receiver, int attempts, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "Alert webhook {Receiver}: queue full, dropped the oldest message")]
    private static partial void LogDropped(ILogger logger, string receiver);

    private sealed record Worker(Channel<byte[]> Queue, Task Loop)
    {
        public static Worker Start(WebhookNotifier owner, Uri url)
        {
            var queue = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(QueueCapacity)
            {
                FullMode = BoundedChannelFullMode.DropOldest,
                SingleReader = true,
            });
            return new Worker(queue, Task.Run(() => owner.RunAsync(url, queue.Reader)));
        }
    }
}

/// <summary>The Alertmanager webhook body (version 4): https://prometheus.io/docs/alerting/latest/configuration/#webhook_config.</summary>
public sealed record AlertmanagerMessage(
    string Version,
    string GroupKey,
    int TruncatedAlerts,
    string Status,
    string Receiver,
    IReadOnlyDictionary<string, string> GroupLabels,
    IReadOnlyDictionary<string, string> CommonLabels,
    IReadOnlyDictionary<string, string> CommonAnnotations,
    string ExternalURL,
    IReadOnlyList<AlertmanagerAlert> Alerts)
{
    /// <summary>Alertmanager writes the zero time for an alert that has not ended.</summary>
    public static readonly DateTimeOffset NotEnded = new(1, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static AlertmanagerMessage For(string rule, IReadOnlyList<AlertInstance> alerts, string externalUrl)
    {
        var items = alerts.Select(a => new AlertmanagerAlert(
            a.State == AlertState.Resolved ? "resolved" : "firing",
            a.Labels,
            a.Annotations,
            a.FiredAt ?? a.ActiveAt,
            a.ResolvedAt ?? NotEnded,
            externalUrl.TrimEnd('/') + "/ui/alerts",
            a.Fingerprint)).ToList();
        return new AlertmanagerMessage(
            "4",
            $"{{}}:{{alertname=\"{rule}\"}}",
            0,
            items.Any(i => i.Status == "firing") ? "firing" : "resolved",
            "stratum",
            new Dictionary<string, string> { ["alertname"] = rule },
            Common(alerts.Select(a => a.Labels)),
            Common(alerts.Select(a => a.Annotations)),
            externalUrl,
            items);
    }

    private static Dictionary<string, string> Common(IEnumerable<IReadOnlyDictionary<string, string>> maps)
    {
        var list = maps.ToList();
        return list.Count == 0
            ? []
            : list[0].Where(kv => list.All(m => m.TryGetValue(kv.Key, out var v) && v == kv.Value)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
    }
}

public sealed record AlertmanagerAlert(
    string Status,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    DateTimeOffset StartsAt,
    DateTimeOffset EndsAt,
    string GeneratorURL,
    string Fingerprint);
