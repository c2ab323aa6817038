using System.CommandLine;
using Spectre.Console;
using Stratum.Cli.Hosting;
using Stratum.Server.Hosting;

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
        var s3Port = new Option<int?>("--s3-port") { Description = "S3 endpoint port (overrides the config file; default: the HTTP port plus one; -1 turns it off)" };
        var alerts = new Option<string?>("--alerts")
        {
            Description = "Alert rules and webhooks in YAML (docs/observability.md#alerts; default DATA/alerts.yaml when it exists)",
            HelpName = "FILE",
        };
        var checkConfig = new Option<bool>("--check-config")
        {
            Description = "Check the settings, the data directory, the port and the database without starting or changing anything; exit 0 when a start would succeed",
        };
        var command = new Command("server", "Run the Stratum server (settings from --config, overridden by options) until SIGTERM") { config, database, port, s3Port, alerts, checkConfig };
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

            if (result.IsValid && run.Get(s3Port) is { } s3)
            {
                result.Options!.S3Port = s3;
            }

            if (result.IsValid && run.Get(alerts) is { } rules)
            {
                result.Options!.AlertsFile = Path.GetFullPath(rules);
            }

            if (result.IsValid && run.Result.GetValue(GlobalOptions.Data) is { } data)
            {
                result.Options!.DataDirectory = Path.GetFullPath(data);
            }

            if (run.Get(checkConfig))
            {
                return CheckAsync(result, run.Terminal, run.CancellationToken);
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

    private static async Task<int> CheckAsync(ServerConfigResult result, Terminal terminal, CancellationToken cancellationToken)
    {
        var findings = result.Options is { } options && result.Problems.Count == 0
            ? await ConfigCheck.RunAsync(options, cancellationToken)
            : [new ConfigCheckFinding("settings", ConfigCheckOutcome.Failed, string.Join("; ", result.Problems))];
        if (terminal.IsJson)
        {
            terminal.WriteJson(findings.Select(f => new { check = f.Check, outcome = f.Outcome.ToString().ToLowerInvariant(), detail = f.Detail }).ToList());
        }
        else
        {
            foreach (var finding in findings)
            {
                var mark = finding.Outcome switch
                {
                    ConfigCheckOutcome.Ok => "[green]ok  [/]",
                    ConfigCheckOutcome.Warning => "[yellow]warn[/]",
                    _ => "[red]FAIL[/]",
                };
                terminal.Result($"{mark} {Markup.Escape(finding.Check),-15} {Markup.Escape(finding.Detail)}");
            }
        }

        var failed = findings.Count(f => f.Outcome == ConfigCheckOutcome.Failed);
        if (failed > 0)
        {
            terminal.Fail($"{failed} check(s) failed: the server would not start with these settings");
            return ExitCodes.Invalid;
        }

        return ExitCodes.Ok;
    }
}
