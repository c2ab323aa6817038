namespace Stratum.Scheduling.Placement;

/// <summary>
/// Ranks a feasible node for one replica; lower is better. Scorers are compared in order, the next one
/// breaking ties of the one before, and the node name breaks the last tie.
/// </summary>
internal interface INodeScorer
{
    long Score(NodeFree node, ReplicaRequest replica);
}

/// <summary>
/// Best fit on accelerators: the node left with the fewest free devices of the requested types wins,
/// which keeps large blocks whole for the jobs that need a whole node.
/// </summary>
internal sealed class LeftoverAcceleratorsScorer : INodeScorer
{
    public long Score(NodeFree node, ReplicaRequest replica)
    {
        long left = 0;
        for (var i = 0; i < replica.Types.Count; i++)
        {
            left += node.FreeAccelerators(replica.Types[i]) - replica.Counts[i];
        }

        return left;
    }
}

/// <summary>A replica that needs no accelerator goes where there are none, when it can, to leave accelerator nodes' CPUs to accelerator jobs.</summary>
internal sealed class AvoidAcceleratorNodesScorer : INodeScorer
{
    public long Score(NodeFree node, ReplicaRequest replica) => !replica.NeedsAccelerators && node.HasAccelerators ? 1 : 0;
}

/// <summary>Best fit on CPU: the node left with the least free CPU wins.</summary>
internal sealed class LeftoverCpuScorer : INodeScorer
{
    public long Score(NodeFree node, ReplicaRequest replica) => node.CpuMillis - replica.CpuMillis;
}
