using System.CommandLine;
using Spectre.Console;
using Stratum.Client.Contracts;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum apply -f infra.yaml [--dry-run]</c>: show what would change, then change it.</summary>
public static class ApplyCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var file = new Option<string>("--file", "-f") { Description = "The infra.yaml declaring pools, nodes, projects, quotas and users", Required = true, HelpName = "FILE" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Only show what would change" };
        var command = new Command("apply", "Make the cluster match an infra.yaml; applying the same file again changes nothing") { file, dryRun };
        return command.WithAction(environment, async run =>
        {
            var path = run.Get(file)!;
            string document;
            try
            {
                document = path == "-" ? await Console.In.ReadToEndAsync(run.CancellationToken) : await File.ReadAllTextAsync(path, run.CancellationToken);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
            {
                throw new CommandLineException($"cannot read '{path}': {e.Message}");
            }

            var plan = await run.Client.ApplyAsync(new ApplyRequest { Document = document, DryRun = true }, run.CancellationToken);
            var changes = plan.Changes.Count(c => c.Action != "unchanged");
            if (run.Get(dryRun) || changes == 0)
            {
                if (run.Terminal.IsJson)
                {
                    run.Terminal.WriteJson(plan);
                }
                else
                {
                    run.Terminal.Result(Table(plan));
                }

                run.Terminal.Note(changes == 0
                    ? "nothing to change: the cluster already matches the file"
                    : $"{Summary(plan)}; nothing changed (dry run). Apply with: {run.Terminal.InvokedAs} apply -f {path}");
                return ExitCodes.Ok;
            }

            if (!run.Terminal.IsJson)
            {
                run.Terminal.Result(Table(plan));
            }

            var result = await run.Client.ApplyAsync(new ApplyRequest { Document = document, DryRun = false }, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(result);
            }
            else
            {
                run.Terminal.Result($"applied: {Markup.Escape(Summary(result))}");
            }

            return ExitCodes.Ok;
        });
    }

    public static string Summary(ApplyResultDto result)
    {
        int Count(string action) => result.Changes.Count(c => c.Action == action);
        return $"{Count("create")} to create, {Count("update")} to update, {Count("unchanged")} unchanged";
    }

    private static Table Table(ApplyResultDto plan)
    {
        var table = Format.Table("ACTION", "KIND", "NAME", "DETAIL");
        foreach (var change in plan.Changes)
        {
            table.AddRow(Format.Action(change.Action), Format.Cell(change.Kind), Format.Cell(change.Name), Format.Cell(change.Detail));
        }

        return table;
    }
}
