using Stratum.Core.Resources;

namespace Stratum.Scheduling.Placement;

/// <summary>
/// One replica's needs in flat arrays. The checks and scorers run once per node per replica, and
/// walking <see cref="ResourceVector.Accelerators"/> (an immutable sorted tree) there was most of the
/// cost of a pass over a large cluster (measured by hand: 1,000 nodes and 2,000 queued jobs).
/// </summary>
internal sealed class ReplicaRequest
{
    public ReplicaRequest(ResourceVector resources)
    {
        Resources = resources;
        CpuMillis = resources.CpuMillis;
        MemoryBytes = resources.MemoryBytes;
        Types = [.. resources.Accelerators.Keys];
        Counts = [.. resources.Accelerators.Values];

        // Rejection keys are counted for every rejected node; building them once per job keeps string
        // formatting out of the per-node loop.
        MissingTypeKeys = [.. Types.Select(AcceleratorTypeCheck.KeyFor)];
        InsufficientTypeKeys = [.. Types.Select(AcceleratorCountCheck.KeyFor)];
    }

    public ResourceVector Resources { get; }

    public long CpuMillis { get; }

    public long MemoryBytes { get; }

    /// <summary>Accelerator types asked for, in ordinal order; <see cref="Counts"/> holds how many of each.</summary>
    public IReadOnlyList<string> Types { get; }

    public IReadOnlyList<int> Counts { get; }

    /// <summary>"no {type} on node" for each of <see cref="Types"/>.</summary>
    public IReadOnlyList<string> MissingTypeKeys { get; }

    /// <summary>"insufficient {type}" for each of <see cref="Types"/>.</summary>
    public IReadOnlyList<string> InsufficientTypeKeys { get; }

    public bool NeedsAccelerators => Types.Count > 0;
}
