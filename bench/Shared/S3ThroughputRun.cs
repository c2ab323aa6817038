using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;

namespace Stratum.Benchmarks.Shared;

/// <summary>
/// The S3 throughput measurement both S3 benchmarks share (compiled into each; they differ only in what serves
/// S3): PUT and GET of 64 objects of 1 MB and one large object through AWSSDK.S3, against /bin/cp of the same
/// files on the same disk in the same run. Fresh random bytes throughout: nothing deduplicates or compresses,
/// the honest worst case. One warm-up round, then the median of <c>repeats</c> rounds, written to bench/results.
/// </summary>
internal static class S3ThroughputRun
{
    private const int SmallCount = 64;
    private const int Mb = 1_000_000;

    public static int Option(string[] args, string name, int fallback) =>
        Array.IndexOf(args, name) is var at and >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;

    /// <summary>
    /// Measures through <paramref name="client"/> into <paramref name="bucket"/>, every key after
    /// <paramref name="keyPrefix"/> ("" for a plain bucket, "main/" for a repository's branch), with scratch files in
    /// <paramref name="work"/>; writes bench/results/<paramref name="resultFile"/> named <paramref name="benchmark"/>
    /// and described by <paramref name="description"/>, over <paramref name="repeats"/> rounds and a large object of
    /// <paramref name="largeMb"/> MB.
    /// </summary>
    public static async Task RunAsync(AmazonS3Client client, string bucket, string keyPrefix, string work, int repeats, int largeMb,
        string benchmark, string description, string resultFile)
    {
        var smallDir = Directory.CreateDirectory(Path.Combine(work, "small")).FullName;
        var smallFiles = Enumerable.Range(0, SmallCount).Select(i => Path.Combine(smallDir, $"f{i:D3}")).ToArray();
        foreach (var file in smallFiles)
        {
            await File.WriteAllBytesAsync(file, RandomNumberGenerator.GetBytes(Mb));
        }

        var largeFile = Path.Combine(work, "large.bin");
        await using (var large = File.Create(largeFile))
        {
            for (var i = 0; i < largeMb; i++)
            {
                await large.WriteAsync(RandomNumberGenerator.GetBytes(Mb));
            }
        }

        var rounds = new List<Dictionary<string, double>>();
        for (var round = -1; round < repeats; round++)
        {
            var m = new Dictionary<string, double>
            {
                ["cp1MB"] = Rate(SmallCount * (long)Mb, () => Cp([.. smallFiles, Directory.CreateDirectory(Path.Combine(work, $"cp-small-{round}")).FullName])),
                ["put1MB"] = Rate(SmallCount * (long)Mb, async () =>
                {
                    for (var i = 0; i < smallFiles.Length; i++)
                    {
                        await using var stream = File.OpenRead(smallFiles[i]);
                        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = $"{keyPrefix}small/{round}/{i}", InputStream = stream });
                    }
                }),
                ["get1MB"] = Rate(SmallCount * (long)Mb, async () =>
                {
                    var buffer = new MemoryStream();
                    for (var i = 0; i < smallFiles.Length; i++)
                    {
                        using var response = await client.GetObjectAsync(bucket, $"{keyPrefix}small/{round}/{i}");
                        buffer.SetLength(0);
                        await response.ResponseStream.CopyToAsync(buffer);
                    }
                }),
                ["cpLarge"] = Rate(largeMb * (long)Mb, () => Cp(largeFile, Path.Combine(work, $"cp-large-{round}"))),
                ["putLarge"] = Rate(largeMb * (long)Mb, async () =>
                {
                    await using var stream = File.OpenRead(largeFile);
                    await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = $"{keyPrefix}large-{round}", InputStream = stream });
                }),
                ["getLarge"] = Rate(largeMb * (long)Mb, async () =>
                {
                    using var response = await client.GetObjectAsync(bucket, $"{keyPrefix}large-{round}");
                    await using var output = File.Create(Path.Combine(work, $"get-large-{round}"));
                    await response.ResponseStream.CopyToAsync(output);
                }),
            };
            File.Delete(Path.Combine(work, $"cp-large-{round}"));
            File.Delete(Path.Combine(work, $"get-large-{round}"));
            Console.WriteLine((round < 0 ? "warm-up  " : $"round {round}  ") + string.Join("  ", m.Select(p => $"{p.Key} {p.Value:F0} MB/s")));
            if (round >= 0)
            {
                rounds.Add(m);
            }
        }

        double Median(string key) => Math.Round(rounds.Select(r => r[key]).Order().ElementAt(rounds.Count / 2));
        var result = new
        {
            benchmark,
            description = $"{description}; MB/s (10^6 bytes), median of {repeats}",
            machine = $"{Environment.ProcessorCount} cores, .NET {Environment.Version}",
            objects1MB = SmallCount,
            largeMB = largeMb,
            megabytesPerSecond = new Dictionary<string, double>
            {
                ["cp1MB"] = Median("cp1MB"), ["put1MB"] = Median("put1MB"), ["get1MB"] = Median("get1MB"),
                ["cpLarge"] = Median("cpLarge"), ["putLarge"] = Median("putLarge"), ["getLarge"] = Median("getLarge"),
            },
            ratioToCp = new Dictionary<string, double>
            {
                ["put1MB"] = Math.Round(Median("put1MB") / Median("cp1MB"), 2), ["get1MB"] = Math.Round(Median("get1MB") / Median("cp1MB"), 2),
                ["putLarge"] = Math.Round(Median("putLarge") / Median("cpLarge"), 2), ["getLarge"] = Math.Round(Median("getLarge") / Median("cpLarge"), 2),
            },
            rounds,
        };
        var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
        var resultsDir = Path.Combine(RepositoryRoot(), "bench", "results");
        Directory.CreateDirectory(resultsDir);
        await File.WriteAllTextAsync(Path.Combine(resultsDir, resultFile), json + "\n");
        Console.WriteLine(json);
    }

    private static double Rate(long bytes, Func<Task> action)
    {
        var watch = Stopwatch.StartNew();
        action().GetAwaiter().GetResult();
        return bytes / 1e6 / watch.Elapsed.TotalSeconds;
    }

    private static Task Cp(params string[] arguments)
    {
        var info = new ProcessStartInfo("/bin/cp") { UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        process.WaitForExit();
        return process.ExitCode == 0 ? Task.CompletedTask : throw new InvalidOperationException($"cp exited {process.ExitCode}");
    }

    private static string RepositoryRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Stratum.slnx")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? Directory.GetCurrentDirectory();
    }
}
