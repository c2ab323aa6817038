namespace Stratum.Server.Store.S3;

/// <summary>
/// What the backend needs to know about the S3 request it serves but <c>IS3Backend</c> does not pass:
/// who signed it and which delimiter the listing asked for. <see cref="S3Hosting"/> opens one scope per
/// request before the protocol handler runs; the credential store records the principal when it finds
/// the key (the handler reaches the backend only after that key's signature checked out).
/// </summary>
public sealed class S3CallScope
{
    private static readonly AsyncLocal<S3CallScope?> CurrentScope = new();

    /// <summary>The scope of the request this code runs for, or null outside one.</summary>
    public static S3CallScope? Current => CurrentScope.Value;

    /// <summary>The user whose access key signed the request; null until the key is found.</summary>
    public string? Principal { get; set; }

    /// <summary>The <c>delimiter</c> query parameter, when the request has one.</summary>
    public string? Delimiter { get; init; }

    public static S3CallScope Begin(string? delimiter)
    {
        var scope = new S3CallScope { Delimiter = string.IsNullOrEmpty(delimiter) ? null : delimiter };
        CurrentScope.Value = scope;
        return scope;
    }
}
