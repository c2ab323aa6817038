using System.Text.Json;
using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests;

/// <summary><c>stratum store</c> end to end: the real program against a real <c>stratum up</c>.</summary>
public sealed class StoreCliTests(ServerFixture fixture) : IClassFixture<ServerFixture>, IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("stratum-store-cli-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public async Task CreatePutLsGetLogDiffBranchTagDuVerifyGc_RoundTrip()
    {
        var source = Path.Combine(_work, "source");
        Write(source, "train/part-0.bin", Random(2 * 1024 * 1024 + 5, 1));
        Write(source, "train/part-1.bin", Random(300_000, 2));
        Write(source, "README.md", "the dataset\n"u8.ToArray());

        await Ok("store", "create", "corpus", "--kind", "dataset");
        var put = await fixture.RunJsonAsync<JsonElement>("store", "put", "corpus@main", source, "-m", "first version");
        Assert.Equal(3, put.GetProperty("files").GetInt32());
        var firstCommit = put.GetProperty("commit").GetString()!;

        var top = await fixture.RunJsonAsync<JsonElement>("store", "ls", "corpus@main");
        Assert.Equal(["train/"], top.GetProperty("directories").EnumerateArray().Select(d => d.GetString()!).ToArray());
        Assert.Equal(["README.md"], top.GetProperty("objects").EnumerateArray().Select(o => o.GetProperty("path").GetString()!).ToArray());
        var deep = await fixture.RunJsonAsync<JsonElement>("store", "ls", "corpus@main:train", "--recursive");
        Assert.Equal(2, deep.GetProperty("objects").GetArrayLength());

        var back = Path.Combine(_work, "back");
        await Ok("store", "get", "corpus@main", back);
        AssertSameTree(source, back);

        var single = Path.Combine(_work, "single");
        await Ok("store", "get", "corpus@main:train/part-1.bin", single);
        Assert.Equal(File.ReadAllBytes(Path.Combine(source, "train/part-1.bin")), File.ReadAllBytes(Path.Combine(single, "part-1.bin")));

        // Second version: one file changed, one added.
        Write(source, "train/part-1.bin", Random(300_000, 3));
        Write(source, "train/part-2.bin", Random(1000, 4));
        var second = await fixture.RunJsonAsync<JsonElement>("store", "put", "corpus", source, "-m", "second version");
        var secondCommit = second.GetProperty("commit").GetString()!;
        Assert.NotEqual(firstCommit, secondCommit);

        var log = await fixture.RunJsonAsync<List<CommitDto>>("store", "log", "corpus@main");
        Assert.Equal(["second version", "first version"], log.Take(2).Select(c => c.Message).ToArray());

        var diff = await fixture.RunJsonAsync<StoreDiffDto>("store", "diff", "corpus", firstCommit, "main");
        Assert.Equal(["train/part-1.bin:changed", "train/part-2.bin:added"], diff.Entries.Select(e => $"{e.Path}:{e.Kind}").ToArray());

        await Ok("store", "tag", "create", "corpus", "v1", "--at", firstCommit);
        await Ok("store", "branch", "create", "corpus", "experiment", "--from", "v1");
        var branches = await fixture.RunJsonAsync<List<RefDto>>("store", "branch", "ls", "corpus");
        Assert.Contains(branches, b => b.Name == "experiment" && b.CommitId == firstCommit);
        var tags = await fixture.RunJsonAsync<List<RefDto>>("store", "tag", "ls", "corpus");
        Assert.Equal(["v1"], tags.Select(t => t.Name).ToArray());

        var old = Path.Combine(_work, "old");
        await Ok("store", "checkout", "corpus@v1", old);
        Assert.Equal(File.ReadAllBytes(Path.Combine(back, "train/part-1.bin")), File.ReadAllBytes(Path.Combine(old, "train/part-1.bin")));
        Assert.False(File.Exists(Path.Combine(old, "train/part-2.bin")));

        await Ok("store", "branch", "delete", "corpus", "experiment");
        await Ok("store", "tag", "delete", "corpus", "v1");

        var du = await fixture.RunJsonAsync<JsonElement>("store", "du", "corpus");
        var logical = du.GetProperty("logicalBytes").GetInt64();
        Assert.Equal(Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length), logical);
        Assert.True(du.GetProperty("storedBytes").GetInt64() > 0);

        var verify = await fixture.RunJsonAsync<VerifyReportDto>("store", "verify");
        Assert.True(verify.Clean, JsonSerializer.Serialize(verify));

        var gc = await fixture.RunJsonAsync<GcReportDto>("store", "gc", "--grace", "0s");
        Assert.True(gc.LiveChunks > 0);

        // Everything still reads after gc.
        var afterGc = Path.Combine(_work, "after-gc");
        await Ok("store", "get", "corpus@main", afterGc);
        AssertSameTree(source, afterGc);

        var repos = await fixture.RunJsonAsync<List<RepositoryDto>>("store", "list");
        Assert.Contains(repos, r => r.Name == "corpus" && r.Kind == "dataset");
    }

    [Fact]
    public async Task BadInput_ClearErrorAndExitCode()
    {
        await Ok("store", "create", "checked", "--kind", "model");
        var file = Path.Combine(_work, "x.bin");
        File.WriteAllBytes(file, [1, 2, 3]);

        var unknown = await fixture.RunAsync("store", "ls", "no-such-repo@main");
        Assert.True(unknown.ExitCode == 3, unknown.ToString());
        Assert.Contains("no-such-repo", unknown.Stderr, StringComparison.Ordinal);

        var badRef = await fixture.RunAsync("store", "log", "checked@nope");
        Assert.True(badRef.ExitCode == 3, badRef.ToString());
        Assert.Contains("nope", badRef.Stderr, StringComparison.Ordinal);

        var dots = await fixture.RunAsync("store", "put", "checked@main", file, "--to", "a/../b.bin");
        Assert.True(dots.ExitCode == 6, dots.ToString());
        Assert.Contains("..", dots.Stderr, StringComparison.Ordinal);

        var kind = await fixture.RunAsync("store", "create", "other", "--kind", "video");
        Assert.True(kind.ExitCode == 2, kind.ToString());

        var missingLocal = await fixture.RunAsync("store", "put", "checked", Path.Combine(_work, "absent"));
        Assert.True(missingLocal.ExitCode == 2, missingLocal.ToString());
        Assert.Contains("neither a file nor a directory", missingLocal.Stderr, StringComparison.Ordinal);

        // Nothing of the above changed the repository.
        var log = await fixture.RunJsonAsync<List<CommitDto>>("store", "log", "checked");
        Assert.Single(log);
    }

    private async Task Ok(params string[] args)
    {
        var result = await fixture.RunAsync(args);
        Assert.True(result.ExitCode == 0, $"stratum {string.Join(' ', args)}: {result}");
    }

    private static void Write(string root, string relative, byte[] bytes)
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }

    private static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static void AssertSameTree(string expected, string actual)
    {
        static string[] Files(string root) => Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal).ToArray();

        Assert.Equal(Files(expected), Files(actual));
        foreach (var file in Files(expected))
        {
            Assert.True(File.ReadAllBytes(Path.Combine(expected, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(actual, file))), $"{file} differs");
        }
    }
}
