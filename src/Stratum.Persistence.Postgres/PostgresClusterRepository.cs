using Npgsql;
using Stratum.Core.Access;
using Stratum.Core.Cluster;

namespace Stratum.Persistence.Postgres;

internal sealed class PostgresClusterRepository(PostgresMetadataStore store) : IClusterRepository
{
    private const string PoolColumns = "name, kind, executor, price, created_at";
    private const string NodeColumns = "name, pool, state, state_reason, capacity, allocatable, labels, accelerators, updated_at";
    private const string ProjectColumns = "name, description, quota, created_at";

    public async Task<IReadOnlyList<Pool>> ListPoolsAsync(CancellationToken cancellationToken = default) =>
        await store.ReadAsync($"SELECT {PoolColumns} FROM pools ORDER BY name", null, ReadPool, cancellationToken).ConfigureAwait(false);

    public Task UpsertPoolAsync(Pool pool, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pool);
        var price = PersistenceJson.WritePrice(pool.Price);
        return WriteWithAuditAsync(
            store,
            """
            INSERT INTO pools (name, kind, executor, price, created_at) VALUES (@name, @kind, @executor, @price, @created_at)
            ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, executor = excluded.executor, price = excluded.price
            """,
            p => p.Text("@name", pool.Name)
                .Text("@kind", pool.Kind.ToString())
                .Text("@executor", pool.Executor)
                .Text("@price", price)
                .Int64("@created_at", PersistenceJson.ToMillis(pool.CreatedAt)),
            audit,
            cancellationToken);
    }

    public async Task<IReadOnlyList<Node>> ListNodesAsync(CancellationToken cancellationToken = default) =>
        await store.ReadAsync($"SELECT {NodeColumns} FROM nodes ORDER BY name", null, ReadNode, cancellationToken).ConfigureAwait(false);

    public async Task<Node?> GetNodeAsync(string name, CancellationToken cancellationToken = default) =>
        (await store.ReadAsync($"SELECT {NodeColumns} FROM nodes WHERE name = @name", p => p.Text("@name", name), ReadNode, cancellationToken).ConfigureAwait(false))
            .FirstOrDefault();

    public Task UpsertNodeAsync(Node node, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        var capacity = PersistenceJson.WriteResources(node.Capacity);
        var allocatable = PersistenceJson.WriteResources(node.Allocatable);
        var labels = PersistenceJson.WriteLabels(node.Labels);
        var accelerators = PersistenceJson.WriteDevices(node.Accelerators);
        return WriteWithAuditAsync(
            store,
            """
            INSERT INTO nodes (name, pool, state, state_reason, capacity, allocatable, labels, accelerators, updated_at)
            VALUES (@name, @pool, @state, @state_reason, @capacity, @allocatable, @labels, @accelerators, @updated_at)
            ON CONFLICT (name) DO UPDATE SET pool = excluded.pool, state = excluded.state, state_reason = excluded.state_reason,
                capacity = excluded.capacity, allocatable = excluded.allocatable, labels = excluded.labels,
                accelerators = excluded.accelerators, updated_at = excluded.updated_at
            """,
            p => p.Text("@name", node.Name)
                .Text("@pool", node.Pool)
                .Text("@state", node.State.ToString())
                .Text("@state_reason", node.StateReason)
                .Text("@capacity", capacity)
                .Text("@allocatable", allocatable)
                .Text("@labels", labels)
                .Text("@accelerators", accelerators)
                .Int64("@updated_at", PersistenceJson.ToMillis(node.UpdatedAt)),
            audit,
            cancellationToken);
    }

    public Task<bool> DeleteNodeAsync(string name, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        return store.WriteAsync(async context =>
        {
            var deleted = await context.ExecuteAsync("DELETE FROM nodes WHERE name = @name", p => p.Text("@name", name)).ConfigureAwait(false) > 0;
            if (deleted)
            {
                await context.AuditAsync(audit).ConfigureAwait(false);
            }

            return deleted;
        }, cancellationToken);
    }

    public async Task<IReadOnlyList<Project>> ListProjectsAsync(CancellationToken cancellationToken = default) =>
        await store.ReadAsync($"SELECT {ProjectColumns} FROM projects ORDER BY name", null, ReadProject, cancellationToken).ConfigureAwait(false);

    public async Task<Project?> GetProjectAsync(string name, CancellationToken cancellationToken = default) =>
        (await store.ReadAsync($"SELECT {ProjectColumns} FROM projects WHERE name = @name", p => p.Text("@name", name), ReadProject, cancellationToken).ConfigureAwait(false))
            .FirstOrDefault();

    public Task UpsertProjectAsync(Project project, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(project);
        var quota = PersistenceJson.WriteQuota(project.Quota, project.Budget);
        return WriteWithAuditAsync(
            store,
            """
            INSERT INTO projects (name, description, quota, created_at) VALUES (@name, @description, @quota, @created_at)
            ON CONFLICT (name) DO UPDATE SET description = excluded.description, quota = excluded.quota
            """,
            p => p.Text("@name", project.Name)
                .Text("@description", project.Description)
                .Text("@quota", quota)
                .Int64("@created_at", PersistenceJson.ToMillis(project.CreatedAt)),
            audit,
            cancellationToken);
    }

    /// <summary>One statement and its audit record, in one transaction.</summary>
    internal static Task WriteWithAuditAsync(PostgresMetadataStore store, string sql, Action<NpgsqlParameterCollection> bind, AuditRecord? audit, CancellationToken cancellationToken) =>
        store.WriteAsync(async context =>
        {
            await context.ExecuteAsync(sql, bind).ConfigureAwait(false);
            await context.AuditAsync(audit).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    private static Pool ReadPool(NpgsqlDataReader reader) => new()
    {
        Name = reader.GetString(0),
        Kind = Enum.Parse<PoolKind>(reader.GetString(1)),
        Executor = reader.GetString(2),
        Price = PersistenceJson.ReadPrice(reader.GetString(3)),
        CreatedAt = PersistenceJson.FromMillis(reader.GetInt64(4)),
    };

    private static Node ReadNode(NpgsqlDataReader reader) => new()
    {
        Name = reader.GetString(0),
        Pool = reader.GetString(1),
        State = Enum.Parse<NodeState>(reader.GetString(2)),
        StateReason = reader.GetNullableString(3),
        Capacity = PersistenceJson.ReadResources(reader.GetString(4)),
        Allocatable = PersistenceJson.ReadResources(reader.GetString(5)),
        Labels = PersistenceJson.ReadLabels(reader.GetString(6)),
        Accelerators = PersistenceJson.ReadDevices(reader.GetString(7)),
        UpdatedAt = PersistenceJson.FromMillis(reader.GetInt64(8)),
    };

    private static Project ReadProject(NpgsqlDataReader reader) => new()
    {
        Name = reader.GetString(0),
        Description = reader.GetNullableString(1),
        Quota = PersistenceJson.ReadQuota(reader.GetString(2)),
        Budget = PersistenceJson.ReadBudget(reader.GetString(2)),
        CreatedAt = PersistenceJson.FromMillis(reader.GetInt64(3)),
    };
}
