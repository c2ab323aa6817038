using Microsoft.Data.Sqlite;
using Stratum.Core.Jobs;

namespace Stratum.Persistence.Tests;

/// <summary>The conformance suite on SQLite, plus what only SQLite has: a file, WAL, the group-committing writer.</summary>
public sealed class SqliteMetadataStoreTests : MetadataStoreConformance, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "stratum-persistence-" + Guid.NewGuid().ToString("N"));

    private string DatabasePath => Path.Combine(_directory, "meta", "stratum.db");

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    protected override async Task<IMetadataStore> CreateStoreAsync() => await SqliteMetadataStore.OpenAsync(DatabasePath).Within();

    [Fact]
    public async Task OpenAsync_MissingDirectory_CreatesWalDatabaseWithSchemaRecordedOnce()
    {
        var time = new ManualTime(Make.T0);
        await using (var store = await SqliteMetadataStore.OpenAsync(DatabasePath, time).Within())
        {
            await store.MigrateAsync().Within();
            Assert.Equal(Path.GetFullPath(DatabasePath), store.DatabasePath);
        }

        await using (var reopened = await SqliteMetadataStore.OpenAsync(DatabasePath, new ManualTime(Make.T0.AddDays(1))).Within())
        {
            Assert.True(File.Exists(DatabasePath));
        }

        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        connection.Open();
        Assert.Equal("wal", Scalar(connection, "PRAGMA journal_mode"));
        Assert.Equal(Migrations.All.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(connection, "SELECT COUNT(*) FROM schema_migrations"));
        Assert.Equal("1", Scalar(connection, "SELECT COUNT(DISTINCT applied_at) FROM schema_migrations"));
        Assert.Equal(Make.T0.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(connection, "SELECT MIN(applied_at) FROM schema_migrations"));
    }

    [Fact]
    public async Task OpenAsync_AfterDispose_SeesEverythingWritten()
    {
        Job submitted;
        await using (var store = await SqliteMetadataStore.OpenAsync(DatabasePath).Within())
        {
            await store.Access.UpsertUserAsync(Make.User("alice"), null).Within();
            await store.Access.CreateTokenAsync(Make.Token("tok-1"), null).Within();
            await store.Cluster.UpsertNodeAsync(Make.Node(), Make.Audit("node.apply", "node/gpu-01")).Within();
            submitted = (await store.Jobs.SubmitAsync(Make.RichSpec(), "alice", "k", Make.T0, null).Within()).Job;
            var running = submitted with { State = JobState.Running, Attempts = [Make.Attempt(1, Make.T0)] };
            Assert.True(await store.Jobs.UpdateAsync([running], null).Within());
            submitted = running with { Version = 2 };
        }

        await using var reopened = await SqliteMetadataStore.OpenAsync(DatabasePath).Within();
        var job = await reopened.Jobs.GetAsync(submitted.Id).Within();
        Assert.NotNull(job);
        Same.Job(submitted, job);
        Assert.NotNull(await reopened.Access.FindTokenByHashAsync(Make.Token("tok-1").SecretHash).Within());
        Assert.NotNull(await reopened.Cluster.GetNodeAsync("gpu-01").Within());
        Assert.Single(await reopened.Audit.ListAsync(null, 10).Within());
        var again = await reopened.Jobs.SubmitAsync(Make.Spec(), "alice", "k", Make.T0, null).Within();
        Assert.False(again.Created);
        var next = await reopened.Jobs.SubmitAsync(Make.Spec(), "alice", null, Make.T0, null).Within();
        Assert.True(next.Job.Id > submitted.Id);
    }

    [Fact]
    public async Task SubmitAsync_500QueuedBehindBusyWriter_ShareAFewCommits()
    {
        await using var store = await SqliteMetadataStore.OpenAsync(DatabasePath).Within();
        using var gate = new ManualResetEventSlim();
        var held = store.Writer.EnqueueAsync(_ => gate.Wait(TaskTimeouts.Default), CancellationToken.None);
        var commitsBefore = store.Writer.CommitCount;

        var submits = Enumerable.Range(0, 500)
            .Select(i => store.Jobs.SubmitAsync(Make.Spec($"job-{i}"), "alice", null, Make.T0, null))
            .ToList();
        gate.Set();
        var results = await Task.WhenAll(submits).Within();

        Assert.True(await held.Within());
        Assert.Equal(500, results.Select(r => r.Job.Id).Distinct().Count());
        var commits = store.Writer.CommitCount - commitsBefore;

        // The held batch, then 500 queued operations in batches of at most MaxBatch.
        Assert.InRange(commits, 1, 1 + ((500 + SqliteWriter.MaxBatch - 1) / SqliteWriter.MaxBatch));
    }

    [Fact]
    public async Task WriterBatch_OneOperationFails_OthersInTheSameCommitSucceed()
    {
        await using var store = await SqliteMetadataStore.OpenAsync(DatabasePath).Within();
        var stale = (await store.Jobs.SubmitAsync(Make.Spec("stale"), "alice", null, Make.T0, null).Within()).Job;
        Assert.True(await store.Jobs.UpdateAsync([stale with { Reason = "moved on" }], null).Within());
        using var gate = new ManualResetEventSlim();
        var held = store.Writer.EnqueueAsync(_ => gate.Wait(TaskTimeouts.Default), CancellationToken.None);

        var before = store.Jobs.SubmitAsync(Make.Spec("before"), "alice", null, Make.T0, null);
        var orphanToken = store.Access.CreateTokenAsync(Make.Token("tok-orphan", userName: "nobody"), Make.Audit("token.create", "token/tok-orphan"));
        var staleUpdate = store.Jobs.UpdateAsync([stale with { State = JobState.Cancelled }], Make.Audit("job.cancel", "job/stale"));
        var after = store.Jobs.SubmitAsync(Make.Spec("after"), "alice", null, Make.T0, Make.Audit("job.submit", "job/{id}"));
        gate.Set();

        await Assert.ThrowsAsync<SqliteException>(() => orphanToken.Within());
        Assert.False(await staleUpdate.Within());
        var first = await before.Within();
        var last = await after.Within();
        Assert.NotNull(await store.Jobs.GetAsync(first.Job.Id).Within());
        Assert.NotNull(await store.Jobs.GetAsync(last.Job.Id).Within());
        Assert.Empty(await store.Access.ListTokensAsync(null).Within());
        var audit = Assert.Single(await store.Audit.ListAsync(null, 10).Within());
        Assert.Equal($"job/{last.Job.Id}", audit.Target);
        Assert.True(await held.Within());
    }

    [Fact]
    public async Task DisposeAsync_WithQueuedWrites_CommitsThemThenRefusesNewOnes()
    {
        var store = await SqliteMetadataStore.OpenAsync(DatabasePath).Within();
        var queued = Enumerable.Range(0, 20).Select(i => store.Jobs.SubmitAsync(Make.Spec($"job-{i}"), "alice", null, Make.T0, null)).ToList();

        await store.DisposeAsync();

        Assert.Equal(20, (await Task.WhenAll(queued).Within()).Length);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.Jobs.SubmitAsync(Make.Spec(), "alice", null, Make.T0, null).Within());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.Jobs.GetAsync(1).Within());
        await using var reopened = await SqliteMetadataStore.OpenAsync(DatabasePath).Within();
        Assert.Equal(20, (await reopened.Jobs.ListAsync(new JobQuery()).Within()).Jobs.Count);
    }

    private static string? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
