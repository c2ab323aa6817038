using System.CommandLine;
using Spectre.Console;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum audit [--limit N] [--cursor C]</c>: who changed what, when, from where.</summary>
public static class AuditCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var limit = new Option<int>("--limit") { Description = "Entries to show, newest first", DefaultValueFactory = _ => 50 };
        var cursor = new Option<string?>("--cursor") { Description = "Continue after a previous page" };
        var command = new Command("audit", "Show the audit log") { limit, cursor };
        return command.WithAction(environment, async run =>
        {
            var page = await run.Client.ListAuditAsync(run.Get(limit), run.Get(cursor), run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(page);
                return ExitCodes.Ok;
            }

            var table = Format.Table("AT", "ACTOR", "ACTION", "TARGET", "DETAIL", "FROM");
            foreach (var entry in page.Items)
            {
                table.AddRow(Format.Time(entry.At), Format.Cell(entry.Actor), Format.Cell(entry.Action), Format.Cell(entry.Target), Format.Cell(entry.Detail), Format.Cell(entry.RemoteAddress));
            }

            run.Terminal.Result(table);
            if (page.NextCursor is not null)
            {
                run.Terminal.Note($"more: {run.Terminal.InvokedAs} audit --cursor {page.NextCursor}");
            }

            return ExitCodes.Ok;
        });
    }
}
