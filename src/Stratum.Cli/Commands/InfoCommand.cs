using System.CommandLine;
using Spectre.Console;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum info</c>: which server the CLI talks to and whether it answers.</summary>
public static class InfoCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var command = new Command("info", "Show the server this CLI talks to");
        return command.WithAction(environment, async run =>
        {
            var info = await run.Client.GetInfoAsync(run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(info);
                return ExitCodes.Ok;
            }

            run.Terminal.Result(Format.Details(
            [
                ("address", Markup.Escape(run.Client.Address.ToString())),
                ("version", Format.Cell(info.Version)),
                ("data", Format.Cell(info.DataDirectory)),
                ("started", $"{Format.Time(info.StartedAt)} ({Format.Ago(info.StartedAt, environment.Time.GetUtcNow())})"),
                ("scheduling", Format.Cell(info.SchedulingPolicy)),
                ("nodes", info.Nodes.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("projects", info.Projects.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ]));
            return ExitCodes.Ok;
        });
    }
}
