namespace Stratum.Cli;

/// <summary>A value on the command line that the parser accepted but the command cannot use ("--env FOO" without '=').</summary>
public sealed class CommandLineException(string message) : Exception(message);
