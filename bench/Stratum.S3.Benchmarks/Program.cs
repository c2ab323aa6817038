using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Stratum.Benchmarks.Shared;
using Stratum.S3;
using Stratum.S3.Auth;
using Stratum.S3.Backend;

// S3 endpoint throughput (issue 4, "Measure"): PUT and GET of 1 MB objects (64 per round) and one 256 MB
// object through AWSSDK.S3 against the endpoint on loopback with FileSystemS3Backend, against /bin/cp of the
// same files on the same disk in the same run (bench/Shared/S3ThroughputRun.cs). The endpoint fsyncs every
// object and cp does not, so cp is the ceiling.
// Usage: dotnet run -c Release --project bench/Stratum.S3.Benchmarks -- [--repeats N] [--large-mb N]
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

    await S3ThroughputRun.RunAsync(client, "bench", "", work,
        S3ThroughputRun.Option(args, "--repeats", 3), S3ThroughputRun.Option(args, "--large-mb", 256),
        "s3-endpoint-throughput", "AWSSDK.S3 PUT/GET through the S3 endpoint (FileSystemS3Backend, fsync per object) vs /bin/cp of the same files",
        "s3-throughput.json");
}
finally
{
    Directory.Delete(work, recursive: true);
}
