namespace Stratum.Scheduling;

/// <summary>The built-in scheduling policies, by the names configuration uses.</summary>
public static class SchedulingPolicies
{
    /// <summary>What a configuration that names no policy gets; today the priority policy.</summary>
    public const string Default = "default";

    private static readonly Dictionary<string, Func<ISchedulingPolicy>> Factories = new(StringComparer.Ordinal)
    {
        [Default] = () => new PriorityPolicy(),
        [PriorityPolicy.PolicyName] = () => new PriorityPolicy(),
    };

    /// <summary>Every name <see cref="Create"/> accepts, in ordinal order.</summary>
    public static IReadOnlyList<string> Names { get; } = Factories.Keys.Order(StringComparer.Ordinal).ToList();

    public static bool IsKnown(string name) => Factories.ContainsKey(name);

    /// <summary>A new policy; an unknown name is a configuration mistake and throws, naming the policies there are.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not one of <see cref="Names"/>.</exception>
    public static ISchedulingPolicy Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Factories.TryGetValue(name, out var create)
            ? create()
            : throw new ArgumentException($"unknown scheduling policy '{name}'; known policies: {string.Join(", ", Names)}", nameof(name));
    }
}
