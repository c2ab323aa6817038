using System.Net;

namespace Stratum.Client;

/// <summary>
/// The server answered with an error (RFC 7807 problem+json when it could): the status, the problem's
/// title and detail, and the field errors. <see cref="Exception.Message"/> is one line for people.
/// </summary>
public sealed class StratumApiException : Exception
{
    public StratumApiException(
        HttpStatusCode statusCode,
        string? title,
        string? detail,
        IReadOnlyDictionary<string, string[]>? errors,
        string? type = null)
        : base(Describe(statusCode, title, detail, errors))
    {
        StatusCode = statusCode;
        Title = title;
        Detail = detail;
        Errors = errors ?? new Dictionary<string, string[]>();
        Type = type;
    }

    public HttpStatusCode StatusCode { get; }

    public string? Title { get; }

    public string? Detail { get; }

    /// <summary>Field (JSON path or option name) to what is wrong with it; empty when the problem is not about a field.</summary>
    public IReadOnlyDictionary<string, string[]> Errors { get; }

    public string? Type { get; }

    private static string Describe(HttpStatusCode status, string? title, string? detail, IReadOnlyDictionary<string, string[]>? errors)
    {
        if (errors is { Count: > 0 })
        {
            // "project: no project named 'x'; run 'stratum projects list'" reads better than the title.
            return string.Join("; ", errors.SelectMany(e => e.Value.Select(m => string.IsNullOrEmpty(e.Key) ? m : $"{e.Key}: {m}")));
        }

        if (!string.IsNullOrWhiteSpace(detail))
        {
            return detail;
        }

        if (!string.IsNullOrWhiteSpace(title))
        {
            return title;
        }

        return status switch
        {
            HttpStatusCode.Unauthorized => "the server did not accept the token (401); check STRATUM_TOKEN or use the data directory of 'stratum up'",
            HttpStatusCode.Forbidden => "the token's user may not do this (403); ask a project owner or an admin for a role",
            HttpStatusCode.NotFound => "not found (404)",
            _ => $"the server answered {(int)status} {status}",
        };
    }
}
