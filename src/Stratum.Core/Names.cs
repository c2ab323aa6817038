using System.Text.RegularExpressions;

namespace Stratum.Core;

/// <summary>
/// The one rule for names of projects, pools, nodes, users, jobs and accelerator types: they end up
/// in paths, URLs, labels and log lines, so they are short, lower-case and free of separators.
/// </summary>
public static partial class Names
{
    public const int MaxLength = 63;

    /// <summary>Null when <paramref name="name"/> is acceptable, else what is wrong with it.</summary>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "must not be empty";
        }

        if (name.Length > MaxLength)
        {
            return $"must be at most {MaxLength} characters (got {name.Length})";
        }

        if (name.Contains('/') || name.Contains('\\') || name.Contains(".."))
        {
            return $"'{name}' must not contain '/', '\\' or '..'";
        }

        return Pattern().IsMatch(name)
            ? null
            : $"'{name}' must be lower-case letters, digits, '-', '_' or '.', starting with a letter or digit";
    }

    public static bool IsValid(string? name) => Problem(name) is null;

    /// <summary>
    /// A valid name made from free text (a program's file name, a host name): lower-cased, other
    /// characters turned into '-', ".." collapsed, leading separators dropped, cut to the maximum
    /// length; <paramref name="fallback"/> when nothing usable is left.
    /// </summary>
    public static string FromText(string text, string fallback)
    {
        var name = new string(text.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray())
            .Replace("..", ".", StringComparison.Ordinal)
            .TrimStart('-', '_', '.');
        name = name.Length > MaxLength ? name[..MaxLength] : name;
        return IsValid(name) ? name : fallback;
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
