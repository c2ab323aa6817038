namespace Stratum.S3;

/// <summary>Settings of the S3 protocol endpoint.</summary>
public sealed class S3EndpointOptions
{
    /// <summary>Region reported by GetBucketLocation. Default "us-east-1". Requests signed for any region are accepted.</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>How far a request's signing time may be from the server's clock. Default 15 minutes, as in AWS.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Smallest size of every part of a multipart upload but the last. Default 5 MiB, as in AWS.</summary>
    public long MinPartSize { get; set; } = 5L * 1024 * 1024;

    /// <summary>Every problem with these settings, for startup validation.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Region))
        {
            problems.Add("S3 Region must not be empty (default us-east-1).");
        }

        if (MaxClockSkew <= TimeSpan.Zero)
        {
            problems.Add("S3 MaxClockSkew must be positive (default 15 minutes).");
        }

        if (MinPartSize < 1)
        {
            problems.Add("S3 MinPartSize must be at least 1 byte (default 5 MiB).");
        }

        return problems;
    }
}
