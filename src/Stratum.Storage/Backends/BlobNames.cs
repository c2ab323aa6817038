namespace Stratum.Storage.Backends;

/// <summary>The one rule for blob names, shared by every backend so they accept exactly the same names.</summary>
public static class BlobNames
{
    /// <summary>Longest accepted name, in UTF-16 code units; S3 allows 1024 bytes of key.</summary>
    public const int MaxLength = 1024;

    /// <summary>Null when <paramref name="name"/> is acceptable, otherwise why it is not.</summary>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "a blob name must not be empty";
        }

        if (name.Length > MaxLength)
        {
            return $"a blob name must be at most {MaxLength} characters, this one has {name.Length}";
        }

        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsControl(c))
            {
                return $"blob name '{Printable(name)}' contains control character U+{(int)c:X4} at position {i}";
            }

            if (c == '\\')
            {
                return $"blob name '{name}' contains a backslash at position {i}; segments are separated by '/'";
            }
        }

        foreach (var segment in name.Split('/'))
        {
            if (segment.Length == 0)
            {
                return $"blob name '{name}' has an empty segment (a leading, trailing or doubled '/')";
            }

            if (segment is "." or "..")
            {
                return $"blob name '{name}' has a '{segment}' segment";
            }
        }

        return null;
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the problem when the name is not acceptable.</summary>
    public static void Validate(string? name, string parameterName = "name")
    {
        if (Problem(name) is { } problem)
        {
            throw new ArgumentException(problem, parameterName);
        }
    }

    private static string Printable(string name) =>
        string.Concat(name.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString()));
}
