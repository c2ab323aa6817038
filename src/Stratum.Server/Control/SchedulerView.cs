using Stratum.Scheduling;

namespace Stratum.Server.Control;

/// <summary>A queued job as the last pass saw it, for "why" answers.</summary>
public sealed record QueuedJobSummary(long Id, string Name, string Project, int Priority, string State);

/// <summary>
/// The last scheduling pass's answers for queued jobs (why each waits, and the queue ahead), swapped
/// whole after every pass. Kept in memory, not in the database: the next pass recomputes them, and
/// writing a reason for every waiting job on every pass would cost more than it tells.
/// </summary>
public sealed class SchedulerView
{
    private volatile Snapshot _current = new(DateTimeOffset.MinValue, new Dictionary<long, PendingDecision>(), new Dictionary<long, QueuedJobSummary>());

    public DateTimeOffset? LastPassAt => _current.At == DateTimeOffset.MinValue ? null : _current.At;

    public void Publish(DateTimeOffset at, IReadOnlyList<PendingDecision> pending, IReadOnlyDictionary<long, QueuedJobSummary> queued) =>
        _current = new Snapshot(at, pending.ToDictionary(p => p.JobId), queued);

    public PendingDecision? Pending(long jobId) => _current.Pending.GetValueOrDefault(jobId);

    private volatile ClusterSnapshot? _lastSnapshot;

    /// <summary>
    /// What the last pass was given (nodes, projects, running jobs, decayed usage): the fair-share state the
    /// queue was ordered by, for <c>GET /api/v1/fair-share</c>. Null before the first pass. Only a reference is
    /// kept: the snapshot is immutable and replaced whole by the next pass.
    /// </summary>
    public ClusterSnapshot? LastSnapshot => _lastSnapshot;

    public void PublishSnapshot(ClusterSnapshot snapshot) => _lastSnapshot = snapshot;

    /// <summary>Queued jobs placed before <paramref name="jobId"/> in the last pass, in queue order.</summary>
    public IReadOnlyList<QueuedJobSummary> Ahead(long jobId)
    {
        var snapshot = _current;
        if (!snapshot.Pending.TryGetValue(jobId, out var mine))
        {
            return [];
        }

        return snapshot.Pending.Values
            .Where(p => p.QueuePosition < mine.QueuePosition)
            .OrderBy(p => p.QueuePosition)
            .Select(p => snapshot.Queued.GetValueOrDefault(p.JobId))
            .OfType<QueuedJobSummary>()
            .ToList();
    }

    private sealed record Snapshot(DateTimeOffset At, IReadOnlyDictionary<long, PendingDecision> Pending, IReadOnlyDictionary<long, QueuedJobSummary> Queued);
}

/// <summary>Wakes the controller early: after a submit, a cancel, or a replica's exit.</summary>
public sealed class ControllerSignal
{
    private readonly System.Threading.Channels.Channel<bool> _channel =
        System.Threading.Channels.Channel.CreateBounded<bool>(new System.Threading.Channels.BoundedChannelOptions(1)
        {
            FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite,
        });

    public void Wake() => _channel.Writer.TryWrite(true);

    /// <summary>Completes when woken or after <paramref name="timeout"/>, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timeoutSource = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutSource.Token);
        try
        {
            await _channel.Reader.ReadAsync(linked.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }
}
