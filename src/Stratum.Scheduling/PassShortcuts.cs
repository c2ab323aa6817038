namespace Stratum.Scheduling;

/// <summary>
/// Switches off, on the calling thread only, the shortcuts a planning pass takes for speed (repeating the
/// outcome of an earlier job of the same class, reusing what the previous pass derived from unchanged
/// inputs). Every shortcut must give exactly the decisions of the long way; tests and the benchmark's
/// <c>--digest</c> compare the two. Thread-local so that a comparison never slows other callers' passes.
/// </summary>
internal static class PassShortcuts
{
    [ThreadStatic]
    private static bool _off;

    public static bool Enabled => !_off;

    /// <summary>Runs <paramref name="action"/> with the shortcuts off on this thread.</summary>
    public static T WithoutShortcuts<T>(Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var before = _off;
        _off = true;
        try
        {
            return action();
        }
        finally
        {
            _off = before;
        }
    }
}
