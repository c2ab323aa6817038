using System.Net.Sockets;
using System.Runtime.InteropServices;
using Spectre.Console;
using Stratum.Client;
using Stratum.Server;

namespace Stratum.Cli.Hosting;

/// <summary>
/// Runs a <see cref="StratumServer"/> in this process until SIGINT or SIGTERM, then stops it cleanly,
/// so the next start continues with the same data. Shared by <c>up</c> and <c>server</c>.
/// </summary>
public static class ServerHost
{
    /// <summary>
    /// Starts the server, calls <c>started</c>, runs <c>whileServing</c> (the demo) beside it, and on
    /// the first SIGINT or SIGTERM stops both. A failure of <c>whileServing</c> is reported and the server keeps serving.
    /// </summary>
    public static async Task<int> RunAsync(
        ServerOptions options,
        Terminal terminal,
        Action<StratumServer> started,
        Func<StratumServer, CancellationToken, Task>? whileServing,
        CancellationToken cancellationToken)
    {
        var stopRequested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var signals = 0;
        void OnSignal(PosixSignalContext context)
        {
            // The first signal asks for a clean stop; a second one, while that is under way, is let through and ends the process.
            if (Interlocked.Increment(ref signals) == 1)
            {
                context.Cancel = true;
                stopRequested.TrySetResult();
            }
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var cancelled = cancellationToken.Register(() => stopRequested.TrySetResult());

        StratumServer server;
        try
        {
            server = await StratumServer.StartAsync(options, cancellationToken);
        }
        catch (InvalidOperationException e)
        {
            terminal.Fail($"the server cannot start: {e.Message}");
            return ExitCodes.Invalid;
        }
        catch (Exception e) when (FindAddressInUse(e))
        {
            var ports = options.EffectiveS3Port > 0 ? $"port {options.Port} or {options.EffectiveS3Port} (S3)" : $"port {options.Port}";
            terminal.Fail($"{ports} on {options.ListenAddress} is in use (is another 'stratum up' running? stop it, or pick other ports with --port and --s3-port)");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            terminal.Fail($"the server cannot start: {e.Message} (data directory {Path.GetFullPath(options.DataDirectory)})");
            return ExitCodes.Failure;
        }

        await using (server)
        {
            started(server);
            using var serving = new CancellationTokenSource();
            var background = whileServing is null ? Task.CompletedTask : RunBackgroundAsync(server, whileServing, terminal, serving.Token);

            await Task.WhenAny(stopRequested.Task, server.WaitForShutdownAsync(CancellationToken.None));
            if (!stopRequested.Task.IsCompleted)
            {
                terminal.Fail("the server stopped on its own; see the messages above");
            }

            await serving.CancelAsync();
            await background;
            terminal.Note("stopping...");
            await server.StopAsync();
            terminal.Note($"stopped. The data stays in {server.DataDirectory}; running jobs keep running and the next start picks them up.");
            return stopRequested.Task.IsCompleted ? ExitCodes.Ok : ExitCodes.Failure;
        }
    }

    private static async Task RunBackgroundAsync(StratumServer server, Func<StratumServer, CancellationToken, Task> work, Terminal terminal, CancellationToken cancellationToken)
    {
        try
        {
            await work(server, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl-C during the demo: nothing to report.
        }
        catch (Exception e) when (e is StratumApiException or StratumUnreachableException or IOException)
        {
            terminal.Fail($"the demo stopped: {e.Message}; the server keeps running");
        }
    }

    private static bool FindAddressInUse(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse })
            {
                return true;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Any(FindAddressInUse))
            {
                return true;
            }

            if (e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The lines that tell a newcomer where things are, after the server listens.</summary>
    public static void PrintStarted(StratumServer server, Terminal terminal, bool showTry)
    {
        var output = terminal.Out;
        var connection = LocalConnection.PathIn(server.DataDirectory);
        var cli = terminal.InvokedAs;
        output.MarkupLine($"[green]Stratum is running at[/] [bold]{Markup.Escape(server.Address.ToString())}[/]");
        output.MarkupLine($"  data   {Markup.Escape(server.DataDirectory)}");
        if (server.S3Address is { } s3)
        {
            output.MarkupLine($"  s3     {Markup.Escape(s3.ToString())} [grey](bucket = repository; keys: {Markup.Escape(cli)} store keys create)[/]");
        }

        output.MarkupLine($"  token  {Markup.Escape(connection)} [grey](the CLI on this machine reads it: no login needed)[/]");
        if (showTry)
        {
            output.MarkupLine("Try, in another terminal:");
            output.MarkupLine($"  {Markup.Escape(cli)} nodes");
            output.MarkupLine($"  {Markup.Escape(cli)} jobs submit -- echo hello");
            output.MarkupLine($"  {Markup.Escape(cli)} jobs list");
        }

        output.MarkupLine("[grey]Ctrl-C stops the server.[/]");
    }
}
