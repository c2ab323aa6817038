namespace Stratum.Simulation;

/// <summary>
/// One job of a trace: when it was submitted, how long it ran, how many GPUs it held, and its project;
/// optionally its priority, whether it may be preempted (default yes), the GPU type it needs (default:
/// the cluster's first) and who submitted it.
/// </summary>
public sealed record TraceJob(long Id, DateTimeOffset SubmittedAt, TimeSpan Duration, int Gpus, string Project)
{
    public int Priority { get; init; }

    public bool Preemptible { get; init; } = true;

    public string? GpuType { get; init; }

    public string? User { get; init; }

    /// <summary>The 1-based line of the trace file it came from (0: not from a file), so later problems can point at the row.</summary>
    public int Line { get; init; }
}

/// <summary>A row a trace reader could not use: the file, the 1-based line, and what is wrong with it.</summary>
public sealed record TraceProblem(string File, int Line, string Message)
{
    public override string ToString() => $"{File}:{Line}: {Message}";
}

/// <summary>
/// What a trace reader found: the usable jobs in submit order (ids 1, 2, ... in that order; rows
/// submitted at the same second keep file order) and every row it could not use.
/// </summary>
public sealed record Trace(IReadOnlyList<TraceJob> Jobs, IReadOnlyList<TraceProblem> Problems);
