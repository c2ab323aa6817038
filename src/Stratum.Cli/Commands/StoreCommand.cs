using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Stratum.Client.Contracts;

namespace Stratum.Cli.Commands;

/// <summary>
/// <c>stratum store ...</c>: the artifact store through the REST API (docs/store.md). A directory upload is
/// one request per file, then one commit, so a failed upload leaves staged files and no partial version.
/// </summary>
public static class StoreCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var command = new Command("store", "The artifact store: versioned datasets, models and checkpoints");
        command.Subcommands.Add(CreateRepository(environment));
        command.Subcommands.Add(ListRepositories(environment));
        command.Subcommands.Add(DeleteRepository(environment));
        command.Subcommands.Add(Put(environment));
        command.Subcommands.Add(Commit(environment));
        command.Subcommands.Add(Get(environment, "get", "Download a file or a directory of a ref: REPO@REF[:PATH] LOCAL_DIR"));
        command.Subcommands.Add(Get(environment, "checkout", "Download a whole ref into a directory: REPO@REF LOCAL_DIR"));
        command.Subcommands.Add(Ls(environment));
        command.Subcommands.Add(Log(environment));
        command.Subcommands.Add(Diff(environment));
        command.Subcommands.Add(Refs(environment, "branch"));
        command.Subcommands.Add(Refs(environment, "tag"));
        command.Subcommands.Add(Du(environment));
        command.Subcommands.Add(Gc(environment));
        command.Subcommands.Add(Verify(environment));
        foreach (var operation in StoreOperationsCommand.Create(environment))
        {
            command.Subcommands.Add(operation);
        }

        command.Subcommands.Add(StoreKeysCommand.Create(environment));
        return command;
    }

    private static Command CreateRepository(CliEnvironment environment)
    {
        var name = new Argument<string>("name") { Description = "Repository name: 3 to 63 of a-z, 0-9 and '-'" };
        var kind = new Option<string>("--kind") { Description = "dataset, model or checkpoints", DefaultValueFactory = _ => "dataset" };
        kind.AcceptOnlyFromAmong("dataset", "model", "checkpoints");
        var project = new Option<string?>("--project") { Description = "Members of this project may write to it (default: admins only)" };
        var branch = new Option<string?>("--default-branch") { Description = "Default main" };
        var command = new Command("create", "Create a repository (admins)") { name, kind, project, branch };
        return command.WithAction(environment, async run =>
        {
            var created = await run.Client.CreateRepositoryAsync(
                new CreateRepositoryRequest { Name = run.Get(name), Kind = run.Get(kind), Project = run.Get(project), DefaultBranch = run.Get(branch) }, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(created);
            }
            else
            {
                run.Terminal.Result($"created {created.Kind} repository [bold]{Markup.Escape(created.Name)}[/] (branch {Markup.Escape(created.DefaultBranch)})");
            }

            return ExitCodes.Ok;
        });
    }

    private static Command ListRepositories(CliEnvironment environment)
    {
        var command = new Command("list", "List repositories");
        return command.WithAction(environment, async run =>
        {
            var repositories = await run.Client.ListRepositoriesAsync(run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(repositories);
                return ExitCodes.Ok;
            }

            var table = Format.Table("NAME", "KIND", "DEFAULT BRANCH", "PROJECT", "CREATED BY", "CREATED");
            foreach (var r in repositories)
            {
                table.AddRow(Format.Cell(r.Name), Format.Cell(r.Kind), Format.Cell(r.DefaultBranch), Format.Cell(r.Project), Format.Cell(r.CreatedBy), Format.Time(r.CreatedAt));
            }

            run.Terminal.Result(table);
            return ExitCodes.Ok;
        });
    }

    private static Command DeleteRepository(CliEnvironment environment)
    {
        var name = new Argument<string>("name") { Description = "The repository" };
        var command = new Command("delete", "Delete a repository and its history (admins); space returns at the next gc") { name };
        return command.WithAction(environment, async run =>
        {
            await run.Client.DeleteRepositoryAsync(run.Get(name)!, run.CancellationToken);
            run.Terminal.Result($"deleted repository [bold]{Markup.Escape(run.Get(name)!)}[/]");
            return ExitCodes.Ok;
        });
    }

    /// <summary>Commits what is staged on a branch: writes through the S3 endpoint, or uploads made over REST.</summary>
    private static Command Commit(CliEnvironment environment)
    {
        var target = new Argument<string>("target") { Description = "REPO or REPO@BRANCH (default: the repository's default branch)" };
        var message = new Option<string>("--message", "-m") { Description = "Commit message", Required = true };
        var command = new Command("commit", "Make what is staged on a branch (for example S3 writes) a version") { target, message };
        return command.WithAction(environment, async run =>
        {
            var (repo, branch, _) = ParseTarget(run.Get(target)!, allowPath: false);
            branch ??= (await run.Client.GetRepositoryAsync(repo, run.CancellationToken)).DefaultBranch;
            var commit = await run.Client.CommitAsync(repo, branch, new CommitRequestDto { Message = run.Get(message) }, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(new { repository = repo, branch, commit = commit.Id });
            }
            else
            {
                run.Terminal.Result($"committed [bold]{commit.Id[..12]}[/] to {Markup.Escape(repo)}@{Markup.Escape(branch)}");
            }

            return ExitCodes.Ok;
        });
    }

    private static Command Put(CliEnvironment environment)
    {
        var target = new Argument<string>("target") { Description = "REPO or REPO@BRANCH (default: the repository's default branch)" };
        var local = new Argument<string>("local-path") { Description = "A file, or a directory uploaded recursively" };
        var to = new Option<string?>("--to") { Description = "Where in the repository (default: the file's name, or the root for a directory)" };
        var message = new Option<string?>("--message", "-m") { Description = "Commit message" };
        var command = new Command("put", "Upload a file or a directory as one commit") { target, local, to, message };
        return command.WithAction(environment, async run =>
        {
            var (repo, branch, _) = ParseTarget(run.Get(target)!, allowPath: false);
            var path = Path.GetFullPath(run.Get(local)!);
            var files = new List<(string Local, string Remote, long Size)>();
            var toPath = run.Get(to)?.Trim('/');
            if (File.Exists(path))
            {
                files.Add((path, string.IsNullOrEmpty(toPath) ? Path.GetFileName(path) : toPath, new FileInfo(path).Length));
            }
            else if (Directory.Exists(path))
            {
                foreach (var file in Directory.EnumerateFiles(path, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Order(StringComparer.Ordinal))
                {
                    var relative = Path.GetRelativePath(path, file).Replace(Path.DirectorySeparatorChar, '/');
                    files.Add((file, string.IsNullOrEmpty(toPath) ? relative : $"{toPath}/{relative}", new FileInfo(file).Length));
                }
            }
            else
            {
                throw new CommandLineException($"'{run.Get(local)}' is neither a file nor a directory");
            }

            branch ??= (await run.Client.GetRepositoryAsync(repo, run.CancellationToken)).DefaultBranch;
            var total = files.Sum(f => f.Size);
            var clock = Stopwatch.StartNew();
            await Transfer(run, $"uploading {files.Count} files to {repo}@{branch}", total, async report =>
            {
                long done = 0;
                foreach (var file in files)
                {
                    await using var stream = File.OpenRead(file.Local);
                    var before = done;
                    await run.Client.PutObjectAsync(repo, branch, file.Remote, stream, progress: new Progress<long>(sent => report(before + sent)), cancellationToken: run.CancellationToken);
                    done += file.Size;
                    report(done);
                }
            });

            var commitMessage = run.Get(message) ?? $"put {files.Count} files from {Path.GetFileName(path)}";
            var commit = await run.Client.CommitAsync(repo, branch, new CommitRequestDto { Message = commitMessage }, run.CancellationToken);
            var seconds = Math.Max(clock.Elapsed.TotalSeconds, 0.001);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(new { repository = repo, branch, commit = commit.Id, files = files.Count, bytes = total, seconds = Math.Round(seconds, 3) });
            }
            else
            {
                run.Terminal.Result($"committed [bold]{commit.Id[..12]}[/] to {Markup.Escape(repo)}@{Markup.Escape(branch)}: {files.Count} files, {Bytes(total)} in {seconds:0.0}s ({Bytes((long)(total / seconds))}/s)");
            }

            return ExitCodes.Ok;
        });
    }

    private static Command Get(CliEnvironment environment, string verb, string description)
    {
        var source = new Argument<string>("source") { Description = verb == "get" ? "REPO@REF[:PATH]" : "REPO@REF" };
        var local = new Argument<string>("local-dir") { Description = "Directory to write into (created when missing)" };
        var command = new Command(verb, description) { source, local };
        return command.WithAction(environment, async run =>
        {
            var (repo, reference, remote) = ParseTarget(run.Get(source)!, allowPath: verb == "get");
            reference ??= (await run.Client.GetRepositoryAsync(repo, run.CancellationToken)).DefaultBranch;
            var directory = Path.GetFullPath(run.Get(local)!);
            remote = remote?.Trim('/') ?? "";

            // A path that names a file is that file; otherwise it is a directory prefix.
            var files = new List<StoreObjectDto>();
            var strip = "";
            if (remote.Length > 0)
            {
                var exact = await run.Client.ListObjectsAsync(repo, reference, remote, limit: 1, cancellationToken: run.CancellationToken);
                if (exact.Objects is [{ } only] && only.Path == remote)
                {
                    files.Add(only);
                    strip = remote.Contains('/') ? remote[..(remote.LastIndexOf('/') + 1)] : "";
                }
                else
                {
                    strip = remote + "/";
                }
            }

            if (files.Count == 0)
            {
                await foreach (var page in run.Client.ListAllObjectsAsync(repo, reference, strip.Length == 0 ? null : strip, cancellationToken: run.CancellationToken))
                {
                    files.AddRange(page.Objects);
                }

                if (files.Count == 0 && remote.Length > 0)
                {
                    run.Terminal.Fail($"no file or directory '{remote}' at {repo}@{reference}");
                    return ExitCodes.NotFound;
                }
            }

            Directory.CreateDirectory(directory);
            var total = files.Sum(f => f.Size);
            var clock = Stopwatch.StartNew();
            await Transfer(run, $"downloading {files.Count} files from {repo}@{reference}", total, async report =>
            {
                long done = 0;
                foreach (var file in files)
                {
                    var destination = Path.GetFullPath(Path.Combine(directory, file.Path[strip.Length..]));
                    if (!destination.StartsWith(directory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    {
                        throw new IOException($"refusing to write '{file.Path}' outside {directory}");
                    }

                    Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                    var temporary = Path.Combine(Path.GetDirectoryName(destination)!, $".stratum-{Guid.NewGuid():N}.tmp");
                    try
                    {
                        await using (var input = await run.Client.OpenObjectAsync(repo, reference, file.Path, cancellationToken: run.CancellationToken))
                        await using (var output = File.Create(temporary))
                        {
                            var buffer = new byte[1 << 20];
                            int read;
                            while ((read = await input.ReadAsync(buffer, run.CancellationToken)) > 0)
                            {
                                await output.WriteAsync(buffer.AsMemory(0, read), run.CancellationToken);
                                done += read;
                                report(done);
                            }
                        }

                        File.Move(temporary, destination, overwrite: true);
                    }
                    finally
                    {
                        File.Delete(temporary);
                    }
                }
            });

            var seconds = Math.Max(clock.Elapsed.TotalSeconds, 0.001);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(new { repository = repo, reference, directory, files = files.Count, bytes = total, seconds = Math.Round(seconds, 3) });
            }
            else
            {
                run.Terminal.Result($"wrote {files.Count} files, {Bytes(total)} to {Markup.Escape(directory)} in {seconds:0.0}s ({Bytes((long)(total / seconds))}/s)");
            }

            return ExitCodes.Ok;
        });
    }

    private static Command Ls(CliEnvironment environment)
    {
        var source = new Argument<string>("source") { Description = "REPO[@REF][:PREFIX]" };
        var recursive = new Option<bool>("--recursive", "-r") { Description = "Every file under the prefix, not one level" };
        var command = new Command("ls", "List files and directories of a ref") { source, recursive };
        return command.WithAction(environment, async run =>
        {
            var (repo, reference, prefix) = ParseTarget(run.Get(source)!, allowPath: true);
            reference ??= (await run.Client.GetRepositoryAsync(repo, run.CancellationToken)).DefaultBranch;
            prefix = prefix is { Length: > 0 } p && !p.EndsWith('/') ? p + "/" : prefix;
            var objects = new List<StoreObjectDto>();
            var prefixes = new List<string>();
            await foreach (var page in run.Client.ListAllObjectsAsync(repo, reference, prefix, run.Get(recursive) ? null : "/", run.CancellationToken))
            {
                objects.AddRange(page.Objects);
                prefixes.AddRange(page.CommonPrefixes);
            }

            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(new { repository = repo, reference, prefix = prefix ?? "", directories = prefixes, objects });
                return ExitCodes.Ok;
            }

            var table = Format.Table("SIZE", "MD5", "PATH");
            foreach (var directory in prefixes)
            {
                table.AddRow("-", "-", Format.Cell(directory));
            }

            foreach (var o in objects)
            {
                table.AddRow(Bytes(o.Size), o.Md5[..12], Format.Cell(o.Path));
            }

            run.Terminal.Result(table);
            return ExitCodes.Ok;
        });
    }

    private static Command Log(CliEnvironment environment)
    {
        var source = new Argument<string>("source") { Description = "REPO[@REF]" };
        var limit = new Option<int?>("--limit") { Description = "At most this many commits (default 100)" };
        var command = new Command("log", "Commits reachable from a ref, newest first") { source, limit };
        return command.WithAction(environment, async run =>
        {
            var (repo, reference, _) = ParseTarget(run.Get(source)!, allowPath: false);
            reference ??= (await run.Client.GetRepositoryAsync(repo, run.CancellationToken)).DefaultBranch;
            var commits = await run.Client.LogAsync(repo, reference, run.Get(limit), run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(commits);
                return ExitCodes.Ok;
            }

            var table = Format.Table("COMMIT", "TIME", "AUTHOR", "FILES", "SIZE", "MESSAGE");
            foreach (var c in commits)
            {
                table.AddRow(c.Id[..12], Format.Time(c.Time), Format.Cell(c.Author), c.Files.ToString(CultureInfo.InvariantCulture), Bytes(c.Bytes), Format.Cell(c.Message));
            }

            run.Terminal.Result(table);
            return ExitCodes.Ok;
        });
    }

    private static Command Diff(CliEnvironment environment)
    {
        var repo = new Argument<string>("repo") { Description = "The repository" };
        var from = new Argument<string>("from") { Description = "The older ref" };
        var to = new Argument<string>("to") { Description = "The newer ref" };
        var command = new Command("diff", "Files added, removed and changed between two refs") { repo, from, to };
        return command.WithAction(environment, async run =>
        {
            var diff = await run.Client.DiffAsync(run.Get(repo)!, run.Get(from)!, run.Get(to)!, cancellationToken: run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(diff);
                return ExitCodes.Ok;
            }

            var table = Format.Table("CHANGE", "OLD SIZE", "NEW SIZE", "PATH");
            foreach (var e in diff.Entries)
            {
                table.AddRow(e.Kind, e.OldSize is { } o ? Bytes(o) : "-", e.NewSize is { } n ? Bytes(n) : "-", Format.Cell(e.Path));
            }

            run.Terminal.Result(table);
            run.Terminal.Note($"{diff.Entries.Count} differences between {diff.From} ({diff.FromCommit[..12]}) and {diff.To} ({diff.ToCommit[..12]})");
            return ExitCodes.Ok;
        });
    }

    private static Command Refs(CliEnvironment environment, string what)
    {
        var command = new Command(what, what == "branch" ? "Create, delete and list branches" : "Create, delete and list tags (immutable)");

        var createRepo = new Argument<string>("repo") { Description = "The repository" };
        var createName = new Argument<string>("name") { Description = $"The new {what}" };
        var from = new Option<string?>(what == "branch" ? "--from" : "--at") { Description = "Branch, tag or commit (default: the default branch)" };
        var create = new Command("create", $"Create a {what}") { createRepo, createName, from };
        command.Subcommands.Add(create.WithAction(environment, async run =>
        {
            var repo = run.Get(createRepo)!;
            var at = run.Get(from) ?? (await run.Client.GetRepositoryAsync(repo, run.CancellationToken)).DefaultBranch;
            var created = what == "branch"
                ? await run.Client.CreateBranchAsync(repo, run.Get(createName)!, at, run.CancellationToken)
                : await run.Client.CreateTagAsync(repo, run.Get(createName)!, at, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(created);
            }
            else
            {
                run.Terminal.Result($"created {what} [bold]{Markup.Escape(created.Name)}[/] at {created.CommitId[..12]}");
            }

            return ExitCodes.Ok;
        }));

        var deleteRepo = new Argument<string>("repo") { Description = "The repository" };
        var deleteName = new Argument<string>("name") { Description = $"The {what}" };
        var delete = new Command("delete", $"Delete a {what}") { deleteRepo, deleteName };
        command.Subcommands.Add(delete.WithAction(environment, async run =>
        {
            if (what == "branch")
            {
                await run.Client.DeleteBranchAsync(run.Get(deleteRepo)!, run.Get(deleteName)!, run.CancellationToken);
            }
            else
            {
                await run.Client.DeleteTagAsync(run.Get(deleteRepo)!, run.Get(deleteName)!, run.CancellationToken);
            }

            run.Terminal.Result($"deleted {what} [bold]{Markup.Escape(run.Get(deleteName)!)}[/]");
            return ExitCodes.Ok;
        }));

        var listRepo = new Argument<string>("repo") { Description = "The repository" };
        var list = new Command("ls", $"List {what}es".Replace("tages", "tags", StringComparison.Ordinal)) { listRepo };
        command.Subcommands.Add(list.WithAction(environment, async run =>
        {
            var refs = what == "branch"
                ? await run.Client.ListBranchesAsync(run.Get(listRepo)!, run.CancellationToken)
                : await run.Client.ListTagsAsync(run.Get(listRepo)!, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(refs);
                return ExitCodes.Ok;
            }

            var table = Format.Table(what.ToUpperInvariant(), "COMMIT");
            foreach (var r in refs)
            {
                table.AddRow(Format.Cell(r.Name), r.CommitId[..12]);
            }

            run.Terminal.Result(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Du(CliEnvironment environment)
    {
        var repo = new Argument<string>("repo") { Description = "The repository" };
        var command = new Command("du", "Logical size and what it takes stored (deduplicated, compressed)") { repo };
        return command.WithAction(environment, async run =>
        {
            var usage = await run.Client.DiskUsageAsync(run.Get(repo)!, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(usage);
                return ExitCodes.Ok;
            }

            run.Terminal.Result(Format.Details(
            [
                ("repository", Markup.Escape(usage.Repository)),
                ("files at head", usage.Files.ToString(CultureInfo.InvariantCulture)),
                ("logical (head)", Bytes(usage.LogicalBytes)),
                ("logical (all commits)", Bytes(usage.LogicalBytesAllCommits)),
                ("stored", Bytes(usage.StoredBytes)),
                ("dedup ratio", usage.DedupRatio.ToString("0.00", CultureInfo.InvariantCulture)),
                ("commits", usage.Commits.ToString(CultureInfo.InvariantCulture)),
                ("chunks", usage.UniqueChunks.ToString(CultureInfo.InvariantCulture)),
            ]));
            return ExitCodes.Ok;
        });
    }

    private static Command Gc(CliEnvironment environment)
    {
        var grace = new Option<string?>("--grace") { Description = "Keep what was written more recently than this (default 1h)" };
        var command = new Command("gc", "Delete chunks no commit, tag or staged file uses (admins)") { grace };
        return command.WithAction(environment, async run =>
        {
            run.Terminal.Note("collecting garbage...");
            var report = await run.Client.CollectGarbageAsync(run.Get(grace), run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(report);
            }
            else
            {
                run.Terminal.Result($"freed {Bytes(report.BytesFreed)}: {report.PacksDeleted} packs deleted, {report.PacksRepacked} repacked, {report.ChunksDropped} chunks dropped; {report.LiveChunks} live chunks, {report.PacksKeptForGrace} packs kept for the grace period");
            }

            return ExitCodes.Ok;
        });
    }

    private static Command Verify(CliEnvironment environment)
    {
        var command = new Command("verify", "Re-read and re-hash every chunk; name each damaged file and commit (admins)");
        return command.WithAction(environment, async run =>
        {
            run.Terminal.Note("verifying every chunk...");
            var report = await run.Client.VerifyStoreAsync(run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(report);
            }
            else if (report.Clean)
            {
                run.Terminal.Result($"[green]clean[/]: {report.ChunksChecked} chunks in {report.PacksChecked} packs, {Bytes(report.BytesRead)} read, {report.CommitsChecked} commits checked");
            }
            else
            {
                foreach (var file in report.DamagedFiles)
                {
                    run.Terminal.Result($"[red]damaged[/] {Markup.Escape(file.Repository)}@{Markup.Escape(file.Commit)}:{Markup.Escape(file.Path)}: {Markup.Escape(file.Reason)}");
                }

                foreach (var item in report.DamagedMetadata.Concat(report.MissingPacks.Select(p => $"missing pack {p}")).Concat(report.DamagedIndexFiles.Select(i => $"damaged index {i}")))
                {
                    run.Terminal.Result($"[red]damaged[/] {Markup.Escape(item)}");
                }
            }

            return report.Clean ? ExitCodes.Ok : ExitCodes.Failure;
        });
    }

    /// <summary>REPO[@REF][:PATH]; the ref and path are null when absent.</summary>
    internal static (string Repository, string? Reference, string? Path) ParseTarget(string text, bool allowPath)
    {
        string? path = null;
        var at = text.IndexOf('@', StringComparison.Ordinal);
        var colon = text.IndexOf(':', at < 0 ? 0 : at);
        if (colon >= 0)
        {
            if (!allowPath)
            {
                throw new CommandLineException($"'{text}' names a path; write REPO or REPO@BRANCH here");
            }

            path = text[(colon + 1)..];
            text = text[..colon];
        }

        var repository = at < 0 ? text : text[..at];
        var reference = at < 0 ? null : text[(at + 1)..];
        if (repository.Length == 0 || reference is { Length: 0 })
        {
            throw new CommandLineException($"'{text}' is not REPO[@REF]; e.g. datasets@main");
        }

        return (repository, reference, path);
    }

    private static async Task Transfer(Invocation run, string what, long total, Func<Action<long>, Task> work)
    {
        if (!run.Terminal.Error.Profile.Capabilities.Interactive || run.Terminal.IsJson)
        {
            run.Terminal.Note($"{what} ({Bytes(total)})");
            await work(_ => { });
            return;
        }

        await run.Terminal.Error.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(what), maxValue: Math.Max(total, 1));
                await work(bytes => task.Value = bytes);
                task.Value = task.MaxValue;
            });
    }

    private static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0 / 1024:0.0} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0 / 1024 / 1024:0.00} GiB"),
    };
}
