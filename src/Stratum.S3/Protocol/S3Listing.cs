using System.Text;
using Stratum.S3.Backend;

namespace Stratum.S3.Protocol;

/// <summary>One page of a listing: objects and common prefixes, each in key order, and where the next page starts.</summary>
public sealed record S3ListPage(IReadOnlyList<S3ObjectInfo> Objects, IReadOnlyList<string> CommonPrefixes, bool IsTruncated, string? NextMarker);

/// <summary>
/// S3 listing semantics over a backend's ordered keys: prefix, delimiter rolling keys up into common
/// prefixes (each counted once against max-keys), and a marker that is the last key or common prefix
/// returned. Resuming after a common prefix skips every key under it.
/// </summary>
public static class S3Listing
{
    public const int MaxKeysLimit = 1000;

    public static async Task<S3ListPage> PageAsync(
        IAsyncEnumerable<S3ObjectInfo> orderedKeys, string prefix, string? delimiter, string? marker, int maxKeys, CancellationToken cancellationToken)
    {
        var objects = new List<S3ObjectInfo>();
        var prefixes = new List<string>();
        string? last = null;
        if (maxKeys <= 0)
        {
            return new S3ListPage(objects, prefixes, false, null);
        }

        await foreach (var item in orderedKeys.WithCancellation(cancellationToken))
        {
            if (!item.Key.StartsWith(prefix, StringComparison.Ordinal) || (marker is not null && string.CompareOrdinal(item.Key, marker) <= 0))
            {
                continue;
            }

            string? commonPrefix = null;
            if (!string.IsNullOrEmpty(delimiter))
            {
                var at = item.Key.IndexOf(delimiter, prefix.Length, StringComparison.Ordinal);
                if (at >= 0)
                {
                    commonPrefix = item.Key[..(at + delimiter.Length)];
                    if (commonPrefix == last || commonPrefix == marker)
                    {
                        continue;
                    }
                }
            }

            if (objects.Count + prefixes.Count == maxKeys)
            {
                return new S3ListPage(objects, prefixes, true, last);
            }

            if (commonPrefix is not null)
            {
                prefixes.Add(commonPrefix);
                last = commonPrefix;
            }
            else
            {
                objects.Add(item);
                last = item.Key;
            }
        }

        return new S3ListPage(objects, prefixes, false, null);
    }

    /// <summary>Continuation tokens are opaque to clients; ours is the marker, base64url so it survives a query string.</summary>
    public static string EncodeToken(string marker) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(marker)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string? DecodeToken(string token)
    {
        var base64 = token.Replace('-', '+').Replace('_', '/');
        base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
