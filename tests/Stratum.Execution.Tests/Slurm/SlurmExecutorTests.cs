using Microsoft.Extensions.Logging.Abstractions;
using Stratum.Core.Resources;
using Stratum.Execution.Slurm;

namespace Stratum.Execution.Tests.Slurm;

/// <summary>The executor's decisions on recorded Slurm answers, without a cluster.</summary>
public sealed class SlurmExecutorTests : IDisposable
{
    private const string ControllerDown = "Unable to contact slurm controller (connect failure)";

    private readonly TempDirectory _temp = new();
    private readonly JobDirectories _directories;

    public SlurmExecutorTests()
    {
        _directories = new JobDirectories(Path.Combine(_temp.Path, "jobs"));
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Launch_SbatchAccepts_RecordsJobIdScriptAndReplicaDirectories()
    {
        var commands = Answer(sbatch: new(0, "417\n", ""));
        var job = SlurmMake.Job(3, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20), replicas: 2);

        await Executor(commands).LaunchAsync(job, Make.Attempt(1, [], []));

        var attempt = _directories.AttemptDirectory(3, 1);
        Assert.Equal("417\n", File.ReadAllText(Path.Combine(attempt, "slurm-job-id")));
        var sbatch = commands.Calls.Single(c => c.Program == "sbatch");
        Assert.Equal(Path.Combine(attempt, "batch.sh"), sbatch.Arguments[^1]);
        Assert.StartsWith("#!/bin/sh\n", File.ReadAllText(sbatch.Arguments[^1]));
        Assert.True(Directory.Exists(_directories.ReplicaDirectory(3, 1, 1)));
        Assert.True(Directory.Exists(_directories.CheckpointDirectory(3)));
    }

    [Fact]
    public async Task Launch_Twice_SubmitsOnce()
    {
        var commands = Answer(sbatch: new(0, "418;cluster\n", ""));
        var executor = Executor(commands);
        var job = SlurmMake.Job(4, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20));

        await executor.LaunchAsync(job, Make.Attempt());
        await executor.LaunchAsync(job, Make.Attempt());

        Assert.Single(commands.Calls, c => c.Program == "sbatch");
        Assert.Equal("418\n", File.ReadAllText(Path.Combine(_directories.AttemptDirectory(4, 1), "slurm-job-id")));
    }

    [Fact]
    public async Task Launch_SubmittedBeforeCrash_FoundByNameNotSubmittedAgain()
    {
        var commands = Answer(byName: "77\n");
        var job = SlurmMake.Job(5, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20));

        await Executor(commands).LaunchAsync(job, Make.Attempt(2, []));

        Assert.DoesNotContain(commands.Calls, c => c.Program == "sbatch");
        Assert.Contains("--name=stratum-5-2", commands.Calls[0].Arguments);
        Assert.Equal("77\n", File.ReadAllText(Path.Combine(_directories.AttemptDirectory(5, 2), "slurm-job-id")));
    }

    [Fact]
    public async Task Launch_SbatchRefuses_ReplicasLostWithSlurmsMessage()
    {
        var commands = Answer(sbatch: new(1, "", "sbatch: error: Memory specification can not be satisfied\nsbatch: error: Batch job submission failed: Requested node configuration is not available\n"));
        var executor = Executor(commands);
        var job = SlurmMake.Job(6, ResourceVector.Of(cpus: 1, memoryBytes: 1L << 50), replicas: 2);
        var attempt = Make.Attempt(1, [], []);

        await executor.LaunchAsync(job, attempt);
        var observation = await executor.ObserveAsync(job, attempt);
        await executor.LaunchAsync(job, attempt);

        Assert.All(observation.Replicas, r => Assert.Equal(ReplicaStatus.Lost, r.Status));
        Assert.Equal(
            "sbatch refused the job: Memory specification can not be satisfied; Batch job submission failed: Requested node configuration is not available",
            observation.Replicas[0].Detail);
        Assert.Single(commands.Calls, c => c.Program == "sbatch");
    }

    [Fact]
    public async Task Launch_ControllerDown_ThrowsAndStaysNotStarted()
    {
        var commands = Answer(sbatch: new(1, "", "sbatch: error: Batch job submission failed: " + ControllerDown + "\n"));
        var executor = Executor(commands);
        var job = SlurmMake.Job(7, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20));

        var error = await Assert.ThrowsAsync<SlurmUnavailableException>(() => executor.LaunchAsync(job, Make.Attempt()));
        var observation = await executor.ObserveAsync(job, Make.Attempt());

        Assert.Contains(ControllerDown, error.Message);
        Assert.Equal(ReplicaStatus.NotStarted, observation.Replicas.Single().Status);
    }

    [Fact]
    public async Task Observe_NeverLaunched_NotStartedWithoutAskingSlurm()
    {
        var commands = Answer();

        var observation = await Executor(commands).ObserveAsync(SlurmMake.Job(8, ResourceVector.Of(cpus: 1, memoryBytes: 1)), Make.Attempt());

        Assert.Equal(ReplicaStatus.NotStarted, observation.Replicas.Single().Status);
        Assert.Empty(commands.Calls);
    }

    [Fact]
    public async Task Observe_ControllerDown_RunningMarkedUnreachableNotLost()
    {
        var job = SlurmMake.Job(9, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20));
        await Executor(Answer(sbatch: new(0, "500\n", ""))).LaunchAsync(job, Make.Attempt());
        var commands = Answer(squeue: new(1, "", "slurm_load_jobs error: " + ControllerDown + "\n"));

        var observation = await Executor(commands).ObserveAsync(job, Make.Attempt());

        var replica = observation.Replicas.Single();
        Assert.Equal(ReplicaStatus.Running, replica.Status);
        Assert.Contains("slurm controller unreachable", replica.Detail);
    }

    [Fact]
    public async Task Observe_ForgottenWithoutAccounting_UsesRecordedCodes()
    {
        var job = SlurmMake.Job(10, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20), replicas: 2);
        var attempt = Make.Attempt(1, [], []);
        await Executor(Answer(sbatch: new(0, "501\n", ""))).LaunchAsync(job, attempt);
        File.WriteAllText(Path.Combine(_directories.ReplicaDirectory(10, 1, 0), "exit-code"), "0\n");
        var commands = Answer(squeue: new(1, "", "slurm_load_jobs error: Invalid job id specified\n"), sacct: new(1, "", "Slurm accounting storage is disabled\n"));

        var observation = await Executor(commands).ObserveAsync(job, attempt);

        Assert.Equal(new ReplicaObservation(0, ReplicaStatus.Exited, 0, null), observation.Replicas[0]);
        Assert.Equal(ReplicaStatus.Lost, observation.Replicas[1].Status);
        Assert.Contains(commands.Calls, c => c.Program == "sacct");
    }

    [Fact]
    public async Task Signal_TerminatePendingJob_CancelledOutright()
    {
        var job = SlurmMake.Job(11, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20));
        await Executor(Answer(sbatch: new(0, "502\n", ""))).LaunchAsync(job, Make.Attempt());
        var commands = Answer(squeue: new(0, "502|PENDING|Resources\n", ""));

        await Executor(commands).SignalAsync(job, Make.Attempt(), ReplicaSignal.Terminate);

        Assert.Equal(["502"], commands.Calls.Single(c => c.Program == "scancel").Arguments);
    }

    [Fact]
    public async Task Signal_TerminateRunningJob_SignalsSteps()
    {
        var job = SlurmMake.Job(12, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20));
        await Executor(Answer(sbatch: new(0, "503\n", ""))).LaunchAsync(job, Make.Attempt());
        var commands = Answer(squeue: new(0, "503|RUNNING|None\n", ""));

        await Executor(commands).SignalAsync(job, Make.Attempt(), ReplicaSignal.Terminate);
        await Executor(commands).SignalAsync(job, Make.Attempt(), ReplicaSignal.Kill);

        var cancels = commands.Calls.Where(c => c.Program == "scancel").Select(c => string.Join(' ', c.Arguments)).ToList();
        Assert.Equal(["--signal=TERM 503", "503"], cancels);
    }

    [Fact]
    public async Task Signal_ControllerDown_ThrowsUnavailable()
    {
        var job = SlurmMake.Job(13, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20));
        await Executor(Answer(sbatch: new(0, "504\n", ""))).LaunchAsync(job, Make.Attempt());

        await Assert.ThrowsAsync<SlurmUnavailableException>(() =>
            Executor(Answer(squeue: new(1, "", ControllerDown))).SignalAsync(job, Make.Attempt(), ReplicaSignal.Kill));
    }

    private static FakeSlurmCommands Answer(SlurmCommandResult? sbatch = null, SlurmCommandResult? squeue = null, SlurmCommandResult? sacct = null, string byName = "") =>
        new((program, arguments) => program switch
        {
            "sbatch" => sbatch ?? throw new InvalidOperationException("unexpected sbatch"),
            "squeue" when arguments.Any(a => a.StartsWith("--name=", StringComparison.Ordinal)) => new SlurmCommandResult(0, byName, ""),
            "squeue" => squeue ?? throw new InvalidOperationException("unexpected squeue"),
            "sacct" => sacct ?? new SlurmCommandResult(1, "", "Slurm accounting storage is disabled"),
            "scancel" => new SlurmCommandResult(0, "", ""),
            _ => throw new InvalidOperationException("unexpected " + program),
        });

    private SlurmExecutor Executor(ISlurmCommands commands) =>
        new(_directories, commands, new SlurmOptions(), NullLogger<SlurmExecutor>.Instance);
}
