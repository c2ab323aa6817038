using System.Globalization;
using System.Text.RegularExpressions;

namespace Stratum.Core.Resources;

/// <summary>
/// Parses and formats the quantities people type: CPUs ("2", "1.5", "500m"), memory ("4Gi", "512Mi",
/// "10G", "1073741824") and durations ("90s", "30m", "2h", "1d", "1h30m"). Kubernetes spells them the
/// same way, so users do not have to learn a second notation.
/// </summary>
public static partial class Quantity
{
    /// <summary>The largest memory request accepted anywhere: 1 PiB. Larger is a typo, not a machine.</summary>
    public const long MaxMemoryBytes = 1L << 50;

    /// <summary>The largest CPU request accepted anywhere: 100,000 cores.</summary>
    public const long MaxCpuMillis = 100_000_000;

    private static readonly (string Suffix, long Factor)[] MemorySuffixes =
    [
        ("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30), ("Ti", 1L << 40), ("Pi", 1L << 50),
        ("K", 1_000), ("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000),
        ("B", 1),
    ];

    public static bool TryParseCpu(string text, out long millis)
    {
        millis = 0;
        text = text.Trim();
        if (text.EndsWith('m'))
        {
            return long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out millis)
                && millis <= MaxCpuMillis;
        }

        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cores)
            || double.IsNaN(cores) || cores * 1000 > MaxCpuMillis)
        {
            return false;
        }

        millis = (long)Math.Round(cores * 1000);
        return true;
    }

    public static bool TryParseMemory(string text, out long bytes)
    {
        bytes = 0;
        text = text.Trim();
        long factor = 1;
        foreach (var (suffix, f) in MemorySuffixes)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                factor = f;
                text = text[..^suffix.Length];
                break;
            }
        }

        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value)
            || double.IsNaN(value) || value * factor > MaxMemoryBytes)
        {
            return false;
        }

        bytes = (long)Math.Round(value * factor);
        return true;
    }

    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        text = text.Trim();
        if (text.Length == 0)
        {
            return false;
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var plainSeconds))
        {
            duration = TimeSpan.FromSeconds(plainSeconds);
            return true;
        }

        var matches = DurationPart().Matches(text);
        if (matches.Count == 0 || string.Concat(matches.Select(m => m.Value)) != text)
        {
            return false;
        }

        foreach (Match match in matches)
        {
            var amount = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            duration += match.Groups[2].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(amount),
                "s" => TimeSpan.FromSeconds(amount),
                "m" => TimeSpan.FromMinutes(amount),
                "h" => TimeSpan.FromHours(amount),
                _ => TimeSpan.FromDays(amount),
            };
        }

        return true;
    }

    public static string FormatCpu(long millis) =>
        millis % 1000 == 0
            ? (millis / 1000).ToString(CultureInfo.InvariantCulture)
            : (millis / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);

    public static string FormatMemory(long bytes)
    {
        string[] units = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];
        var value = (double)bytes;
        var unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return value.ToString(unit == 0 ? "0" : "0.#", CultureInfo.InvariantCulture) + units[unit];
    }

    public static string FormatDuration(TimeSpan duration)
    {
        if (duration < TimeSpan.Zero)
        {
            return "-" + FormatDuration(-duration);
        }

        if (duration.TotalSeconds < 60)
        {
            return $"{(int)duration.TotalSeconds}s";
        }

        if (duration.TotalMinutes < 60)
        {
            return duration.Seconds == 0 ? $"{duration.Minutes}m" : $"{duration.Minutes}m{duration.Seconds}s";
        }

        if (duration.TotalHours < 24)
        {
            return duration.Minutes == 0 ? $"{duration.Hours}h" : $"{duration.Hours}h{duration.Minutes}m";
        }

        return duration.Hours == 0 ? $"{(int)duration.TotalDays}d" : $"{(int)duration.TotalDays}d{duration.Hours}h";
    }

    [GeneratedRegex(@"(\d+(?:\.\d+)?)(ms|s|m|h|d)", RegexOptions.CultureInvariant)]
    private static partial Regex DurationPart();
}
