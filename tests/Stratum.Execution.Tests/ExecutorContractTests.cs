using System.Globalization;
using Stratum.Core.Jobs;

namespace Stratum.Execution.Tests;

/// <summary>What every executor must do, run against each implementation through a one-line subclass.</summary>
public abstract class ExecutorContractTests : ExecutorTestBase
{
    [Fact]
    public async Task Launch_ProgramExitsZero_ObservedExitedZeroWithOutputInLog()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("echo hello from the job; echo warning >&2"));

        var observation = await UntilEndedAsync(job, attempt);

        Assert.Equal(new ReplicaObservation(0, ReplicaStatus.Exited, 0, null), observation.Replicas.Single());
        Assert.Equal("hello from the job\n", ReadLog(job, attempt, 0, LogStream.Stdout));
        Assert.Equal("warning\n", ReadLog(job, attempt, 0, LogStream.Stderr));
    }

    [Fact]
    public async Task Launch_ProgramExitsThree_ObservedExitCodeThree()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("exit 3"));

        var observation = await UntilEndedAsync(job, attempt);

        Assert.Equal(ReplicaStatus.Exited, observation.Replicas.Single().Status);
        Assert.Equal(3, observation.Replicas.Single().ExitCode);
    }

    [Fact]
    public async Task Launch_MissingProgram_ObservedExited127WithErrorInStderr()
    {
        var (job, attempt) = await LaunchAsync(["/no/such/program-" + Guid.NewGuid().ToString("N"), "--flag"]);

        var observation = await UntilEndedAsync(job, attempt);

        Assert.Equal(127, observation.Replicas.Single().ExitCode);
        Assert.Contains("/no/such/program-", ReadLog(job, attempt, 0, LogStream.Stderr));
    }

    [Fact]
    public async Task Launch_ProgramNamedLikeShellBuiltin_RunsAsProgramNotBuiltin()
    {
        // "exit 3" must not be taken as the shell's own exit: the command is a program and arguments.
        var (job, attempt) = await LaunchAsync(["exit", "3"]);

        var observation = await UntilEndedAsync(job, attempt);

        Assert.Equal(127, observation.Replicas.Single().ExitCode);
    }

    [Fact]
    public async Task Launch_ArgumentsWithShellCharacters_PassedVerbatim()
    {
        string[] arguments = ["$HOME; echo injected", "a  b", "'quoted'", "*", ""];
        var (job, attempt) = await LaunchAsync(["printf", "[%s]\n", .. arguments]);

        await UntilEndedAsync(job, attempt);

        Assert.Equal(string.Concat(arguments.Select(a => $"[{a}]\n")), ReadLog(job, attempt, 0, LogStream.Stdout));
    }

    [Fact]
    public async Task Launch_TwoReplicas_EachGetsStratumEnvironmentAndItsGpus()
    {
        var checkpoints = "";
        var job = Make.Job(NextJobId(), ["env"], replicas: 2, environment: new Dictionary<string, string> { ["MY_SETTING"] = "value with spaces" });
        var attempt = Make.Attempt(2, [], [0, 2]);
        await LaunchAsync(job, attempt);

        var observation = await UntilEndedAsync(job, attempt);

        Assert.All(observation.Replicas, r => Assert.Equal(0, r.ExitCode));
        for (var rank = 0; rank < 2; rank++)
        {
            var environment = ParseEnv(ReadLog(job, attempt, rank, LogStream.Stdout));
            Assert.Equal(job.Id.ToString(CultureInfo.InvariantCulture), environment[JobEnvironment.JobId]);
            Assert.Equal(rank.ToString(CultureInfo.InvariantCulture), environment[JobEnvironment.ReplicaRank]);
            Assert.Equal("2", environment[JobEnvironment.WorldSize]);
            Assert.Equal("2", environment[JobEnvironment.Attempt]);
            Assert.Equal("value with spaces", environment["MY_SETTING"]);
            Assert.True(Directory.Exists(environment[JobEnvironment.CheckpointDir]), "the checkpoint directory exists");
            checkpoints = rank == 0 ? environment[JobEnvironment.CheckpointDir] : checkpoints;
            Assert.Equal(checkpoints, environment[JobEnvironment.CheckpointDir]);
            Assert.Equal(rank == 0 ? "" : "0,2", environment[JobEnvironment.VisibleDevices]);
        }
    }

    [Fact]
    public async Task Launch_WorkingDirectoryInSpec_ProgramStartsThere()
    {
        var (job, attempt) = await LaunchAsync(["pwd"], workingDirectory: Temp.Path);

        await UntilEndedAsync(job, attempt);

        Assert.Equal(Temp.Path + "\n", ReadLog(job, attempt, 0, LogStream.Stdout));
    }

    [Fact]
    public async Task Signal_Terminate_ReachesEveryProcessOfTheReplica()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("sleep 300 & echo $! > child.pid; wait"), workingDirectory: Temp.Path);
        var childPid = await ReadPidFileAsync(Temp.File("child.pid"));

        await Executor.SignalAsync(job, attempt, ReplicaSignal.Terminate);
        var observation = await UntilEndedAsync(job, attempt);

        Assert.Equal(128 + 15, observation.Replicas.Single().ExitCode);
        await Poll.UntilAsync(() => !Poll.ProcessAlive(childPid), "the job's child sleep is gone");
    }

    [Fact]
    public async Task Signal_TerminateCaughtAndExitsCleanly_RecordsZero()
    {
        var (job, attempt) = await LaunchAsync(
            Make.Shell("trap 'echo checkpointed; exit 0' TERM; : > ready; while :; do sleep 0.05; done"), workingDirectory: Temp.Path);
        await Poll.UntilAsync(() => File.Exists(Temp.File("ready")), "the job set its trap");

        await Executor.SignalAsync(job, attempt, ReplicaSignal.Terminate);
        var observation = await UntilEndedAsync(job, attempt);

        Assert.Equal(0, observation.Replicas.Single().ExitCode);
        Assert.Equal("checkpointed\n", ReadLog(job, attempt, 0, LogStream.Stdout));
    }

    [Fact]
    public async Task Signal_KillAfterTerminateIgnored_RecordsExit137()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("trap '' TERM; : > ready; sleep 300"), workingDirectory: Temp.Path);
        await Poll.UntilAsync(() => File.Exists(Temp.File("ready")), "the job ignores SIGTERM");

        await Executor.SignalAsync(job, attempt, ReplicaSignal.Terminate);
        var afterTerminate = await Executor.ObserveAsync(job, attempt);
        await Executor.SignalAsync(job, attempt, ReplicaSignal.Kill);
        var observation = await UntilEndedAsync(job, attempt);

        Assert.Equal(ReplicaStatus.Running, afterTerminate.Replicas.Single().Status);
        Assert.Equal(ReplicaStatus.Exited, observation.Replicas.Single().Status);
        Assert.Equal(137, observation.Replicas.Single().ExitCode);
    }

    [Fact]
    public async Task Signal_ReplicaAlreadyEnded_ChangesNothing()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("exit 4"));
        await UntilEndedAsync(job, attempt);

        await Executor.SignalAsync(job, attempt, ReplicaSignal.Kill);
        var observation = await Executor.ObserveAsync(job, attempt);

        Assert.Equal(4, observation.Replicas.Single().ExitCode);
    }

    [Fact]
    public async Task Observe_WhileRunning_ReportsRunningUntilProgramEnds()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("until [ -e release ]; do sleep 0.05; done; exit 5"), workingDirectory: Temp.Path);

        var running = await Executor.ObserveAsync(job, attempt);
        File.WriteAllText(Temp.File("release"), "");
        var ended = await UntilEndedAsync(job, attempt);

        Assert.True(running.AnyRunning);
        Assert.Equal(new ReplicaObservation(0, ReplicaStatus.Running, null, null), running.Replicas.Single());
        Assert.Equal(5, ended.Replicas.Single().ExitCode);
    }

    [Fact]
    public async Task Observe_AttemptNeverLaunched_ReportsNotStarted()
    {
        var job = Make.Job(NextJobId(), ["true"]);

        var observation = await Executor.ObserveAsync(job, Make.Attempt());

        Assert.Equal(ReplicaStatus.NotStarted, observation.Replicas.Single().Status);
        Assert.False(string.IsNullOrEmpty(observation.Replicas.Single().Detail));
        Assert.False(observation.AllEnded);
    }

    [Fact]
    public async Task ReplicaEnded_ProgramExits_RaisedWithJobId()
    {
        var ended = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        Executor.ReplicaEnded += id => ended.TrySetResult(id);

        var (job, _) = await LaunchAsync(Make.Shell("exit 0"));

        Assert.Equal(job.Id, await ended.Task.WaitAsync(Poll.DefaultTimeout));
    }
}
