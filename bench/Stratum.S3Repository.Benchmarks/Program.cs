using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Stratum.Core.Access;
using Stratum.Persistence;
using Stratum.Server.Store.S3;
using Stratum.Storage;
using Stratum.Storage.Backends;
using Stratum.Storage.Crypto;
using Stratum.Storage.Repositories;

// S3 endpoint throughput over repositories (issue 4, "Measure"): PUT and GET of 1 MB objects (64 per round)
// and one large object through AWSSDK.S3 against S3Hosting on loopback, writing to branch main of a
// repository (content-defined chunking, SHA-256, zstd level 3, AES-256-GCM, durable staging), against
// /bin/cp of the same files on the same disk in the same run. Keys are real: sealed in SQLite.
// Median of --repeats rounds after one warm-up round.
// Usage: dotnet run -c Release --project bench/Stratum.S3Repository.Benchmarks -- [--repeats N] [--large-mb N]
var repeats = Option("--repeats", 3);
var largeMb = Option("--large-mb", 256);
const int SmallCount = 64;
const int Mb = 1_000_000;
var work = Directory.CreateTempSubdirectory("stratum-s3repo-bench-").FullName;
try
{
    await using var metadata = await SqliteMetadataStore.OpenAsync(Path.Combine(work, "stratum.db"));
    await metadata.Access.UpsertUserAsync(new User { Name = "bench", IsAdmin = true, CreatedAt = DateTimeOffset.UtcNow }, null);
    await using var chunks = await ChunkStore.OpenAsync(new LocalDirectoryBackend(Path.Combine(work, "store")), new KeyRing(StoreKey.Generate()));
    var repositories = new RepositoryStore(chunks);
    (await repositories.CreateRepositoryAsync("bench", RepositoryKind.Dataset, "bench")).Unwrap();
    await using var host = await S3Hosting.StartAsync(repositories, metadata, work, IPAddress.Loopback, 0);
    var key = await S3AccessKeys.CreateAsync(metadata, S3SecretBox.ForDataDirectory(work), "bench", DateTimeOffset.UtcNow, null, default);
    using var client = new AmazonS3Client(new BasicAWSCredentials(key.AccessKeyId, key.SecretAccessKey), new AmazonS3Config
    {
        ServiceURL = host.BaseAddress.ToString().TrimEnd('/'), ForcePathStyle = true, AuthenticationRegion = "us-east-1",
    });

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
            // Fresh random blocks: nothing deduplicates or compresses, the honest worst case.
            await large.WriteAsync(RandomNumberGenerator.GetBytes(Mb));
        }
    }

var rounds = new List<Dictionary<string, double>>();
    for (var round = -1; round < repeats; round++)
    {
        var m = new Dictionary<string, double>
        {
            ["cp1MB"] = Rate(SmallCount * (long)Mb, () => Cp([.. smallFiles, Directory.CreateDirectory(Path.Combine(work, $"cp-small-{round}")).FullName])),
            ["put1MB"] = Rate(SmallCount * (long)Mb, () => PutAllAsync(client, smallFiles, round)),
            ["get1MB"] = Rate(SmallCount * (long)Mb, () => GetAllAsync(client, smallFiles.Length, round)),
            ["cpLarge"] = Rate(largeMb * (long)Mb, () => Cp(largeFile, Path.Combine(work, $"cp-large-{round}"))),
            ["putLarge"] = Rate(largeMb * (long)Mb, async () =>
            {
                await using var stream = File.OpenRead(largeFile);
                await client.PutObjectAsync(new PutObjectRequest { BucketName = "bench", Key = $"main/large-{round}", InputStream = stream });
            }),
            ["getLarge"] = Rate(largeMb * (long)Mb, async () =>
            {
                using var response = await client.GetObjectAsync("bench", $"main/large-{round}");
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
        benchmark = "s3-repository-endpoint-throughput",
        description = $"AWSSDK.S3 PUT/GET through the S3 endpoint over a repository (branch main: chunked, zstd 3, AES-256-GCM, durable staging; random data) vs /bin/cp of the same files; MB/s (10^6 bytes), median of {repeats}",
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
    await File.WriteAllTextAsync(Path.Combine(resultsDir, "s3-repository-throughput.json"), json + "\n");
    Console.WriteLine(json);
}
finally
{
    Directory.Delete(work, recursive: true);
}

static async Task PutAllAsync(AmazonS3Client client, string[] files, int round)
{
    for (var i = 0; i < files.Length; i++)
    {
        await using var stream = File.OpenRead(files[i]);
        await client.PutObjectAsync(new PutObjectRequest { BucketName = "bench", Key = $"main/small/{round}/{i}", InputStream = stream });
    }
}

static async Task GetAllAsync(AmazonS3Client client, int count, int round)
{
    var buffer = new MemoryStream();
    for (var i = 0; i < count; i++)
    {
        using var response = await client.GetObjectAsync("bench", $"main/small/{round}/{i}");
        buffer.SetLength(0);
        await response.ResponseStream.CopyToAsync(buffer);
    }
}

static double Rate(long bytes, Func<Task> action)
{
    var watch = Stopwatch.StartNew();
    action().GetAwaiter().GetResult();
    return bytes / 1e6 / watch.Elapsed.TotalSeconds;
}

static Task Cp(params string[] arguments)
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

int Option(string name, int fallback) =>
    Array.IndexOf(args, name) is var at and >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;

static string RepositoryRoot()
{
    var dir = AppContext.BaseDirectory;
    while (dir is not null && !File.Exists(Path.Combine(dir, "Stratum.slnx")))
    {
        dir = Path.GetDirectoryName(dir);
    }

    return dir ?? Directory.GetCurrentDirectory();
}
