using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Stratum.Server.Store.S3;

namespace Stratum.Server.Tests.S3;

/// <summary>
/// Debian's awscli, s3cmd and rclone against the S3 endpoint over repositories, each with a temp HOME and
/// its own config, signing with access keys created and sealed in the metadata store.
/// </summary>
public sealed partial class RepositoryS3ClientTests(RepositoryS3Fixture fixture) : IClassFixture<RepositoryS3Fixture>, IDisposable
{
    private const int MiB = 1024 * 1024;

    private readonly string _home = Directory.CreateTempSubdirectory("stratum-s3repo-cli-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    [S3ClientFact("aws")]
    public async Task Aws_WritesToMain_ReadsBackListsCommitsAndReadsThroughATag()
    {
        var repo = await fixture.NewRepositoryAsync("aws");
        var small = Random(300_000, 1);
        var big = Random(20 * MiB, 2);
        var smallPath = WriteFile("up/small.bin", small);
        var bigPath = WriteFile("up/big.bin", big);
        WriteFile("tree/a.txt", "alpha"u8.ToArray());
        WriteFile("tree/sub/b.txt", "beta"u8.ToArray());

        // Each aws start costs seconds of Python on a shared machine, so independent calls run together.
        await Task.WhenAll(
            AwsAsync(fixture.Alice, "s3", "cp", smallPath, $"s3://{repo}/main/train/small.bin"),
            AwsAsync(fixture.Alice, "s3", "cp", bigPath, $"s3://{repo}/main/train/big.bin"),
            AwsAsync(fixture.Alice, "s3", "sync", Path.Combine(_home, "tree"), $"s3://{repo}/main/tree/"));

        var downSmall = Path.Combine(_home, "down/small.bin");
        var downBig = Path.Combine(_home, "down/big.bin");
        var rangePath = Path.Combine(_home, "down/range.bin");

        // The commands below run at once: s3api get-object does not create its folder, s3 cp does.
        Directory.CreateDirectory(Path.Combine(_home, "down"));
        var results = await Task.WhenAll(
            AwsAsync(fixture.Alice, "s3", "ls", $"s3://{repo}/"),
            AwsAsync(fixture.Alice, "s3", "ls", $"s3://{repo}/main/"),
            AwsAsync(fixture.Alice, "s3", "ls", $"s3://{repo}/main/train/"),
            AwsAsync(fixture.Alice, "s3api", "head-object", "--bucket", repo, "--key", "main/train/big.bin"),
            AwsAsync(fixture.Alice, "s3api", "get-object", "--bucket", repo, "--key", "main/train/small.bin", "--range", "bytes=1000-1999", rangePath),
            AwsAsync(fixture.Alice, "s3", "cp", $"s3://{repo}/main/train/small.bin", downSmall),
            AwsAsync(fixture.Alice, "s3", "cp", $"s3://{repo}/main/train/big.bin", downBig),
            AwsAsync(fixture.Alice, "s3", "presign", $"s3://{repo}/main/train/small.bin", "--expires-in", "300"),
            AwsAsync(fixture.Alice, "s3", "sync", $"s3://{repo}/main/tree/", Path.Combine(_home, "tree-back")));
        var (root, main, train, head, _, _, _, presigned, _) = (results[0], results[1], results[2], results[3], results[4], results[5], results[6], results[7], results[8]);

        // Branches are the folders of the bucket; the delimiter listing under a branch shows its folders.
        Assert.Contains("PRE main/", root);
        Assert.Contains("PRE train/", main);
        Assert.Contains("PRE tree/", main);
        Assert.Contains(small.Length.ToString(CultureInfo.InvariantCulture) + " small.bin", train);
        Assert.Contains(big.Length.ToString(CultureInfo.InvariantCulture) + " big.bin", train);

        // 20 MiB in 5 MiB parts: the multipart ETag, which the repository entry carries in its metadata.
        Assert.Equal(MultipartETag(big, 5 * MiB), ETagOf(head));
        Assert.Equal(small, await File.ReadAllBytesAsync(downSmall));
        Assert.Equal(big, await File.ReadAllBytesAsync(downBig));
        Assert.Equal(small.AsSpan(1000, 1000).ToArray(), await File.ReadAllBytesAsync(rangePath));
        Assert.Equal("beta", await File.ReadAllTextAsync(Path.Combine(_home, "tree-back", "sub", "b.txt")));
        using (var http = new HttpClient())
        {
            Assert.Equal(small, await http.GetByteArrayAsync(presigned.Trim()));
        }

        // Staged, not yet a version: a commit (what REST and the CLI do) makes one, and a tag reads it.
        var commit = await fixture.CommitAsync(repo);
        Assert.Equal(4, commit.FileCount);
        (await fixture.Repositories.CreateTagAsync(repo, "v1", "main")).Unwrap();
        await AwsAsync(fixture.Alice, "s3", "rm", $"s3://{repo}/main/train/small.bin");
        var viaTag = Path.Combine(_home, "down/tag-small.bin");
        var afterDelete = await Task.WhenAll(
            AwsAsync(fixture.Alice, "s3", "cp", $"s3://{repo}/v1/train/small.bin", viaTag),
            AwsAsync(fixture.Alice, "s3", "ls", $"s3://{repo}/main/train/"),
            AwsAsync(fixture.Alice, "s3", "ls", $"s3://{repo}/{commit.Id}/train/"));
        Assert.Equal(small, await File.ReadAllBytesAsync(viaTag));
        Assert.DoesNotContain("small.bin", afterDelete[1]);
        Assert.Contains("small.bin", afterDelete[2]);

        // A tag never changes: writing through it is refused and leaves it as it was.
        var (exit, output) = await RunAwsAsync(fixture.Alice, "s3", "cp", smallPath, $"s3://{repo}/v1/train/other.bin");
        Assert.NotEqual(0, exit);
        Assert.Contains("AccessDenied", output);
        Assert.Contains("tag or commit", output);
        Assert.False((await fixture.Repositories.StatAsync(repo, "v1", "train/other.bin")).IsSuccess);
    }

    [S3ClientFact("aws")]
    public async Task Aws_BadKeysAndNonWriters_GetTheRightErrors()
    {
        var repo = await fixture.NewRepositoryAsync("deny");
        var file = WriteFile("x.bin", Random(1000, 3));
        var wrongSecret = fixture.Alice with { SecretAccessKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(30)) };
        var unknown = fixture.Alice with { AccessKeyId = "STKAAAAAAAAAAAAAAAAA" };
        var results = await Task.WhenAll(
            RunAwsAsync(wrongSecret, "s3", "ls", $"s3://{repo}/main/"),
            RunAwsAsync(unknown, "s3", "ls", $"s3://{repo}/main/"),
            RunAwsAsync(fixture.Bob, "s3", "cp", file, $"s3://{repo}/main/x.bin"),
            RunAwsAsync(fixture.Bob, "s3", "ls", $"s3://{repo}/"),
            RunAwsAsync(fixture.Alice, "s3", "cp", file, $"s3://{repo}/nobranch/x.bin"));

        Assert.Contains("SignatureDoesNotMatch", results[0].Output);
        Assert.Contains("InvalidAccessKeyId", results[1].Output);
        Assert.Contains("AccessDenied", results[2].Output);
        Assert.Contains("may not write", results[2].Output);
        Assert.Equal(0, results[3].ExitCode);
        Assert.Contains("InvalidArgument", results[4].Output);
        Assert.All(results.Where((_, i) => i != 3), r => Assert.NotEqual(0, r.ExitCode));
        Assert.Empty((await fixture.Repositories.ListAsync(repo, "main")).Unwrap().Objects);

        // A deleted key stops working at once on this server.
        var box = S3SecretBox.ForDataDirectory(fixture.Root);
        var doomed = await S3AccessKeys.CreateAsync(fixture.Metadata, box, "alice", DateTimeOffset.UtcNow, null, default);
        Assert.Equal(0, (await RunAwsAsync(doomed, "s3", "ls", $"s3://{repo}/")).ExitCode);
        Assert.True(await fixture.Metadata.S3Keys.DeleteAsync(doomed.AccessKeyId, null));
        fixture.Host.Credentials.Forget(doomed.AccessKeyId);
        Assert.Contains("InvalidAccessKeyId", (await RunAwsAsync(doomed, "s3", "ls", $"s3://{repo}/")).Output);
    }

    [S3ClientFact("s3cmd")]
    public async Task S3cmd_PutListGetDelete_OnABranch()
    {
        var repo = await fixture.NewRepositoryAsync("s3cmd");
        var data = Random(300_000, 4);
        var local = WriteFile("s3cmd/file.bin", data);
        await S3cmdAsync("put", local, $"s3://{repo}/main/dir/file.bin");
        var listed = await S3cmdAsync("ls", $"s3://{repo}/main/dir/");
        var back = Path.Combine(_home, "s3cmd-back.bin");
        await S3cmdAsync("get", "--force", $"s3://{repo}/main/dir/file.bin", back);
        await S3cmdAsync("del", $"s3://{repo}/main/dir/file.bin");
        var afterDelete = await S3cmdAsync("ls", "--recursive", $"s3://{repo}/");

        Assert.Contains($"s3://{repo}/main/dir/file.bin", listed);
        Assert.Equal(data, await File.ReadAllBytesAsync(back));
        Assert.DoesNotContain("file.bin", afterDelete);
    }

    [S3ClientFact("rclone")]
    public async Task Rclone_CopyListDelete_OnABranch()
    {
        var repo = await fixture.NewRepositoryAsync("rclone");
        var data = Random(200_000, 5);
        WriteFile("rc/one.bin", data);
        WriteFile("rc/nested/two.txt", "two"u8.ToArray());

        await RcloneAsync("copy", Path.Combine(_home, "rc"), $"stratum:{repo}/main/data");
        var files = await RcloneAsync("ls", $"stratum:{repo}/main");
        var dirs = await RcloneAsync("lsd", $"stratum:{repo}");
        var back = Path.Combine(_home, "rc-back");
        await RcloneAsync("copy", $"stratum:{repo}/main/data", back);
        await RcloneAsync("delete", $"stratum:{repo}/main/data");
        var afterDelete = await RcloneAsync("ls", $"stratum:{repo}/main");

        Assert.Contains($"{data.Length} data/one.bin", files);
        Assert.Contains("3 data/nested/two.txt", files);
        Assert.Contains("main", dirs);
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(back, "one.bin")));
        Assert.Equal("two", await File.ReadAllTextAsync(Path.Combine(back, "nested", "two.txt")));
        Assert.Equal(string.Empty, afterDelete.Trim());
    }

    private static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static string MultipartETag(byte[] data, int partSize)
    {
        using var md5s = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        var parts = 0;
        for (var offset = 0; offset < data.Length; offset += partSize, parts++)
        {
            md5s.AppendData(MD5.HashData(data.AsSpan(offset, Math.Min(partSize, data.Length - offset))));
        }

        return $"{Convert.ToHexStringLower(md5s.GetHashAndReset())}-{parts}";
    }

    private static string ETagOf(string headObjectJson) => ETagPattern().Match(headObjectJson).Groups[1].Value;

    [GeneratedRegex("\"ETag\": \"\\\\\"([^\\\\]*)\\\\\"\"")]
    private static partial Regex ETagPattern();

    private string WriteFile(string relative, byte[] data)
    {
        var path = Path.Combine(_home, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, data);
        return path;
    }

    private Dictionary<string, string> AwsEnvironment(CreatedS3Key key)
    {
        var config = WriteFile(".aws/config", "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n    multipart_threshold = 5MB\n    multipart_chunksize = 5MB\n"u8.ToArray());
        var credentials = WriteFile(".aws/credentials", []);
        return new()
        {
            ["HOME"] = _home,
            ["AWS_CONFIG_FILE"] = config,
            ["AWS_SHARED_CREDENTIALS_FILE"] = credentials,
            ["AWS_ACCESS_KEY_ID"] = key.AccessKeyId,
            ["AWS_SECRET_ACCESS_KEY"] = key.SecretAccessKey,
            ["AWS_DEFAULT_REGION"] = "us-east-1",
            ["AWS_EC2_METADATA_DISABLED"] = "true",
            ["AWS_PAGER"] = string.Empty,
            ["AWS_MAX_ATTEMPTS"] = "1",
        };
    }

    private Task<(int ExitCode, string Output)> RunAwsAsync(CreatedS3Key key, params string[] arguments) =>
        S3Clients.RunAsync("aws", ["--endpoint-url", fixture.Endpoint, .. arguments], AwsEnvironment(key), _home);

    private async Task<string> AwsAsync(CreatedS3Key key, params string[] arguments)
    {
        var (exit, output) = await RunAwsAsync(key, arguments);
        Assert.True(exit == 0, $"aws {string.Join(' ', arguments)} exited {exit}: {output}");
        return output;
    }

    private async Task<string> S3cmdAsync(params string[] arguments)
    {
        var authority = fixture.Host.BaseAddress.Authority;
        var config = WriteFile("s3cmd.cfg", System.Text.Encoding.UTF8.GetBytes(string.Join('\n',
            "[default]",
            $"access_key = {fixture.Alice.AccessKeyId}",
            $"secret_key = {fixture.Alice.SecretAccessKey}",
            $"host_base = {authority}",
            $"host_bucket = {authority}",
            "use_https = False",
            "signature_v2 = False",
            "bucket_location = us-east-1",
            string.Empty)));
        var (exit, output) = await S3Clients.RunAsync("s3cmd", ["-c", config, .. arguments], new Dictionary<string, string> { ["HOME"] = _home }, _home);
        Assert.True(exit == 0, $"s3cmd {string.Join(' ', arguments)} exited {exit}: {output}");
        return output;
    }

    private async Task<string> RcloneAsync(params string[] arguments)
    {
        var environment = new Dictionary<string, string>
        {
            ["HOME"] = _home,
            ["RCLONE_CONFIG"] = WriteFile("rclone.conf", []),
            ["RCLONE_CONFIG_STRATUM_TYPE"] = "s3",
            ["RCLONE_CONFIG_STRATUM_PROVIDER"] = "Other",
            ["RCLONE_CONFIG_STRATUM_ACCESS_KEY_ID"] = fixture.Alice.AccessKeyId,
            ["RCLONE_CONFIG_STRATUM_SECRET_ACCESS_KEY"] = fixture.Alice.SecretAccessKey,
            ["RCLONE_CONFIG_STRATUM_ENDPOINT"] = fixture.Endpoint,
            ["RCLONE_CONFIG_STRATUM_REGION"] = "us-east-1",
            ["RCLONE_CONFIG_STRATUM_FORCE_PATH_STYLE"] = "true",
        };
        var (exit, output) = await S3Clients.RunAsync("rclone", [.. arguments, "--retries", "1", "--low-level-retries", "1"], environment, _home);
        Assert.True(exit == 0, $"rclone {string.Join(' ', arguments)} exited {exit}: {output}");
        return output;
    }
}
