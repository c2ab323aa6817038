using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Stratum.Benchmarks.Shared;
using Stratum.Core.Access;
using Stratum.Persistence;
using Stratum.Server.Store.S3;
using Stratum.Storage;
using Stratum.Storage.Backends;
using Stratum.Storage.Crypto;
using Stratum.Storage.Repositories;

// S3 endpoint throughput over repositories (issue 4, "Measure"): PUT and GET of 1 MB objects (64 per round)
// and one large object through AWSSDK.S3 against S3Hosting on loopback, writing to branch main of a
// repository (content-defined chunking, SHA-256, zstd, AES-256-GCM, durable staging), against
// /bin/cp of the same files on the same disk in the same run. Keys are real: sealed in SQLite.
// The measurement itself is bench/Shared/S3ThroughputRun.cs, shared with bench/Stratum.S3.Benchmarks.
// Usage: dotnet run -c Release --project bench/Stratum.S3Repository.Benchmarks -- [--repeats N] [--large-mb N]
var repeats = S3ThroughputRun.Option(args, "--repeats", 3);
var largeMb = S3ThroughputRun.Option(args, "--large-mb", 256);
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

    await S3ThroughputRun.RunAsync(client, "bench", "main/", work, repeats, largeMb,
        "s3-repository-endpoint-throughput",
        "AWSSDK.S3 PUT/GET through the S3 endpoint over a repository (branch main: chunked, zstd, AES-256-GCM, durable staging; random data) vs /bin/cp of the same files",
        "s3-repository-throughput.json");
}
finally
{
    Directory.Delete(work, recursive: true);
}
