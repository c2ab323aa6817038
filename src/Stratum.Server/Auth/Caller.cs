using Stratum.Core.Access;

namespace Stratum.Server.Auth;

/// <summary>Who is calling: the user behind the bearer token, and the token itself (for the audit log).</summary>
public sealed record Caller(User User, ApiToken Token, string? RemoteAddress)
{
    public string Name => User.Name;

    public bool IsAdmin => User.IsAdmin;

    public bool Can(string project, ProjectRole role) => User.Can(project, role);

    public AuditRecord Audit(DateTimeOffset at, string action, string target, string? detail = null) =>
        new(at, $"{User.Name} ({Token.Id})", action, target, detail, RemoteAddress);
}

public static class CallerHttpContextExtensions
{
    private const string Key = "stratum.caller";

    public static void SetCaller(this HttpContext context, Caller caller) => context.Items[Key] = caller;

    /// <summary>The authenticated caller; the authentication middleware guarantees one on every /api route.</summary>
    public static Caller Caller(this HttpContext context) =>
        context.Items[Key] as Caller ?? throw new InvalidOperationException("No caller: the route is not behind token authentication.");
}
