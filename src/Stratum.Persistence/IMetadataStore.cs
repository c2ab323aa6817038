using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;

namespace Stratum.Persistence;

/// <summary>
/// Metadata: the cluster, projects, users, tokens, jobs and the audit log. SQLite now, PostgreSQL
/// later, both passing one conformance suite. Every method that changes something does it in one
/// transaction, together with the audit record it is given, and has committed durably before it returns.
/// </summary>
public interface IMetadataStore : IAsyncDisposable
{
    /// <summary>Brings the schema to the current version; safe to call on every start.</summary>
    Task MigrateAsync(CancellationToken cancellationToken = default);

    IJobRepository Jobs { get; }

    IClusterRepository Cluster { get; }

    IAccessRepository Access { get; }

    IAuditLog Audit { get; }

    /// <summary>Access keys of the S3 endpoint (docs/s3.md).</summary>
    IS3KeyRepository S3Keys { get; }

    /// <summary>Node and job telemetry with downsampling (docs/observability.md#stored-telemetry).</summary>
    ITelemetryRepository Telemetry { get; }

    /// <summary>Leader election among servers sharing this store (see <see cref="ILeaderLeases"/>).</summary>
    ILeaderLeases Leases { get; }
}

public sealed record SubmitResult(Job Job, bool Created);

public sealed record JobQuery
{
    /// <summary>Only jobs in these projects; null for all.</summary>
    public IReadOnlyCollection<string>? Projects { get; init; }

    /// <summary>Only jobs in these states; null for all.</summary>
    public IReadOnlyCollection<JobState>? States { get; init; }

    public string? Owner { get; init; }

    /// <summary>Only jobs with an id below this one (newest first paging); null starts at the newest.</summary>
    public long? BeforeId { get; init; }

    public int Limit { get; init; } = 100;
}

/// <summary>A page of jobs, newest first; <see cref="NextBeforeId"/> fetches the next page, null at the end.</summary>
public sealed record JobPage(IReadOnlyList<Job> Jobs, long? NextBeforeId);

public interface IJobRepository
{
    /// <summary>
    /// Stores a new job as Pending and returns it with its id. With an idempotency key that
    /// <paramref name="owner"/> used before, returns the job made then, with Created false, and stores nothing.
    /// </summary>
    Task<SubmitResult> SubmitAsync(JobSpec spec, string owner, string? idempotencyKey, DateTimeOffset now, AuditRecord? audit, CancellationToken cancellationToken = default);

    Task<Job?> GetAsync(long id, CancellationToken cancellationToken = default);

    Task<JobPage> ListAsync(JobQuery query, CancellationToken cancellationToken = default);

    /// <summary>Jobs that are Pending, Preempted or Running, oldest first.</summary>
    Task<IReadOnlyList<Job>> ListActiveAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores new versions of several jobs in one transaction. Each update carries the version it was
    /// made from; if any stored job has moved on, nothing is written and false is returned.
    /// The stored versions are the given jobs' <see cref="Job.Version"/> plus one.
    /// </summary>
    Task<bool> UpdateAsync(IReadOnlyList<Job> updates, AuditRecord? audit, CancellationToken cancellationToken = default);

    /// <summary>
    /// <see cref="UpdateAsync"/> for a leader: in the same transaction it checks that the lease still has
    /// <paramref name="fence"/>'s token and is unexpired, and holds that lease row until the commit, so a
    /// replica that lost its lease cannot write. A stale token throws <see cref="StaleFencingTokenException"/>
    /// and writes nothing; a job that moved on returns false as <see cref="UpdateAsync"/> does.
    /// </summary>
    Task<bool> UpdateFencedAsync(IReadOnlyList<Job> updates, LeaderFence fence, CancellationToken cancellationToken = default);
}

public interface IClusterRepository
{
    Task<IReadOnlyList<Pool>> ListPoolsAsync(CancellationToken cancellationToken = default);

    Task UpsertPoolAsync(Pool pool, AuditRecord? audit, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<Node>> ListNodesAsync(CancellationToken cancellationToken = default);

    Task<Node?> GetNodeAsync(string name, CancellationToken cancellationToken = default);

    Task UpsertNodeAsync(Node node, AuditRecord? audit, CancellationToken cancellationToken = default);

    Task<bool> DeleteNodeAsync(string name, AuditRecord? audit, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<Project>> ListProjectsAsync(CancellationToken cancellationToken = default);

    Task<Project?> GetProjectAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Creates the project or replaces its description and quota (CreatedAt is kept).</summary>
    Task UpsertProjectAsync(Project project, AuditRecord? audit, CancellationToken cancellationToken = default);
}

public interface IAccessRepository
{
    Task<User?> GetUserAsync(string name, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<User>> ListUsersAsync(CancellationToken cancellationToken = default);

    /// <summary>Creates the user or replaces its admin flag and project roles.</summary>
    Task UpsertUserAsync(User user, AuditRecord? audit, CancellationToken cancellationToken = default);

    Task CreateTokenAsync(ApiToken token, AuditRecord? audit, CancellationToken cancellationToken = default);

    /// <summary>The token whose secret hashes to <paramref name="secretHash"/>, active or not.</summary>
    Task<ApiToken?> FindTokenByHashAsync(string secretHash, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<ApiToken>> ListTokensAsync(string? userName, CancellationToken cancellationToken = default);

    /// <summary>False when no such token exists.</summary>
    Task<bool> RevokeTokenAsync(string tokenId, DateTimeOffset now, AuditRecord? audit, CancellationToken cancellationToken = default);
}

public interface IAuditLog
{
    /// <summary>For changes that touch no other table (a login, a failed authorisation worth keeping).</summary>
    Task AppendAsync(AuditRecord record, CancellationToken cancellationToken = default);

    /// <summary>Newest first.</summary>
    Task<IReadOnlyList<AuditEntry>> ListAsync(long? beforeId, int limit, CancellationToken cancellationToken = default);
}
