using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Stratum.Cli.Commands;

/// <summary>
/// <c>stratum jobs export [--since 30d] [--file FILE] [--format jsonl|csv]</c>: the server's finished jobs as
/// a trace that <c>stratum simulate --trace FILE</c> replays. The file is named by <c>--file</c> because
/// <c>--output</c> is every command's text|json|csv switch.
/// </summary>
public static class JobsExportCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var since = new Option<string>("--since") { Description = "How far back, by submission time: 30d, 12h, 90m", DefaultValueFactory = _ => "30d" };
        var file = new Option<string?>("--file", "-f") { Description = "Write the trace here (default: standard output)", HelpName = "FILE" };
        var format = new Option<string?>("--format") { Description = "jsonl or csv (default: from the file's extension, else jsonl)", HelpName = "jsonl|csv" };
        format.AcceptOnlyFromAmong("jsonl", "csv");
        var command = new Command("export", "Export finished jobs in the simulator's trace format, to replay with 'stratum simulate --trace FILE'") { since, file, format };
        return command.WithAction(environment, async run =>
        {
            var path = run.Get(file);
            var chosen = run.Get(format) ?? (path is not null && path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? "csv" : "jsonl");
            await using var source = await run.Client.ExportJobsAsync(run.Get(since), chosen, run.CancellationToken);
            using var reader = new StreamReader(source);
            if (path is null)
            {
                while (await reader.ReadLineAsync(run.CancellationToken) is { } line)
                {
                    run.Terminal.Raw(line);
                }

                run.Terminal.FlushRaw();
                return ExitCodes.Ok;
            }

            // Written beside the target and renamed at the end, so an interrupted export leaves no half file behind.
            var full = Path.GetFullPath(path);
            var partial = full + ".partial";
            var jobs = 0;
            try
            {
                await using (var writer = new StreamWriter(partial, append: false))
                {
                    while (await reader.ReadLineAsync(run.CancellationToken) is { } line)
                    {
                        await writer.WriteLineAsync(line);
                        if (chosen == "jsonl" || !line.StartsWith("submit,", StringComparison.Ordinal))
                        {
                            jobs++;
                            if (jobs % 10_000 == 0)
                            {
                                run.Terminal.Note($"{jobs.ToString(CultureInfo.InvariantCulture)} jobs exported so far");
                            }
                        }
                    }
                }

                File.Move(partial, full, overwrite: true);
            }
            finally
            {
                File.Delete(partial);
            }

            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(new { file = full, format = chosen, jobs });
            }
            else
            {
                run.Terminal.Result($"exported {jobs} jobs to {Markup.Escape(full)}; replay them with: {Markup.Escape(run.Terminal.InvokedAs)} simulate --trace {Markup.Escape(path)} --nodes N --gpus-per-node G");
            }

            return ExitCodes.Ok;
        });
    }
}
