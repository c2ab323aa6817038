namespace Stratum.Scheduling;

/// <summary>The built-in scheduling policies, by the names configuration uses.</summary>
public static class SchedulingPolicies
{
    /// <summary>
    /// What a configuration that names no policy gets: the planning engine with least-attained-service bands,
    /// fair share with aging, EASY backfill, and preemption of worse bands (<see cref="PlanningPolicy.Default"/>).
    /// </summary>
    public const string Default = "default";

    private static readonly Dictionary<string, Func<ISchedulingPolicy>> Factories = WithLasPresets(new(StringComparer.Ordinal)
    {
        // Re-point the default here (one line) if a measurement favours another policy.
        [Default] = () => PlanningPolicy.Default(),
        [PlanningPolicy.PlanningName] = () => PlanningPolicy.Planning(),
        [PlanningPolicy.BackfillName] = () => PlanningPolicy.Backfill(),
        [PlanningPolicy.FairShareName] = () => PlanningPolicy.FairShare(),
        [PriorityPolicy.PolicyName] = () => new PriorityPolicy(),
        [FifoPolicy.PolicyName] = () => new FifoPolicy(),
        [LasPolicy.PolicyName] = () => new LasPolicy(),
    });

    // Policies that need what only a simulator knows, with the reason a live server cannot run them.
    private static readonly Dictionary<string, (Func<ISchedulingPolicy> Create, string WhyNotLive)> SimulationOnly = new(StringComparer.Ordinal)
    {
        [SjfOraclePolicy.PolicyName] = (() => new SjfOraclePolicy(), SjfOraclePolicy.NeedsDurations),
    };

    // The LAS variants the simulator compares (las-fine, las-fine-q5m, ...) run live too: they need no durations.
    private static Dictionary<string, Func<ISchedulingPolicy>> WithLasPresets(Dictionary<string, Func<ISchedulingPolicy>> factories)
    {
        foreach (var name in LasPresets.Names)
        {
            factories.TryAdd(name, () => LasPresets.Create(name)!);
        }

        return factories;
    }

    /// <summary>Every name <see cref="Create"/> accepts (policies a live server can run), in ordinal order.</summary>
    public static IReadOnlyList<string> Names { get; } = Factories.Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>Every name <see cref="CreateForSimulation"/> accepts: <see cref="Names"/> and the simulation-only policies, in ordinal order.</summary>
    public static IReadOnlyList<string> SimulationNames { get; } = Factories.Keys.Concat(SimulationOnly.Keys).Order(StringComparer.Ordinal).ToList();

    public static bool IsKnown(string name) => Factories.ContainsKey(name);

    /// <summary>Why <paramref name="name"/> cannot run on a live server, or null when it can (or is unknown: see <see cref="IsKnown"/>).</summary>
    public static string? WhyNotLive(string name) =>
        SimulationOnly.TryGetValue(name, out var entry) ? $"'{name}' runs only in the simulator: {entry.WhyNotLive}" : null;

    /// <summary>A new policy; an unknown name is a configuration mistake and throws, naming the policies there are.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not one of <see cref="Names"/>.</exception>
    public static ISchedulingPolicy Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (WhyNotLive(name) is { } problem)
        {
            throw new ArgumentException($"{problem}; live policies: {string.Join(", ", Names)}", nameof(name));
        }

        return Factories.TryGetValue(name, out var create)
            ? create()
            : throw new ArgumentException($"unknown scheduling policy '{name}'; known policies: {string.Join(", ", Names)}", nameof(name));
    }

    /// <summary>A new policy for a simulation, simulation-only ones included.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not one of <see cref="SimulationNames"/>.</exception>
    public static ISchedulingPolicy CreateForSimulation(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (SimulationOnly.TryGetValue(name, out var entry))
        {
            return entry.Create();
        }

        return Factories.TryGetValue(name, out var create)
            ? create()
            : throw new ArgumentException($"unknown scheduling policy '{name}'; known policies: {string.Join(", ", SimulationNames)}", nameof(name));
    }
}
