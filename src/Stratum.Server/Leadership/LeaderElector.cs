using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;
using Stratum.Persistence;
using Stratum.Server.Control;

namespace Stratum.Server.Leadership;

/// <summary>
/// Keeps this replica's claim on the controller lease: it tries to take the lease every third of its
/// length while following and renews it at the same rate while leading. The database decides expiry;
/// this replica counts its leadership from the moment it SENT its last successful renewal, so its own
/// idea of "still leading" always ends before the database lets anyone else take over (by
/// <see cref="SafetyMargin"/> of the lease). Writes are fenced on top of that (<see cref="IJobRepository.UpdateFencedAsync"/>),
/// so even a replica paused past its lease cannot store a decision.
/// </summary>
public sealed partial class LeaderElector : BackgroundService
{
    /// <summary>The lease every replica competes for.</summary>
    public const string LeaseName = "controller";

    public const string MeterName = "Stratum.Server.Leadership";

    private readonly IMetadataStore _store;
    private readonly ControllerSignal _signal;
    private readonly TimeProvider _time;
    private readonly ILogger<LeaderElector> _logger;
    private readonly TimeSpan _lease;
    private readonly TimeSpan _renewInterval;
    private readonly TimeSpan _validFor;
    private volatile Term? _term;
    private volatile LeaderLease? _known;
    private bool _unreachableLogged;

    public LeaderElector(IMetadataStore store, ControllerSignal signal, ServerOptions options, TimeProvider time, IMeterFactory meterFactory, ILogger<LeaderElector> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(meterFactory);
        _store = store;
        _signal = signal;
        _time = time;
        _logger = logger;
        _lease = options.LeaderLease;
        _renewInterval = options.LeaderLease / 3;
        _validFor = options.LeaderLease - (options.LeaderLease * SafetyMargin);

        // Host and process say where it runs; the random part tells apart two servers in one process (tests).
        Replica = $"{Environment.MachineName}/{Environment.ProcessId}/{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableGauge("stratum.leader", () => new Measurement<long>(CurrentFence is null ? 0 : 1, new KeyValuePair<string, object?>("replica", Replica)),
            null, "1 on the replica that runs the controller now, 0 on the others.");
    }

    /// <summary>The share of the lease this replica gives up at its end, against clock-rate drift and a slow renewal reply.</summary>
    public static double SafetyMargin => 1.0 / 6;

    /// <summary>This replica's name in the lease.</summary>
    public string Replica { get; }

    /// <summary>The fence of this replica's current term while it leads, else null. Checked again before every action.</summary>
    public LeaderFence? CurrentFence
    {
        get
        {
            var term = _term;
            return term is not null && _time.GetElapsedTime(term.RenewSent) < _validFor ? term.Fence : null;
        }
    }

    /// <summary>The lease as this replica last read it (whoever holds it), or null before the first answer.</summary>
    public LeaderLease? KnownLease => _known;

    /// <summary>Whether <paramref name="fence"/> is still this replica's current, unexpired term.</summary>
    public bool Holds(LeaderFence fence) => CurrentFence == fence;

    /// <summary>
    /// Stops leading at once under <paramref name="fence"/>: a write was refused because the lease moved
    /// on, so nothing more may be done under it. The next attempt to take the lease starts a new term.
    /// </summary>
    public void StepDown(LeaderFence fence, string reason)
    {
        var term = _term;
        if (term is not null && term.Fence == fence)
        {
            _term = null;
            LogSteppedDown(fence.FencingToken, reason);
        }
    }

    /// <summary>One attempt to take or renew the lease; the loop calls it every third of the lease, tests directly.</summary>
    public async Task TryLeadAsync(CancellationToken cancellationToken)
    {
        var sent = _time.GetTimestamp();
        LeaderLease lease;
        try
        {
            // A renewal that has not answered within its interval is given up: the next one is due.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_renewInterval);
            lease = await _store.Leases.TryAcquireAsync(LeaseName, Replica, _lease, timeout.Token);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // Leadership lapses by itself when renewals keep failing: CurrentFence checks the time.
            if (!_unreachableLogged)
            {
                _unreachableLogged = true;
                LogRenewalFailed(e, _term?.Fence.FencingToken);
            }

            return;
        }

        _unreachableLogged = false;
        _known = lease;
        var term = _term;
        if (lease.Holder != Replica)
        {
            if (term is not null)
            {
                _term = null;
                LogLost(term.Fence.FencingToken, lease.Holder, lease.FencingToken);
            }

            return;
        }

        if (term is not null && term.Fence == lease.Fence && CurrentFence is not null)
        {
            _term = term with { RenewSent = sent };
            return;
        }

        _term = new Term(lease.Fence, sent, _time.GetUtcNow());
        LogBecameLeader(lease.FencingToken, Replica);
        _signal.Wake();
    }

    /// <summary>The current term's start, while leading.</summary>
    public DateTimeOffset? LeadingSince => CurrentFence is null ? null : _term?.Since;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await TryLeadAsync(stoppingToken);
            await Task.Delay(_renewInterval, _time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);

        // A clean stop hands the lease over now instead of making the others wait for it to expire.
        if (_term is { } term)
        {
            _term = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(2));
                await _store.Leases.ReleaseAsync(term.Fence, timeout.Token);
                LogReleased(term.Fence.FencingToken);
            }
            catch (Exception e)
            {
                LogReleaseFailed(e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "This replica ({Replica}) now leads the controller with fencing token {Token}")]
    private partial void LogBecameLeader(long token, string replica);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the controller lease (token {Token}) to {Holder} (token {NewToken}); the controller stops acting")]
    private partial void LogLost(long token, string holder, long newToken);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stepped down as leader (token {Token}): {Reason}")]
    private partial void LogSteppedDown(long token, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not take or renew the controller lease (held token: {Token}); leadership lapses when the lease runs out")]
    private partial void LogRenewalFailed(Exception exception, long? token);

    [LoggerMessage(Level = LogLevel.Information, Message = "Released the controller lease (token {Token})")]
    private partial void LogReleased(long token);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not release the controller lease; another replica takes it when it expires")]
    private partial void LogReleaseFailed(Exception exception);

    /// <summary>A term of leadership: its fence, when the last successful renewal was sent (a timestamp of the injected clock), and when it began.</summary>
    private sealed record Term(LeaderFence Fence, long RenewSent, DateTimeOffset Since);
}
