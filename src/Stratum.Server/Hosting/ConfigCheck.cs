using System.Net;
using System.Net.Sockets;
using Stratum.Persistence.Postgres;

namespace Stratum.Server.Hosting;

/// <summary>One finding of <see cref="ConfigCheck"/>: what was checked, whether it passed, and what was seen.</summary>
public sealed record ConfigCheckFinding(string Check, ConfigCheckOutcome Outcome, string Detail);

public enum ConfigCheckOutcome
{
    Ok,

    /// <summary>Worth knowing, but the server would start (the port is taken by a server already running, say).</summary>
    Warning,

    /// <summary>The server would not start, or would start wrongly.</summary>
    Failed,
}

/// <summary>
/// <c>stratum server --check-config</c>: everything a start would trip over, found without starting
/// and without changing anything (no migration, no lock kept, no file left behind).
/// </summary>
public static class ConfigCheck
{
    public static async Task<IReadOnlyList<ConfigCheckFinding>> RunAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var findings = new List<ConfigCheckFinding>();
        var problems = options.Validate();
        findings.Add(problems.Count == 0
            ? new("settings", ConfigCheckOutcome.Ok, $"valid; policy {options.SchedulingPolicy}, listening on {options.ListenAddress}:{options.Port}")
            : new("settings", ConfigCheckOutcome.Failed, string.Join("; ", problems)));
        findings.Add(CheckDataDirectory(Path.GetFullPath(options.DataDirectory)));
        findings.Add(CheckPort(options));
        findings.Add(await CheckDatabaseAsync(options, cancellationToken));
        if (Execution.SlurmCheck.Applies(options))
        {
            findings.Add(Execution.SlurmCheck.Run(options));
        }

        if (await Execution.SimulatedCheck.RunAsync(options, cancellationToken) is { } simulated)
        {
            findings.Add(simulated);
        }

        return findings;
    }

    private static ConfigCheckFinding CheckDataDirectory(string directory)
    {
        const string Check = "data directory";
        try
        {
            var existed = Directory.Exists(directory);
            Directory.CreateDirectory(directory);
            var probe = Path.Combine(directory, $".check-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            var space = new DriveInfo(directory).AvailableFreeSpace;
            string? holder = null;
            if (existed)
            {
                try
                {
                    DataDirectoryLock.Acquire(directory).Dispose();
                }
                catch (InvalidOperationException e)
                {
                    holder = e.Message;
                }
            }
            else
            {
                Directory.Delete(directory);
            }

            var detail = $"{directory} is writable{(existed ? "" : " (will be created)")}; {space / (1024.0 * 1024 * 1024):0.0} GiB free";
            return holder is null
                ? new(Check, space < 1L << 30 ? ConfigCheckOutcome.Warning : ConfigCheckOutcome.Ok, space < 1L << 30 ? detail + " (under 1 GiB: job logs and checkpoints need room)" : detail)
                : new(Check, ConfigCheckOutcome.Warning, $"{detail}; {holder}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new(Check, ConfigCheckOutcome.Failed, $"{directory} cannot be written ({e.Message}): create it and give the server's user write access, or set dataDirectory");
        }
    }

    private static ConfigCheckFinding CheckPort(ServerOptions options)
    {
        const string Check = "port";
        if (options.Port == 0 || !IPAddress.TryParse(options.ListenAddress, out var address))
        {
            return new(Check, ConfigCheckOutcome.Ok, options.Port == 0 ? "0: a free port is chosen at start" : "see settings");
        }

        try
        {
            using var listener = new TcpListener(address, options.Port);
            listener.Start();
            return new(Check, ConfigCheckOutcome.Ok, $"{options.ListenAddress}:{options.Port} is free");
        }
        catch (SocketException e)
        {
            return new(Check, ConfigCheckOutcome.Warning, $"{options.ListenAddress}:{options.Port} cannot be bound now ({e.SocketErrorCode}): a server already running there, or another program; pick another port");
        }
    }

    private static async Task<ConfigCheckFinding> CheckDatabaseAsync(ServerOptions options, CancellationToken cancellationToken)
    {
        const string Check = "database";
        var database = options.EffectiveDatabase;
        if (ServerOptions.SqlitePath(database, options.DataDirectory) is { } path)
        {
            return string.IsNullOrWhiteSpace(database) || Directory.Exists(Path.GetDirectoryName(path))
                ? new(Check, ConfigCheckOutcome.Ok, $"SQLite at {path}")
                : new(Check, ConfigCheckOutcome.Failed, $"SQLite at {path}: its directory does not exist");
        }

        // Not SQLite, so database names something.
        var url = database!;
        switch (ServerOptions.DatabaseKind(url))
        {
            case "postgres":
                string where;
                try
                {
                    where = PostgresConnectionString.Where(url);
                }
                catch (ArgumentException e)
                {
                    return new(Check, ConfigCheckOutcome.Failed, e.Message);
                }

                try
                {
                    using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    deadline.CancelAfter(TimeSpan.FromSeconds(15));
                    return new(Check, ConfigCheckOutcome.Ok, $"{where}: {await PostgresMetadataStore.DescribeAsync(url, deadline.Token)}");
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    var retry = PostgresMetadataStore.IsTransient(e) || e is OperationCanceledException
                        ? "; the server would wait for it at start (databaseWaitLimit)"
                        : "";
                    return new(Check, ConfigCheckOutcome.Failed, $"{where}: {e.Message}{retry}");
                }

            default:
                return new(Check, ConfigCheckOutcome.Failed, ServerOptions.DatabaseFormat);
        }
    }
}
