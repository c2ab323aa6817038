using Stratum.Core;
using Stratum.Core.Cluster;
using Stratum.Core.Resources;

namespace Stratum.Execution.Slurm;

/// <summary>
/// The nodes of a Slurm pool, from <c>scontrol show node -o</c> (one line per node, every field). Slurm
/// keeps the system's share out of a node itself (CPUEfctv leaves out CoreSpec cores; MemSpecLimit is
/// subtracted here), so capacity and allocatable are the same. Slurm still places: a job Stratum admits
/// may wait in Slurm's queue when the cluster runs work Stratum did not submit.
/// </summary>
public sealed class SlurmNodeDiscovery
{
    private const long Mebibyte = 1024 * 1024;

    private readonly ISlurmCommands _commands;
    private readonly SlurmOptions _options;

    public SlurmNodeDiscovery(ISlurmCommands commands, SlurmOptions options)
    {
        ArgumentNullException.ThrowIfNull(commands);
        ArgumentNullException.ThrowIfNull(options);
        _commands = commands;
        _options = options;
    }

    /// <summary>The partition's nodes now. Throws <see cref="SlurmUnavailableException"/> when the controller does not answer.</summary>
    public async Task<IReadOnlyList<Node>> DiscoverAsync(string pool, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var result = await _commands.RunAsync("scontrol", ["show", "node", "-o"], cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new SlurmUnavailableException("scontrol show node failed: " + result.Message);
        }

        return Parse(result.Stdout, pool, _options, now);
    }

    /// <summary>Nodes of <see cref="SlurmOptions.Partition"/> (every node when none is set) in <c>scontrol show node -o</c> output.</summary>
    public static IReadOnlyList<Node> Parse(string text, string pool, SlurmOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(options);
        var nodes = new List<Node>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = SlurmText.ParseKeyValues(line);
            if (!fields.TryGetValue("NodeName", out var name) || name.Length == 0)
            {
                continue;
            }

            var partitions = fields.GetValueOrDefault("Partitions", "").Split(',', StringSplitOptions.RemoveEmptyEntries);
            if (options.Partition is { } partition && !partitions.Contains(partition, StringComparer.Ordinal))
            {
                continue;
            }

            var cpus = SlurmText.ParseLong(fields.GetValueOrDefault("CPUEfctv")) ?? SlurmText.ParseLong(fields.GetValueOrDefault("CPUTot")) ?? 0;
            var memoryMb = (SlurmText.ParseLong(fields.GetValueOrDefault("RealMemory")) ?? 0) - (SlurmText.ParseLong(fields.GetValueOrDefault("MemSpecLimit")) ?? 0);
            var gpus = ParseGres(fields.GetValueOrDefault("Gres", ""), options);
            var devices = new List<AcceleratorDevice>();
            foreach (var (type, gresType, count) in gpus)
            {
                for (var i = 0; i < count; i++)
                {
                    devices.Add(new AcceleratorDevice(devices.Count, type, gresType, 0));
                }
            }

            var capacity = new ResourceVector(cpus * 1000, Math.Max(0, memoryMb) * Mebibyte, gpus.Select(g => new KeyValuePair<string, int>(g.Type, g.Count)));
            var (state, reason) = ParseState(fields.GetValueOrDefault("State", "UNKNOWN"), fields.GetValueOrDefault("Reason"));
            nodes.Add(new Node
            {
                Name = Names.IsValid(name) ? name : Names.FromText(name, "slurm-node"),
                Pool = pool,
                Capacity = capacity,
                Allocatable = capacity,
                Labels = new Dictionary<string, string> { [NodeLabels.Pool] = pool },
                Accelerators = devices,
                State = state,
                StateReason = reason,
                UpdatedAt = now,
            });
        }

        return nodes;
    }

    /// <summary>
    /// "IDLE", "MIXED", "ALLOCATED+DRAIN", "IDLE*", "DOWN+NOT_RESPONDING", ...: the base state and its flags.
    /// Down, not responding ('*'), FUTURE, UNKNOWN and INVAL take no work; DRAIN, MAINT and REBOOT finish
    /// theirs; the rest are ready.
    /// </summary>
    public static (NodeState State, string? Reason) ParseState(string state, string? reason)
    {
        ArgumentNullException.ThrowIfNull(state);
        var notResponding = state.EndsWith('*');
        var parts = state.TrimEnd('*', '~', '#', '!', '%', '$', '@', '^', '-').Split('+');
        var why = reason is { Length: > 0 } r && r != "(null)" && r != "none" ? $"{state}: {r}" : state;
        if (notResponding || parts.Any(p => p is "DOWN" or "FUTURE" or "UNKNOWN" or "INVAL" or "NOT_RESPONDING" or "FAIL" or "POWERED_DOWN" or "POWER_DOWN"))
        {
            return (NodeState.Down, why);
        }

        if (parts.Any(p => p.StartsWith("DRAIN", StringComparison.Ordinal) || p is "MAINT" or "REBOOT_REQUESTED" or "REBOOT_ISSUED" or "POWERING_DOWN"))
        {
            return (NodeState.Draining, why);
        }

        return (NodeState.Ready, null);
    }

    /// <summary>"gpu:a100:4(S:0-1),gpu:2,mps:100": the GPU entries as (Stratum type, GRES type, count); other GRES are not accelerators.</summary>
    public static IReadOnlyList<(string Type, string GresType, int Count)> ParseGres(string gres, SlurmOptions options)
    {
        ArgumentNullException.ThrowIfNull(gres);
        ArgumentNullException.ThrowIfNull(options);
        var result = new List<(string, string, int)>();
        var depth = 0;
        var start = 0;
        for (var i = 0; i <= gres.Length; i++)
        {
            if (i < gres.Length && gres[i] == '(')
            {
                depth++;
            }
            else if (i < gres.Length && gres[i] == ')')
            {
                depth--;
            }
            else if (i == gres.Length || (gres[i] == ',' && depth == 0))
            {
                var entry = gres[start..i];
                start = i + 1;
                var paren = entry.IndexOf('(', StringComparison.Ordinal);
                var parts = (paren >= 0 ? entry[..paren] : entry).Split(':');
                if (parts[0] != "gpu" || parts.Length is < 2 or > 3 || SlurmText.ParseInt(parts[^1]) is not { } count || count <= 0)
                {
                    continue;
                }

                result.Add(parts.Length == 3 ? (options.StratumTypeOf(parts[1]), parts[1], count) : (options.UntypedGpuType, "gpu", count));
            }
        }

        return result;
    }
}
