namespace Stratum.Storage.S3.Tests;

/// <summary>Option validation and the AWS environment fallbacks; no server needed.</summary>
public sealed class S3BlobBackendOptionsTests
{
    private static readonly Func<string, string?> NoEnvironment = _ => null;

    private static S3BlobBackendOptions Good() => new()
    {
        ServiceUrl = "http://127.0.0.1:9000",
        Region = "eu-west-1",
        Bucket = "stratum-data",
        AccessKeyId = "AKID",
        SecretAccessKey = "s3cr3t-value",
    };

    [Fact]
    public void Validate_GoodOptions_NoProblems()
    {
        Assert.Empty(Good().Resolve(NoEnvironment).Validate());
    }

    [Fact]
    public void Validate_ManyMistakes_ListsEveryOne()
    {
        var options = new S3BlobBackendOptions
        {
            ServiceUrl = "ftp://example",
            Bucket = "Bad_Bucket",
            KeyPrefix = "no-slash",
            AccessKeyId = "only-the-id",
            PartSize = 1024,
            MultipartThreshold = -1,
            ListPageSize = 0,
            MaxErrorRetry = -1,
        }.Resolve(NoEnvironment);

        var problems = options.Validate();

        Assert.Equal(8, problems.Count);
        Assert.Contains(problems, p => p.Contains("ftp://example", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("bucket 'Bad_Bucket'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("key prefix 'no-slash'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("both an access key id and a secret", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("part size 1024", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("multipart threshold -1", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("list page size 0", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("max error retry -1", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("ab")]
    [InlineData("-start")]
    [InlineData("end-")]
    [InlineData("two..dots")]
    [InlineData("UPPER")]
    public void Validate_BadBucketName_Problem(string bucket)
    {
        var options = new S3BlobBackendOptions { ServiceUrl = "http://h", Region = "r", Bucket = bucket, AccessKeyId = "a", SecretAccessKey = "b" };

        Assert.Contains($"bucket '{bucket}'", Assert.Single(options.Validate()), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a/")]
    [InlineData("stores/main/")]
    public void Validate_KeyPrefixEndingInSlash_Accepted(string prefix)
    {
        var options = new S3BlobBackendOptions { ServiceUrl = "http://h", Region = "r", Bucket = "bkt", KeyPrefix = prefix, AccessKeyId = "a", SecretAccessKey = "b" };

        Assert.Empty(options.Validate());
    }

    [Theory]
    [InlineData("/")]
    [InlineData("a//")]
    [InlineData("../")]
    public void Validate_BadKeyPrefix_Problem(string prefix)
    {
        var options = new S3BlobBackendOptions { ServiceUrl = "http://h", Region = "r", Bucket = "bkt", KeyPrefix = prefix, AccessKeyId = "a", SecretAccessKey = "b" };

        Assert.Contains("key prefix", Assert.Single(options.Validate()), StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_NothingGiven_TakesStandardAwsVariables()
    {
        var environment = new Dictionary<string, string>
        {
            ["AWS_ACCESS_KEY_ID"] = "ENVKEY",
            ["AWS_SECRET_ACCESS_KEY"] = "envsecret",
            ["AWS_SESSION_TOKEN"] = "envtoken",
            ["AWS_DEFAULT_REGION"] = "ap-south-1",
            ["AWS_ENDPOINT_URL"] = "http://minio:9000",
        };

        var resolved = new S3BlobBackendOptions { Bucket = "bkt" }.Resolve(environment.GetValueOrDefault);

        Assert.Equal(("ENVKEY", "envsecret", "envtoken"), (resolved.AccessKeyId, resolved.SecretAccessKey, resolved.SessionToken));
        Assert.Equal("ap-south-1", resolved.Region);
        Assert.Equal("http://minio:9000", resolved.ServiceUrl);
        Assert.Empty(resolved.Validate());
    }

    [Fact]
    public void Resolve_NoEndpointAnywhere_UsesAwsS3OfTheRegion()
    {
        var resolved = new S3BlobBackendOptions { Bucket = "bkt", Region = "eu-central-1" }.Resolve(NoEnvironment);

        Assert.Equal("https://s3.eu-central-1.amazonaws.com", resolved.ServiceUrl);
    }

    [Fact]
    public void Resolve_KeyIdInOptions_DoesNotBorrowSecretFromEnvironment()
    {
        var resolved = new S3BlobBackendOptions { Bucket = "bkt", AccessKeyId = "OPTKEY" }
            .Resolve(name => name == "AWS_SECRET_ACCESS_KEY" ? "envsecret" : null);

        Assert.Null(resolved.SecretAccessKey);
        Assert.Contains(resolved.Validate(), p => p.Contains("both an access key id and a secret", StringComparison.Ordinal));
    }

    [Fact]
    public void ToString_NeverShowsTheSecret()
    {
        var text = Good().ToString();

        Assert.Contains("s3://stratum-data/", text, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t-value", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_BadOptions_ThrowsListingProblemsWithoutSecret()
    {
        var bad = new S3BlobBackendOptions { ServiceUrl = "not a url", Bucket = "x", AccessKeyId = "AKID", SecretAccessKey = "s3cr3t-value" };

        var error = Assert.Throws<ArgumentException>(() => new S3BlobBackend(bad, NoEnvironment));

        Assert.Contains("not a url", error.Message, StringComparison.Ordinal);
        Assert.Contains("bucket 'x'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t-value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Description_NamesBucketPrefixAndEndpointOnly()
    {
        using var backend = new S3BlobBackend(new S3BlobBackendOptions
        {
            ServiceUrl = "http://127.0.0.1:9000",
            Bucket = "bkt",
            KeyPrefix = "stores/main/",
            AccessKeyId = "AKID",
            SecretAccessKey = "s3cr3t-value",
        }, NoEnvironment);

        Assert.Equal("s3://bkt/stores/main/ at http://127.0.0.1:9000", backend.Description);
        Assert.Equal("stores/main/a/b", backend.Key("a/b"));
    }
}
