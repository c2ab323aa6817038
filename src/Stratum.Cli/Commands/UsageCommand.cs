using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stratum.Client.Contracts;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum usage [--by project|user|pool|job|day] [--since 30d] [--output text|json|csv]</c>: GPU-, CPU- and memory-hours and cost.</summary>
public static class UsageCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var by = new Option<string>("--by") { Description = "Group by project, user, pool, job or day", DefaultValueFactory = _ => "project" };
        by.AcceptOnlyFromAmong("project", "user", "pool", "job", "day");
        var since = new Option<string>("--since") { Description = "How far back: 30d, 12h, 90m", DefaultValueFactory = _ => "30d" };
        var command = new Command("usage", "Show GPU-, CPU- and memory-hours and their cost, priced from each pool's price model") { by, since };
        return command.WithAction(environment, async run =>
        {
            var report = await run.Client.GetUsageAsync(run.Get(by), run.Get(since), run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(report.Rows);
                return ExitCodes.Ok;
            }

            if (run.Result.GetValue(GlobalOptions.Output) == "csv")
            {
                run.Terminal.Raw("key,gpuHours,cpuHours,memoryGbHours,cost,currency,jobs");
                foreach (var row in report.Rows)
                {
                    run.Terminal.Raw(Csv(row));
                }

                run.Terminal.FlushRaw();
                return ExitCodes.Ok;
            }

            var budgets = report.Rows.Any(r => r.Budget is not null);
            string[] columns = [report.By.ToUpperInvariant(), "GPU-HOURS", "CPU-HOURS", "MEMORY GIB-HOURS", "COST", "JOBS"];
            var table = Format.Table(budgets ? [.. columns, "SPENT THIS MONTH / BUDGET"] : columns);
            foreach (var row in report.Rows.Append(report.Total))
            {
                var key = row == report.Total ? "[bold]total[/]" : Format.Cell(row.Key);
                string[] cells = [key, Number(row.GpuHours), Number(row.CpuHours), Number(row.MemoryGbHours), Markup.Escape(Money(row)), row.Jobs.ToString(CultureInfo.InvariantCulture)];
                table.AddRow(budgets ? [.. cells, Markup.Escape(BudgetCell(row.Budget))] : cells);
            }

            run.Terminal.Result(table);
            run.Terminal.Note($"from {report.Since:yyyy-MM-dd HH:mm} to {report.Until:yyyy-MM-dd HH:mm} UTC; running jobs count up to now");
            return ExitCodes.Ok;
        });
    }

    private static string BudgetCell(BudgetDto? budget) => budget is null ? "" :
        $"{budget.SpentThisMonth.ToString("0.00", CultureInfo.InvariantCulture)} / {budget.Monthly.ToString("0.##", CultureInfo.InvariantCulture)} {budget.Currency} ({budget.Used.ToString("0%", CultureInfo.InvariantCulture)})";

    private static string Number(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Money(UsageRowDto row) => $"{row.Cost.ToString("0.00", CultureInfo.InvariantCulture)} {row.Currency}";

    private static string Csv(UsageRowDto row)
    {
        var key = row.Key.Contains(',', StringComparison.Ordinal) || row.Key.Contains('"', StringComparison.Ordinal)
            ? "\"" + row.Key.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
            : row.Key;
        return string.Join(",", key, Number(row.GpuHours), Number(row.CpuHours), Number(row.MemoryGbHours),
            row.Cost.ToString(CultureInfo.InvariantCulture), row.Currency, row.Jobs.ToString(CultureInfo.InvariantCulture));
    }
}
