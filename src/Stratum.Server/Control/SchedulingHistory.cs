using Stratum.Core.Jobs;
using Stratum.Persistence;
using Stratum.Scheduling;

namespace Stratum.Server.Control;

/// <summary>
/// What the planning policies learn from the past, kept in memory by the controller: each project's
/// run times of its latest succeeded jobs (their median is the project's runtime estimate, for jobs
/// without a max runtime) and its decayed GPU usage (<see cref="FairShareLedger"/>). Loaded once from the
/// store's history when a term starts, then fed incrementally with every attempt the controller sees end,
/// so a pass never scans the job table. Not thread-safe: only the controller's loop uses it.
/// </summary>
public sealed class SchedulingHistory
{
    /// <summary>Succeeded jobs per project whose run times make the estimate.</summary>
    public const int RunTimeSamples = 50;

    /// <summary>Estimates are recomputed at most this often; a median of 50 changes little from one job to the next.</summary>
    public static readonly TimeSpan EstimateRefresh = TimeSpan.FromMinutes(1);

    /// <summary>Usage older than this many half-lives counts for under 1/16 and is not loaded.</summary>
    public const int HalfLivesLoaded = 4;

    /// <summary>A bound on the jobs read at load, so a start over a huge history stays quick.</summary>
    public const int MaxJobsLoaded = 200_000;

    private const int PageSize = 1000;

    private readonly Dictionary<string, Queue<TimeSpan>> _runTimes = new(StringComparer.Ordinal);
    private FairShareLedger _ledger;
    private RuntimeEstimates _estimates = new();
    private DateTimeOffset _estimatedAt = DateTimeOffset.MinValue;
    private bool _changed;

    public SchedulingHistory(TimeSpan halfLife)
    {
        _ledger = new FairShareLedger(halfLife);
    }

    public TimeSpan HalfLife => _ledger.HalfLife;

    /// <summary>Jobs read by the last <see cref="LoadAsync"/>.</summary>
    public int JobsLoaded { get; private set; }

    /// <summary>
    /// Forgets everything and reads the store's history: attempts that ended within
    /// <see cref="HalfLivesLoaded"/> half-lives of <paramref name="now"/>, and the latest
    /// <see cref="RunTimeSamples"/> succeeded jobs per project. Walks jobs newest first and stops at the
    /// first page whose jobs were all submitted before that horizon and have no attempt ending after it
    /// (or after <see cref="MaxJobsLoaded"/> jobs).
    /// </summary>
    public async Task LoadAsync(IJobRepository jobs, DateTimeOffset now, CancellationToken cancellationToken)
    {
        _ledger = new FairShareLedger(_ledger.HalfLife);
        _runTimes.Clear();
        _changed = true;
        _estimatedAt = DateTimeOffset.MinValue;
        JobsLoaded = 0;
        var horizon = now - (_ledger.HalfLife * HalfLivesLoaded);
        var newestFirst = new List<(string Project, TimeSpan RunTime)>();
        long? before = null;
        while (JobsLoaded < MaxJobsLoaded)
        {
            var page = await jobs.ListAsync(new JobQuery { BeforeId = before, Limit = PageSize }, cancellationToken);
            var anyRecent = false;
            foreach (var job in page.Jobs)
            {
                JobsLoaded++;
                anyRecent |= job.SubmittedAt >= horizon;
                foreach (var attempt in job.Attempts)
                {
                    if (attempt.EndedAt is { } ended && ended >= horizon)
                    {
                        anyRecent = true;
                        RecordUsage(job, attempt);
                    }
                }

                if (job.State == JobState.Succeeded && RunTime(job) is { } runTime)
                {
                    newestFirst.Add((job.Spec.Project, runTime));
                }
            }

            if (page.NextBeforeId is not { } next || !anyRecent)
            {
                break;
            }

            before = next;
        }

        // Oldest first into each project's window, so the newest RunTimeSamples remain.
        for (var i = newestFirst.Count - 1; i >= 0; i--)
        {
            AddRunTime(newestFirst[i].Project, newestFirst[i].RunTime);
        }
    }

    /// <summary>
    /// Records what changed between <paramref name="before"/> and <paramref name="after"/> (the same job,
    /// as stored): attempts that ended count as usage, and a success adds its run time.
    /// </summary>
    public void Observe(Job before, Job after)
    {
        foreach (var attempt in after.Attempts)
        {
            var earlier = before.Attempts.FirstOrDefault(a => a.Number == attempt.Number);
            if (attempt.EndedAt is not null && earlier?.EndedAt is null)
            {
                RecordUsage(after, attempt);
            }
        }

        if (after.State == JobState.Succeeded && before.State != JobState.Succeeded && RunTime(after) is { } runTime)
        {
            AddRunTime(after.Spec.Project, runTime);
        }
    }

    /// <summary>Each project's median run time of its latest succeeded jobs, recomputed at most every <see cref="EstimateRefresh"/>.</summary>
    public RuntimeEstimates Estimates(DateTimeOffset now)
    {
        if (_changed && (now - _estimatedAt >= EstimateRefresh || now < _estimatedAt))
        {
            _estimates = new RuntimeEstimates
            {
                ByProject = _runTimes.ToDictionary(kv => kv.Key, kv => Median(kv.Value), StringComparer.Ordinal),
            };
            _estimatedAt = now;
            _changed = false;
        }

        return _estimates;
    }

    /// <summary>Each project's GPU-seconds of finished attempts, decayed to <paramref name="now"/>.</summary>
    public IReadOnlyDictionary<string, double> DecayedUsage(DateTimeOffset now) => _ledger.DecayedAt(now);

    /// <summary>The median of <paramref name="values"/> (the mean of the middle two for an even count).</summary>
    public static TimeSpan Median(IEnumerable<TimeSpan> values)
    {
        var sorted = values.Order().ToList();
        if (sorted.Count == 0)
        {
            return TimeSpan.Zero;
        }

        var middle = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    // The run that succeeded: its last attempt. Earlier attempts were preempted or failed and are
    // usage, but a resumed attempt is what a job without a max runtime is expected to take next time too.
    private static TimeSpan? RunTime(Job job) =>
        job.CurrentAttempt is { EndedAt: { } ended } attempt && ended >= attempt.StartedAt ? ended - attempt.StartedAt : null;

    private void RecordUsage(Job job, JobAttempt attempt)
    {
        var gpus = attempt.Placement.Sum(p => p.AcceleratorIndices.Count);
        if (gpus == 0 || attempt.EndedAt is not { } ended || ended <= attempt.StartedAt)
        {
            return;
        }

        _ledger.Record(job.Spec.Project, gpus * (ended - attempt.StartedAt).TotalSeconds, ended);
    }

    private void AddRunTime(string project, TimeSpan runTime)
    {
        if (!_runTimes.TryGetValue(project, out var window))
        {
            window = new Queue<TimeSpan>(RunTimeSamples);
            _runTimes[project] = window;
        }

        if (window.Count == RunTimeSamples)
        {
            window.Dequeue();
        }

        window.Enqueue(runTime);
        _changed = true;
    }
}
