using System.Collections.Concurrent;
using Stratum.Core.Jobs;
using Stratum.Server.Control;

namespace Stratum.Server.Jobs;

/// <summary>
/// Runs jobs' store steps off the controller loop, as a phase of each attempt of their own (as Slurm runs a prolog
/// and an epilog): putting inputs and the checkpoint in place before the attempt launches, and committing the
/// checkpoint and outputs after it ends. The loop starts a step and picks its result up on a later pass, so a large
/// checkout delays its own job and no other job's scheduling. At most <see cref="MaxConcurrent"/> steps move data at
/// once, so a burst of data-heavy starts cannot starve the store and the disk. Only the leader's controller starts
/// steps, and the controller writes their results under its fence; the steps themselves only touch the store and the
/// job's directories, where repeating them is harmless.
/// </summary>
public sealed partial class JobDataSteps(JobStoreData data, ControllerSignal signal, ILogger<JobDataSteps> logger)
{
    public const int MaxConcurrent = 2;

    private readonly SemaphoreSlim _slots = new(MaxConcurrent);

    /// <summary>One step per job at a time: an attempt's prepare or its close.</summary>
    private readonly ConcurrentDictionary<long, Step> _steps = new();

    private enum StepKind
    {
        Prepare,
        Close,
    }

    /// <summary>What a prepare step has come to.</summary>
    public enum PrepareStatus
    {
        /// <summary>Still putting data in place (or waiting for a slot, or winding down after a stop).</summary>
        Running,

        /// <summary>The data is in place: the attempt may launch.</summary>
        Ready,

        /// <summary>It failed; the job fails with <see cref="PrepareResult.Reason"/>.</summary>
        Failed,

        /// <summary>It was stopped and has finished winding down: nothing writes to the job's directories any more.</summary>
        Stopped,
    }

    public readonly record struct PrepareResult(PrepareStatus Status, string? Reason = null);

    /// <summary>Steps in flight or finished but not yet picked up.</summary>
    public int Count => _steps.Count;

    /// <summary>Whether a prepare step of this attempt is running or finished and not yet picked up.</summary>
    public bool HasPrepare(long jobId, int attempt) =>
        _steps.TryGetValue(jobId, out var step) && step.Kind == StepKind.Prepare && step.Attempt == attempt;

    /// <summary>Where the job's data step stands, in words ("preparing inputs: images@3f2a..., 3 of 32 files"); null when none runs.</summary>
    public string? Phase(long jobId) =>
        _steps.TryGetValue(jobId, out var step) && !step.Work.IsCompleted ? step.Detail : null;

    /// <summary>
    /// The attempt's prepare step: started when there is none, else where it stands. A job whose
    /// <see cref="Job.Stop"/> is set has its step cancelled and is answered <see cref="PrepareStatus.Stopped"/> once
    /// the step has stopped writing.
    /// </summary>
    public PrepareResult Prepare(Job job, JobAttempt attempt)
    {
        var step = Current(job.Id, attempt.Number, StepKind.Prepare, () => Start(job.Id, attempt.Number, StepKind.Prepare, "waiting for a data slot to prepare inputs", async (s, token) =>
        {
            await data.PrepareAsync(job, attempt, token, detail => s.Detail = detail);
            return null;
        }));
        if (step is null)
        {
            return new(PrepareStatus.Running);
        }

        if (job.Stop is not null)
        {
            step.Cancel();
        }

        if (!step.Work.IsCompleted)
        {
            return new(PrepareStatus.Running);
        }

        if (job.Stop is not null)
        {
            return new(PrepareStatus.Stopped);
        }

        if (step.Work.IsCompletedSuccessfully)
        {
            return new(PrepareStatus.Ready);
        }

        if (step.Work.IsCanceled)
        {
            // Cancelled by a lost term rather than a stop: this term prepares it again.
            Forget(job.Id);
            return new(PrepareStatus.Running);
        }

        var error = step.Work.Exception!.GetBaseException();
        return new(PrepareStatus.Failed, error is JobStoreException ? error.Message : $"preparing the attempt's data failed: {error.GetType().Name}: {error.Message}");
    }

    /// <summary>
    /// The job as <see cref="JobStoreData.AfterAttemptAsync"/> leaves it once the ended attempt's commits are made,
    /// started in the background when not yet running; null until it has finished.
    /// </summary>
    public Job? Close(Job before, Job ended)
    {
        var attempt = ended.CurrentAttempt!.Number;
        var step = Current(before.Id, attempt, StepKind.Close, () => Start(before.Id, attempt, StepKind.Close, "attempt ended; waiting for a data slot to commit its checkpoint and outputs", async (s, token) =>
            await data.AfterAttemptAsync(before, ended, token, detail => s.Detail = "attempt ended; " + detail)));
        if (step is null || !step.Work.IsCompleted)
        {
            return null;
        }

        if (step.Work.IsCompletedSuccessfully)
        {
            return step.Work.Result;
        }

        // Cancelled by a lost term, or a fault no step expected: forget it, so the next pass commits again
        // (commits are idempotent) rather than recording an end whose data is not in the store.
        if (step.Work.Exception?.GetBaseException() is { } error)
        {
            LogCloseFailed(error, before.Id, attempt);
        }

        Forget(before.Id);
        return null;
    }

    /// <summary>The step's result is stored (or the job moved on without it): the job's entry goes.</summary>
    public void Forget(long jobId)
    {
        if (_steps.TryGetValue(jobId, out var step) && step.Work.IsCompleted)
        {
            _steps.TryRemove(KeyValuePair.Create(jobId, step));
        }
    }

    /// <summary>Stops steps of jobs that are no longer running (cancelled before a pass saw them, say) and drops finished ones.</summary>
    public void Retain(IReadOnlySet<long> running)
    {
        foreach (var (jobId, step) in _steps)
        {
            if (!running.Contains(jobId))
            {
                step.Cancel();
                Forget(jobId);
            }
        }
    }

    /// <summary>This replica no longer leads: every step stops; the next leader starts them again from its own passes.</summary>
    public void CancelAll()
    {
        foreach (var (_, step) in _steps)
        {
            step.Cancel();
        }
    }

    /// <summary>The job's step for this attempt and kind, started when absent; null while a leftover step of the job still winds down.</summary>
    /// <summary>The server stops: every step is cancelled, and this waits (a few seconds at most) until they have stopped writing.</summary>
    public async Task StopAsync()
    {
        CancelAll();
        var running = _steps.Values.Select(s => (Task)s.Work).ToArray();
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private Step? Current(long jobId, int attempt, StepKind kind, Func<Step> start)
    {
        while (true)
        {
            if (!_steps.TryGetValue(jobId, out var existing))
            {
                var created = start();
                created.Run();
                if (_steps.TryAdd(jobId, created))
                {
                    return created;
                }

                created.Cancel();
                continue;
            }

            if (existing.Attempt == attempt && existing.Kind == kind)
            {
                return existing;
            }

            // A step of another attempt or kind is left over: it stops first, so two never write the same directories.
            existing.Cancel();
            if (!existing.Work.IsCompleted)
            {
                return null;
            }

            _steps.TryRemove(KeyValuePair.Create(jobId, existing));
        }
    }

    private Step Start(long jobId, int attempt, StepKind kind, string waiting, Func<Step, CancellationToken, Task<Job?>> work) =>
        new(attempt, kind, waiting, async (step, token) =>
        {
            await _slots.WaitAsync(token);
            try
            {
                step.Detail = kind == StepKind.Prepare ? "preparing inputs" : "attempt ended; committing its data";
                return await work(step, token);
            }
            finally
            {
                _slots.Release();
            }
        }, () => signal.Wake());

    private sealed class Step
    {
        private readonly CancellationTokenSource _cancellation = new();
        private readonly Func<Step, CancellationToken, Task<Job?>> _work;
        private readonly Action _finished;
        private Task<Job?>? _task;

        public Step(int attempt, StepKind kind, string detail, Func<Step, CancellationToken, Task<Job?>> work, Action finished)
        {
            Attempt = attempt;
            Kind = kind;
            Detail = detail;
            _work = work;
            _finished = finished;
        }

        public int Attempt { get; }

        public StepKind Kind { get; }

        public volatile string Detail;

        public Task<Job?> Work => _task ?? throw new InvalidOperationException("the step has not been started");

        public void Run()
        {
            _task = Task.Run(() => _work(this, _cancellation.Token));

            // After the task has completed, so the pass this wakes sees it done.
            _ = _task.ContinueWith(_ => _finished(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        public void Cancel()
        {
            try
            {
                _cancellation.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Committing the data of job {JobId} attempt {Attempt} failed unexpectedly; it is tried again")]
    private partial void LogCloseFailed(Exception exception, long jobId, int attempt);
}
