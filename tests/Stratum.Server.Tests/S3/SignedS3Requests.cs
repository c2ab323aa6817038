using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Stratum.S3.Auth;

namespace Stratum.Server.Tests.S3;

/// <summary>
/// SigV4 header-signed requests built by hand (no SDK in this project), for exact header combinations:
/// conditional requests, and a key's secret before and after rotation.
/// </summary>
public static partial class SignedS3Requests
{
    public static async Task<(int Status, string Code, string Body, string? ETag)> SendAsync(
        string endpoint, string accessKey, string secret, HttpMethod method, string path, byte[]? body = null, params (string Name, string Value)[] headers)
    {
        var baseAddress = new Uri(endpoint.TrimEnd('/') + "/");
        using var request = new HttpRequestMessage(method, new Uri(baseAddress, path.TrimStart('/')));
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
        }

        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        var amzDate = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var payloadHash = Convert.ToHexStringLower(SHA256.HashData(body ?? []));
        request.Headers.TryAddWithoutValidation("x-amz-date", amzDate);
        request.Headers.TryAddWithoutValidation("x-amz-content-sha256", payloadHash);
        var signed = new List<KeyValuePair<string, string>>
        {
            new("host", baseAddress.Authority),
            new("x-amz-content-sha256", payloadHash),
            new("x-amz-date", amzDate),
        };
        var uri = request.RequestUri!;
        var query = uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Select(p => new KeyValuePair<string, string>(Uri.UnescapeDataString(p[0]), p.Length > 1 ? Uri.UnescapeDataString(p[1]) : string.Empty));
        var canonical = SigV4.CanonicalRequest(method.Method, Uri.UnescapeDataString(uri.AbsolutePath), query, signed, payloadHash);
        var scope = $"{date}/us-east-1/s3/aws4_request";
        var signature = SigV4.Sign(SigV4.DeriveSigningKey(secret, date, "us-east-1", "s3"), SigV4.StringToSign(amzDate, scope, canonical));
        request.Headers.Authorization = new AuthenticationHeaderValue(
            "AWS4-HMAC-SHA256", $"Credential={accessKey}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}");

        using var http = new HttpClient();
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, CodePattern().Match(text).Groups[1].Value, text, response.Headers.ETag?.Tag);
    }

    [GeneratedRegex("<Code>([^<]*)</Code>")]
    private static partial Regex CodePattern();
}
