namespace Stratum.Scheduling;

/// <summary>
/// Named settings of <see cref="LasPolicy"/> that the simulator compares (issue 3: find the best policy
/// that knows no durations). <c>las</c> is Tiresias as the issue measures it; the others vary the queue
/// thresholds and the minimum run before a preemption. docs/simulation.md has the measurements.
/// </summary>
public static class LasPresets
{
    private static readonly Dictionary<string, LasOptions> Presets = new(StringComparer.Ordinal)
    {
        [LasPolicy.PolicyName] = new LasOptions(),

        // Geometric thresholds from 1,000 GPU-seconds, doubling, 16 queues (up to ~33M GPU-seconds):
        // fine discretisation approaches continuous LAS, which on heavy-tailed traces approaches SRTF.
        ["las-fine"] = new LasOptions { QueueThresholdsGpuSeconds = LasOptions.Geometric(1_000, 2, 16) },

        // As las-fine, but an attempt runs 5 minutes before it may be preempted, so a restart cost
        // is paid at most once per 5 minutes of progress.
        ["las-fine-q5m"] = new LasOptions { QueueThresholdsGpuSeconds = LasOptions.Geometric(1_000, 2, 16), MinRunBeforePreemption = TimeSpan.FromMinutes(5) },

        ["las-g4"] = new LasOptions { QueueThresholdsGpuSeconds = LasOptions.Geometric(400, 4, 10) },
        ["las-q5m"] = new LasOptions { MinRunBeforePreemption = TimeSpan.FromMinutes(5) },
    };

    /// <summary>Every preset name, in ordinal order.</summary>
    public static IReadOnlyList<string> Names { get; } = Presets.Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>The LAS policy named <paramref name="name"/>, or null when no preset has that name.</summary>
    public static LasPolicy? Create(string name) =>
        Presets.TryGetValue(name, out var options) ? new LasPolicy(options, name) : null;
}
