namespace Stratum.Scheduling;

/// <summary>
/// Historical usage per project with exponential decay (Slurm's fair-share half-life): usage recorded at
/// time t counts 2^-((now - t) / half-life) at <c>now</c>. Pure: the server and the simulator feed it
/// (project, gpu-seconds, when) records as jobs run or end, and put <see cref="DecayedAt"/> into
/// <see cref="ClusterSnapshot.DecayedUsage"/>. Records may arrive in any order.
/// </summary>
public sealed class FairShareLedger
{
    /// <summary>The default half-life: a week.</summary>
    public static readonly TimeSpan DefaultHalfLife = TimeSpan.FromDays(7);

    private readonly Dictionary<string, (double Value, DateTimeOffset At)> _usage = new(StringComparer.Ordinal);

    public FairShareLedger(TimeSpan? halfLife = null)
    {
        HalfLife = halfLife ?? DefaultHalfLife;
        if (HalfLife <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(halfLife), "the half-life must be positive");
        }
    }

    public TimeSpan HalfLife { get; }

    /// <summary><paramref name="value"/> decayed over <paramref name="elapsed"/> (none when elapsed is negative).</summary>
    public static double Decay(double value, TimeSpan elapsed, TimeSpan halfLife) =>
        elapsed <= TimeSpan.Zero ? value : value * Math.Pow(2, -(elapsed / halfLife));

    /// <summary>Adds <paramref name="gpuSeconds"/> used by <paramref name="project"/> at <paramref name="at"/>.</summary>
    public void Record(string project, double gpuSeconds, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(project);
        if (!_usage.TryGetValue(project, out var entry))
        {
            _usage[project] = (gpuSeconds, at);
        }
        else if (at >= entry.At)
        {
            _usage[project] = (Decay(entry.Value, at - entry.At, HalfLife) + gpuSeconds, at);
        }
        else
        {
            _usage[project] = (entry.Value + Decay(gpuSeconds, entry.At - at, HalfLife), entry.At);
        }
    }

    /// <summary>Every project's usage decayed to <paramref name="now"/>, in gpu-seconds.</summary>
    public IReadOnlyDictionary<string, double> DecayedAt(DateTimeOffset now) =>
        _usage.ToDictionary(kv => kv.Key, kv => Decay(kv.Value.Value, now - kv.Value.At, HalfLife), StringComparer.Ordinal);
}
