using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling.Tests;

/// <summary>
/// The replay shortcuts of LAS's victim search (what a search learns about a node kept for the next
/// question, a spared victim's trial kept as the node's state, the promised node chosen among the nodes
/// victims were on, the walk's and the search's scratch reused from pass to pass) decide exactly what the
/// long way decides: a fresh policy on the plain path whose searches place the job over every node after
/// each release. Many small jobs on many nodes make each search release many victims, across many nodes,
/// before the job fits, and spare most of them again, as a replay of the Philly trace does.
/// </summary>
public sealed class LasVictimSearchShortcutTests
{
    [Theory]
    [InlineData("las", 31, 64)]
    [InlineData("las", 32, 64)]
    [InlineData("las", 33, 6)]
    [InlineData("las-fine", 34, 64)]
    [InlineData("las-fine", 35, 6)]
    [InlineData("las-fine-q5m", 36, 64)]
    [InlineData("las-fine-q5m", 37, 6)]
    [InlineData("las-g4", 38, 64)]
    public void Schedule_ManyVictimsPerSearch_DecidesAsTheLongWay(string policyName, int seed, int cpusPerNode)
    {
        var fast = (LasPolicy)SchedulingPolicies.CreateForSimulation(policyName);

        var outcome = Replay(fast, () => Reference((LasPolicy)SchedulingPolicies.CreateForSimulation(policyName)), seed, cpusPerNode);

        Assert.True(outcome.Passes > 100, $"only {outcome.Passes} passes");
        Assert.True(outcome.Preemptions > 40, $"only {outcome.Preemptions} preemptions: the searches were not exercised");
        Assert.True(fast.NarrowPromises > 0, "no promise was made through the nodes the victims were on");
        Assert.True(fast.IndexRebuilds <= 1, $"the LAS queue index was rebuilt {fast.IndexRebuilds} times");
    }

    [Theory]
    [InlineData(1.0, 0, 41)]
    [InlineData(0.5, 30, 42)]
    [InlineData(0.0, 0, 43)]
    public void Schedule_ManyVictimsUnderPromotionAndMinimumRun_DecidesAsTheLongWay(double promoteKnob, int minRunSeconds, int seed)
    {
        var options = new LasOptions
        {
            QueueThresholdsGpuSeconds = LasOptions.Geometric(100, 2, 8),
            PromoteKnob = promoteKnob,
            MinRunBeforePreemption = TimeSpan.FromSeconds(minRunSeconds),
        };
        var fast = new LasPolicy(options);

        var outcome = Replay(fast, () => Reference(new LasPolicy(options)), seed, cpusPerNode: 64);

        Assert.True(outcome.Preemptions > 40, $"only {outcome.Preemptions} preemptions");
        Assert.True(fast.NarrowPromises > 0, "no promise was made through the nodes the victims were on");
    }

    [Fact]
    public void Schedule_EightGpuJobOverScatteredSingles_PreemptsTheFewestOnTheNodeThePlacerPrefers()
    {
        // Two full 8-GPU nodes of one-GPU jobs in the worst queue; the job needs a whole node. Releasing
        // worst first (latest submission) alternates between the nodes, so both are half released when
        // one of them first fits; every victim on the other node must be spared again, and the promise
        // must take the node the victims of the kept set are on.
        var nodes = new List<Node> { Make.Node("a", cpus: 64, gpus: 8), Make.Node("b", cpus: 64, gpus: 8) };
        var running = new List<Job>();
        for (var i = 0; i < 16; i++)
        {
            var node = i % 2 == 0 ? "a" : "b";
            running.Add(Make.Running(100 + i, [Make.On(node, i / 2)], gpus: 1, preemptible: true, startedSecond: 20) with { SubmittedAt = Make.T0.AddSeconds(i) });
        }

        var capacity = new RunningCapacity(nodes);
        running.ForEach(capacity.Add);
        var queued = new List<Job> { Make.Job(1, gpus: 8, preemptible: true, submittedSecond: 50) };
        var snapshot = new ClusterSnapshot
        {
            Now = Make.T0.AddHours(2), Nodes = nodes, Projects = [Make.Project("vision")], Queued = queued, Running = running,
            ExplainPending = false, QueuedInSubmitOrder = true, Capacity = capacity,
        };
        var fast = new LasPolicy();

        var actual = fast.Schedule(snapshot);
        var expected = Reference(new LasPolicy()).Schedule(snapshot with { Queued = [.. queued], QueuedInSubmitOrder = false, Capacity = null });

        Assert.Equal(PassByPassReplay.Describe(expected), PassByPassReplay.Describe(actual));
        Assert.Equal(8, actual.Preemptions.Count);
        Assert.Single(actual.Preemptions.Select(p => running.Single(r => r.Id == p.JobId).CurrentAttempt!.Placement[0].Node).Distinct());
        Assert.Equal(1, fast.NarrowPromises);
    }

    private static LasPolicy Reference(LasPolicy policy)
    {
        policy.PlaceEveryVictimTrial = true;
        return policy;
    }

    /// <summary>
    /// Replays bursts of random jobs (mostly one GPU, some whole nodes, some gangs) on 12 nodes, asking
    /// <paramref name="fast"/> on the replay's fast path and a fresh plain policy from <paramref name="plain"/>
    /// on every pass, and asserts they decide alike.
    /// </summary>
    private static (int Passes, int Preemptions) Replay(LasPolicy fast, Func<LasPolicy> plain, int seed, int cpusPerNode)
    {
        var random = new Random(seed);
        var nodes = Enumerable.Range(1, 12).Select(i => Make.Node($"n{i:D2}", cpus: cpusPerNode, memoryGi: 512, gpus: i % 4 == 0 ? 4 : 8)).ToList();
        var arrivals = Enumerable.Range(1, 260).Select(id =>
        {
            var (perReplica, replicas) = random.Next(20) switch
            {
                < 11 => (1, 1),
                < 13 => (2, 1),
                < 15 => (4, 1),
                < 17 => (8, 1),
                17 => (8, 2),
                18 => (4, 3),
                _ => (0, 1),
            };

            // Bursts: jobs come in groups at a few instants, so a pass often finds many waiting at once.
            var second = (random.Next(40) * 150) + random.Next(3);
            var job = Make.Job(id, gpus: perReplica, replicas: replicas, preemptible: random.Next(12) > 0, submittedSecond: second,
                project: random.Next(2) == 0 ? "vision" : "speech", cpus: cpusPerNode < 64 ? random.Next(1, 3) : 1);
            return (Job: job, Duration: TimeSpan.FromSeconds(random.Next(20, 3_000)));
        }).OrderBy(a => a.Job.SubmittedAt).ThenBy(a => a.Job.Id).ToList();
        var projects = new[] { Make.Project("vision"), Make.Project("speech") };

        // As the simulator does: after preemptions, another pass at the same instant.
        var (passes, _, preemptions) = PassByPassReplay.Run(nodes, projects, arrivals, fast, plain, passesPerInstant: 4);
        return (passes, preemptions);
    }

}
