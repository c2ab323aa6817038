using System.Diagnostics;
using Amazon.Runtime;
using Amazon.S3;

namespace Stratum.Storage.S3.Tests;

/// <summary>
/// A real S3-compatible server for the tests: s3rver 3.7.1 (npm, a Node.js implementation of the S3 REST
/// API; it checks access key ids and Content-MD5 but does not verify SigV4 signatures), started once per
/// test run on a free 127.0.0.1 port (it binds port 0 and prints the one it got) over a temporary
/// directory. It stops itself, removing the directory, once the test process is gone (a watcher preloaded
/// into its Node process checks our PID; no signal is ever sent to a process group). Found on PATH or at
/// <c>STRATUM_TEST_S3RVER</c>. It is not our own S3 endpoint (src/Stratum.S3), so these tests check the
/// backend against an independent implementation.
/// </summary>
internal static class S3rverServer
{
    public const string BinaryVariable = "STRATUM_TEST_S3RVER";

    /// <summary>s3rver's fixed credentials.</summary>
    public const string AccessKey = "S3RVER";

    public const string SecretKey = "S3RVER";

    /// <summary>
    /// s3rver writes an object's data and its metadata to their final files in place, so two PUTs of one key
    /// at once can leave one's bytes with the other's MD5; S3 (and the backend, which only issues one PUT or
    /// one CompleteMultipartUpload per put) make a key's new version visible whole.
    /// </summary>
    public const string NotAtomic = "s3rver 3.7.1 writes objects in place, so concurrent PUTs of one key can interleave on its disk; S3 replaces a key atomically";

    private const string DirectoryPrefix = "stratum-s3rver-";

    private static readonly Lazy<Task<string>> Endpoint = new(StartAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Why the S3 tests cannot run here, or null when they can (or must: under CI=true they fail instead).</summary>
    public static string? SkipReason { get; } = FindSkipReason();

    private static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static Task<string> EndpointAsync() => Endpoint.Value;

    /// <summary>A new, empty bucket.</summary>
    public static async Task<string> CreateBucketAsync()
    {
        var bucket = "t" + Guid.NewGuid().ToString("N")[..24];
        using var client = await ClientAsync().ConfigureAwait(false);
        await client.PutBucketAsync(bucket).ConfigureAwait(false);
        return bucket;
    }

    /// <summary>A plain SDK client for looking behind the backend's back.</summary>
    public static async Task<AmazonS3Client> ClientAsync() =>
        new(new BasicAWSCredentials(AccessKey, SecretKey), new AmazonS3Config
        {
            ServiceURL = await EndpointAsync().ConfigureAwait(false),
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });

    /// <summary>Backend options for <paramref name="bucket"/> on the test server (credentials given, not from the environment).</summary>
    public static async Task<S3BlobBackendOptions> OptionsAsync(string bucket, string keyPrefix = "") => new()
    {
        ServiceUrl = await EndpointAsync().ConfigureAwait(false),
        Region = "us-east-1",
        Bucket = bucket,
        KeyPrefix = keyPrefix,
        AccessKeyId = AccessKey,
        SecretAccessKey = SecretKey,
        MaxErrorRetry = 0,
    };

    private const string WatchParent = """
        const fs = require('fs');
        const parent = Number(process.env.STRATUM_S3RVER_PARENT);
        const alive = () => { try { process.kill(parent, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
        setInterval(() => {
          if (!alive()) {
            fs.rmSync(process.env.STRATUM_S3RVER_DIRECTORY, { recursive: true, force: true });
            process.exit(0);
          }
        }, 500).unref();
        """;

    private static string? FindBinary()
    {
        if (Environment.GetEnvironmentVariable(BinaryVariable) is { Length: > 0 } named)
        {
            return File.Exists(named) ? named : null;
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "s3rver"))
            .FirstOrDefault(File.Exists);
    }

    private static string? FindSkipReason()
    {
        if (InCi)
        {
            return null;
        }

        if (FindBinary() is null)
        {
            return $"s3rver is not installed (apt-get install nodejs npm && npm install -g s3rver@3.7.1), and {BinaryVariable} names none.";
        }

        return OnPath("node") ? null : "s3rver is installed but Node.js is not on PATH (apt-get install nodejs).";
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, program)));

    private static async Task<string> StartAsync()
    {
        var binary = FindBinary()
            ?? throw new InvalidOperationException(
                $"s3rver is required here (CI=true) but not installed: apt-get install nodejs npm && npm install -g s3rver@3.7.1, or set {BinaryVariable}.");
        RemoveLeftovers();
        var directory = Directory.CreateTempSubdirectory(DirectoryPrefix).FullName;
        await File.WriteAllTextAsync(Path.Combine(directory, "owner.pid"), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);

        // The test host is often killed rather than let exit, and work at ProcessExit is cut short, so the
        // server is not stopped from here: a watcher preloaded into s3rver's Node process removes the
        // directory and ends the server within half a second of this process being gone.
        var watcher = Path.Combine(directory, "watch-parent.js");
        await File.WriteAllTextAsync(watcher, WatchParent).ConfigureAwait(false);
        var data = Path.Combine(directory, "data");
        Directory.CreateDirectory(data);
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            Environment =
            {
                // s3rver's list continuation tokens use DES, which OpenSSL 3 (Node 17 and later) only has in its legacy provider.
                ["NODE_OPTIONS"] = "--openssl-legacy-provider",
                ["STRATUM_S3RVER_PARENT"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["STRATUM_S3RVER_DIRECTORY"] = directory,
            },
        };
        foreach (var argument in new[] { "--require", watcher, binary, "-d", data, "-a", "127.0.0.1", "-p", "0", "--silent" })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {binary}");

        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void OnLine(string? line)
        {
            if (line is null)
            {
                listening.TrySetException(new InvalidOperationException($"s3rver exited before listening: {string.Join(" | ", output)}"));
                return;
            }

            output.Enqueue(line);
            const string Marker = "listening on ";
            var at = line.IndexOf(Marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                listening.TrySetResult("http://" + line[(at + Marker.Length)..].Trim());
            }
        }

        // Both pipes are drained for the server's whole life so it never blocks on a full one.
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { output.Enqueue(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            return await listening.Task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Stop(process, directory);
            throw new InvalidOperationException($"s3rver did not report listening within 30 s: {string.Join(" | ", output)}");
        }
    }

    /// <summary>Directories of earlier runs whose test process is gone (a server killed before its watcher acted).</summary>
    private static void RemoveLeftovers()
    {
        foreach (var directory in Directory.GetDirectories(Path.GetTempPath(), DirectoryPrefix + "*"))
        {
            var owner = Path.Combine(directory, "owner.pid");
            var alive = File.Exists(owner) && int.TryParse(File.ReadAllText(owner), out var pid) && Directory.Exists($"/proc/{pid}");
            if (!alive && Directory.GetLastWriteTimeUtc(directory) < DateTime.UtcNow.AddMinutes(-1))
            {
                try
                {
                    Directory.Delete(directory, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Another run got there first, or it is another user's.
                }
            }
        }
    }

    private static void Stop(Process process, string directory)
    {
        try
        {
            // Process.Kill signals the PID itself (and its children), never a process group.
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary directory is harmless.
        }
    }
}
