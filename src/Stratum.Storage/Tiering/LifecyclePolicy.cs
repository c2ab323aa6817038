namespace Stratum.Storage.Tiering;

/// <summary>Where a repository wants its packs.</summary>
public enum TierPlacement
{
    /// <summary>Always hot (the default for a repository with no policy).</summary>
    Hot,

    /// <summary>Cold at the next lifecycle run.</summary>
    Cold,

    /// <summary>Cold once a rule of <see cref="LifecyclePolicy"/> holds; back to hot when none does.</summary>
    Lifecycle,
}

/// <summary>
/// A repository's tier placement. With <see cref="TierPlacement.Lifecycle"/> a pack may go cold when it has
/// not been read for <see cref="ColdAfterIdle"/> or was written more than <see cref="ColdAfterAge"/> ago
/// (either rule suffices; at least one must be given). A pack shared by several repositories (dedup) goes
/// cold only when every repository referencing it allows it.
/// </summary>
public sealed record LifecyclePolicy
{
    public static readonly LifecyclePolicy AlwaysHot = new();

    public TierPlacement Placement { get; init; } = TierPlacement.Hot;

    public TimeSpan? ColdAfterIdle { get; init; }

    public TimeSpan? ColdAfterAge { get; init; }

    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (!Enum.IsDefined(Placement))
        {
            problems.Add($"placement must be hot, cold or lifecycle (got {(int)Placement})");
        }

        if (ColdAfterIdle is { } idle && idle <= TimeSpan.Zero)
        {
            problems.Add($"coldAfterIdle must be positive (got {idle})");
        }

        if (ColdAfterAge is { } age && age <= TimeSpan.Zero)
        {
            problems.Add($"coldAfterAge must be positive (got {age})");
        }

        if (Placement == TierPlacement.Lifecycle && ColdAfterIdle is null && ColdAfterAge is null)
        {
            problems.Add("a lifecycle placement needs coldAfterIdle, coldAfterAge or both");
        }

        if (Placement != TierPlacement.Lifecycle && (ColdAfterIdle is not null || ColdAfterAge is not null))
        {
            problems.Add($"coldAfterIdle and coldAfterAge apply to the lifecycle placement only (placement is {Placement.ToString().ToLowerInvariant()})");
        }

        return problems;
    }

    /// <summary>Whether this policy lets a pack written at <paramref name="created"/> and last read at <paramref name="lastAccess"/> be cold at <paramref name="now"/>.</summary>
    public bool AllowsCold(DateTimeOffset now, DateTimeOffset created, DateTimeOffset lastAccess) => Placement switch
    {
        TierPlacement.Cold => true,
        TierPlacement.Lifecycle => (ColdAfterAge is { } age && now - created >= age) || (ColdAfterIdle is { } idle && now - lastAccess >= idle),
        _ => false,
    };
}

/// <summary>Settings of a <see cref="TierLifecycle"/>.</summary>
public sealed record LifecycleOptions
{
    /// <summary>
    /// Every referenced pack that stays hot is also copied to cold (it is then in both tiers), so after a
    /// run the cold tier alone holds every committed version. Default true; false keeps hot-only packs off
    /// the cold tier (cheaper, but the cold tier is then no disaster-recovery copy).
    /// </summary>
    public bool MirrorToCold { get; init; } = true;
}

/// <summary>How far a lifecycle run is.</summary>
public sealed record LifecycleProgress(int PacksDone, int PacksTotal, long BytesCopied);

/// <summary>A pack a lifecycle run could not move; it is still readable where it was.</summary>
public sealed record LifecycleFailure(string Pack, string Step, string Reason);

/// <summary>
/// What <see cref="TierLifecycle.ApplyLifecycleAsync"/> did. Moved: copied to cold, verified, removed from
/// hot. Mirrored: copied to cold and kept hot. Rehydrated: copied back to hot. Unreferenced: packs no
/// repository uses (left for garbage collection).
/// </summary>
public sealed record LifecycleReport(
    int PacksExamined,
    int PacksMovedToCold,
    int PacksMirroredToCold,
    int PacksRehydrated,
    int PacksUnreferenced,
    long BytesCopied,
    long HotBytesFreed,
    IReadOnlyList<LifecycleFailure> Failures);
