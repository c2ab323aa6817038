using System.Globalization;
using Microsoft.AspNetCore.Http;
using Stratum.S3.Backend;

namespace Stratum.S3.Protocol;

/// <summary>
/// Conditional GET and HEAD (RFC 7232 section 6, which S3 follows): If-Match, else If-Unmodified-Since
/// (412 when false); then If-None-Match, else If-Modified-Since (304 when false). So If-Match true with
/// If-Unmodified-Since false serves the object, and If-None-Match false with If-Modified-Since true is
/// 304, as S3 documents. Dates that do not parse are ignored, as the RFC says.
/// </summary>
internal static class ReadConditions
{
    /// <summary>0 to serve the object, else 412 or 304.</summary>
    public static int Evaluate(IHeaderDictionary headers, S3ObjectInfo info)
    {
        // HTTP dates carry whole seconds; the stored time is finer, and would never compare equal.
        var modified = info.LastModified.ToUniversalTime();
        modified = modified.AddTicks(-(modified.Ticks % TimeSpan.TicksPerSecond));

        var ifMatch = headers.IfMatch.ToString();
        if (ifMatch.Length > 0)
        {
            // Strong comparison: a weak tag never matches.
            if (!EntityTags(ifMatch).Any(t => t.Value == "*" || (!t.Weak && SameTag(t.Value, info.ETag))))
            {
                return StatusCodes.Status412PreconditionFailed;
            }
        }
        else if (Date(headers.IfUnmodifiedSince.ToString()) is { } unmodifiedSince && modified > unmodifiedSince)
        {
            return StatusCodes.Status412PreconditionFailed;
        }

        var ifNoneMatch = headers.IfNoneMatch.ToString();
        if (ifNoneMatch.Length > 0)
        {
            // Weak comparison: W/ is ignored.
            if (EntityTags(ifNoneMatch).Any(t => t.Value == "*" || SameTag(t.Value, info.ETag)))
            {
                return StatusCodes.Status304NotModified;
            }
        }
        else if (Date(headers.IfModifiedSince.ToString()) is { } modifiedSince && modified <= modifiedSince)
        {
            return StatusCodes.Status304NotModified;
        }

        return 0;
    }

    /// <summary>
    /// The entity tags of an If-Match / If-None-Match value, quotes removed. Clients also send S3 ETags
    /// unquoted (copied from a listing), so an unquoted token is taken as a tag too.
    /// </summary>
    public static IEnumerable<(string Value, bool Weak)> EntityTags(string header)
    {
        foreach (var part in header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var weak = part.StartsWith("W/", StringComparison.Ordinal);
            var tag = weak ? part[2..] : part;
            if (tag.Length >= 2 && tag[0] == '"' && tag[^1] == '"')
            {
                tag = tag[1..^1];
            }

            if (tag.Length > 0)
            {
                yield return (tag, weak);
            }
        }
    }

    private static bool SameTag(string given, string etag) => string.Equals(given, etag, StringComparison.OrdinalIgnoreCase);

    private static DateTimeOffset? Date(string text) =>
        text.Length > 0 && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var date)
            ? date
            : null;
}
