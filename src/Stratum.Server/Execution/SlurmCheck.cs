using Stratum.Server.Hosting;

namespace Stratum.Server.Execution;

/// <summary>
/// The <c>--check-config</c> finding for Slurm. Which pools run on Slurm is in the database, which the check
/// does not open for this, so a missing sbatch is a warning: it matters only where a pool has a slurm executor.
/// The finding is listed when a slurm* setting is set; a server whose Slurm pools use every default is told
/// at start instead (<see cref="SlurmInventory"/> logs pools on Slurm without sbatch).
/// </summary>
public static class SlurmCheck
{
    public const string Check = "slurm";

    /// <summary>Whether the settings show that this server runs pools on Slurm (any slurm* setting away from its default).</summary>
    public static bool Applies(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var defaults = new ServerOptions();
        return options.SlurmConfigFile is not null || options.SlurmAccount is not null || options.SlurmGresTypes is not null
            || options.SlurmWarnBeforeEnd != defaults.SlurmWarnBeforeEnd || options.SlurmCommandTimeout != defaults.SlurmCommandTimeout
            || options.SlurmDiscoveryInterval != defaults.SlurmDiscoveryInterval;
    }

    public static ConfigCheckFinding Run(ServerOptions options, Func<string, string?>? findOnPath = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.SlurmConfigFile is { } config && !File.Exists(config))
        {
            return new(Check, ConfigCheckOutcome.Failed, $"slurmConfigFile '{config}' does not exist");
        }

        var sbatch = (findOnPath ?? SlurmSettings.FindOnPath)("sbatch");
        var conf = options.SlurmConfigFile ?? "Slurm's default slurm.conf";
        return sbatch is null
            ? new(Check, ConfigCheckOutcome.Warning, "sbatch is not on PATH: pools with executor slurm or slurm:PARTITION could not run jobs (local pools are unaffected); install Slurm's client commands (Debian: slurm-client) or fix PATH")
            : new(Check, ConfigCheckOutcome.Ok, $"sbatch at {sbatch}, using {conf}, for pools with executor slurm or slurm:PARTITION");
    }
}
