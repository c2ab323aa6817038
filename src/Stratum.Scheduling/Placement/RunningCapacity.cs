using Stratum.Core.Cluster;
using Stratum.Core.Jobs;

namespace Stratum.Scheduling.Placement;

/// <summary>
/// Free capacity that the caller keeps in step with its running jobs from pass to pass, so that a
/// policy need not work it out again from every running job's placement on every pass. A replay makes
/// hundreds of thousands of passes with hundreds of jobs running; rebuilding was most of its time.
/// Hand it in as <see cref="ClusterSnapshot.Capacity"/>; the caller promises that it holds exactly
/// <see cref="ClusterSnapshot.Nodes"/> less the placements of <see cref="ClusterSnapshot.Running"/>.
/// Not thread-safe: one caller, passes one at a time.
/// </summary>
public sealed class RunningCapacity
{
    private readonly FreeCapacity _free;

    /// <summary>Every node of <paramref name="nodes"/> with nothing running; the same list must go into each snapshot.</summary>
    public RunningCapacity(IReadOnlyList<Node> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        Nodes = nodes;
        _free = FreeCapacity.Empty(nodes);
    }

    /// <summary>The nodes this capacity is for.</summary>
    public IReadOnlyList<Node> Nodes { get; }

    /// <summary>Free accelerators of every type over all nodes, for callers deciding whether a pass could start anything.</summary>
    public int FreeAccelerators
    {
        get
        {
            var free = 0;
            foreach (var node in _free.Nodes)
            {
                foreach (var type in node.AcceleratorTypes)
                {
                    free += node.FreeAccelerators(type);
                }
            }

            return free;
        }
    }

    /// <summary><paramref name="job"/> now runs where its current attempt is placed.</summary>
    public void Add(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        _free.Hold(job);
    }

    /// <summary><paramref name="job"/>, which ran where its current attempt is placed, has stopped.</summary>
    public void Remove(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        _free.Release(job);
    }

    /// <summary>A working copy for one pass; it shares unchanged nodes with this one.</summary>
    internal FreeCapacity Copy() => _free.Clone();
}
