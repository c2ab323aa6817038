using Stratum.Persistence;
using Stratum.Persistence.Postgres;

namespace Stratum.Server.Hosting;

/// <summary>
/// Opens the metadata store at start. SQLite opens or fails at once. PostgreSQL may simply not be up
/// yet (the machine is booting, the database restarts): then the server says so, answers 503 on
/// <c>/readyz</c> while it waits, and retries with exponential backoff (1 s doubling to 30 s) for up to
/// <see cref="ServerOptions.DatabaseWaitLimit"/>. Mistakes that waiting cannot fix (wrong password,
/// missing database, bad URL) fail at once.
/// </summary>
internal static partial class StoreStartup
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LongestDelay = TimeSpan.FromSeconds(30);

    public static async Task<IMetadataStore> OpenAsync(ServerOptions options, string dataDirectory, TimeProvider time, CancellationToken cancellationToken)
    {
        var setting = options.EffectiveDatabase;
        if (ServerOptions.SqlitePath(setting, dataDirectory) is { } sqlite)
        {
            return await SqliteMetadataStore.OpenAsync(sqlite, time, cancellationToken);
        }

        // Not SQLite, so the setting names something.
        var database = setting!;
        if (ServerOptions.DatabaseKind(database) != "postgres")
        {
            throw new InvalidOperationException($"database: {ServerOptions.DatabaseFormat}");
        }

        var where = PostgresConnectionString.Where(database);
        StartupStatusListener? status = null;
        ILoggerFactory? loggers = null;
        try
        {
            var delay = FirstDelay;
            var started = time.GetTimestamp();
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return await PostgresMetadataStore.OpenAsync(database, time, cancellationToken);
                }
                catch (Exception e) when (PostgresMetadataStore.IsTransient(e) && !cancellationToken.IsCancellationRequested)
                {
                    var waited = time.GetElapsedTime(started);
                    if (options.DatabaseWaitLimit > TimeSpan.Zero && waited + delay > options.DatabaseWaitLimit)
                    {
                        throw new InvalidOperationException(
                            $"PostgreSQL at {where} did not answer for {waited.TotalSeconds:0} s ({e.Message}); check that it runs and accepts connections from this machine, or raise databaseWaitLimit", e);
                    }

                    loggers ??= LoggerFactory.Create(logging => logging.AddSimpleConsole(console => console.SingleLine = true).SetMinimumLevel(LogLevel.Information));
                    var reason = $"waiting for PostgreSQL at {where} (attempt {attempt}: {e.Message})";
                    LogWaiting(loggers.CreateLogger("Stratum.Server"), where, attempt, e.Message, delay.TotalSeconds);
                    status ??= await StartupStatusListener.StartAsync(options, cancellationToken);
                    status?.Reason = reason;
                    await Task.Delay(delay, time, cancellationToken);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LongestDelay.Ticks));
                }
            }
        }
        finally
        {
            if (status is not null)
            {
                await status.DisposeAsync();
            }

            loggers?.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "PostgreSQL at {Where} does not answer (attempt {Attempt}: {Error}); /readyz says not ready; retrying in {Seconds} s")]
    private static partial void LogWaiting(ILogger logger, string where, int attempt, string error, double seconds);
}
