using Stratum.Core.Access;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Scheduling;
using Stratum.Server.Control;

namespace Stratum.Server.Tests;

public sealed class SchedulingHistoryTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(new[] { 3.0 }, 3.0)]
    [InlineData(new[] { 5.0, 1.0, 3.0 }, 3.0)]
    [InlineData(new[] { 4.0, 1.0, 2.0, 10.0 }, 3.0)]
    public void Median_Values_IsTheMiddle(double[] minutes, double expected) =>
        Assert.Equal(TimeSpan.FromMinutes(expected), SchedulingHistory.Median(minutes.Select(TimeSpan.FromMinutes)));

    [Fact]
    public void Observe_JobSucceeds_ItsRunTimeBecomesTheProjectEstimate()
    {
        var history = new SchedulingHistory(TimeSpan.FromDays(7));
        var running = Job(1, "vision", JobState.Running, Attempt(1, Now - TimeSpan.FromMinutes(20), null, gpus: 2));

        history.Observe(running, Ended(running, JobState.Succeeded, Now));

        Assert.Equal(TimeSpan.FromMinutes(20), history.Estimates(Now).ByProject["vision"]);
        Assert.Equal(2 * 20 * 60, history.DecayedUsage(Now)["vision"], precision: 6);
    }

    [Fact]
    public void Observe_AttemptPreempted_CountsUsageButNoRunTime()
    {
        var history = new SchedulingHistory(TimeSpan.FromDays(7));
        var running = Job(1, "vision", JobState.Running, Attempt(1, Now - TimeSpan.FromMinutes(10), null, gpus: 1));

        history.Observe(running, Ended(running, JobState.Preempted, Now));

        Assert.Empty(history.Estimates(Now).ByProject);
        Assert.Equal(600, history.DecayedUsage(Now)["vision"], precision: 6);
    }

    [Fact]
    public void Estimates_WithinAMinuteOfTheLastRefresh_AreNotRecomputed()
    {
        var history = new SchedulingHistory(TimeSpan.FromDays(7));
        var first = Job(1, "vision", JobState.Running, Attempt(1, Now - TimeSpan.FromMinutes(10), null));
        history.Observe(first, Ended(first, JobState.Succeeded, Now));
        Assert.Equal(TimeSpan.FromMinutes(10), history.Estimates(Now).ByProject["vision"]);

        var second = Job(2, "vision", JobState.Running, Attempt(1, Now - TimeSpan.FromMinutes(30), null));
        history.Observe(second, Ended(second, JobState.Succeeded, Now));

        Assert.Equal(TimeSpan.FromMinutes(10), history.Estimates(Now + TimeSpan.FromSeconds(30)).ByProject["vision"]);
        Assert.Equal(TimeSpan.FromMinutes(20), history.Estimates(Now + SchedulingHistory.EstimateRefresh).ByProject["vision"]);
    }

    [Fact]
    public void Observe_MoreThanTheSampleCount_KeepsOnlyTheLatest()
    {
        var history = new SchedulingHistory(TimeSpan.FromDays(7));
        for (var i = 0; i < SchedulingHistory.RunTimeSamples; i++)
        {
            var old = Job(i, "nlp", JobState.Running, Attempt(1, Now - TimeSpan.FromHours(5), null));
            history.Observe(old, Ended(old, JobState.Succeeded, Now));
        }

        for (var i = 0; i < SchedulingHistory.RunTimeSamples; i++)
        {
            var recent = Job(100 + i, "nlp", JobState.Running, Attempt(1, Now - TimeSpan.FromMinutes(1), null));
            history.Observe(recent, Ended(recent, JobState.Succeeded, Now));
        }

        Assert.Equal(TimeSpan.FromMinutes(1), history.Estimates(Now).ByProject["nlp"]);
    }

    [Fact]
    public async Task LoadAsync_StoreHistory_DecaysUsageAndSkipsWhatEndedBeforeTheHorizon()
    {
        var halfLife = TimeSpan.FromDays(1);
        var jobs = new List<Job>
        {
            // Newest first, as the store pages them; the oldest ended five half-lives ago and is not read.
            Job(3, "vision", JobState.Succeeded, Attempt(1, Now - TimeSpan.FromHours(2), Now - TimeSpan.FromHours(1), gpus: 1)),
            Job(2, "vision", JobState.Succeeded, Attempt(1, Now - TimeSpan.FromDays(1) - TimeSpan.FromHours(1), Now - TimeSpan.FromDays(1), gpus: 1)),
            Job(1, "nlp", JobState.Succeeded, Attempt(1, Now - TimeSpan.FromDays(5) - TimeSpan.FromHours(1), Now - TimeSpan.FromDays(5), gpus: 8)) with { SubmittedAt = Now - TimeSpan.FromDays(6) },
        };
        var history = new SchedulingHistory(halfLife);

        await history.LoadAsync(new PagedJobs(jobs, pageSize: 1), Now, CancellationToken.None);

        var usage = history.DecayedUsage(Now);
        var expected = (3600 * Math.Pow(2, -1.0 / 24)) + (3600 * 0.5);
        Assert.Equal(expected, usage["vision"], precision: 6);
        Assert.False(usage.ContainsKey("nlp"));
        Assert.Equal(TimeSpan.FromHours(1), history.Estimates(Now).ByProject["vision"]);
    }

    [Fact]
    public void ServerPolicy_PlanningPolicy_GetsTheCooldownSetting()
    {
        var policy = ServerPolicy.Create(new ServerOptions { SchedulingPolicy = "default", PreemptionCooldown = TimeSpan.FromSeconds(5) });

        var planning = Assert.IsType<PlanningPolicy>(policy);
        Assert.Equal("default", planning.Name);
        Assert.Equal(TimeSpan.FromSeconds(5), planning.Options.PreemptionCooldown);
        Assert.True(planning.Options.FairShare);
    }

    [Fact]
    public void ServerPolicy_OtherPolicy_IsTheNamedOne() =>
        Assert.Equal("priority", ServerPolicy.Create(new ServerOptions { SchedulingPolicy = "priority" }).Name);

    [Theory]
    [InlineData(-1, 7 * 24, "preemptionCooldown")]
    [InlineData(2 * 24 * 3600, 7 * 24, "preemptionCooldown")]
    [InlineData(300, 0, "fairShareHalfLife")]
    [InlineData(300, 400 * 24, "fairShareHalfLife")]
    public void Validate_SchedulingSettingOutOfRange_NamesTheSetting(int cooldownSeconds, int halfLifeHours, string setting)
    {
        var options = new ServerOptions { PreemptionCooldown = TimeSpan.FromSeconds(cooldownSeconds), FairShareHalfLife = TimeSpan.FromHours(halfLifeHours) };

        Assert.Contains(options.Validate(), p => p.StartsWith(setting + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_Defaults_AreValidAndRunTheDefaultPolicy()
    {
        var options = new ServerOptions();

        Assert.DoesNotContain(options.Validate(), p => p.StartsWith("preemptionCooldown", StringComparison.Ordinal) || p.StartsWith("fairShareHalfLife", StringComparison.Ordinal) || p.StartsWith("schedulingPolicy", StringComparison.Ordinal));
        Assert.Equal(SchedulingPolicies.Default, options.SchedulingPolicy);
        Assert.Equal(TimeSpan.FromMinutes(5), options.PreemptionCooldown);
        Assert.Equal(TimeSpan.FromDays(7), options.FairShareHalfLife);
    }

    private static JobAttempt Attempt(int number, DateTimeOffset started, DateTimeOffset? ended, int gpus = 0) => new()
    {
        Number = number,
        Placement = [new ReplicaPlacement(0, "n1", Enumerable.Range(0, gpus).ToList())],
        StartedAt = started,
        EndedAt = ended,
    };

    private static Job Job(long id, string project, JobState state, params JobAttempt[] attempts) => new()
    {
        Id = id,
        Spec = new JobSpec { Name = "j", Project = project, Command = ["true"], Resources = new ResourceVector(1000, 1 << 30) },
        Owner = "admin",
        State = state,
        SubmittedAt = attempts.Length > 0 ? attempts[0].StartedAt : Now,
        Attempts = attempts,
    };

    private static Job Ended(Job job, JobState state, DateTimeOffset at) => job with
    {
        State = state,
        Attempts = [.. job.Attempts.Take(job.Attempts.Count - 1), job.Attempts[^1] with { EndedAt = at }],
    };

    /// <summary>Pages a list the way the store does (newest first by id); everything else is unused here.</summary>
    private sealed class PagedJobs(IReadOnlyList<Job> newestFirst, int pageSize) : IJobRepository
    {
        public Task<JobPage> ListAsync(JobQuery query, CancellationToken cancellationToken = default)
        {
            var page = newestFirst.Where(j => query.BeforeId is not { } before || j.Id < before).Take(Math.Min(pageSize, query.Limit)).ToList();
            var more = page.Count > 0 && newestFirst.Any(j => j.Id < page[^1].Id);
            return Task.FromResult(new JobPage(page, more ? page[^1].Id : null));
        }

        public Task<SubmitResult> SubmitAsync(JobSpec spec, string owner, string? idempotencyKey, DateTimeOffset now, AuditRecord? audit, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<Job?> GetAsync(long id, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<Job>> ListActiveAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<bool> UpdateAsync(IReadOnlyList<Job> updates, AuditRecord? audit, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<bool> UpdateFencedAsync(IReadOnlyList<Job> updates, LeaderFence fence, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
