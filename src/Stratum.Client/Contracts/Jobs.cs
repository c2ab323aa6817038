namespace Stratum.Client.Contracts;

// The wire format of /api/v1, shared by the server (which produces it) and the client, the CLI and
// the tests (which consume it). JSON is camelCase; unknown request fields are rejected by the server.

/// <summary>Resources for one replica. Quantities are strings as people write them: cpu "2" or "500m", memory "4Gi".</summary>
public sealed record ResourcesDto
{
    public string? Cpu { get; init; }

    public string? Memory { get; init; }

    /// <summary>Accelerators of <see cref="GpuType"/>; 0 or absent for none.</summary>
    public int? Gpus { get; init; }

    /// <summary>Accelerator type ("nvidia-h100"); with Gpus and no type the server picks the only type it has or rejects the request.</summary>
    public string? GpuType { get; init; }
}

public sealed record RetryDto
{
    public int? MaxAttempts { get; init; }

    public bool? RetryWhenLost { get; init; }
}

public sealed record SubmitJobRequest
{
    public string? Name { get; init; }

    public string? Project { get; init; }

    public IReadOnlyList<string>? Command { get; init; }

    public IReadOnlyDictionary<string, string>? Env { get; init; }

    public string? WorkingDirectory { get; init; }

    public ResourcesDto? Resources { get; init; }

    public int? Replicas { get; init; }

    public int? Priority { get; init; }

    public bool? Preemptible { get; init; }

    /// <summary>"2h", "30m", "90s".</summary>
    public string? MaxRuntime { get; init; }

    public RetryDto? Retry { get; init; }

    /// <summary>Node labels every replica's node must carry (<c>pool</c> also matches the node's pool).</summary>
    public IReadOnlyDictionary<string, string>? NodeSelector { get; init; }

    /// <summary>Repository refs checked out read-only into the working directory (see <see cref="JobInputDto"/>).</summary>
    public IReadOnlyList<JobInputDto>? Inputs { get; init; }

    public IReadOnlyList<JobOutputDto>? Outputs { get; init; }

    public JobCheckpointsDto? Checkpoints { get; init; }
}

public sealed record PlacementDto(int Rank, string Node, IReadOnlyList<int> Accelerators);

public sealed record AttemptDto(int Number, IReadOnlyList<PlacementDto> Placement, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, int? ExitCode, string? Outcome, IReadOnlyList<StoreCommitDto>? StoreCommits = null);

public sealed record JobResourcesDto(string Cpu, string Memory, int Gpus, IReadOnlyDictionary<string, int> Accelerators, long CpuMillis, long MemoryBytes);

public sealed record JobDto
{
    public required long Id { get; init; }

    public required string Name { get; init; }

    public required string Project { get; init; }

    public required string Owner { get; init; }

    /// <summary>Pending, Running, Succeeded, Failed, Cancelled or Preempted.</summary>
    public required string State { get; init; }

    public required string Reason { get; init; }

    public required IReadOnlyList<string> Command { get; init; }

    public required JobResourcesDto Resources { get; init; }

    public int Replicas { get; init; }

    public int Priority { get; init; }

    public bool Preemptible { get; init; }

    public string? MaxRuntime { get; init; }

    public int MaxAttempts { get; init; }

    public DateTimeOffset SubmittedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? EndedAt { get; init; }

    public int? ExitCode { get; init; }

    /// <summary>Set while a cancel, preemption or timeout is stopping the job.</summary>
    public string? Stopping { get; init; }

    public IReadOnlyList<AttemptDto> Attempts { get; init; } = [];

    /// <summary>Node labels every replica's node must carry; empty for none.</summary>
    public IReadOnlyDictionary<string, string> NodeSelector { get; init; } = new Dictionary<string, string>();

    /// <summary>Inputs with the commits they were resolved to at submission; empty for none.</summary>
    public IReadOnlyList<JobInputDto> Inputs { get; init; } = [];

    /// <summary>Outputs with the commit each made once the job succeeded; empty for none.</summary>
    public IReadOnlyList<JobOutputDto> Outputs { get; init; } = [];

    public JobCheckpointsDto? Checkpoints { get; init; }
}

/// <summary>A page of a listing; pass <see cref="NextCursor"/> as <c>cursor</c> for the next one.</summary>
public sealed record PageDto<T>(IReadOnlyList<T> Items, string? NextCursor);

public sealed record QueuedJobDto(long Id, string Name, string Project, int Priority, string State);

/// <summary>Why a job is where it is, and for a queued job what stands in its way.</summary>
public sealed record JobWhyDto
{
    public required long Id { get; init; }

    public required string State { get; init; }

    public required string Reason { get; init; }

    /// <summary>Nodes rejected in the last scheduling pass, counted by reason.</summary>
    public IReadOnlyDictionary<string, int> NodeRejections { get; init; } = new Dictionary<string, int>();

    /// <summary>1 for the head of the queue; 0 when not queued.</summary>
    public int QueuePosition { get; init; }

    public IReadOnlyList<QueuedJobDto> QueueAhead { get; init; } = [];

    public DateTimeOffset? LastScheduledAt { get; init; }

    /// <summary>When the last pass expects the job to start, from the running jobs' known ends; null when unknown (or not queued).</summary>
    public DateTimeOffset? EstimatedStart { get; init; }
}
