using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Stratum.Client;
using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests;

/// <summary>A [Fact] that mounts a small tmpfs: skipped, with the reason, where this process cannot mount (not root, no mount(8)).</summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    public TmpfsFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            Skip = "mounting a small tmpfs to fill the disk needs root on Linux; run the tests as root (CI does) to include the full-disk case";
        }
        else if (!File.Exists("/bin/mount") && !File.Exists("/usr/bin/mount"))
        {
            Skip = "mount(8) is not installed (apt-get install mount)";
        }
    }
}

/// <summary>
/// Faults of the artifact store through the real program (issue 4, "Bad input and faults"): kill -9 of
/// <c>stratum up</c> during a large put and during a commit, then a restart; and a full disk under the store.
/// </summary>
public sealed class StoreFaultTests : IDisposable
{
    private const int Mebibyte = 1024 * 1024;
    private readonly List<string> _directories = [];

    [Fact]
    public async Task KillNine_DuringLargePut_NoPartialVersion_VerifyClean_AndThePutSucceedsAgain()
    {
        var data = Temporary();
        Directory.CreateDirectory(data);
        string before;
        var server = await ServerProcess.StartAsync(data);
        try
        {
            using var client = server.CreateClient();
            await client.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "faults", Kind = "model" });
            await client.PutObjectAsync("faults", "main", "notes.txt", new MemoryStream("first version"u8.ToArray()));
            before = (await client.CommitAsync("faults", "main", new CommitRequestDto { Message = "before" })).Id;

            // 256 MiB streamed; the server is killed once 64 MiB have been sent, mid-body.
            var killed = new TaskCompletionSource();
            var body = new GeneratedStream(256L * Mebibyte, seed: 7, atBytes: 64L * Mebibyte, () => _ = Task.Run(async () => { await server.KillAsync(); killed.TrySetResult(); }));
            await Assert.ThrowsAnyAsync<Exception>(() => client.PutObjectAsync("faults", "main", "model.bin", body));
            await killed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            await server.DisposeAsync();
        }

        await using var restarted = await ServerProcess.StartAsync(data);
        using var after = restarted.CreateClient();
        await AssertOnlyAsync(after, before, ["notes.txt"]);
        await AssertCleanAsync(after);

        // The same put again, whole this time, becomes a version.
        var expected = new GeneratedStream(256L * Mebibyte, seed: 7).Md5();
        var put = await after.PutObjectAsync("faults", "main", "model.bin", new GeneratedStream(256L * Mebibyte, seed: 7));
        Assert.Equal(256L * Mebibyte, put.Size); // large bodies carry a multipart-style ETag; the bytes are compared below
        var commit = await after.CommitAsync("faults", "main", new CommitRequestDto { Message = "model" });
        Assert.Equal([commit.Id, before], (await after.LogAsync("faults", "main")).Take(2).Select(c => c.Id));
        await using (var read = await after.OpenObjectAsync("faults", commit.Id, "model.bin"))
        {
            Assert.Equal(expected, Convert.ToHexStringLower(await MD5.HashDataAsync(read)));
        }

        await AssertCleanAsync(after);
    }

    [Fact]
    public async Task KillNine_DuringCommit_TheVersionIsWholeOrAbsent_VerifyClean()
    {
        var data = Temporary();
        Directory.CreateDirectory(data);
        string before;
        var staged = Enumerable.Range(0, 300).ToDictionary(i => $"shard/{i:D4}.bin", i => RandomNumberGenerator.GetBytes(4096 + i));
        var server = await ServerProcess.StartAsync(data);
        try
        {
            using var client = server.CreateClient();
            await client.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "shards", Kind = "dataset" });
            await client.PutObjectAsync("shards", "main", "README", new MemoryStream("v0"u8.ToArray()));
            before = (await client.CommitAsync("shards", "main", new CommitRequestDto { Message = "before" })).Id;
            await Parallel.ForEachAsync(staged, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (file, token) =>
            {
                using var own = server.CreateClient();
                await own.PutObjectAsync("shards", "main", file.Key, new MemoryStream(file.Value), cancellationToken: token);
            });

            // The commit is sent and the server killed while it works on it (or just after: both must hold up).
            var commit = client.CommitAsync("shards", "main", new CommitRequestDto { Message = "300 shards" });
            await Task.Delay(15);
            await server.KillAsync();
            try
            {
                await commit.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception e) when (e is StratumUnreachableException or StratumApiException or HttpRequestException or IOException or TaskCanceledException)
            {
                // Not acknowledged; the restart decides which of the two outcomes it was.
            }
        }
        finally
        {
            await server.DisposeAsync();
        }

        await using var restarted = await ServerProcess.StartAsync(data);
        using var after = restarted.CreateClient();
        var head = (await after.LogAsync("shards", "main", limit: 1))[0];
        if (head.Id == before)
        {
            // Not committed: the staged files wait on the branch, and committing them now works.
            head = await after.CommitAsync("shards", "main", new CommitRequestDto { Message = "300 shards, again" });
        }

        Assert.Equal(before, head.Parents[0]);
        Assert.Equal(301, head.Files);
        foreach (var (path, bytes) in staged.Take(20))
        {
            await using var read = await after.OpenObjectAsync("shards", head.Id, path);
            using var copy = new MemoryStream();
            await read.CopyToAsync(copy);
            Assert.Equal(bytes, copy.ToArray());
        }

        await AssertCleanAsync(after);
    }

    [TmpfsFact]
    public async Task FullDisk_PutFailsWithAClearError_EarlierCommitsStayWhole()
    {
        var data = Temporary();
        var mount = Temporary();
        Directory.CreateDirectory(data);
        Directory.CreateDirectory(mount);
        await RunAsync("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mount);
        try
        {
            // The store lives on the small disk; the metadata database does not, as with a separate data volume.
            File.CreateSymbolicLink(Path.Combine(data, "store"), mount);
            var server = await ServerProcess.StartAsync(data);
            try
            {
                using var client = server.CreateClient();
                await client.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "tight", Kind = "dataset" });
                var small = new GeneratedStream(2L * Mebibyte, seed: 1);
                var smallMd5 = small.Md5();
                await client.PutObjectAsync("tight", "main", "small.bin", new GeneratedStream(2L * Mebibyte, seed: 1));
                var before = (await client.CommitAsync("tight", "main", new CommitRequestDto { Message = "fits" })).Id;

                var full = await Assert.ThrowsAsync<StratumApiException>(() => client.PutObjectAsync("tight", "main", "big.bin", new GeneratedStream(64L * Mebibyte, seed: 2)));
                Assert.True(full.StatusCode == HttpStatusCode.InsufficientStorage, $"{full.StatusCode}: {full.Message}\n{server.Output}");
                Assert.Contains("out of space", full.Message);
                Assert.Contains("earlier commits are intact", full.Message);

                await AssertOnlyAsync(client, before, ["small.bin"]);
                await using (var read = await client.OpenObjectAsync("tight", before, "small.bin"))
                {
                    Assert.Equal(smallMd5, Convert.ToHexStringLower(await MD5.HashDataAsync(read)));
                }

                await AssertCleanAsync(client);
            }
            finally
            {
                await server.DisposeAsync();
            }
        }
        finally
        {
            await RunAsync("umount", mount);
        }
    }

    public void Dispose()
    {
        foreach (var directory in _directories.Where(Directory.Exists))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The branch's head is <paramref name="head"/> and it shows exactly <paramref name="paths"/>, staged changes included.</summary>
    private static async Task AssertOnlyAsync(StratumClient client, string head, string[] paths)
    {
        var repo = (await client.ListRepositoriesAsync()).Single().Name;
        Assert.Equal(head, (await client.LogAsync(repo, "main", limit: 1))[0].Id);
        var listed = new List<string>();
        await foreach (var page in client.ListAllObjectsAsync(repo, "main"))
        {
            listed.AddRange(page.Objects.Select(o => o.Path));
        }

        Assert.Equal(paths, listed);
    }

    private static async Task AssertCleanAsync(StratumClient client)
    {
        var verify = await client.VerifyStoreAsync();
        Assert.True(verify.Clean, string.Join("; ", verify.DamagedFiles.Select(f => $"{f.Repository}@{f.Commit}:{f.Path}: {f.Reason}").Concat(verify.DamagedMetadata).Concat(verify.MissingPacks)));
    }

    private static async Task RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        arguments.ToList().ForEach(start.ArgumentList.Add);
        using var process = Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)} failed: {error}");
    }

    private string Temporary()
    {
        var path = Path.Combine(Path.GetTempPath(), "stratum-storefault-" + Guid.NewGuid().ToString("N")[..10]);
        _directories.Add(path);
        return path;
    }

    /// <summary>
    /// <paramref name="length"/> incompressible bytes from <paramref name="seed"/>, the same however the reads are
    /// split, never held whole, not seekable (so the upload is streamed); <paramref name="onReached"/> runs once
    /// when <paramref name="atBytes"/> have been read. Each MiB differs from the others, so nothing dedups.
    /// </summary>
    private sealed class GeneratedStream(long length, int seed, long atBytes = long.MaxValue, Action? onReached = null) : Stream
    {
        private readonly byte[] _pattern = Pattern(seed);
        private long _position;
        private bool _reached;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public string Md5()
        {
            using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            var buffer = new byte[Mebibyte];
            int read;
            while ((read = Read(buffer, 0, buffer.Length)) > 0)
            {
                md5.AppendData(buffer, 0, read);
            }

            return Convert.ToHexStringLower(md5.GetHashAndReset());
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            for (var i = 0; i < n; i++)
            {
                var p = _position + i;
                buffer[offset + i] = (byte)(_pattern[p % Mebibyte] ^ (byte)((p / Mebibyte) * 31));
            }

            _position += n;
            if (!_reached && _position >= atBytes)
            {
                _reached = true;
                onReached?.Invoke();
            }

            return n;
        }

        public override void Flush()
        {
        }

        private static byte[] Pattern(int seed)
        {
            var pattern = new byte[Mebibyte];
            new Random(seed).NextBytes(pattern);
            return pattern;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
