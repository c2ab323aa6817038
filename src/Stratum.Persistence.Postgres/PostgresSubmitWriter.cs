using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Npgsql;
using Stratum.Core.Access;
using Stratum.Core.Jobs;

namespace Stratum.Persistence.Postgres;

/// <summary>
/// Group commit for submissions. Concurrent submits queue here; each of <see cref="Loops"/> loops takes up to
/// <see cref="MaxBatch"/> of them, sends them as one pipelined batch of statements (one network round
/// trip), commits once, and only then completes each caller's task. A commit costs a WAL flush on the
/// server; sharing it among a batch is what keeps throughput up when many clients submit at once,
/// instead of each submit holding a pooled connection for its own round trips and flush.
/// Each submit is a single statement (insert, and its audit record through a data-modifying CTE) so no
/// savepoints are needed: hundreds of subtransactions in one transaction would overflow PostgreSQL's
/// per-backend subtransaction cache and slow every other session's snapshots.
/// </summary>
internal sealed class PostgresSubmitWriter : IAsyncDisposable
{
    /// <summary>Enough to amortise one WAL flush well; small enough that one transaction stays short.</summary>
    public const int MaxBatch = 256;

    /// <summary>
    /// Batches in flight at once. While one waits for its commit's WAL flush the next is already being
    /// sent and executed, and PostgreSQL flushes concurrent commits together.
    /// </summary>
    public const int Loops = 4;

    private const string Columns = PostgresJobRepository.Columns;

    private const string InsertSql = """
        INSERT INTO jobs (project, owner, state, idempotency_key, reason, submitted_at, updated_at, version, failed_attempts, spec, attempts, stop)
        VALUES (@project, @owner, @state, @key, '', @at, @at, 1, 0, @spec, '[]', NULL)
        ON CONFLICT (owner, idempotency_key) DO NOTHING
        RETURNING id
        """;

    // The audit row exists only when the job does (a repeated idempotency key yields no row in j), and
    // names the new id in place of the {id} placeholder, all inside the one statement.
    private static readonly string InsertWithAuditSql = $"""
        WITH j AS (
            INSERT INTO jobs (project, owner, state, idempotency_key, reason, submitted_at, updated_at, version, failed_attempts, spec, attempts, stop)
            VALUES (@project, @owner, @state, @key, '', @at, @at, 1, 0, @spec, '[]', NULL)
            ON CONFLICT (owner, idempotency_key) DO NOTHING
            RETURNING id
        ), a AS (
            INSERT INTO audit (at, actor, action, target, detail, remote_address)
            SELECT @audit_at, @actor, @action, replace(@target, '{AuditPlaceholders.JobId}', j.id::text),
                replace(@detail, '{AuditPlaceholders.JobId}', j.id::text), @remote_address
            FROM j
        )
        SELECT id FROM j
        """;

    private const string FindByKeySql = $"SELECT {Columns} FROM jobs WHERE owner = @owner AND idempotency_key = @key";

    private static readonly Meter Meter = new("Stratum.Persistence");
    private static readonly Counter<long> Commits = Meter.CreateCounter<long>("stratum.persistence.postgres.submit_commits", "{commit}", "Submission transactions committed");
    private static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("stratum.persistence.postgres.submit_batch_size", "{operation}", "Submissions committed together");

    private readonly Channel<SubmitOperation> _queue = Channel.CreateUnbounded<SubmitOperation>(
        new UnboundedChannelOptions { SingleReader = false, AllowSynchronousContinuations = false });

    private readonly PostgresMetadataStore _store;
    private readonly Task _loops;
    private long _commitCount;

    public PostgresSubmitWriter(PostgresMetadataStore store)
    {
        _store = store;
        _loops = Task.WhenAll(Enumerable.Range(0, Loops).Select(_ => Task.Run(RunAsync)));
    }

    /// <summary>Transactions committed so far; tests use it to see that commits were shared.</summary>
    public long CommitCount => Interlocked.Read(ref _commitCount);

    /// <summary>
    /// Held by tests to make submissions queue up behind it: while it is not completed no loop starts
    /// its next batch. Always completed outside tests.
    /// </summary>
    internal Task Gate { get; set; } = Task.CompletedTask;

    public Task<SubmitResult> EnqueueAsync(SubmitOperation operation)
    {
        operation.CancellationToken.ThrowIfCancellationRequested();
        if (!_queue.Writer.TryWrite(operation))
        {
            throw new ObjectDisposedException(nameof(PostgresMetadataStore));
        }

        return operation.Task;
    }

    public async ValueTask DisposeAsync()
    {
        if (_queue.Writer.TryComplete())
        {
            await _loops.ConfigureAwait(false);
        }
    }

    private async Task RunAsync()
    {
        var batch = new List<SubmitOperation>(MaxBatch);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            await Gate.ConfigureAwait(false);
            while (batch.Count < MaxBatch && reader.TryRead(out var operation))
            {
                if (operation.CancellationToken.IsCancellationRequested)
                {
                    operation.Cancel();
                }
                else
                {
                    batch.Add(operation);
                }
            }

            if (batch.Count > 0)
            {
                await ExecuteBatchAsync(batch).ConfigureAwait(false);
                batch.Clear();
            }
        }
    }

    private async Task ExecuteBatchAsync(List<SubmitOperation> batch)
    {
        // Keyed inserts go out in one global order, (owner, key): two batches (of this server or of
        // another) that hold the same keys then wait on each other's unique-index entries in the same
        // order instead of deadlocking. OrderBy is stable, so keyless submits keep their arrival order.
        if (batch.Count > 1)
        {
            var ordered = batch
                .OrderBy(o => o.IdempotencyKey is not null)
                .ThenBy(o => o.IdempotencyKey is null ? null : o.Owner, StringComparer.Ordinal)
                .ThenBy(o => o.IdempotencyKey, StringComparer.Ordinal)
                .ToList();
            batch.Clear();
            batch.AddRange(ordered);
        }

        IReadOnlyList<SubmitResult> results;
        try
        {
            results = await CommitAsync(batch).ConfigureAwait(false);
        }
        catch (NothingCommittedException) when (batch.Count > 1)
        {
            // Something failed before COMMIT was sent (one submission's statement, a deadlock, a lost
            // connection), so the shared transaction wrote nothing. Running each submission on its own
            // gives a failure to its caller alone.
            foreach (var operation in batch)
            {
                await ExecuteBatchAsync([operation]).ConfigureAwait(false);
            }

            return;
        }
        catch (Exception exception)
        {
            // Either the single submission failed before its commit (nothing written: its caller may
            // retry), or the commit itself failed or lost its connection: then whether it committed is
            // unknown, and retrying here could store a job twice. Every caller hears about it instead.
            var cause = exception is NothingCommittedException before ? before.InnerException! : exception;
            foreach (var operation in batch)
            {
                operation.Fail(cause);
            }

            return;
        }

        Interlocked.Increment(ref _commitCount);
        Commits.Add(1);
        BatchSize.Record(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Complete(results[i]);
        }
    }

    private async Task<IReadOnlyList<SubmitResult>> CommitAsync(List<SubmitOperation> batch)
    {
        NpgsqlConnection? connection = null;
        NpgsqlTransaction? transaction = null;
        try
        {
            SubmitResult[] results;
            try
            {
                connection = await _store.OpenConnectionAsync(CancellationToken.None).ConfigureAwait(false);
                transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);
                var ids = new long?[batch.Count];
                await InsertAsync(connection, transaction, batch, ids).ConfigureAwait(false);
                results = new SubmitResult[batch.Count];
                for (var i = 0; i < batch.Count; i++)
                {
                    results[i] = ids[i] is { } id
                        ? new SubmitResult(batch[i].NewJob(id), Created: true)
                        : new SubmitResult(await FindByKeyAsync(connection, transaction, batch[i]).ConfigureAwait(false), Created: false);
                }
            }
            catch (Exception exception) when (exception is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                throw new NothingCommittedException(exception);
            }

            await transaction.CommitAsync().ConfigureAwait(false);
            return results;
        }
        finally
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
            }

            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task InsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<SubmitOperation> batch, long?[] ids)
    {
        var command = new NpgsqlBatch(connection, transaction);
        await using (command.ConfigureAwait(false))
        {
            foreach (var operation in batch)
            {
                var statement = new NpgsqlBatchCommand(operation.Audit is null ? InsertSql : InsertWithAuditSql);
                statement.Parameters
                    .Text("@project", operation.Spec.Project)
                    .Text("@owner", operation.Owner)
                    .Text("@state", JobState.Pending.ToWire())
                    .Text("@key", operation.IdempotencyKey)
                    .Int64("@at", PersistenceJson.ToMillis(operation.At))
                    .Text("@spec", operation.SpecJson);
                if (operation.Audit is { } audit)
                {
                    statement.Parameters
                        .Int64("@audit_at", PersistenceJson.ToMillis(audit.At))
                        .Text("@actor", audit.Actor)
                        .Text("@action", audit.Action)
                        .Text("@target", audit.Target)
                        .Text("@detail", audit.Detail)
                        .Text("@remote_address", audit.RemoteAddress);
                }

                command.BatchCommands.Add(statement);
            }

            var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                for (var i = 0; i < batch.Count; i++)
                {
                    if (i > 0 && !await reader.NextResultAsync().ConfigureAwait(false))
                    {
                        throw new InvalidOperationException($"the submit batch returned {i} results for {batch.Count} statements");
                    }

                    ids[i] = await reader.ReadAsync().ConfigureAwait(false) ? reader.GetInt64(0) : null;
                }
            }
        }
    }

    private static async Task<Job> FindByKeyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, SubmitOperation operation)
    {
        // Inside the batch's transaction: the earlier job may be one this very batch inserted.
        var command = new NpgsqlCommand(FindByKeySql, connection, transaction);
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.Text("@owner", operation.Owner).Text("@key", operation.IdempotencyKey);
            var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                return await reader.ReadAsync().ConfigureAwait(false)
                    ? PostgresJobRepository.ParseJob(reader)
                    : throw new InvalidOperationException($"job with idempotency key '{operation.IdempotencyKey}' of '{operation.Owner}' conflicted but cannot be found");
            }
        }
    }

    /// <summary>The batch failed before its COMMIT was sent: its transaction wrote nothing.</summary>
    private sealed class NothingCommittedException(Exception inner) : Exception(inner.Message, inner);
}

/// <summary>One queued submission, with everything serialised on the caller's thread.</summary>
internal sealed class SubmitOperation(JobSpec spec, string specJson, string owner, string? idempotencyKey, DateTimeOffset at, AuditRecord? audit, CancellationToken cancellationToken)
{
    private readonly TaskCompletionSource<SubmitResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public JobSpec Spec { get; } = spec;

    public string SpecJson { get; } = specJson;

    public string Owner { get; } = owner;

    public string? IdempotencyKey { get; } = idempotencyKey;

    /// <summary>Already truncated to what the store keeps (milliseconds).</summary>
    public DateTimeOffset At { get; } = at;

    public AuditRecord? Audit { get; } = audit;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    public Task<SubmitResult> Task => _completion.Task;

    public Job NewJob(long id) => new()
    {
        Id = id,
        Spec = Spec,
        Owner = Owner,
        State = JobState.Pending,
        SubmittedAt = At,
        UpdatedAt = At,
        Version = 1,
    };

    public void Complete(SubmitResult result) => _completion.TrySetResult(result);

    public void Fail(Exception exception) => _completion.TrySetException(exception);

    public void Cancel() => _completion.TrySetCanceled(CancellationToken);
}
