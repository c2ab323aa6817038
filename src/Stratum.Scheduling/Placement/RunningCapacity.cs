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
    // Past this many unread changes the log starts again, and readers build their state from scratch once.
    private const int MaxChanges = 1 << 16;

    private readonly FreeCapacity _free;

    // Every Add and Remove in order, for readers that keep their own state in step with the running jobs
    // (the planning policies' capacity index, quota and fair-share sums) instead of rebuilding it each pass.
    private readonly List<(Job Job, bool Added)> _changes = [];
    private long _dropped;

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
        Record(job, added: true);
    }

    /// <summary><paramref name="job"/>, which ran where its current attempt is placed, has stopped.</summary>
    public void Remove(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        _free.Release(job);
        Record(job, added: false);
    }

    /// <summary>How many changes were ever recorded: where a reader that is in step now reads from next time.</summary>
    internal long ChangeCount => _dropped + _changes.Count;

    /// <summary>The changes recorded since <paramref name="position"/> (an earlier <see cref="ChangeCount"/>), oldest first; false when some were dropped.</summary>
    internal bool TryChangesSince(long position, out ReadOnlySpan<(Job Job, bool Added)> changes)
    {
        if (position < _dropped || position > ChangeCount)
        {
            changes = default;
            return false;
        }

        changes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_changes)[(int)(position - _dropped)..];
        return true;
    }

    /// <summary>How many more jobs run after <paramref name="changes"/> than before them.</summary>
    internal static int Net(ReadOnlySpan<(Job Job, bool Added)> changes)
    {
        var net = 0;
        foreach (var (_, added) in changes)
        {
            net += added ? 1 : -1;
        }

        return net;
    }

    private void Record(Job job, bool added)
    {
        if (_changes.Count == MaxChanges)
        {
            _dropped += _changes.Count;
            _changes.Clear();
        }

        _changes.Add((job, added));
    }

    /// <summary>A working copy for one pass; it shares unchanged nodes with this one.</summary>
    internal FreeCapacity Copy() => _free.Clone();
}
