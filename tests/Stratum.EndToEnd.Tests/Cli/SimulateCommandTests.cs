using System.Text.Json;
using Stratum.Cli;

namespace Stratum.EndToEnd.Tests.Cli;

/// <summary>
/// <c>stratum simulate</c> in process, fed what a user gets wrong: each case was run against the published
/// program first and answered with a table of zeros, a silent choice, or a misleading next step.
/// </summary>
public sealed class SimulateCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("stratum-simulate-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Simulate_HeaderOnlyTrace_FailsInsteadOfATableOfZeros()
    {
        var trace = Write("empty.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n");

        var (code, stdout, stderr) = await RunAsync("simulate", "--trace", trace, "--policy", "fifo", "--output", "json");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("empty.csv: the trace has no jobs", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_WrongFileWithSkipBadRows_StillFailsAndDoesNotAdviseSkipping()
    {
        var trace = Write("cluster.yaml", "nodeGroups:\n  - name: a\n");

        var (code, stdout, stderr) = await RunAsync("simulate", "--trace", trace, "--policy", "fifo", "--skip-bad-rows", "--output", "json");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("cluster.yaml:1: the header must name the columns", stderr, StringComparison.Ordinal);
        Assert.Contains("no usable job", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_ManyBadRows_ShowsTheFirstAndCountsTheRest()
    {
        var rows = string.Concat(Enumerable.Range(0, 100).Select(i => $"2017-10-01 00:00:{i % 60:00},ten,1,10,p\n"));
        var trace = Write("bad.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-01 00:00:00,10,1,10,p\n" + rows);

        var (code, _, stderr) = await RunAsync("simulate", "--trace", trace, "--policy", "fifo");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("bad.csv:3: duration 'ten'", stderr, StringComparison.Ordinal);
        Assert.Contains("... and 80 more malformed row(s), the last at bad.csv:102", stderr, StringComparison.Ordinal);
        Assert.True(stderr.Split('\n').Length < 30, stderr);
        Assert.Contains("--skip-bad-rows to replay the other 1", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_SkipBadRows_SaysHowManyWereSkipped()
    {
        var trace = Write("some.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-01 00:00:00,10,1,10,p\n2017-10-01 00:00:01,x,1,10,p\n");

        var (code, stdout, stderr) = await RunAsync("simulate", "--trace", trace, "--policy", "fifo", "--skip-bad-rows", "--output", "json");

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(1, JsonDocument.Parse(stdout).RootElement[0].GetProperty("jobs").GetInt32());
        Assert.Contains("skipped 1 malformed row(s); replaying the other 1", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_TraceIsADirectory_SaysSo()
    {
        var (code, _, stderr) = await RunAsync("simulate", "--trace", _directory, "--policy", "fifo");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("is a directory", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_ClusterFileAndShorthand_IsRefusedNotSilentlyOneOfThem()
    {
        var trace = Write("t.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-01 00:00:00,10,1,10,p\n");
        var cluster = Write("c.yaml", "nodeGroups:\n  - name: a\n    count: 1\n    gpusPerNode: 8\n    gpuType: h100\n");

        var (code, _, stderr) = await RunAsync("simulate", "--trace", trace, "--cluster", cluster, "--nodes", "3", "--policy", "fifo");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("--cluster: the file describes the nodes; drop --nodes and --gpus-per-node", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_NeitherTraceNorHistory_SaysWhichToName()
    {
        var (code, _, stderr) = await RunAsync("simulate", "--policy", "fifo");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("--from-history", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_TraceAndHistory_IsRefused()
    {
        var trace = Write("t.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-01 00:00:00,10,1,10,p\n");

        var (code, _, stderr) = await RunAsync("simulate", "--trace", trace, "--from-history", "--policy", "fifo");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("not both", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_SamePolicyTwice_IsRefused()
    {
        var trace = Write("t.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-01 00:00:00,10,1,10,p\n");

        var (code, _, stderr) = await RunAsync("simulate", "--trace", trace, "--policy", "fifo,las,fifo");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("'fifo' is named twice", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_TypedTraceOnTheShorthandCluster_RunsEveryJobAndSaysTheTypesWereIgnored()
    {
        // What 'stratum jobs export' writes for a server with real GPUs: every job names its type.
        var trace = Write("history.jsonl",
            "{\"submit\":\"2026-01-01T00:00:00Z\",\"duration\":60,\"gpus\":2,\"project\":\"a\",\"gpuType\":\"nvidia-h100\"}\n"
            + "{\"submit\":\"2026-01-01T00:00:10Z\",\"duration\":60,\"gpus\":1,\"project\":\"a\",\"gpuType\":\"\"}\n");

        var (code, stdout, stderr) = await RunAsync("simulate", "--trace", trace, "--nodes", "1", "--gpus-per-node", "8", "--policy", "fifo", "--output", "json");

        Assert.Equal(ExitCodes.Ok, code);
        var result = JsonDocument.Parse(stdout).RootElement[0];
        Assert.Equal(2, result.GetProperty("jobs").GetInt32());
        Assert.Equal(2, result.GetProperty("finished").GetInt32());
        Assert.Contains("nvidia-h100: 1 jobs", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("lacks", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_FromHistoryWithoutAServer_ExitsUnreachable()
    {
        var (code, stdout, stderr) = await RunAsync("simulate", "--from-history", "--nodes", "2", "--policy", "fifo", "--data", Path.Combine(_directory, "no-server"));

        Assert.Equal(ExitCodes.Unreachable, code);
        Assert.Equal(string.Empty, stdout);
        Assert.NotEqual(string.Empty, stderr.Trim());
    }

    [Fact]
    public async Task Simulate_JobLargerThanTheCluster_ReportedAtItsRowOnceAndTheRestReplayed()
    {
        // Rows out of submit order, as in Philly: the job's id (submit order) is not its line.
        var trace = Write("big.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n"
            + "2017-10-01 00:00:05,10,1,10,p\n2017-10-01 00:00:00,10,64,640,huge\n2017-10-01 00:00:09,10,2,20,p\n");

        var (code, stdout, stderr) = await RunAsync("simulate", "--trace", trace, "--nodes", "2", "--gpus-per-node", "8", "--policy", "fifo,las", "--output", "json");

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("big.csv:3: job 1 needs 64 GPUs, more than the whole cluster's 16; left out", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n'), l => l.Contains("needs 64 GPUs", StringComparison.Ordinal));
        Assert.All(JsonDocument.Parse(stdout).RootElement.EnumerateArray(), r => Assert.Equal(2, r.GetProperty("finished").GetInt32()));
    }

    [Fact]
    public async Task Simulate_NoJobFitsTheCluster_FailsInsteadOfATableOfZeros()
    {
        var trace = Write("huge.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-01 00:00:00,10,64,640,huge\n");

        var (code, stdout, stderr) = await RunAsync("simulate", "--trace", trace, "--nodes", "1", "--gpus-per-node", "8", "--policy", "fifo", "--output", "json");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("no job in the trace could ever run on this cluster (8 GPUs)", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_LargeTrace_SaysWhichPolicyIsReplaying()
    {
        var rows = string.Concat(Enumerable.Range(0, 10_000).Select(i => $"{i},60,1,p{i % 3}\n"));
        var trace = Write("large.csv", "submit,duration,gpus,project\n" + rows);

        var (code, _, stderr) = await RunAsync("simulate", "--trace", trace, "--nodes", "4", "--policy", "fifo,sjf-oracle", "--output", "json");

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("replaying 10,000 jobs with fifo (1/2)", stderr, StringComparison.Ordinal);
        Assert.Contains("replaying 10,000 jobs with sjf-oracle (2/2)", stderr, StringComparison.Ordinal);
        Assert.Contains("sjf-oracle: done in", stderr, StringComparison.Ordinal);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var environment = new CliEnvironment { Out = stdout, Error = stderr, Variables = _ => null };

        var code = await StratumCommandLine.RunAsync(args, environment).WaitAsync(TimeSpan.FromSeconds(60));

        return (code, stdout.ToString(), stderr.ToString());
    }
}
