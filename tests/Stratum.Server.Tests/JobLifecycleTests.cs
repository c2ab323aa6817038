using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Execution;
using Stratum.Server.Control;

namespace Stratum.Server.Tests;

public sealed class JobLifecycleTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    private static Job Running(int replicas = 1, int maxAttempts = 1, TimeSpan? maxRuntime = null, StopRequest? stop = null, bool retryWhenLost = true) => new()
    {
        Id = 7,
        Owner = "alice",
        State = JobState.Running,
        SubmittedAt = Start,
        Version = 3,
        Stop = stop,
        Spec = new JobSpec
        {
            Name = "train",
            Project = "vision",
            Command = ["train"],
            Resources = ResourceVector.Of(1, 1L << 30),
            Replicas = replicas,
            MaxRuntime = maxRuntime,
            Retry = new RetryPolicy { MaxAttempts = maxAttempts, RetryWhenLost = retryWhenLost },
        },
        Attempts = [new JobAttempt { Number = 1, StartedAt = Start, Placement = [.. Enumerable.Range(0, replicas).Select(r => new ReplicaPlacement(r, "n1", []))] }],
    };

    private static AttemptObservation Seen(params (ReplicaStatus Status, int? Code)[] replicas) =>
        new([.. replicas.Select((r, i) => new ReplicaObservation(i, r.Status, r.Code, r.Status == ReplicaStatus.Lost ? "process gone" : null))]);

    [Fact]
    public void Next_AllExitedZero_Succeeds()
    {
        var step = JobLifecycle.Next(Running(), Seen((ReplicaStatus.Exited, 0)), Start.AddMinutes(1), Grace);
        Assert.Equal(JobState.Succeeded, step.Updated!.State);
        Assert.Equal(0, step.Updated.CurrentAttempt!.ExitCode);
        Assert.Equal(Start.AddMinutes(1), step.Updated.CurrentAttempt.EndedAt);
        Assert.Null(step.Signal);
    }

    [Fact]
    public void Next_StillRunning_DoesNothing()
    {
        var step = JobLifecycle.Next(Running(), Seen((ReplicaStatus.Running, null)), Start.AddMinutes(1), Grace);
        Assert.Same(LifecycleStep.Nothing, step);
    }

    [Fact]
    public void Next_NonZeroExitWithAttemptsLeft_Requeues()
    {
        var step = JobLifecycle.Next(Running(maxAttempts: 3), Seen((ReplicaStatus.Exited, 2)), Start.AddMinutes(1), Grace);
        Assert.Equal(JobState.Pending, step.Updated!.State);
        Assert.Equal(1, step.Updated.FailedAttempts);
        Assert.Contains("retrying, attempt 2 of at most 3", step.Updated.Reason);
    }

    [Fact]
    public void Next_NonZeroExitOnLastAttempt_Fails()
    {
        var step = JobLifecycle.Next(Running(), Seen((ReplicaStatus.Exited, 2)), Start.AddMinutes(1), Grace);
        Assert.Equal(JobState.Failed, step.Updated!.State);
        Assert.Equal("exited 2", step.Updated.Reason);
    }

    [Fact]
    public void Next_LostWithoutLostRetry_Fails()
    {
        var step = JobLifecycle.Next(Running(maxAttempts: 3, retryWhenLost: false), Seen((ReplicaStatus.Lost, null)), Start.AddMinutes(1), Grace);
        Assert.Equal(JobState.Failed, step.Updated!.State);
        Assert.StartsWith("lost", step.Updated.Reason);
        Assert.Null(step.Updated.CurrentAttempt!.ExitCode);
    }

    [Fact]
    public void Next_OneGangReplicaFailed_StopsTheOthers()
    {
        var step = JobLifecycle.Next(Running(replicas: 2), Seen((ReplicaStatus.Exited, 1), (ReplicaStatus.Running, null)), Start.AddMinutes(1), Grace);
        Assert.Equal(StopKind.ReplicaFailed, step.Updated!.Stop!.Kind);
        Assert.Equal(ReplicaSignal.Terminate, step.Signal);
        Assert.Equal(JobState.Running, step.Updated.State);
    }

    [Fact]
    public void Next_PastMaxRuntime_RequestsTimeoutStop()
    {
        var step = JobLifecycle.Next(Running(maxRuntime: TimeSpan.FromMinutes(5)), Seen((ReplicaStatus.Running, null)), Start.AddMinutes(6), Grace);
        Assert.Equal(StopKind.Timeout, step.Updated!.Stop!.Kind);
        Assert.Equal(ReplicaSignal.Terminate, step.Signal);
    }

    [Fact]
    public void Next_StopWithinGrace_Terminates_AfterGrace_Kills()
    {
        var job = Running(stop: new StopRequest(StopKind.Cancel, Start.AddMinutes(1), "alice", "cancelled by alice"));
        Assert.Equal(ReplicaSignal.Terminate, JobLifecycle.Next(job, Seen((ReplicaStatus.Running, null)), Start.AddMinutes(1).AddSeconds(5), Grace).Signal);
        Assert.Equal(ReplicaSignal.Kill, JobLifecycle.Next(job, Seen((ReplicaStatus.Running, null)), Start.AddMinutes(1).AddSeconds(10), Grace).Signal);
    }

    [Theory]
    [InlineData(StopKind.Cancel, JobState.Cancelled)]
    [InlineData(StopKind.Preempt, JobState.Preempted)]
    [InlineData(StopKind.Timeout, JobState.Failed)]
    public void Next_StoppedJobEnded_TakesTheStopsState(StopKind kind, JobState expected)
    {
        var job = Running(maxAttempts: 5, stop: new StopRequest(kind, Start.AddMinutes(1), "x", "because"));
        var step = JobLifecycle.Next(job, Seen((ReplicaStatus.Exited, 143)), Start.AddMinutes(2), Grace);
        Assert.Equal(expected, step.Updated!.State);
        Assert.Null(step.Updated.Stop);
        Assert.Equal(143, step.Updated.CurrentAttempt!.ExitCode);
    }

    [Fact]
    public void Next_NeverLaunchedRecently_AsksForRelaunch()
    {
        var step = JobLifecycle.Next(Running(), Seen((ReplicaStatus.NotStarted, null)), Start.AddSeconds(5), Grace);
        Assert.True(step.Relaunch);
        Assert.Null(step.Updated);
    }

    [Fact]
    public void Next_NeverLaunchedPastWindow_IsLost()
    {
        var step = JobLifecycle.Next(Running(), Seen((ReplicaStatus.NotStarted, null)), Start + JobLifecycle.RelaunchWindow, Grace);
        Assert.False(step.Relaunch);
        Assert.Equal(JobState.Failed, step.Updated!.State);
        Assert.StartsWith("lost", step.Updated.Reason);
    }

    [Fact]
    public void Next_NeverLaunchedButCancelled_EndsWithoutLaunching()
    {
        var job = Running(stop: new StopRequest(StopKind.Cancel, Start, "alice", "cancelled by alice"));
        var step = JobLifecycle.Next(job, Seen((ReplicaStatus.NotStarted, null)), Start.AddSeconds(1), Grace);
        Assert.False(step.Relaunch);
        Assert.Equal(JobState.Cancelled, step.Updated!.State);
    }

    [Fact]
    public void Next_PreemptedJob_DoesNotSpendARetry()
    {
        var job = Running(stop: new StopRequest(StopKind.Preempt, Start, "job 9", "preempted by job 9"));
        var step = JobLifecycle.Next(job, Seen((ReplicaStatus.Exited, 0)), Start.AddMinutes(1), Grace);
        Assert.Equal(0, step.Updated!.FailedAttempts);
        Assert.Contains("resume", step.Updated.Reason);
    }
}
