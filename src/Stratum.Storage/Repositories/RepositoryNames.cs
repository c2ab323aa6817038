using Stratum.Storage.Backends;

namespace Stratum.Storage.Repositories;

/// <summary>The naming rules for repositories, branches, tags and object paths; each returns null or the problem.</summary>
public static class RepositoryNames
{
    /// <summary>S3 bucket rule: 3 to 63 of lowercase letters, digits and '-', starting and ending with a letter or digit.</summary>
    public static string? RepositoryProblem(string? name)
    {
        if (name is null || name.Length is < 3 or > 63)
        {
            return $"repository name '{name}' must be 3 to 63 characters";
        }

        if (!name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
        {
            return $"repository name '{name}' may contain only lowercase letters, digits and '-'";
        }

        return name[0] == '-' || name[^1] == '-' ? $"repository name '{name}' must start and end with a letter or digit" : null;
    }

    /// <summary>
    /// Branches and tags: 1 to 128 of letters, digits, '.', '_' and '-', not starting with '.' or '-'.
    /// No '/' so a branch's staging prefix never contains another's; no '~', '@' or ':' so ref syntax stays unambiguous.
    /// </summary>
    public static string? RefProblem(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 128)
        {
            return $"ref name '{name}' must be 1 to 128 characters";
        }

        if (!name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            return $"ref name '{name}' may contain only letters, digits, '.', '_' and '-'";
        }

        return name[0] is '.' or '-' ? $"ref name '{name}' must not start with '.' or '-'" : null;
    }

    /// <summary>Object paths follow the blob name rule (no empty, '.' or '..' segment, no control character or backslash).</summary>
    public static string? PathProblem(string? path) => BlobNames.Problem(path) is { } problem ? problem.Replace("blob name", "path", StringComparison.Ordinal) : null;
}
