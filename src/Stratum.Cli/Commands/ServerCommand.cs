using System.CommandLine;
using Stratum.Cli.Hosting;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum server --config FILE</c>: the production entry point, every setting from one file.</summary>
public static class ServerCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var config = new Option<string?>("--config", "-c")
        {
            Description = $"A YAML or JSON file of server settings: {string.Join(", ", ServerConfigFile.Keys)}",
            HelpName = "FILE",
        };
        var database = new Option<string?>("--database")
        {
            Description = "postgres://USER@HOST:PORT/DB or sqlite:///PATH (default: STRATUM_DATABASE, else SQLite in the data directory)",
            HelpName = "URL",
        };
        var port = new Option<int?>("--port") { Description = "HTTP port (overrides the config file)" };
        var command = new Command("server", "Run the Stratum server (settings from --config, overridden by options) until SIGTERM") { config, database, port };
        return command.WithAction(environment, run =>
        {
            var result = run.Get(config) is { } file ? ServerConfigFile.Load(file) : ServerConfigFile.Parse("{}", "defaults");
            if (result.IsValid && run.Get(database) is { } url)
            {
                result.Options!.Database = url;
            }

            if (result.IsValid && run.Get(port) is { } number)
            {
                result.Options!.Port = number;
            }

            if (result.IsValid && run.Result.GetValue(GlobalOptions.Data) is { } data)
            {
                result.Options!.DataDirectory = Path.GetFullPath(data);
            }

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
