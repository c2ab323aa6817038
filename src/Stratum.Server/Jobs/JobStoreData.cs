using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Stratum.Core.Jobs;
using Stratum.Execution;
using Stratum.Server.Store;
using Stratum.Storage.Repositories;

namespace Stratum.Server.Jobs;

/// <summary>A job's store step that could not be done; the message is the job's reason as it stands.</summary>
public sealed class JobStoreException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Moves a job's data between the artifact store and its directories. Before an attempt starts: each input is
/// checked out read-only into every replica's working directory, through a node-local cache of whole files keyed
/// by their SHA-256 (hard links, so a second job reading the same files fetches nothing), and the checkpoint
/// branch's latest commit is restored into <c>STRATUM_CHECKPOINT_DIR</c>. After an attempt ends: the checkpoint
/// directory is committed to its branch, and when the job succeeded each output is committed with lineage.
/// Everything here is safe to repeat: a controller that crashes midway does the same steps again and gets the
/// same commits ("nothing to commit" means the commit already exists).
/// </summary>
public sealed partial class JobStoreData(StoreServices store, JobDirectories directories, DataDirectoryPath data, ILogger<JobStoreData> logger)
{
    /// <summary>
    /// Cache files carry this modification time: a write to a hard-linked input (possible for a job running as root,
    /// which ignores the read-only mode) changes it, and the cache then fetches the file again instead of serving it.
    /// </summary>
    public static readonly DateTime CachedFileTime = new(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private const UnixFileMode ReadOnlyFile = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode ReadOnlyDirectory = ReadOnlyFile | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    private const UnixFileMode WritableDirectory = ReadOnlyDirectory | UnixFileMode.UserWrite;
    private const int ListPage = 1000;
    private const int Exdev = 18;

    /// <summary>The node-local cache of input files: <c>&lt;data&gt;/store-cache/files/AB/SHA256</c>.</summary>
    public string CacheDirectory { get; } = Path.Combine(data.Path, "store-cache", "files");

    public static bool UsesStore(JobSpec spec) => spec.Inputs.Count > 0 || spec.Outputs.Count > 0 || spec.Checkpoints is not null;

    /// <summary>Whether an attempt of the spec has anything to put in place before it starts (inputs or a checkpoint).</summary>
    public static bool NeedsPreparing(JobSpec spec) => spec.Inputs.Count > 0 || spec.Checkpoints is not null;

    /// <summary>
    /// Called before each input file is put in place. For tests: a checkout held here is a checkout as slow as
    /// the test wants, without moving hundreds of megabytes through a shared machine.
    /// </summary>
    public Func<long, CancellationToken, Task>? BeforeInputFile { get; set; }

    /// <summary>Called before each of an ended attempt's commits, for tests in the same way as <see cref="BeforeInputFile"/>.</summary>
    public Func<long, CancellationToken, Task>? BeforeCommits { get; set; }

    /// <summary>Whether the attempt's data is in place (or it has none), so its replicas may be launched.</summary>
    public bool IsPrepared(Job job, JobAttempt attempt) => !NeedsPreparing(job.Spec) || File.Exists(PreparedRecord(job.Id, attempt.Number));

    /// <summary>The record of what <see cref="PrepareAsync"/> did for an attempt; its presence means the attempt is prepared.</summary>
    public string PreparedRecord(long jobId, int attempt) =>
        Path.Combine(directories.JobDirectory(jobId), "store", "attempt-" + attempt.ToString(CultureInfo.InvariantCulture) + ".json");

    private string CheckpointMarker(long jobId) => Path.Combine(directories.JobDirectory(jobId), "store", "checkpoint-commit");

    /// <summary>
    /// Puts the attempt's inputs and checkpoint in place; once per attempt (a relaunch of a replica after a crash
    /// must not pull files from under replicas already running). Throws <see cref="JobStoreException"/> naming what failed.
    /// <paramref name="report"/> hears where it is, in words, for the job's view.
    /// </summary>
    public async Task PrepareAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken, Action<string>? report = null)
    {
        if (IsPrepared(job, attempt))
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var record = new PreparedAttempt { Attempt = attempt.Number };
        var workingDirectories = attempt.Placement
            .Select(p => job.Spec.WorkingDirectory ?? directories.WorkingDirectory(job.Id, p.Rank))
            .Distinct(StringComparer.Ordinal)
            .ToList();
        for (var i = 0; i < job.Spec.Inputs.Count; i++)
        {
            var input = job.Spec.Inputs[i];
            var named = input.Path is null ? input.Pinned : $"{input.Pinned}:{input.Path}";
            var which = job.Spec.Inputs.Count == 1 ? named : $"{named} ({i + 1} of {job.Spec.Inputs.Count})";
            foreach (var workingDirectory in workingDirectories)
            {
                try
                {
                    record.Inputs.Add(await MountAsync(job.Id, input, workingDirectory, cancellationToken, (done, total) =>
                        report?.Invoke(total is { } all ? $"preparing inputs: {which}, {done} of {all} files" : $"preparing inputs: {which}, {done} files so far")));
                }
                catch (Exception e) when (e is not OperationCanceledException and not JobStoreException)
                {
                    throw new JobStoreException($"input checkout of {input.Pinned} into {Path.Combine(workingDirectory, input.MountDirectory)} failed: {e.Message}", e);
                }
            }
        }

        if (job.Spec.Checkpoints is { } checkpoints)
        {
            var branch = checkpoints.BranchFor(job.Id);
            report?.Invoke($"restoring the checkpoint from {checkpoints.Repository}@{branch}");
            try
            {
                record.RestoredCheckpoint = await RestoreCheckpointAsync(job.Id, checkpoints.Repository, branch, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException and not JobStoreException)
            {
                throw new JobStoreException($"checkpoint restore from {checkpoints.Repository}@{branch} failed: {e.Message}", e);
            }
        }

        record.Seconds = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 4);
        try
        {
            WriteAtomically(PreparedRecord(job.Id, attempt.Number), JsonSerializer.SerializeToUtf8Bytes(record, JsonSerializerOptions.Web));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new JobStoreException($"recording the prepared attempt in {PreparedRecord(job.Id, attempt.Number)} failed: {e.Message}", e);
        }
        LogPrepared(job.Id, attempt.Number, record.Inputs.Sum(i => i.Files), record.Inputs.Sum(i => i.FetchedFiles), record.Inputs.Sum(i => i.FetchedBytes), record.RestoredCheckpoint ?? "none");
    }

    /// <summary>
    /// After <paramref name="before"/>'s attempt ended as <paramref name="ended"/>: commits the checkpoint directory and,
    /// when it succeeded, the outputs, recording the commits on the attempt. A step that fails makes the job Failed
    /// with the step named in the reason; nothing in the job's directories is removed either way.
    /// </summary>
    public async Task<Job> AfterAttemptAsync(Job before, Job ended, CancellationToken cancellationToken, Action<string>? report = null)
    {
        if (!UsesStore(ended.Spec) || before.State != JobState.Running || ended.State == JobState.Running || ended.CurrentAttempt is not { } attempt)
        {
            return ended;
        }

        var commits = attempt.StoreCommits.ToList();
        string? failure = null;
        if (ended.Spec.Checkpoints is { } checkpoints)
        {
            var branch = checkpoints.BranchFor(ended.Id);
            report?.Invoke($"committing the checkpoint to {checkpoints.Repository}@{branch}");
            try
            {
                await BeforeCommitAsync(ended.Id, cancellationToken);
                if (await SaveCheckpointAsync(ended, attempt, checkpoints.Repository, branch, cancellationToken) is { } commit)
                {
                    commits.Add(new StoreCommitRecord(StoreCommitKind.Checkpoint, checkpoints.Repository, branch, commit, null));
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failure = $"checkpoint commit to {checkpoints.Repository}@{branch} failed: {Detail(e)}; the files are still in {directories.CheckpointDirectory(ended.Id)}";
            }
        }

        if (failure is null && ended.State == JobState.Succeeded)
        {
            foreach (var output in ended.Spec.Outputs)
            {
                report?.Invoke($"committing output {output.Path} to {output.Repository}@{output.Branch}");
                try
                {
                    await BeforeCommitAsync(ended.Id, cancellationToken);
                    var commit = await CommitOutputAsync(ended, attempt, output, cancellationToken);
                    commits.Add(new StoreCommitRecord(StoreCommitKind.Output, output.Repository, output.Branch, commit, output.Path));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    failure = $"output commit to {output.Repository}@{output.Branch} failed: {Detail(e)}; the files are still in {OutputSource(ended, output)}";
                    break;
                }
            }
        }

        var closed = attempt with { StoreCommits = commits };
        if (failure is not null)
        {
            LogStepFailed(ended.Id, failure);
            closed = closed with { Outcome = $"{attempt.Outcome}; {failure}" };
        }

        var result = ended with { Attempts = [.. ended.Attempts.Take(ended.Attempts.Count - 1), closed] };
        return failure is null
            ? result
            : result with { State = JobState.Failed, Reason = failure, FailedAttempts = ended.State == JobState.Succeeded ? ended.FailedAttempts + 1 : ended.FailedAttempts };
    }

    /// <summary>
    /// The job, stopped (cancelled, preempted, timed out) while its attempt's data was being put in place: nothing
    /// was launched, so the attempt ends without an exit and without a checkpoint commit (the directory may hold a
    /// half-restored checkpoint, which must not replace the branch's).
    /// </summary>
    public static Job StoppedBeforeStart(Job job, DateTimeOffset now)
    {
        var stop = job.Stop!;
        var how = stop.Kind switch
        {
            StopKind.Cancel => "cancelled",
            StopKind.Preempt => "preempted",
            StopKind.Timeout => "timed out",
            _ => "stopped",
        };
        var attempt = job.CurrentAttempt! with { EndedAt = now, Outcome = $"not started: {how} while its data was being prepared" };
        var ended = job with { Stop = null, Attempts = [.. job.Attempts.Take(job.Attempts.Count - 1), attempt], UpdatedAt = now };
        return stop.Kind switch
        {
            StopKind.Cancel => ended with { State = JobState.Cancelled, Reason = $"cancelled by {stop.By}" },
            StopKind.Preempt => ended with { State = JobState.Preempted, Reason = $"{stop.Reason}; queued to resume from its checkpoint" },
            _ => ended with { State = JobState.Failed, Reason = stop.Reason, FailedAttempts = job.FailedAttempts + 1 },
        };
    }

    private Task BeforeCommitAsync(long jobId, CancellationToken cancellationToken) =>
        BeforeCommits is { } hook ? hook(jobId, cancellationToken) : Task.CompletedTask;

    /// <summary>The job, failed before its attempt could start because its data could not be put in place.</summary>
    public static Job FailedBeforeStart(Job job, string reason, DateTimeOffset now)
    {
        var attempt = job.CurrentAttempt! with { EndedAt = now, Outcome = $"not started: {reason}" };
        return job with
        {
            State = JobState.Failed,
            Reason = reason,
            Stop = null,
            Attempts = [.. job.Attempts.Take(job.Attempts.Count - 1), attempt],
            FailedAttempts = job.FailedAttempts + 1,
            UpdatedAt = now,
        };
    }

    // ---- inputs ----

    private async Task<PreparedInput> MountAsync(long jobId, JobInput input, string workingDirectory, CancellationToken cancellationToken, Action<int, int?> progress)
    {
        var repositories = store.Repositories;
        var commit = input.Commit ?? throw new JobStoreException($"input {input.Pinned} was never resolved to a commit (submitted before inputs were pinned)");

        // One file, or every file under a directory (or the whole repository), named relative to it as 'store get' does.
        var path = input.Path?.TrimEnd('/');
        string prefix;
        if (path is not null && (await repositories.StatAsync(input.Repository, commit, path, cancellationToken)).IsSuccess)
        {
            prefix = path;
        }
        else
        {
            prefix = path is null ? "" : path + "/";
        }

        var strip = prefix.LastIndexOf('/') + 1;
        var target = Path.Combine(workingDirectory, input.MountDirectory.Replace('/', Path.DirectorySeparatorChar));

        // The directory belongs to the input: an earlier attempt's copy is replaced, never merged with.
        RemoveTree(target);
        Directory.CreateDirectory(target);
        var started = Stopwatch.GetTimestamp();
        var prepared = new PreparedInput { Repository = input.Repository, Commit = commit, Directory = target };
        string? after = null;
        do
        {
            var page = await repositories.ListAsync(input.Repository, commit, prefix, startAfter: after, limit: ListPage, cancellationToken: cancellationToken);
            if (!page.IsSuccess)
            {
                throw new JobStoreException($"input checkout of {input.Pinned} failed: {page.Message}");
            }

            int? total = page.Value!.IsTruncated ? null : prepared.Files + page.Value.Objects.Count;
            foreach (var entry in page.Value.Objects)
            {
                progress(prepared.Files, total);
                if (BeforeInputFile is { } hook)
                {
                    await hook(jobId, cancellationToken);
                }

                var (cached, fetched) = await CachedFileAsync(entry, cancellationToken);
                var relative = entry.Path[strip..];
                var destination = Path.Combine(target, relative.Replace('/', Path.DirectorySeparatorChar));
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                LinkOrCopy(cached, destination);
                prepared.Files++;
                prepared.Bytes += entry.Size;
                if (fetched)
                {
                    prepared.FetchedFiles++;
                    prepared.FetchedBytes += entry.Size;
                }
            }

            after = page.Value.IsTruncated ? page.Value.NextStartAfter : null;
        }
        while (after is not null);

        progress(prepared.Files, prepared.Files);
        MakeReadOnly(target);
        prepared.Seconds = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 4);
        return prepared;
    }

    /// <summary>The cache's copy of an entry's content, fetching it when absent or changed since it was cached.</summary>
    private async Task<(string Path, bool Fetched)> CachedFileAsync(ManifestEntry entry, CancellationToken cancellationToken)
    {
        var sha = entry.Sha256;
        var file = Path.Combine(CacheDirectory, sha[..2], sha);
        var existing = new FileInfo(file);
        if (existing.Exists)
        {
            if (existing.Length == entry.Size && existing.LastWriteTimeUtc == CachedFileTime)
            {
                return (file, false);
            }

            LogCacheEntryChanged(file);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var temporary = file + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            await using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            await using (var content = store.Repositories.Chunks.OpenRead(entry.Content))
            {
                await content.CopyToAsync(output, 1 << 20, cancellationToken);

                // Durable before the rename: after a power cut the name must never hold a file of the right size but wrong bytes.
                output.Flush(flushToDisk: true);
            }

            File.SetLastWriteTimeUtc(temporary, CachedFileTime);
            File.SetUnixFileMode(temporary, ReadOnlyFile);

            // A new inode under the old name: hard links made earlier keep the old content, later ones get this.
            File.Move(temporary, file, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }

        return (file, true);
    }

    private static void LinkOrCopy(string cached, string destination)
    {
        if (Link(cached, destination) == 0)
        {
            return;
        }

        var errno = Marshal.GetLastPInvokeError();
        if (errno != Exdev)
        {
            throw new IOException($"cannot link {cached} to {destination}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }

        // The working directory is on another filesystem than the cache: a copy, read-only like the link would be.
        File.Copy(cached, destination, overwrite: true);
        File.SetUnixFileMode(destination, ReadOnlyFile);
    }

    private static void MakeReadOnly(string directory)
    {
        foreach (var sub in Directory.EnumerateDirectories(directory, "*", SearchOption.AllDirectories))
        {
            File.SetUnixFileMode(sub, ReadOnlyDirectory);
        }

        File.SetUnixFileMode(directory, ReadOnlyDirectory);
    }

    /// <summary>Deletes a tree that <see cref="MakeReadOnly"/> protected (directories need their write bit back first).</summary>
    public static void RemoveTree(string path)
    {
        if (File.Exists(path) && !Directory.Exists(path))
        {
            File.Delete(path);
            return;
        }

        if (!Directory.Exists(path))
        {
            return;
        }

        File.SetUnixFileMode(path, WritableDirectory);
        foreach (var sub in Directory.EnumerateDirectories(path, "*", SearchOption.AllDirectories))
        {
            File.SetUnixFileMode(sub, WritableDirectory);
        }

        Directory.Delete(path, recursive: true);
    }

    // ---- checkpoints ----

    /// <summary>Restores the branch's head into the checkpoint directory; returns the commit, or null when the branch does not exist yet.</summary>
    private async Task<string?> RestoreCheckpointAsync(long jobId, string repository, string branch, CancellationToken cancellationToken)
    {
        var repositories = store.Repositories;
        var branches = await repositories.ListBranchesAsync(repository, cancellationToken);
        if (branches.FirstOrDefault(b => b.Name == branch) is not { } head)
        {
            return null;
        }

        var directory = directories.CheckpointDirectory(jobId);
        var marker = CheckpointMarker(jobId);

        // This node saved (or restored) exactly this commit and still has the directory: it is current already.
        if (Directory.Exists(directory) && File.Exists(marker) && (await File.ReadAllTextAsync(marker, cancellationToken)).Trim() == head.CommitId)
        {
            return head.CommitId;
        }

        Directory.CreateDirectory(directory);
        var restored = await repositories.CheckoutAsync(repository, head.CommitId, directory, cancellationToken: cancellationToken);
        if (!restored.IsSuccess)
        {
            throw new JobStoreException($"checkpoint restore from {repository}@{branch} failed: {restored.Message}");
        }

        WriteAtomically(marker, System.Text.Encoding.UTF8.GetBytes(head.CommitId + "\n"));
        LogRestored(jobId, repository, branch, head.CommitId, restored.Value);
        return head.CommitId;
    }

    /// <summary>
    /// Makes the branch hold exactly the checkpoint directory's files (a file the job deleted is deleted on the branch
    /// too), as one commit; returns its id, the head when nothing changed, or null when there is nothing at all to keep.
    /// </summary>
    private async Task<string?> SaveCheckpointAsync(Job job, JobAttempt attempt, string repository, string branch, CancellationToken cancellationToken)
    {
        var repositories = store.Repositories;
        var directory = directories.CheckpointDirectory(job.Id);
        var local = Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
                .Select(f => (File: f, Path: Path.GetRelativePath(directory, f).Replace(Path.DirectorySeparatorChar, '/')))
                .Where(f => !f.Path.Split('/')[^1].StartsWith(".stratum-", StringComparison.Ordinal))
                .OrderBy(f => f.Path, StringComparer.Ordinal)
                .ToList()
            : [];
        foreach (var (_, path) in local)
        {
            if (RepositoryNames.PathProblem(path) is { } problem)
            {
                throw new JobStoreException($"{problem}; rename that file in STRATUM_CHECKPOINT_DIR");
            }
        }

        var branches = await repositories.ListBranchesAsync(repository, cancellationToken);
        if (!branches.Any(b => b.Name == branch))
        {
            if (local.Count == 0)
            {
                return null;
            }

            // A new job's branch starts from the repository's default branch, so a checkpoint kept there is where it starts.
            var info = await repositories.GetRepositoryAsync(repository, cancellationToken);
            var created = info.IsSuccess ? await repositories.CreateBranchAsync(repository, branch, info.Value!.DefaultBranch, cancellationToken) : info.As<RefInfo>();
            if (!created.IsSuccess && created.Error != RepoError.AlreadyExists)
            {
                throw new JobStoreException(created.Message ?? "the branch could not be created");
            }
        }

        var keep = local.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        var gone = new List<string>();
        string? after = null;
        do
        {
            var page = await repositories.ListAsync(repository, branch, "", startAfter: after, limit: ListPage, cancellationToken: cancellationToken);
            if (!page.IsSuccess)
            {
                throw new JobStoreException(page.Message ?? "the branch could not be listed");
            }

            gone.AddRange(page.Value!.Objects.Select(o => o.Path).Where(p => !keep.Contains(p)));
            after = page.Value.IsTruncated ? page.Value.NextStartAfter : null;
        }
        while (after is not null);

        foreach (var path in gone)
        {
            var deleted = await repositories.DeleteObjectAsync(repository, branch, path, cancellationToken);
            if (!deleted.IsSuccess && deleted.Error != RepoError.NotFound)
            {
                throw new JobStoreException(deleted.Message ?? $"'{path}' could not be deleted");
            }
        }

        foreach (var (file, path) in local)
        {
            await using var content = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var put = await repositories.PutObjectAsync(repository, branch, path, content, cancellationToken: cancellationToken);
            if (!put.IsSuccess)
            {
                throw new JobStoreException(put.Message ?? $"'{path}' could not be stored");
            }
        }

        var outcome = attempt.Outcome ?? "ended";
        var commit = await CommitOrHeadAsync(repository, branch, new CommitRequest
        {
            Message = $"checkpoint of job {job.Id} ({job.Spec.Name}) after attempt {attempt.Number}: {outcome}",
            Author = job.Owner,
            Lineage = Lineage(job),
            Metadata = Metadata(job, attempt),
        }, null, cancellationToken);
        WriteAtomically(CheckpointMarker(job.Id), System.Text.Encoding.UTF8.GetBytes(commit + "\n"));
        LogCheckpointSaved(job.Id, attempt.Number, repository, branch, commit, local.Count);
        return commit;
    }

    // ---- outputs ----

    private string OutputSource(Job job, JobOutput output) =>
        Path.Combine(job.Spec.WorkingDirectory ?? directories.WorkingDirectory(job.Id, 0), output.Path.TrimEnd('/').Replace('/', Path.DirectorySeparatorChar));

    private async Task<string> CommitOutputAsync(Job job, JobAttempt attempt, JobOutput output, CancellationToken cancellationToken)
    {
        var source = OutputSource(job, output);
        var to = (output.To ?? "").Trim('/');
        var request = new CommitRequest
        {
            Message = output.Message ?? $"output of job {job.Id} ({job.Spec.Name})",
            Author = job.Owner,
            Lineage = Lineage(job),
            Metadata = Metadata(job, attempt),
        };
        var repositories = store.Repositories;
        if (Directory.Exists(source))
        {
            return await CommitOrHeadAsync(output.Repository, output.Branch, request, (source, to), cancellationToken);
        }

        if (!File.Exists(source))
        {
            throw new JobStoreException($"'{output.Path}' does not exist in the working directory of replica 0");
        }

        var path = (to.Length == 0 ? "" : to + "/") + Path.GetFileName(source);
        await using (var content = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            var put = await repositories.PutObjectAsync(output.Repository, output.Branch, path, content, cancellationToken: cancellationToken);
            if (!put.IsSuccess)
            {
                throw new JobStoreException(put.Message ?? "the file could not be stored");
            }
        }

        return await CommitOrHeadAsync(output.Repository, output.Branch, request, null, cancellationToken);
    }

    /// <summary>Commits the branch's staged changes (or a directory's files); when there was nothing new, the head already holds them.</summary>
    private async Task<string> CommitOrHeadAsync(string repository, string branch, CommitRequest request, (string Local, string To)? directory, CancellationToken cancellationToken)
    {
        var repositories = store.Repositories;
        var result = directory is { } put
            ? await repositories.PutDirectoryAsync(repository, branch, put.Local, put.To, request, cancellationToken: cancellationToken)
            : await repositories.CommitAsync(repository, branch, request, cancellationToken);
        if (result.IsSuccess)
        {
            return result.Value!.Id;
        }

        if (result.Error != RepoError.NothingToCommit)
        {
            throw new JobStoreException(result.Message ?? result.Error.ToString());
        }

        var head = await repositories.ResolveAsync(repository, branch, cancellationToken);
        return head.IsSuccess ? head.Value!.CommitId : throw new JobStoreException(head.Message ?? "the branch has no head");
    }

    private static Lineage Lineage(Job job) =>
        new(job.Id.ToString(CultureInfo.InvariantCulture), job.Spec.Inputs.Select(i => i.Pinned).Distinct(StringComparer.Ordinal).ToList());

    private static Dictionary<string, string> Metadata(Job job, JobAttempt attempt) => new(StringComparer.Ordinal)
    {
        ["stratum.job"] = job.Id.ToString(CultureInfo.InvariantCulture),
        ["stratum.jobName"] = job.Spec.Name,
        ["stratum.attempt"] = attempt.Number.ToString(CultureInfo.InvariantCulture),
    };

    private static string Detail(Exception e) => e is JobStoreException ? e.Message : $"{e.GetType().Name}: {e.Message}";

    private static void WriteAtomically(string path, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string created);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt}: inputs in place ({Files} files, {Fetched} fetched into the node cache, {FetchedBytes} bytes); checkpoint restored from {Checkpoint}")]
    private partial void LogPrepared(long jobId, int attempt, int files, int fetched, long fetchedBytes, string checkpoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: checkpoint restored from {Repository}@{Branch} (commit {Commit}, {Files} files)")]
    private partial void LogRestored(long jobId, string repository, string branch, string commit, int files);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt}: checkpoint committed to {Repository}@{Branch} (commit {Commit}, {Files} files)")]
    private partial void LogCheckpointSaved(long jobId, int attempt, string repository, string branch, string commit, int files);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: {Failure}")]
    private partial void LogStepFailed(long jobId, string failure);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Input cache file {File} changed since it was cached (a job wrote to its input?); fetching it again")]
    private partial void LogCacheEntryChanged(string file);

    /// <summary>What was put in place for an attempt, kept as <c>jobs/ID/store/attempt-N.json</c>.</summary>
    public sealed class PreparedAttempt
    {
        public int Attempt { get; set; }

        public List<PreparedInput> Inputs { get; set; } = [];

        public string? RestoredCheckpoint { get; set; }

        /// <summary>How long putting everything in place took.</summary>
        public double Seconds { get; set; }
    }

    public sealed class PreparedInput
    {
        public string Repository { get; set; } = "";

        public string Commit { get; set; } = "";

        public string Directory { get; set; } = "";

        public int Files { get; set; }

        public long Bytes { get; set; }

        public int FetchedFiles { get; set; }

        public long FetchedBytes { get; set; }

        public double Seconds { get; set; }
    }
}
