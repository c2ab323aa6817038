using System.Collections.Concurrent;
using System.Text;
using Microsoft.Data.Sqlite;
using Stratum.Core.Access;
using Stratum.Core.Jobs;

namespace Stratum.Persistence;

internal sealed class SqliteJobRepository(SqliteMetadataStore store) : IJobRepository
{
    public const int MaxPageSize = 1000;

    /// <summary>Past this many cached jobs the cache starts over, bounding its memory.</summary>
    private const int MaxCachedJobs = 100_000;

    private const string Columns = "id, owner, state, reason, submitted_at, updated_at, version, failed_attempts, spec, attempts, stop";

    private const string FindByKeySql = $"SELECT {Columns} FROM jobs WHERE owner = @owner AND idempotency_key = @key";

    private const string InsertSql = """
        INSERT INTO jobs (project, owner, state, idempotency_key, reason, submitted_at, updated_at, version, failed_attempts, spec, attempts, stop)
        VALUES (@project, @owner, @state, @key, '', @at, @at, 1, 0, @spec, '[]', NULL)
        ON CONFLICT (owner, idempotency_key) DO NOTHING
        RETURNING id
        """;

    private const string UpdateSql = """
        UPDATE jobs SET project = @project, state = @state, reason = @reason, updated_at = @updated_at,
            version = version + 1, failed_attempts = @failed_attempts, spec = @spec, attempts = @attempts, stop = @stop
        WHERE id = @id AND version = @version
        """;

    private static readonly string[] ActiveStates = [JobState.Pending.ToWire(), JobState.Preempted.ToWire(), JobState.Running.ToWire()];

    // Jobs as last read, by id. Every write bumps the version, so a committed row with the same id and
    // version is the same job and need not be parsed again: the scheduler lists every active job on
    // every pass and most have not changed. Only rows read through reader connections (committed
    // data) are cached; the writer's reads could still be rolled back.
    private readonly ConcurrentDictionary<long, Job> _cache = new();

    public Task<SubmitResult> SubmitAsync(JobSpec spec, string owner, string? idempotencyKey, DateTimeOffset now, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrEmpty(owner);

        // Serialise on the caller's thread: the writer thread is the bottleneck, the callers are many.
        var specJson = PersistenceJson.WriteSpec(spec);
        var at = PersistenceJson.Truncate(now);
        return store.Writer.EnqueueAsync(context =>
        {
            // One statement on the common path: the insert yields no id when the owner already used the key.
            var insert = context.Command(InsertSql)
                .Add("@project", spec.Project)
                .Add("@owner", owner)
                .Add("@state", JobState.Pending.ToWire())
                .Add("@key", idempotencyKey)
                .Add("@at", PersistenceJson.ToMillis(at))
                .Add("@spec", specJson);
            if (insert.ExecuteScalar() is not { } inserted)
            {
                var find = context.Command(FindByKeySql).Add("@owner", owner).Add("@key", idempotencyKey);
                using var reader = find.ExecuteReader();
                return reader.Read()
                    ? new SubmitResult(ParseJob(reader), Created: false)
                    : throw new InvalidOperationException($"job with idempotency key '{idempotencyKey}' of '{owner}' conflicted but cannot be found");
            }

            var id = Convert.ToInt64(inserted, System.Globalization.CultureInfo.InvariantCulture);
            context.Audit(audit is null ? null : audit with
            {
                Target = ReplaceId(audit.Target, id)!,
                Detail = ReplaceId(audit.Detail, id),
            });

            var job = new Job
            {
                Id = id,
                Spec = spec,
                Owner = owner,
                State = JobState.Pending,
                SubmittedAt = at,
                UpdatedAt = at,
                Version = 1,
            };
            return new SubmitResult(job, Created: true);
        }, cancellationToken);
    }

    public Task<Job?> GetAsync(long id, CancellationToken cancellationToken = default) =>
        store.ReadAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {Columns} FROM jobs WHERE id = @id";
            command.Add("@id", id);
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadCommittedJob(reader) : null;
        }, cancellationToken);

    public Task<JobPage> ListAsync(JobQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var limit = Math.Clamp(query.Limit, 1, MaxPageSize);
        return store.ReadAsync(connection =>
        {
            using var command = connection.CreateCommand();
            var sql = new StringBuilder($"SELECT {Columns} FROM jobs WHERE 1 = 1");
            AddIn(command, sql, "project", "@p", query.Projects);
            AddIn(command, sql, "state", "@s", query.States?.Select(s => s.ToWire()).ToList());
            if (query.Owner is not null)
            {
                sql.Append(" AND owner = @owner");
                command.Add("@owner", query.Owner);
            }

            if (query.BeforeId is { } beforeId)
            {
                sql.Append(" AND id < @before");
                command.Add("@before", beforeId);
            }

            // One row more than asked says whether another page exists without a second query.
            sql.Append(" ORDER BY id DESC LIMIT @limit");
            command.Add("@limit", limit + 1);
            command.CommandText = sql.ToString();

            var jobs = ReadJobs(command);
            if (jobs.Count <= limit)
            {
                return new JobPage(jobs, null);
            }

            jobs.RemoveAt(jobs.Count - 1);
            return new JobPage(jobs, jobs[^1].Id);
        }, cancellationToken);
    }

    public Task<IReadOnlyList<Job>> ListActiveAsync(CancellationToken cancellationToken = default) =>
        store.ReadAsync<IReadOnlyList<Job>>(connection =>
        {
            using var command = connection.CreateCommand();
            var sql = new StringBuilder($"SELECT {Columns} FROM jobs WHERE 1 = 1");
            AddIn(command, sql, "state", "@s", ActiveStates);
            sql.Append(" ORDER BY id");
            command.CommandText = sql.ToString();
            return ReadJobs(command);
        }, cancellationToken);

    /// <summary>One server owns a SQLite file, so the check is against the in-memory lease of this process.</summary>
    public Task<bool> UpdateFencedAsync(IReadOnlyList<Job> updates, LeaderFence fence, CancellationToken cancellationToken = default)
    {
        ((SqliteLeaderLeases)store.Leases).Check(fence);
        return UpdateAsync(updates, audit: null, cancellationToken);
    }

    public Task<bool> UpdateAsync(IReadOnlyList<Job> updates, AuditRecord? audit, CancellationToken cancellationToken = default)
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

        return store.Writer.EnqueueAsync(context =>
        {
            foreach (var row in rows)
            {
                var command = context.Command(UpdateSql)
                    .Add("@id", row.Id)
                    .Add("@version", row.Version)
                    .Add("@project", row.Project)
                    .Add("@state", row.State)
                    .Add("@reason", row.Reason)
                    .Add("@updated_at", row.UpdatedAt)
                    .Add("@failed_attempts", row.FailedAttempts)
                    .Add("@spec", row.Spec)
                    .Add("@attempts", row.Attempts)
                    .Add("@stop", row.Stop);
                if (command.ExecuteNonQuery() == 0)
                {
                    // Someone else moved this job on (or it does not exist): the caller's plan is stale.
                    context.Discard = true;
                    return false;
                }
            }

            context.Audit(audit);
            return true;
        }, cancellationToken);
    }

    private static void AddIn(SqliteCommand command, StringBuilder sql, string column, string prefix, IReadOnlyCollection<string>? values)
    {
        if (values is null)
        {
            return;
        }

        if (values.Count == 0)
        {
            // An empty filter matches nothing, as "only jobs in these projects" says.
            sql.Append(" AND 1 = 0");
            return;
        }

        sql.Append(" AND ").Append(column).Append(" IN (");
        var i = 0;
        foreach (var value in values)
        {
            var name = prefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            sql.Append(i == 0 ? "" : ", ").Append(name);
            command.Add(name, value);
            i++;
        }

        sql.Append(')');
    }

    private List<Job> ReadJobs(SqliteCommand command)
    {
        var jobs = new List<Job>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            jobs.Add(ReadCommittedJob(reader));
        }

        return jobs;
    }

    private Job ReadCommittedJob(SqliteDataReader reader)
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

    private static Job ParseJob(SqliteDataReader reader) => new()
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

    private static string? ReplaceId(string? text, long id) =>
        text?.Replace(AuditPlaceholders.JobId, id.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
}
