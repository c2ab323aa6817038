using Stratum.Core.Resources;

namespace Stratum.Core.Cluster;

public enum NodeState
{
    /// <summary>Accepts new work.</summary>
    Ready,

    /// <summary>Running work finishes; nothing new is placed.</summary>
    Draining,

    /// <summary>Unreachable or failed; nothing runs here.</summary>
    Down,
}

/// <summary>One accelerator on a node, as the discovery found it or the operator declared it.</summary>
public sealed record AcceleratorDevice(int Index, string Type, string Model, long MemoryBytes, string? Uuid = null);

/// <summary>Well-known node label keys.</summary>
public static class NodeLabels
{
    public const string Site = "site";
    public const string Rack = "rack";
    public const string Pool = "pool";
}

/// <summary>
/// A machine that runs replicas. <see cref="Allocatable"/> is what the scheduler may hand out: the
/// capacity less what the operator reserves for the system.
/// </summary>
public sealed record Node
{
    public required string Name { get; init; }

    public required string Pool { get; init; }

    public required ResourceVector Capacity { get; init; }

    public required ResourceVector Allocatable { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<AcceleratorDevice> Accelerators { get; init; } = [];

    public NodeState State { get; init; } = NodeState.Ready;

    public string? StateReason { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    public string? Site => Labels.GetValueOrDefault(NodeLabels.Site);

    public string? Rack => Labels.GetValueOrDefault(NodeLabels.Rack);
}
