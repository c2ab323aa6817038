using System.Security.Cryptography;
using System.Text;

namespace Stratum.S3.Auth;

/// <summary>
/// AWS Signature Version 4 as S3 uses it: the canonical request, the string to sign, the derived signing
/// key and the chunk and trailer signatures of aws-chunked bodies. Pure functions, so the published
/// example vectors test them directly.
/// </summary>
public static class SigV4
{
    public const string Algorithm = "AWS4-HMAC-SHA256";
    public const string UnsignedPayload = "UNSIGNED-PAYLOAD";
    public const string StreamingSigned = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    public const string StreamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
    public const string StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

    /// <summary>Hex SHA-256 of no bytes, which chunk signatures hash in place of the (empty) chunk headers.</summary>
    public const string EmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// <summary>kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").</summary>
    public static byte[] DeriveSigningKey(string secret, string date, string region, string service)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secret), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    public static string Sign(byte[] signingKey, string stringToSign) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(signingKey, Encoding.UTF8.GetBytes(stringToSign)));

    public static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    public static string StringToSign(string amzDate, string scope, string canonicalRequest) =>
        $"{Algorithm}\n{amzDate}\n{scope}\n{Sha256Hex(canonicalRequest)}";

    public static string ChunkStringToSign(string amzDate, string scope, string previousSignature, string chunkSha256Hex) =>
        $"{Algorithm}-PAYLOAD\n{amzDate}\n{scope}\n{previousSignature}\n{EmptySha256}\n{chunkSha256Hex}";

    public static string TrailerStringToSign(string amzDate, string scope, string previousSignature, string trailerSha256Hex) =>
        $"{Algorithm}-TRAILER\n{amzDate}\n{scope}\n{previousSignature}\n{trailerSha256Hex}";

    /// <summary>
    /// METHOD\nURI\nQUERY\nHEADERS\n\nSIGNED\nPAYLOAD. <paramref name="path"/> and the query pairs are
    /// decoded; they are encoded here the way S3 signers encode them (every byte but A-Z a-z 0-9 - . _ ~
    /// as %XX; '/' kept in the path), so a client's choice of escaping does not matter.
    /// </summary>
    public static string CanonicalRequest(
        string method,
        string path,
        IEnumerable<KeyValuePair<string, string>> query,
        IReadOnlyList<KeyValuePair<string, string>> signedHeaders,
        string payloadHash)
    {
        var sb = new StringBuilder();
        sb.Append(method).Append('\n');
        sb.Append(UriEncode(path, keepSlash: true)).Append('\n');
        var pairs = query
            .Select(p => (Name: UriEncode(p.Key, keepSlash: false), Value: UriEncode(p.Value, keepSlash: false)))
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .ThenBy(p => p.Value, StringComparer.Ordinal);
        sb.AppendJoin('&', pairs.Select(p => p.Name + "=" + p.Value)).Append('\n');
        foreach (var (name, value) in signedHeaders)
        {
            sb.Append(name).Append(':').Append(value).Append('\n');
        }

        sb.Append('\n');
        sb.AppendJoin(';', signedHeaders.Select(h => h.Key)).Append('\n');
        sb.Append(payloadHash);
        return sb.ToString();
    }

    /// <summary>A header value as SigV4 canonicalises it: trimmed, runs of spaces collapsed to one.</summary>
    public static string CanonicalHeaderValue(string value)
    {
        var trimmed = value.Trim();
        if (!trimmed.Contains("  ", StringComparison.Ordinal))
        {
            return trimmed;
        }

        var sb = new StringBuilder(trimmed.Length);
        var previousSpace = false;
        foreach (var c in trimmed)
        {
            if (c == ' ' && previousSpace)
            {
                continue;
            }

            previousSpace = c == ' ';
            sb.Append(c);
        }

        return sb.ToString();
    }

    public static string UriEncode(string value, bool keepSlash)
    {
        var sb = new StringBuilder(value.Length + 8);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' || (keepSlash && c == '/'))
            {
                sb.Append(c);
            }
            else
            {
                sb.Append('%').Append(Convert.ToHexString([b]));
            }
        }

        return sb.ToString();
    }

    public static bool SignaturesEqual(string expectedHex, string providedHex) =>
        expectedHex.Length == providedHex.Length
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expectedHex), Encoding.ASCII.GetBytes(providedHex.ToLowerInvariant()));
}
