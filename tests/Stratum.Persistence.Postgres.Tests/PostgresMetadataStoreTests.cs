using Npgsql;
using Stratum.Core.Jobs;
using Stratum.Persistence.Tests;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>What only PostgreSQL has: migrations under an advisory lock, group-committed submits, several servers on one database.</summary>
[RequiresPostgres]
public sealed class PostgresMetadataStoreTests
{
    [Fact]
    public async Task OpenAsync_FourServersStartingTogether_ApplyEachMigrationOnce()
    {
        var database = await PostgresTestServer.CreateDatabaseAsync().Within();

        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => PostgresMetadataStore.OpenAsync(database, new ManualTime(Make.T0))))).Within();
        try
        {
            var rows = await QueryAsync(database, "SELECT version, applied_at FROM schema_migrations ORDER BY version", r => (r.GetInt32(0), r.GetInt64(1)));
            Assert.Equal(PostgresMigrations.All.Select(m => (m.Version, Make.T0.ToUnixTimeMilliseconds())), rows);
            var submitted = await stores[3].Jobs.SubmitAsync(Make.Spec(), "alice", null, Make.T0, null).Within();
            Assert.NotNull(await stores[0].Jobs.GetAsync(submitted.Job.Id).Within());
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task OpenAsync_DatabaseFromNewerVersion_FailsNamingBothVersions()
    {
        var database = await PostgresTestServer.CreateDatabaseAsync().Within();
        await (await PostgresMetadataStore.OpenAsync(database).Within()).DisposeAsync();
        await QueryAsync(database, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0) RETURNING version", r => r.GetInt32(0));

        var exception = await Assert.ThrowsAsync<InvalidOperationException>(() => PostgresMetadataStore.OpenAsync(database).Within());

        Assert.Contains("999", exception.Message, StringComparison.Ordinal);
        Assert.Contains($"({PostgresMigrations.All[^1].Version})", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenAsync_NothingListening_ThrowsTransientError()
    {
        var port = PostgresTestServer.UnusedPort();

        var exception = await Assert.ThrowsAnyAsync<NpgsqlException>(
            () => PostgresMetadataStore.OpenAsync($"postgres://stratum@127.0.0.1:{port}/meta?connect_timeout=5").Within());

        Assert.True(exception.IsTransient);
    }

    [Fact]
    public async Task SubmitAsync_500QueuedBehindBusyWriter_ShareAFewCommits()
    {
        await using var store = await OpenAsync();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.Submits.Gate = gate.Task;
        var commitsBefore = store.Submits.CommitCount;

        var submits = Enumerable.Range(0, 500)
            .Select(i => store.Jobs.SubmitAsync(Make.Spec($"job-{i}"), "alice", $"k{i}", Make.T0, Make.Audit("job.submit", "job/{id}")))
            .ToList();
        gate.SetResult();
        var results = await Task.WhenAll(submits).Within();

        Assert.Equal(500, results.Select(r => r.Job.Id).Distinct().Count());
        Assert.All(results, r => Assert.True(r.Created));
        var commits = store.Submits.CommitCount - commitsBefore;

        // Everything was queued before any loop could take a batch: batches of up to MaxBatch, split
        // among at most every loop draining at once.
        var fewest = (500 + PostgresSubmitWriter.MaxBatch - 1) / PostgresSubmitWriter.MaxBatch;
        Assert.InRange(commits, fewest, fewest + PostgresSubmitWriter.Loops);
        var audit = await ReadAllAuditAsync(store);
        Assert.Equal(results.Select(r => $"job/{r.Job.Id}").Order(), audit.Select(a => a.Target).Order());
    }

    [Fact]
    public async Task SubmitAsync_OneBadSubmitInABatch_OnlyItFails()
    {
        var database = await PostgresTestServer.CreateDatabaseAsync().Within();
        await using var store = await PostgresMetadataStore.OpenAsync(database).Within();

        // A server-side failure of one statement inside the shared batch, as a constraint added by an operator would cause.
        await QueryAsync(database, """
            CREATE FUNCTION refuse_mallory() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.owner = 'mallory' THEN RAISE EXCEPTION 'mallory may not submit'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_mallory BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION refuse_mallory();
            SELECT 1;
            """, r => r.GetInt32(0));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.Submits.Gate = gate.Task;

        var before = store.Jobs.SubmitAsync(Make.Spec("before"), "alice", null, Make.T0, Make.Audit("job.submit", "job/{id}"));
        var bad = store.Jobs.SubmitAsync(Make.Spec("bad"), "mallory", null, Make.T0, Make.Audit("job.submit", "job/{id}"));
        var after = store.Jobs.SubmitAsync(Make.Spec("after"), "alice", "key", Make.T0, Make.Audit("job.submit", "job/{id}"));
        gate.SetResult();

        var refused = await Assert.ThrowsAsync<PostgresException>(() => bad.Within());
        Assert.Contains("mallory may not submit", refused.MessageText, StringComparison.Ordinal);
        var first = await before.Within();
        var last = await after.Within();
        var jobs = (await store.Jobs.ListAsync(new JobQuery()).Within()).Jobs;
        Assert.Equal([last.Job.Id, first.Job.Id], jobs.Select(j => j.Id));
        Assert.Equal([$"job/{last.Job.Id}", $"job/{first.Job.Id}"], (await store.Audit.ListAsync(null, 10).Within()).Select(a => a.Target));
    }

    [Fact]
    public async Task SubmitAsync_NulInOwnerOrKey_RefusedBeforeQueueing()
    {
        await using var store = await OpenAsync();

        // Thrown on the caller's thread, before anything is queued.
        Assert.Throws<ArgumentException>(() => { _ = store.Jobs.SubmitAsync(Make.Spec(), "mallory\0", null, Make.T0, null); });
        Assert.Throws<ArgumentException>(() => { _ = store.Jobs.SubmitAsync(Make.Spec(), "alice", "k\0", Make.T0, null); });

        Assert.Empty((await store.Jobs.ListAsync(new JobQuery()).Within()).Jobs);
    }

    [Fact]
    public async Task SubmitAsync_SameKeyThroughTwoServers_CreatesOneJob()
    {
        var database = await PostgresTestServer.CreateDatabaseAsync().Within();
        await using var one = await PostgresMetadataStore.OpenAsync(database).Within();
        await using var two = await PostgresMetadataStore.OpenAsync(database).Within();

        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(
            () => (i % 2 == 0 ? one : two).Jobs.SubmitAsync(Make.Spec(), "alice", "retry-me", Make.T0, Make.Audit("job.submit", "job/{id}"))))).Within();

        Assert.Single(results, r => r.Created);
        Assert.Single(results.Select(r => r.Job.Id).Distinct());
        Assert.Single(await one.Audit.ListAsync(null, 100).Within());
    }

    [Fact]
    public async Task SubmitAsync_SameKeysInOppositeOrderOnTwoServers_EachCreatedOnceAndAllAnswered()
    {
        var database = await PostgresTestServer.CreateDatabaseAsync().Within();
        await using var one = await PostgresMetadataStore.OpenAsync(database).Within();
        await using var two = await PostgresMetadataStore.OpenAsync(database).Within();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        one.Submits.Gate = gate.Task;
        two.Submits.Gate = gate.Task;

        // Two clients retrying the same 100 submissions against two servers, in opposite orders: each
        // server's batch holds every key, the worst case for lock order between two transactions.
        var keys = Enumerable.Range(0, 100).Select(i => $"key-{i:D3}").ToList();
        var fromOne = keys.Select(k => one.Jobs.SubmitAsync(Make.Spec(k), "alice", k, Make.T0, Make.Audit("job.submit", "job/{id}"))).ToList();
        var fromTwo = Enumerable.Reverse(keys).Select(k => two.Jobs.SubmitAsync(Make.Spec(k), "alice", k, Make.T0, Make.Audit("job.submit", "job/{id}"))).ToList();
        gate.SetResult();
        var results = await Task.WhenAll(fromOne.Concat(fromTwo)).Within();

        Assert.Equal(100, results.Count(r => r.Created));
        Assert.All(results.GroupBy(r => r.Job.Spec.Name), g => Assert.Single(g.Select(r => r.Job.Id).Distinct()));
        Assert.Equal(100, (await one.Jobs.ListAsync(new JobQuery()).Within()).Jobs.Count);
        Assert.Equal(100, (await ReadAllAuditAsync(two)).Count);
    }

    [Fact]
    public async Task UpdateAsync_TwoServersRacingFromOneVersion_ExactlyOneWins()
    {
        var database = await PostgresTestServer.CreateDatabaseAsync().Within();
        await using var one = await PostgresMetadataStore.OpenAsync(database).Within();
        await using var two = await PostgresMetadataStore.OpenAsync(database).Within();
        var jobs = new List<Job>();
        for (var i = 0; i < 20; i++)
        {
            jobs.Add((await one.Jobs.SubmitAsync(Make.Spec($"j{i}"), "alice", null, Make.T0, null).Within()).Job);
        }

        // Each server tries to start all twenty at once, as two leaders would in a split brain.
        var outcomes = await Task.WhenAll(
            Task.Run(() => one.Jobs.UpdateAsync(jobs.Select(j => j with { State = JobState.Running, Reason = "one" }).ToList(), Make.Audit("schedule", "one"))),
            Task.Run(() => two.Jobs.UpdateAsync(jobs.Select(j => j with { State = JobState.Running, Reason = "two" }).ToList(), Make.Audit("schedule", "two")))).Within();

        Assert.Single(outcomes, applied => applied);
        var winner = outcomes[0] ? "one" : "two";
        var stored = await two.Jobs.ListActiveAsync().Within();
        Assert.All(stored, j => Assert.Equal((winner, 2L), (j.Reason, j.Version)));
        Assert.Equal(winner, Assert.Single(await one.Audit.ListAsync(null, 10).Within()).Target);
    }

    [Fact]
    public async Task Store_ConnectionsKilledWhileRunning_FailCleanlyThenRecover()
    {
        var database = await PostgresTestServer.CreateDatabaseAsync().Within();
        await using var store = await PostgresMetadataStore.OpenAsync(database).Within();
        var first = (await store.Jobs.SubmitAsync(Make.Spec("first"), "alice", null, Make.T0, Make.Audit("job.submit", "job/{id}")).Within()).Job;
        Assert.True(await store.Jobs.UpdateAsync([first with { State = JobState.Running }], null).Within());

        // What a PostgreSQL restart or failover does to the pooled connections the store holds.
        var killed = await QueryAsync(
            new Npgsql.NpgsqlConnectionStringBuilder(database) { Database = "postgres" }.ConnectionString,
            $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{new Npgsql.NpgsqlConnectionStringBuilder(database).Database}'",
            r => r.GetBoolean(0));
        Assert.NotEmpty(killed);

        // Each request either fails with a database error or succeeds; none is half-written.
        var outcomes = new List<bool>();
        for (var i = 0; i < 6; i++)
        {
            try
            {
                await store.Jobs.SubmitAsync(Make.Spec($"during-{i}"), "alice", $"k{i}", Make.T0, Make.Audit("job.submit", "job/{id}")).Within();
                outcomes.Add(true);
            }
            catch (NpgsqlException)
            {
                outcomes.Add(false);
            }
        }

        var after = await store.Jobs.SubmitAsync(Make.Spec("after"), "alice", null, Make.T0, Make.Audit("job.submit", "job/{id}")).Within();
        Assert.True(after.Created);
        var stored = (await store.Jobs.ListAsync(new JobQuery()).Within()).Jobs;
        var expected = new[] { "first" }.Concat(outcomes.Select((ok, i) => ok ? $"during-{i}" : null).OfType<string>()).Append("after");
        Assert.Equal(expected.Order(), stored.Select(j => j.Spec.Name).Order());
        Assert.Equal(stored.Select(j => $"job/{j.Id}").Order(), (await store.Audit.ListAsync(null, 100).Within()).Select(a => a.Target).Order());
        Assert.Equal(JobState.Running, (await store.Jobs.GetAsync(first.Id).Within())!.State);
    }

    [Fact]
    public async Task DisposeAsync_WithQueuedSubmits_CommitsThemThenRefusesNewOnes()
    {
        var database = await PostgresTestServer.CreateDatabaseAsync().Within();
        var store = await PostgresMetadataStore.OpenAsync(database).Within();
        var queued = Enumerable.Range(0, 20).Select(i => store.Jobs.SubmitAsync(Make.Spec($"job-{i}"), "alice", null, Make.T0, null)).ToList();

        await store.DisposeAsync();

        Assert.Equal(20, (await Task.WhenAll(queued).Within()).Length);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.Jobs.SubmitAsync(Make.Spec(), "alice", null, Make.T0, null).Within());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.Jobs.GetAsync(1).Within());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.Cluster.UpsertPoolAsync(Make.Pool(), null).Within());
        await using var reopened = await PostgresMetadataStore.OpenAsync(database).Within();
        Assert.Equal(20, (await reopened.Jobs.ListAsync(new JobQuery()).Within()).Jobs.Count);
    }

    private static async Task<PostgresMetadataStore> OpenAsync() =>
        await PostgresMetadataStore.OpenAsync(await PostgresTestServer.CreateDatabaseAsync().Within()).Within();

    private static async Task<List<Stratum.Core.Access.AuditEntry>> ReadAllAuditAsync(IMetadataStore store)
    {
        var all = new List<Stratum.Core.Access.AuditEntry>();
        long? before = null;
        while (true)
        {
            var page = await store.Audit.ListAsync(before, 1000).Within();
            if (page.Count == 0)
            {
                return all;
            }

            all.AddRange(page);
            before = page[^1].Id;
        }
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
