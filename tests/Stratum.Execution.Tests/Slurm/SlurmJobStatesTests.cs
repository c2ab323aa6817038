using Stratum.Execution.Slurm;

namespace Stratum.Execution.Tests.Slurm;

public sealed class SlurmJobStatesTests
{
    private static readonly SlurmLookup Running = new SlurmLookup.Known(new SlurmJobInfo("RUNNING", "None"));

    [Fact]
    public void ParseSqueue_KnownJob_ReturnsStateAndReason()
    {
        var lookup = SlurmJobStates.ParseSqueue(new SlurmCommandResult(0, "12|PENDING|Resources\n", ""), "12");

        Assert.Equal(new SlurmLookup.Known(new SlurmJobInfo("PENDING", "Resources")), lookup);
    }

    [Fact]
    public void ParseSqueue_InvalidJobId_Forgotten()
    {
        // Recorded from Slurm 22.05.8 for an id the controller has purged.
        var lookup = SlurmJobStates.ParseSqueue(new SlurmCommandResult(1, "", "slurm_load_jobs error: Invalid job id specified\n"), "99");

        Assert.IsType<SlurmLookup.Forgotten>(lookup);
    }

    [Theory]
    [InlineData(1, false, "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n", "Unable to contact slurm controller (connect failure)")]
    [InlineData(-1, true, "", "timed out")]
    public void ParseSqueue_ControllerDown_UnreachableWithMessage(int exitCode, bool timedOut, string stderr, string message)
    {
        var lookup = SlurmJobStates.ParseSqueue(new SlurmCommandResult(exitCode, "", stderr, timedOut), "12");

        Assert.Equal(new SlurmLookup.Unreachable(message), lookup);
    }

    [Theory]
    [InlineData("12|COMPLETED|0:0", "COMPLETED", 0)]
    [InlineData("12|FAILED|3:0", "FAILED", 3)]
    [InlineData("12|CANCELLED by 0|0:15", "CANCELLED", 143)]
    [InlineData("12|OUT_OF_MEMORY|0:125", "OUT_OF_MEMORY", 253)]
    public void ParseSacct_FinishedJob_StateAndExitCode(string line, string state, int exitCode)
    {
        var info = SlurmJobStates.ParseSacct(new SlurmCommandResult(0, line + "\n", ""), "12");

        Assert.Equal(new SlurmJobInfo(state, "", exitCode), info);
    }

    [Fact]
    public void ParseSacct_AccountingDisabled_Null()
    {
        Assert.Null(SlurmJobStates.ParseSacct(new SlurmCommandResult(1, "", "Slurm accounting storage is disabled\n"), "12"));
    }

    [Fact]
    public void Observe_ReplicaRecordedCode_WinsOverSlurmState()
    {
        var observation = SlurmJobStates.Observe(1, new SlurmLookup.Known(new SlurmJobInfo("CANCELLED", "")), 3, null, "12");

        Assert.Equal(new ReplicaObservation(1, ReplicaStatus.Exited, 3, null), observation);
    }

    [Theory]
    [InlineData("PENDING", "Priority", ReplicaStatus.Running, null, "PENDING in Slurm: Priority")]
    [InlineData("CONFIGURING", "None", ReplicaStatus.Running, null, "CONFIGURING in Slurm")]
    [InlineData("RUNNING", "None", ReplicaStatus.Running, null, null)]
    [InlineData("COMPLETING", "None", ReplicaStatus.Running, null, "COMPLETING in Slurm")]
    [InlineData("CANCELLED", "None", ReplicaStatus.Exited, 137, "Slurm job 12 CANCELLED (scancel)")]
    [InlineData("TIMEOUT", "TimeLimit", ReplicaStatus.Exited, 143, "Slurm job 12 TIMEOUT: reached its Slurm time limit")]
    [InlineData("OUT_OF_MEMORY", "OutOfMemory", ReplicaStatus.Exited, 137, "Slurm job 12 OUT_OF_MEMORY: out of memory")]
    [InlineData("NODE_FAIL", "NodeDown", ReplicaStatus.Lost, null, "Slurm job 12 NODE_FAIL (NodeDown)")]
    [InlineData("PREEMPTED", "None", ReplicaStatus.Lost, null, "Slurm job 12 PREEMPTED")]
    [InlineData("COMPLETED", "None", ReplicaStatus.Lost, null, "Slurm job 12 COMPLETED")]
    public void Observe_NoReplicaRecord_MapsSlurmState(string state, string reason, ReplicaStatus status, int? exitCode, string? detail)
    {
        var observation = SlurmJobStates.Observe(0, new SlurmLookup.Known(new SlurmJobInfo(state, reason)), null, null, "12");

        Assert.Equal(new ReplicaObservation(0, status, exitCode, detail), observation);
    }

    [Fact]
    public void Observe_FailedWithAccountingCode_ExitedWithIt()
    {
        var observation = SlurmJobStates.Observe(0, new SlurmLookup.Known(new SlurmJobInfo("FAILED", "", 9)), null, null, "12");

        Assert.Equal(ReplicaStatus.Exited, observation.Status);
        Assert.Equal(9, observation.ExitCode);
    }

    [Fact]
    public void Observe_ControllerUnreachable_RunningMarkedUnknownNeverLost()
    {
        var observation = SlurmJobStates.Observe(0, new SlurmLookup.Unreachable("connect failure"), null, null, "12");

        Assert.Equal(ReplicaStatus.Running, observation.Status);
        Assert.StartsWith(SlurmJobStates.Unreachable, observation.Detail);
    }

    [Fact]
    public void Observe_ForgottenWithSrunCode_ExitedWithIt()
    {
        Assert.Equal(ReplicaStatus.Exited, SlurmJobStates.Observe(0, new SlurmLookup.Forgotten(), null, 137, "12").Status);
        Assert.Equal(ReplicaStatus.Lost, SlurmJobStates.Observe(0, new SlurmLookup.Forgotten(), null, null, "12").Status);
        Assert.Equal(ReplicaStatus.Running, SlurmJobStates.Observe(0, Running, null, null, "12").Status);
    }
}
