using Stratum.Core.Cluster;

namespace Stratum.Server.Execution;

/// <summary>
/// A pool's executor as written in <see cref="Pool.Executor"/>: <c>local</c>, <c>slurm</c> (the Slurm
/// cluster's default partition) or <c>slurm:PARTITION</c>. Two pools with equal specs share one executor.
/// </summary>
public sealed record ExecutorSpec(string Kind, string? Partition)
{
    public const string Local = "local";
    public const string Slurm = "slurm";

    /// <summary>Runs no program (<see cref="Stratum.Execution.SimulatedExecutor"/>): for benchmarks and demos.</summary>
    public const string Simulated = "simulated";

    public static ExecutorSpec LocalSpec { get; } = new(Local, null);

    /// <summary>The spec written back: "local", "slurm" or "slurm:debug".</summary>
    public override string ToString() => Partition is null ? Kind : $"{Kind}:{Partition}";

    /// <summary>The spec, or null with a message that names what is accepted.</summary>
    public static ExecutorSpec? Parse(string text, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(text);
        problem = null;
        if (text == Local)
        {
            return LocalSpec;
        }

        if (text == Simulated)
        {
            return new ExecutorSpec(Simulated, null);
        }

        if (text == Slurm)
        {
            return new ExecutorSpec(Slurm, null);
        }

        if (text.StartsWith(Slurm + ":", StringComparison.Ordinal))
        {
            var partition = text[(Slurm.Length + 1)..];
            if (partition.Length > 0 && !partition.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is ',' or '=' or ':' or '%'))
            {
                return new ExecutorSpec(Slurm, partition);
            }

            problem = $"'{text}' names no valid Slurm partition; write slurm:PARTITION with a partition name without spaces, commas, ':' or '='";
            return null;
        }

        problem = $"'{text}' is not an executor this server has; use '{Local}', '{Slurm}' (the Slurm cluster's default partition), '{Slurm}:PARTITION' or '{Simulated}' (runs no program: benchmarks and demos)";
        return null;
    }
}
