using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling.Tests;

/// <summary>
/// The fast path a replay takes (free capacity kept in <see cref="RunningCapacity"/>, whose log of starts and
/// stops the planning policies follow for their capacity index, quota and fair-share sums; the queue promised
/// in submit order; the policy instance and its sjf-oracle queue index reused across passes) decides
/// exactly what the plain path decides (everything rebuilt from the snapshot by a fresh policy), pass
/// after pass over a small random replay.
/// </summary>
public sealed class ReplaySpeedPathTests
{
    [Theory]
    [InlineData("fifo", 1)]
    [InlineData("fifo", 2)]
    [InlineData("sjf-oracle", 1)]
    [InlineData("sjf-oracle", 2)]
    [InlineData("sjf-oracle", 3)]
    [InlineData("las", 1)]
    [InlineData("las", 2)]
    [InlineData("las-fine-q5m", 3)]
    [InlineData("las-fine", 4)]
    [InlineData("las-fine", 5)]
    [InlineData("las-fine-q5m", 6)]
    [InlineData("las-g4", 7)]
    [InlineData("las-q5m", 8)]
    [InlineData("default", 1)]
    [InlineData("default", 2)]
    [InlineData("default", 3)]
    [InlineData("planning", 4)]
    [InlineData("backfill", 5)]
    public void Schedule_FastPathOverReplay_DecidesAsPlainPath(string policyName, int seed)
    {
        var fast = SchedulingPolicies.CreateForSimulation(policyName);

        var (passes, started, arrivals) = Replay(fast, () => Reference(SchedulingPolicies.CreateForSimulation(policyName)), seed, jobs: 160);

        Assert.True(passes > 50, $"only {passes} passes");
        Assert.True(started >= arrivals, $"{started} starts for {arrivals} jobs");
        if (fast is LasPolicy las)
        {
            // The index must stay in step through starts, preemptions and arrivals, not be rebuilt each pass.
            Assert.True(las.IndexRebuilds <= 1, $"the LAS queue index was rebuilt {las.IndexRebuilds} times over {passes} passes");
        }
    }

    /// <summary>
    /// The planning policies over a replay where most jobs declare a max runtime (reservations, ends kept in
    /// step with the starts and stops) and projects have GPU quotas (usage kept in step): the fast path that
    /// follows the caller's log decides as fresh policies that rebuild everything.
    /// </summary>
    [Theory]
    [InlineData("default", 11)]
    [InlineData("default", 12)]
    [InlineData("planning", 13)]
    [InlineData("backfill", 14)]
    public void Schedule_PlanningWithRuntimesAndQuotasOverReplay_DecidesAsPlainPath(string policyName, int seed)
    {
        var (passes, started, arrivals) = Replay(SchedulingPolicies.CreateForSimulation(policyName), () => Reference(SchedulingPolicies.CreateForSimulation(policyName)),
            seed, jobs: 160, runtimesAndQuotas: true);

        Assert.True(passes > 50, $"only {passes} passes");
        Assert.True(started >= arrivals, $"{started} starts for {arrivals} jobs");
    }

    /// <summary>
    /// The preemption bound's gains followed from pass to pass (no cohorts, no quotas: the replay's case) equal, at
    /// every question, the sums over every running job: checked inside the pass, as well as the decisions here.
    /// </summary>
    [Theory]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    public void Schedule_DefaultFollowedGains_EqualTheSumsOverRunningJobs(int seed)
    {
        PlanPass.CheckFollowedGains = true;
        PlanPass.FollowedGainsChecked = 0;
        try
        {
            var (passes, _, _) = Replay(SchedulingPolicies.CreateForSimulation("default"), () => Reference(SchedulingPolicies.CreateForSimulation("default")),
                seed, jobs: 160);

            Assert.True(passes > 50, $"only {passes} passes");
            Assert.True(PlanPass.FollowedGainsChecked > 20, $"the followed gains were checked only {PlanPass.FollowedGainsChecked} times");
        }
        finally
        {
            PlanPass.CheckFollowedGains = false;
        }
    }

    /// <summary>
    /// Settings that make LAS promote and preempt often (a low promotion knob, low thresholds, a minimum
    /// run), so that promotions due while jobs wait, preempted jobs rejoining the queue and victims still
    /// inside their minimum run all happen many times in one small replay.
    /// </summary>
    [Theory]
    [InlineData(1.0, 0, 11)]
    [InlineData(1.0, 120, 12)]
    [InlineData(0.5, 0, 13)]
    [InlineData(2.0, 60, 14)]
    [InlineData(0.0, 0, 15)]
    public void Schedule_LasIndexedWalkUnderHeavyPromotion_DecidesAsPlainPath(double promoteKnob, int minRunSeconds, int seed)
    {
        var options = new LasOptions
        {
            QueueThresholdsGpuSeconds = LasOptions.Geometric(200, 2, 6),
            PromoteKnob = promoteKnob,
            MinRunBeforePreemption = TimeSpan.FromSeconds(minRunSeconds),
        };
        var fast = new LasPolicy(options);

        var (passes, started, arrivals) = Replay(fast, () => new LasPolicy(options) { PlaceEveryVictimTrial = true }, seed, jobs: 220);

        Assert.True(passes > 50, $"only {passes} passes");
        Assert.True(started > arrivals, $"{started} starts for {arrivals} jobs: nothing was preempted and restarted");
        Assert.True(fast.IndexRebuilds <= 1, $"the LAS queue index was rebuilt {fast.IndexRebuilds} times over {passes} passes");
    }

    /// <summary>
    /// Nodes short of CPUs, so that a node's room for a job is often bounded by CPUs rather than GPUs:
    /// the victim search counts how many replicas each node released victims were on could take, and
    /// that count must follow every resource, as the placer does.
    /// </summary>
    [Theory]
    [InlineData("las", 21)]
    [InlineData("las-fine", 22)]
    [InlineData("las-fine-q5m", 23)]
    [InlineData("las", 24)]
    [InlineData("las-fine", 25)]
    [InlineData("las-g4", 26)]
    public void Schedule_LasVictimSearchOnCpuBoundNodes_DecidesAsPlacer(string policyName, int seed)
    {
        var fast = SchedulingPolicies.CreateForSimulation(policyName);

        var (passes, started, arrivals) = Replay(fast, () => Reference(SchedulingPolicies.CreateForSimulation(policyName)), seed, jobs: 200, cpusPerNode: 8);

        Assert.True(passes > 50, $"only {passes} passes");
        Assert.True(started > arrivals, $"{started} starts for {arrivals} jobs: nothing was preempted and restarted");
    }

    [Fact]
    public void Schedule_LasQueueChangedBehindTheIndex_RebuildsAndDecidesAsPlainPath()
    {
        // A caller that drops a queued job without it having started breaks the index's bookkeeping;
        // the policy must notice and decide from the queue as it is, not from what it remembers.
        var nodes = new List<Node> { Make.Node("n1", gpus: 4) };
        var projects = new[] { Make.Project("vision") };
        var running = Make.Running(9, [Make.On("n1", 0, 1, 2, 3)], gpus: 4, preemptible: false);
        var queued = new List<Job> { Make.Job(1, gpus: 2, submittedSecond: 1), Make.Job(2, gpus: 2, submittedSecond: 2), Make.Job(3, gpus: 2, submittedSecond: 3) };
        var policy = new LasPolicy();
        var capacity = new RunningCapacity(nodes);
        capacity.Add(running);
        ClusterSnapshot Snapshot(List<Job> queue, List<Job> runningJobs) => new()
        {
            Now = queue[0].SubmittedAt.AddSeconds(10), Nodes = nodes, Projects = projects, Queued = queue, Running = runningJobs,
            ExplainPending = false, QueuedInSubmitOrder = true, Capacity = capacity,
        };
        Assert.Empty(policy.Schedule(Snapshot(queued, [running])).Starts);

        queued.RemoveAt(0);
        capacity.Remove(running);
        var actual = policy.Schedule(Snapshot(queued, []));

        var expected = new LasPolicy().Schedule(Snapshot([.. queued], []) with { QueuedInSubmitOrder = false, Capacity = null });
        Assert.Equal(PassByPassReplay.Describe(expected), PassByPassReplay.Describe(actual));
        Assert.Equal([2L, 3L], actual.Starts.Select(s => s.JobId).Order());
        Assert.True(policy.IndexRebuilds >= 2, $"{policy.IndexRebuilds} rebuilds");
    }

    // The plain path of LAS with victim searches placing over every node, which the fast path's
    // single-replica victim check must match; the planning policies' long way (every job decided in full,
    // the queue sorted whole instead of merged from kept groups).
    private static ISchedulingPolicy Reference(ISchedulingPolicy policy)
    {
        if (policy is LasPolicy las)
        {
            las.PlaceEveryVictimTrial = true;
        }

        return policy is PlanningPolicy ? new LongWay(policy) : policy;
    }

    private sealed class LongWay(ISchedulingPolicy policy) : ISchedulingPolicy
    {
        public string Name => policy.Name;

        public SchedulingDecisions Schedule(ClusterSnapshot snapshot) => PassShortcuts.WithoutShortcuts(() => policy.Schedule(snapshot));
    }

    /// <summary>
    /// Replays random jobs on a small cluster, asking <paramref name="fast"/> (one instance, fast-path
    /// snapshot) and a fresh plain-path policy from <paramref name="plain"/> on every pass, and asserts
    /// they decide alike; returns the passes made, the starts (restarts included) and the jobs replayed.
    /// </summary>
    private static (int Passes, int Started, int Arrivals) Replay(ISchedulingPolicy fast, Func<ISchedulingPolicy> plain, int seed, int jobs, int cpusPerNode = 64,
        bool runtimesAndQuotas = false)
    {
        var random = new Random(seed);
        var nodes = Enumerable.Range(1, 6).Select(i => Make.Node($"n{i}", cpus: cpusPerNode, memoryGi: 512, gpus: i % 3 == 0 ? 8 : 4)).ToList();
        var arrivals = Enumerable.Range(1, jobs).Select(id =>
        {
            var gpus = random.Next(10) switch { 0 => 0, 1 => 8, 2 => 2, 3 => 3, 9 => 16, _ => 1 };
            // Short of CPUs, gangs come as 4 x 4 GPUs, so that a node could hold two of their replicas by GPUs
            // but often not by CPUs.
            var replicas = gpus > 8 ? (cpusPerNode < 64 ? 4 : 2) : 1;
            var perReplica = gpus > 8 ? 16 / replicas : gpus;
            var job = Make.Job(id, gpus: perReplica, replicas: replicas, preemptible: true, submittedSecond: random.Next(4_000),
                project: random.Next(2) == 0 ? "vision" : "speech", cpus: cpusPerNode < 64 ? random.Next(1, 5) : 1);
            var duration = TimeSpan.FromSeconds(random.Next(30, 2_000));
            if (runtimesAndQuotas && random.Next(3) != 0)
            {
                // Most jobs declare a max runtime (some shorter than they run), so reservations and estimated ends are made.
                job = job with { Spec = job.Spec with { MaxRuntime = duration * (random.Next(4) == 0 ? 0.5 : 1.5) } };
            }

            return (Job: job, Duration: duration);
        }).OrderBy(a => a.Job.SubmittedAt).ThenBy(a => a.Job.Id).ToList();
        var projects = runtimesAndQuotas
            ? new[] { Make.Project("vision", new Quota { Accelerators = 24 }), Make.Project("speech", new Quota { Accelerators = 16 }) }
            : new[] { Make.Project("vision"), Make.Project("speech") };
        var (passes, started, _) = PassByPassReplay.Run(nodes, projects, arrivals, fast, plain);
        return (passes, started, arrivals.Count);
    }

    [Fact]
    public void Schedule_CapacityMissingARunningJob_IsTrustedAsTheCallerPromised()
    {
        // The view is the caller's promise: a policy does not re-check it against Running. This pins
        // that contract (a simulator that forgets to add a job gets it double-booked, and its own check fails).
        var nodes = new List<Node> { Make.Node("n1", gpus: 4) };
        var runningJob = Make.Running(1, [Make.On("n1", 0, 1, 2, 3)], gpus: 4);
        var snapshot = Make.Snapshot(nodes, [Make.Job(2, gpus: 4)], [runningJob]) with { Nodes = nodes, Capacity = new RunningCapacity(nodes) };

        var withStaleView = new FifoPolicy().Schedule(snapshot);
        var plain = new FifoPolicy().Schedule(snapshot with { Capacity = null });

        Assert.Single(withStaleView.Starts);
        Assert.Empty(plain.Starts);
    }

    [Fact]
    public void RunningCapacity_AddThenRemove_FreesAcceleratorsAgain()
    {
        var nodes = new List<Node> { Make.Node("n1", gpus: 4), Make.Node("n2", gpus: 8) };
        var capacity = new RunningCapacity(nodes);
        var job = Make.Running(1, [Make.On("n2", 0, 1, 2)], gpus: 3);

        capacity.Add(job);
        var held = capacity.FreeAccelerators;
        capacity.Remove(job);

        Assert.Equal(9, held);
        Assert.Equal(12, capacity.FreeAccelerators);
    }
}
