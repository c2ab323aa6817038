using System.Globalization;
using Stratum.Client.Contracts;
using Stratum.Core;
using Stratum.Core.Access;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Server.Auth;

namespace Stratum.Server.Api;

/// <summary>Users, tokens and the audit log.</summary>
public static class AccessApi
{
    public static void MapAccess(this IEndpointRouteBuilder routes)
    {
        var users = routes.MapGroup("/api/v1/users").WithTags("Users");
        users.MapGet("", ListUsersAsync).WithName("ListUsers");
        users.MapPut("/{name}", PutUserAsync).WithName("PutUser");

        var tokens = routes.MapGroup("/api/v1/tokens").WithTags("Tokens");
        tokens.MapGet("", ListTokensAsync).WithName("ListTokens");
        tokens.MapPost("", CreateTokenAsync).WithName("CreateToken");
        tokens.MapDelete("/{id}", RevokeTokenAsync).WithName("RevokeToken");

        routes.MapGet("/api/v1/audit", ListAuditAsync).WithTags("Audit").WithName("ListAudit");
    }

    private static async Task<IResult> ListUsersAsync(HttpContext context, IMetadataStore store, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Results.Ok(new[] { caller.User.ToDto() });
        }

        return Results.Ok((await store.Access.ListUsersAsync(cancellationToken)).Select(u => u.ToDto()).ToList());
    }

    private static async Task<IResult> PutUserAsync(
        string name, HttpContext context, IMetadataStore store, TokenAuthenticator authenticator, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins change users");
        }

        var (dto, error) = await Json.ReadAsync<UserDto>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var errors = new List<ValidationError>();
        if (Names.Problem(name) is { } problem)
        {
            errors.Add(new("name", problem));
        }

        if (dto!.Name is { } bodyName && bodyName != name)
        {
            errors.Add(new("name", $"the body names '{bodyName}' but the URL names '{name}'"));
        }

        var projects = (await store.Cluster.ListProjectsAsync(cancellationToken)).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var roles = new Dictionary<string, ProjectRole>(StringComparer.Ordinal);
        foreach (var (project, roleText) in dto.Roles ?? new Dictionary<string, string>())
        {
            if (!projects.Contains(project))
            {
                errors.Add(new($"roles.{project}", $"no project named '{project}'"));
            }
            else if (Mapping.ParseRole(roleText) is { } role)
            {
                roles[project] = role;
            }
            else
            {
                errors.Add(new($"roles.{project}", $"'{roleText}' is not a role; use owner, member or viewer"));
            }
        }

        if (name == caller.Name && dto.Admin == false)
        {
            errors.Add(new("admin", "you cannot remove your own admin role; ask another admin"));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var now = time.GetUtcNow();
        var existing = await store.Access.GetUserAsync(name, cancellationToken);
        var user = new User { Name = name, IsAdmin = dto.Admin ?? existing?.IsAdmin ?? false, Roles = roles, CreatedAt = existing?.CreatedAt ?? now };
        await store.Access.UpsertUserAsync(user, caller.Audit(now, existing is null ? "user.create" : "user.update", $"user/{name}"), cancellationToken);
        authenticator.Invalidate();
        return Results.Ok(user.ToDto());
    }

    private static async Task<IResult> ListTokensAsync(HttpContext context, IMetadataStore store, CancellationToken cancellationToken, string? user = null)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin && user is not null && user != caller.Name)
        {
            return Problems.Forbidden("only admins list other users' tokens");
        }

        var owner = caller.IsAdmin ? user : caller.Name;
        return Results.Ok((await store.Access.ListTokensAsync(owner, cancellationToken)).Select(t => t.ToDto()).ToList());
    }

    private static async Task<IResult> CreateTokenAsync(HttpContext context, IMetadataStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        var (request, error) = await Json.ReadAsync<CreateTokenRequest>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var userName = request!.User ?? caller.Name;
        if (userName != caller.Name && !caller.IsAdmin)
        {
            return Problems.Forbidden("only admins create tokens for other users");
        }

        var errors = new List<ValidationError>();
        var name = request.Name ?? "cli";
        if (Names.Problem(name) is { } problem)
        {
            errors.Add(new("name", problem));
        }

        TimeSpan? lifetime = null;
        if (request.ExpiresIn is { } text)
        {
            if (Quantity.TryParseDuration(text, out var parsed) && parsed > TimeSpan.Zero && parsed <= TimeSpan.FromDays(3650))
            {
                lifetime = parsed;
            }
            else
            {
                errors.Add(new("expiresIn", $"'{text}' is not a duration between 1s and 3650d; write for example \"30d\""));
            }
        }

        if (await store.Access.GetUserAsync(userName, cancellationToken) is null)
        {
            errors.Add(new("user", $"no user named '{userName}'; add it with 'stratum apply' (users section)"));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var now = time.GetUtcNow();
        var secret = TokenSecrets.NewSecret();
        var token = new ApiToken
        {
            Id = TokenSecrets.NewTokenId(),
            UserName = userName,
            Name = name,
            SecretHash = TokenSecrets.Hash(secret),
            CreatedAt = now,
            ExpiresAt = now + lifetime,
        };
        await store.Access.CreateTokenAsync(token, caller.Audit(now, "token.create", $"token/{token.Id}", $"for {userName}"), cancellationToken);
        return Results.Created($"/api/v1/tokens/{token.Id}", new CreatedTokenDto(token.ToDto(), secret));
    }

    private static async Task<IResult> RevokeTokenAsync(
        string id, HttpContext context, IMetadataStore store, TokenAuthenticator authenticator, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        var token = (await store.Access.ListTokensAsync(caller.IsAdmin ? null : caller.Name, cancellationToken)).FirstOrDefault(t => t.Id == id);
        if (token is null)
        {
            return Problems.NotFound($"no token '{id}' that you may revoke; 'stratum tokens list' shows yours");
        }

        var now = time.GetUtcNow();
        await store.Access.RevokeTokenAsync(id, now, caller.Audit(now, "token.revoke", $"token/{id}"), cancellationToken);
        authenticator.Invalidate();
        return Results.NoContent();
    }

    private static async Task<IResult> ListAuditAsync(HttpContext context, IMetadataStore store, CancellationToken cancellationToken, int? limit = null, string? cursor = null)
    {
        if (!context.Caller().IsAdmin)
        {
            return Problems.Forbidden("only admins read the audit log");
        }

        long? before = null;
        if (cursor is { Length: > 0 })
        {
            if (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                return Problems.Validation("cursor", "is not a cursor this server handed out");
            }

            before = parsed;
        }

        var size = Math.Clamp(limit ?? 100, 1, 1000);
        var entries = await store.Audit.ListAsync(before, size, cancellationToken);
        var next = entries.Count == size ? entries[^1].Id.ToString(CultureInfo.InvariantCulture) : null;
        return Results.Ok(new PageDto<AuditEntryDto>(entries.Select(e => e.ToDto()).ToList(), next));
    }
}
