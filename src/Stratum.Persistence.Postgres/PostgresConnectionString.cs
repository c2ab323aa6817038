using System.Globalization;
using Npgsql;

namespace Stratum.Persistence.Postgres;

/// <summary>
/// Turns what a user writes after <c>--database</c> into an Npgsql connection string. Both forms are
/// accepted: a URL (<c>postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=require</c>, the libpq form that
/// operators already use with psql) and Npgsql's own <c>Host=...;Database=...</c> keywords.
/// </summary>
public static class PostgresConnectionString
{
    /// <summary>The default PostgreSQL port, used when a URL names none.</summary>
    public const int DefaultPort = 5432;

    /// <summary>True when <paramref name="value"/> is a <c>postgres://</c> or <c>postgresql://</c> URL.</summary>
    public static bool IsUrl(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
            || value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// An Npgsql connection string for <paramref name="connectionStringOrUrl"/>. Throws
    /// <see cref="ArgumentException"/> naming the part that is wrong (an unknown URL parameter, a bad
    /// port, no database), so a typo fails at startup instead of connecting somewhere unexpected.
    /// </summary>
    public static string Normalize(string connectionStringOrUrl)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionStringOrUrl);
        var builder = IsUrl(connectionStringOrUrl) ? FromUrl(connectionStringOrUrl) : FromKeywords(connectionStringOrUrl);
        if (string.IsNullOrEmpty(builder.Host))
        {
            throw new ArgumentException("The PostgreSQL connection names no host.", nameof(connectionStringOrUrl));
        }

        if (string.IsNullOrEmpty(builder.Database))
        {
            throw new ArgumentException("The PostgreSQL connection names no database (postgres://USER@HOST:PORT/DATABASE).", nameof(connectionStringOrUrl));
        }

        return builder.ConnectionString;
    }

    /// <summary>Where a connection goes, as people write it (USER@HOST:PORT/DATABASE), never with the password.</summary>
    public static string Where(string connectionStringOrUrl)
    {
        var builder = new NpgsqlConnectionStringBuilder(Normalize(connectionStringOrUrl));
        return $"{builder.Username}@{builder.Host}:{builder.Port}/{builder.Database}";
    }

    /// <summary>The connection string without its password, for logs and error messages.</summary>
    public static string Redact(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (builder.Password is not null)
        {
            builder.Password = "***";
        }

        return builder.ConnectionString;
    }

    private static NpgsqlConnectionStringBuilder FromKeywords(string value)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(value);
        }
        catch (ArgumentException exception)
        {
            throw new ArgumentException($"'{value}' is neither a postgres:// URL nor a valid Npgsql connection string: {exception.Message}", nameof(value), exception);
        }
    }

    private static NpgsqlConnectionStringBuilder FromUrl(string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException($"'{RedactUrl(value)}' is not a valid postgres:// URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE).", nameof(value));
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            // Uri keeps the brackets of an IPv6 literal; Npgsql wants the bare address.
            Host = uri.Host.Trim('[', ']'),
            Port = uri.IsDefaultPort || uri.Port < 0 ? DefaultPort : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')),
        };

        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0)
            {
                builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            }
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
            var parameter = Uri.UnescapeDataString(equals < 0 ? "" : pair[(equals + 1)..]);
            ApplyUrlParameter(builder, name, parameter, value);
        }

        return builder;
    }

    /// <summary>The libpq URL parameters that mean something here; anything else is refused by name.</summary>
    private static void ApplyUrlParameter(NpgsqlConnectionStringBuilder builder, string name, string value, string url)
    {
        switch (name.ToLowerInvariant())
        {
            case "sslmode":
                builder.SslMode = value.ToLowerInvariant() switch
                {
                    "disable" => SslMode.Disable,
                    "allow" => SslMode.Allow,
                    "prefer" => SslMode.Prefer,
                    "require" => SslMode.Require,
                    "verify-ca" => SslMode.VerifyCA,
                    "verify-full" => SslMode.VerifyFull,
                    _ => throw new ArgumentException($"sslmode '{value}' in the PostgreSQL URL is not one of disable, allow, prefer, require, verify-ca, verify-full.", nameof(url)),
                };
                break;
            case "application_name":
                builder.ApplicationName = value;
                break;
            case "connect_timeout":
                builder.Timeout = ParseWholeNumber(name, value);
                break;
            case "command_timeout":
                builder.CommandTimeout = ParseWholeNumber(name, value);
                break;
            case "pool_max" or "maximum_pool_size":
                builder.MaxPoolSize = ParseWholeNumber(name, value);
                break;
            default:
                throw new ArgumentException(
                    $"Unknown parameter '{name}' in the PostgreSQL URL '{RedactUrl(url)}'; known: sslmode, application_name, connect_timeout, command_timeout, pool_max.",
                    nameof(url));
        }
    }

    private static int ParseWholeNumber(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= 0
            ? number
            : throw new ArgumentException($"'{name}={value}' in the PostgreSQL URL is not a whole number.", nameof(value));

    /// <summary>A URL with its password replaced, so an error about it can be shown.</summary>
    private static string RedactUrl(string url)
    {
        var at = url.LastIndexOf('@');
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (at < 0 || scheme < 0)
        {
            return url;
        }

        var colon = url.IndexOf(':', scheme + 3);
        return colon > 0 && colon < at ? string.Concat(url.AsSpan(0, colon + 1), "***", url.AsSpan(at)) : url;
    }
}
