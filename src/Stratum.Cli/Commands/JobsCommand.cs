using System.CommandLine;
using Spectre.Console;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Core;
using Stratum.Core.Resources;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum jobs submit|list|show|logs|cancel|why|wait</c>.</summary>
public static class JobsCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var command = new Command("jobs", "Submit, list, inspect and stop jobs");
        command.Subcommands.Add(Submit(environment));
        command.Subcommands.Add(List(environment));
        command.Subcommands.Add(Show(environment));
        command.Subcommands.Add(Logs(environment));
        command.Subcommands.Add(Cancel(environment));
        command.Subcommands.Add(Why(environment));
        command.Subcommands.Add(Wait(environment));
        command.Subcommands.Add(JobsExportCommand.Create(environment));
        return command;
    }

    /// <summary>The job name <c>jobs submit</c> uses when none is given: the program's file name, made a valid name.</summary>
    public static string DefaultName(string program) => Names.FromText(Path.GetFileName(program.TrimEnd('/')), "job");

    /// <summary>Parses repeated <c>--env K=V</c> values; a value without '=' is a command-line error.</summary>
    public static IReadOnlyDictionary<string, string> ParseEnvironment(IEnumerable<string> pairs) => ParsePairs(pairs, "--env", "SEED=42");

    /// <summary>Parses repeated <c>KEY=VALUE</c> values of <paramref name="option"/>; a value without '=' is a command-line error.</summary>
    public static IReadOnlyDictionary<string, string> ParsePairs(IEnumerable<string> pairs, string option, string example)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new CommandLineException($"{option} '{pair}' is not KEY=VALUE; write for example {option} {example}");
            }

            result[pair[..equals]] = pair[(equals + 1)..];
        }

        return result;
    }

    /// <summary>Parses <c>--input REPO[@REF][:PATH][=DIR]</c>; the server checks the names and that they exist.</summary>
    public static JobInputDto ParseInput(string text)
    {
        var rest = text;
        string? mountAs = null;
        var equals = rest.LastIndexOf('=');
        if (equals >= 0)
        {
            mountAs = rest[(equals + 1)..];
            rest = rest[..equals];
        }

        string? path = null;
        var colon = rest.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            path = rest[(colon + 1)..];
            rest = rest[..colon];
        }

        var at = rest.IndexOf('@', StringComparison.Ordinal);
        var repo = at >= 0 ? rest[..at] : rest;
        var reference = at >= 0 ? rest[(at + 1)..] : null;
        if (repo.Length == 0 || reference is { Length: 0 } || path is { Length: 0 } || mountAs is { Length: 0 })
        {
            throw new CommandLineException($"--input '{text}' is not REPO[@REF][:PATH][=DIR]; write for example --input imagenet@v1:train=data");
        }

        return new JobInputDto { Repo = repo, Ref = reference, Path = path, MountAs = mountAs };
    }

    /// <summary>Parses <c>--save PATH=REPO@BRANCH</c>.</summary>
    public static JobOutputDto ParseOutput(string text)
    {
        var equals = text.LastIndexOf('=');
        var at = equals < 0 ? -1 : text.IndexOf('@', equals + 1);
        if (equals <= 0 || at < 0 || at == equals + 1 || at == text.Length - 1)
        {
            throw new CommandLineException($"--save '{text}' is not PATH=REPO@BRANCH; write for example --save out/model=models@main");
        }

        return new JobOutputDto { Path = text[..equals], Repo = text[(equals + 1)..at], Branch = text[(at + 1)..] };
    }

    /// <summary>Parses <c>--checkpoint-repo REPO[@BRANCH]</c>.</summary>
    public static JobCheckpointsDto ParseCheckpoints(string text)
    {
        var at = text.IndexOf('@', StringComparison.Ordinal);
        if (at == 0 || at == text.Length - 1 || text.Length == 0)
        {
            throw new CommandLineException($"--checkpoint-repo '{text}' is not REPO[@BRANCH]; write for example --checkpoint-repo checkpoints");
        }

        return at < 0 ? new JobCheckpointsDto { Repo = text } : new JobCheckpointsDto { Repo = text[..at], Branch = text[(at + 1)..] };
    }

    private static Command Submit(CliEnvironment environment)
    {
        var project = new Option<string>("--project", "-p") { Description = "The project the job runs in and is charged to", DefaultValueFactory = _ => "default" };
        var gpus = new Option<int?>("--gpus") { Description = "Accelerators per replica" };
        var gpuType = new Option<string?>("--gpu-type") { Description = "Accelerator type, e.g. nvidia-h100 (default: the only type the cluster has)" };
        var cpus = new Option<string>("--cpus") { Description = "CPUs per replica: 2, 0.5 or 500m", DefaultValueFactory = _ => "1" };
        var memory = new Option<string>("--memory") { Description = "Memory per replica: 4Gi, 512Mi", DefaultValueFactory = _ => "1Gi" };
        var replicas = new Option<int?>("--replicas") { Description = "Replicas, placed all or none (default 1)" };
        var priority = new Option<int?>("--priority") { Description = "Higher runs first and may preempt lower preemptible jobs (default 0)" };
        var preemptible = new Option<bool>("--preemptible") { Description = "May be stopped (SIGTERM, then requeued) to make room for higher-priority work" };
        var maxRuntime = new Option<string?>("--max-runtime") { Description = "Stop the job after this long: 90s, 30m, 2h" };
        var maxAttempts = new Option<int?>("--max-attempts") { Description = "Attempts before the job counts as failed (default 1)" };
        var name = new Option<string?>("--name") { Description = "Job name (default: the program's file name)" };
        var env = new Option<string[]>("--env", "-e") { Description = "Environment variable KEY=VALUE; repeat for more", HelpName = "KEY=VALUE" };
        var workdir = new Option<string?>("--workdir") { Description = "Working directory of the job's processes" };
        var idempotencyKey = new Option<string?>("--idempotency-key") { Description = "Submitting twice with the same key creates one job" };
        var nodeSelector = new Option<string[]>("--node-selector") { Description = "Run only on nodes with this label KEY=VALUE (pool=NAME for a pool); repeat for more", HelpName = "KEY=VALUE" };
        var inputs = new Option<string[]>("--input") { Description = "Check out REPO@REF (default ref: the default branch), or one path of it, read-only into DIR of the working directory (default: the repository's name); repeat for more", HelpName = "REPO[@REF][:PATH][=DIR]" };
        // Not --output: that is every command's output format (--output json).
        var outputs = new Option<string[]>("--save") { Description = "When the job succeeds, commit PATH of the working directory to REPO@BRANCH, with lineage; repeat for more", HelpName = "PATH=REPO@BRANCH" };
        var checkpointRepo = new Option<string?>("--checkpoint-repo") { Description = "Keep STRATUM_CHECKPOINT_DIR in this repository: restored before each attempt, committed after it (branch default job-ID)", HelpName = "REPO[@BRANCH]" };
        var program = new Argument<string[]>("command") { Description = "The program and its arguments, after --", Arity = ArgumentArity.OneOrMore };

        var command = new Command("submit", "Submit a job: stratum jobs submit [options] -- COMMAND ARGS...")
        {
            project, gpus, gpuType, cpus, memory, replicas, priority, preemptible, maxRuntime, maxAttempts, name, env, workdir, idempotencyKey, nodeSelector,
            inputs, outputs, checkpointRepo, program,
        };

        return command.WithAction(environment, async run =>
        {
            var arguments = run.Get(program) ?? [];
            var request = new SubmitJobRequest
            {
                Name = run.Get(name) ?? DefaultName(arguments[0]),
                Project = run.Get(project),
                Command = arguments,
                Env = run.Get(env) is { Length: > 0 } pairs ? ParseEnvironment(pairs) : null,
                WorkingDirectory = run.Get(workdir) is { } directory ? Path.GetFullPath(directory) : null,
                Resources = new ResourcesDto
                {
                    Cpu = run.Get(cpus),
                    Memory = run.Get(memory),
                    Gpus = run.Get(gpus),
                    GpuType = run.Get(gpuType),
                },
                Replicas = run.Get(replicas),
                Priority = run.Get(priority),
                Preemptible = run.Get(preemptible) ? true : null,
                MaxRuntime = run.Get(maxRuntime),
                Retry = run.Get(maxAttempts) is { } attempts ? new RetryDto { MaxAttempts = attempts } : null,
                NodeSelector = run.Get(nodeSelector) is { Length: > 0 } labels ? ParsePairs(labels, "--node-selector", "rack=r1") : null,
                Inputs = run.Get(inputs) is { Length: > 0 } inputTexts ? inputTexts.Select(ParseInput).ToList() : null,
                Outputs = run.Get(outputs) is { Length: > 0 } outputTexts ? outputTexts.Select(ParseOutput).ToList() : null,
                Checkpoints = run.Get(checkpointRepo) is { } checkpointText ? ParseCheckpoints(checkpointText) : null,
            };

            var job = await run.Client.SubmitJobAsync(request, run.Get(idempotencyKey), run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(job);
            }
            else
            {
                run.Terminal.Result($"submitted job [bold]{job.Id}[/] ({Markup.Escape(job.Name)}) in project {Markup.Escape(job.Project)}: {Format.State(job.State)}"
                    + (string.IsNullOrEmpty(job.Reason) ? string.Empty : " - " + Markup.Escape(job.Reason)));
            }

            run.Terminal.Note($"follow it: {run.Terminal.InvokedAs} jobs logs {job.Id} -f    why it waits: {run.Terminal.InvokedAs} jobs why {job.Id}");
            return ExitCodes.Ok;
        });
    }

    private static Command List(CliEnvironment environment)
    {
        var project = new Option<string?>("--project", "-p") { Description = "Only this project's jobs" };
        var state = new Option<string[]>("--state") { Description = "Only jobs in this state (Pending, Running, Succeeded, Failed, Cancelled, Preempted); repeat for more" };
        var owner = new Option<string?>("--owner") { Description = "Only this user's jobs" };
        var limit = new Option<int>("--limit") { Description = "Jobs per page", DefaultValueFactory = _ => 50 };
        var cursor = new Option<string?>("--cursor") { Description = "Continue after a previous page" };
        var allPages = new Option<bool>("--all-pages") { Description = "Follow the cursor to the last page" };
        var command = new Command("list", "List jobs, newest first") { project, state, owner, limit, cursor, allPages };

        return command.WithAction(environment, async run =>
        {
            var states = new List<string>();
            foreach (var text in run.Get(state) ?? [])
            {
                states.Add(JobStates.Normalize(text)
                    ?? throw new CommandLineException($"--state '{text}' is not a job state; use one of {string.Join(", ", JobStates.All)}"));
            }

            var query = new JobListQuery
            {
                Project = run.Get(project),
                Owner = run.Get(owner),
                States = states,
                Limit = run.Get(limit),
                Cursor = run.Get(cursor),
            };

            PageDto<JobDto> page;
            if (run.Get(allPages))
            {
                var all = new List<JobDto>();
                await foreach (var job in run.Client.ListAllJobsAsync(query, run.CancellationToken))
                {
                    all.Add(job);
                }

                page = new PageDto<JobDto>(all, null);
            }
            else
            {
                page = await run.Client.ListJobsAsync(query, run.CancellationToken);
            }

            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(page);
                return ExitCodes.Ok;
            }

            if (page.Items.Count == 0)
            {
                run.Terminal.Note($"no jobs; submit one with: {run.Terminal.InvokedAs} jobs submit -- echo hello");
                return ExitCodes.Ok;
            }

            run.Terminal.Result(JobTable(page.Items, environment.Time.GetUtcNow()));
            if (page.NextCursor is not null)
            {
                run.Terminal.Note($"more: {run.Terminal.InvokedAs} jobs list --cursor {page.NextCursor} (or --all-pages)");
            }

            return ExitCodes.Ok;
        });
    }

    public static Table JobTable(IEnumerable<JobDto> jobs, DateTimeOffset now)
    {
        var table = Format.Table("ID", "NAME", "PROJECT", "STATE", "PRIO", "RESOURCES", "AGE", "REASON");
        foreach (var job in jobs)
        {
            table.AddRow(
                job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Format.Cell(job.Name),
                Format.Cell(job.Project),
                Format.State(job.State),
                job.Priority.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Format.Cell(Format.Resources(job.Resources) + (job.Replicas > 1 ? $" x{job.Replicas}" : string.Empty)),
                Format.Ago(job.SubmittedAt, now),
                Format.Cell(job.Reason));
        }

        return table;
    }

    private static Command Show(CliEnvironment environment)
    {
        var id = JobIdArgument();
        var command = new Command("show", "Show a job and its attempts") { id };
        return command.WithAction(environment, async run =>
        {
            var job = await run.Client.GetJobAsync(run.Get(id), run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(job);
                return ExitCodes.Ok;
            }

            var now = environment.Time.GetUtcNow();
            var rows = new List<(string, string)>
            {
                ("id", job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("name", Format.Cell(job.Name)),
                ("project", Format.Cell(job.Project)),
                ("owner", Format.Cell(job.Owner)),
                ("state", Format.State(job.State) + (job.Stopping is null ? string.Empty : $" (stopping: {Markup.Escape(job.Stopping)})")),
                ("reason", Format.Cell(job.Reason)),
                ("command", Format.Cell(string.Join(' ', job.Command.Select(Quote)))),
                ("resources", Format.Cell(Format.Resources(job.Resources)) + (job.Replicas > 1 ? $" per replica, {job.Replicas} replicas" : string.Empty)),
                ("priority", job.Priority.ToString(System.Globalization.CultureInfo.InvariantCulture) + (job.Preemptible ? ", preemptible" : string.Empty)),
                ("max runtime", Format.Cell(job.MaxRuntime)),
                ("node selector", job.NodeSelector.Count == 0 ? "-" : Format.Cell(string.Join(", ", job.NodeSelector.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")))),
                ("max attempts", job.MaxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("submitted", $"{Format.Time(job.SubmittedAt)} ({Format.Ago(job.SubmittedAt, now)})"),
                ("started", Format.Time(job.StartedAt)),
                ("ended", Format.Time(job.EndedAt)),
                ("ran for", job.StartedAt is { } started ? Format.Duration((job.EndedAt ?? now) - started) : "-"),
                ("exit code", job.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"),
            };
            foreach (var input in job.Inputs)
            {
                rows.Add(("input", Format.Cell($"{input.Repo}@{input.Ref}{(input.Path is null ? "" : ":" + input.Path)} -> {input.MountAs}/ (commit {Short(input.Commit)})")));
            }

            foreach (var output in job.Outputs)
            {
                rows.Add(("output", Format.Cell($"{output.Path} -> {output.Repo}@{output.Branch}" + (output.Commit is null ? " (when it succeeds)" : $" (commit {Short(output.Commit)})"))));
            }

            if (job.Checkpoints is { } checkpoints)
            {
                rows.Add(("checkpoints", Format.Cell($"{checkpoints.Repo}@{checkpoints.Branch}")));
            }

            run.Terminal.Result(Format.Details(rows));

            if (job.Attempts.Count > 0)
            {
                var withCommits = job.Attempts.Any(a => a.StoreCommits is { Count: > 0 });
                var table = withCommits
                    ? Format.Table("ATTEMPT", "PLACEMENT", "STARTED", "DURATION", "EXIT", "OUTCOME", "COMMITS")
                    : Format.Table("ATTEMPT", "PLACEMENT", "STARTED", "DURATION", "EXIT", "OUTCOME");
                foreach (var attempt in job.Attempts)
                {
                    string[] cells =
                    [
                        attempt.Number.ToString(System.Globalization.CultureInfo.InvariantCulture),
                        Format.Cell(string.Join(", ", attempt.Placement.Select(p =>
                            p.Accelerators.Count == 0 ? $"{p.Rank}:{p.Node}" : $"{p.Rank}:{p.Node}[{string.Join(',', p.Accelerators)}]"))),
                        Format.Time(attempt.StartedAt),
                        Format.Duration((attempt.EndedAt ?? now) - attempt.StartedAt),
                        attempt.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",
                        Format.Cell(attempt.Outcome),
                    ];
                    table.AddRow(withCommits
                        ? [.. cells, Format.Cell(string.Join(", ", (attempt.StoreCommits ?? []).Select(c => $"{c.Kind} {c.Repo}@{c.Branch} {Short(c.Commit)}")))]
                        : cells);
                }

                run.Terminal.Result(table);
            }

            return ExitCodes.Ok;
        });
    }

    private static Command Logs(CliEnvironment environment)
    {
        var id = JobIdArgument();
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until the attempt ends" };
        var rank = new Option<int>("--rank") { Description = "The replica (0 for the first)", DefaultValueFactory = _ => 0 };
        var stderr = new Option<bool>("--stderr") { Description = "Show standard error instead of standard output" };
        var attempt = new Option<int?>("--attempt") { Description = "The attempt (default: the latest)" };
        var command = new Command("logs", "Print a job's output") { id, follow, rank, stderr, attempt };
        return command.WithAction(environment, async run =>
        {
            var query = new LogQuery { Follow = run.Get(follow), Rank = run.Get(rank), Stderr = run.Get(stderr), Attempt = run.Get(attempt) };
            await foreach (var line in run.Client.StreamLogsAsync(run.Get(id), query, run.CancellationToken))
            {
                run.Terminal.Raw(line);
                if (query.Follow)
                {
                    run.Terminal.FlushRaw();
                }
            }

            run.Terminal.FlushRaw();
            return ExitCodes.Ok;
        });
    }

    private static Command Cancel(CliEnvironment environment)
    {
        var id = JobIdArgument();
        var command = new Command("cancel", "Cancel a job: SIGTERM to its processes, SIGKILL after the grace period") { id };
        return command.WithAction(environment, async run =>
        {
            var job = await run.Client.CancelJobAsync(run.Get(id), run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(job);
            }
            else
            {
                run.Terminal.Result(job.State == JobStates.Cancelled
                    ? $"job [bold]{job.Id}[/] cancelled"
                    : $"cancelling job [bold]{job.Id}[/] ({Format.State(job.State)}); see {Markup.Escape(run.Terminal.InvokedAs)} jobs show {job.Id}");
            }

            return ExitCodes.Ok;
        });
    }

    /// <summary>
    /// A job id; a word that is not one is answered in the user's terms, not the parser's ("as expected type
    /// 'System.Int64'"), with where to find the ids.
    /// </summary>
    internal static Argument<long> JobIdArgument() => new("id")
    {
        Description = "The job's id",
        CustomParser = result =>
        {
            var token = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (long.TryParse(token, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && value > 0)
            {
                return value;
            }

            result.AddError($"'{token}' is not a job id (a whole number such as 12); 'stratum jobs list' shows them");
            return 0;
        },
    };

    private static Command Why(CliEnvironment environment)
    {
        var id = JobIdArgument();
        var command = new Command("why", "Say why a job is in its state and, if queued, what stands in its way") { id };
        return command.WithAction(environment, async run =>
        {
            var why = await run.Client.GetJobWhyAsync(run.Get(id), run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(why);
                return ExitCodes.Ok;
            }

            run.Terminal.Result($"job [bold]{why.Id}[/] is {Format.State(why.State)}: {Format.Cell(why.Reason)}");
            if (why.NodeRejections.Count > 0)
            {
                var table = Format.Table("NODES", "REJECTED BECAUSE");
                foreach (var (reason, count) in why.NodeRejections.OrderByDescending(r => r.Value).ThenBy(r => r.Key, StringComparer.Ordinal))
                {
                    table.AddRow(count.ToString(System.Globalization.CultureInfo.InvariantCulture), Format.Cell(reason));
                }

                run.Terminal.Result(table);
            }

            if (why.QueuePosition > 0)
            {
                run.Terminal.Result($"estimated start: {Markup.Escape(EstimatedStart(why.EstimatedStart, environment.Time.GetUtcNow()))}");
                run.Terminal.Result($"queue position {why.QueuePosition}" + (why.QueueAhead.Count == 0 ? " (next to start)" : $"; {why.QueueAhead.Count} ahead:"));
                if (why.QueueAhead.Count > 0)
                {
                    var table = Format.Table("ID", "NAME", "PROJECT", "PRIO", "STATE");
                    foreach (var job in why.QueueAhead)
                    {
                        table.AddRow(
                            job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                            Format.Cell(job.Name),
                            Format.Cell(job.Project),
                            job.Priority.ToString(System.Globalization.CultureInfo.InvariantCulture),
                            Format.State(job.State));
                    }

                    run.Terminal.Result(table);
                }
            }

            if (why.LastScheduledAt is { } at)
            {
                run.Terminal.Note($"last scheduling pass {Format.Ago(at, environment.Time.GetUtcNow())}");
            }

            return ExitCodes.Ok;
        });
    }

    /// <summary>"14:20 UTC (in 35 min)", with the date when it is not today (UTC); "unknown" when the scheduler knows no end of what is in the way.</summary>
    public static string EstimatedStart(DateTimeOffset? at, DateTimeOffset now)
    {
        if (at is not { } start)
        {
            return "unknown";
        }

        var utc = start.ToUniversalTime();
        var clock = utc.Date == now.ToUniversalTime().Date
            ? utc.ToString("HH:mm", System.Globalization.CultureInfo.InvariantCulture)
            : utc.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture);
        var wait = start - now;
        var minutes = (long)Math.Ceiling(wait.TotalMinutes);
        var relative = wait <= TimeSpan.Zero
            ? "now"
            : minutes < 120 ? $"in {minutes} min" : $"in {minutes / 60} h {minutes % 60} min";
        return $"{clock} UTC ({relative})";
    }

    private static Command Wait(CliEnvironment environment)
    {
        var id = JobIdArgument();
        var timeout = new Option<string>("--timeout") { Description = "Give up after this long: 90s, 10m, 1h", DefaultValueFactory = _ => "10m" };
        var command = new Command("wait", "Wait until a job ends; exit 0 when it succeeded, 8 otherwise") { id, timeout };
        return command.WithAction(environment, async run =>
        {
            var text = run.Get(timeout) ?? "10m";
            if (!Quantity.TryParseDuration(text, out var limit) || limit <= TimeSpan.Zero)
            {
                throw new CommandLineException($"--timeout '{text}' is not a duration; write for example 90s, 10m or 1h");
            }

            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(run.CancellationToken);
            deadline.CancelAfter(limit);
            JobDto job;
            try
            {
                job = await run.Client.WaitForJobAsync(run.Get(id), TimeSpan.FromMilliseconds(500), deadline.Token);
            }
            catch (OperationCanceledException) when (!run.CancellationToken.IsCancellationRequested)
            {
                var current = await run.Client.GetJobAsync(run.Get(id), run.CancellationToken);
                if (run.Terminal.IsJson)
                {
                    run.Terminal.WriteJson(current);
                }

                run.Terminal.Fail($"job {current.Id} is still {current.State} after {Format.Duration(limit)}; wait longer with --timeout or see '{run.Terminal.InvokedAs} jobs why {current.Id}'");
                return ExitCodes.JobFailed;
            }

            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(job);
            }

            if (job.State == JobStates.Succeeded)
            {
                if (!run.Terminal.IsJson)
                {
                    run.Terminal.Result($"job [bold]{job.Id}[/] {Format.State(job.State)}");
                }

                return ExitCodes.Ok;
            }

            run.Terminal.Fail($"job {job.Id} ended {job.State}" + (job.ExitCode is { } code ? $" with exit code {code}" : string.Empty)
                + (string.IsNullOrEmpty(job.Reason) ? string.Empty : $": {job.Reason}")
                + $"; see '{run.Terminal.InvokedAs} jobs logs {job.Id} --stderr'");
            return ExitCodes.JobFailed;
        });
    }

    private static string Short(string? commit) => commit is null ? "-" : commit[..Math.Min(12, commit.Length)];

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,@+%".Contains(c, StringComparison.Ordinal))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
