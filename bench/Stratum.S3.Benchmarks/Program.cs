using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Stratum.S3;
using Stratum.S3.Auth;
using Stratum.S3.Backend;

// S3 endpoint throughput (issue 4, "Measure"): PUT and GET of 1 MB objects (64 per round) and one 256 MB
// object through AWSSDK.S3 against the endpoint on loopback with FileSystemS3Backend, against /bin/cp of the
// same files on the same disk in the same run. The endpoint fsyncs every object and cp does not, so cp is
// the ceiling. Median of --repeats rounds after one warm-up round.
// Usage: dotnet run -c Release --project bench/Stratum.S3.Benchmarks -- [--repeats N] [--large-mb N]
var repeats = Option("--repeats", 3);
var largeMb = Option("--large-mb", 256);
const int SmallCount = 64;
const int Mb = 1_000_000;
var work = Directory.CreateTempSubdirectory("stratum-s3-bench-").FullName;
try
{
    var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(30));
    await using var server = await S3Server.StartAsync(
        new S3ServerOptions { Port = 0 },
        new FileSystemS3Backend(Path.Combine(work, "store"), TimeProvider.System),
        new InMemoryS3CredentialStore(new S3Credential("BENCH", secret, "bench")));
    using var client = new AmazonS3Client(new BasicAWSCredentials("BENCH", secret), new AmazonS3Config
    {
        ServiceURL = server.BaseAddress.ToString().TrimEnd('/'), ForcePathStyle = true, AuthenticationRegion = "us-east-1",
    });
    await client.PutBucketAsync("bench");

    var smallDir = Directory.CreateDirectory(Path.Combine(work, "small")).FullName;
    var smallFiles = Enumerable.Range(0, SmallCount).Select(i => Path.Combine(smallDir, $"f{i:D3}")).ToArray();
    foreach (var file in smallFiles)
    {
        await File.WriteAllBytesAsync(file, RandomNumberGenerator.GetBytes(Mb));
    }

    var largeFile = Path.Combine(work, "large.bin");
    await using (var large = File.Create(largeFile))
    {
        var block = RandomNumberGenerator.GetBytes(Mb);
        for (var i = 0; i < largeMb; i++)
        {
            await large.WriteAsync(block);
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
                await client.PutObjectAsync(new PutObjectRequest { BucketName = "bench", Key = $"large-{round}", InputStream = stream });
            }),
            ["getLarge"] = Rate(largeMb * (long)Mb, async () =>
            {
                using var response = await client.GetObjectAsync("bench", $"large-{round}");
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
        benchmark = "s3-endpoint-throughput",
        description = $"AWSSDK.S3 PUT/GET through the S3 endpoint (FileSystemS3Backend, fsync per object) vs /bin/cp of the same files; MB/s (10^6 bytes), median of {repeats}",
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
    await File.WriteAllTextAsync(Path.Combine(resultsDir, "s3-throughput.json"), json + "\n");
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
        await client.PutObjectAsync(new PutObjectRequest { BucketName = "bench", Key = $"small/{round}/{i}", InputStream = stream });
    }
}

static async Task GetAllAsync(AmazonS3Client client, int count, int round)
{
    var buffer = new MemoryStream();
    for (var i = 0; i < count; i++)
    {
        using var response = await client.GetObjectAsync("bench", $"small/{round}/{i}");
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
