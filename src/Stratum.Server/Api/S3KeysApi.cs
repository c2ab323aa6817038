using Stratum.Client.Contracts;
using Stratum.Persistence;
using Stratum.Server.Auth;
using Stratum.Server.Store;
using Stratum.Server.Store.S3;

namespace Stratum.Server.Api;

/// <summary>
/// Access keys of the S3 endpoint, for the caller: create (the secret is returned once), list (ids only),
/// rotate (a new secret, returned once; the old one stops at once), delete. Admins list everyone's keys and
/// may rotate or delete any; each change is audited with the key id, never the secret.
/// </summary>
public static class S3KeysApi
{
    public static void MapS3Keys(this IEndpointRouteBuilder routes)
    {
        var keys = routes.MapGroup("/api/v1/store/keys").WithTags("Store");
        keys.MapPost("", CreateAsync).WithName("CreateS3Key");
        keys.MapGet("", ListAsync).WithName("ListS3Keys");
        keys.MapDelete("/{id}", DeleteAsync).WithName("DeleteS3Key");
        keys.MapPost("/{id}/rotate", RotateAsync).WithName("RotateS3Key");
    }

    private static async Task<IResult> CreateAsync(HttpContext context, IMetadataStore store, DataDirectoryPath dataDirectory, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        var now = time.GetUtcNow();
        var box = S3SecretBox.ForDataDirectory(dataDirectory.Path);

        var created = await S3AccessKeys.CreateAsync(
            store, box, caller.Name, now, id => caller.Audit(now, "s3key.create", $"s3key/{id}", $"for {caller.Name}"), cancellationToken);
        return Results.Created($"/api/v1/store/keys/{created.AccessKeyId}", new CreatedS3KeyDto
        {
            AccessKeyId = created.AccessKeyId,
            SecretAccessKey = created.SecretAccessKey,
            User = created.UserName,
            CreatedAt = created.CreatedAt,
        });
    }

    private static async Task<IResult> ListAsync(HttpContext context, IMetadataStore store, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        var keys = await store.S3Keys.ListAsync(caller.IsAdmin ? null : caller.Name, cancellationToken);
        return Results.Ok(keys.Select(k => new S3KeyDto { AccessKeyId = k.Id, User = k.UserName, CreatedAt = k.CreatedAt }).ToList());
    }

    private static async Task<IResult> RotateAsync(
        string id, HttpContext context, IMetadataStore store, DataDirectoryPath dataDirectory, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        var (key, problem) = await FindOwnedAsync(id, caller, store, cancellationToken);
        if (key is null)
        {
            return problem!;
        }

        var now = time.GetUtcNow();
        var rotated = await S3AccessKeys.RotateAsync(
            store, S3SecretBox.ForDataDirectory(dataDirectory.Path), key, caller.Audit(now, "s3key.rotate", $"s3key/{id}", $"of {key.UserName}"), cancellationToken);
        if (rotated is null)
        {
            return Problems.NotFound($"S3 access key '{id}'");
        }

        // The endpoint caches found keys; dropping this one makes the old secret fail from the next request.
        context.RequestServices.GetService<S3EndpointService>()?.Forget(id);
        return Results.Ok(new CreatedS3KeyDto
        {
            AccessKeyId = rotated.AccessKeyId,
            SecretAccessKey = rotated.SecretAccessKey,
            User = rotated.UserName,
            CreatedAt = rotated.CreatedAt,
        });
    }

    private static async Task<IResult> DeleteAsync(string id, HttpContext context, IMetadataStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        var (key, problem) = await FindOwnedAsync(id, caller, store, cancellationToken);
        if (key is null)
        {
            return problem!;
        }

        var now = time.GetUtcNow();
        if (!await store.S3Keys.DeleteAsync(id, caller.Audit(now, "s3key.delete", $"s3key/{id}", $"of {key.UserName}"), cancellationToken))
        {
            return Problems.NotFound($"S3 access key '{id}'");
        }

        context.RequestServices.GetService<S3EndpointService>()?.Forget(id);
        return Results.NoContent();
    }

    /// <summary>The key <paramref name="id"/> names, if the caller owns it or is an admin; else a bad-id or not-found problem.</summary>
    private static async Task<(S3AccessKey? Key, IResult? Problem)> FindOwnedAsync(string id, Caller caller, IMetadataStore store, CancellationToken cancellationToken)
    {
        if (!S3AccessKeys.LooksLikeId(id))
        {
            return (null, Problems.Validation("id", $"'{id}' is not an S3 access key id (20 characters starting with {S3AccessKeys.IdPrefix})"));
        }

        // Someone else's key answers like a missing one, so ids cannot be probed.
        var key = await store.S3Keys.GetAsync(id, cancellationToken);
        return key is null || (key.UserName != caller.Name && !caller.IsAdmin) ? (null, Problems.NotFound($"S3 access key '{id}'")) : (key, null);
    }
}
