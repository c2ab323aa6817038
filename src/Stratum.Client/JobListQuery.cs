namespace Stratum.Client;

/// <summary>Filters of GET /api/v1/jobs; null or empty means no filter.</summary>
public sealed record JobListQuery
{
    public string? Project { get; init; }

    /// <summary>Any of these states (Pending, Running, ...).</summary>
    public IReadOnlyList<string>? States { get; init; }

    public string? Owner { get; init; }

    public int? Limit { get; init; }

    public string? Cursor { get; init; }
}

/// <summary>Which log GET /api/v1/jobs/ID/logs returns.</summary>
public sealed record LogQuery
{
    public int Rank { get; init; }

    public bool Stderr { get; init; }

    /// <summary>The attempt number; null for the latest.</summary>
    public int? Attempt { get; init; }

    /// <summary>Keep the response open and stream new output until the attempt ends.</summary>
    public bool Follow { get; init; }
}
