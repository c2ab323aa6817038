using Stratum.Client.Contracts;
using Stratum.Core;
using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Server.Apply;
using Stratum.Server.Auth;
using Stratum.Server.Control;

namespace Stratum.Server.Api;

/// <summary>Nodes, pools and projects: read by everyone signed in (projects: those one has a role in), changed by admins.</summary>
public static class ClusterApi
{
    public static void MapCluster(this IEndpointRouteBuilder routes)
    {
        var nodes = routes.MapGroup("/api/v1/nodes").WithTags("Nodes");
        nodes.MapGet("", ListNodesAsync).WithName("ListNodes");
        nodes.MapGet("/{name}", GetNodeAsync).WithName("GetNode");
        nodes.MapPut("/{name}", PutNodeAsync).WithName("PutNode");

        var pools = routes.MapGroup("/api/v1/pools").WithTags("Pools");
        pools.MapGet("", ListPoolsAsync).WithName("ListPools");
        pools.MapPut("/{name}", PutPoolAsync).WithName("PutPool");

        var projects = routes.MapGroup("/api/v1/projects").WithTags("Projects");
        projects.MapGet("", ListProjectsAsync).WithName("ListProjects");
        projects.MapPost("", CreateProjectAsync).WithName("CreateProject");
        projects.MapGet("/{name}", GetProjectAsync).WithName("GetProject");
        projects.MapPut("/{name}/quota", PutQuotaAsync).WithName("PutProjectQuota");
    }

    private static async Task<IResult> ListNodesAsync(IMetadataStore store, CancellationToken cancellationToken)
    {
        var nodes = await store.Cluster.ListNodesAsync(cancellationToken);
        var running = await RunningAsync(store, cancellationToken);
        return Results.Ok(nodes.Select(n => Describe(n, running)).ToList());
    }

    private static async Task<IResult> GetNodeAsync(string name, IMetadataStore store, CancellationToken cancellationToken)
    {
        var node = await store.Cluster.GetNodeAsync(name, cancellationToken);
        return node is null
            ? Problems.NotFound($"no node named '{name}'; 'stratum nodes' lists them")
            : Results.Ok(Describe(node, await RunningAsync(store, cancellationToken)));
    }

    private static async Task<IResult> PutNodeAsync(
        string name, HttpContext context, IMetadataStore store, ClusterCache cache, ControllerSignal signal, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins change nodes");
        }

        var (spec, error) = await Json.ReadAsync<NodeSpecDto>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var existing = await store.Cluster.GetNodeAsync(name, cancellationToken);
        var pools = await store.Cluster.ListPoolsAsync(cancellationToken);
        var (node, errors) = InfraModel.ToNode(name, spec!, existing, pools, "", time.GetUtcNow());
        if (node is null)
        {
            return Problems.Validation(errors);
        }

        var now = time.GetUtcNow();
        await store.Cluster.UpsertNodeAsync(node, caller.Audit(now, existing is null ? "node.create" : "node.update", $"node/{name}"), cancellationToken);
        cache.Invalidate();
        signal.Wake();
        return Results.Ok(Describe(node, await RunningAsync(store, cancellationToken)));
    }

    private static async Task<IResult> ListPoolsAsync(IMetadataStore store, CancellationToken cancellationToken) =>
        Results.Ok((await store.Cluster.ListPoolsAsync(cancellationToken)).Select(p => p.ToDto()).ToList());

    private static async Task<IResult> PutPoolAsync(string name, HttpContext context, IMetadataStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins change pools");
        }

        var (dto, error) = await Json.ReadAsync<PoolDto>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var existing = (await store.Cluster.ListPoolsAsync(cancellationToken)).FirstOrDefault(p => p.Name == name);
        var (pool, errors) = InfraModel.ToPool(name, dto!, existing, "", time.GetUtcNow());
        if (pool is null)
        {
            return Problems.Validation(errors);
        }

        var now = time.GetUtcNow();
        await store.Cluster.UpsertPoolAsync(pool, caller.Audit(now, existing is null ? "pool.create" : "pool.update", $"pool/{name}"), cancellationToken);
        return Results.Ok(pool.ToDto());
    }

    private static async Task<IResult> ListProjectsAsync(HttpContext context, IMetadataStore store, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        var active = await store.Jobs.ListActiveAsync(cancellationToken);
        var running = active.Where(j => j.State == JobState.Running).ToList();
        var projects = (await store.Cluster.ListProjectsAsync(cancellationToken))
            .Where(p => caller.Can(p.Name, ProjectRole.Viewer))
            .Select(p => Describe(p, running, active))
            .ToList();
        return Results.Ok(projects);
    }

    private static async Task<IResult> GetProjectAsync(string name, HttpContext context, IMetadataStore store, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        var project = await store.Cluster.GetProjectAsync(name, cancellationToken);
        if (project is null)
        {
            return Problems.NotFound($"no project named '{name}'; 'stratum projects list' shows them");
        }

        if (!caller.Can(name, ProjectRole.Viewer))
        {
            return Problems.Forbidden($"{caller.Name} has no role in project '{name}'");
        }

        return Results.Ok(Describe(project, await RunningAsync(store, cancellationToken), await store.Jobs.ListActiveAsync(cancellationToken)));
    }

    private static async Task<IResult> CreateProjectAsync(
        HttpContext context, IMetadataStore store, ClusterCache cache, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins create projects");
        }

        var (dto, error) = await Json.ReadAsync<ProjectDto>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var errors = new List<ValidationError>();
        if (Names.Problem(dto!.Name) is { } problem)
        {
            errors.Add(new("name", problem));
        }

        var quota = (dto.Quota ?? new QuotaDto()).ToQuota("quota", errors);
        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        if (await store.Cluster.GetProjectAsync(dto.Name!, cancellationToken) is not null)
        {
            return Problems.Conflict($"project '{dto.Name}' already exists; change its quota with 'stratum projects quota {dto.Name}'");
        }

        var now = time.GetUtcNow();
        var project = new Project { Name = dto.Name!, Description = dto.Description, Quota = quota, CreatedAt = now };
        await store.Cluster.UpsertProjectAsync(project, caller.Audit(now, "project.create", $"project/{project.Name}"), cancellationToken);
        cache.Invalidate();
        return Results.Created($"/api/v1/projects/{project.Name}", project.ToDto(ResourceVector.Zero, 0, 0));
    }

    private static async Task<IResult> PutQuotaAsync(
        string name, HttpContext context, IMetadataStore store, ClusterCache cache, ControllerSignal signal, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins change quotas");
        }

        var (dto, error) = await Json.ReadAsync<QuotaDto>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var project = await store.Cluster.GetProjectAsync(name, cancellationToken);
        if (project is null)
        {
            return Problems.NotFound($"no project named '{name}'");
        }

        var errors = new List<ValidationError>();
        var quota = dto!.ToQuota("quota", errors);
        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var now = time.GetUtcNow();
        var updated = project with { Quota = quota };
        await store.Cluster.UpsertProjectAsync(updated, caller.Audit(now, "project.quota", $"project/{name}", quota.ToDto().ToString()), cancellationToken);
        cache.Invalidate();
        signal.Wake();
        return Results.Ok(Describe(updated, await RunningAsync(store, cancellationToken), await store.Jobs.ListActiveAsync(cancellationToken)));
    }

    private static async Task<IReadOnlyList<Job>> RunningAsync(IMetadataStore store, CancellationToken cancellationToken) =>
        (await store.Jobs.ListActiveAsync(cancellationToken)).Where(j => j.State == JobState.Running).ToList();

    private static NodeDto Describe(Node node, IReadOnlyList<Job> running)
    {
        var allocated = ResourceVector.Zero;
        var jobs = 0;
        foreach (var job in running)
        {
            var replicasHere = job.CurrentAttempt?.Placement.Count(p => p.Node == node.Name) ?? 0;
            if (replicasHere > 0)
            {
                allocated = allocated.Add(job.Spec.Resources.Multiply(replicasHere));
                jobs++;
            }
        }

        return node.ToDto(allocated, jobs);
    }

    private static ProjectDto Describe(Project project, IReadOnlyList<Job> running, IReadOnlyList<Job> active)
    {
        var used = running.Where(j => j.Spec.Project == project.Name)
            .Aggregate(ResourceVector.Zero, (sum, j) => sum.Add(j.Spec.Resources.Multiply(j.Spec.Replicas)));
        return project.ToDto(
            used,
            running.Count(j => j.Spec.Project == project.Name),
            active.Count(j => j.Spec.Project == project.Name && j.State.IsQueued()));
    }
}
