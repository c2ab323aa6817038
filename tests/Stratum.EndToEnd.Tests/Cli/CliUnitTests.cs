using Stratum.Cli;
using Stratum.Cli.Commands;
using Stratum.Cli.Demo;
using Stratum.Cli.Hosting;
using Stratum.Client.Contracts;
using Stratum.Core;
using Stratum.Core.Resources;

namespace Stratum.EndToEnd.Tests.Cli;

/// <summary>The CLI's own logic, in process: names, options, config files, exit codes, the demo's sizing.</summary>
public sealed class CliUnitTests
{
    [Theory]
    [InlineData("echo", "echo")]
    [InlineData("/usr/bin/python3", "python3")]
    [InlineData("./Train Model.sh", "train-model.sh")]
    [InlineData("..", "job")]
    [InlineData("__init__", "init__")]
    public void DefaultName_Program_IsAValidName(string program, string expected)
    {
        var name = JobsCommand.DefaultName(program);

        Assert.Equal(expected, name);
        Assert.True(Names.IsValid(name), Names.Problem(name));
    }

    [Fact]
    public void DefaultName_VeryLongProgram_IsCutToTheMaximum()
    {
        var name = JobsCommand.DefaultName(new string('a', 200));

        Assert.Equal(Names.MaxLength, name.Length);
    }

    [Fact]
    public void ParseEnvironment_Pairs_SplitsAtTheFirstEquals()
    {
        var env = JobsCommand.ParseEnvironment(["SEED=42", "ARGS=a=b", "EMPTY="]);

        Assert.Equal("42", env["SEED"]);
        Assert.Equal("a=b", env["ARGS"]);
        Assert.Equal(string.Empty, env["EMPTY"]);
    }

    [Theory]
    [InlineData("SEED")]
    [InlineData("=42")]
    public void ParseEnvironment_NoKey_ThrowsCommandLineException(string pair) =>
        Assert.Throws<CommandLineException>(() => JobsCommand.ParseEnvironment([pair]));

    [Fact]
    public void ServerConfig_YamlWithEverySetting_MapsToOptions()
    {
        var result = ServerConfigFile.Parse("""
            dataDirectory: /var/lib/stratum
            listenAddress: 0.0.0.0
            port: 9000
            schedulingPolicy: priority
            schedulingInterval: 500ms
            reconcileInterval: "00:00:03"
            stopGracePeriod: 1m30s
            registerLocalNode: false
            minimumLogLevel: warning
            """);

        Assert.True(result.IsValid, string.Join("; ", result.Problems));
        var options = result.Options!;
        Assert.Equal("/var/lib/stratum", options.DataDirectory);
        Assert.Equal("0.0.0.0", options.ListenAddress);
        Assert.Equal(9000, options.Port);
        Assert.Equal(TimeSpan.FromMilliseconds(500), options.SchedulingInterval);
        Assert.Equal(TimeSpan.FromSeconds(3), options.ReconcileInterval);
        Assert.Equal(TimeSpan.FromSeconds(90), options.StopGracePeriod);
        Assert.False(options.RegisterLocalNode);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, options.MinimumLogLevel);
    }

    [Fact]
    public void ServerConfig_Json_IsReadLikeYaml()
    {
        var result = ServerConfigFile.Parse("""{"port": 8000, "registerLocalNode": true}""");

        Assert.True(result.IsValid, string.Join("; ", result.Problems));
        Assert.Equal(8000, result.Options!.Port);
    }

    [Fact]
    public void ServerConfig_UnknownAndBadKeys_ReportsEveryProblem()
    {
        var result = ServerConfigFile.Parse("prot: 1\nPort: 2\nstopGracePeriod: soon\nregisterLocalNode: maybe\n", "server.yaml");

        Assert.False(result.IsValid);
        Assert.Null(result.Options);
        Assert.Equal(4, result.Problems.Count);
        Assert.Contains(result.Problems, p => p.Contains("prot", StringComparison.Ordinal) && p.Contains("unknown", StringComparison.Ordinal));
        Assert.Contains(result.Problems, p => p.Contains("did you mean 'port'", StringComparison.Ordinal));
        Assert.Contains(result.Problems, p => p.Contains("stopGracePeriod", StringComparison.Ordinal) && p.Contains("soon", StringComparison.Ordinal));
        Assert.All(result.Problems, p => Assert.StartsWith("server.yaml:", p, StringComparison.Ordinal));
    }

    [Fact]
    public void ServerConfig_NotAMapping_IsAProblem()
    {
        var result = ServerConfigFile.Parse("- port\n- 8470\n");

        Assert.False(result.IsValid);
        Assert.Single(result.Problems);
    }

    [Fact]
    public void ServerConfig_Empty_IsTheDefaults()
    {
        var result = ServerConfigFile.Parse(string.Empty);

        Assert.True(result.IsValid);
        Assert.Equal(8470, result.Options!.Port);
    }

    [Fact]
    public void FormatResources_CpuMemoryAccelerators_ReadsLikeASentence()
    {
        var resources = new JobResourcesDto("2", "4Gi", 2, new Dictionary<string, int> { ["nvidia-h100"] = 2 }, 2000, 4L << 30);

        Assert.Equal("cpu 2, memory 4Gi, nvidia-h100 2", Format.Resources(resources));
    }

    [Theory]
    [InlineData(192, "3m12s")]
    [InlineData(45, "45s")]
    [InlineData(7200, "2h")]
    public void FormatDuration_Seconds_IsCompact(int seconds, string expected) =>
        Assert.Equal(expected, Format.Duration(TimeSpan.FromSeconds(seconds)));

    [Theory]
    [InlineData(System.Net.HttpStatusCode.BadRequest, ExitCodes.Invalid)]
    [InlineData(System.Net.HttpStatusCode.UnprocessableEntity, ExitCodes.Invalid)]
    [InlineData(System.Net.HttpStatusCode.Unauthorized, ExitCodes.AuthFailed)]
    [InlineData(System.Net.HttpStatusCode.Forbidden, ExitCodes.AuthFailed)]
    [InlineData(System.Net.HttpStatusCode.NotFound, ExitCodes.NotFound)]
    [InlineData(System.Net.HttpStatusCode.Conflict, ExitCodes.Conflict)]
    [InlineData(System.Net.HttpStatusCode.InternalServerError, ExitCodes.Failure)]
    public void ExitCodeOf_Status_IsTheNamedCode(System.Net.HttpStatusCode status, int expected) =>
        Assert.Equal(expected, Invocation.ExitCodeOf(status));

    [Theory]
    [InlineData(1000)]
    [InlineData(1500)]
    [InlineData(2000)]
    [InlineData(16000)]
    public void DemoJobs_ForANodeOfCpus_PreemptionIsForcedAndTheRestFits(long cpuMillis)
    {
        var jobs = DemoRunner.Jobs(cpuMillis, "/data/demo/train.sh").ToDictionary(j => j.Name);
        long Cpu(string name) => Parse(jobs[name].Request.Resources!.Cpu!);

        // At the start train, prep and the two short jobs all fit at once.
        Assert.True(Cpu("train") + Cpu("prep") + Cpu("hello") + Cpu("bad-config") <= cpuMillis);

        // eval cannot start beside train and prep, so the scheduler must preempt train (prep is not preemptible)...
        Assert.True(Cpu("train") + Cpu("prep") + Cpu("eval") > cpuMillis);
        Assert.True(jobs["train"].Request.Preemptible);
        Assert.NotEqual(true, jobs["prep"].Request.Preemptible);
        Assert.True(jobs["eval"].Request.Priority > jobs["train"].Request.Priority);

        // ...and once train is gone eval fits beside prep and sweep, and train fits again beside them after eval.
        Assert.True(Cpu("eval") + Cpu("prep") + Cpu("sweep") <= cpuMillis);
        Assert.True(Cpu("train") + Cpu("prep") + Cpu("sweep") <= cpuMillis);
        Assert.Equal("eval", DemoRunner.Jobs(cpuMillis, "x")[^1].Name);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(1500)]
    [InlineData(16000)]
    public void DemoInfra_ForANode_SweepWaitsOnNlpsQuotaOnlyWhilePrepRuns(long cpuMillis)
    {
        var document = DemoRunner.InfraDocument(cpuMillis);
        var jobs = DemoRunner.Jobs(cpuMillis, "x").ToDictionary(j => j.Name);
        long Cpu(string name) => Parse(jobs[name].Request.Resources!.Cpu!);
        var quotas = System.Text.RegularExpressions.Regex.Matches(document, "cpu: \"([0-9.]+)\"").Select(m => Parse(m.Groups[1].Value)).ToList();

        Assert.Equal(2, quotas.Count);
        var (vision, nlp) = (quotas[0], quotas[1]);
        Assert.True(Cpu("prep") + Cpu("hello") + Cpu("bad-config") <= nlp);
        Assert.True(Cpu("prep") + Cpu("sweep") > nlp);
        Assert.True(Cpu("sweep") <= nlp, "a job over its whole quota is refused at submit");
        Assert.True(Cpu("train") + Cpu("eval") <= vision);
    }

    [Fact]
    public async Task RunAsync_MissingCommandAfterSubmit_ExitsUsageWithoutTouchingAServer()
    {
        var (code, stdout, stderr) = await RunInProcessAsync(["jobs", "submit", "--cpus", "1"]);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("command", stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task RunAsync_BadEnvPair_ExitsUsageNamingIt()
    {
        var (code, _, stderr) = await RunInProcessAsync(["jobs", "submit", "--env", "NOEQUALS", "--", "true"]);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("NOEQUALS", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_BadStateFilter_ExitsUsageListingTheStates()
    {
        var (code, _, stderr) = await RunInProcessAsync(["jobs", "list", "--state", "Sleeping"]);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("Preempted", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_NoServerConfigured_ExitsUnreachableWithOneLine()
    {
        var directory = Path.Combine(Path.GetTempPath(), "stratum-cli-" + Guid.NewGuid().ToString("N")[..12]);

        var (code, stdout, stderr) = await RunInProcessAsync(["nodes", "--data", directory, "--output", "json"]);

        Assert.Equal(ExitCodes.Unreachable, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    private static long Parse(string cpu) => Quantity.TryParseCpu(cpu, out var millis) ? millis : throw new FormatException(cpu);

    private static async Task<(int Code, string Stdout, string Stderr)> RunInProcessAsync(string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var environment = new CliEnvironment { Out = stdout, Error = stderr, Variables = _ => null };

        var code = await StratumCommandLine.RunAsync(args, environment).WaitAsync(TimeSpan.FromSeconds(30));

        return (code, stdout.ToString(), stderr.ToString());
    }
}
