using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Stratum.EndToEnd.Tests;

/// <summary>
/// The S3 endpoint as a user meets it: a real <c>stratum up</c> prints where S3 listens, <c>stratum store keys
/// create</c> gives a key, aws-cli writes to a branch, <c>stratum store commit</c> makes it a version, and
/// <c>stratum store get</c> reads it back.
/// </summary>
public sealed partial class StoreS3EndToEndTests(ServerFixture fixture) : IClassFixture<ServerFixture>, IDisposable
{
    private const string Aws = "/usr/bin/aws";
    private readonly string _work = Directory.CreateTempSubdirectory("stratum-store-s3-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public async Task AwsCliUpload_CommittedWithTheCli_ReadsBackThroughTheStore()
    {
        if (!File.Exists(Aws))
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "aws-cli is missing under CI: .ci/run installs Debian's awscli package");
            return;
        }

        var s3 = S3Line().Match(fixture.Server.Output);
        Assert.True(s3.Success, $"'stratum up' did not print where the S3 endpoint listens:\n{fixture.Server.Output}");
        var endpoint = s3.Groups["url"].Value;

        Assert.Equal(0, (await fixture.RunAsync("store", "create", "s3-landing", "--kind", "dataset")).ExitCode);
        var key = await fixture.RunJsonAsync<JsonElement>("store", "keys", "create");
        var environment = new Dictionary<string, string>
        {
            ["AWS_ACCESS_KEY_ID"] = key.GetProperty("accessKeyId").GetString()!,
            ["AWS_SECRET_ACCESS_KEY"] = key.GetProperty("secretAccessKey").GetString()!,
            ["AWS_DEFAULT_REGION"] = "us-east-1",
            ["AWS_CONFIG_FILE"] = Path.Combine(_work, "no-config"),
            ["AWS_SHARED_CREDENTIALS_FILE"] = Path.Combine(_work, "no-credentials"),
        };

        var bytes = new byte[3 * 1024 * 1024 + 17];
        new Random(7).NextBytes(bytes);
        var local = Path.Combine(_work, "shard.bin");
        await File.WriteAllBytesAsync(local, bytes);
        var upload = await RunAws(environment, "--endpoint-url", endpoint, "s3", "cp", local, "s3://s3-landing/main/shards/shard.bin");
        Assert.True(upload.ExitCode == 0, upload.Output);

        // Staged, not yet a version: the branch shows it, the log does not.
        var logBefore = await fixture.RunJsonAsync<JsonElement>("store", "log", "s3-landing");
        var commit = await fixture.RunJsonAsync<JsonElement>("store", "commit", "s3-landing@main", "-m", "landed through S3");
        var logAfter = await fixture.RunJsonAsync<JsonElement>("store", "log", "s3-landing");
        Assert.Equal(logBefore.GetArrayLength() + 1, logAfter.GetArrayLength());
        Assert.Equal(commit.GetProperty("commit").GetString(), logAfter[0].GetProperty("id").GetString());

        var back = Path.Combine(_work, "back");
        Assert.Equal(0, (await fixture.RunAsync("store", "get", "s3-landing@main:shards/shard.bin", back)).ExitCode);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(back, "shard.bin")));

        // A wrong secret is refused with S3's own error code.
        environment["AWS_SECRET_ACCESS_KEY"] = "wrong" + environment["AWS_SECRET_ACCESS_KEY"][5..];
        var refused = await RunAws(environment, "--endpoint-url", endpoint, "s3", "ls", "s3://s3-landing/main/");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("SignatureDoesNotMatch", refused.Output, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Output)> RunAws(Dictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(Aws, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        return (process.ExitCode, await stdout + await stderr);
    }

    [GeneratedRegex(@"^\s*s3\s+(?<url>http://\S+)", RegexOptions.Multiline)]
    private static partial Regex S3Line();
}
