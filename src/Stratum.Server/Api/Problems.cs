using Stratum.Core;

namespace Stratum.Server.Api;

/// <summary>RFC 7807 problem responses. Every error names what is wrong and, where it helps, what to do next.</summary>
public static class Problems
{
    public static IResult Validation(IEnumerable<ValidationError> errors)
    {
        var byField = errors
            .GroupBy(e => e.Field, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray(), StringComparer.Ordinal);
        var detail = string.Join("; ", byField.Select(kv => $"{kv.Key}: {string.Join(", ", kv.Value)}"));
        return Results.ValidationProblem(byField, detail: detail, title: "The request is invalid.", type: "https://stratum.dev/problems/validation");
    }

    public static IResult Validation(string field, string message) => Validation([new ValidationError(field, message)]);

    public static IResult BadRequest(string detail) =>
        Results.Problem(detail: detail, statusCode: StatusCodes.Status400BadRequest, title: "The request is malformed.", type: "https://stratum.dev/problems/malformed");

    public static IResult NotFound(string what) =>
        Results.Problem(detail: what, statusCode: StatusCodes.Status404NotFound, title: "Not found.", type: "https://stratum.dev/problems/not-found");

    public static IResult Forbidden(string detail) =>
        Results.Problem(detail: detail, statusCode: StatusCodes.Status403Forbidden, title: "Forbidden.", type: "https://stratum.dev/problems/forbidden");

    public static IResult Unauthorized(string detail) =>
        Results.Problem(detail: detail, statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized.", type: "https://stratum.dev/problems/unauthorized");

    public static IResult Conflict(string detail) =>
        Results.Problem(detail: detail, statusCode: StatusCodes.Status409Conflict, title: "Conflict.", type: "https://stratum.dev/problems/conflict");
}
