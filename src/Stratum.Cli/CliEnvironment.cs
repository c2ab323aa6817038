namespace Stratum.Cli;

/// <summary>What a command may touch outside itself: its two output streams and the environment variables. Tests pass their own.</summary>
public sealed class CliEnvironment
{
    public required TextWriter Out { get; init; }

    public required TextWriter Error { get; init; }

    /// <summary>Colours, live views and terminal widths only when true.</summary>
    public bool OutIsTerminal { get; init; }

    public bool ErrorIsTerminal { get; init; }

    public Func<string, string?> Variables { get; init; } = Environment.GetEnvironmentVariable;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// How the user started the program, for the hints we print ("./stratum jobs list"). The root
    /// script sets STRATUM_INVOKED_AS=./stratum; otherwise "stratum".
    /// </summary>
    public string InvokedAs => Variables("STRATUM_INVOKED_AS") is { Length: > 0 } name ? name : "stratum";

    public static CliEnvironment FromConsole() => new()
    {
        Out = Console.Out,
        Error = Console.Error,
        OutIsTerminal = !Console.IsOutputRedirected,
        ErrorIsTerminal = !Console.IsErrorRedirected,
    };
}
