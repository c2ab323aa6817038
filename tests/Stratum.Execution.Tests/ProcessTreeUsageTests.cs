namespace Stratum.Execution.Tests;

/// <summary>Per-job usage read from real processes started by the local executor, and the parsers on recorded text.</summary>
public sealed class ProcessTreeUsageTests : ExecutorTestBase
{
    protected override IExecutor CreateExecutor(string jobsRoot) => LocalExecutorTests.NewExecutor(jobsRoot);

    [Fact]
    public async Task Sample_BusyLoop_ShowsAboutOneCore()
    {
        var (job, attempt) = await LaunchAsync(Make.Shell("while :; do :; done"));
        var running = job with { Attempts = [attempt] };
        var sampler = new LocalJobUsageSampler(new JobDirectories(JobsRoot));
        await Poll.UntilAsync(() => sampler.Sample([running], null).Count == 1, "the busy loop is visible");

        // Two readings a while apart: the second is a rate over that interval, not the average since start.
        // The scheduler's own run-time counter (schedstat, nanoseconds, separate from the tick counts the
        // sampler reads) says what the loop really got: one core on an idle machine, less on a loaded one.
        var pid = await ReadPidFileAsync(Path.Combine(new JobDirectories(JobsRoot).ReplicaDirectory(job.Id, 1, 0), "program.pid"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var runBefore = RunNanoseconds(pid);
        sampler.Sample([running], null);
        await Task.Delay(2000);
        var sample = Assert.Single(sampler.Sample([running], null));
        var scheduled = (RunNanoseconds(pid) - runBefore) / 1e9 / clock.Elapsed.TotalSeconds;

        Assert.Equal(job.Id, sample.JobId);
        Assert.NotNull(sample.CpuCores);
        Assert.InRange(sample.CpuCores.Value, scheduled - 0.15, scheduled + 0.15);
        Assert.InRange(sample.CpuCores.Value, 0.05, 1.3);
        Assert.Null(sample.GpuUtilization);
    }

    private static long RunNanoseconds(int pid) =>
        long.Parse(File.ReadAllText($"/proc/{pid}/schedstat").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Sample_ChildHolding200MB_ShowsItsMemoryAndLittleCpu()
    {
        // The memory is held by a child of the program (a subshell), so the whole session is summed, not just the leader.
        var (job, attempt) = await LaunchAsync(Make.Shell(
            "(x=$(head -c 200000000 /dev/zero | tr '\\0' x); touch ready; sleep 300; true) & wait"), workingDirectory: Temp.Path);
        var running = job with { Attempts = [attempt] };
        var sampler = new LocalJobUsageSampler(new JobDirectories(JobsRoot));
        await Poll.UntilAsync(() => File.Exists(Temp.File("ready")), "the child allocated its memory");
        sampler.Sample([running], null);
        await Task.Delay(1000);

        var sample = Assert.Single(sampler.Sample([running], null));

        Assert.True(sample.Processes >= 3, $"expected the shell, the subshell and sleep, saw {sample.Processes}");
        Assert.InRange(sample.MemoryBytes ?? 0, 190_000_000, 700_000_000);
        Assert.InRange(sample.CpuCores ?? -1, 0, 0.3);
    }

    [Fact]
    public async Task Sample_JobThatEnded_IsLeftOut()
    {
        var (job, attempt) = await LaunchAsync(["true"]);
        await UntilEndedAsync(job, attempt);
        var sampler = new LocalJobUsageSampler(new JobDirectories(JobsRoot));

        Assert.Empty(sampler.Sample([job with { Attempts = [attempt] }], null));
    }

    [Fact]
    public void GpuUtilization_OfAssignedGpus_IsTheirMeanAndUnknownWhenOneIsUnread()
    {
        GpuSample Gpu(int index, double? utilization) => new(index, null, utilization, null, null, null, null);
        var gpus = new[] { Gpu(0, 0.9), Gpu(1, 0.1), Gpu(2, null), Gpu(3, 0.5) };

        Assert.Equal(0.7, LocalJobUsageSampler.GpuUtilization([0, 3], gpus)!.Value, 6);
        Assert.Null(LocalJobUsageSampler.GpuUtilization([1, 2], gpus));
        Assert.Null(LocalJobUsageSampler.GpuUtilization([7], gpus));
        Assert.Null(LocalJobUsageSampler.GpuUtilization([0], null));
        Assert.Null(LocalJobUsageSampler.GpuUtilization([], gpus));
    }

    [Fact]
    public void Parsers_RecordedProcText_ReadTheRightFields()
    {
        // A command name with spaces and parentheses, as the kernel writes it.
        const string stat = "4242 (my (odd) prog) S 4200 4242 4242 0 -1 4194304 120 0 0 0 250 50 10 5 20 0 3 0 987654 123456789 4000 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

        var usage = ProcessTreeUsage.ParseStatUsage(stat);

        Assert.Equal(new StatUsage('S', 4242, 260, 55, 987654), usage);
        Assert.Equal(4000, ProcessTreeUsage.ParseStatmResidentPages("30000 4000 800 10 0 2000 0\n"));
        Assert.Null(ProcessTreeUsage.ParseStatmResidentPages("garbage"));
        Assert.Equal(12.5, ProcessTreeUsage.ParseCpuStatUsageSeconds("usage_usec 12500000\nuser_usec 10000000\nsystem_usec 2500000\n"));
        Assert.Null(ProcessTreeUsage.ParseCpuStatUsageSeconds("user_usec 1\n"));
        Assert.Equal("/system.slice/stratum-job-7.scope", ProcessTreeUsage.ParseCgroupV2Path("0::/system.slice/stratum-job-7.scope\n"));
        Assert.Null(ProcessTreeUsage.ParseCgroupV2Path("12:memory:/foo\n"));
    }
}
