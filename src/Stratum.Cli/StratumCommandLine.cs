using System.CommandLine;
using Stratum.Cli.Commands;

namespace Stratum.Cli;

/// <summary>The <c>stratum</c> command tree and how it is run.</summary>
public static class StratumCommandLine
{
    public static RootCommand Create(CliEnvironment environment)
    {
        var root = new RootCommand("Stratum: self-hosted AI infrastructure. Start with 'stratum up --demo'.");
        root.Options.Add(GlobalOptions.Output);
        root.Options.Add(GlobalOptions.Data);
        root.Subcommands.Add(UpCommand.Create(environment));
        root.Subcommands.Add(ServerCommand.Create(environment));
        root.Subcommands.Add(JobsCommand.Create(environment));
        root.Subcommands.Add(NodesCommand.Create(environment));
        root.Subcommands.Add(ProjectsCommand.Create(environment));
        root.Subcommands.Add(TokensCommand.Create(environment));
        root.Subcommands.Add(ApplyCommand.Create(environment));
        root.Subcommands.Add(AuditCommand.Create(environment));
        root.Subcommands.Add(InfoCommand.Create(environment));
        root.Subcommands.Add(SimulateCommand.Create(environment));
        root.Subcommands.Add(PlanCommand.Create(environment));
        root.Subcommands.Add(UsageCommand.Create(environment));
        root.Subcommands.Add(AdviseCommand.Create(environment));
        root.Subcommands.Add(StoreCommand.Create(environment));
        return root;
    }

    public static async Task<int> RunAsync(string[] args, CliEnvironment environment, CancellationToken cancellationToken = default)
    {
        var root = Create(environment);
        var result = root.Parse(args);
        if (result.Errors.Count > 0)
        {
            // One line per problem and where to read more; exit 2 so scripts can tell usage from failure.
            var terminal = new Terminal(environment, json: false);
            foreach (var error in result.Errors)
            {
                terminal.Fail(error.Message);
            }

            var command = string.Join(' ', result.CommandResult.Command.Name == root.Name
                ? ["stratum"]
                : new[] { "stratum" }.Concat(Path(result.CommandResult)));
            terminal.Note($"see '{command} --help'");
            return ExitCodes.Usage;
        }

        var configuration = new InvocationConfiguration
        {
            Output = environment.Out,
            Error = environment.Error,

            // up and server handle SIGINT/SIGTERM themselves to stop cleanly; elsewhere the default
            // (the process ends at once) is what a user pressing Ctrl-C on `jobs logs -f` expects.
            ProcessTerminationTimeout = null,
        };
        return await result.InvokeAsync(configuration, cancellationToken);
    }

    private static IEnumerable<string> Path(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new Stack<string>();
        for (var current = result; current?.Parent is not null; current = current.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Push(current.Command.Name);
        }

        return names;
    }
}
