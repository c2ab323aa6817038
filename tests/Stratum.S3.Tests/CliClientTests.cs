using System.Globalization;

namespace Stratum.S3.Tests;

/// <summary>
/// Debian's awscli, s3cmd and rclone against the endpoint. Each runs with a temp HOME and its own config
/// files, so nothing on the machine is read or touched. Skipped where a client is missing, failing under CI=true.
/// </summary>
public sealed class CliClientTests(S3TestServer server) : IClassFixture<S3TestServer>, IDisposable
{
    private const int MiB = 1024 * 1024;

    private readonly string _home = Directory.CreateTempSubdirectory("stratum-s3-cli-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    private string WriteFile(string relative, byte[] data)
    {
        var path = Path.Combine(_home, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, data);
        return path;
    }

    private Dictionary<string, string> AwsEnvironment()
    {
        var config = WriteFile(".aws/config", "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"u8.ToArray());
        var credentials = WriteFile(".aws/credentials", []);
        return new()
        {
            ["HOME"] = _home,
            ["AWS_CONFIG_FILE"] = config,
            ["AWS_SHARED_CREDENTIALS_FILE"] = credentials,
            ["AWS_ACCESS_KEY_ID"] = S3TestServer.AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = server.SecretKey,
            ["AWS_DEFAULT_REGION"] = "us-east-1",
            ["AWS_EC2_METADATA_DISABLED"] = "true",
            ["AWS_PAGER"] = string.Empty,
        };
    }

    private async Task<string> AwsAsync(params string[] arguments)
    {
        var (exit, output) = await ExternalTools.RunAsync("aws", ["--endpoint-url", server.Endpoint, .. arguments], AwsEnvironment(), _home);
        Assert.True(exit == 0, $"aws {string.Join(' ', arguments)} exited {exit}: {output}");
        return output;
    }

    [ToolFact("aws")]
    public async Task AwsCli_CopySyncListRangePresign_Work()
    {
        var bucket = S3TestServer.NewBucket("awscli");
        using var sdk = new Amazon.S3.AmazonS3Client(
            new Amazon.Runtime.BasicAWSCredentials(S3TestServer.AccessKey, server.SecretKey),
            new Amazon.S3.AmazonS3Config { ServiceURL = server.Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        await sdk.PutBucketAsync(bucket);
        var big = TestData.Random(9 * MiB, 30);
        var bigPath = WriteFile("up/big.bin", big);
        WriteFile("tree/a.txt", "a"u8.ToArray());
        WriteFile("tree/sub/b.txt", "b"u8.ToArray());
        WriteFile("tree/sub/deeper/c.txt", "c"u8.ToArray());
        var down = Path.Combine(_home, "down.bin");
        var ranged = Path.Combine(_home, "ranged.bin");

        // Each aws invocation costs seconds of Python start-up on a shared machine, so independent ones run together.
        await Task.WhenAll(
            AwsAsync("s3", "cp", bigPath, $"s3://{bucket}/up/big.bin"),
            AwsAsync("s3", "sync", Path.Combine(_home, "tree"), $"s3://{bucket}/tree/"));
        var results = await Task.WhenAll(
            AwsAsync("s3", "cp", $"s3://{bucket}/up/big.bin", down),
            AwsAsync("s3", "ls", $"s3://{bucket}/tree/"),
            AwsAsync("s3", "ls", $"s3://{bucket}/tree/sub/"),
            AwsAsync("s3api", "get-object", "--bucket", bucket, "--key", "up/big.bin", "--range", "bytes=1000-1999", ranged),
            AwsAsync("s3", "presign", $"s3://{bucket}/tree/a.txt", "--expires-in", "300"));
        var (top, sub, url) = (results[1], results[2], results[4].Trim());
        using var http = new HttpClient();
        var presigned = await http.GetStringAsync(url);
        var head = await sdk.GetObjectMetadataAsync(bucket, "up/big.bin");
        var synced = await sdk.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket, Prefix = "tree/" });

        Assert.Equal(big, await File.ReadAllBytesAsync(down));
        Assert.Matches("^\"[0-9a-f]{32}-2\"$", head.ETag);
        Assert.Contains("PRE sub/", top);
        Assert.Contains("a.txt", top);
        Assert.Contains("PRE deeper/", sub);
        Assert.Contains("b.txt", sub);
        Assert.Equal(["tree/a.txt", "tree/sub/b.txt", "tree/sub/deeper/c.txt"], (synced.S3Objects ?? []).Select(o => o.Key));
        Assert.Equal(big[1000..2000], await File.ReadAllBytesAsync(ranged));
        Assert.Equal("a", presigned);
    }

    private async Task<string> S3cmdAsync(params string[] arguments)
    {
        var config = WriteFile(".s3cfg", System.Text.Encoding.UTF8.GetBytes(string.Join('\n',
            "[default]",
            $"access_key = {S3TestServer.AccessKey}",
            $"secret_key = {server.SecretKey}",
            $"host_base = {server.BaseAddress.Authority}",
            $"host_bucket = {server.BaseAddress.Authority}",
            "use_https = False",
            "signature_v2 = False",
            "bucket_location = us-east-1",
            string.Empty)));
        var (exit, output) = await ExternalTools.RunAsync("s3cmd", ["-c", config, .. arguments], new Dictionary<string, string> { ["HOME"] = _home }, _home);
        Assert.True(exit == 0, $"s3cmd {string.Join(' ', arguments)} exited {exit}: {output}");
        return output;
    }

    [ToolFact("s3cmd")]
    public async Task S3cmd_PutGetListDelete_Work()
    {
        var bucket = S3TestServer.NewBucket("s3cmd");
        var data = TestData.Random(300_000, 31);
        var local = WriteFile("s3cmd/file.bin", data);

        await S3cmdAsync("mb", $"s3://{bucket}");
        await S3cmdAsync("put", local, $"s3://{bucket}/dir/file.bin");
        var listed = await S3cmdAsync("ls", $"s3://{bucket}/dir/");
        var back = Path.Combine(_home, "s3cmd-back.bin");
        await S3cmdAsync("get", "--force", $"s3://{bucket}/dir/file.bin", back);
        await S3cmdAsync("del", $"s3://{bucket}/dir/file.bin");
        var afterDelete = await S3cmdAsync("ls", "--recursive", $"s3://{bucket}/");

        Assert.Contains($"s3://{bucket}/dir/file.bin", listed);
        Assert.Contains(data.Length.ToString(CultureInfo.InvariantCulture), listed);
        Assert.Equal(data, await File.ReadAllBytesAsync(back));
        Assert.DoesNotContain("file.bin", afterDelete);
    }

    private async Task<string> RcloneAsync(params string[] arguments)
    {
        var config = WriteFile("rclone.conf", []);
        var environment = new Dictionary<string, string>
        {
            ["HOME"] = _home,
            ["RCLONE_CONFIG"] = config,
            ["RCLONE_CONFIG_STRATUM_TYPE"] = "s3",
            ["RCLONE_CONFIG_STRATUM_PROVIDER"] = "Other",
            ["RCLONE_CONFIG_STRATUM_ACCESS_KEY_ID"] = S3TestServer.AccessKey,
            ["RCLONE_CONFIG_STRATUM_SECRET_ACCESS_KEY"] = server.SecretKey,
            ["RCLONE_CONFIG_STRATUM_ENDPOINT"] = server.Endpoint,
            ["RCLONE_CONFIG_STRATUM_REGION"] = "us-east-1",
            ["RCLONE_CONFIG_STRATUM_FORCE_PATH_STYLE"] = "true",
        };
        var (exit, output) = await ExternalTools.RunAsync("rclone", [.. arguments, "--retries", "1", "--low-level-retries", "1"], environment, _home);
        Assert.True(exit == 0, $"rclone {string.Join(' ', arguments)} exited {exit}: {output}");
        return output;
    }

    [ToolFact("rclone")]
    public async Task Rclone_CopyListDelete_Work()
    {
        var bucket = S3TestServer.NewBucket("rclone");
        var data = TestData.Random(200_000, 32);
        WriteFile("rc/one.bin", data);
        WriteFile("rc/nested/two.txt", "two"u8.ToArray());

        await RcloneAsync("mkdir", $"stratum:{bucket}");
        await RcloneAsync("copy", Path.Combine(_home, "rc"), $"stratum:{bucket}/data");
        var files = await RcloneAsync("ls", $"stratum:{bucket}");
        var dirs = await RcloneAsync("lsd", $"stratum:{bucket}/data");
        var back = Path.Combine(_home, "rc-back");
        await RcloneAsync("copy", $"stratum:{bucket}/data", back);
        await RcloneAsync("delete", $"stratum:{bucket}/data");
        var afterDelete = await RcloneAsync("ls", $"stratum:{bucket}");

        Assert.Contains($"{data.Length} data/one.bin", files);
        Assert.Contains("3 data/nested/two.txt", files);
        Assert.Contains("nested", dirs);
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(back, "one.bin")));
        Assert.Equal("two", await File.ReadAllTextAsync(Path.Combine(back, "nested", "two.txt")));
        Assert.Equal(string.Empty, afterDelete.Trim());
    }
}
