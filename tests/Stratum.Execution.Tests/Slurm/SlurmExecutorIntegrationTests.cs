using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Execution.Slurm;

namespace Stratum.Execution.Tests.Slurm;

/// <summary>Jobs through a real slurmctld and slurmd (see <see cref="SlurmCluster"/>).</summary>
[Collection(SlurmCollection.Name)]
public sealed class SlurmExecutorIntegrationTests(SlurmCluster cluster) : ExecutorTestBase
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(60);

    private SlurmOptions Options => new()
    {
        Partition = "debug",
        ConfigFile = cluster.ConfigFile,

        // A stopped controller makes squeue retry for about 18 s before it gives up; the tests need not wait that long.
        CommandTimeout = TimeSpan.FromSeconds(4),
    };

    [SlurmFact]
    public async Task Launch_ProgramExitsZero_ExitedZeroWithOutputInLogs()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("echo hello from slurm; echo warning >&2"));

        var observation = await UntilSlurmEndedAsync(job, attempt);

        Assert.Equal(new ReplicaObservation(0, ReplicaStatus.Exited, 0, null), observation.Replicas.Single());
        Assert.Equal("hello from slurm\n", ReadLog(job, attempt, 0, LogStream.Stdout));
        Assert.Equal("warning\n", ReadLog(job, attempt, 0, LogStream.Stderr));
    }

    [SlurmFact]
    public async Task Launch_ProgramExitsThree_ExitedWithCodeThree()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("exit 3"));

        var observation = await UntilSlurmEndedAsync(job, attempt);

        Assert.Equal(new ReplicaObservation(0, ReplicaStatus.Exited, 3, null), observation.Replicas.Single());
    }

    [SlurmFact]
    public async Task Launch_MissingProgramAndShellCharacters_127AndArgumentsVerbatim()
    {
        var (missing, missingAttempt) = await LaunchAsync(["/no/such/program-" + Guid.NewGuid().ToString("N"), "--flag"]);
        string[] arguments = ["$HOME; echo injected", "a  b", "'quoted'", "*", "", "100%"];
        var (printf, printfAttempt) = await LaunchAsync(["printf", "[%s]\n", .. arguments]);

        var missingObservation = await UntilSlurmEndedAsync(missing, missingAttempt);
        await UntilSlurmEndedAsync(printf, printfAttempt);

        Assert.Equal(127, missingObservation.Replicas.Single().ExitCode);
        Assert.Contains("/no/such/program-", ReadLog(missing, missingAttempt, 0, LogStream.Stderr));
        Assert.Equal(string.Concat(arguments.Select(a => $"[{a}]\n")), ReadLog(printf, printfAttempt, 0, LogStream.Stdout));
    }

    [SlurmFact]
    public async Task Launch_TwoReplicas_EachSeesItsRankAndTheStratumEnvironment()
    {
        var job = Make.Job(NextJobId(), ["env"], replicas: 2, environment: new Dictionary<string, string> { ["MY_SETTING"] = "value with spaces" });
        var attempt = Make.Attempt(2, [], []);
        await LaunchAsync(job, attempt);

        var observation = await UntilSlurmEndedAsync(job, attempt);

        Assert.All(observation.Replicas, r => Assert.Equal(0, r.ExitCode));
        var checkpoints = new HashSet<string>();
        for (var rank = 0; rank < 2; rank++)
        {
            var environment = ParseEnv(ReadLog(job, attempt, rank, LogStream.Stdout));
            Assert.Equal(job.Id.ToString(CultureInfo.InvariantCulture), environment[JobEnvironment.JobId]);
            Assert.Equal(rank.ToString(CultureInfo.InvariantCulture), environment[JobEnvironment.ReplicaRank]);
            Assert.Equal("2", environment[JobEnvironment.WorldSize]);
            Assert.Equal("2", environment[JobEnvironment.Attempt]);
            Assert.Equal("value with spaces", environment["MY_SETTING"]);
            Assert.Equal("", environment[JobEnvironment.VisibleDevices]);
            Assert.Equal(rank.ToString(CultureInfo.InvariantCulture), environment["SLURM_PROCID"]);
            Assert.True(Directory.Exists(environment[JobEnvironment.CheckpointDir]));
            checkpoints.Add(environment[JobEnvironment.CheckpointDir]);
        }

        Assert.Single(checkpoints);
    }

    [SlurmFact]
    public async Task Signal_TerminateRunningJob_Exited143()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell(": > ready; exec sleep 300"), workingDirectory: Temp.Path);
        await UntilFileAsync(Temp.File("ready"));

        await Executor.SignalAsync(job, attempt, ReplicaSignal.Terminate);
        var observation = await UntilSlurmEndedAsync(job, attempt);

        Assert.Equal(new ReplicaObservation(0, ReplicaStatus.Exited, 143, null), observation.Replicas.Single());
    }

    [SlurmFact]
    public async Task Signal_KillAfterTerminateIgnored_Exited137()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("trap '' TERM; : > ready; while :; do sleep 1; done"), workingDirectory: Temp.Path);
        await UntilFileAsync(Temp.File("ready"));

        await Executor.SignalAsync(job, attempt, ReplicaSignal.Terminate);
        var afterTerminate = await Executor.ObserveAsync(job, attempt);
        await Executor.SignalAsync(job, attempt, ReplicaSignal.Kill);
        var observation = await UntilSlurmEndedAsync(job, attempt);

        Assert.Equal(ReplicaStatus.Running, afterTerminate.Replicas.Single().Status);
        Assert.Equal(ReplicaStatus.Exited, observation.Replicas.Single().Status);
        Assert.Equal(137, observation.Replicas.Single().ExitCode);
    }

    [SlurmFact]
    public async Task Signal_PreemptWithCheckpoint_NextAttemptResumesFromIt()
    {
        const string Script = """
            step="$STRATUM_CHECKPOINT_DIR/step"
            if [ -f "$step" ]; then echo "resumed at step $(cat "$step") in attempt $STRATUM_ATTEMPT"; exit 0; fi
            trap 'echo 7 > "$step.tmp" && mv "$step.tmp" "$step"; echo checkpointed; exit 0' TERM
            : > "$STRATUM_CHECKPOINT_DIR/running"
            while :; do sleep 0.1; done
            """;
        var job = Make.Job(NextJobId(), Make.Shell(Script));
        var first = Make.Attempt(1);
        await LaunchAsync(job, first);
        var checkpoints = new JobDirectories(JobsRoot).CheckpointDirectory(job.Id);
        await UntilFileAsync(Path.Combine(checkpoints, "running"));

        await Executor.SignalAsync(job, first, ReplicaSignal.Terminate);
        var preempted = await UntilSlurmEndedAsync(job, first);
        var second = Make.Attempt(2);
        await LaunchAsync(job, second);
        var resumed = await UntilSlurmEndedAsync(job, second);

        Assert.Equal(0, preempted.Replicas.Single().ExitCode);
        Assert.Equal("checkpointed\n", ReadLog(job, first, 0, LogStream.Stdout));
        Assert.Equal(0, resumed.Replicas.Single().ExitCode);
        Assert.Equal("resumed at step 7 in attempt 2\n", ReadLog(job, second, 0, LogStream.Stdout));
    }

    [SlurmFact]
    public async Task Launch_MoreMemoryThanAnyNode_LostWithSlurmsMessage()
    {
        var template = Make.Job(NextJobId(), ["true"]);
        var job = template with { Spec = template.Spec with { Resources = ResourceVector.Of(cpus: 1, memoryBytes: 64L << 40) } };
        var attempt = Make.Attempt();
        await LaunchAsync(job, attempt);

        var observation = await Executor.ObserveAsync(job, attempt);

        var replica = observation.Replicas.Single();
        Assert.Equal(ReplicaStatus.Lost, replica.Status);
        Assert.StartsWith("sbatch refused the job: ", replica.Detail);
        Assert.Contains("Requested node configuration is not available", replica.Detail);
    }

    [SlurmFact]
    public async Task Observe_ControllerStopped_NotLostThenReconciledAfterRestart()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell(": > ready; until [ -e release ]; do sleep 0.1; done; exit 5"), workingDirectory: Temp.Path);
        await UntilFileAsync(Temp.File("ready"));
        await Poll.UntilAsync(() => Executor.ObserveAsync(job, attempt), o => o.Replicas.Single().Detail is null, "RUNNING in squeue", JobTimeout);

        AttemptObservation down;
        cluster.StopController();
        try
        {
            down = await Executor.ObserveAsync(job, attempt);
        }
        finally
        {
            cluster.StartController();
        }

        var back = await Executor.ObserveAsync(job, attempt);
        File.WriteAllText(Temp.File("release"), "");
        var ended = await UntilSlurmEndedAsync(job, attempt);

        Assert.Equal(ReplicaStatus.Running, down.Replicas.Single().Status);
        Assert.Contains(SlurmJobStates.Unreachable, down.Replicas.Single().Detail);
        Assert.Equal(new ReplicaObservation(0, ReplicaStatus.Running, null, null), back.Replicas.Single());
        Assert.Equal(5, ended.Replicas.Single().ExitCode);
    }

    [SlurmFact]
    public async Task Discover_TestCluster_OneReadyNodeWithTheMachinesCpus()
    {
        var discovery = new SlurmNodeDiscovery(new SlurmCommands(Options), Options);

        var nodes = await discovery.DiscoverAsync("hpc", DateTimeOffset.UnixEpoch);

        var node = Assert.Single(nodes);
        Assert.Equal(Environment.ProcessorCount * 1000L, node.Capacity.CpuMillis);
        Assert.True(node.Capacity.MemoryBytes > 0);
        Assert.Equal(NodeState.Ready, node.State);
        Assert.Equal("hpc", node.Pool);
    }

    protected override IExecutor CreateExecutor(string jobsRoot) =>
        new SlurmExecutor(new JobDirectories(jobsRoot), new SlurmCommands(Options), Options, NullLogger<SlurmExecutor>.Instance);

    /// <summary>Polls less often than the local tests: each observation runs squeue.</summary>
    private Task<AttemptObservation> UntilSlurmEndedAsync(Job job, JobAttempt attempt) =>
        Poll.UntilAsync(
            async () =>
            {
                await Task.Delay(100);
                return await Executor.ObserveAsync(job, attempt);
            },
            o => o.AllEnded,
            $"job {job.Id} attempt {attempt.Number} ended",
            JobTimeout);

    private static Task UntilFileAsync(string path) => Poll.UntilAsync(() => File.Exists(path), path + " exists", JobTimeout);
}
