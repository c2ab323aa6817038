using Stratum.Client;
using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Execution;
using Stratum.Persistence;
using Stratum.Server.Auth;

namespace Stratum.Server.Hosting;

/// <summary>
/// What a first start creates, and every start refreshes: the admin user and a token for the CLI on
/// this machine, the "default" project, and this machine as a node of the "local" pool.
/// </summary>
public static class Bootstrap
{
    public const string AdminUser = "admin";
    public const string DefaultProject = "default";
    public const string LocalPool = "local";

    /// <summary>Returns the admin token's secret for connection.json: the one already there when it is still valid, else a new one.</summary>
    public static async Task<string> PrepareAsync(IMetadataStore store, string dataDirectory, ServerOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        AuditRecord Audit(string action, string target) => new(now, "stratum (bootstrap)", action, target);

        if (await store.Access.GetUserAsync(AdminUser, cancellationToken) is null)
        {
            await store.Access.UpsertUserAsync(new User { Name = AdminUser, IsAdmin = true, CreatedAt = now }, Audit("user.create", $"user/{AdminUser}"), cancellationToken);
        }

        if (await store.Cluster.GetProjectAsync(DefaultProject, cancellationToken) is null)
        {
            await store.Cluster.UpsertProjectAsync(
                new Project { Name = DefaultProject, Description = "Jobs submitted without a project", CreatedAt = now },
                Audit("project.create", $"project/{DefaultProject}"),
                cancellationToken);
        }

        if (options.RegisterLocalNode)
        {
            if ((await store.Cluster.ListPoolsAsync(cancellationToken)).All(p => p.Name != LocalPool))
            {
                await store.Cluster.UpsertPoolAsync(new Pool { Name = LocalPool, CreatedAt = now }, Audit("pool.create", $"pool/{LocalPool}"), cancellationToken);
            }

            var discovered = LocalNodeDiscovery.Discover(LocalNodeDiscovery.DefaultNodeName(), LocalPool);
            var existing = await store.Cluster.GetNodeAsync(discovered.Name, cancellationToken);
            // Keep what an operator decided (draining, extra labels); refresh what the hardware says.
            var node = discovered with
            {
                State = existing?.State ?? discovered.State,
                StateReason = existing?.StateReason,
                Labels = existing is null ? discovered.Labels : MergeLabels(existing.Labels, discovered.Labels),
                UpdatedAt = now,
            };
            if (existing is null || existing.Capacity != node.Capacity || existing.Allocatable != node.Allocatable || existing.Accelerators.Count != node.Accelerators.Count)
            {
                await store.Cluster.UpsertNodeAsync(node, Audit(existing is null ? "node.create" : "node.update", $"node/{node.Name}"), cancellationToken);
            }
        }

        var saved = LocalConnection.TryRead(dataDirectory);
        if (saved is not null)
        {
            var token = await store.Access.FindTokenByHashAsync(TokenSecrets.Hash(saved.Token), cancellationToken);
            if (token is not null && token.IsActive(now) && token.UserName == AdminUser)
            {
                return saved.Token;
            }
        }

        var secret = TokenSecrets.NewSecret();
        var created = new ApiToken
        {
            Id = TokenSecrets.NewTokenId(),
            UserName = AdminUser,
            Name = "local-cli",
            SecretHash = TokenSecrets.Hash(secret),
            CreatedAt = now,
        };
        await store.Access.CreateTokenAsync(created, Audit("token.create", $"token/{created.Id}"), cancellationToken);
        return secret;
    }

    private static Dictionary<string, string> MergeLabels(IReadOnlyDictionary<string, string> kept, IReadOnlyDictionary<string, string> discovered)
    {
        var merged = new Dictionary<string, string>(kept, StringComparer.Ordinal);
        foreach (var (key, value) in discovered)
        {
            merged[key] = value;
        }

        return merged;
    }
}
