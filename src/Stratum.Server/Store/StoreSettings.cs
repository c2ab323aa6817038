using System.Runtime.CompilerServices;
using Stratum.Storage.Backends;
using Stratum.Storage.Tiering;

namespace Stratum.Server.Store;

/// <summary>The store settings of <see cref="ServerOptions"/>: their validation and the backend they name.</summary>
public static class StoreSettings
{
    public const string Local = "local";

    /// <summary>Every problem with the store settings, each naming the setting; empty when valid.</summary>
    public static IReadOnlyList<string> Problems(ServerOptions options)
    {
        var problems = new List<string>();
        if (options.StoreDirectory is { } directory && string.IsNullOrWhiteSpace(directory))
        {
            problems.Add("storeDirectory: must name a directory, or be left out for DATA/store");
        }

        if (options.StoreKeyFile is { } keyFile && string.IsNullOrWhiteSpace(keyFile))
        {
            problems.Add("storeKeyFile: must name a file, or be left out for DATA/store.key");
        }

        if (options.StoreCompressionLevel is < 0 or > 19)
        {
            problems.Add($"storeCompressionLevel: {options.StoreCompressionLevel} must be 0 (store raw) to 19; the default 1 is the fastest that compresses");
        }

        var backend = options.StoreBackend;
        if (backend != Local)
        {
            if (ParseS3(backend, out _, out _) is { } s3Problem)
            {
                problems.Add($"storeBackend: {s3Problem}");
            }
        }

        if (options.StoreColdBackend is { } cold)
        {
            if (ParseS3(cold, out _, out _) is { } coldProblem)
            {
                problems.Add($"storeColdBackend: {coldProblem.Replace("must be 'local' or an S3 URL", "must be an S3 URL", StringComparison.Ordinal)}");
            }
            else if (backend != Local)
            {
                problems.Add($"storeColdBackend: a cold tier needs the local store as its hot tier, but storeBackend is '{backend}'");
            }
            else if (string.Equals(cold.TrimEnd('/'), backend.TrimEnd('/'), StringComparison.Ordinal))
            {
                problems.Add("storeColdBackend: must differ from storeBackend");
            }
        }

        if (options.StoreS3Endpoint is { } endpoint
            && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)))
        {
            problems.Add($"storeS3Endpoint: '{endpoint}' is not an http(s) URL such as http://127.0.0.1:9000");
        }

        if ((options.StoreS3AccessKeyId is null) != (options.StoreS3SecretAccessKey is null))
        {
            problems.Add("storeS3AccessKeyId, storeS3SecretAccessKey: give both or neither (neither takes AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
        }

        return problems;
    }

    /// <summary>Null when <paramref name="backend"/> is <c>s3://BUCKET[/PREFIX]</c>, else what is wrong with it.</summary>
    public static string? ParseS3(string? backend, out string bucket, out string keyPrefix)
    {
        bucket = "";
        keyPrefix = "";
        const string scheme = "s3://";
        if (backend is null || !backend.StartsWith(scheme, StringComparison.Ordinal))
        {
            return $"'{backend}' must be 'local' or an S3 URL such as s3://my-bucket/stratum";
        }

        var rest = backend[scheme.Length..].TrimEnd('/');
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..];
        if (bucket.Length is < 3 or > 63 || !bucket.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '.'))
        {
            return $"'{backend}' names bucket '{bucket}', which is not an S3 bucket name (3 to 63 of a-z, 0-9, '-', '.')";
        }

        if (prefix.Length > 0 && BlobNames.Problem(prefix) is { } problem)
        {
            return $"'{backend}' has a key prefix that cannot be used: {problem}";
        }

        keyPrefix = prefix.Length > 0 ? prefix + "/" : "";
        return null;
    }

    /// <summary>The backend the settings name, and a description for logs and errors (never a secret).</summary>
    public static (IBlobBackend Backend, string Description) OpenBackend(ServerOptions options, string dataDirectory, TimeProvider? clock = null)
    {
        if (options.StoreBackend == Local)
        {
            var root = StoreDirectory(options, dataDirectory);
            Directory.CreateDirectory(root);
            var local = new LocalDirectoryBackend(root);
            if (options.StoreColdBackend is { } coldUrl)
            {
                var (cold, coldDescription) = OpenS3(options, coldUrl);
                return (new TieredBackend(local, cold, clock: clock), $"tiered(hot local:{root}, cold {coldDescription})");
            }

            return (local, "local:" + root);
        }

        return OpenS3(options, options.StoreBackend);
    }

    /// <summary>
    /// Null when <paramref name="location"/> can hold a backup: an absolute directory on the server's machine
    /// outside the store, or <c>s3://BUCKET[/PREFIX]</c> on the store's S3 endpoint; else what is wrong with it.
    /// </summary>
    public static string? LocationProblem(ServerOptions options, string dataDirectory, string? location)
    {
        if (string.IsNullOrWhiteSpace(location))
        {
            return "required: an absolute directory on the server's machine, or s3://BUCKET[/PREFIX]";
        }

        if (location.StartsWith("s3://", StringComparison.Ordinal))
        {
            if (ParseS3(location, out var bucket, out var prefix) is { } problem)
            {
                return problem.Replace("must be 'local' or an S3 URL", "must be an S3 URL", StringComparison.Ordinal);
            }

            foreach (var used in new[] { options.StoreBackend, options.StoreColdBackend })
            {
                if (used is not null && ParseS3(used, out var usedBucket, out var usedPrefix) is null && usedBucket == bucket
                    && (prefix.StartsWith(usedPrefix, StringComparison.Ordinal) || usedPrefix.StartsWith(prefix, StringComparison.Ordinal)))
                {
                    return $"'{location}' overlaps the store's own {used}; use another bucket or prefix";
                }
            }

            return null;
        }

        if (!Path.IsPathRooted(location) || location.Contains('\0', StringComparison.Ordinal))
        {
            return $"'{location}' is neither an absolute directory (paths are on the server's machine) nor s3://BUCKET[/PREFIX]";
        }

        if (options.StoreBackend == Local)
        {
            var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(location)) + "/";
            var store = Path.TrimEndingDirectorySeparator(StoreDirectory(options, dataDirectory)) + "/";
            if (full.StartsWith(store, StringComparison.Ordinal) || store.StartsWith(full, StringComparison.Ordinal))
            {
                return $"'{location}' overlaps the store's directory {store}; use a directory outside it";
            }
        }

        return null;
    }

    /// <summary>The backend at a location <see cref="LocationProblem"/> accepted (a directory is created when missing).</summary>
    public static (IBlobBackend Backend, string Description) OpenLocation(ServerOptions options, string location)
    {
        if (location.StartsWith("s3://", StringComparison.Ordinal))
        {
            return OpenS3(options, location);
        }

        var root = Path.GetFullPath(location);
        Directory.CreateDirectory(root);
        return (new LocalDirectoryBackend(root), "local:" + root);
    }

    public static string StoreDirectory(ServerOptions options, string dataDirectory) =>
        Path.GetFullPath(options.StoreDirectory ?? Path.Combine(dataDirectory, "store"));

    public static string KeyFile(ServerOptions options, string dataDirectory) =>
        Path.GetFullPath(options.StoreKeyFile ?? Path.Combine(dataDirectory, "store.key"));

    // Its own method, so that AWSSDK is loaded only when a store names S3.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (IBlobBackend, string) OpenS3(ServerOptions options, string url)
    {
        ParseS3(url, out var bucket, out var prefix);
        var s3 = new Stratum.Storage.S3.S3BlobBackend(new Stratum.Storage.S3.S3BlobBackendOptions
        {
            ServiceUrl = options.StoreS3Endpoint,
            Region = options.StoreS3Region,
            Bucket = bucket,
            KeyPrefix = prefix,
            ForcePathStyle = true,
            AccessKeyId = options.StoreS3AccessKeyId,
            SecretAccessKey = options.StoreS3SecretAccessKey,
        });
        return (s3, s3.Description);
    }
}
