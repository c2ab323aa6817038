using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Execution;

namespace Stratum.Server.Control;

/// <summary>
/// What to do about one running job: its next version (null: unchanged), a signal to send (null: none),
/// and whether to launch its attempt again because it was stored but never launched.
/// </summary>
public sealed record LifecycleStep(Job? Updated, ReplicaSignal? Signal, bool Relaunch = false)
{
    public static LifecycleStep Nothing { get; } = new(null, null);
}

/// <summary>
/// The rules that move a running job on, given what its executor sees now. Pure: the controller
/// persists the new version first and sends the signal after, so a crash in between repeats the step
/// rather than losing it.
/// </summary>
public static class JobLifecycle
{
    /// <summary>
    /// How long after an attempt was decided a replica with no launch record is launched again. Past
    /// it, something keeps the launch from happening (a full disk, a broken executor) and the replica
    /// counts as lost, so the retry policy decides instead of the controller retrying forever.
    /// </summary>
    public static readonly TimeSpan RelaunchWindow = TimeSpan.FromMinutes(2);

    public static LifecycleStep Next(Job job, AttemptObservation observation, DateTimeOffset now, TimeSpan grace)
    {
        var attempt = job.CurrentAttempt;
        if (job.State != JobState.Running || attempt is null)
        {
            return LifecycleStep.Nothing;
        }

        // 0. Decided and stored, but never launched: the server stopped between the commit and the
        //    launch. Launch is idempotent per replica, so launch again rather than fail the job.
        if (observation.AnyNotStarted)
        {
            if (job.Stop is null && now - attempt.StartedAt < RelaunchWindow)
            {
                return new LifecycleStep(null, null, Relaunch: true);
            }

            observation = observation with
            {
                Replicas = [.. observation.Replicas.Select(r => r.Status == ReplicaStatus.NotStarted ? r with { Status = ReplicaStatus.Lost } : r)],
            };
        }

        // 1. Every replica has ended: the attempt is over, decide the job's next state.
        if (observation.AllEnded)
        {
            return new LifecycleStep(Finish(job, attempt, observation, now), null);
        }

        // 2. A stop is in progress: SIGTERM first, SIGKILL once the grace period has passed.
        if (job.Stop is { } stop)
        {
            return new LifecycleStep(null, now - stop.RequestedAt >= grace ? ReplicaSignal.Kill : ReplicaSignal.Terminate);
        }

        // 3. A gang cannot continue without one of its replicas: stop the rest.
        var failed = observation.Replicas.FirstOrDefault(r => r.Status == ReplicaStatus.Lost || r is { Status: ReplicaStatus.Exited, ExitCode: not 0 });
        if (failed is not null)
        {
            var why = failed.Status == ReplicaStatus.Lost
                ? $"replica {failed.Rank} was lost ({failed.Detail})"
                : $"replica {failed.Rank} exited {failed.ExitCode}";
            return Stopping(job, new StopRequest(StopKind.ReplicaFailed, now, "stratum", why), now);
        }

        // 4. Max runtime.
        if (job.Spec.MaxRuntime is { } limit && now - attempt.StartedAt > limit)
        {
            return Stopping(job, new StopRequest(StopKind.Timeout, now, "stratum", $"exceeded its max runtime of {Quantity.FormatDuration(limit)}"), now);
        }

        return LifecycleStep.Nothing;
    }

    private static LifecycleStep Stopping(Job job, StopRequest stop, DateTimeOffset now) =>
        new(job with { Stop = stop, UpdatedAt = now }, ReplicaSignal.Terminate);

    private static Job Finish(Job job, JobAttempt attempt, AttemptObservation observation, DateTimeOffset now)
    {
        var exits = observation.Replicas.Where(r => r.Status == ReplicaStatus.Exited).ToList();
        var lost = observation.Replicas.Where(r => r.Status == ReplicaStatus.Lost).ToList();
        var firstFailure = exits.FirstOrDefault(r => r.ExitCode != 0);
        int? exitCode = firstFailure?.ExitCode ?? (lost.Count > 0 ? null : 0);
        var codes = Describe(observation);

        var ended = job with { Stop = null, UpdatedAt = now };
        JobAttempt Close(string outcome) => attempt with { EndedAt = now, ExitCode = exitCode, Outcome = outcome };

        switch (job.Stop?.Kind)
        {
            case StopKind.Cancel:
                return Replace(ended, Close($"cancelled ({codes})")) with
                {
                    State = JobState.Cancelled,
                    Reason = $"cancelled by {job.Stop.By}",
                };
            case StopKind.Preempt:
                return Replace(ended, Close($"preempted ({codes})")) with
                {
                    State = JobState.Preempted,
                    Reason = $"{job.Stop.Reason}; queued to resume from its checkpoint",
                };
            case StopKind.Timeout:
                return Replace(ended, Close($"timed out ({codes})")) with
                {
                    State = JobState.Failed,
                    Reason = job.Stop.Reason,
                    FailedAttempts = job.FailedAttempts + 1,
                };
        }

        if (firstFailure is null && lost.Count == 0)
        {
            return Replace(ended, Close("exited 0")) with { State = JobState.Succeeded, Reason = "exited 0" };
        }

        // A failure: a non-zero exit, a lost replica, or the rest of a gang stopped after one failed.
        var cause = job.Stop?.Kind == StopKind.ReplicaFailed
            ? job.Stop.Reason
            : firstFailure is not null
                ? (observation.Replicas.Count > 1 ? $"replica {firstFailure.Rank} exited {firstFailure.ExitCode}" : $"exited {firstFailure.ExitCode}")
                : $"lost: {lost[0].Detail ?? "the process is gone and left no exit record"}";
        var failedAttempts = job.FailedAttempts + 1;
        var wasLost = firstFailure is null && lost.Count > 0;
        var retry = failedAttempts < job.Spec.Retry.MaxAttempts && (!wasLost || job.Spec.Retry.RetryWhenLost);
        var failedJob = Replace(ended, Close($"failed: {cause} ({codes})")) with { FailedAttempts = failedAttempts };
        return retry
            ? failedJob with
            {
                State = JobState.Pending,
                Reason = $"attempt {attempt.Number} failed ({cause}); retrying, attempt {attempt.Number + 1} of at most {job.Spec.Retry.MaxAttempts}",
            }
            : failedJob with { State = JobState.Failed, Reason = cause };
    }

    private static Job Replace(Job job, JobAttempt attempt) =>
        job with { Attempts = [.. job.Attempts.Take(job.Attempts.Count - 1), attempt] };

    private static string Describe(AttemptObservation observation) =>
        string.Join(", ", observation.Replicas.Select(r => r.Status == ReplicaStatus.Exited
            ? (observation.Replicas.Count > 1 ? $"replica {r.Rank} exit {r.ExitCode}" : $"exit {r.ExitCode}")
            : $"replica {r.Rank} lost"));
}
