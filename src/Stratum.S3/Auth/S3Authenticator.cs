using System.Globalization;
using Microsoft.AspNetCore.Http;
using Stratum.S3.Streaming;

namespace Stratum.S3.Auth;

/// <summary>Who signed a request, and how its body was signed (the x-amz-content-sha256 value and, for signed chunks, the seed).</summary>
public sealed record S3AuthResult(S3Credential Credential, string PayloadHash, ChunkSigning? Signing);

/// <summary>
/// Checks SigV4: the Authorization header form and the presigned-URL (query) form. It verifies the
/// signature over the canonical request; the body's own checks (signed payload hash, chunk signatures)
/// happen as the body is read, using what this returns.
/// </summary>
public sealed class S3Authenticator(IS3CredentialStore credentials, TimeProvider time, TimeSpan maxClockSkew)
{
    private const string DateFormat = "yyyyMMdd'T'HHmmss'Z'";

    /// <summary>The longest a presigned URL may live, as in AWS: seven days.</summary>
    public static readonly TimeSpan MaxPresignedExpiry = TimeSpan.FromDays(7);

    public async Task<(S3AuthResult? Result, S3Error? Error)> AuthenticateAsync(
        HttpRequest request, string decodedPath, IReadOnlyList<KeyValuePair<string, string>> query, CancellationToken cancellationToken)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith(SigV4.Algorithm + " ", StringComparison.Ordinal))
        {
            return await FromHeaderAsync(request, authorization[(SigV4.Algorithm.Length + 1)..], decodedPath, query, cancellationToken);
        }

        if (query.Any(p => p.Key == "X-Amz-Algorithm"))
        {
            return await FromQueryAsync(request, decodedPath, query, cancellationToken);
        }

        if (authorization.Length > 0)
        {
            return (null, S3Errors.InvalidArgument.WithMessage("Only AWS4-HMAC-SHA256 (SigV4) authorization is supported."));
        }

        return (null, S3Errors.AccessDenied.WithMessage("Anonymous access is not allowed; sign the request with SigV4."));
    }

    private async Task<(S3AuthResult?, S3Error?)> FromHeaderAsync(
        HttpRequest request, string parameters, string decodedPath, IReadOnlyList<KeyValuePair<string, string>> query, CancellationToken cancellationToken)
    {
        string? credential = null, signedHeaders = null, signature = null;
        foreach (var part in parameters.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                continue;
            }

            var value = part[(eq + 1)..].Trim();
            switch (part[..eq].Trim())
            {
                case "Credential": credential = value; break;
                case "SignedHeaders": signedHeaders = value; break;
                case "Signature": signature = value; break;
                default: break;
            }
        }

        if (credential is null || signedHeaders is null || signature is null)
        {
            return (null, S3Errors.AuthorizationHeaderMalformed.WithMessage("The authorization header needs Credential, SignedHeaders and Signature."));
        }

        var amzDate = request.Headers["x-amz-date"].ToString();
        if (amzDate.Length == 0 && DateTimeOffset.TryParse(request.Headers.Date.ToString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var httpDate))
        {
            amzDate = httpDate.UtcDateTime.ToString(DateFormat, CultureInfo.InvariantCulture);
        }

        if (!TryParseAmzDate(amzDate, out var signedAt))
        {
            return (null, S3Errors.AccessDenied.WithMessage("The request has no valid x-amz-date or Date header."));
        }

        if ((time.GetUtcNow() - signedAt).Duration() > maxClockSkew)
        {
            return (null, S3Errors.RequestTimeTooSkewed);
        }

        var payloadHash = request.Headers["x-amz-content-sha256"].ToString();
        if (payloadHash.Length == 0)
        {
            return (null, S3Errors.InvalidArgument.WithMessage("S3 requests signed with SigV4 must carry x-amz-content-sha256."));
        }

        return await VerifyAsync(request, decodedPath, query, credential, signedHeaders, signature, amzDate, payloadHash, cancellationToken);
    }

    private async Task<(S3AuthResult?, S3Error?)> FromQueryAsync(
        HttpRequest request, string decodedPath, IReadOnlyList<KeyValuePair<string, string>> query, CancellationToken cancellationToken)
    {
        string? Get(string name) => query.FirstOrDefault(p => p.Key == name).Value;
        if (Get("X-Amz-Algorithm") != SigV4.Algorithm)
        {
            return (null, S3Errors.InvalidArgument.WithMessage("X-Amz-Algorithm must be AWS4-HMAC-SHA256."));
        }

        var credential = Get("X-Amz-Credential");
        var signedHeaders = Get("X-Amz-SignedHeaders");
        var signature = Get("X-Amz-Signature");
        var amzDate = Get("X-Amz-Date") ?? string.Empty;
        if (credential is null || signedHeaders is null || signature is null
            || !int.TryParse(Get("X-Amz-Expires"), NumberStyles.None, CultureInfo.InvariantCulture, out var expires)
            || !TryParseAmzDate(amzDate, out var signedAt))
        {
            return (null, S3Errors.AuthorizationHeaderMalformed.WithMessage(
                "A presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature."));
        }

        if (TimeSpan.FromSeconds(expires) > MaxPresignedExpiry)
        {
            return (null, S3Errors.AuthorizationHeaderMalformed.WithMessage("X-Amz-Expires must be at most 604800 seconds (7 days)."));
        }

        var now = time.GetUtcNow();
        if (now > signedAt.AddSeconds(expires))
        {
            return (null, S3Errors.AccessDenied.WithMessage("Request has expired"));
        }

        if (signedAt - now > maxClockSkew)
        {
            return (null, S3Errors.RequestTimeTooSkewed);
        }

        var withoutSignature = query.Where(p => p.Key != "X-Amz-Signature").ToList();
        var payloadHash = Get("X-Amz-Content-Sha256") ?? request.Headers["x-amz-content-sha256"].FirstOrDefault() ?? SigV4.UnsignedPayload;
        return await VerifyAsync(request, decodedPath, withoutSignature, credential, signedHeaders, signature, amzDate, payloadHash, cancellationToken);
    }

    private async Task<(S3AuthResult?, S3Error?)> VerifyAsync(
        HttpRequest request,
        string decodedPath,
        IReadOnlyList<KeyValuePair<string, string>> query,
        string credentialText,
        string signedHeaderList,
        string signature,
        string amzDate,
        string payloadHash,
        CancellationToken cancellationToken)
    {
        // Credential = ACCESS_KEY/DATE/REGION/SERVICE/aws4_request; the access key itself never contains '/'.
        var scopeParts = credentialText.Split('/');
        if (scopeParts.Length != 5 || scopeParts[4] != "aws4_request" || scopeParts[3] != "s3" || !amzDate.StartsWith(scopeParts[1], StringComparison.Ordinal))
        {
            return (null, S3Errors.AuthorizationHeaderMalformed.WithMessage("The credential scope must be ACCESS_KEY/yyyyMMdd/REGION/s3/aws4_request, dated the day of the request."));
        }

        var credential = await credentials.FindAsync(scopeParts[0], cancellationToken);
        if (credential is null)
        {
            return (null, S3Errors.InvalidAccessKeyId);
        }

        var names = signedHeaderList.Split(';');
        if (!names.Contains("host"))
        {
            return (null, S3Errors.AuthorizationHeaderMalformed.WithMessage("SignedHeaders must include host."));
        }

        var headers = new List<KeyValuePair<string, string>>(names.Length);
        foreach (var name in names)
        {
            var values = request.Headers[name];
            headers.Add(new(name, string.Join(',', values.Select(v => SigV4.CanonicalHeaderValue(v ?? string.Empty)))));
        }

        var canonical = SigV4.CanonicalRequest(request.Method, decodedPath, query, headers, payloadHash);
        var scope = string.Join('/', scopeParts[1..]);
        var signingKey = SigV4.DeriveSigningKey(credential.SecretAccessKey, scopeParts[1], scopeParts[2], scopeParts[3]);
        var expected = SigV4.Sign(signingKey, SigV4.StringToSign(amzDate, scope, canonical));
        if (!SigV4.SignaturesEqual(expected, signature))
        {
            return (null, S3Errors.SignatureDoesNotMatch);
        }

        var signing = payloadHash is SigV4.StreamingSigned or SigV4.StreamingSignedTrailer
            ? new ChunkSigning(signingKey, amzDate, scope, expected)
            : null;
        return (new S3AuthResult(credential, payloadHash, signing), null);
    }

    private static bool TryParseAmzDate(string text, out DateTimeOffset value) =>
        DateTimeOffset.TryParseExact(text, DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
}
