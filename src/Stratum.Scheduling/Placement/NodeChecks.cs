using Stratum.Core.Cluster;

namespace Stratum.Scheduling.Placement;

/// <summary>
/// One feasibility question about a node for one replica. Checks run cheapest first and the first
/// that rejects a node names the reason, so the counts by reason tell a user why nothing fits.
/// </summary>
internal interface INodeCheck
{
    /// <summary>Null when <paramref name="node"/> passes, else the reason key ("insufficient cpu").</summary>
    string? Reject(NodeFree node, ReplicaRequest replica);
}

/// <summary>Only Ready nodes take new work.</summary>
internal sealed class NodeStateCheck : INodeCheck
{
    public const string Draining = "node draining";
    public const string Down = "node down";

    public string? Reject(NodeFree node, ReplicaRequest replica) => node.Node.State switch
    {
        NodeState.Ready => null,
        NodeState.Draining => Draining,
        _ => Down,
    };
}

/// <summary>The node has devices of every accelerator type the replica asks for.</summary>
internal sealed class AcceleratorTypeCheck : INodeCheck
{
    public static string KeyFor(string type) => $"no {type} on node";

    public string? Reject(NodeFree node, ReplicaRequest replica)
    {
        for (var i = 0; i < replica.Types.Count; i++)
        {
            if (!node.HasAcceleratorType(replica.Types[i]))
            {
                return replica.MissingTypeKeys[i];
            }
        }

        return null;
    }
}

internal sealed class CpuCheck : INodeCheck
{
    public const string Key = "insufficient cpu";

    public string? Reject(NodeFree node, ReplicaRequest replica) => replica.CpuMillis > node.CpuMillis ? Key : null;
}

internal sealed class MemoryCheck : INodeCheck
{
    public const string Key = "insufficient memory";

    public string? Reject(NodeFree node, ReplicaRequest replica) => replica.MemoryBytes > node.MemoryBytes ? Key : null;
}

/// <summary>Enough free devices of each requested type on this one node (a replica never spans nodes).</summary>
internal sealed class AcceleratorCountCheck : INodeCheck
{
    public static string KeyFor(string type) => $"insufficient {type}";

    public string? Reject(NodeFree node, ReplicaRequest replica)
    {
        for (var i = 0; i < replica.Types.Count; i++)
        {
            if (replica.Counts[i] > node.FreeAccelerators(replica.Types[i]))
            {
                return replica.InsufficientTypeKeys[i];
            }
        }

        return null;
    }
}
