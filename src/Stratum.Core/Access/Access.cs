namespace Stratum.Core.Access;

/// <summary>Roles within one project, ordered by what they may do.</summary>
public enum ProjectRole
{
    /// <summary>Reads the project's jobs and logs.</summary>
    Viewer = 1,

    /// <summary>Also submits and cancels the project's jobs.</summary>
    Member = 2,

    /// <summary>Also manages the project's members and quota requests.</summary>
    Owner = 3,
}

/// <summary>A person or service account. Admins manage the installation; everyone else has project roles.</summary>
public sealed record User
{
    public required string Name { get; init; }

    public bool IsAdmin { get; init; }

    public IReadOnlyDictionary<string, ProjectRole> Roles { get; init; } = new Dictionary<string, ProjectRole>();

    public DateTimeOffset CreatedAt { get; init; }

    public ProjectRole? RoleIn(string project) => Roles.TryGetValue(project, out var role) ? role : null;

    public bool Can(string project, ProjectRole needed) => IsAdmin || RoleIn(project) >= needed;
}

/// <summary>
/// A bearer token as stored: only the SHA-256 hash of the secret is kept. <see cref="Id"/> is public
/// and names the token in listings and audit entries.
/// </summary>
public sealed record ApiToken
{
    public required string Id { get; init; }

    public required string UserName { get; init; }

    public required string Name { get; init; }

    public required string SecretHash { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    public bool IsActive(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is null || ExpiresAt > now);
}

/// <summary>One change, who made it, when and from where. Written in the same transaction as the change.</summary>
public sealed record AuditRecord(DateTimeOffset At, string Actor, string Action, string Target, string? Detail = null, string? RemoteAddress = null);

public sealed record AuditEntry(long Id, DateTimeOffset At, string Actor, string Action, string Target, string? Detail, string? RemoteAddress);
