using System.Diagnostics;
using System.Globalization;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Execution.Slurm;

namespace Stratum.Execution.Tests.Slurm;

/// <summary>
/// The batch script run by /bin/sh with a stand-in for srun (one task after another, SLURM_PROCID set,
/// %t in --output/--error replaced), so the task wrapper is tested on any machine, without Slurm.
/// </summary>
public sealed class SlurmBatchScriptTests : IDisposable
{
    private const string FakeSrun = """
        #!/bin/sh
        # Stand-in for srun: --ntasks, --output and --error are honoured, other options ignored.
        n=1; out=/dev/null; err=/dev/null
        while [ $# -gt 0 ]; do
            case $1 in
                --ntasks=*) n=${1#--ntasks=} ;;
                --output=*) out=${1#--output=} ;;
                --error=*) err=${1#--error=} ;;
                --*) ;;
                *) break ;;
            esac
            shift
        done
        worst=0; t=0
        while [ $t -lt $n ]; do
            o=$(printf '%s' "$out" | sed "s/%t/$t/g"); e=$(printf '%s' "$err" | sed "s/%t/$t/g")
            SLURM_PROCID=$t "$@" </dev/null >>"$o" 2>>"$e"; rc=$?
            [ $rc -gt $worst ] && worst=$rc
            t=$((t + 1))
        done
        exit $worst
        """;

    private readonly TempDirectory _temp = new();
    private readonly JobDirectories _directories;

    public SlurmBatchScriptTests()
    {
        _directories = new JobDirectories(Path.Combine(_temp.Path, "jobs"));
        Directory.CreateDirectory(Path.Combine(_temp.Path, "bin"));
        File.WriteAllText(Path.Combine(_temp.Path, "bin", "srun"), FakeSrun);
        File.SetUnixFileMode(Path.Combine(_temp.Path, "bin", "srun"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Render_TwoRanks_EachRecordsItsCodeAndSeesItsEnvironment()
    {
        var job = Make.Job(21, Make.Shell("env; exit $((STRATUM_REPLICA_RANK + 3))"), replicas: 2, environment: new Dictionary<string, string> { ["MY_SETTING"] = "it's \"quoted\" $HOME" });

        var batchCode = await RunAsync(job, Make.Attempt(4, [], []));

        Assert.Equal(4, batchCode);
        for (var rank = 0; rank < 2; rank++)
        {
            Assert.Equal((rank + 3).ToString(CultureInfo.InvariantCulture) + "\n", File.ReadAllText(Path.Combine(_directories.ReplicaDirectory(21, 4, rank), "exit-code")));
            var environment = File.ReadAllLines(_directories.LogPath(21, 4, rank, LogStream.Stdout));
            Assert.Contains($"{JobEnvironment.ReplicaRank}={rank}", environment);
            Assert.Contains($"{JobEnvironment.WorldSize}=2", environment);
            Assert.Contains($"{JobEnvironment.Attempt}=4", environment);
            Assert.Contains($"{JobEnvironment.CheckpointDir}={_directories.CheckpointDirectory(21)}", environment);
            Assert.Contains("MY_SETTING=it's \"quoted\" $HOME", environment);
            Assert.Contains($"{JobEnvironment.VisibleDevices}=", environment);
            Assert.Equal(Path.Combine(_directories.JobDirectory(21), $"work-{rank}"), environment.Single(l => l.StartsWith("PWD=", StringComparison.Ordinal))[4..]);
        }

        Assert.Equal("4\n", File.ReadAllText(Path.Combine(_directories.AttemptDirectory(21, 4), "batch-exit-code")));
    }

    [Fact]
    public async Task Render_ArgumentsWithShellCharacters_ReachTheProgramVerbatim()
    {
        string[] arguments = ["$HOME; echo injected", "a  b", "'quoted'", "*", "", "back\\slash", "new\nline"];
        var job = Make.Job(22, ["printf", "[%s]", .. arguments]);

        await RunAsync(job, Make.Attempt());

        Assert.Equal(string.Concat(arguments.Select(a => $"[{a}]")), File.ReadAllText(_directories.LogPath(22, 1, 0, LogStream.Stdout)));
    }

    [Theory]
    [InlineData("exit", 127)]
    [InlineData("/no/such/program", 127)]
    public async Task Render_ProgramNotFoundOrBuiltinName_Records127(string program, int code)
    {
        var job = Make.Job(23, [program, "3"]);

        await RunAsync(job, Make.Attempt());

        Assert.Equal($"{code}\n", File.ReadAllText(Path.Combine(_directories.ReplicaDirectory(23, 1, 0), "exit-code")));
        Assert.Contains(program, File.ReadAllText(_directories.LogPath(23, 1, 0, LogStream.Stderr)));
    }

    [Fact]
    public async Task Render_WorkingDirectoryMissing_Records126()
    {
        var job = Make.Job(24, ["true"], workingDirectory: Path.Combine(_temp.Path, "missing"));

        await RunAsync(job, Make.Attempt());

        Assert.Equal("126\n", File.ReadAllText(Path.Combine(_directories.ReplicaDirectory(24, 1, 0), "exit-code")));
    }

    [Fact]
    public void Render_JobWithGpus_LeavesCudaVisibleDevicesToSlurm()
    {
        var template = Make.Job(25, ["true"]);
        var job = template with { Spec = template.Spec with { Resources = ResourceVector.Of(cpus: 1, memoryBytes: 1, acceleratorType: "h100", accelerators: 1) } };

        Assert.DoesNotContain(JobEnvironment.VisibleDevices, SlurmBatchScript.Render(job, Make.Attempt(), _directories));
        Assert.Contains(JobEnvironment.VisibleDevices + "=", SlurmBatchScript.Render(template, Make.Attempt(), _directories));
    }

    /// <summary>Writes the script the executor would hand to sbatch and runs it as Slurm would, from the attempt directory.</summary>
    private async Task<int> RunAsync(Job job, JobAttempt attempt)
    {
        var attemptDirectory = _directories.AttemptDirectory(job.Id, attempt.Number);
        foreach (var placement in attempt.Placement)
        {
            Directory.CreateDirectory(_directories.ReplicaDirectory(job.Id, attempt.Number, placement.Rank));
        }

        Directory.CreateDirectory(_directories.CheckpointDirectory(job.Id));
        var script = Path.Combine(attemptDirectory, "batch.sh");
        File.WriteAllText(script, SlurmBatchScript.Render(job, attempt, _directories));
        var startInfo = new ProcessStartInfo("/bin/sh", [script]) { WorkingDirectory = attemptDirectory };
        startInfo.Environment["PATH"] = Path.Combine(_temp.Path, "bin") + ":" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(startInfo)!;
        await process.WaitForExitAsync().WaitAsync(Poll.DefaultTimeout);
        return process.ExitCode;
    }
}
