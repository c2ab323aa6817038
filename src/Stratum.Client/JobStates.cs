namespace Stratum.Client;

/// <summary>The job states as they appear on the wire, and which of them are final.</summary>
public static class JobStates
{
    public const string Pending = "Pending";
    public const string Running = "Running";
    public const string Succeeded = "Succeeded";
    public const string Failed = "Failed";
    public const string Cancelled = "Cancelled";

    /// <summary>Stopped to make room for another job and queued again; not final.</summary>
    public const string Preempted = "Preempted";

    public static IReadOnlyList<string> All { get; } = [Pending, Running, Succeeded, Failed, Cancelled, Preempted];

    public static bool IsTerminal(string state) =>
        state is Succeeded or Failed or Cancelled;

    /// <summary>The canonical spelling of <paramref name="state"/> ("running" → "Running"), or null when it is no state.</summary>
    public static string? Normalize(string state) =>
        All.FirstOrDefault(s => string.Equals(s, state.Trim(), StringComparison.OrdinalIgnoreCase));
}
