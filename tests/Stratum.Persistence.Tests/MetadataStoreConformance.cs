using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;

namespace Stratum.Persistence.Tests;

/// <summary>
/// What every <see cref="IMetadataStore"/> must do, whatever it stores into. An implementation runs
/// these through a one-line subclass. Nothing here may assume a particular database.
/// </summary>
public abstract class MetadataStoreConformance
{
    /// <summary>A new, empty store with its schema in place. The test disposes it.</summary>
    protected abstract Task<IMetadataStore> CreateStoreAsync();

    [Fact]
    public async Task MigrateAsync_CalledAgain_KeepsDataAndWorks()
    {
        await using var store = await CreateStoreAsync().Within();
        var before = await store.Jobs.SubmitAsync(Make.Spec("before"), "alice", null, Make.T0, null).Within();

        await store.MigrateAsync().Within();
        await store.MigrateAsync().Within();

        var after = await store.Jobs.SubmitAsync(Make.Spec("after"), "alice", null, Make.T0, null).Within();
        Assert.NotNull(await store.Jobs.GetAsync(before.Job.Id).Within());
        Assert.True(after.Job.Id > before.Job.Id);
    }

    [Fact]
    public async Task SubmitAsync_NewJob_StoresPendingAtVersionOneWithEveryField()
    {
        await using var store = await CreateStoreAsync().Within();
        var spec = Make.RichSpec();

        var result = await store.Jobs.SubmitAsync(spec, "alice", null, Make.T0, null).Within();

        Assert.True(result.Created);
        Assert.Equal(JobState.Pending, result.Job.State);
        Assert.Equal(1, result.Job.Version);
        Assert.Equal("alice", result.Job.Owner);
        Assert.Empty(result.Job.Attempts);
        Assert.Null(result.Job.Stop);
        Assert.Equal(0, result.Job.FailedAttempts);
        Assert.Equal(Make.Ms(Make.T0), result.Job.SubmittedAt);
        Same.Spec(spec, result.Job.Spec);

        var stored = await store.Jobs.GetAsync(result.Job.Id).Within();
        Assert.NotNull(stored);
        Same.Job(result.Job, stored);
    }

    [Fact]
    public async Task SubmitAsync_OneAfterAnother_IdsIncrease()
    {
        await using var store = await CreateStoreAsync().Within();
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await store.Jobs.SubmitAsync(Make.Spec($"j{i}"), "alice", null, Make.T0, null).Within()).Job.Id);
        }

        Assert.Equal(ids.Order().Distinct(), ids);
    }

    [Fact]
    public async Task GetAsync_UnknownId_ReturnsNull()
    {
        await using var store = await CreateStoreAsync().Within();

        Assert.Null(await store.Jobs.GetAsync(12345).Within());
    }

    [Fact]
    public async Task SubmitAsync_SameKeySameOwner_ReturnsEarlierJobAndStoresNothing()
    {
        await using var store = await CreateStoreAsync().Within();
        var first = await store.Jobs.SubmitAsync(Make.Spec("a"), "alice", "key-1", Make.T0, Make.Audit("job.submit", "job/{id}")).Within();

        var second = await store.Jobs.SubmitAsync(Make.Spec("b"), "alice", "key-1", Make.T0.AddMinutes(1), Make.Audit("job.submit", "job/{id}")).Within();

        Assert.True(first.Created);
        Assert.False(second.Created);
        Same.Job(first.Job, second.Job);
        var page = await store.Jobs.ListAsync(new JobQuery()).Within();
        Assert.Single(page.Jobs);
        Assert.Single(await store.Audit.ListAsync(null, 100).Within());
    }

    [Fact]
    public async Task SubmitAsync_SameKeyAfterJobMovedOn_ReturnsCurrentJob()
    {
        await using var store = await CreateStoreAsync().Within();
        var first = await store.Jobs.SubmitAsync(Make.Spec("a"), "alice", "key-1", Make.T0, null).Within();
        var running = first.Job with { State = JobState.Running, Attempts = [Make.Attempt(1, Make.T0)] };
        Assert.True(await store.Jobs.UpdateAsync([running], null).Within());

        var again = await store.Jobs.SubmitAsync(Make.Spec("a"), "alice", "key-1", Make.T0, null).Within();

        Assert.False(again.Created);
        Same.Job(running with { Version = 2 }, again.Job);
    }

    [Fact]
    public async Task SubmitAsync_SameKeyOtherOwner_CreatesNewJob()
    {
        await using var store = await CreateStoreAsync().Within();
        var alice = await store.Jobs.SubmitAsync(Make.Spec("a"), "alice", "key-1", Make.T0, null).Within();

        var bob = await store.Jobs.SubmitAsync(Make.Spec("a"), "bob", "key-1", Make.T0, null).Within();
        var noKey = await store.Jobs.SubmitAsync(Make.Spec("a"), "alice", null, Make.T0, null).Within();

        Assert.True(bob.Created);
        Assert.True(noKey.Created);
        Assert.Equal(3, new[] { alice.Job.Id, bob.Job.Id, noKey.Job.Id }.Distinct().Count());
    }

    [Fact]
    public async Task SubmitAsync_AuditTargetWithIdPlaceholder_NamesTheNewJob()
    {
        await using var store = await CreateStoreAsync().Within();

        var result = await store.Jobs.SubmitAsync(
            Make.Spec(), "alice", null, Make.T0, Make.Audit("job.submit", "job/" + AuditPlaceholders.JobId, detail: "id " + AuditPlaceholders.JobId)).Within();

        var entry = Assert.Single(await store.Audit.ListAsync(null, 10).Within());
        Assert.Equal($"job/{result.Job.Id}", entry.Target);
        Assert.Equal($"id {result.Job.Id}", entry.Detail);
    }

    [Fact]
    public async Task SubmitAsync_CancelledToken_ThrowsAndStoresNothing()
    {
        await using var store = await CreateStoreAsync().Within();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => store.Jobs.SubmitAsync(Make.Spec(), "alice", null, Make.T0, null, cancelled.Token).Within());

        Assert.Empty((await store.Jobs.ListAsync(new JobQuery()).Within()).Jobs);
    }

    [Fact]
    public async Task UpdateAsync_FullJob_RoundTripsAttemptsStopAndCounters()
    {
        await using var store = await CreateStoreAsync().Within();
        var submitted = (await store.Jobs.SubmitAsync(Make.RichSpec(), "alice", null, Make.T0, null).Within()).Job;
        var updated = submitted with
        {
            State = JobState.Running,
            Reason = "started on gpu-01, gpu-02",
            UpdatedAt = Make.T0.AddSeconds(90.5),
            Attempts =
            [
                Make.Attempt(1, Make.T0.AddSeconds(1), Make.T0.AddSeconds(30), 137, "lost: process gone after server restart"),
                Make.Attempt(2, Make.T0.AddSeconds(60)),
            ],
            Stop = new StopRequest(StopKind.Preempt, Make.T0.AddSeconds(90.25), "scheduler", "make room for job 7"),
            FailedAttempts = 1,
        };

        Assert.True(await store.Jobs.UpdateAsync([updated], null).Within());

        var stored = await store.Jobs.GetAsync(submitted.Id).Within();
        Assert.NotNull(stored);
        Same.Job(updated with { Version = 2 }, stored);
    }

    [Fact]
    public async Task UpdateAsync_StaleVersion_LosesAndLeavesTheWinner()
    {
        await using var store = await CreateStoreAsync().Within();
        var job = (await store.Jobs.SubmitAsync(Make.Spec(), "alice", null, Make.T0, null).Within()).Job;
        var winner = job with { State = JobState.Running, Reason = "winner" };
        var loser = job with { State = JobState.Cancelled, Reason = "loser" };

        Assert.True(await store.Jobs.UpdateAsync([winner], null).Within());
        Assert.False(await store.Jobs.UpdateAsync([loser], Make.Audit("job.cancel", "job")).Within());

        var stored = await store.Jobs.GetAsync(job.Id).Within();
        Assert.NotNull(stored);
        Same.Job(winner with { Version = 2 }, stored);
        Assert.Empty(await store.Audit.ListAsync(null, 10).Within());
    }

    [Fact]
    public async Task UpdateAsync_OneStaleJobAmongSeveral_WritesNothing()
    {
        await using var store = await CreateStoreAsync().Within();
        var a = (await store.Jobs.SubmitAsync(Make.Spec("a"), "alice", null, Make.T0, null).Within()).Job;
        var b = (await store.Jobs.SubmitAsync(Make.Spec("b"), "alice", null, Make.T0, null).Within()).Job;
        Assert.True(await store.Jobs.UpdateAsync([b with { Reason = "moved on" }], null).Within());

        var applied = await store.Jobs.UpdateAsync(
            [a with { State = JobState.Running }, b with { State = JobState.Running }],
            Make.Audit("schedule", "jobs")).Within();

        Assert.False(applied);
        var storedA = await store.Jobs.GetAsync(a.Id).Within();
        var storedB = await store.Jobs.GetAsync(b.Id).Within();
        Assert.NotNull(storedA);
        Assert.NotNull(storedB);
        Same.Job(a, storedA);
        Same.Job(b with { Reason = "moved on", Version = 2 }, storedB);
        Assert.Empty(await store.Audit.ListAsync(null, 10).Within());
    }

    [Fact]
    public async Task UpdateAsync_SeveralFreshJobs_StoresAllAtVersionPlusOneWithAudit()
    {
        await using var store = await CreateStoreAsync().Within();
        var a = (await store.Jobs.SubmitAsync(Make.Spec("a"), "alice", null, Make.T0, null).Within()).Job;
        var b = (await store.Jobs.SubmitAsync(Make.Spec("b"), "alice", null, Make.T0, null).Within()).Job;
        var updates = new[] { a with { State = JobState.Running }, b with { State = JobState.Preempted, Reason = "preempted" } };

        Assert.True(await store.Jobs.UpdateAsync(updates, Make.Audit("schedule", "jobs")).Within());
        Assert.True(await store.Jobs.UpdateAsync([updates[0] with { Version = 2, State = JobState.Succeeded }], null).Within());

        var storedA = await store.Jobs.GetAsync(a.Id).Within();
        var storedB = await store.Jobs.GetAsync(b.Id).Within();
        Assert.NotNull(storedA);
        Assert.NotNull(storedB);
        Same.Job(updates[0] with { Version = 3, State = JobState.Succeeded }, storedA);
        Same.Job(updates[1] with { Version = 2 }, storedB);
        Assert.Equal("schedule", Assert.Single(await store.Audit.ListAsync(null, 10).Within()).Action);
    }

    [Fact]
    public async Task UpdateAsync_UnknownJob_ReturnsFalse()
    {
        await using var store = await CreateStoreAsync().Within();
        var ghost = new Job { Id = 999, Spec = Make.Spec(), Owner = "alice", State = JobState.Running, SubmittedAt = Make.T0, Version = 1 };

        Assert.False(await store.Jobs.UpdateAsync([ghost], null).Within());
        Assert.Null(await store.Jobs.GetAsync(999).Within());
    }

    [Fact]
    public async Task ListAsync_PagingThrough250Jobs_ReturnsEachOnceNewestFirst()
    {
        await using var store = await CreateStoreAsync().Within();
        var submitted = await SubmitManyAsync(store, 250);

        foreach (var limit in new[] { 40, 50 })
        {
            var seen = new List<long>();
            long? before = null;
            var pages = 0;
            do
            {
                var page = await store.Jobs.ListAsync(new JobQuery { BeforeId = before, Limit = limit }).Within();
                Assert.True(page.Jobs.Count <= limit);
                seen.AddRange(page.Jobs.Select(j => j.Id));
                before = page.NextBeforeId;
                pages++;
                Assert.True(pages <= 10, "paging does not end");
            }
            while (before is not null);

            Assert.Equal(submitted.Select(j => j.Id).OrderDescending(), seen);
            Assert.Equal((250 + limit - 1) / limit, pages);
        }
    }

    [Fact]
    public async Task ListAsync_WithFilters_ReturnsOnlyMatchingJobsAcrossPages()
    {
        await using var store = await CreateStoreAsync().Within();
        var submitted = await SubmitManyAsync(store, 250);
        var running = submitted.Where(j => j.Id % 4 == 0).Select(j => j with { State = JobState.Running }).ToList();
        Assert.True(await store.Jobs.UpdateAsync(running, null).Within());
        var runningIds = running.Select(j => j.Id).ToHashSet();
        var query = new JobQuery { Projects = ["p0", "p2"], States = [JobState.Pending], Owner = "alice", Limit = 7 };

        var seen = new List<Job>();
        long? before = null;
        do
        {
            var page = await store.Jobs.ListAsync(query with { BeforeId = before }).Within();
            seen.AddRange(page.Jobs);
            before = page.NextBeforeId;
        }
        while (before is not null);

        var expected = submitted
            .Where(j => j.Spec.Project is "p0" or "p2" && j.Owner == "alice" && !runningIds.Contains(j.Id))
            .Select(j => j.Id)
            .OrderDescending()
            .ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, seen.Select(j => j.Id));
        Assert.All(seen, j => Assert.Equal(JobState.Pending, j.State));
    }

    [Fact]
    public async Task ListAsync_EmptyFilterOrOutOfRangeLimit_MatchesNothingOrIsClamped()
    {
        await using var store = await CreateStoreAsync().Within();
        await SubmitManyAsync(store, 3);

        Assert.Empty((await store.Jobs.ListAsync(new JobQuery { Projects = [] }).Within()).Jobs);
        Assert.Empty((await store.Jobs.ListAsync(new JobQuery { States = [] }).Within()).Jobs);
        var one = await store.Jobs.ListAsync(new JobQuery { Limit = 0 }).Within();
        Assert.Single(one.Jobs);
        Assert.NotNull(one.NextBeforeId);
        var all = await store.Jobs.ListAsync(new JobQuery { Limit = int.MaxValue }).Within();
        Assert.Equal(3, all.Jobs.Count);
        Assert.Null(all.NextBeforeId);
    }

    [Fact]
    public async Task ListActiveAsync_MixedStates_ReturnsQueuedAndRunningOldestFirst()
    {
        await using var store = await CreateStoreAsync().Within();
        var states = new[] { JobState.Running, JobState.Succeeded, JobState.Pending, JobState.Failed, JobState.Preempted, JobState.Cancelled, JobState.Pending };
        var jobs = new List<Job>();
        foreach (var state in states)
        {
            var job = (await store.Jobs.SubmitAsync(Make.Spec(), "alice", null, Make.T0, null).Within()).Job;
            if (state != JobState.Pending)
            {
                Assert.True(await store.Jobs.UpdateAsync([job with { State = state }], null).Within());
            }

            jobs.Add(job with { State = state });
        }

        var active = await store.Jobs.ListActiveAsync().Within();

        var expected = jobs.Where(j => j.State is JobState.Pending or JobState.Preempted or JobState.Running).Select(j => j.Id).Order();
        Assert.Equal(expected, active.Select(j => j.Id));
    }

    [Fact]
    public async Task SubmitAsync_2000Concurrent_AllGetDistinctIdsAndAllAreStored()
    {
        await using var store = await CreateStoreAsync().Within();
        const int count = 2000;

        var results = await Task.WhenAll(Enumerable.Range(0, count).Select(i => Task.Run(
            () => store.Jobs.SubmitAsync(Make.Spec($"job-{i}"), $"user-{i % 7}", $"key-{i}", Make.T0, null)))).Within();

        Assert.All(results, r => Assert.True(r.Created));
        Assert.Equal(count, results.Select(r => r.Job.Id).Distinct().Count());
        for (var i = 0; i < count; i++)
        {
            Assert.Equal($"job-{i}", results[i].Job.Spec.Name);
            Assert.Equal($"user-{i % 7}", results[i].Job.Owner);
        }

        var stored = new List<Job>();
        long? before = null;
        do
        {
            var page = await store.Jobs.ListAsync(new JobQuery { BeforeId = before, Limit = 1000 }).Within();
            stored.AddRange(page.Jobs);
            before = page.NextBeforeId;
        }
        while (before is not null);

        Assert.Equal(results.Select(r => r.Job.Id).Order(), stored.Select(j => j.Id).Order());
        var byId = stored.ToDictionary(j => j.Id);
        Assert.All(results, r => Assert.Equal(r.Job.Spec.Name, byId[r.Job.Id].Spec.Name));
    }

    [Fact]
    public async Task SubmitAsync_ConcurrentSameKey_CreatesOneJob()
    {
        await using var store = await CreateStoreAsync().Within();

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(
            () => store.Jobs.SubmitAsync(Make.Spec(), "alice", "retry-me", Make.T0, null)))).Within();

        Assert.Single(results, r => r.Created);
        Assert.Single(results.Select(r => r.Job.Id).Distinct());
    }

    [Fact]
    public async Task Pools_UpsertTwice_RoundTripsAndReplacesButKeepsCreatedAt()
    {
        await using var store = await CreateStoreAsync().Within();
        var pool = Make.Pool("onprem");
        await store.Cluster.UpsertPoolAsync(pool, Make.Audit("pool.apply", "pool/onprem")).Within();
        await store.Cluster.UpsertPoolAsync(Make.Pool("cloud") with { Price = PriceModel.Free, Kind = PoolKind.OnPrem }, null).Within();

        var changed = pool with { Kind = PoolKind.Edge, Executor = "local", Price = PriceModel.Free, CreatedAt = Make.T0.AddDays(3) };
        await store.Cluster.UpsertPoolAsync(changed, null).Within();

        var pools = await store.Cluster.ListPoolsAsync().Within();
        Assert.Equal(["cloud", "onprem"], pools.Select(p => p.Name));
        Same.Pool(changed with { CreatedAt = Make.T0 }, pools[1]);
        Same.Pool(Make.Pool("cloud") with { Price = PriceModel.Free, Kind = PoolKind.OnPrem }, pools[0]);
    }

    [Fact]
    public async Task Nodes_UpsertGetDelete_RoundTripsEveryField()
    {
        await using var store = await CreateStoreAsync().Within();
        var node = Make.Node("gpu-01");
        await store.Cluster.UpsertNodeAsync(node, Make.Audit("node.apply", "node/gpu-01")).Within();
        await store.Cluster.UpsertNodeAsync(Make.Node("gpu-02"), null).Within();

        var stored = await store.Cluster.GetNodeAsync("gpu-01").Within();
        Assert.NotNull(stored);
        Same.Node(node, stored);

        var replaced = node with { State = NodeState.Ready, StateReason = null, Labels = new Dictionary<string, string>(), Accelerators = [] };
        await store.Cluster.UpsertNodeAsync(replaced, null).Within();
        var again = await store.Cluster.GetNodeAsync("gpu-01").Within();
        Assert.NotNull(again);
        Same.Node(replaced, again);

        Assert.True(await store.Cluster.DeleteNodeAsync("gpu-02", Make.Audit("node.delete", "node/gpu-02")).Within());
        Assert.False(await store.Cluster.DeleteNodeAsync("gpu-02", Make.Audit("node.delete", "node/gpu-02")).Within());
        Assert.Null(await store.Cluster.GetNodeAsync("gpu-02").Within());
        Assert.Equal(["gpu-01"], (await store.Cluster.ListNodesAsync().Within()).Select(n => n.Name));
        var actions = (await store.Audit.ListAsync(null, 10).Within()).Select(e => e.Action);
        Assert.Equal(["node.delete", "node.apply"], actions);
    }

    [Fact]
    public async Task Projects_UpsertExisting_ReplacesQuotaAndKeepsCreatedAt()
    {
        await using var store = await CreateStoreAsync().Within();
        var project = Make.Project("vision");
        await store.Cluster.UpsertProjectAsync(project, null).Within();
        var stored = await store.Cluster.GetProjectAsync("vision").Within();
        Assert.NotNull(stored);
        Same.Project(project, stored);

        var changed = project with { Description = null, Quota = Quota.Unlimited, CreatedAt = Make.T0.AddDays(10) };
        await store.Cluster.UpsertProjectAsync(changed, null).Within();
        await store.Cluster.UpsertProjectAsync(Make.Project("audio"), null).Within();

        var again = await store.Cluster.GetProjectAsync("vision").Within();
        Assert.NotNull(again);
        Same.Project(changed with { CreatedAt = Make.T0 }, again);
        Assert.True(again.Quota.IsUnlimited);
        Assert.Null(await store.Cluster.GetProjectAsync("missing").Within());
        Assert.Equal(["audio", "vision"], (await store.Cluster.ListProjectsAsync().Within()).Select(p => p.Name));
    }

    [Fact]
    public async Task Users_UpsertExisting_ReplacesRolesAndAdminAndKeepsCreatedAt()
    {
        await using var store = await CreateStoreAsync().Within();
        var user = Make.User("alice");
        await store.Access.UpsertUserAsync(user, null).Within();
        var stored = await store.Access.GetUserAsync("alice").Within();
        Assert.NotNull(stored);
        Same.User(user, stored);

        var changed = user with
        {
            IsAdmin = true,
            Roles = new Dictionary<string, ProjectRole> { ["audio"] = ProjectRole.Member },
            CreatedAt = Make.T0.AddDays(1),
        };
        await store.Access.UpsertUserAsync(changed, null).Within();
        await store.Access.UpsertUserAsync(Make.User("bob"), null).Within();

        var again = await store.Access.GetUserAsync("alice").Within();
        Assert.NotNull(again);
        Same.User(changed with { CreatedAt = Make.T0 }, again);
        Assert.Null(await store.Access.GetUserAsync("carol").Within());
        Assert.Equal(["alice", "bob"], (await store.Access.ListUsersAsync().Within()).Select(u => u.Name));
    }

    [Fact]
    public async Task Tokens_CreateFindListRevoke_BehaveAsDocumented()
    {
        await using var store = await CreateStoreAsync().Within();
        await store.Access.UpsertUserAsync(Make.User("alice"), null).Within();
        await store.Access.UpsertUserAsync(Make.User("bob"), null).Within();
        var a1 = Make.Token("tok-a1", "alice", expiresAt: Make.T0.AddDays(30));
        var a2 = Make.Token("tok-a2", "alice") with { CreatedAt = Make.T0.AddSeconds(1) };
        var b1 = Make.Token("tok-b1", "bob");
        foreach (var token in new[] { a1, a2, b1 })
        {
            await store.Access.CreateTokenAsync(token, Make.Audit("token.create", "token/" + token.Id)).Within();
        }

        var found = await store.Access.FindTokenByHashAsync(a1.SecretHash).Within();
        Assert.NotNull(found);
        Same.Token(a1, found);
        Assert.Null(await store.Access.FindTokenByHashAsync("sha256:nobody").Within());
        Assert.Equal(["tok-a1", "tok-a2"], (await store.Access.ListTokensAsync("alice").Within()).Select(t => t.Id));
        Assert.Equal(3, (await store.Access.ListTokensAsync(null).Within()).Count);

        var revokedAt = Make.T0.AddHours(2);
        Assert.True(await store.Access.RevokeTokenAsync("tok-a1", revokedAt, Make.Audit("token.revoke", "token/tok-a1")).Within());
        Assert.True(await store.Access.RevokeTokenAsync("tok-a1", revokedAt.AddHours(1), null).Within());
        Assert.False(await store.Access.RevokeTokenAsync("tok-none", revokedAt, Make.Audit("token.revoke", "token/tok-none")).Within());

        var revoked = await store.Access.FindTokenByHashAsync(a1.SecretHash).Within();
        Assert.NotNull(revoked);
        Same.Token(a1 with { RevokedAt = revokedAt }, revoked);
        Assert.False(revoked.IsActive(revokedAt));
        var audit = await store.Audit.ListAsync(null, 100).Within();
        Assert.Equal(["token.revoke", "token.create", "token.create", "token.create"], audit.Select(e => e.Action));
    }

    [Fact]
    public async Task CreateTokenAsync_DuplicateSecretHash_FailsAndKeepsTheFirst()
    {
        await using var store = await CreateStoreAsync().Within();
        await store.Access.UpsertUserAsync(Make.User("alice"), null).Within();
        var first = Make.Token("tok-1");
        await store.Access.CreateTokenAsync(first, null).Within();

        await Assert.ThrowsAnyAsync<Exception>(
            () => store.Access.CreateTokenAsync(Make.Token("tok-2") with { SecretHash = first.SecretHash }, Make.Audit("token.create", "token/tok-2")).Within());

        Assert.Equal(["tok-1"], (await store.Access.ListTokensAsync(null).Within()).Select(t => t.Id));
        Assert.Empty(await store.Audit.ListAsync(null, 10).Within());
    }

    [Fact]
    public async Task Audit_WrittenWithChanges_ListedNewestFirstAndPaged()
    {
        await using var store = await CreateStoreAsync().Within();
        await store.Cluster.UpsertProjectAsync(Make.Project("p1"), Make.Audit("project.apply", "project/p1")).Within();
        await store.Audit.AppendAsync(new AuditRecord(Make.T0.AddSeconds(1), "bob", "login", "user/bob", null, null)).Within();
        await store.Access.UpsertUserAsync(Make.User("carol"), Make.Audit("user.apply", "user/carol", detail: "roles changed")).Within();
        await store.Cluster.UpsertPoolAsync(Make.Pool(), Make.Audit("pool.apply", "pool/onprem")).Within();

        var all = await store.Audit.ListAsync(null, 100).Within();
        Assert.Equal(["pool.apply", "user.apply", "login", "project.apply"], all.Select(e => e.Action));
        Assert.True(all.Select(e => e.Id).SequenceEqual(all.Select(e => e.Id).OrderDescending()));
        var user = all[1];
        Assert.Equal(new AuditEntry(user.Id, Make.Ms(Make.T0), "alice", "user.apply", "user/carol", "roles changed", "10.0.0.7"), user);
        var login = all[2];
        Assert.Equal(new AuditEntry(login.Id, Make.Ms(Make.T0.AddSeconds(1)), "bob", "login", "user/bob", null, null), login);

        var firstPage = await store.Audit.ListAsync(null, 2).Within();
        var secondPage = await store.Audit.ListAsync(firstPage[^1].Id, 2).Within();
        Assert.Equal(all.Select(e => e.Id), firstPage.Concat(secondPage).Select(e => e.Id));
        Assert.Empty(await store.Audit.ListAsync(secondPage[^1].Id, 2).Within());
    }

    private static async Task<List<Job>> SubmitManyAsync(IMetadataStore store, int count)
    {
        var results = await Task.WhenAll(Enumerable.Range(0, count).Select(i =>
            store.Jobs.SubmitAsync(Make.Spec($"job-{i}", $"p{i % 3}"), i % 2 == 0 ? "alice" : "bob", null, Make.T0.AddSeconds(i), null))).Within();
        return results.Select(r => r.Job).ToList();
    }
}
