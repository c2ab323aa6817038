using System.CommandLine;
using System.Net;
using Stratum.Client;

namespace Stratum.Cli;

/// <summary>One run of one command: its parse result, where it writes, and (on first use) its client.</summary>
public sealed class Invocation : IDisposable
{
    private StratumClient? _client;

    public Invocation(ParseResult result, CliEnvironment environment, CancellationToken cancellationToken)
    {
        Result = result;
        Environment = environment;
        CancellationToken = cancellationToken;
        Terminal = new Terminal(environment, result.GetValue(GlobalOptions.Output) == "json");
    }

    public ParseResult Result { get; }

    public CliEnvironment Environment { get; }

    public Terminal Terminal { get; }

    public CancellationToken CancellationToken { get; }

    public string? DataOption => Result.GetValue(GlobalOptions.Data);

    /// <summary>Connects on first use, so commands that fail on their own input never need a server.</summary>
    public StratumClient Client => _client ??= StratumClient.Connect(DataOption, Environment.Variables);

    public T? Get<T>(Option<T> option) => Result.GetValue(option);

    public T? Get<T>(Argument<T> argument) => Result.GetValue(argument);

    public void Dispose() => _client?.Dispose();

    /// <summary>
    /// Runs <paramref name="action"/> and turns the ways a command fails into a named exit code and
    /// one line on stderr saying why and what to do next.
    /// </summary>
    public static async Task<int> RunAsync(
        ParseResult result,
        CliEnvironment environment,
        CancellationToken cancellationToken,
        Func<Invocation, Task<int>> action)
    {
        using var invocation = new Invocation(result, environment, cancellationToken);
        var terminal = invocation.Terminal;
        try
        {
            return await action(invocation);
        }
        catch (StratumApiException e)
        {
            terminal.Fail(e.Message);
            return ExitCodeOf(e.StatusCode);
        }
        catch (StratumUnreachableException e)
        {
            terminal.Fail(e.Message);
            return ExitCodes.Unreachable;
        }
        catch (CommandLineException e)
        {
            terminal.Fail(e.Message);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            terminal.Note("interrupted");
            return ExitCodes.Interrupted;
        }
        catch (IOException e)
        {
            terminal.Fail(e.Message);
            return ExitCodes.Failure;
        }
    }

    public static int ExitCodeOf(HttpStatusCode status) => status switch
    {
        HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity => ExitCodes.Invalid,
        HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => ExitCodes.AuthFailed,
        HttpStatusCode.NotFound => ExitCodes.NotFound,
        HttpStatusCode.Conflict => ExitCodes.Conflict,
        _ => ExitCodes.Failure,
    };
}

public static class CommandExtensions
{
    /// <summary>Sets the action of <paramref name="command"/> to run through <see cref="Invocation.RunAsync"/>.</summary>
    public static Command WithAction(this Command command, CliEnvironment environment, Func<Invocation, Task<int>> action)
    {
        command.SetAction((result, cancellationToken) => Invocation.RunAsync(result, environment, cancellationToken, action));
        return command;
    }
}
