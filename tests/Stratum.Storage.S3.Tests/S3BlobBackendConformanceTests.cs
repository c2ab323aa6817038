using Stratum.Storage.Backends;
using Stratum.Storage.Tests.Backends;

namespace Stratum.Storage.S3.Tests;

/// <summary>The blob-backend conformance suite against s3rver: every test gets a bucket of its own.</summary>
[RequiresS3rver(Unsupported = [nameof(PutAsync_ConcurrentSameName_OneWholeBlobWins)], UnsupportedReason = S3rverServer.NotAtomic)]
public sealed class S3BlobBackendConformanceTests : BlobBackendConformance
{
    protected override async Task<IBlobBackend> CreateBackendAsync() =>
        new S3BlobBackend(await S3rverServer.OptionsAsync(await S3rverServer.CreateBucketAsync()));

    protected override Task DestroyBackendAsync(IBlobBackend backend)
    {
        ((S3BlobBackend)backend).Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>The same suite under a key prefix in a bucket that also holds objects outside it.</summary>
[RequiresS3rver(Unsupported = [nameof(PutAsync_ConcurrentSameName_OneWholeBlobWins)], UnsupportedReason = S3rverServer.NotAtomic)]
public sealed class S3BlobBackendPrefixedConformanceTests : BlobBackendConformance
{
    protected override async Task<IBlobBackend> CreateBackendAsync()
    {
        var bucket = await S3rverServer.CreateBucketAsync();
        using var client = await S3rverServer.ClientAsync();
        foreach (var neighbour in new[] { "other/p/a", "stores/mainx/p", "stores/p" })
        {
            await client.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest { BucketName = bucket, Key = neighbour, ContentBody = "x" });
        }

        return new S3BlobBackend(await S3rverServer.OptionsAsync(bucket, "stores/main/"));
    }

    protected override Task DestroyBackendAsync(IBlobBackend backend)
    {
        ((S3BlobBackend)backend).Dispose();
        return Task.CompletedTask;
    }
}
