using Stratum.Client.Contracts;
using Stratum.Core;
using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Server.Api;

/// <summary>Between the wire format (Stratum.Client.Contracts) and the domain (Stratum.Core).</summary>
public static class Mapping
{
    public static JobResourcesDto ToDto(this ResourceVector resources) => new(
        Quantity.FormatCpu(resources.CpuMillis),
        Quantity.FormatMemory(resources.MemoryBytes),
        resources.AcceleratorCount,
        resources.Accelerators,
        resources.CpuMillis,
        resources.MemoryBytes);

    public static JobDto ToDto(this Job job, string? liveReason = null, string? dataPhase = null)
    {
        var first = job.Attempts.Count > 0 ? job.Attempts[0] : null;
        var last = job.CurrentAttempt;
        return new JobDto
        {
            Id = job.Id,
            Name = job.Spec.Name,
            Project = job.Spec.Project,
            Owner = job.Owner,
            State = job.State.ToWire(),
            Reason = job.State.IsQueued() && liveReason is not null ? liveReason : job.State == JobState.Running && dataPhase is not null ? dataPhase : job.Reason,
            Command = job.Spec.Command,
            Resources = job.Spec.Resources.ToDto(),
            Replicas = job.Spec.Replicas,
            Priority = job.Spec.Priority,
            Preemptible = job.Spec.Preemptible,
            MaxRuntime = job.Spec.MaxRuntime is { } runtime ? Quantity.FormatDuration(runtime) : null,
            MaxAttempts = job.Spec.Retry.MaxAttempts,
            SubmittedAt = job.SubmittedAt,
            UpdatedAt = job.UpdatedAt,
            StartedAt = first?.StartedAt,
            EndedAt = job.State.IsTerminal() ? last?.EndedAt : null,
            ExitCode = job.State.IsTerminal() ? last?.ExitCode : null,
            Stopping = job.Stop is { } stop && job.State == JobState.Running ? $"{stop.Kind.ToString().ToLowerInvariant()}: {stop.Reason}" : null,
            Attempts = job.Attempts.Select(a => new AttemptDto(
                a.Number,
                a.Placement.Select(p => new PlacementDto(p.Rank, p.Node, p.AcceleratorIndices)).ToList(),
                a.StartedAt,
                a.EndedAt,
                a.ExitCode,
                a.Outcome,
                Jobs.JobDataMapping.CommitsDto(a))).ToList(),
            NodeSelector = job.Spec.NodeSelector,
            Inputs = Jobs.JobDataMapping.InputsDto(job),
            Outputs = Jobs.JobDataMapping.OutputsDto(job),
            Checkpoints = Jobs.JobDataMapping.CheckpointsDto(job),
        };
    }

    /// <summary>
    /// Turns a submit request into a spec, collecting every problem. <paramref name="acceleratorTypes"/>
    /// are the types the cluster has, used when the request gives a GPU count without a type.
    /// </summary>
    public static (JobSpec? Spec, List<ValidationError> Errors) ToSpec(this SubmitJobRequest request, IReadOnlyCollection<string> acceleratorTypes)
    {
        var errors = new List<ValidationError>();
        var resources = request.Resources ?? new ResourcesDto();

        long cpuMillis = 1000;
        if (resources.Cpu is { } cpuText && !Quantity.TryParseCpu(cpuText, out cpuMillis))
        {
            errors.Add(new("resources.cpu", $"'{cpuText}' is not a CPU amount; write cores (\"2\", \"0.5\") or millicores (\"500m\")"));
        }

        long memoryBytes = 1L << 30;
        if (resources.Memory is { } memoryText && !Quantity.TryParseMemory(memoryText, out memoryBytes))
        {
            errors.Add(new("resources.memory", $"'{memoryText}' is not a memory amount; write for example \"512Mi\", \"4Gi\""));
        }

        var gpus = resources.Gpus ?? 0;
        string? gpuType = resources.GpuType;
        if (gpus < 0 || gpus > 1024)
        {
            errors.Add(new("resources.gpus", "must be between 0 and 1024"));
        }
        else if (gpus > 0 && gpuType is null)
        {
            if (acceleratorTypes.Count == 1)
            {
                gpuType = acceleratorTypes.First();
            }
            else
            {
                errors.Add(new("resources.gpuType", acceleratorTypes.Count == 0
                    ? "no node has accelerators; a job asking for GPUs can never run here"
                    : $"name one of the accelerator types this cluster has: {string.Join(", ", acceleratorTypes)}"));
            }
        }

        TimeSpan? maxRuntime = null;
        if (request.MaxRuntime is { } runtimeText)
        {
            if (Quantity.TryParseDuration(runtimeText, out var parsed))
            {
                maxRuntime = parsed;
            }
            else
            {
                errors.Add(new("maxRuntime", $"'{runtimeText}' is not a duration; write for example \"90s\", \"30m\", \"2h\""));
            }
        }

        var command = request.Command ?? [];
        var name = request.Name ?? DefaultName(command);
        var spec = new JobSpec
        {
            Name = name,
            Project = request.Project ?? "default",
            Command = command,
            Environment = request.Env ?? new Dictionary<string, string>(),
            WorkingDirectory = request.WorkingDirectory,
            Resources = new ResourceVector(cpuMillis, memoryBytes, gpus > 0 && gpuType is not null ? [new(gpuType, gpus)] : null),
            Replicas = request.Replicas ?? 1,
            Priority = request.Priority ?? 0,
            Preemptible = request.Preemptible ?? false,
            MaxRuntime = maxRuntime,
            Retry = new RetryPolicy
            {
                MaxAttempts = request.Retry?.MaxAttempts ?? 1,
                RetryWhenLost = request.Retry?.RetryWhenLost ?? true,
            },
            NodeSelector = request.NodeSelector ?? new Dictionary<string, string>(),
            Inputs = Jobs.JobDataMapping.ToInputs(request.Inputs),
            Outputs = Jobs.JobDataMapping.ToOutputs(request.Outputs),
            Checkpoints = Jobs.JobDataMapping.ToCheckpoints(request.Checkpoints),
        };
        errors.AddRange(spec.Validate());
        return (errors.Count == 0 ? spec : null, errors);
    }

    /// <summary>A job name from its program: "/usr/bin/python3" → "python3"; "" → "job".</summary>
    public static string DefaultName(IReadOnlyList<string> command) =>
        command.Count > 0 && command[0] is { } program ? Names.FromText(Path.GetFileName(program), "job") : "job";

    public static NodeDto ToDto(this Node node, ResourceVector allocated, int runningJobs) => new()
    {
        Name = node.Name,
        Pool = node.Pool,
        State = node.State.ToString(),
        StateReason = node.StateReason,
        Capacity = node.Capacity.ToDto(),
        Allocatable = node.Allocatable.ToDto(),
        Allocated = allocated.ToDto(),
        Labels = node.Labels,
        Accelerators = node.Accelerators.Select(a => new AcceleratorDto(a.Index, a.Type, a.Model, a.MemoryBytes, a.Uuid)).ToList(),
        RunningJobs = runningJobs,
    };

    public static PoolDto ToDto(this Pool pool) => new()
    {
        Name = pool.Name,
        Kind = pool.Kind switch { PoolKind.OnPrem => "on-prem", PoolKind.Cloud => "cloud", _ => "edge" },
        Executor = pool.Executor,
        Price = new PriceDto
        {
            Model = pool.Price.Kind switch { PricingKind.OnDemand => "on-demand", PricingKind.Spot => "spot", _ => "reserved" },
            GpuHour = pool.Price.PerAcceleratorHour,
            CpuCoreHour = pool.Price.PerCpuCoreHour,
            MemoryGbHour = pool.Price.PerMemoryGbHour,
            Currency = pool.Price.Currency,
        },
    };

    public static QuotaDto ToDto(this Quota quota) => new()
    {
        Cpu = quota.CpuMillis is { } cpu ? Quantity.FormatCpu(cpu) : null,
        Memory = quota.MemoryBytes is { } memory ? Quantity.FormatMemory(memory) : null,
        Gpus = quota.Accelerators,
        Accelerators = quota.AcceleratorsByType.Count > 0 ? quota.AcceleratorsByType : null,
        Cohort = quota.Cohort,
        BorrowingLimit = quota.BorrowingLimit?.ToDto(),
        LendingLimit = quota.LendingLimit?.ToDto(),
    };

    public static ProjectDto ToDto(this Project project, ResourceVector? used = null, int? running = null, int? queued = null) => new()
    {
        Name = project.Name,
        Description = project.Description,
        Quota = project.Quota.ToDto(),
        Used = used?.ToDto(),
        RunningJobs = running,
        QueuedJobs = queued,
        CreatedAt = project.CreatedAt,
    };

    public static UserDto ToDto(this User user) => new()
    {
        Name = user.Name,
        Admin = user.IsAdmin,
        Roles = user.Roles.ToDictionary(kv => kv.Key, kv => kv.Value.ToString().ToLowerInvariant()),
    };

    public static TokenDto ToDto(this ApiToken token) =>
        new(token.Id, token.UserName, token.Name, token.CreatedAt, token.ExpiresAt, token.RevokedAt);

    public static AuditEntryDto ToDto(this AuditEntry entry) =>
        new(entry.Id, entry.At, entry.Actor, entry.Action, entry.Target, entry.Detail, entry.RemoteAddress);

    public static Quota ToQuota(this QuotaDto dto, string field, List<ValidationError> errors)
    {
        long? cpu = null;
        if (dto.Cpu is { } cpuText)
        {
            if (Quantity.TryParseCpu(cpuText, out var millis))
            {
                cpu = millis;
            }
            else
            {
                errors.Add(new($"{field}.cpu", $"'{cpuText}' is not a CPU amount"));
            }
        }

        long? memory = null;
        if (dto.Memory is { } memoryText)
        {
            if (Quantity.TryParseMemory(memoryText, out var bytes))
            {
                memory = bytes;
            }
            else
            {
                errors.Add(new($"{field}.memory", $"'{memoryText}' is not a memory amount"));
            }
        }

        if (dto.Gpus is < 0)
        {
            errors.Add(new($"{field}.gpus", "must not be negative"));
        }

        foreach (var (type, count) in dto.Accelerators ?? new Dictionary<string, int>())
        {
            if (Names.Problem(type) is { } problem)
            {
                errors.Add(new($"{field}.accelerators", $"type {problem}"));
            }

            if (count < 0)
            {
                errors.Add(new($"{field}.accelerators.{type}", "must not be negative"));
            }
        }

        if (dto.Cohort is { } cohort && Names.Problem(cohort) is { } cohortProblem)
        {
            errors.Add(new($"{field}.cohort", cohortProblem));
        }

        var borrowing = dto.BorrowingLimit is { } borrowingDto ? LimitOf(borrowingDto, $"{field}.borrowingLimit", errors) : null;
        var lending = dto.LendingLimit is { } lendingDto ? LimitOf(lendingDto, $"{field}.lendingLimit", errors) : null;
        if ((borrowing is not null || lending is not null) && dto.Cohort is null)
        {
            errors.Add(new($"{field}.cohort", "borrowingLimit and lendingLimit need a cohort to borrow from or lend to"));
        }

        return new Quota
        {
            CpuMillis = cpu,
            MemoryBytes = memory,
            Accelerators = dto.Gpus,
            AcceleratorsByType = dto.Accelerators ?? new Dictionary<string, int>(),
            Cohort = dto.Cohort,
            BorrowingLimit = borrowing,
            LendingLimit = lending,
        };
    }

    // A borrowing or lending limit: only cpu, memory and gpus count, so anything else is a mistake worth naming.
    private static Quota LimitOf(QuotaDto dto, string field, List<ValidationError> errors)
    {
        if (dto.Accelerators is { Count: > 0 } || dto.Cohort is not null || dto.BorrowingLimit is not null || dto.LendingLimit is not null)
        {
            errors.Add(new(field, "only cpu, memory and gpus may be limited here"));
        }

        return (dto with { Accelerators = null, Cohort = null, BorrowingLimit = null, LendingLimit = null }).ToQuota(field, errors);
    }

    public static ProjectRole? ParseRole(string text) => text.ToLowerInvariant() switch
    {
        "owner" => ProjectRole.Owner,
        "member" => ProjectRole.Member,
        "viewer" => ProjectRole.Viewer,
        _ => null,
    };
}
