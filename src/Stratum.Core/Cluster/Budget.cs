namespace Stratum.Core.Cluster;

/// <summary>
/// What a project may spend per calendar month (UTC), in the currency of its pools' prices, and the
/// fractions of it at which someone should hear about it. A budget warns; it never stops jobs.
/// </summary>
public sealed record Budget
{
    public static IReadOnlyList<decimal> DefaultThresholds { get; } = [0.5m, 0.8m, 1.0m];

    public required decimal Monthly { get; init; }

    public string Currency { get; init; } = "USD";

    /// <summary>Ascending fractions of <see cref="Monthly"/>, each above 0; 1.0 is the budget itself.</summary>
    public IReadOnlyList<decimal> Thresholds { get; init; } = DefaultThresholds;

    /// <summary>The first instant of the UTC month that holds <paramref name="now"/>: spend counts from there.</summary>
    public static DateTimeOffset MonthStart(DateTimeOffset now)
    {
        var utc = now.UtcDateTime;
        return new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
    }
}
