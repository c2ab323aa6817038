using Stratum.Core.Resources;

namespace Stratum.Core.Jobs;

/// <summary>When a failed attempt is tried again. Preemption never counts against it.</summary>
public sealed record RetryPolicy
{
    public static RetryPolicy None { get; } = new();

    /// <summary>Attempts in all, the first included; 1 means no retry. Default 1.</summary>
    public int MaxAttempts { get; init; } = 1;

    /// <summary>Retry when the attempt was lost (node down, processes gone across a server restart). Default true.</summary>
    public bool RetryWhenLost { get; init; } = true;
}

/// <summary>What a user asks to run. Validated on the way in; never changed after submission.</summary>
public sealed record JobSpec
{
    public const int MaxReplicas = 4096;
    public const int MaxCommandArguments = 4096;

    public required string Name { get; init; }

    public required string Project { get; init; }

    /// <summary>The program and its arguments, run without a shell.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>An absolute directory to start in; null gives each replica a fresh one under the data directory.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>What each replica needs.</summary>
    public required ResourceVector Resources { get; init; }

    /// <summary>Replicas that start together or not at all (a gang). Default 1.</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>Higher runs first. Default 0.</summary>
    public int Priority { get; init; }

    /// <summary>May be stopped (after SIGTERM and a grace period to checkpoint) to make room for more important work.</summary>
    public bool Preemptible { get; init; }

    /// <summary>Stopped as timed out when an attempt runs longer. Null: no limit.</summary>
    public TimeSpan? MaxRuntime { get; init; }

    public RetryPolicy Retry { get; init; } = RetryPolicy.None;

    /// <summary>Node labels every replica's node must carry, key and value (<c>pool</c> also matches the node's pool). Default none.</summary>
    public IReadOnlyDictionary<string, string> NodeSelector { get; init; } = new Dictionary<string, string>();

    /// <summary>Repository refs checked out read-only into each replica's working directory before every attempt. Default none.</summary>
    public IReadOnlyList<JobInput> Inputs { get; init; } = [];

    /// <summary>Paths of the working directory committed to branches when the job succeeds. Default none.</summary>
    public IReadOnlyList<JobOutput> Outputs { get; init; } = [];

    /// <summary>Where <c>STRATUM_CHECKPOINT_DIR</c> is kept in the store between attempts; null keeps it on the node only.</summary>
    public JobCheckpoints? Checkpoints { get; init; }

    /// <summary>Every problem with this spec, not just the first, each naming its field.</summary>
    public IReadOnlyList<ValidationError> Validate()
    {
        var errors = new List<ValidationError>();
        if (Names.Problem(Name) is { } nameProblem)
        {
            errors.Add(new("name", nameProblem));
        }

        if (Names.Problem(Project) is { } projectProblem)
        {
            errors.Add(new("project", projectProblem));
        }

        if (Command is null || Command.Count == 0 || string.IsNullOrWhiteSpace(Command[0]))
        {
            errors.Add(new("command", "must name a program to run"));
        }
        else if (Command.Count > MaxCommandArguments)
        {
            errors.Add(new("command", $"must have at most {MaxCommandArguments} arguments"));
        }
        else if (Command.Any(a => a is null || a.Contains('\0')))
        {
            errors.Add(new("command", "arguments must not be null or contain NUL characters"));
        }

        foreach (var (key, value) in Environment ?? new Dictionary<string, string>())
        {
            if (string.IsNullOrEmpty(key) || key.Contains('=') || key.Contains('\0') || value is null || value.Contains('\0'))
            {
                errors.Add(new($"environment.{key}", "names must be non-empty without '=' or NUL; values must not contain NUL"));
            }
            else if (key.StartsWith("STRATUM_", StringComparison.Ordinal) || key == "CUDA_VISIBLE_DEVICES")
            {
                errors.Add(new($"environment.{key}", "is set by Stratum and cannot be overridden"));
            }
        }

        if (WorkingDirectory is not null && (!Path.IsPathRooted(WorkingDirectory) || WorkingDirectory.Contains('\0')))
        {
            errors.Add(new("workingDirectory", "must be an absolute path"));
        }

        if (Resources is null)
        {
            errors.Add(new("resources", "is required"));
        }
        else
        {
            if (Resources.CpuMillis <= 0 || Resources.CpuMillis > Quantity.MaxCpuMillis)
            {
                errors.Add(new("resources.cpu", $"must be more than 0 and at most {Quantity.MaxCpuMillis / 1000} cores"));
            }

            if (Resources.MemoryBytes <= 0 || Resources.MemoryBytes > Quantity.MaxMemoryBytes)
            {
                errors.Add(new("resources.memory", "must be more than 0 and at most 1Pi"));
            }

            foreach (var (type, count) in Resources.Accelerators)
            {
                if (Names.Problem(type) is { } typeProblem)
                {
                    errors.Add(new("resources.accelerators", $"type {typeProblem}"));
                }

                if (count is < 0 or > 1024)
                {
                    errors.Add(new($"resources.accelerators.{type}", "must be between 0 and 1024"));
                }
            }
        }

        if (Replicas is < 1 or > MaxReplicas)
        {
            errors.Add(new("replicas", $"must be between 1 and {MaxReplicas}"));
        }

        if (Priority is < -1_000_000 or > 1_000_000)
        {
            errors.Add(new("priority", "must be between -1000000 and 1000000"));
        }

        if (MaxRuntime is { } runtime && (runtime <= TimeSpan.Zero || runtime > TimeSpan.FromDays(365)))
        {
            errors.Add(new("maxRuntime", "must be more than 0 and at most 365 days"));
        }

        foreach (var (key, value) in NodeSelector ?? new Dictionary<string, string>())
        {
            if (string.IsNullOrEmpty(key) || value is null)
            {
                errors.Add(new($"nodeSelector.{key}", "keys must be non-empty and values must not be null"));
            }
        }

        if (Retry is null || Retry.MaxAttempts is < 1 or > 100)
        {
            errors.Add(new("retry.maxAttempts", "must be between 1 and 100"));
        }

        JobDataRules.Validate(this, errors);

        return errors;
    }
}
