using Npgsql;
using Stratum.Core.Jobs;
using Stratum.Persistence.Tests;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>
/// The leader lease on a real PostgreSQL: taking, renewing, taking over after expiry with the next
/// fencing token, and refusing writes that carry a stale token. Expiry is made by moving expires_at into
/// the past, not by waiting: the database's clock is the one that counts and these tests need not sleep.
/// </summary>
[RequiresPostgres]
public sealed class LeadershipLeaseTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TryAcquireAsync_NobodyHoldsIt_TakesItWithTokenOne()
    {
        var (database, store) = await OpenAsync();
        await using var _ = store;

        var lease = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();

        Assert.Equal("a", lease.Holder);
        Assert.Equal(1, lease.FencingToken);
        Assert.InRange(lease.ExpiresAt - lease.RenewedAt, Lease - TimeSpan.FromMilliseconds(1), Lease + TimeSpan.FromMilliseconds(1));
        Assert.Equal(lease, await store.Leases.GetAsync("controller").Within());
        Assert.Equal(1, (await QueryAsync(database, "SELECT count(*) FROM leader_lease", r => r.GetInt64(0)))[0]);
    }

    [Fact]
    public async Task TryAcquireAsync_HeldByAnotherUnexpired_ReturnsTheirLeaseUnchanged()
    {
        var (_, store) = await OpenAsync();
        await using var __ = store;
        var first = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();

        var second = await store.Leases.TryAcquireAsync("controller", "b", Lease).Within();

        Assert.Equal(first, second);
    }

    [Fact]
    public async Task TryAcquireAsync_HolderRenews_KeepsTokenAndMovesExpiry()
    {
        var (database, store) = await OpenAsync();
        await using var _ = store;
        var first = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();
        // Renewing must move the expiry from the database's now: shift the stored one back to see it move.
        await ExecuteAsync(database, "UPDATE leader_lease SET expires_at = expires_at - interval '10 seconds'");

        var renewed = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();

        Assert.Equal("a", renewed.Holder);
        Assert.Equal(first.FencingToken, renewed.FencingToken);
        Assert.True(renewed.ExpiresAt > first.ExpiresAt - TimeSpan.FromSeconds(10), $"{renewed.ExpiresAt:O} should be later than the shifted expiry");
    }

    [Fact]
    public async Task TryAcquireAsync_LeaseExpired_AnotherTakesItWithTheNextToken()
    {
        var (database, store) = await OpenAsync();
        await using var _ = store;
        var first = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();
        await ExpireAsync(database);

        var taken = await store.Leases.TryAcquireAsync("controller", "b", Lease).Within();
        var oldHolder = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();

        Assert.Equal("b", taken.Holder);
        Assert.Equal(first.FencingToken + 1, taken.FencingToken);
        Assert.Equal(taken, oldHolder);
    }

    [Fact]
    public async Task TryAcquireAsync_OwnLeaseExpiredThenRetaken_StartsANewTerm()
    {
        var (database, store) = await OpenAsync();
        await using var _ = store;
        var first = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();
        await ExpireAsync(database);

        var again = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();

        // Writes decided before the lapse carry the old token and are refused.
        Assert.Equal(first.FencingToken + 1, again.FencingToken);
    }

    [Fact]
    public async Task ReleaseAsync_HolderReleases_AnotherTakesItAtOnce()
    {
        var (_, store) = await OpenAsync();
        await using var _ = store;
        var first = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();

        Assert.True(await store.Leases.ReleaseAsync(first.Fence).Within());
        var taken = await store.Leases.TryAcquireAsync("controller", "b", Lease).Within();

        Assert.Equal("b", taken.Holder);
        Assert.Equal(first.FencingToken + 1, taken.FencingToken);
        Assert.False(await store.Leases.ReleaseAsync(first.Fence).Within());
    }

    [Fact]
    public async Task UpdateFencedAsync_CurrentToken_Writes()
    {
        var (_, store) = await OpenAsync();
        await using var _ = store;
        var lease = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();
        var job = (await store.Jobs.SubmitAsync(Make.Spec(), "alice", null, Make.T0, null).Within()).Job;

        var written = await store.Jobs.UpdateFencedAsync([job with { Reason = "by the leader" }], lease.Fence).Within();

        Assert.True(written);
        Assert.Equal("by the leader", (await store.Jobs.GetAsync(job.Id).Within())!.Reason);
    }

    [Fact]
    public async Task UpdateFencedAsync_StaleTokenAfterTakeover_RefusedAndNothingWritten()
    {
        var (database, store) = await OpenAsync();
        await using var _ = store;
        var old = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();
        var job = (await store.Jobs.SubmitAsync(Make.Spec(), "alice", null, Make.T0, null).Within()).Job;
        await ExpireAsync(database);
        var current = await store.Leases.TryAcquireAsync("controller", "b", Lease).Within();

        var refused = await Assert.ThrowsAsync<StaleFencingTokenException>(
            () => store.Jobs.UpdateFencedAsync([job with { State = JobState.Running, Reason = "stale leader" }], old.Fence).Within());

        Assert.Equal(old.Fence, refused.Fence);
        Assert.Equal(current, refused.Current);
        Assert.Contains("b", refused.Message, StringComparison.Ordinal);
        var stored = await store.Jobs.GetAsync(job.Id).Within();
        Assert.Equal(job.Version, stored!.Version);
        Assert.Equal(JobState.Pending, stored.State);
    }

    [Fact]
    public async Task UpdateFencedAsync_OwnLeaseExpired_Refused()
    {
        var (database, store) = await OpenAsync();
        await using var _ = store;
        var lease = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();
        var job = (await store.Jobs.SubmitAsync(Make.Spec(), "alice", null, Make.T0, null).Within()).Job;
        await ExpireAsync(database);

        await Assert.ThrowsAsync<StaleFencingTokenException>(() => store.Jobs.UpdateFencedAsync([job with { Reason = "late" }], lease.Fence).Within());

        Assert.Equal(job.Version, (await store.Jobs.GetAsync(job.Id).Within())!.Version);
    }

    [Fact]
    public async Task TryAcquireAsync_WhileAFencedWriteIsOpen_WaitsForItsCommit()
    {
        var (database, store) = await OpenAsync();
        await using var _ = store;
        var lease = await store.Leases.TryAcquireAsync("controller", "a", Lease).Within();
        await ExpireAsync(database);

        // A leader's write that passed its fence check holds the lease row until it commits, so a
        // takeover cannot slip in between the check and the write.
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync().Within();
        await using var transaction = await connection.BeginTransactionAsync().AsTask().Within();
        await using (var check = new NpgsqlCommand("SELECT 1 FROM leader_lease WHERE name = 'controller' FOR SHARE", connection, transaction))
        {
            await check.ExecuteScalarAsync().Within();
        }

        var takeover = store.Leases.TryAcquireAsync("controller", "b", Lease);
        var waited = await Task.WhenAny(takeover, WaitForLockWaitAsync(database)).Within();
        Assert.NotSame(takeover, waited);
        await transaction.CommitAsync().Within();

        Assert.Equal(lease.FencingToken + 1, (await takeover.Within()).FencingToken);
    }

    /// <summary>Completes once some session waits on a lock: the takeover is blocked, observed rather than slept on.</summary>
    private static async Task WaitForLockWaitAsync(string database)
    {
        while (true)
        {
            var waiting = await QueryAsync(database, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()", r => r.GetInt64(0));
            if (waiting[0] > 0)
            {
                return;
            }

            await Task.Yield();
        }
    }

    private static async Task<(string Database, PostgresMetadataStore Store)> OpenAsync()
    {
        var database = await PostgresTestServer.CreateDatabaseAsync().Within();
        return (database, await PostgresMetadataStore.OpenAsync(database).Within());
    }

    private static Task ExpireAsync(string database) =>
        ExecuteAsync(database, "UPDATE leader_lease SET expires_at = now() - interval '1 second'");

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync().Within();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync().Within();
    }

    private static async Task<List<T>> QueryAsync<T>(string connectionString, string sql, Func<NpgsqlDataReader, T> read)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync().Within();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync().Within();
        var rows = new List<T>();
        while (await reader.ReadAsync().Within())
        {
            rows.Add(read(reader));
        }

        return rows;
    }
}
