using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Execution.Slurm;

namespace Stratum.Execution.Tests.Slurm;

public sealed class SbatchArgumentsTests
{
    private static readonly JobDirectories Directories = new("/data/jobs");

    [Fact]
    public void For_SingleReplica_MapsResourcesPerNode()
    {
        var job = SlurmMake.Job(42, ResourceVector.Of(cpus: 2.5, memoryBytes: 3L << 30));

        var arguments = SbatchArguments.For(job, Make.Attempt(3), new SlurmOptions { Partition = "gpu", Account = "research" }, Directories);

        Assert.Equal(
            [
                "--parsable", "--job-name=stratum-42-3", "--partition=gpu", "--account=research",
                "--nodes=1", "--ntasks=1", "--ntasks-per-node=1", "--cpus-per-task=3", "--mem=3072M",
                "--no-requeue", "--open-mode=append",
                "--output=/data/jobs/42/attempt-3/batch-stdout.log", "--error=/data/jobs/42/attempt-3/batch-stderr.log",
                "--chdir=/data/jobs/42/attempt-3",
            ],
            arguments);
    }

    [Fact]
    public void For_TypedGpusOnOneNode_UsesGresWithMappedType()
    {
        var job = SlurmMake.Job(1, ResourceVector.Of(cpus: 8, memoryBytes: 1L << 30, acceleratorType: "nvidia-h100", accelerators: 4));
        var options = new SlurmOptions { GresTypes = new Dictionary<string, string> { ["nvidia-h100"] = "h100" } };

        var arguments = SbatchArguments.For(job, Make.Attempt(), options, Directories);

        Assert.Contains("--gres=gpu:h100:4", arguments);
        Assert.DoesNotContain(arguments, a => a.StartsWith("--gpus-per-task", StringComparison.Ordinal));
    }

    [Fact]
    public void For_UntypedGpuType_UsesGresWithoutType()
    {
        var job = SlurmMake.Job(1, ResourceVector.Of(cpus: 1, memoryBytes: 1L << 30, acceleratorType: "gpu", accelerators: 2));

        var arguments = SbatchArguments.For(job, Make.Attempt(), new SlurmOptions(), Directories);

        Assert.Contains("--gres=gpu:2", arguments);
    }

    [Fact]
    public void For_TwoReplicasPacked_UsesPerTaskMemoryAndGpus()
    {
        var job = SlurmMake.Job(7, ResourceVector.Of(cpus: 3, memoryBytes: 1000L << 20, acceleratorType: "a100", accelerators: 1), replicas: 2);

        var arguments = SbatchArguments.For(job, Make.Attempt(), new SlurmOptions(), Directories);

        Assert.Contains("--nodes=1-2", arguments);
        Assert.Contains("--ntasks=2", arguments);
        Assert.Contains("--cpus-per-task=3", arguments);
        Assert.Contains("--mem-per-cpu=334M", arguments);
        Assert.Contains("--gpus-per-task=a100:1", arguments);
        Assert.DoesNotContain("--ntasks-per-node=1", arguments);
    }

    [Fact]
    public void For_TwoReplicasOnePerNode_UsesPerNodeForms()
    {
        var job = SlurmMake.Job(7, ResourceVector.Of(cpus: 3, memoryBytes: 1000L << 20, acceleratorType: "a100", accelerators: 1), replicas: 2);

        var arguments = SbatchArguments.For(job, Make.Attempt(), new SlurmOptions { OneReplicaPerNode = true }, Directories);

        Assert.Contains("--nodes=2", arguments);
        Assert.Contains("--ntasks-per-node=1", arguments);
        Assert.Contains("--mem=1000M", arguments);
        Assert.Contains("--gres=gpu:a100:1", arguments);
    }

    [Fact]
    public void For_MaxRuntime_TimeRoundedUpToMinutesWithWarning()
    {
        var job = SlurmMake.Job(1, ResourceVector.Of(cpus: 0.1, memoryBytes: 1), maxRuntime: TimeSpan.FromSeconds(90));

        var arguments = SbatchArguments.For(job, Make.Attempt(), new SlurmOptions { WarnBeforeEnd = TimeSpan.FromSeconds(30), WarnSignal = "USR1" }, Directories);

        Assert.Contains("--time=2", arguments);
        Assert.Contains("--signal=USR1@30", arguments);
        Assert.Contains("--cpus-per-task=1", arguments);
        Assert.Contains("--mem=1M", arguments);
    }

    [Fact]
    public void For_NoMaxRuntime_NoTimeAndNoSignal()
    {
        var arguments = SbatchArguments.For(SlurmMake.Job(1, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20)), Make.Attempt(), new SlurmOptions(), Directories);

        Assert.DoesNotContain(arguments, a => a.StartsWith("--time", StringComparison.Ordinal) || a.StartsWith("--signal", StringComparison.Ordinal));
    }

    [Fact]
    public void For_PercentInJobsRoot_EscapedInOutputPatterns()
    {
        var arguments = SbatchArguments.For(SlurmMake.Job(5, ResourceVector.Of(cpus: 1, memoryBytes: 1 << 20)), Make.Attempt(), new SlurmOptions(), new JobDirectories("/data/100%/jobs"));

        Assert.Contains("--output=/data/100%%/jobs/5/attempt-1/batch-stdout.log", arguments);
        Assert.Contains("--chdir=/data/100%/jobs/5/attempt-1", arguments);
    }

    [Fact]
    public void Validate_BadSettings_ReportsEachByName()
    {
        var options = new SlurmOptions { Partition = "a b", JobNamePrefix = "", WarnBeforeEnd = TimeSpan.FromDays(2), CommandTimeout = TimeSpan.Zero };

        var fields = options.Validate().Select(e => e.Field).ToList();

        Assert.Equal(["slurm.partition", "slurm.jobNamePrefix", "slurm.warnBeforeEnd", "slurm.commandTimeout"], fields);
        Assert.Empty(new SlurmOptions { Partition = "debug" }.Validate());
    }
}

internal static class SlurmMake
{
    public static Job Job(long id, ResourceVector resources, int replicas = 1, TimeSpan? maxRuntime = null, IReadOnlyList<string>? command = null) =>
        Make.Job(id, command ?? ["true"], replicas) with
        {
            Spec = Make.Job(id, command ?? ["true"], replicas).Spec with { Resources = resources, MaxRuntime = maxRuntime },
        };
}
