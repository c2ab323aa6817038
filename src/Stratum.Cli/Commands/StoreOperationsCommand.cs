using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stratum.Client.Contracts;

namespace Stratum.Cli.Commands;

/// <summary>
/// <c>stratum store tier|lifecycle|retention|backup|restore</c>: the store's operations through the REST API
/// (docs/store.md). Lifecycle runs, backups and restores show progress while the server works.
/// </summary>
public static class StoreOperationsCommand
{
    public static IEnumerable<Command> Create(CliEnvironment environment) =>
        [Tier(environment), Lifecycle(environment), Retention(environment), Backup(environment), Restore(environment)];

    private static Command Tier(CliEnvironment environment)
    {
        var repo = new Argument<string>("repo") { Description = "The repository" };
        var hot = new Option<bool>("--hot") { Description = "Keep its data on the local disk (the default)" };
        var cold = new Option<bool>("--cold") { Description = "Move its data to the cold tier at the next lifecycle run" };
        var idle = new Option<string?>("--cold-after-idle") { Description = "Lifecycle: cold once a pack was not read for this long, e.g. 30d" };
        var age = new Option<string?>("--cold-after-age") { Description = "Lifecycle: cold once a pack is this old, e.g. 90d" };
        var command = new Command("tier", "Show or set where a repository's data lives: --hot, --cold, or by idle time/age (admins set)") { repo, hot, cold, idle, age };
        return command.WithAction(environment, async run =>
        {
            var name = run.Get(repo)!;
            var rule = run.Get(idle) is not null || run.Get(age) is not null;
            var chosen = (run.Get(hot) ? 1 : 0) + (run.Get(cold) ? 1 : 0) + (rule ? 1 : 0);
            if (chosen > 1)
            {
                throw new CommandLineException("give one of --hot, --cold, or --cold-after-idle/--cold-after-age");
            }

            var policy = chosen == 0
                ? await run.Client.GetTierAsync(name, run.CancellationToken)
                : await run.Client.SetTierAsync(name, new SetTierRequest
                {
                    Placement = run.Get(hot) ? "hot" : run.Get(cold) ? "cold" : "lifecycle",
                    ColdAfterIdle = run.Get(idle),
                    ColdAfterAge = run.Get(age),
                }, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(policy);
            }
            else
            {
                var rules = new List<string>();
                if (policy.ColdAfterIdleSeconds is { } i)
                {
                    rules.Add($"cold after {Core.Resources.Quantity.FormatDuration(TimeSpan.FromSeconds(i))} idle");
                }

                if (policy.ColdAfterAgeSeconds is { } a)
                {
                    rules.Add($"cold after {Core.Resources.Quantity.FormatDuration(TimeSpan.FromSeconds(a))} of age");
                }

                run.Terminal.Result($"{Markup.Escape(policy.Repository)}: [bold]{policy.Placement}[/]{(rules.Count > 0 ? " (" + string.Join(" or ", rules) + ")" : "")}"
                    + (chosen > 0 ? "; the next 'stratum store lifecycle run' moves its data" : ""));
            }

            return ExitCodes.Ok;
        });
    }

    private static Command Lifecycle(CliEnvironment environment)
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "Say what would move, move nothing" };
        var runCommand = new Command("run", "Move packs between the hot and cold tiers as the repositories' tier policies say (admins)") { dryRun };
        runCommand.WithAction(environment, async run =>
        {
            var dry = run.Get(dryRun);
            var report = await WithProgressAsync(run, dry ? "planning the lifecycle" : "lifecycle run", p => run.Client.RunLifecycleAsync(new LifecycleRunRequest { DryRun = dry }, p, run.CancellationToken));
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(report);
            }
            else
            {
                var verb = dry ? "would move" : "moved";
                run.Terminal.Result($"{verb} {report.PacksMovedToCold} packs to cold ({Bytes(report.HotBytesFreed)} off the local disk), {report.PacksRehydrated} back to hot; "
                    + $"{report.PacksMirroredToCold} mirrored to cold; {Bytes(report.BytesCopied)} {(dry ? "to copy" : "copied")}; {report.PacksExamined} packs examined");
                foreach (var failure in report.Failures)
                {
                    run.Terminal.Result($"[red]failed[/] {Markup.Escape(failure.Pack)} ({Markup.Escape(failure.Step)}): {Markup.Escape(failure.Reason)}");
                }
            }

            return report.Failures.Count == 0 ? ExitCodes.Ok : ExitCodes.Failure;
        });
        var command = new Command("lifecycle", "Tier lifecycle runs");
        command.Subcommands.Add(runCommand);
        return command;
    }

    private static Command Retention(CliEnvironment environment)
    {
        var repo = new Argument<string>("repo") { Description = "A checkpoints repository, REPO or REPO@BRANCH" };
        var keepLast = new Option<int>("--keep-last") { Description = "Keep the newest N commits", Required = true };
        var keepBest = new Option<int>("--keep-best") { Description = "Also keep the best N commits by --metric" };
        var metric = new Option<string?>("--metric") { Description = "Commit metadata key holding a number, e.g. loss" };
        var higher = new Option<bool>("--higher-is-better") { Description = "The metric is an accuracy, not a loss" };
        var command = new Command("retention", "Keep the last N and best N checkpoints; the next gc frees the rest") { repo, keepLast, keepBest, metric, higher };
        return command.WithAction(environment, async run =>
        {
            var (name, branch, _) = StoreCommand.ParseTarget(run.Get(repo)!, allowPath: false);
            var result = await run.Client.ApplyRetentionAsync(name, new RetentionRequest
            {
                KeepLast = run.Get(keepLast),
                KeepBest = run.Get(keepBest),
                Metric = run.Get(metric),
                HigherIsBetter = run.Get(higher),
                Branch = branch,
            }, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(result);
            }
            else
            {
                run.Terminal.Result($"{Markup.Escape(result.Repository)}@{Markup.Escape(result.Branch)}: {result.Kept.Count} commits kept, {result.Dropped.Count} dropped (their space returns at the next gc)");
            }

            return ExitCodes.Ok;
        });
    }

    private static Command Backup(CliEnvironment environment)
    {
        var repo = new Argument<string?>("repo") { Description = "One repository (default: the whole store with its metadata)", Arity = ArgumentArity.ZeroOrOne };
        var to = new Option<string>("--to") { Description = "A directory on the server's machine, or s3://BUCKET[/PREFIX] on the store's S3 endpoint", Required = true };
        var command = new Command("backup", "Back up the store or one repository; again into the same place copies only what changed (admins)") { repo, to };
        return command.WithAction(environment, async run =>
        {
            var location = Location(run.Get(to)!);
            var report = await WithProgressAsync(run, $"backup to {location}", p => run.Client.BackupAsync(new BackupRequest { To = location, Repository = run.Get(repo) }, p, run.CancellationToken));
            Summarise(run, report, "backed up");
            return ExitCodes.Ok;
        });
    }

    private static Command Restore(CliEnvironment environment)
    {
        var from = new Option<string>("--from") { Description = "A backup: a directory on the server's machine, or s3://BUCKET[/PREFIX]", Required = true };
        var command = new Command("restore", "Restore a backup: a whole store into an empty (fresh) server, a repository beside others (admins)") { from };
        return command.WithAction(environment, async run =>
        {
            var location = Location(run.Get(from)!);
            var report = await WithProgressAsync(run, $"restore from {location}", p => run.Client.RestoreAsync(new RestoreRequest { From = location }, p, run.CancellationToken));
            Summarise(run, report, "restored");
            return ExitCodes.Ok;
        });
    }

    /// <summary>A relative directory means relative to here: the server usually runs on this machine.</summary>
    private static string Location(string text) => text.StartsWith("s3://", StringComparison.Ordinal) ? text : Path.GetFullPath(text);

    private static void Summarise(Invocation run, BackupReportDto report, string verb)
    {
        if (run.Terminal.IsJson)
        {
            run.Terminal.WriteJson(report);
            return;
        }

        var what = report.Kind == "store" ? $"the store ({report.Repositories.Count} repositories)" : "repository " + string.Join(", ", report.Repositories);
        run.Terminal.Result($"{verb} {Markup.Escape(what)}: {report.BlobsCopied} blobs copied ({Bytes(report.BytesCopied)}), {report.BlobsSkipped} already there, {report.BlobsDeleted} removed");
    }

    /// <summary>A progress bar on a terminal; otherwise one line per phase, so logs stay short.</summary>
    private static async Task<T> WithProgressAsync<T>(Invocation run, string what, Func<IProgress<StoreOperationProgressDto>, Task<T>> work)
    {
        if (!run.Terminal.Error.Profile.Capabilities.Interactive || run.Terminal.IsJson)
        {
            run.Terminal.Note($"{what}...");
            string? phase = null;
            return await work(new Reporter(p =>
            {
                if (p.Phase != phase)
                {
                    phase = p.Phase;
                    run.Terminal.Note(string.Create(CultureInfo.InvariantCulture, $"{what}: {p.Phase} ({p.Total} to do)"));
                }
            }));
        }

        T result = default!;
        await run.Terminal.Error.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(what), maxValue: 1);
                result = await work(new Reporter(p =>
                {
                    task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{what}: {p.Phase}, {Bytes(p.Bytes)}"));
                    task.MaxValue = Math.Max(p.Total, 1);
                    task.Value = p.Done;
                }));
                task.Value = task.MaxValue;
            });
        return result;
    }

    private static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0 / 1024:0.0} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0 / 1024 / 1024:0.00} GiB"),
    };

    private sealed class Reporter(Action<StoreOperationProgressDto> report) : IProgress<StoreOperationProgressDto>
    {
        public void Report(StoreOperationProgressDto value) => report(value);
    }
}
