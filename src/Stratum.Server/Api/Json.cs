using System.Text.Json;
using System.Text.Json.Serialization;

namespace Stratum.Server.Api;

/// <summary>
/// The API's JSON settings and body reading. Bodies are read by hand rather than bound by the framework
/// so that malformed JSON and unknown fields get a problem response naming the path, not a bare 400.
/// </summary>
public static class Json
{
    /// <summary>The largest request body accepted; job specs and infra documents are far smaller.</summary>
    public const long MaxBodyBytes = 4 * 1024 * 1024;

    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.AllowTrailingCommas = false;
        return options;
    }

    public static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken)
        where T : class
    {
        if (request.ContentLength > MaxBodyBytes)
        {
            return (null, Problems.BadRequest($"The body is larger than {MaxBodyBytes / 1024 / 1024} MiB."));
        }

        if (request.ContentType is { } type && !type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, Problems.BadRequest($"Expected a JSON body (Content-Type application/json), got '{type}'."));
        }

        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, Options, cancellationToken);
            return value is null ? (null, Problems.BadRequest("The body must be a JSON object, not null.")) : (value, null);
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 0 } path ? $" at {path}" : "";
            var what = e.Message.Contains("could not be mapped", StringComparison.Ordinal) ? "unknown field" : "malformed JSON";
            return (null, Problems.Validation(e.Path is { Length: > 1 } p ? p.TrimStart('$', '.') : "body", $"{what}{where}: {FirstSentence(e.Message)}"));
        }
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message : message[..(end + 1)];
    }
}
