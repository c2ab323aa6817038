namespace Stratum.Persistence;

/// <summary>
/// Leases for the single-server store. One server owns a SQLite file (the data-directory lock refuses a
/// second), so there is nobody to elect against: the lease is this process's, kept in memory, and its
/// token changes only when a different holder in this process takes it.
/// </summary>
internal sealed class SqliteLeaderLeases(TimeProvider time) : ILeaderLeases
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LeaderLease> _leases = new(StringComparer.Ordinal);

    public Task<LeaderLease> TryAcquireAsync(string name, string holder, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(holder);
        var now = time.GetUtcNow();
        lock (_lock)
        {
            var token = _leases.TryGetValue(name, out var current)
                ? current.Holder == holder && current.ExpiresAt > now ? current.FencingToken : current.FencingToken + 1
                : 1;
            if (current is not null && current.Holder != holder && current.ExpiresAt > now)
            {
                return Task.FromResult(current);
            }

            var lease = new LeaderLease(name, holder, token, now, now + duration);
            _leases[name] = lease;
            return Task.FromResult(lease);
        }
    }

    public Task<LeaderLease?> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_leases.GetValueOrDefault(name));
        }
    }

    public Task<bool> ReleaseAsync(LeaderFence fence, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fence);
        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (!_leases.TryGetValue(fence.Name, out var current) || current.FencingToken != fence.FencingToken)
            {
                return Task.FromResult(false);
            }

            _leases[fence.Name] = current with { ExpiresAt = now };
            return Task.FromResult(true);
        }
    }

    /// <summary>Throws unless <paramref name="fence"/> names the current, unexpired lease.</summary>
    public void Check(LeaderFence fence)
    {
        ArgumentNullException.ThrowIfNull(fence);
        var now = time.GetUtcNow();
        lock (_lock)
        {
            var current = _leases.GetValueOrDefault(fence.Name);
            if (current is null || current.FencingToken != fence.FencingToken || current.ExpiresAt <= now)
            {
                throw new StaleFencingTokenException(fence, current);
            }
        }
    }
}
