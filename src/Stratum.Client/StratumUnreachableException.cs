namespace Stratum.Client;

/// <summary>
/// No answer from a server: nothing listens at the address, the connection broke, the request timed
/// out, or no address is configured at all. Unlike <see cref="StratumApiException"/> a retry may help.
/// </summary>
public sealed class StratumUnreachableException : Exception
{
    public StratumUnreachableException(string message, Uri? address = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Address = address;
    }

    /// <summary>The address that was tried; null when none was configured.</summary>
    public Uri? Address { get; }

    public static StratumUnreachableException At(Uri address, Exception? innerException = null)
    {
        var why = innerException is null ? string.Empty : $" ({innerException.Message.TrimEnd('.')})";
        return new StratumUnreachableException(
            $"the server at {address} is not reachable{why}; start one with 'stratum up' or point STRATUM_ADDR at a running one",
            address,
            innerException);
    }
}
