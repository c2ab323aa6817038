using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stratum.Client.Contracts;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum projects create|list|quota</c>.</summary>
public static class ProjectsCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var command = new Command("projects", "Create and list projects and set their quotas");
        command.Subcommands.Add(CreateProject(environment));
        command.Subcommands.Add(List(environment));
        command.Subcommands.Add(Quota(environment));
        return command;
    }

    /// <summary>A quota from the command line, or null when no limit was given.</summary>
    public static QuotaDto? QuotaFrom(int? gpus, string? cpus, string? memory) =>
        gpus is null && cpus is null && memory is null ? null : new QuotaDto { Gpus = gpus, Cpu = cpus, Memory = memory };

    private static (Option<int?> Gpus, Option<string?> Cpus, Option<string?> Memory) QuotaOptions() =>
    (
        new Option<int?>("--gpus") { Description = "Accelerators the project's running jobs may hold together" },
        new Option<string?>("--cpus") { Description = "CPUs the project's running jobs may hold together: 64, 500m" },
        new Option<string?>("--memory") { Description = "Memory the project's running jobs may hold together: 512Gi" }
    );

    private static Command CreateProject(CliEnvironment environment)
    {
        var name = new Argument<string>("name") { Description = "Lower-case letters, digits, '-', '_' or '.'" };
        var description = new Option<string?>("--description") { Description = "What the project is for" };
        var (gpus, cpus, memory) = QuotaOptions();
        var command = new Command("create", "Create a project") { name, description, gpus, cpus, memory };
        return command.WithAction(environment, async run =>
        {
            var project = await run.Client.CreateProjectAsync(
                new ProjectDto { Name = run.Get(name), Description = run.Get(description), Quota = QuotaFrom(run.Get(gpus), run.Get(cpus), run.Get(memory)) },
                run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(project);
            }
            else
            {
                run.Terminal.Result($"created project [bold]{Format.Cell(project.Name)}[/] (quota: {Markup.Escape(Format.Quota(project.Quota))})");
            }

            run.Terminal.Note($"submit to it: {run.Terminal.InvokedAs} jobs submit --project {project.Name} -- echo hello");
            return ExitCodes.Ok;
        });
    }

    private static Command List(CliEnvironment environment)
    {
        var command = new Command("list", "List projects with their quotas and what they use");
        return command.WithAction(environment, async run =>
        {
            var projects = await run.Client.ListProjectsAsync(run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(projects);
                return ExitCodes.Ok;
            }

            if (projects.Count == 0)
            {
                run.Terminal.Note($"no projects; create one with {run.Terminal.InvokedAs} projects create NAME");
                return ExitCodes.Ok;
            }

            run.Terminal.Result(Table(projects));
            return ExitCodes.Ok;
        });
    }

    private static Command Quota(CliEnvironment environment)
    {
        var name = new Argument<string>("name") { Description = "The project" };
        var (gpus, cpus, memory) = QuotaOptions();
        var command = new Command("quota", "Show a project's quota, or set it with --gpus, --cpus, --memory") { name, gpus, cpus, memory };
        return command.WithAction(environment, async run =>
        {
            var quota = QuotaFrom(run.Get(gpus), run.Get(cpus), run.Get(memory));
            var project = quota is null
                ? await run.Client.GetProjectAsync(run.Get(name)!, run.CancellationToken)
                : await run.Client.SetQuotaAsync(run.Get(name)!, quota, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(project);
                return ExitCodes.Ok;
            }

            run.Terminal.Result(Table([project]));
            return ExitCodes.Ok;
        });
    }

    private static Table Table(IEnumerable<ProjectDto> projects)
    {
        var table = Format.Table("NAME", "QUOTA", "COHORT", "USED", "RUNNING", "QUEUED", "DESCRIPTION");
        foreach (var project in projects)
        {
            table.AddRow(
                Format.Cell(project.Name),
                Markup.Escape(Format.Quota(project.Quota)),
                Markup.Escape(Cohort(project.Quota)),
                project.Used is null ? "-" : Markup.Escape(Format.Resources(project.Used)),
                project.RunningJobs?.ToString(CultureInfo.InvariantCulture) ?? "-",
                project.QueuedJobs?.ToString(CultureInfo.InvariantCulture) ?? "-",
                Format.Cell(project.Description));
        }

        return table;
    }

    /// <summary>"research (borrow up to gpus 8; lend gpus 4)", "-" without a cohort; no limit reads as unlimited borrowing and lending all.</summary>
    public static string Cohort(QuotaDto? quota)
    {
        if (quota?.Cohort is not { } cohort)
        {
            return "-";
        }

        var borrow = quota.BorrowingLimit is { } borrowing ? $"borrow up to {Format.Quota(borrowing)}" : "borrow any idle";
        var lend = quota.LendingLimit is { } lending ? $"lend {Format.Quota(lending)}" : "lend all unused";
        return $"{cohort} ({borrow}; {lend})";
    }
}
