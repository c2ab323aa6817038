using Microsoft.Extensions.Hosting;
using Stratum.Core.Jobs;
using Stratum.Execution;
using Stratum.Persistence;
using Stratum.Scheduling;
using Stratum.Server.Leadership;
using Stratum.Server.Metrics;

namespace Stratum.Server.Control;

/// <summary>
/// The one loop that changes running state: it observes running jobs and moves them on (exits,
/// stops, timeouts), then runs a scheduling pass and carries out its decisions. One loop rather than
/// separate schedule and reconcile loops, so the two never race over the same job; the API only
/// submits and requests stops, both under optimistic version checks.
/// After a restart the first iteration is the reconciliation: executors answer from the real
/// world, so replicas that still live are observed as running and the rest as exited or lost.
/// With several replicas on one database only the leader (<see cref="LeaderElector"/>) runs it: every
/// write it makes carries the term's fencing token, and before each launch or signal it checks that the
/// term is still current, so a replica that lost the lease stops at once and never acts twice for a job.
/// The first pass of a new term is a reconciliation like the first after a restart.
/// Moving a job's data to and from the store is not done here but by <see cref="Jobs.JobDataSteps"/> in the
/// background: an attempt being prepared holds its placement (it is stored Running) and launches at the first pass
/// after its data is in place; an ended attempt's new state is stored at the first pass after its commits are made.
/// </summary>
public sealed partial class ClusterController(
    IMetadataStore store,
    IExecutor executor,
    ISchedulingPolicy policy,
    SchedulerView view,
    ControllerSignal signal,
    ClusterCache cache,
    StratumMetrics metrics,
    LeaderElector leadership,
    Jobs.JobStoreData jobData,
    Jobs.JobDataSteps dataSteps,
    ServerOptions options,
    TimeProvider time,
    ILogger<ClusterController> logger) : BackgroundService
{
    /// <summary>Passes run at most this often however many wake-ups arrive, so a burst of submissions is scheduled in batches.</summary>
    private static readonly TimeSpan MinimumPassInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>Attempts already sent SIGTERM by this process, so a stop in its grace period is not signalled every iteration.</summary>
    private readonly HashSet<(long JobId, int Attempt)> _terminated = [];

    /// <summary>Run times and decayed usage for the planning policies; reloaded from the store when a term starts.</summary>
    private readonly SchedulingHistory _history = new(options.FairShareHalfLife);

    private bool _historyLoaded;
    private int _passes;
    private int _passesAsLeader;
    private long _term;

    /// <summary>Completed iterations; tests wait on it instead of sleeping.</summary>
    public int Passes => Volatile.Read(ref _passes);

    /// <summary>Passes completed as leader in the current term (0 on a follower until it leads).</summary>
    public int PassesAsLeader => Volatile.Read(ref _passesAsLeader);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        executor.ReplicaEnded += _ => signal.Wake();
        while (!stoppingToken.IsCancellationRequested)
        {
            var started = time.GetTimestamp();
            try
            {
                if (await RunOnceAsync(stoppingToken))
                {
                    metrics.PassCompleted(time.GetElapsedTime(started));
                    Interlocked.Increment(ref _passesAsLeader);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (StaleFencingTokenException e)
            {
                // Another replica leads now: this one's plan is void and nothing of it was stored.
                LogFenced(e.Message);
                if (e.Fence is { } fence)
                {
                    leadership.StepDown(fence, e.Message);
                }
            }
            catch (LeadershipLostException e)
            {
                LogFenced(e.Message);
            }
            catch (Exception e)
            {
                LogIterationFailed(e);
            }

            Interlocked.Increment(ref _passes);
            var elapsed = time.GetElapsedTime(started);
            if (elapsed < MinimumPassInterval)
            {
                await Task.Delay(MinimumPassInterval - elapsed, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            var interval = options.ReconcileInterval < options.SchedulingInterval ? options.ReconcileInterval : options.SchedulingInterval;
            await signal.WaitAsync(interval, time, stoppingToken);
        }

        // A step cut short is done again by the next leader or the next start: nothing of it was recorded as done.
        await dataSteps.StopAsync();
    }

    /// <summary>
    /// One iteration when this replica leads; false (having done nothing) when it follows. Throws
    /// <see cref="StaleFencingTokenException"/> or <see cref="LeadershipLostException"/> when the term ends midway.
    /// </summary>
    public async Task<bool> RunOnceAsync(CancellationToken cancellationToken)
    {
        if (leadership.CurrentFence is not { } fence)
        {
            dataSteps.CancelAll();
            return false;
        }

        if (Interlocked.Exchange(ref _term, fence.FencingToken) != fence.FencingToken)
        {
            // A new term: what an earlier term of this replica remembered may be stale.
            _terminated.Clear();
            dataSteps.CancelAll();
            Volatile.Write(ref _passesAsLeader, 0);
            _historyLoaded = false;
        }

        if (!_historyLoaded)
        {
            // Another replica may have led meanwhile, so a new term reads the history again rather than
            // trusting what this one remembered.
            await _history.LoadAsync(store.Jobs, time.GetUtcNow(), cancellationToken);
            _historyLoaded = true;
            LogHistoryLoaded(_history.JobsLoaded, _history.HalfLife);
        }

        var active = await store.Jobs.ListActiveAsync(cancellationToken);

        // 1. Observe running jobs and move them on.
        var jobs = active.ToDictionary(j => j.Id);
        var lifecycleUpdates = new List<Job>();
        var lifecycleBefore = new List<Job>();
        var signals = new List<(Job Job, JobAttempt Attempt, ReplicaSignal Signal)>();
        var relaunches = new List<Job>();
        var now = time.GetUtcNow();
        var stepsStored = new List<long>();
        var prepareDone = new List<Job>();
        dataSteps.Retain(active.Where(j => j.State == JobState.Running).Select(j => j.Id).ToHashSet());
        foreach (var job in active.Where(j => j.State == JobState.Running))
        {
            if (job.CurrentAttempt is not { } attempt)
            {
                continue;
            }

            if (dataSteps.HasPrepare(job.Id, attempt.Number) || !jobData.IsPrepared(job, attempt))
            {
                // Its data is (or was until now) being put in place: nothing was launched, so there is nothing to observe yet.
                var prepared = dataSteps.Prepare(job, attempt);
                if (prepared.Status == Jobs.JobDataSteps.PrepareStatus.Ready)
                {
                    prepareDone.Add(job);
                    continue;
                }

                Job? ended = prepared.Status switch
                {
                    Jobs.JobDataSteps.PrepareStatus.Failed => Jobs.JobStoreData.FailedBeforeStart(job, prepared.Reason!, now),
                    Jobs.JobDataSteps.PrepareStatus.Stopped => Jobs.JobStoreData.StoppedBeforeStart(job, now),
                    _ => null,
                };
                if (ended is not null)
                {
                    if (prepared.Status == Jobs.JobDataSteps.PrepareStatus.Failed)
                    {
                        LogPrepareFailed(job.Id, prepared.Reason!);
                    }

                    lifecycleUpdates.Add(ended);
                    lifecycleBefore.Add(job);
                    stepsStored.Add(job.Id);
                    jobs[job.Id] = ended with { Version = job.Version + 1 };
                }

                continue;
            }

            var observation = await executor.ObserveAsync(job, attempt, cancellationToken);
            CapLogs(job, attempt);
            var step = JobLifecycle.Next(job, observation, now, options.StopGracePeriod);
            if (step.Updated is { } next)
            {
                // An ended attempt's checkpoint and outputs go to the store before the new state is stored, so
                // "Succeeded" means its outputs are committed. Until they are, the job stays Running as stored.
                var updated = next;
                if (next.State != JobState.Running && Jobs.JobStoreData.UsesStore(next.Spec))
                {
                    if (dataSteps.Close(job, next) is not { } closed)
                    {
                        continue;
                    }

                    // Closed from the pass that first saw the end; stored over this pass's version of the job.
                    updated = closed with { Version = job.Version };
                    stepsStored.Add(job.Id);
                }

                lifecycleUpdates.Add(updated);
                lifecycleBefore.Add(job);
                jobs[job.Id] = updated with { Version = job.Version + 1 };
            }

            if (step.Signal is { } wanted)
            {
                signals.Add((job, attempt, wanted));
            }

            if (step.Relaunch)
            {
                relaunches.Add(job);
            }
        }

        if (lifecycleUpdates.Count > 0 && !await store.Jobs.UpdateFencedAsync(lifecycleUpdates, fence, cancellationToken))
        {
            // Someone (a cancel through the API) changed one of these jobs meanwhile: start over with fresh state.
            signal.Wake();
            return true;
        }

        foreach (var id in stepsStored)
        {
            dataSteps.Forget(id);
        }

        for (var i = 0; i < lifecycleUpdates.Count; i++)
        {
            var updated = lifecycleUpdates[i];
            _history.Observe(lifecycleBefore[i], updated);
            if (updated.State.IsTerminal())
            {
                metrics.JobFinished(updated);
            }

            LogJobTransition(updated.Id, updated.State, updated.Reason);
            _terminated.RemoveWhere(k => k.JobId == updated.Id && updated.State != JobState.Running);
        }

        EnsureLeading(fence);
        await SendSignalsAsync(signals, cancellationToken);
        foreach (var job in relaunches)
        {
            EnsureLeading(fence);
            LogRelaunching(job.Id, job.CurrentAttempt!.Number);
            await LaunchAsync(job, cancellationToken);
        }

        foreach (var job in prepareDone)
        {
            EnsureLeading(fence);
            dataSteps.Forget(job.Id);
            if (await LaunchAsync(job, cancellationToken))
            {
                LogJobStarted(job.Id, job.CurrentAttempt!.Number, string.Join(",", job.CurrentAttempt.Placement.Select(p => p.Node).Distinct()));
            }
        }

        // 2. Schedule what is queued onto what is free.
        now = time.GetUtcNow();
        var snapshot = new ClusterSnapshot
        {
            Now = now,
            Nodes = await cache.NodesAsync(cancellationToken),
            Projects = await cache.ProjectsAsync(cancellationToken),
            Queued = jobs.Values.Where(j => j.State.IsQueued()).OrderBy(j => j.Id).ToList(),
            Running = jobs.Values.Where(j => j.State == JobState.Running).OrderBy(j => j.Id).ToList(),
            RuntimeEstimates = _history.Estimates(now),
            DecayedUsage = _history.DecayedUsage(now),
        };
        var decisions = policy.Schedule(snapshot);
        var queuedSummaries = snapshot.Queued.ToDictionary(j => j.Id, j => new QueuedJobSummary(j.Id, j.Spec.Name, j.Spec.Project, j.Spec.Priority, j.State.ToWire()));

        var decisionUpdates = new List<Job>();
        var preempted = new List<Job>();
        foreach (var preempt in decisions.Preemptions)
        {
            if (jobs.TryGetValue(preempt.JobId, out var victim) && victim.State == JobState.Running && victim.Stop is null)
            {
                var stopping = victim with { Stop = new StopRequest(StopKind.Preempt, now, $"job {preempt.ForJobId}", preempt.Reason), UpdatedAt = now };
                decisionUpdates.Add(stopping);
                preempted.Add(stopping);
            }
        }

        var starting = new List<Job>();
        foreach (var start in decisions.Starts)
        {
            if (!jobs.TryGetValue(start.JobId, out var queued) || !queued.State.IsQueued())
            {
                continue;
            }

            var attempt = new JobAttempt { Number = queued.Attempts.Count + 1, Placement = start.Placement, StartedAt = now };
            var running = queued with
            {
                State = JobState.Running,
                Reason = queued.Attempts.Count == 0 ? "started" : $"started attempt {attempt.Number}",
                Attempts = [.. queued.Attempts, attempt],
                UpdatedAt = now,
            };
            decisionUpdates.Add(running);
            starting.Add(running);
        }

        if (decisionUpdates.Count > 0)
        {
            // Persist before acting: a crash after this commit leaves jobs Running without processes,
            // which the next iteration observes as lost and handles by their retry policy.
            if (!await store.Jobs.UpdateFencedAsync(decisionUpdates, fence, cancellationToken))
            {
                signal.Wake();
                return true;
            }
        }

        view.Publish(now, decisions.Pending, queuedSummaries);
        view.PublishSnapshot(snapshot);
        foreach (var job in decisionUpdates)
        {
            jobs[job.Id] = job with { Version = job.Version + 1 };
        }

        metrics.Publish(snapshot.Nodes, [.. jobs.Values]);

        foreach (var job in preempted)
        {
            EnsureLeading(fence);
            metrics.JobPreempted(job);
            LogPreempting(job.Id, job.Stop!.Reason);
            if (jobData.IsPrepared(job, job.CurrentAttempt!))
            {
                await SignalAsync(job, job.CurrentAttempt!, ReplicaSignal.Terminate, cancellationToken);
            }
            else
            {
                // Nothing launched yet: the next pass stops its prepare step and queues it again.
                signal.Wake();
            }
        }

        foreach (var job in starting)
        {
            // The start is stored under this term; a replica whose term ended meanwhile leaves the
            // launch to the new leader, which finds the attempt without a launch record and launches it.
            EnsureLeading(fence);
            metrics.JobStarted(job, now);
            if (!jobData.IsPrepared(job, job.CurrentAttempt!))
            {
                // Its data goes in place in the background, holding the placement; a later pass launches it.
                dataSteps.Prepare(job with { Version = job.Version + 1 }, job.CurrentAttempt!);
                LogPreparing(job.Id, job.CurrentAttempt!.Number);
                continue;
            }

            if (await LaunchAsync(job with { Version = job.Version + 1 }, cancellationToken))
            {
                LogJobStarted(job.Id, job.CurrentAttempt!.Number, string.Join(",", job.CurrentAttempt.Placement.Select(p => p.Node).Distinct()));
            }
        }

        if (decisions.Starts.Count > 0 || decisions.Preemptions.Count > 0)
        {
            signal.Wake();
        }

        return true;
    }

    private void EnsureLeading(LeaderFence fence)
    {
        if (!leadership.Holds(fence))
        {
            throw new LeadershipLostException(fence);
        }
    }

    /// <summary>Keeps each running replica's logs under <see cref="ServerOptions.MaxLogBytes"/>, so a chatty job cannot fill the disk.</summary>
    private void CapLogs(Job job, JobAttempt attempt)
    {
        if (executor is not ISupportsLogFiles files)
        {
            return;
        }

        foreach (var replica in attempt.Placement)
        {
            foreach (var stream in (LogStream[])[LogStream.Stdout, LogStream.Stderr])
            {
                if (LogRotation.Enforce(files.LogPath(job.Id, attempt.Number, replica.Rank, stream), options.MaxLogBytes))
                {
                    LogRotated(job.Id, replica.Rank, stream);
                }
            }
        }
    }

    private async Task<bool> LaunchAsync(Job job, CancellationToken cancellationToken)
    {
        try
        {
            await executor.LaunchAsync(job, job.CurrentAttempt!, cancellationToken);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Replicas without a launch record are launched again on later iterations, within
            // JobLifecycle.RelaunchWindow; after it they count as lost and the retry policy decides.
            LogLaunchFailed(e, job.Id);
            return false;
        }
    }

    private async Task SendSignalsAsync(List<(Job Job, JobAttempt Attempt, ReplicaSignal Signal)> signals, CancellationToken cancellationToken)
    {
        foreach (var (job, attempt, wanted) in signals)
        {
            if (wanted == ReplicaSignal.Terminate && _terminated.Contains((job.Id, attempt.Number)))
            {
                continue;
            }

            await SignalAsync(job, attempt, wanted, cancellationToken);
        }
    }

    private async Task SignalAsync(Job job, JobAttempt attempt, ReplicaSignal wanted, CancellationToken cancellationToken)
    {
        try
        {
            await executor.SignalAsync(job, attempt, wanted, cancellationToken);
            if (wanted == ReplicaSignal.Terminate)
            {
                _terminated.Add((job.Id, attempt.Number));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSignalFailed(e, job.Id, wanted);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Scheduling history loaded from {Jobs} jobs (fair-share half-life {HalfLife})")]
    private partial void LogHistoryLoaded(int jobs, TimeSpan halfLife);

    [LoggerMessage(Level = LogLevel.Error, Message = "Controller iteration failed; retrying at the next interval")]
    private partial void LogIterationFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Controller iteration stopped: {Reason}")]
    private partial void LogFenced(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} is now {State}: {Reason}")]
    private partial void LogJobTransition(long jobId, JobState state, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} started on {Nodes}")]
    private partial void LogJobStarted(long jobId, int attempt, string nodes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt} was stored but never launched (the server stopped in between); launching it now")]
    private partial void LogRelaunching(long jobId, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} replica {Rank} {Stream} log passed its size limit and was rotated")]
    private partial void LogRotated(long jobId, int rank, LogStream stream);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} placed; its data is being put in place before it launches")]
    private partial void LogPreparing(long jobId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} could not start: {Reason}")]
    private partial void LogPrepareFailed(long jobId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Preempting job {JobId}: {Reason}")]
    private partial void LogPreempting(long jobId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not launch job {JobId}")]
    private partial void LogLaunchFailed(Exception exception, long jobId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not send {Signal} to job {JobId}")]
    private partial void LogSignalFailed(Exception exception, long jobId, ReplicaSignal signal);
}
