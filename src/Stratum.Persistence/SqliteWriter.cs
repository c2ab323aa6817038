using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Stratum.Core.Access;

namespace Stratum.Persistence;

/// <summary>
/// The one writer of a SQLite database, with group commit. Callers queue operations; a dedicated
/// thread drains up to <see cref="MaxBatch"/> of them into one transaction, runs each inside its own
/// savepoint (so one caller's failure or rollback does not undo the others), commits once, and only then
/// completes every caller's task. With synchronous=FULL a commit costs an fsync of the WAL; sharing it
/// among a batch is what lets submissions outrun the disk's fsync rate. SQLite never sees two writers.
/// </summary>
internal sealed class SqliteWriter : IAsyncDisposable
{
    /// <summary>Enough to amortise one fsync well; small enough that one transaction stays short.</summary>
    public const int MaxBatch = 256;

    private static readonly Meter Meter = new("Stratum.Persistence");
    private static readonly Counter<long> Commits = Meter.CreateCounter<long>("stratum.persistence.sqlite.commits", "{commit}", "Write transactions committed");
    private static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("stratum.persistence.sqlite.batch_size", "{operation}", "Operations committed together");

    private readonly Channel<WriteOperation> _queue = Channel.CreateUnbounded<WriteOperation>(
        new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });

    private readonly SqliteConnection _connection;
    private readonly WriteContext _context;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _commitCount;

    public SqliteWriter(SqliteConnection connection)
    {
        _connection = connection;
        _context = new WriteContext(connection);
        _thread = new Thread(Run) { IsBackground = true, Name = "stratum-sqlite-writer" };
        _thread.Start();
    }

    /// <summary>Transactions committed so far; tests use it to see that commits were shared.</summary>
    public long CommitCount => Interlocked.Read(ref _commitCount);

    /// <summary>
    /// Queues <paramref name="work"/>, which runs on the writer thread inside a transaction; the task
    /// completes with its result once that transaction has committed, or faults with its own exception
    /// (or the commit's). Cancellation is honoured until the operation starts.
    /// </summary>
    public Task<T> EnqueueAsync<T>(Func<WriteContext, T> work, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var operation = new WriteOperation<T>(work, cancellationToken);
        if (!_queue.Writer.TryWrite(operation))
        {
            throw new ObjectDisposedException(nameof(SqliteMetadataStore));
        }

        return operation.Task;
    }

    public async ValueTask DisposeAsync()
    {
        // Already queued work still runs and commits: a caller that was told nothing is not left hanging.
        if (_queue.Writer.TryComplete())
        {
            await _stopped.Task.ConfigureAwait(false);
            _context.Dispose();
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Run()
    {
        var batch = new List<WriteOperation>(MaxBatch);
        var reader = _queue.Reader;
        try
        {
            // A dedicated thread blocks here instead of a pool thread blocking in fsync under load.
            while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                while (batch.Count < MaxBatch && reader.TryRead(out var operation))
                {
                    if (operation.CancellationToken.IsCancellationRequested)
                    {
                        operation.Cancel();
                    }
                    else
                    {
                        batch.Add(operation);
                    }
                }

                if (batch.Count > 0)
                {
                    ExecuteBatch(batch);
                    batch.Clear();
                }
            }
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    private void ExecuteBatch(List<WriteOperation> batch)
    {
        SqliteTransaction? transaction = null;
        try
        {
            // deferred: false is BEGIN IMMEDIATE: take the write lock now, so a second process that
            // writes the same file waits in busy_timeout instead of failing halfway through.
            transaction = _connection.BeginTransaction(deferred: false);
            _context.Transaction = transaction;
            foreach (var operation in batch)
            {
                // SqliteTransaction.Save/Release would parse a new statement each time; these are prepared once.
                _context.Command("SAVEPOINT op").ExecuteNonQuery();
                _context.Discard = false;
                operation.Execute(_context);
                if (operation.Failed || _context.Discard)
                {
                    _context.Command("ROLLBACK TO SAVEPOINT op").ExecuteNonQuery();
                }

                _context.Command("RELEASE SAVEPOINT op").ExecuteNonQuery();
            }

            transaction.Commit();
        }
        catch (Exception exception)
        {
            // The transaction as a whole is lost (disk full, I/O error, a savepoint that SQLite already
            // rolled back): nothing in it was committed, so every caller hears about it.
            TryRollback(transaction);
            foreach (var operation in batch)
            {
                operation.Fail(exception);
            }

            return;
        }
        finally
        {
            _context.Transaction = null;
            transaction?.Dispose();
        }

        Interlocked.Increment(ref _commitCount);
        Commits.Add(1);
        BatchSize.Record(batch.Count);
        foreach (var operation in batch)
        {
            operation.Complete();
        }
    }

    private static void TryRollback(SqliteTransaction? transaction)
    {
        try
        {
            transaction?.Rollback();
        }
        catch (SqliteException)
        {
            // SQLite rolls back by itself after some errors; there is nothing left to undo.
        }
        catch (InvalidOperationException)
        {
            // Already completed or never begun.
        }
    }

    private abstract class WriteOperation(CancellationToken cancellationToken)
    {
        public CancellationToken CancellationToken { get; } = cancellationToken;

        public abstract bool Failed { get; }

        public abstract void Execute(WriteContext context);

        public abstract void Complete();

        public abstract void Fail(Exception batchException);

        public abstract void Cancel();
    }

    private sealed class WriteOperation<T>(Func<WriteContext, T> work, CancellationToken cancellationToken) : WriteOperation(cancellationToken)
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;
        private Exception? _error;

        public Task<T> Task => _completion.Task;

        public override bool Failed => _error is not null;

        public override void Execute(WriteContext context)
        {
            try
            {
                _result = work(context);
            }
            catch (Exception exception)
            {
                // Whatever the operation threw belongs to its caller, not to the writer thread; its
                // savepoint is rolled back and the rest of the batch goes on.
                _error = exception;
            }
        }

        public override void Complete()
        {
            if (_error is null)
            {
                _completion.TrySetResult(_result!);
            }
            else
            {
                _completion.TrySetException(_error);
            }
        }

        public override void Fail(Exception batchException) => _completion.TrySetException(_error ?? batchException);

        public override void Cancel() => _completion.TrySetCanceled(CancellationToken);
    }
}

/// <summary>What an operation on the writer thread gets: the connection, the open transaction, cached commands.</summary>
internal sealed class WriteContext(SqliteConnection connection) : IDisposable
{
    private const string InsertAuditSql =
        "INSERT INTO audit (at, actor, action, target, detail, remote_address) VALUES (@at, @actor, @action, @target, @detail, @remote_address)";

    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    public SqliteConnection Connection { get; } = connection;

    public SqliteTransaction? Transaction { get; set; }

    /// <summary>Set by an operation that decided to change nothing after all: its savepoint is rolled back.</summary>
    public bool Discard { get; set; }

    /// <summary>
    /// A command for <paramref name="sql"/>, reused across calls so SQLite keeps its prepared statement
    /// (the submit path runs the same three statements thousands of times a second).
    /// </summary>
    public SqliteCommand Command(string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = Connection.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }

        command.Parameters.Clear();
        command.Transaction = Transaction;
        return command;
    }

    public void Audit(AuditRecord? record)
    {
        if (record is null)
        {
            return;
        }

        var command = Command(InsertAuditSql);
        command.Add("@at", PersistenceJson.ToMillis(record.At));
        command.Add("@actor", record.Actor);
        command.Add("@action", record.Action);
        command.Add("@target", record.Target);
        command.Add("@detail", record.Detail);
        command.Add("@remote_address", record.RemoteAddress);
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
    }
}

internal static class SqliteCommandExtensions
{
    public static SqliteCommand Add(this SqliteCommand command, string name, object? value)
    {
        command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    public static string? GetNullableString(this SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static long? GetNullableInt64(this SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);
}
