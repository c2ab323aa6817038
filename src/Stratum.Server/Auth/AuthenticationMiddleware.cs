using Stratum.Server.Api;

namespace Stratum.Server.Auth;

/// <summary>
/// Every route needs a bearer token except the health probes (and, later, /metrics). Written as a
/// small middleware rather than an ASP.NET authentication scheme because it is the whole of what is
/// needed and sits on the hot submit path.
/// </summary>
public sealed class AuthenticationMiddleware(RequestDelegate next, TokenAuthenticator authenticator)
{
    private static readonly string[] OpenPaths = ["/healthz", "/readyz", "/metrics"];

    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (OpenPaths.Any(p => path.Equals(p, StringComparison.OrdinalIgnoreCase)))
        {
            await next(context);
            return;
        }

        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
        {
            await Reject(context, "Missing bearer token. Send 'Authorization: Bearer <token>'; 'stratum tokens create' makes one.");
            return;
        }

        var result = await authenticator.AuthenticateAsync(header[7..].Trim(), context.RequestAborted);
        if (result is not { } found)
        {
            await Reject(context, "The token is unknown, revoked or expired.");
            return;
        }

        context.SetCaller(new Caller(found.User, found.Token, context.Connection.RemoteIpAddress?.ToString()));
        await next(context);
    }

    private static Task Reject(HttpContext context, string detail)
    {
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Problems.Unauthorized(detail).ExecuteAsync(context);
    }
}
