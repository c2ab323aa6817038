using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;

namespace Stratum.Execution.Tests;

public sealed class LocalExecutorContractTests : ExecutorContractTests
{
    protected override IExecutor CreateExecutor(string jobsRoot) => LocalExecutorTests.NewExecutor(jobsRoot);
}

/// <summary>What only the local executor promises: state on disk, restarts, pid reuse, process-group hygiene.</summary>
public sealed class LocalExecutorTests : ExecutorTestBase
{
    private LocalExecutor Local => (LocalExecutor)Executor;

    private JobDirectories Directories => new(JobsRoot);

    public static LocalExecutor NewExecutor(string jobsRoot) => new(new JobDirectories(jobsRoot), NullLogger<LocalExecutor>.Instance);

    [Fact]
    public async Task Observe_ByNewInstanceAfterRestart_SeesRunningThenExitedWithCode()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("until [ -e release ]; do sleep 0.05; done; exit 7"), workingDirectory: Temp.Path);
        var restarted = NewExecutor(JobsRoot);

        var running = await restarted.ObserveAsync(job, attempt);
        File.WriteAllText(Temp.File("release"), "");
        var ended = await UntilEndedAsync(job, attempt, restarted);

        Assert.Equal(ReplicaStatus.Running, running.Replicas.Single().Status);
        Assert.Equal(new ReplicaObservation(0, ReplicaStatus.Exited, 7, null), ended.Replicas.Single());
    }

    [Fact]
    public async Task Signal_ByNewInstanceAfterRestart_TerminatesReplica()
    {
        var (job, attempt) = await LaunchAsync(["sleep", "300"]);
        var restarted = NewExecutor(JobsRoot);

        await restarted.SignalAsync(job, attempt, ReplicaSignal.Terminate);
        var ended = await UntilEndedAsync(job, attempt, restarted);

        Assert.Equal(143, ended.Replicas.Single().ExitCode);
    }

    [Fact]
    public async Task Signal_TerminateRightAfterLaunch_RecordedNotLost()
    {
        // The wrapper may not have set its trap yet; the signal must wait for it rather than kill it unrecorded.
        var (job, attempt) = await LaunchAsync(["sleep", "300"]);

        await Executor.SignalAsync(job, attempt, ReplicaSignal.Terminate);
        var ended = await UntilEndedAsync(job, attempt);

        Assert.Equal(new ReplicaObservation(0, ReplicaStatus.Exited, 143, null), ended.Replicas.Single());
    }

    [Fact]
    public async Task Observe_ExitRecordGoneAndProcessGone_ReportsLost()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("exit 0"));
        await UntilEndedAsync(job, attempt);
        File.Delete(Path.Combine(Directories.ReplicaDirectory(job.Id, attempt.Number, 0), "exit-code"));

        // The wrapper writes the exit record a moment before it exits; until the process is gone the replica
        // rightly counts as running, so wait (bounded) for that before judging.
        var replica = (await Executor.ObserveAsync(job, attempt)).Replicas.Single();
        for (var tries = 0; replica.Status == ReplicaStatus.Running && tries < 200; tries++)
        {
            await Task.Delay(50);
            replica = (await Executor.ObserveAsync(job, attempt)).Replicas.Single();
        }

        Assert.Equal(ReplicaStatus.Lost, replica.Status);
        Assert.Null(replica.ExitCode);
        Assert.Contains("gone without an exit record", replica.Detail);
    }

    [Fact]
    public async Task Observe_RecordedPidNowAnotherProcess_ReportsLost()
    {
        // This test process stands in for an unrelated process that got the recorded pid: alive, other start time.
        var job = Make.Job(NextJobId(), ["true"]);
        var attempt = Make.Attempt();
        var directory = Directories.ReplicaDirectory(job.Id, attempt.Number, 0);
        Directory.CreateDirectory(directory);
        var pid = Environment.ProcessId;
        var startTime = ProcFs.ReadStat(pid)!.Value.StartTime;

        File.WriteAllText(Path.Combine(directory, "replica.pid"), new ReplicaRecord(pid, startTime, ProcFs.BootId).Format());
        var sameProcess = await Executor.ObserveAsync(job, attempt);
        File.WriteAllText(Path.Combine(directory, "replica.pid"), new ReplicaRecord(pid, startTime + 1, ProcFs.BootId).Format());
        var reused = await Executor.ObserveAsync(job, attempt);

        Assert.Equal(ReplicaStatus.Running, sameProcess.Replicas.Single().Status);
        Assert.Equal(ReplicaStatus.Lost, reused.Replicas.Single().Status);
        Assert.Contains("another process", reused.Replicas.Single().Detail);
    }

    [Fact]
    public async Task Signal_RecordedPidNowAnotherProcess_SendsNothing()
    {
        // Were the pid-reuse check missing, this would SIGTERM a sleep that is no replica at all.
        using var stranger = System.Diagnostics.Process.Start("setsid", ["sleep", "300"]);
        var job = Make.Job(NextJobId(), ["true"]);
        var attempt = Make.Attempt();
        var directory = Directories.ReplicaDirectory(job.Id, attempt.Number, 0);
        Directory.CreateDirectory(directory);
        await Poll.UntilAsync(() => ProcFs.ReadStat(stranger.Id) is { } s && s.ProcessGroup == stranger.Id, "the stranger leads its group");
        var startTime = ProcFs.ReadStat(stranger.Id)!.Value.StartTime;
        File.WriteAllText(Path.Combine(directory, "replica.pid"), new ReplicaRecord(stranger.Id, startTime + 1, ProcFs.BootId).Format());
        File.WriteAllText(Path.Combine(directory, "program.pid"), $"{stranger.Id}\n");

        try
        {
            await Executor.SignalAsync(job, attempt, ReplicaSignal.Kill);

            Assert.False(stranger.HasExited);
            Assert.False(stranger.WaitForExit(TimeSpan.FromMilliseconds(200)));
        }
        finally
        {
            stranger.Kill();
        }
    }

    [Fact]
    public async Task Launch_SameAttemptTwice_RunsProgramOnce()
    {
        var job = Make.Job(NextJobId(), Make.Shell("echo run >> runs"), workingDirectory: Temp.Path);
        var attempt = Make.Attempt();

        await LaunchAsync(job, attempt);
        await LaunchAsync(job, attempt);
        await UntilEndedAsync(job, attempt);
        await LaunchAsync(job, attempt);

        Assert.Equal("run\n", File.ReadAllText(Temp.File("runs")));
    }

    [Fact]
    public async Task Launch_Returns_RecordNamesLiveWrapperOutsideProgramGroup()
    {
        var (job, attempt) = await LaunchAsync(["sleep", "300"]);
        var directory = Directories.ReplicaDirectory(job.Id, attempt.Number, 0);

        var record = ReplicaRecord.Parse(File.ReadAllText(Path.Combine(directory, "replica.pid")));
        var programPid = await ReadPidFileAsync(Path.Combine(directory, "program.pid"));

        Assert.NotNull(record);
        Assert.Equal(Liveness.Alive, record.Check());
        await Poll.UntilAsync(() => ProcFs.ReadStat(programPid)?.ProcessGroup == programPid, "the program leads its own process group");
        Assert.Equal(record.Pid, ProcFs.ReadStat(programPid)!.Value.ParentPid);
        Assert.Equal(record.Pid, ProcFs.ReadStat(record.Pid)!.Value.ProcessGroup);
        Assert.NotEqual(ProcFs.ReadStat(Environment.ProcessId)!.Value.ProcessGroup, record.Pid);
    }

    [Fact]
    public async Task Launch_NoWorkingDirectoryInSpec_UsesPerRankDirectoryKeptAcrossAttempts()
    {
        var job = Make.Job(NextJobId(), Make.Shell("pwd; echo $STRATUM_ATTEMPT >> attempts; echo $STRATUM_CHECKPOINT_DIR"));
        var first = Make.Attempt(1);
        var second = Make.Attempt(2);

        await LaunchAsync(job, first);
        await UntilEndedAsync(job, first);
        await LaunchAsync(job, second);
        await UntilEndedAsync(job, second);

        var workingDirectory = Directories.WorkingDirectory(job.Id, 0);
        var expected = $"{workingDirectory}\n{Directories.CheckpointDirectory(job.Id)}\n";
        Assert.Equal(expected, ReadLog(job, first, 0, LogStream.Stdout));
        Assert.Equal(expected, ReadLog(job, second, 0, LogStream.Stdout));
        Assert.Equal("1\n2\n", File.ReadAllText(Path.Combine(workingDirectory, "attempts")));
    }

    [Fact]
    public async Task Launch_WorkingDirectoryMissing_ObservedExited126WithReason()
    {
        var missing = Temp.File("no-such-directory");
        var (job, attempt) = await LaunchAsync(["true"], workingDirectory: missing);

        var observation = await UntilEndedAsync(job, attempt);

        Assert.Equal(LocalExecutor.WorkingDirectoryExitCode, observation.Replicas.Single().ExitCode);
        Assert.Contains("no-such-directory", ReadLog(job, attempt, 0, LogStream.Stderr));
    }

    [Fact]
    public async Task Launch_ProgramLeavesBackgroundProcess_ProcessEndsWithReplica()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("sleep 300 & echo $! > child.pid"), workingDirectory: Temp.Path);
        var childPid = await ReadPidFileAsync(Temp.File("child.pid"));

        var observation = await UntilEndedAsync(job, attempt);

        Assert.Equal(0, observation.Replicas.Single().ExitCode);
        await Poll.UntilAsync(() => !Poll.ProcessAlive(childPid), "the background sleep ended with its replica");
    }

    [Fact]
    public async Task Launch_ServerHasStratumVariables_JobDoesNotInheritThem()
    {
        const string Secret = "STRATUM_EXECUTION_TESTS_SECRET";
        Environment.SetEnvironmentVariable(Secret, "do-not-leak");
        try
        {
            var (job, attempt) = await LaunchAsync(["env"]);
            await UntilEndedAsync(job, attempt);

            var output = ReadLog(job, attempt, 0, LogStream.Stdout);
            Assert.DoesNotContain(Secret, output);
            Assert.Contains("CUDA_DEVICE_ORDER=PCI_BUS_ID\n", output);
            Assert.Contains($"PATH={Environment.GetEnvironmentVariable("PATH")}\n", output);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Secret, null);
        }
    }

    [Fact]
    public async Task ReplicaEnded_AfterExit_ChildReaped()
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Executor.ReplicaEnded += _ => ended.TrySetResult();

        var (job, attempt) = await LaunchAsync(Make.Shell("exit 0"));
        await ended.Task.WaitAsync(Poll.DefaultTimeout);

        Assert.Equal(0, Local.ChildCount);
        var record = ReplicaRecord.Parse(File.ReadAllText(Path.Combine(Directories.ReplicaDirectory(job.Id, attempt.Number, 0), "replica.pid")));
        Assert.Null(ProcFs.ReadStat(record!.Pid));
    }

    [Fact]
    public void LogPath_MatchesJobDirectoriesLayout()
    {
        var path = Local.LogPath(42, 3, 1, LogStream.Stderr);

        Assert.Equal(Path.Combine(JobsRoot, "42", "attempt-3", "replica-1", "stderr.log"), path);
        Assert.Equal("local", Local.Name);
        Assert.Equal(path, Directories.LogPath(42, 3, 1, LogStream.Stderr));
        Assert.Equal(1, int.Parse(Path.GetFileName(Path.GetDirectoryName(path))!["replica-".Length..], CultureInfo.InvariantCulture));
    }

    protected override IExecutor CreateExecutor(string jobsRoot) => NewExecutor(jobsRoot);
}
