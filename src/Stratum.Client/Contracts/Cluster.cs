namespace Stratum.Client.Contracts;

public sealed record AcceleratorDto(int Index, string Type, string Model, long MemoryBytes, string? Uuid);

public sealed record NodeDto
{
    public required string Name { get; init; }

    public required string Pool { get; init; }

    /// <summary>Ready, Draining or Down.</summary>
    public required string State { get; init; }

    public string? StateReason { get; init; }

    public required JobResourcesDto Capacity { get; init; }

    public required JobResourcesDto Allocatable { get; init; }

    /// <summary>What running jobs hold now.</summary>
    public required JobResourcesDto Allocated { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<AcceleratorDto> Accelerators { get; init; } = [];

    public int RunningJobs { get; init; }
}

/// <summary>A node as declared by an operator (PUT /api/v1/nodes/NAME or apply).</summary>
public sealed record NodeSpecDto
{
    public string? Pool { get; init; }

    public string? Cpu { get; init; }

    public string? Memory { get; init; }

    /// <summary>Per type; devices are numbered 0.. in declaration order.</summary>
    public IReadOnlyDictionary<string, int>? Accelerators { get; init; }

    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    /// <summary>Ready, Draining or Down.</summary>
    public string? State { get; init; }
}

public sealed record PriceDto
{
    /// <summary>on-demand, spot or reserved.</summary>
    public string? Model { get; init; }

    public decimal? GpuHour { get; init; }

    public decimal? CpuCoreHour { get; init; }

    public decimal? MemoryGbHour { get; init; }

    public string? Currency { get; init; }
}

public sealed record PoolDto
{
    public string? Name { get; init; }

    /// <summary>on-prem, cloud or edge.</summary>
    public string? Kind { get; init; }

    public PriceDto? Price { get; init; }

    /// <summary>"local".</summary>
    public string? Executor { get; init; }
}

public sealed record QuotaDto
{
    public string? Cpu { get; init; }

    public string? Memory { get; init; }

    /// <summary>Accelerators of any type together.</summary>
    public int? Gpus { get; init; }

    public IReadOnlyDictionary<string, int>? Accelerators { get; init; }

    /// <summary>The cohort this project shares idle quota with; null: none (the limits are hard).</summary>
    public string? Cohort { get; init; }

    /// <summary>How far above its quota the project may borrow from its cohort (cpu, memory, gpus count); null: unlimited.</summary>
    public QuotaDto? BorrowingLimit { get; init; }

    /// <summary>How much of its unused quota the project lends to its cohort (cpu, memory, gpus count); null: all of it.</summary>
    public QuotaDto? LendingLimit { get; init; }
}

public sealed record ProjectDto
{
    public string? Name { get; init; }

    public string? Description { get; init; }

    public QuotaDto? Quota { get; init; }

    /// <summary>What the project's running jobs hold now (responses only).</summary>
    public JobResourcesDto? Used { get; init; }

    public int? RunningJobs { get; init; }

    public int? QueuedJobs { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }
}

public sealed record UserDto
{
    public string? Name { get; init; }

    public bool? Admin { get; init; }

    /// <summary>Project name to role: owner, member or viewer.</summary>
    public IReadOnlyDictionary<string, string>? Roles { get; init; }
}

public sealed record CreateTokenRequest
{
    /// <summary>Whose token; defaults to the caller. Only admins create tokens for others.</summary>
    public string? User { get; init; }

    public string? Name { get; init; }

    /// <summary>"30d", "12h"; null for no expiry.</summary>
    public string? ExpiresIn { get; init; }
}

public sealed record TokenDto(string Id, string User, string Name, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt);

/// <summary>The one response that carries a token's secret; it is not stored and cannot be shown again.</summary>
public sealed record CreatedTokenDto(TokenDto Token, string Secret);

public sealed record AuditEntryDto(long Id, DateTimeOffset At, string Actor, string Action, string Target, string? Detail, string? RemoteAddress);

/// <summary>POST /api/v1/apply: a YAML document (infra.yaml) and whether to only show the plan.</summary>
public sealed record ApplyRequest
{
    public string? Document { get; init; }

    public bool DryRun { get; init; }
}

/// <summary>One planned or made change: kind (pool, node, project, user), name, action (create, update, unchanged) and what differs.</summary>
public sealed record ApplyChangeDto(string Kind, string Name, string Action, string? Detail);

public sealed record ApplyResultDto(bool DryRun, IReadOnlyList<ApplyChangeDto> Changes);

/// <summary>What <c>GET /api/v1/info</c> says; <see cref="Leadership"/> is null from servers older than high availability.</summary>
public sealed record ServerInfoDto(string Version, string DataDirectory, DateTimeOffset StartedAt, string SchedulingPolicy, int Nodes, int Projects, LeadershipDto? Leadership = null);

/// <summary>
/// Which replica runs the controller. <see cref="Replica"/> is the answering server; <see cref="Leader"/>
/// whether it leads now; <see cref="LeaderReplica"/> and <see cref="FencingToken"/> the lease as this
/// replica last read it; <see cref="PassesAsLeader"/> the controller passes it completed in its current term.
/// </summary>
public sealed record LeadershipDto(string Replica, bool Leader, string? LeaderReplica, long? FencingToken, DateTimeOffset? LeaseExpiresAt, int PassesAsLeader);
