namespace Stratum.Persistence;

/// <summary>
/// Leases that elect one leader among servers sharing a store. A lease is held by one holder until its
/// expiry; the store's own clock decides expiry, never a caller's, so replicas with skewed clocks agree.
/// Every change of holder raises the lease's fencing token, and writes that carry a token
/// (<see cref="IJobRepository.UpdateFencedAsync"/>) are refused once the lease has moved on.
/// </summary>
public interface ILeaderLeases
{
    /// <summary>
    /// Takes the lease named <paramref name="name"/> for <paramref name="holder"/> when it is free, expired
    /// or already <paramref name="holder"/>'s (then it is renewed), for <paramref name="duration"/> from the
    /// store's now. Returns the lease as it stands afterwards: held by someone else when it was not free.
    /// The fencing token grows whenever the holder changes or an expired lease is taken again.
    /// </summary>
    Task<LeaderLease> TryAcquireAsync(string name, string holder, TimeSpan duration, CancellationToken cancellationToken = default);

    /// <summary>The lease as stored, or null when nobody has ever held it.</summary>
    Task<LeaderLease?> GetAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Ends <paramref name="fence"/>'s lease at once (a clean shutdown), so another replica need not wait for it to expire. False when it had already moved on.</summary>
    Task<bool> ReleaseAsync(LeaderFence fence, CancellationToken cancellationToken = default);
}

/// <summary>A lease as the store has it; times are the store's clock.</summary>
public sealed record LeaderLease(string Name, string Holder, long FencingToken, DateTimeOffset RenewedAt, DateTimeOffset ExpiresAt)
{
    public LeaderFence Fence => new(Name, FencingToken);
}

/// <summary>What a leader's writes carry: the lease they were decided under and its token.</summary>
public sealed record LeaderFence(string Name, long FencingToken);

/// <summary>
/// A write carried a fencing token the lease no longer has: another replica leads now (or the lease
/// expired), so this replica's decision is stale and nothing of the write was stored.
/// </summary>
public sealed class StaleFencingTokenException : Exception
{
    public StaleFencingTokenException()
    {
    }

    public StaleFencingTokenException(string message)
        : base(message)
    {
    }

    public StaleFencingTokenException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public StaleFencingTokenException(LeaderFence fence, LeaderLease? current)
        : base(Describe(fence, current))
    {
        Fence = fence;
        Current = current;
    }

    /// <summary>The token the refused write carried.</summary>
    public LeaderFence? Fence { get; }

    /// <summary>The lease when the write was refused; null when none exists.</summary>
    public LeaderLease? Current { get; }

    private static string Describe(LeaderFence fence, LeaderLease? current)
    {
        ArgumentNullException.ThrowIfNull(fence);
        return current is null
            ? $"write refused: fencing token {fence.FencingToken} of lease '{fence.Name}' is stale (no such lease)"
            : $"write refused: fencing token {fence.FencingToken} of lease '{fence.Name}' is stale (the lease has token {current.FencingToken}, held by {current.Holder} until {current.ExpiresAt:O})";
    }
}
