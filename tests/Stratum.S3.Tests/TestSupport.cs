using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Stratum.S3.Auth;
using Stratum.S3.Backend;

namespace Stratum.S3.Tests;

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>An S3 endpoint on a free loopback port over a fresh directory, with one known access key.</summary>
public sealed class S3TestServer : IAsyncLifetime
{
    public const string AccessKey = "STRATUMTESTKEY";
    public const string Principal = "alice";

    public string SecretKey { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(30));

    public string Root { get; } = Directory.CreateTempSubdirectory("stratum-s3-").FullName;

    public ManualClock Clock { get; } = new(DateTimeOffset.UtcNow);

    public S3EndpointOptions Options { get; } = new();

    public S3Server Server { get; private set; } = null!;

    public Uri BaseAddress => Server.BaseAddress;

    public string Endpoint => BaseAddress.ToString().TrimEnd('/');

    public async Task InitializeAsync()
    {
        var backend = new FileSystemS3Backend(Path.Combine(Root, "data"), Clock);
        var credentials = new InMemoryS3CredentialStore(new S3Credential(AccessKey, SecretKey, Principal));
        Server = await S3Server.StartAsync(new S3ServerOptions { Port = 0, Endpoint = Options }, backend, credentials, Clock);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }

    /// <summary>A bucket name no other test uses.</summary>
    public static string NewBucket(string stem) => $"{stem}-{Guid.NewGuid():N}";
}

/// <summary>Signs raw requests the way an SDK would, with a chosen clock and payload hash, to reach error paths SDKs avoid.</summary>
public static class TestSigner
{
    public static HttpRequestMessage Signed(
        HttpMethod method, Uri baseAddress, string pathAndQuery, byte[]? body, string accessKey, string secret, DateTimeOffset at,
        string? payloadHash = null, Action<HttpRequestMessage>? extraHeaders = null)
    {
        var request = new HttpRequestMessage(method, new Uri(baseAddress, pathAndQuery));
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
        }

        var amzDate = at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        payloadHash ??= Convert.ToHexStringLower(SHA256.HashData(body ?? []));
        request.Headers.TryAddWithoutValidation("x-amz-date", amzDate);
        request.Headers.TryAddWithoutValidation("x-amz-content-sha256", payloadHash);
        extraHeaders?.Invoke(request);
        var host = baseAddress.Authority;
        var signedHeaders = new List<KeyValuePair<string, string>>
        {
            new("host", host),
            new("x-amz-content-sha256", payloadHash),
            new("x-amz-date", amzDate),
        };
        var uri = request.RequestUri!;
        var query = ParseQuery(uri.Query);
        var canonical = SigV4.CanonicalRequest(method.Method, Uri.UnescapeDataString(uri.AbsolutePath), query, signedHeaders, payloadHash);
        var scope = $"{date}/us-east-1/s3/aws4_request";
        var key = SigV4.DeriveSigningKey(secret, date, "us-east-1", "s3");
        var signature = SigV4.Sign(key, SigV4.StringToSign(amzDate, scope, canonical));
        request.Headers.Authorization = new AuthenticationHeaderValue(
            "AWS4-HMAC-SHA256", $"Credential={accessKey}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}");
        return request;
    }

    public static List<KeyValuePair<string, string>> ParseQuery(string query) =>
        query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Select(p => new KeyValuePair<string, string>(Uri.UnescapeDataString(p[0]), p.Length > 1 ? Uri.UnescapeDataString(p[1]) : string.Empty))
            .ToList();

    public static async Task<(int Status, string Code, string Body)> SendAsync(HttpRequestMessage request)
    {
        using var http = new HttpClient();
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var code = System.Text.RegularExpressions.Regex.Match(body, "<Code>([^<]*)</Code>").Groups[1].Value;
        return ((int)response.StatusCode, code, body);
    }
}

/// <summary>External S3 clients (Debian's awscli, s3cmd, rclone), found on this machine or not.</summary>
public static class ExternalTools
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The executable, preferring Debian's /usr/bin copy over shims (pyenv puts a broken 'aws' shim on PATH).</summary>
    public static string? Find(string name)
    {
        foreach (var dir in new[] { "/usr/bin", "/usr/local/bin" }.Concat((Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':')))
        {
            var candidate = Path.Combine(dir, name);
            if (dir.Length > 0 && !dir.Contains("shims", StringComparison.Ordinal) && File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    public static string Require(string name) =>
        Find(name) ?? throw new InvalidOperationException(
            $"'{name}' is required here (CI=true) but not installed: apt-get install -y awscli s3cmd rclone");

    public static async Task<(int ExitCode, string Output)> RunAsync(string tool, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(Require(tool))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // The machine's AWS_CA_BUNDLE makes rclone's Go SDK refuse its own HTTP transport; these clients speak plain HTTP to loopback.
        info.Environment.Remove("AWS_CA_BUNDLE");
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', info.ArgumentList)} did not finish in 60 s");
        }

        var output = new StringBuilder().Append(await stdout).Append(await stderr).ToString();
        return (process.ExitCode, output);
    }
}

/// <summary>A [Fact] needing an external client: skipped with a reason where it is missing, run (and failing) under CI=true.</summary>
public sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(string tool)
    {
        if (!ExternalTools.InCi && ExternalTools.Find(tool) is null)
        {
            Skip = $"'{tool}' is not installed (apt-get install -y awscli s3cmd rclone); under CI=true this test fails instead.";
        }
    }
}

public static class TestData
{
    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string Md5Hex(byte[] data) => Convert.ToHexStringLower(MD5.HashData(data));
}
