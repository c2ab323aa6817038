using System.Globalization;
using Stratum.Storage.Backends;

namespace Stratum.Storage.S3;

/// <summary>
/// Where and how <see cref="S3BlobBackend"/> stores blobs. Anything left null falls back to the standard
/// AWS environment variables (see <see cref="Resolve"/>). A class rather than a record so that printing it
/// can never show the secret key.
/// </summary>
public sealed class S3BlobBackendOptions
{
    /// <summary>S3 requires every multipart part but the last to be at least 5 MiB.</summary>
    public const long MinPartSize = 5L * 1024 * 1024;

    /// <summary>The largest single PUT and the largest part S3 accepts.</summary>
    public const long MaxSinglePut = 5L * 1024 * 1024 * 1024;

    public const long DefaultPartSize = 64L * 1024 * 1024;

    /// <summary>Endpoint URL, e.g. http://127.0.0.1:9000; null: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS S3 of <see cref="Region"/>.</summary>
    public string? ServiceUrl { get; init; }

    /// <summary>Signing region; null: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1.</summary>
    public string? Region { get; init; }

    public string Bucket { get; init; } = "";

    /// <summary>Prepended to every blob name ("" or a valid blob name ending in '/', e.g. "stores/main/").</summary>
    public string KeyPrefix { get; init; } = "";

    /// <summary>Path-style addressing (http://host/bucket/key), what self-hosted S3 servers expect.</summary>
    public bool ForcePathStyle { get; init; } = true;

    /// <summary>Null: AWS_ACCESS_KEY_ID.</summary>
    public string? AccessKeyId { get; init; }

    /// <summary>Null: AWS_SECRET_ACCESS_KEY.</summary>
    public string? SecretAccessKey { get; init; }

    /// <summary>Null: AWS_SESSION_TOKEN (absent for long-lived keys).</summary>
    public string? SessionToken { get; init; }

    /// <summary>Blobs up to this size go in one PUT; larger ones as a multipart upload.</summary>
    public long MultipartThreshold { get; init; } = DefaultPartSize;

    /// <summary>Size of each multipart part; one part is held in memory at a time.</summary>
    public long PartSize { get; init; } = DefaultPartSize;

    /// <summary>Keys asked for per list request (S3 answers at most 1000).</summary>
    public int ListPageSize { get; init; } = 1000;

    /// <summary>Retries of a failed request (throttling, 5xx, dropped connections) by the SDK.</summary>
    public int MaxErrorRetry { get; init; } = 3;

    /// <summary>These options with every null filled from <paramref name="environment"/> (a variable lookup).</summary>
    public S3BlobBackendOptions Resolve(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        string? Env(string name) => environment(name) is { Length: > 0 } value ? value : null;

        var region = Region ?? Env("AWS_REGION") ?? Env("AWS_DEFAULT_REGION") ?? "us-east-1";
        var fromEnvironment = AccessKeyId is null && SecretAccessKey is null;
        return new S3BlobBackendOptions
        {
            ServiceUrl = ServiceUrl ?? Env("AWS_ENDPOINT_URL_S3") ?? Env("AWS_ENDPOINT_URL") ?? $"https://s3.{region}.amazonaws.com",
            Region = region,
            Bucket = Bucket,
            KeyPrefix = KeyPrefix,
            ForcePathStyle = ForcePathStyle,
            // Keys come as a pair: one from the options and the other from the environment would be a mix-up.
            AccessKeyId = fromEnvironment ? Env("AWS_ACCESS_KEY_ID") : AccessKeyId,
            SecretAccessKey = fromEnvironment ? Env("AWS_SECRET_ACCESS_KEY") : SecretAccessKey,
            SessionToken = SessionToken ?? (fromEnvironment ? Env("AWS_SESSION_TOKEN") : null),
            MultipartThreshold = MultipartThreshold,
            PartSize = PartSize,
            ListPageSize = ListPageSize,
            MaxErrorRetry = MaxErrorRetry,
        };
    }

    /// <summary>Every problem with these (resolved) options, empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (!Uri.TryCreate(ServiceUrl, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            problems.Add($"endpoint '{ServiceUrl}' is not an absolute http:// or https:// URL");
        }
        else if (url.UserInfo.Length > 0)
        {
            problems.Add("endpoint must not carry credentials in the URL; give the access key id and secret instead");
        }

        if (string.IsNullOrWhiteSpace(Region))
        {
            problems.Add("region is empty (set it, or AWS_REGION)");
        }

        if (BucketProblem(Bucket) is { } bucket)
        {
            problems.Add(bucket);
        }

        if (KeyPrefix.Length > 0 && (!KeyPrefix.EndsWith('/') || BlobNames.Problem(KeyPrefix[..^1]) is not null))
        {
            problems.Add($"key prefix '{KeyPrefix}' must be empty or a valid blob name followed by '/', e.g. 'stores/main/'");
        }

        if (string.IsNullOrEmpty(AccessKeyId) != string.IsNullOrEmpty(SecretAccessKey))
        {
            problems.Add("give both an access key id and a secret access key, or neither (then AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
        }
        else if (string.IsNullOrEmpty(AccessKeyId))
        {
            problems.Add("no credentials: set the access key id and secret access key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        }

        if (PartSize is < MinPartSize or > MaxSinglePut)
        {
            problems.Add($"part size {PartSize} must be between {MinPartSize} (5 MiB) and {MaxSinglePut} (5 GiB)");
        }

        if (MultipartThreshold is < 0 or > MaxSinglePut)
        {
            problems.Add($"multipart threshold {MultipartThreshold} must be between 0 and {MaxSinglePut} (5 GiB, the largest single PUT)");
        }

        if (ListPageSize is < 1 or > 1000)
        {
            problems.Add($"list page size {ListPageSize} must be between 1 and 1000");
        }

        if (MaxErrorRetry is < 0 or > 20)
        {
            problems.Add($"max error retry {MaxErrorRetry} must be between 0 and 20");
        }

        return problems;
    }

    /// <summary>Endpoint, bucket and prefix, never the credentials.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"s3://{Bucket}/{KeyPrefix} at {ServiceUrl} (region {Region}, {(ForcePathStyle ? "path" : "virtual-host")} style)");

    private static string? BucketProblem(string bucket)
    {
        if (bucket.Length is < 3 or > 63)
        {
            return $"bucket '{bucket}' must be 3 to 63 characters long";
        }

        var allowed = bucket.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '.');
        var edges = char.IsAsciiLetterOrDigit(bucket[0]) && char.IsAsciiLetterOrDigit(bucket[^1]);
        return allowed && edges && !bucket.Contains("..", StringComparison.Ordinal)
            ? null
            : $"bucket '{bucket}' must use only lower-case letters, digits, '-' and '.', and begin and end with a letter or digit";
    }
}
