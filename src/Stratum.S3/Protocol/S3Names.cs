using System.Text;

namespace Stratum.S3.Protocol;

/// <summary>Validation of bucket names and object keys on the way in.</summary>
public static class S3Names
{
    public const int MaxKeyBytes = 1024;

    /// <summary>AWS's rules: 3-63 characters of a-z 0-9 . -, starting and ending with a letter or digit, not an IP address, no "..".</summary>
    public static S3Error? ValidateBucket(string name)
    {
        var ok = name.Length is >= 3 and <= 63
            && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '-')
            && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1])
            && !name.Contains("..", StringComparison.Ordinal)
            && !System.Net.IPAddress.TryParse(name, out _);
        return ok ? null : S3Errors.InvalidBucketName.WithMessage($"The specified bucket is not valid: '{name}'.");
    }

    /// <summary>
    /// Keys become paths in repositories and checkouts, so ones that a file system would read differently
    /// from S3 are refused: "." or ".." segments (they would escape or alias a directory), empty segments
    /// ("a//b", "/a": they collapse), and control characters (they break listings and terminals). One
    /// trailing '/' is allowed: clients use such keys as folder markers.
    /// </summary>
    public static S3Error? ValidateKey(string key)
    {
        if (key.Length == 0)
        {
            return S3Errors.InvalidArgument.WithMessage("The object key is empty.");
        }

        if (Encoding.UTF8.GetByteCount(key) > MaxKeyBytes)
        {
            return S3Errors.KeyTooLongError;
        }

        if (key.Any(c => char.IsControl(c)))
        {
            return S3Errors.InvalidArgument.WithMessage("Object keys may not contain control characters.");
        }

        var body = key.EndsWith('/') ? key[..^1] : key;
        foreach (var segment in body.Split('/'))
        {
            if (segment.Length == 0)
            {
                return S3Errors.InvalidArgument.WithMessage("Object keys may not contain empty path segments ('a//b' or a leading '/').");
            }

            if (segment is "." or "..")
            {
                return S3Errors.InvalidArgument.WithMessage("Object keys may not contain '.' or '..' path segments.");
            }
        }

        return null;
    }
}
