using System.Text.Json;
using Stratum.Client.Contracts;
using Stratum.Core;
using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Persistence;
using Stratum.Server.Api;
using Stratum.Server.Auth;
using Stratum.Server.Control;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Stratum.Server.Apply;

/// <summary>infra.yaml as written by people: pools, nodes, projects and users.</summary>
public sealed class InfraDocument
{
    public List<PoolEntry> Pools { get; set; } = [];

    public List<NodeEntry> Nodes { get; set; } = [];

    public List<ProjectEntry> Projects { get; set; } = [];

    public List<UserEntry> Users { get; set; } = [];

    public sealed class PoolEntry
    {
        public string? Name { get; set; }

        public string? Kind { get; set; }

        public PriceEntry? Price { get; set; }

        public string? Executor { get; set; }
    }

    public sealed class PriceEntry
    {
        public string? Model { get; set; }

        public decimal? GpuHour { get; set; }

        public decimal? CpuCoreHour { get; set; }

        public decimal? MemoryGbHour { get; set; }

        public string? Currency { get; set; }
    }

    public sealed class NodeEntry
    {
        public string? Name { get; set; }

        public string? Pool { get; set; }

        public string? Cpu { get; set; }

        public string? Memory { get; set; }

        public Dictionary<string, int>? Accelerators { get; set; }

        public Dictionary<string, string>? Labels { get; set; }

        public string? State { get; set; }
    }

    public sealed class ProjectEntry
    {
        public string? Name { get; set; }

        public string? Description { get; set; }

        public QuotaEntry? Quota { get; set; }

        public BudgetEntry? Budget { get; set; }
    }

    public sealed class BudgetEntry
    {
        public decimal? Monthly { get; set; }

        public string? Currency { get; set; }

        public List<decimal>? Thresholds { get; set; }
    }

    public sealed class QuotaEntry
    {
        public string? Cpu { get; set; }

        public string? Memory { get; set; }

        public int? Gpus { get; set; }

        public Dictionary<string, int>? Accelerators { get; set; }

        public string? Cohort { get; set; }

        public QuotaEntry? BorrowingLimit { get; set; }

        public QuotaEntry? LendingLimit { get; set; }

        public QuotaDto ToDto() => new()
        {
            Cpu = Cpu,
            Memory = Memory,
            Gpus = Gpus,
            Accelerators = Accelerators,
            Cohort = Cohort,
            BorrowingLimit = BorrowingLimit?.ToDto(),
            LendingLimit = LendingLimit?.ToDto(),
        };
    }

    public sealed class UserEntry
    {
        public string? Name { get; set; }

        public bool? Admin { get; set; }

        public Dictionary<string, string>? Roles { get; set; }
    }
}

/// <summary>
/// POST /api/v1/apply: declarative, idempotent configuration. The whole document is validated before
/// anything is written, so a bad document changes nothing; the answer lists each object as created,
/// updated (with what differs) or unchanged.
/// </summary>
public static class ApplyApi
{
    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(CamelCaseNamingConvention.Instance)
        .Build();

    private static readonly JsonSerializerOptions Compare = new(JsonSerializerDefaults.Web);

    public static void MapApply(this IEndpointRouteBuilder routes) =>
        routes.MapPost("/api/v1/apply", ApplyAsync).WithTags("Apply").WithName("Apply");

    private static async Task<IResult> ApplyAsync(
        HttpContext context, IMetadataStore store, ClusterCache cache, TokenAuthenticator authenticator, ControllerSignal signal, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = context.Caller();
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("only admins apply infrastructure documents");
        }

        var (request, error) = await Json.ReadAsync<ApplyRequest>(context.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        InfraDocument document;
        try
        {
            document = Yaml.Deserialize<InfraDocument?>(request!.Document ?? "") ?? new InfraDocument();
        }
        catch (YamlException e)
        {
            var message = e.InnerException?.Message ?? e.Message;
            return Problems.Validation("document", $"line {e.Start.Line}, column {e.Start.Column}: {message}");
        }

        var now = time.GetUtcNow();
        var plan = await PlanAsync(document, BudgetModel.LineFinder(request.Document ?? ""), store, now, cancellationToken);
        if (plan.Errors.Count > 0)
        {
            return Problems.Validation(plan.Errors);
        }

        if (!request.DryRun)
        {
            foreach (var change in plan.Changes.Where(c => c.Change.Action != "unchanged"))
            {
                var audit = caller.Audit(now, $"{change.Change.Kind}.{change.Change.Action}", $"{change.Change.Kind}/{change.Change.Name}", $"apply: {change.Change.Detail}");
                await change.Write(audit, cancellationToken);
            }

            cache.Invalidate();
            authenticator.Invalidate();
            signal.Wake();
        }

        return Results.Ok(new ApplyResultDto(request.DryRun, plan.Changes.Select(c => c.Change).ToList()));
    }

    private sealed record PlannedChange(ApplyChangeDto Change, Func<AuditRecord, CancellationToken, Task> Write);

    private sealed record Plan(List<PlannedChange> Changes, List<ValidationError> Errors);

    private static async Task<Plan> PlanAsync(InfraDocument document, Func<string, int?> lineOf, IMetadataStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var changes = new List<PlannedChange>();
        var errors = new List<ValidationError>();
        var pools = (await store.Cluster.ListPoolsAsync(cancellationToken)).ToList();
        var nodes = await store.Cluster.ListNodesAsync(cancellationToken);
        var projects = await store.Cluster.ListProjectsAsync(cancellationToken);
        var users = await store.Access.ListUsersAsync(cancellationToken);

        CheckUnique(document.Pools.Select(p => p.Name), "pools", errors);
        CheckUnique(document.Nodes.Select(n => n.Name), "nodes", errors);
        CheckUnique(document.Projects.Select(p => p.Name), "projects", errors);
        CheckUnique(document.Users.Select(u => u.Name), "users", errors);

        var knownPools = pools.ToList();
        for (var i = 0; i < document.Pools.Count; i++)
        {
            var entry = document.Pools[i];
            var name = entry.Name ?? "";
            var existing = pools.FirstOrDefault(p => p.Name == name);
            var dto = new PoolDto
            {
                Kind = entry.Kind,
                Executor = entry.Executor,
                Price = entry.Price is null ? null : new PriceDto
                {
                    Model = entry.Price.Model,
                    GpuHour = entry.Price.GpuHour,
                    CpuCoreHour = entry.Price.CpuCoreHour,
                    MemoryGbHour = entry.Price.MemoryGbHour,
                    Currency = entry.Price.Currency,
                },
            };
            var (pool, problems) = InfraModel.ToPool(name, dto, existing, $"pools[{i}]", now);
            errors.AddRange(problems);
            if (pool is not null)
            {
                knownPools.RemoveAll(p => p.Name == pool.Name);
                knownPools.Add(pool);
                changes.Add(Change("pool", name, existing?.ToDto(), pool.ToDto(), (audit, ct) => store.Cluster.UpsertPoolAsync(pool, audit, ct)));
            }
        }

        var knownProjects = projects.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < document.Projects.Count; i++)
        {
            var entry = document.Projects[i];
            var name = entry.Name ?? "";
            if (Names.Problem(name) is { } problem)
            {
                errors.Add(new($"projects[{i}].name", problem));
                continue;
            }

            var quotaDto = entry.Quota?.ToDto() ?? new QuotaDto();
            var quota = quotaDto.ToQuota($"projects[{i}].quota", errors);
            var budget = entry.Budget is { } budgetEntry ? BudgetModel.ToBudget(budgetEntry, $"projects[{i}].budget", lineOf, errors) : null;
            var existing = projects.FirstOrDefault(p => p.Name == name);
            var project = new Project { Name = name, Description = entry.Description, Quota = quota, Budget = budget, CreatedAt = existing?.CreatedAt ?? now };
            knownProjects.Add(name);
            changes.Add(Change("project", name, existing is null ? null : Comparable(existing), Comparable(project), (audit, ct) => store.Cluster.UpsertProjectAsync(project, audit, ct)));
        }

        for (var i = 0; i < document.Nodes.Count; i++)
        {
            var entry = document.Nodes[i];
            var name = entry.Name ?? "";
            var existing = nodes.FirstOrDefault(n => n.Name == name);
            var dto = new NodeSpecDto { Pool = entry.Pool, Cpu = entry.Cpu, Memory = entry.Memory, Accelerators = entry.Accelerators, Labels = entry.Labels, State = entry.State };
            var (node, problems) = InfraModel.ToNode(name, dto, existing, knownPools, $"nodes[{i}]", now);
            errors.AddRange(problems);
            if (node is not null)
            {
                changes.Add(Change("node", name, existing is null ? null : Comparable(existing), Comparable(node), (audit, ct) => store.Cluster.UpsertNodeAsync(node, audit, ct)));
            }
        }

        for (var i = 0; i < document.Users.Count; i++)
        {
            var entry = document.Users[i];
            var name = entry.Name ?? "";
            if (Names.Problem(name) is { } problem)
            {
                errors.Add(new($"users[{i}].name", problem));
                continue;
            }

            var roles = new Dictionary<string, ProjectRole>(StringComparer.Ordinal);
            foreach (var (project, roleText) in entry.Roles ?? [])
            {
                if (!knownProjects.Contains(project))
                {
                    errors.Add(new($"users[{i}].roles.{project}", $"no project named '{project}'; declare it under 'projects'"));
                }
                else if (Mapping.ParseRole(roleText) is { } role)
                {
                    roles[project] = role;
                }
                else
                {
                    errors.Add(new($"users[{i}].roles.{project}", $"'{roleText}' is not a role; use owner, member or viewer"));
                }
            }

            var existing = users.FirstOrDefault(u => u.Name == name);
            var user = new User { Name = name, IsAdmin = entry.Admin ?? false, Roles = roles, CreatedAt = existing?.CreatedAt ?? now };
            changes.Add(Change("user", name, existing?.ToDto(), user.ToDto(), (audit, ct) => store.Access.UpsertUserAsync(user, audit, ct)));
        }

        return new Plan(changes, errors);
    }

    private static object Comparable(Project project) => new
    {
        project.Description,
        Quota = project.Quota.ToDto(),
        Budget = project.Budget is { } budget ? new { budget.Monthly, budget.Currency, budget.Thresholds } : null,
    };

    private static object Comparable(Node node) => new
    {
        node.Pool,
        Cpu = node.Capacity.CpuMillis,
        Memory = node.Capacity.MemoryBytes,
        Accelerators = node.Capacity.Accelerators,
        Labels = node.Labels.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList(),
        State = node.State.ToString(),
    };

    private static PlannedChange Change(string kind, string name, object? before, object after, Func<AuditRecord, CancellationToken, Task> write)
    {
        if (before is null)
        {
            return new(new ApplyChangeDto(kind, name, "create", null), write);
        }

        var old = JsonSerializer.SerializeToElement(before, Compare);
        var updated = JsonSerializer.SerializeToElement(after, Compare);
        var differences = updated.EnumerateObject()
            .Where(p => !old.TryGetProperty(p.Name, out var was) || was.GetRawText() != p.Value.GetRawText())
            .Select(p => old.TryGetProperty(p.Name, out var was) ? $"{p.Name}: {was.GetRawText()} -> {p.Value.GetRawText()}" : $"{p.Name}: {p.Value.GetRawText()}")
            .ToList();
        return differences.Count == 0
            ? new(new ApplyChangeDto(kind, name, "unchanged", null), write)
            : new(new ApplyChangeDto(kind, name, "update", string.Join("; ", differences)), write);
    }

    private static void CheckUnique(IEnumerable<string?> names, string section, List<ValidationError> errors)
    {
        foreach (var duplicate in names.Where(n => n is not null).GroupBy(n => n).Where(g => g.Count() > 1))
        {
            errors.Add(new(section, $"'{duplicate.Key}' is declared more than once"));
        }
    }
}
