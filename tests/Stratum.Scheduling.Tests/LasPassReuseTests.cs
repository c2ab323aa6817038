using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling.Tests;

/// <summary>
/// What a replay pass reuses instead of allocating (the free capacity's arrays and node copies handed from a
/// recycled pass to the next, the nodes a recycled pass shared handed back to the capacity it was copied from,
/// a node copy written over a spare one, the project table kept while the same projects come, placements that
/// count no rejections) gives exactly what the long way gives: fresh copies, a fresh table, counted rejections.
/// </summary>
public sealed class LasPassReuseTests
{
    private static readonly string[] Types = [Make.H100, "nvidia-a100"];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void FreeCapacity_PassesThatRecycle_MatchPassesThatCopyAfresh(int seed)
    {
        // The same starts, stops and promises twice over: once recycling each pass's copy (and its node copies)
        // into the next, once never. Every pass and the capacity it copies must end as a fresh build does.
        var nodes = Enumerable.Range(0, 6).Select(i => Make.Node($"n{i}", cpus: 32, gpus: 8, reservedGpus: i == 5 ? 2 : 0)).ToList();
        var recycling = Run(nodes, seed, recycle: true);
        var fresh = Run(nodes, seed, recycle: false);

        Assert.Equal(fresh, recycling);
        Assert.True(recycling.Count(line => line.StartsWith("start", StringComparison.Ordinal)) > 50, "too few starts to exercise the copies");
    }

    [Fact]
    public void FreeCapacity_Recycled_FailsOnUse()
    {
        var free = FreeCapacity.Build([Make.Node("a", gpus: 8)], []);
        var copy = free.Clone();

        copy.Recycle();

        Assert.ThrowsAny<NullReferenceException>(() => copy.Nodes.Count);
        Assert.Equal(8, free.Nodes[0].FreeAccelerators(Make.H100));
    }

    [Fact]
    public void NodeFree_CopyIntoASpareCopyOfTheSameNode_WritesOverItAsAClone()
    {
        var node = Make.Node("a", cpus: 16, gpus: 8);
        var busy = NodeFree.Empty(node);
        busy.Hold(Make.Spec(gpus: 3, cpus: 5).Resources, [1, 4, 6]);
        var spare = NodeFree.Empty(node);
        spare.Take(ReplicaRequest.For(Make.Spec(gpus: 1).Resources));

        var copy = busy.CopyInto(spare);
        var other = busy.CopyInto(NodeFree.Empty(Make.Node("b", cpus: 16, gpus: 8)));

        Assert.Same(spare, copy);
        Assert.Equal(Describe(busy.Clone()), Describe(copy));
        Assert.Equal(Describe(busy.Clone()), Describe(other));
        Assert.NotSame(busy, busy.CopyInto(busy));
    }

    [Fact]
    public void NodeFree_AllFreeAccelerators_IsTheSumOverTypes()
    {
        var node = new Node
        {
            Name = "mixed",
            Pool = "default",
            Capacity = new ResourceVector(8000, 64 * Make.Gi, [new(Types[0], 4), new(Types[1], 4)]),
            Allocatable = new ResourceVector(8000, 64 * Make.Gi, [new(Types[0], 3), new(Types[1], 4)]),
        };
        var free = NodeFree.Empty(node);
        free.Take(ReplicaRequest.For(new ResourceVector(1000, Make.Gi, [new(Types[1], 3)])));

        Assert.Equal(free.AcceleratorTypes.Sum(free.FreeAccelerators), free.AllFreeAccelerators);
        Assert.Equal(3 + 1, free.AllFreeAccelerators);
    }

    [Fact]
    public void QueuePass_ProjectListChangedInPlace_SeesTheNewProjects()
    {
        var nodes = new List<Node> { Make.Node("a", gpus: 8) };
        var projects = new List<Project> { Make.Project("vision") };
        var job = Make.Job(1, gpus: 2);
        ClusterSnapshot Snapshot() => new() { Now = Make.T0, Nodes = nodes, Projects = projects, Queued = [job], Running = [] };

        var unlimited = new QueuePass(Snapshot()).ProjectProblem(job, out _);
        projects[0] = Make.Project("vision", new Quota { Accelerators = 1 });
        var limited = new QueuePass(Snapshot()).ProjectProblem(job, out _);
        projects.Clear();
        var missing = new QueuePass(Snapshot()).ProjectProblem(job, out var isMissing);

        Assert.Null(unlimited);
        Assert.NotNull(limited);
        Assert.NotNull(missing);
        Assert.True(isMissing);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void Placer_WithoutRejectionCounts_PlacesAndAcceptsAsWithThem(int seed)
    {
        var random = new Random(seed);
        var nodes = Enumerable.Range(0, 8).Select(i => Make.Node($"n{i}", cpus: 8 + (4 * i), gpus: i % 3 == 0 ? 0 : 8, state: i == 7 ? NodeState.Draining : NodeState.Ready)).ToList();
        var counted = FreeCapacity.Build(nodes, []);
        var uncounted = FreeCapacity.Build(nodes, []);
        var failures = 0;
        for (var i = 0; i < 200; i++)
        {
            var spec = Make.Spec(gpus: random.Next(0, 5), cpus: random.Next(1, 12), replicas: random.Next(1, 4));

            var withCounts = Placer.Default.PlaceGang(counted, spec);
            var without = Placer.Default.PlaceGang(uncounted, spec, countRejections: false);

            var replica = ReplicaRequest.For(spec.Resources);
            foreach (var node in uncounted.Nodes)
            {
                // The long way: the whole chain of checks, as counting rejections runs it.
                Assert.Equal(Placer.Default.SelectNode([node], replica, []) >= 0, Placer.Default.Accepts(node, replica));
            }

            Assert.Equal(withCounts.Placed, without.Placed);
            Assert.Equal(Placed(withCounts), Placed(without));
            Assert.Empty(without.Rejections);
            failures += withCounts.Fits ? 0 : 1;
        }

        Assert.InRange(failures, 1, 199);
    }

    // A replay in miniature over FreeCapacity: the base follows starts and stops as the simulator's running
    // capacity does; each pass copies it, starts jobs and promises room, and is recycled (or dropped) at its end.
    private static List<string> Run(List<Node> nodes, int seed, bool recycle)
    {
        var random = new Random(seed);
        var running = new List<Job>();
        var basis = FreeCapacity.Build(nodes, []);
        var log = new List<string>();
        var id = 0L;
        (FreeCapacity Copy, string State)? kept = null;
        (FreeCapacity Copy, string State)? inner = null;
        for (var passNumber = 0; passNumber < 300; passNumber++)
        {
            var pass = basis.Clone();
            var started = new List<Job>();
            for (var attempt = random.Next(0, 4); attempt > 0; attempt--)
            {
                var spec = Make.Spec(gpus: random.Next(1, 5), cpus: random.Next(1, 6), replicas: random.Next(1, 3));
                if (Placer.Default.PlaceGang(pass, spec, countRejections: false).Placement is { } placement)
                {
                    var job = Make.Running(++id, [.. placement], gpus: QueuePass.Accelerators(spec) / spec.Replicas, cpus: spec.Resources.CpuMillis / 1000.0);
                    started.Add(job);
                    log.Add($"start {job.Id} {string.Join(";", placement.Select(p => $"{p.Node}:{string.Join(",", p.AcceleratorIndices)}"))}");
                }
            }

            if (running.Count > 0 && random.Next(3) == 0)
            {
                // A promise as the victim search makes one: one node worked on apart and the pass restricted to it.
                var victim = running[random.Next(running.Count)];
                var index = pass.Nodes.ToList().FindIndex(n => n.Name == victim.CurrentAttempt!.Placement[0].Node);
                var promised = pass.Nodes[index].CopyInto(null);
                promised.Release(victim.Spec.Resources, victim.CurrentAttempt!.Placement[0].AcceleratorIndices);
                if (Placer.Default.Accepts(promised, ReplicaRequest.For(Make.Spec(gpus: 1).Resources)))
                {
                    promised.Take(ReplicaRequest.For(Make.Spec(gpus: 1).Resources), collect: false);
                }

                pass.RestrictTo(index, promised);
            }

            log.Add($"pass {passNumber} {Describe(pass)}");
            if (passNumber % 7 == 1)
            {
                // A copy of the pass that outlives it: the pass's end must hand back nothing this copy shares.
                var copy = pass.Clone();
                inner = (copy, Describe(copy));
            }

            var late = recycle && passNumber % 7 == 3;
            if (recycle && !late)
            {
                pass.Recycle();
            }

            foreach (var job in started)
            {
                basis.Hold(job);
                running.Add(job);
            }

            for (var stops = random.Next(0, 3); stops > 0 && running.Count > 0; stops--)
            {
                var stopping = running[random.Next(running.Count)];
                running.Remove(stopping);
                basis.Release(stopping);
            }

            if (late)
            {
                // A later copy, made after the basis changed, that outlives the pass: the pass's end must hand
                // back nothing this copy shares, or the next changes of the basis would show in it.
                var copy = basis.Clone();
                kept = (copy, Describe(copy));
                pass.Recycle();
            }

            Assert.Equal(Describe(FreeCapacity.Build(nodes, running)), Describe(basis));
            if (inner is { } passCopy && passNumber % 7 == 2)
            {
                Assert.Equal(passCopy.State, Describe(passCopy.Copy));
                inner = null;
            }

            if (kept is { } held && passNumber % 7 == 5)
            {
                Assert.Equal(held.State, Describe(held.Copy));
                kept = null;
            }
        }

        return log;
    }

    private static string Describe(FreeCapacity free) => string.Join(" | ", free.Nodes.Select(Describe));

    // A node's state as far as anything can read it: CPU, memory, counts per type and the free device indices.
    private static string Describe(NodeFree node)
    {
        var parts = new List<string> { node.Name, node.CpuMillis.ToString(), node.MemoryBytes.ToString() };
        foreach (var type in node.AcceleratorTypes)
        {
            var count = node.FreeAccelerators(type);
            var indices = count > 0 ? node.Clone().Take(new ResourceVector(0, 0, [new(type, count)])) : [];
            parts.Add($"{type}={count}[{string.Join(",", indices)}]");
        }

        return string.Join(" ", parts);
    }

    private static string Placed(GangResult result) =>
        result.Placement is { } placement ? string.Join(";", placement.Select(p => $"{p.Rank}@{p.Node}:{string.Join(",", p.AcceleratorIndices)}")) : "none";
}
