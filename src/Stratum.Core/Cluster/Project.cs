using Stratum.Core.Resources;

namespace Stratum.Core.Cluster;

/// <summary>
/// Limits on what one project may hold at once. A null limit is no limit. <see cref="Accelerators"/>
/// limits accelerators of any type together ("gpu 8"); <see cref="AcceleratorsByType"/> can further
/// limit single types.
/// </summary>
public sealed record Quota
{
    public static Quota Unlimited { get; } = new();

    public long? CpuMillis { get; init; }

    public long? MemoryBytes { get; init; }

    public int? Accelerators { get; init; }

    public IReadOnlyDictionary<string, int> AcceleratorsByType { get; init; } = new Dictionary<string, int>();

    /// <summary>
    /// The cohort this project shares idle quota with (Kueue cohort semantics); null: none, and the limits
    /// above are hard. Within a cohort the limits above are the project's nominal (guaranteed) quota.
    /// </summary>
    public string? Cohort { get; init; }

    /// <summary>
    /// How far above its nominal cpu, memory and gpu the project may go by borrowing idle quota of its
    /// cohort; only the cpu, memory and accelerator fields count. Null: as far as the cohort has idle quota.
    /// </summary>
    public Quota? BorrowingLimit { get; init; }

    /// <summary>
    /// How much of its unused nominal cpu, memory and gpu the project lends to its cohort; only the cpu,
    /// memory and accelerator fields count. Null: all of it.
    /// </summary>
    public Quota? LendingLimit { get; init; }

    public bool IsUnlimited => CpuMillis is null && MemoryBytes is null && Accelerators is null && AcceleratorsByType.Count == 0;

    /// <summary>
    /// The limits that <paramref name="used"/> plus <paramref name="request"/> would break, in words
    /// ("gpu 8/8 (+4 requested)"); empty when the request is within quota.
    /// </summary>
    public IReadOnlyList<string> Exceeded(ResourceVector used, ResourceVector request)
    {
        var problems = new List<string>();
        if (CpuMillis is { } cpu && used.CpuMillis + request.CpuMillis > cpu)
        {
            problems.Add($"cpu {Quantity.FormatCpu(used.CpuMillis)}/{Quantity.FormatCpu(cpu)} (+{Quantity.FormatCpu(request.CpuMillis)} requested)");
        }

        if (MemoryBytes is { } memory && used.MemoryBytes + request.MemoryBytes > memory)
        {
            problems.Add($"memory {Quantity.FormatMemory(used.MemoryBytes)}/{Quantity.FormatMemory(memory)} (+{Quantity.FormatMemory(request.MemoryBytes)} requested)");
        }

        if (Accelerators is { } gpus && used.AcceleratorCount + request.AcceleratorCount > gpus)
        {
            problems.Add($"gpu {used.AcceleratorCount}/{gpus} (+{request.AcceleratorCount} requested)");
        }

        foreach (var (type, limit) in AcceleratorsByType)
        {
            if (used.AcceleratorsOf(type) + request.AcceleratorsOf(type) > limit)
            {
                problems.Add($"{type} {used.AcceleratorsOf(type)}/{limit} (+{request.AcceleratorsOf(type)} requested)");
            }
        }

        return problems;
    }

    /// <summary>True when <paramref name="request"/> alone exceeds the quota, so it can never run.</summary>
    public bool NeverFits(ResourceVector request) => Exceeded(ResourceVector.Zero, request).Count > 0;
}

public sealed record Project
{
    public required string Name { get; init; }

    public string? Description { get; init; }

    public Quota Quota { get; init; } = Quota.Unlimited;

    public Budget? Budget { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}
