using System.Globalization;
using System.Text.RegularExpressions;

namespace Stratum.Execution.Slurm;

/// <summary>Small pieces of Slurm's text formats.</summary>
internal static partial class SlurmText
{
    /// <summary>"sbatch: error: Batch job submission failed: X" becomes "Batch job submission failed: X".</summary>
    public static string StripCommandPrefix(string line) => CommandPrefix().Replace(line, "");

    /// <summary>Quotes a word for /bin/sh: inside single quotes nothing is special, and a quote is written as '\''.</summary>
    public static string ShellQuote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>Slurm expands %j, %t, ... in --output and --error; a literal '%' in a path must be doubled.</summary>
    public static string EscapeFilenamePattern(string path) => path.Replace("%", "%%", StringComparison.Ordinal);

    /// <summary>"KEY=VALUE KEY=VALUE WITH SPACES ..." (scontrol -o): a key starts after a space and ends at '='; a value runs to the next key.</summary>
    public static Dictionary<string, string> ParseKeyValues(string line)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var matches = KeyStart().Matches(line);
        for (var i = 0; i < matches.Count; i++)
        {
            var start = matches[i].Index + matches[i].Length;
            var end = i + 1 < matches.Count ? matches[i + 1].Index : line.Length;
            result[matches[i].Groups[1].Value] = line[start..end].Trim();
        }

        return result;
    }

    public static int? ParseInt(string? text) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : null;

    public static long? ParseLong(string? text) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : null;

    [GeneratedRegex(@"^(?:[A-Za-z_]+:?\s)?(?:[A-Za-z_]+:\s)?error:\s*")]
    private static partial Regex CommandPrefix();

    [GeneratedRegex(@"(?:^|(?<=\s))([A-Za-z][A-Za-z0-9_:/]*)=")]
    private static partial Regex KeyStart();
}
