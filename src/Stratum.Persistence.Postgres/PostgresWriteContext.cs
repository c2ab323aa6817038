using Npgsql;
using NpgsqlTypes;
using Stratum.Core.Access;

namespace Stratum.Persistence.Postgres;

/// <summary>What a write gets: its connection and open transaction, and a way to decide to write nothing.</summary>
internal sealed class PostgresWriteContext(NpgsqlConnection connection, NpgsqlTransaction transaction)
{
    public const string InsertAuditSql =
        "INSERT INTO audit (at, actor, action, target, detail, remote_address) VALUES (@at, @actor, @action, @target, @detail, @remote_address)";

    public NpgsqlConnection Connection { get; } = connection;

    public NpgsqlTransaction Transaction { get; } = transaction;

    /// <summary>Set by a write that decided to change nothing after all: its transaction is rolled back.</summary>
    public bool Discard { get; set; }

    public NpgsqlCommand Command(string sql) => new(sql, Connection, Transaction);

    /// <summary>Runs one statement and returns the rows it changed.</summary>
    public async Task<int> ExecuteAsync(string sql, Action<NpgsqlParameterCollection>? bind)
    {
        var command = Command(sql);
        await using (command.ConfigureAwait(false))
        {
            bind?.Invoke(command.Parameters);
            return await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
    }

    public async Task AuditAsync(AuditRecord? record)
    {
        if (record is not null)
        {
            await ExecuteAsync(InsertAuditSql, p => p.Audit(record)).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// Parameters with explicit PostgreSQL types: a null would otherwise go out untyped, which PostgreSQL
/// cannot always resolve (inside a CTE, in a function call).
/// </summary>
internal static class NpgsqlParameterExtensions
{
    public static NpgsqlParameterCollection Text(this NpgsqlParameterCollection parameters, string name, string? value) =>
        parameters.Typed(name, NpgsqlDbType.Text, value);

    public static NpgsqlParameterCollection Int64(this NpgsqlParameterCollection parameters, string name, long? value) =>
        parameters.Typed(name, NpgsqlDbType.Bigint, value);

    public static NpgsqlParameterCollection Int32(this NpgsqlParameterCollection parameters, string name, int? value) =>
        parameters.Typed(name, NpgsqlDbType.Integer, value);

    public static NpgsqlParameterCollection Boolean(this NpgsqlParameterCollection parameters, string name, bool value) =>
        parameters.Typed(name, NpgsqlDbType.Boolean, value);

    public static NpgsqlParameterCollection TextArray(this NpgsqlParameterCollection parameters, string name, string[] values) =>
        parameters.Typed(name, NpgsqlDbType.Array | NpgsqlDbType.Text, values);

    /// <summary>The parameters of <see cref="PostgresWriteContext.InsertAuditSql"/>.</summary>
    public static NpgsqlParameterCollection Audit(this NpgsqlParameterCollection parameters, AuditRecord record) => parameters
        .Int64("@at", PersistenceJson.ToMillis(record.At))
        .Text("@actor", record.Actor)
        .Text("@action", record.Action)
        .Text("@target", record.Target)
        .Text("@detail", record.Detail)
        .Text("@remote_address", record.RemoteAddress);

    public static string? GetNullableString(this NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static long? GetNullableInt64(this NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);

    private static NpgsqlParameterCollection Typed(this NpgsqlParameterCollection parameters, string name, NpgsqlDbType type, object? value)
    {
        parameters.Add(new NpgsqlParameter(name, type) { Value = value ?? DBNull.Value });
        return parameters;
    }
}
