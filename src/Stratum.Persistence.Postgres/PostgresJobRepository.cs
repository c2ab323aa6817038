using System.Collections.Concurrent;
using System.Text;
using Npgsql;
using Stratum.Core.Access;
using Stratum.Core.Jobs;

namespace Stratum.Persistence.Postgres;

internal sealed class PostgresJobRepository(PostgresMetadataStore store) : IJobRepository
{
    public const int MaxPageSize = 1000;

    public const string Columns = "id, owner, state, reason, submitted_at, updated_at, version, failed_attempts, spec, attempts, stop";

    /// <summary>Past this many cached jobs the cache starts over, bounding its memory.</summary>
    private const int MaxCachedJobs = 100_000;

    private const string UpdateSql = """
        UPDATE jobs SET project = @project, state = @state, reason = @reason, updated_at = @updated_at,
            version = version + 1, failed_attempts = @failed_attempts, spec = @spec, attempts = @attempts, stop = @stop
        WHERE id = @id AND version = @version
        """;

    private static readonly string[] ActiveStates = [JobState.Pending.ToWire(), JobState.Preempted.ToWire(), JobState.Running.ToWire()];

    // Jobs as last read, by id. Every write bumps the version under an optimistic check, so a committed
    // row with the same id and version is the same job, whichever server wrote it, and need not be
    // parsed again: the scheduler lists every active job on every pass and most have not changed.
    private readonly ConcurrentDictionary<long, Job> _cache = new();

    public Task<SubmitResult> SubmitAsync(JobSpec spec, string owner, string? idempotencyKey, DateTimeOffset now, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        store.ThrowIfDisposed();

        // PostgreSQL text cannot hold NUL; refused here so the bad value never reaches a shared batch.
        // (The spec goes out as JSON, which escapes it.)
        if (owner.Contains('\0', StringComparison.Ordinal) || idempotencyKey?.Contains('\0', StringComparison.Ordinal) == true)
        {
            throw new ArgumentException("The owner and idempotency key of a job cannot contain a NUL character.", idempotencyKey?.Contains('\0', StringComparison.Ordinal) == true ? nameof(idempotencyKey) : nameof(owner));
        }

        // Serialise on the caller's thread: the submit loop is the shared resource, the callers are many.
        var operation = new SubmitOperation(spec, PersistenceJson.WriteSpec(spec), owner, idempotencyKey, PersistenceJson.Truncate(now), audit, cancellationToken);
        return store.Submits.EnqueueAsync(operation);
    }

    public async Task<Job?> GetAsync(long id, CancellationToken cancellationToken = default)
    {
        var jobs = await store.ReadAsync($"SELECT {Columns} FROM jobs WHERE id = @id", p => p.Int64("@id", id), ReadCommittedJob, cancellationToken).ConfigureAwait(false);
        return jobs.Count == 0 ? null : jobs[0];
    }

    public async Task<JobPage> ListAsync(JobQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var limit = Math.Clamp(query.Limit, 1, MaxPageSize);
        var sql = new StringBuilder($"SELECT {Columns} FROM jobs WHERE TRUE");
        if (query.Projects is not null)
        {
            // An empty filter matches nothing, as "only jobs in these projects" says; = ANY of an empty array does that.
            sql.Append(" AND project = ANY(@projects)");
        }

        if (query.States is not null)
        {
            sql.Append(" AND state = ANY(@states)");
        }

        if (query.Owner is not null)
        {
            sql.Append(" AND owner = @owner");
        }

        if (query.BeforeId is not null)
        {
            sql.Append(" AND id < @before");
        }

        // One row more than asked says whether another page exists without a second query.
        sql.Append(" ORDER BY id DESC LIMIT @limit");

        var jobs = await store.ReadAsync(
            sql.ToString(),
            p =>
            {
                if (query.Projects is not null)
                {
                    p.TextArray("@projects", [.. query.Projects]);
                }

                if (query.States is not null)
                {
                    p.TextArray("@states", [.. query.States.Select(s => s.ToWire())]);
                }

                if (query.Owner is not null)
                {
                    p.Text("@owner", query.Owner);
                }

                if (query.BeforeId is { } before)
                {
                    p.Int64("@before", before);
                }

                p.Int32("@limit", limit + 1);
            },
            ReadCommittedJob,
            cancellationToken).ConfigureAwait(false);

        if (jobs.Count <= limit)
        {
            return new JobPage(jobs, null);
        }

        jobs.RemoveAt(jobs.Count - 1);
        return new JobPage(jobs, jobs[^1].Id);
    }

    public async Task<IReadOnlyList<Job>> ListActiveAsync(CancellationToken cancellationToken = default) =>
        await store.ReadAsync(
            $"SELECT {Columns} FROM jobs WHERE state = ANY(@states) ORDER BY id",
            p => p.TextArray("@states", ActiveStates),
            ReadCommittedJob,
            cancellationToken).ConfigureAwait(false);

    public Task<bool> UpdateAsync(IReadOnlyList<Job> updates, AuditRecord? audit, CancellationToken cancellationToken = default) =>
        UpdateCoreAsync(updates, audit, fence: null, cancellationToken);

    public Task<bool> UpdateFencedAsync(IReadOnlyList<Job> updates, LeaderFence fence, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fence);
        return UpdateCoreAsync(updates, audit: null, fence, cancellationToken);
    }

    private Task<bool> UpdateCoreAsync(IReadOnlyList<Job> updates, AuditRecord? audit, LeaderFence? fence, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(updates);
        var rows = updates.Select(job => new
        {
            job.Id,
            job.Version,
            Project = job.Spec.Project,
            State = job.State.ToWire(),
            job.Reason,
            UpdatedAt = PersistenceJson.ToMillis(job.UpdatedAt),
            job.FailedAttempts,
            Spec = PersistenceJson.WriteSpec(job.Spec),
            Attempts = PersistenceJson.WriteAttempts(job.Attempts),
            Stop = PersistenceJson.WriteStop(job.Stop),
        }).ToList();

        return store.WriteAsync(async context =>
        {
            if (fence is not null)
            {
                // Before any job row is touched, and holding the lease row until the commit: a replica
                // that lost the lease writes nothing, and a takeover waits for a write already checked.
                await PostgresLeaderLeases.CheckAsync(context, fence).ConfigureAwait(false);
            }

            // Every update and the audit record go out in one round trip: a scheduling pass that starts
            // fifty jobs does not pay fifty network latencies while it holds their row locks.
            var batch = new NpgsqlBatch(context.Connection, context.Transaction);
            await using (batch.ConfigureAwait(false))
            {
                foreach (var row in rows)
                {
                    var statement = new NpgsqlBatchCommand(UpdateSql);
                    statement.Parameters
                        .Int64("@id", row.Id)
                        .Int64("@version", row.Version)
                        .Text("@project", row.Project)
                        .Text("@state", row.State)
                        .Text("@reason", row.Reason)
                        .Int64("@updated_at", row.UpdatedAt)
                        .Int32("@failed_attempts", row.FailedAttempts)
                        .Text("@spec", row.Spec)
                        .Text("@attempts", row.Attempts)
                        .Text("@stop", row.Stop);
                    batch.BatchCommands.Add(statement);
                }

                if (audit is not null)
                {
                    var statement = new NpgsqlBatchCommand(PostgresWriteContext.InsertAuditSql);
                    statement.Parameters.Audit(audit);
                    batch.BatchCommands.Add(statement);
                }

                if (batch.BatchCommands.Count == 0)
                {
                    return true;
                }

                await batch.ExecuteNonQueryAsync().ConfigureAwait(false);
                for (var i = 0; i < rows.Count; i++)
                {
                    if (batch.BatchCommands[i].RecordsAffected == 0)
                    {
                        // Someone else moved this job on (or it does not exist): the caller's plan is
                        // stale, and the whole transaction, audit record included, is rolled back.
                        context.Discard = true;
                        return false;
                    }
                }

                return true;
            }
        }, cancellationToken);
    }

    internal static Job ParseJob(NpgsqlDataReader reader) => new()
    {
        Id = reader.GetInt64(0),
        Owner = reader.GetString(1),
        State = Enum.Parse<JobState>(reader.GetString(2)),
        Reason = reader.GetString(3),
        SubmittedAt = PersistenceJson.FromMillis(reader.GetInt64(4)),
        UpdatedAt = PersistenceJson.FromMillis(reader.GetInt64(5)),
        Version = reader.GetInt64(6),
        FailedAttempts = reader.GetInt32(7),
        Spec = PersistenceJson.ReadSpec(reader.GetString(8)),
        Attempts = PersistenceJson.ReadAttempts(reader.GetString(9)),
        Stop = PersistenceJson.ReadStop(reader.GetNullableString(10)),
    };

    private Job ReadCommittedJob(NpgsqlDataReader reader)
    {
        var id = reader.GetInt64(0);
        if (_cache.TryGetValue(id, out var cached) && cached.Version == reader.GetInt64(6))
        {
            return cached;
        }

        var job = ParseJob(reader);
        if (_cache.Count >= MaxCachedJobs)
        {
            _cache.Clear();
        }

        _cache[id] = job;
        return job;
    }
}
