using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum advise [--since 7d] [--output text|json]</c>: idle GPUs, over-requests and long waits, with what fixing them saves.</summary>
public static class AdviseCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var since = new Option<string>("--since") { Description = "How far back to look: 7d, 12h, 90m", DefaultValueFactory = _ => "7d" };
        var command = new Command("advise", "Recommend right-sizing from measured use: idle GPUs, GPU, memory and CPU over-requests, jobs waiting far longer than usual") { since };
        return command.WithAction(environment, async run =>
        {
            var report = await run.Client.GetAdviceAsync(run.Get(since), run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(report.Recommendations);
                return ExitCodes.Ok;
            }

            if (report.Recommendations.Count == 0)
            {
                run.Terminal.Note($"no recommendations from {report.Since:yyyy-MM-dd HH:mm} to {report.Until:yyyy-MM-dd HH:mm} UTC: nothing measured looks wasted");
                return ExitCodes.Ok;
            }

            var table = Format.Table("KIND", "JOB", "PROJECT", "RECOMMENDATION", "GPU-HOURS SAVED", "SAVED");
            foreach (var advice in report.Recommendations)
            {
                table.AddRow(
                    Format.Cell(advice.Kind),
                    advice.JobId?.ToString(CultureInfo.InvariantCulture) ?? "",
                    Format.Cell(advice.Project),
                    Format.Cell(advice.Message),
                    advice.GpuHoursSaved.ToString("0.##", CultureInfo.InvariantCulture),
                    Markup.Escape($"{advice.MoneySaved.ToString("0.00", CultureInfo.InvariantCulture)} {advice.Currency}"));
            }

            run.Terminal.Result(table);
            run.Terminal.Note(string.Create(CultureInfo.InvariantCulture,
                $"total: {report.GpuHoursSaved:0.##} GPU-hours, {report.MoneySaved:0.00} {report.Currency} from {report.Since:yyyy-MM-dd HH:mm} to {report.Until:yyyy-MM-dd HH:mm} UTC"));
            return ExitCodes.Ok;
        });
    }
}
