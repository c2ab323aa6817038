using Stratum.Core;

namespace Stratum.Execution.Slurm;

/// <summary>How a pool's jobs reach a Slurm cluster. One instance per pool (a pool is one partition).</summary>
public sealed class SlurmOptions
{
    /// <summary>The partition jobs go to (<c>--partition</c>); also the nodes discovery reports. Default: none, the cluster's default partition and every node.</summary>
    public string? Partition { get; set; }

    /// <summary>Charged account (<c>--account</c>). Default: none, the user's default account.</summary>
    public string? Account { get; set; }

    /// <summary>The slurm.conf the commands use (sets <c>SLURM_CONF</c>). Default: none, Slurm's own lookup (/etc/slurm/slurm.conf).</summary>
    public string? ConfigFile { get; set; }

    /// <summary>
    /// Slurm job names are <c>PREFIX-JOBID-ATTEMPT</c>. Launch looks a job up by this name to avoid
    /// submitting twice after a crash, so two Stratum installations sharing a cluster need different
    /// prefixes. Default "stratum".
    /// </summary>
    public string JobNamePrefix { get; set; } = "stratum";

    /// <summary>
    /// How long before a job's Slurm time limit its replicas get <see cref="WarnSignal"/> (<c>--signal=SIG@SECONDS</c>),
    /// so they can checkpoint. Only for jobs with a max runtime; zero turns it off. Default 60 s.
    /// </summary>
    public TimeSpan WarnBeforeEnd { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The warning signal's name, without "SIG". Default "TERM", the signal Stratum stops replicas with.</summary>
    public string WarnSignal { get; set; } = "TERM";

    /// <summary>How long one Slurm command (sbatch, squeue, scancel, ...) may take before the controller counts as unreachable. Default 15 s.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Puts each replica of a multi-replica job on a node of its own (<c>--nodes=N --ntasks-per-node=1</c>),
    /// as distributed training usually wants. Default false: Slurm packs the tasks as it likes.
    /// </summary>
    public bool OneReplicaPerNode { get; set; }

    /// <summary>
    /// Stratum accelerator type to Slurm GRES type, both ways ("nvidia-h100" to "h100"). A type not
    /// listed is passed through unchanged. Default empty.
    /// </summary>
    public IReadOnlyDictionary<string, string> GresTypes { get; set; } = new Dictionary<string, string>();

    /// <summary>The Stratum accelerator type of an untyped GRES ("gpu:4"); a request for it becomes <c>gpu:N</c>. Default "gpu".</summary>
    public string UntypedGpuType { get; set; } = "gpu";

    /// <summary>
    /// Ask <c>sacct</c> about jobs the controller has forgotten (after MinJobAge). Without slurmdbd it
    /// has nothing and the exit codes recorded in the attempt directory are used alone. Default true.
    /// </summary>
    public bool UseSacct { get; set; } = true;

    /// <summary>Every problem at once, each naming the setting.</summary>
    public IReadOnlyList<ValidationError> Validate()
    {
        var errors = new List<ValidationError>();
        if (Partition is not null && !IsSlurmWord(Partition))
        {
            errors.Add(new("slurm.partition", "must be a Slurm partition name (no spaces, commas or '=')"));
        }

        if (Account is not null && !IsSlurmWord(Account))
        {
            errors.Add(new("slurm.account", "must be a Slurm account name (no spaces, commas or '=')"));
        }

        if (!IsSlurmWord(JobNamePrefix))
        {
            errors.Add(new("slurm.jobNamePrefix", "must be non-empty without spaces, commas or '='"));
        }

        if (WarnBeforeEnd < TimeSpan.Zero || WarnBeforeEnd > TimeSpan.FromSeconds(65535))
        {
            errors.Add(new("slurm.warnBeforeEnd", "must be between 0 and 65535 seconds (Slurm's limit)"));
        }

        if (string.IsNullOrEmpty(WarnSignal) || !WarnSignal.All(char.IsAsciiLetterOrDigit))
        {
            errors.Add(new("slurm.warnSignal", "must be a signal name such as TERM or USR1"));
        }

        if (CommandTimeout <= TimeSpan.Zero)
        {
            errors.Add(new("slurm.commandTimeout", "must be more than 0"));
        }

        foreach (var (type, gres) in GresTypes)
        {
            if (!IsSlurmWord(type) || !IsSlurmWord(gres) || gres.Contains(':'))
            {
                errors.Add(new($"slurm.gresTypes.{type}", "both the Stratum type and the GRES type must be single words without ':'"));
            }
        }

        return errors;
    }

    internal string GresTypeOf(string stratumType) => GresTypes.GetValueOrDefault(stratumType, stratumType);

    internal string StratumTypeOf(string gresType) =>
        GresTypes.FirstOrDefault(kv => kv.Value == gresType).Key ?? gresType;

    private static bool IsSlurmWord(string value) =>
        value.Length > 0 && !value.Any(c => char.IsWhiteSpace(c) || c is ',' or '=' or '\0' or '%');
}
