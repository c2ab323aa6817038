using Microsoft.Data.Sqlite;
using Stratum.Core.Access;
using Stratum.Core.Cluster;

namespace Stratum.Persistence;

internal sealed class SqliteClusterRepository(SqliteMetadataStore store) : IClusterRepository
{
    private const string PoolColumns = "name, kind, executor, price, created_at";
    private const string NodeColumns = "name, pool, state, state_reason, capacity, allocatable, labels, accelerators, updated_at";
    private const string ProjectColumns = "name, description, quota, created_at";

    public Task<IReadOnlyList<Pool>> ListPoolsAsync(CancellationToken cancellationToken = default) =>
        store.ReadAsync(connection => ReadAll(connection, $"SELECT {PoolColumns} FROM pools ORDER BY name", ReadPool), cancellationToken);

    public Task UpsertPoolAsync(Pool pool, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pool);
        var price = PersistenceJson.WritePrice(pool.Price);
        return store.Writer.EnqueueAsync(context =>
        {
            context.Command("""
                INSERT INTO pools (name, kind, executor, price, created_at) VALUES (@name, @kind, @executor, @price, @created_at)
                ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, executor = excluded.executor, price = excluded.price
                """)
                .Add("@name", pool.Name)
                .Add("@kind", pool.Kind.ToString())
                .Add("@executor", pool.Executor)
                .Add("@price", price)
                .Add("@created_at", PersistenceJson.ToMillis(pool.CreatedAt))
                .ExecuteNonQuery();
            context.Audit(audit);
            return true;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<Node>> ListNodesAsync(CancellationToken cancellationToken = default) =>
        store.ReadAsync(connection => ReadAll(connection, $"SELECT {NodeColumns} FROM nodes ORDER BY name", ReadNode), cancellationToken);

    public Task<Node?> GetNodeAsync(string name, CancellationToken cancellationToken = default) =>
        store.ReadAsync(connection => ReadOne(connection, $"SELECT {NodeColumns} FROM nodes WHERE name = @name", name, ReadNode), cancellationToken);

    public Task UpsertNodeAsync(Node node, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        var capacity = PersistenceJson.WriteResources(node.Capacity);
        var allocatable = PersistenceJson.WriteResources(node.Allocatable);
        var labels = PersistenceJson.WriteLabels(node.Labels);
        var accelerators = PersistenceJson.WriteDevices(node.Accelerators);
        return store.Writer.EnqueueAsync(context =>
        {
            context.Command("""
                INSERT INTO nodes (name, pool, state, state_reason, capacity, allocatable, labels, accelerators, updated_at)
                VALUES (@name, @pool, @state, @state_reason, @capacity, @allocatable, @labels, @accelerators, @updated_at)
                ON CONFLICT (name) DO UPDATE SET pool = excluded.pool, state = excluded.state, state_reason = excluded.state_reason,
                    capacity = excluded.capacity, allocatable = excluded.allocatable, labels = excluded.labels,
                    accelerators = excluded.accelerators, updated_at = excluded.updated_at
                """)
                .Add("@name", node.Name)
                .Add("@pool", node.Pool)
                .Add("@state", node.State.ToString())
                .Add("@state_reason", node.StateReason)
                .Add("@capacity", capacity)
                .Add("@allocatable", allocatable)
                .Add("@labels", labels)
                .Add("@accelerators", accelerators)
                .Add("@updated_at", PersistenceJson.ToMillis(node.UpdatedAt))
                .ExecuteNonQuery();
            context.Audit(audit);
            return true;
        }, cancellationToken);
    }

    public Task<bool> DeleteNodeAsync(string name, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        return store.Writer.EnqueueAsync(context =>
        {
            var deleted = context.Command("DELETE FROM nodes WHERE name = @name").Add("@name", name).ExecuteNonQuery() > 0;
            if (deleted)
            {
                context.Audit(audit);
            }

            return deleted;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<Project>> ListProjectsAsync(CancellationToken cancellationToken = default) =>
        store.ReadAsync(connection => ReadAll(connection, $"SELECT {ProjectColumns} FROM projects ORDER BY name", ReadProject), cancellationToken);

    public Task<Project?> GetProjectAsync(string name, CancellationToken cancellationToken = default) =>
        store.ReadAsync(connection => ReadOne(connection, $"SELECT {ProjectColumns} FROM projects WHERE name = @name", name, ReadProject), cancellationToken);

    public Task UpsertProjectAsync(Project project, AuditRecord? audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(project);
        var quota = PersistenceJson.WriteQuota(project.Quota, project.Budget);
        return store.Writer.EnqueueAsync(context =>
        {
            context.Command("""
                INSERT INTO projects (name, description, quota, created_at) VALUES (@name, @description, @quota, @created_at)
                ON CONFLICT (name) DO UPDATE SET description = excluded.description, quota = excluded.quota
                """)
                .Add("@name", project.Name)
                .Add("@description", project.Description)
                .Add("@quota", quota)
                .Add("@created_at", PersistenceJson.ToMillis(project.CreatedAt))
                .ExecuteNonQuery();
            context.Audit(audit);
            return true;
        }, cancellationToken);
    }

    internal static IReadOnlyList<T> ReadAll<T>(SqliteConnection connection, string sql, Func<SqliteDataReader, T> read)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var result = new List<T>();
        while (reader.Read())
        {
            result.Add(read(reader));
        }

        return result;
    }

    internal static T? ReadOne<T>(SqliteConnection connection, string sql, string name, Func<SqliteDataReader, T> read)
        where T : class
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Add("@name", name);
        using var reader = command.ExecuteReader();
        return reader.Read() ? read(reader) : null;
    }

    private static Pool ReadPool(SqliteDataReader reader) => new()
    {
        Name = reader.GetString(0),
        Kind = Enum.Parse<PoolKind>(reader.GetString(1)),
        Executor = reader.GetString(2),
        Price = PersistenceJson.ReadPrice(reader.GetString(3)),
        CreatedAt = PersistenceJson.FromMillis(reader.GetInt64(4)),
    };

    private static Node ReadNode(SqliteDataReader reader) => new()
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

    private static Project ReadProject(SqliteDataReader reader) => new()
    {
        Name = reader.GetString(0),
        Description = reader.GetNullableString(1),
        Quota = PersistenceJson.ReadQuota(reader.GetString(2)),
        Budget = PersistenceJson.ReadBudget(reader.GetString(2)),
        CreatedAt = PersistenceJson.FromMillis(reader.GetInt64(3)),
    };
}
