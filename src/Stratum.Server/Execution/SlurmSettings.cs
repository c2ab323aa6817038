using Stratum.Execution.Slurm;

namespace Stratum.Server.Execution;

/// <summary>Turns the server's slurm* settings into the <see cref="SlurmOptions"/> of one pool's partition.</summary>
public static class SlurmSettings
{
    public static SlurmOptions OptionsFor(ServerOptions options, string? partition)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new SlurmOptions
        {
            Partition = partition,
            Account = options.SlurmAccount,
            ConfigFile = options.SlurmConfigFile,
            WarnBeforeEnd = options.SlurmWarnBeforeEnd,
            CommandTimeout = options.SlurmCommandTimeout,
            GresTypes = ParseGresTypes(options.SlurmGresTypes, out _) ?? new Dictionary<string, string>(),
        };
    }

    /// <summary>"nvidia-h100=h100,nvidia-a100=a100": Stratum accelerator type to Slurm GRES type; null with a problem when malformed.</summary>
    public static IReadOnlyDictionary<string, string>? ParseGresTypes(string? text, out string? problem)
    {
        problem = null;
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(text))
        {
            return map;
        }

        foreach (var entry in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = entry.Split('=', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0 || !map.TryAdd(parts[0], parts[1]))
            {
                problem = $"'{entry}' is not STRATUM_TYPE=GRES_TYPE (each type once), as in nvidia-h100=h100,nvidia-a100=a100";
                return null;
            }
        }

        return map;
    }

    /// <summary>Where <paramref name="program"/> is on PATH, or null.</summary>
    public static string? FindOnPath(string program)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
