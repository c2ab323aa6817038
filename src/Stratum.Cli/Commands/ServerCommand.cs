using System.CommandLine;
using Stratum.Cli.Hosting;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum server --config FILE</c>: the production entry point, every setting from one file.</summary>
public static class ServerCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var config = new Option<string>("--config", "-c")
        {
            Description = $"A YAML or JSON file of server settings: {string.Join(", ", ServerConfigFile.Keys)}",
            Required = true,
            HelpName = "FILE",
        };
        var command = new Command("server", "Run the Stratum server from a config file until SIGTERM") { config };
        return command.WithAction(environment, run =>
        {
            var result = ServerConfigFile.Load(run.Get(config)!);
            if (!result.IsValid)
            {
                foreach (var problem in result.Problems)
                {
                    run.Terminal.Fail(problem);
                }

                return Task.FromResult(ExitCodes.Invalid);
            }

            return ServerHost.RunAsync(
                result.Options!,
                run.Terminal,
                server => ServerHost.PrintStarted(server, run.Terminal, showTry: false),
                whileServing: null,
                run.CancellationToken);
        });
    }
}
