using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Stratum.Core.Jobs;

namespace Stratum.Execution;

/// <summary>
/// Runs each replica as a process group on this machine. Every replica is started through a small
/// <c>/bin/sh</c> wrapper in a session of its own (so it outlives the server and its terminal): the
/// wrapper points the program's stdout and stderr at log files at the OS level, starts the program
/// as the leader of a new process group (the group that signals go to), and writes the program's
/// exit code to a file, so logs keep flowing and exit codes are recorded even when the server dies.
/// Nothing that matters is kept in memory: launch writes the wrapper's pid and start time to disk,
/// and observation reads the process table and those files, so a restarted server sees replicas
/// started by an earlier one.
/// </summary>
public sealed partial class LocalExecutor : IExecutor, ISupportsLogFiles
{
    public const string ExecutorName = "local";

    /// <summary>Exit code recorded for a replica whose working directory could not be entered.</summary>
    public const int WorkingDirectoryExitCode = 126;

    /// <summary>Exit code recorded when the program cannot be found (the shell's convention) or the wrapper cannot be started.</summary>
    public const int NotFoundExitCode = 127;

    /// <summary>
    /// The wrapper. Arguments: $1 the replica directory, $2 the working directory, $3 setsid, $4 mv
    /// (absolute, because the job's environment may change PATH), then the program and its arguments.
    /// It leads a process group of its own that nobody signals; the program runs in a second group:
    /// 1. Logs are appended at the OS level, so they outlive the server; stdin is empty.
    /// 2. The program runs in the foreground (so SIGINT and SIGQUIT are not ignored, as they would be
    ///    for a background job) through a small sh that records its own pid, then execs setsid, which
    ///    makes that pid the leader of the program's group, then execs the program. The executor
    ///    signals that group only, so the wrapper needs no signal trap and always records the code:
    ///    128+N when the program died of signal N, 127 when it cannot be found (with setsid's message
    ///    in stderr.log). exec never runs shell builtins: a program called "exit" is looked up like
    ///    any other.
    /// 3. Once the program has ended, whatever it left behind in its group gets SIGTERM: a replica's
    ///    processes do not outlive it.
    /// 4. The exit code goes to a temporary name first, then is renamed, so it is never read half-written.
    /// </summary>
    private const string WrapperScript = """
        d=$1; w=$2; setsid=$3; mv=$4; shift 4
        exec </dev/null >>"$d/stdout.log" 2>>"$d/stderr.log"
        if cd "$w"; then
            /bin/sh -c 'echo $$ >"$0/program.pid" || exit 125; s=$1; shift; exec "$s" -- "$@"' "$d" "$setsid" "$@"
            rc=$?
            read c <"$d/program.pid" && kill -s TERM -- -"$c" 2>/dev/null
        else
            rc=126
        fi
        printf '%s\n' "$rc" >"$d/exit-code.tmp" && "$mv" -f "$d/exit-code.tmp" "$d/exit-code"
        """;

    /// <summary>The name the wrapper's own error messages start with ("stratum-replica: 2: cd: can't cd to /x").</summary>
    private const string WrapperName = "stratum-replica";

    /// <summary>How long a signal waits for a just-launched program to lead its group; that takes a few milliseconds.</summary>
    private static readonly TimeSpan GroupWait = TimeSpan.FromSeconds(2);

    private static readonly Lazy<string> SetsidPath = new(() => FindProgram("setsid"));

    private static readonly Lazy<string> MvPath = new(() => FindProgram("mv"));

    private readonly JobDirectories _directories;
    private readonly ILogger<LocalExecutor> _logger;

    /// <summary>Wrappers this process started, held until they exit so they are reaped and <see cref="ReplicaEnded"/> is raised.</summary>
    private readonly ConcurrentDictionary<Process, long> _children = new();

    public LocalExecutor(JobDirectories directories, ILogger<LocalExecutor> logger)
    {
        ArgumentNullException.ThrowIfNull(directories);
        ArgumentNullException.ThrowIfNull(logger);
        _directories = directories;
        _logger = logger;
    }

    public event Action<long>? ReplicaEnded;

    public string Name => ExecutorName;

    /// <summary>Wrappers started by this instance that have not been reaped yet.</summary>
    internal int ChildCount => _children.Count;

    public string LogPath(long jobId, int attempt, int rank, LogStream stream) => _directories.LogPath(jobId, attempt, rank, stream);

    /// <summary>
    /// Starts every replica. Idempotent per replica: a replica whose directory already holds a launch
    /// record or an exit code is not started again, so a launch repeated after a crash does not run
    /// the program twice.
    /// </summary>
    public Task LaunchAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        foreach (var placement in attempt.Placement)
        {
            cancellationToken.ThrowIfCancellationRequested();
            LaunchReplica(job, attempt.Number, placement);
        }

        return Task.CompletedTask;
    }

    public async Task SignalAsync(Job job, JobAttempt attempt, ReplicaSignal signal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        var number = signal switch
        {
            ReplicaSignal.Terminate => Libc.SigTerm,
            ReplicaSignal.Kill => Libc.SigKill,
            _ => throw new ArgumentOutOfRangeException(nameof(signal), signal, "unknown signal"),
        };

        foreach (var placement in attempt.Placement)
        {
            var directory = _directories.ReplicaDirectory(job.Id, attempt.Number, placement.Rank);
            if (ReadRecord(directory).Record is not { } record || record.Check() != Liveness.Alive)
            {
                continue;
            }

            // Right after launch the program may not lead its group yet; a signal sent then would be lost.
            if (await WaitForProgramGroupAsync(directory, record, cancellationToken).ConfigureAwait(false) is not { } group)
            {
                continue;
            }

            try
            {
                var delivered = Libc.KillProcessGroup(group, number);
                LogSignalled(job.Id, attempt.Number, placement.Rank, signal, group, delivered);
            }
            catch (IOException e)
            {
                LogSignalFailed(e, job.Id, attempt.Number, placement.Rank, signal, group);
            }
        }
    }

    public Task<AttemptObservation> ObserveAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        var replicas = attempt.Placement
            .Select(p => ObserveReplica(_directories.ReplicaDirectory(job.Id, attempt.Number, p.Rank), p.Rank))
            .ToList();
        return Task.FromResult(new AttemptObservation(replicas));
    }

    /// <summary>
    /// One replica from the files and the process table. The process is looked at before the exit code:
    /// the wrapper writes the code before it exits, so "not alive" followed by "no exit code" really
    /// means none will come, while the other order could miss a code written in between.
    /// </summary>
    internal static ReplicaObservation ObserveReplica(string directory, int rank)
    {
        var (record, recordProblem) = ReadRecord(directory);
        var liveness = record?.Check();
        var exitPath = Path.Combine(directory, ReplicaFiles.ExitCode);
        var exitText = ProcFs.ReadText(exitPath);
        if (exitText is not null)
        {
            return int.TryParse(exitText.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code)
                ? new ReplicaObservation(rank, ReplicaStatus.Exited, code, null)
                : liveness == Liveness.Alive
                    ? new ReplicaObservation(rank, ReplicaStatus.Running, null, null)
                    : new ReplicaObservation(rank, ReplicaStatus.Lost, null, $"exit record unreadable: '{exitText.Trim()}'");
        }

        if (liveness == Liveness.Alive)
        {
            return new ReplicaObservation(rank, ReplicaStatus.Running, null, null);
        }

        if (record is null && recordProblem is null)
        {
            return new ReplicaObservation(rank, ReplicaStatus.NotStarted, null, "no launch record: the replica was never started");
        }

        var detail = liveness switch
        {
            null => recordProblem!,
            Liveness.Rebooted => "the machine restarted since launch and left no exit record",
            Liveness.PidReused => $"process {record!.Pid} gone without an exit record (its pid now belongs to another process)",
            _ => $"process {record!.Pid} gone without an exit record",
        };
        return new ReplicaObservation(rank, ReplicaStatus.Lost, null, detail);
    }

    private static (ReplicaRecord? Record, string? Problem) ReadRecord(string directory)
    {
        var text = ProcFs.ReadText(Path.Combine(directory, ReplicaFiles.Record));
        if (text is null)
        {
            return (null, null);
        }

        return ReplicaRecord.Parse(text) is { } record
            ? (record, null)
            : (null, $"launch record unreadable: '{text.Trim()}'");
    }

    /// <summary>
    /// The program's process group once it exists: the recorded program pid, still a child of the
    /// wrapper (so the pid is not another process's) and already leading its group. Null when the
    /// replica ends first, or the group does not appear in time.
    /// </summary>
    private static async Task<int?> WaitForProgramGroupAsync(string directory, ReplicaRecord wrapper, CancellationToken cancellationToken)
    {
        var programPath = Path.Combine(directory, ReplicaFiles.ProgramPid);
        var exitPath = Path.Combine(directory, ReplicaFiles.ExitCode);
        var deadline = Stopwatch.GetTimestamp() + (long)(GroupWait.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (ProcFs.ReadText(programPath) is { } text
                && int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && pid > 1
                && ProcFs.ReadStat(pid) is { } stat
                && !stat.HasExited && stat.ParentPid == wrapper.Pid && stat.ProcessGroup == pid)
            {
                return pid;
            }

            if (File.Exists(exitPath) || wrapper.Check() != Liveness.Alive || Stopwatch.GetTimestamp() > deadline)
            {
                return null;
            }

            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string FindProgram(string name) =>
        new[] { "/usr/bin/", "/bin/" }.Select(d => d + name).FirstOrDefault(File.Exists) ?? name;

    private static string FormatEnvironmentIndices(IReadOnlyList<int> indices) =>
        string.Join(',', indices.Select(i => i.ToString(CultureInfo.InvariantCulture)));

    private void LaunchReplica(Job job, int attempt, ReplicaPlacement placement)
    {
        var directory = _directories.ReplicaDirectory(job.Id, attempt, placement.Rank);
        Directory.CreateDirectory(directory);
        var recordPath = Path.Combine(directory, ReplicaFiles.Record);
        if (File.Exists(recordPath) || File.Exists(Path.Combine(directory, ReplicaFiles.ExitCode)))
        {
            LogAlreadyLaunched(job.Id, attempt, placement.Rank);
            return;
        }

        var checkpoints = _directories.CheckpointDirectory(job.Id);
        Directory.CreateDirectory(checkpoints);
        var workingDirectory = job.Spec.WorkingDirectory;
        if (workingDirectory is null)
        {
            workingDirectory = _directories.WorkingDirectory(job.Id, placement.Rank);
            Directory.CreateDirectory(workingDirectory);
        }

        var startInfo = new ProcessStartInfo(SetsidPath.Value)
        {
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        foreach (var argument in (string[])["/bin/sh", "-c", WrapperScript, WrapperName, directory, workingDirectory, SetsidPath.Value, MvPath.Value])
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var argument in job.Spec.Command)
        {
            startInfo.ArgumentList.Add(argument);
        }

        SetEnvironment(startInfo.Environment, job, attempt, placement, checkpoints);

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        process.Exited += OnChildExited;
        _children[process] = job.Id;
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            _children.TryRemove(process, out _);
            process.Dispose();
            LogStartFailed(e, job.Id, attempt, placement.Rank);
            RecordStartFailure(directory, $"{WrapperName}: cannot start {SetsidPath.Value}: {e.Message}");
            return;
        }

        // A wrapper that already exited and was reaped has no stat left; it wrote its exit code first,
        // so a record with start time 0 (never alive) still observes correctly.
        var pid = process.Id;
        var startTime = ProcFs.ReadStat(pid)?.StartTime ?? 0;
        new ReplicaRecord(pid, startTime, ProcFs.BootId).WriteDurably(recordPath);
        LogLaunched(job.Id, attempt, placement.Rank, pid, workingDirectory);
    }

    /// <summary>
    /// The server's environment without its own STRATUM_* variables (which may hold its address or an
    /// admin token), then the job's, then the ones Stratum sets for every replica.
    /// </summary>
    private static void SetEnvironment(IDictionary<string, string?> environment, Job job, int attempt, ReplicaPlacement placement, string checkpoints)
    {
        foreach (var key in environment.Keys.Where(k => k.StartsWith("STRATUM_", StringComparison.Ordinal)).ToList())
        {
            environment.Remove(key);
        }

        // The indices are nvidia-smi's, which are in PCI bus order; CUDA numbers devices fastest first
        // unless told otherwise, so without this CUDA_VISIBLE_DEVICES=0 could name another GPU.
        environment["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID";
        foreach (var (key, value) in job.Spec.Environment)
        {
            environment[key] = value;
        }

        environment[JobEnvironment.JobId] = job.Id.ToString(CultureInfo.InvariantCulture);
        environment[JobEnvironment.ReplicaRank] = placement.Rank.ToString(CultureInfo.InvariantCulture);
        environment[JobEnvironment.WorldSize] = job.Spec.Replicas.ToString(CultureInfo.InvariantCulture);
        environment[JobEnvironment.Attempt] = attempt.ToString(CultureInfo.InvariantCulture);
        environment[JobEnvironment.CheckpointDir] = checkpoints;

        // Empty (not unset) when the replica has no GPUs: CUDA then sees none rather than all of them.
        environment[JobEnvironment.VisibleDevices] = FormatEnvironmentIndices(placement.AcceleratorIndices);
    }

    private static void RecordStartFailure(string directory, string message)
    {
        File.AppendAllText(Path.Combine(directory, JobDirectories.LogFileName(LogStream.Stderr)), message + "\n");
        var exitPath = Path.Combine(directory, ReplicaFiles.ExitCode);
        File.WriteAllText(exitPath + ".tmp", NotFoundExitCode.ToString(CultureInfo.InvariantCulture) + "\n");
        File.Move(exitPath + ".tmp", exitPath, overwrite: true);
    }

    private void OnChildExited(object? sender, EventArgs e)
    {
        if (sender is not Process process || !_children.TryRemove(process, out var jobId))
        {
            return;
        }

        process.Dispose();
        try
        {
            ReplicaEnded?.Invoke(jobId);
        }
        catch (Exception handlerError)
        {
            // A subscriber's bug must not take the server down from a thread-pool callback.
            LogReplicaEndedHandlerFailed(handlerError, jobId);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Launched job {JobId} attempt {Attempt} replica {Rank} as process group {Pid} in {WorkingDirectory}")]
    private partial void LogLaunched(long jobId, int attempt, int rank, int pid, string workingDirectory);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} replica {Rank} was already launched; not starting it again")]
    private partial void LogAlreadyLaunched(long jobId, int attempt, int rank);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not start job {JobId} attempt {Attempt} replica {Rank}")]
    private partial void LogStartFailed(Exception exception, long jobId, int attempt, int rank);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sent {Signal} to job {JobId} attempt {Attempt} replica {Rank} (process group {Pid}, delivered: {Delivered})")]
    private partial void LogSignalled(long jobId, int attempt, int rank, ReplicaSignal signal, int pid, bool delivered);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not send {Signal} to job {JobId} attempt {Attempt} replica {Rank} (process group {Pid})")]
    private partial void LogSignalFailed(Exception exception, long jobId, int attempt, int rank, ReplicaSignal signal, int pid);

    [LoggerMessage(Level = LogLevel.Error, Message = "A ReplicaEnded handler failed for job {JobId}")]
    private partial void LogReplicaEndedHandlerFailed(Exception exception, long jobId);
}
