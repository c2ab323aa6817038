using Stratum.Core.Resources;

namespace Stratum.Scheduling.Placement;

/// <summary>
/// One replica's needs in flat arrays. The checks and scorers run once per node per replica, and
/// walking <see cref="ResourceVector.Accelerators"/> (an immutable sorted tree) there was most of the
/// cost of a pass over a large cluster (measured by hand: 1,000 nodes and 2,000 queued jobs).
/// </summary>
internal sealed class ReplicaRequest
{
    // Keyed by reference: a resource vector never changes, and a running job's is looked at on every
    // pass (holding and releasing it), where walking the sorted tree again was a large share of a replay.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ResourceVector, ReplicaRequest> Cache = [];

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

    /// <summary>The flat form of <paramref name="resources"/>, made once per vector and then shared.</summary>
    public static ReplicaRequest For(ResourceVector resources) => Cache.GetValue(resources, r => new ReplicaRequest(r));

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

    /// <summary>
    /// <see cref="Types"/> as one capacity index numbers them (<see cref="TypeNumbers.Owner"/>: that index's type
    /// table, shared by its copies), kept here so the per-node checks look no type name up (set by the index).
    /// </summary>
    internal TypeNumbers? Numbered { get; set; }

    internal sealed record TypeNumbers(object Owner, int[] Numbers);
}
