using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Simulation;

/// <summary>
/// A cluster to replay a trace on, and how a trace job's GPUs become a job spec on it: a job of at most
/// one node's GPUs is one replica on one node; a larger one takes whole nodes (one replica of a node's
/// GPUs per node, rounded up). CPU and memory are made plentiful so that only GPUs constrain, as in the trace.
/// </summary>
public sealed class SimulatedCluster
{
    public const string GpuType = "gpu";

    // Per replica; nodes have far more, so CPU and memory never decide a placement.
    private static readonly ResourceVector ReplicaBase = ResourceVector.Of(1, 1L << 30);

    private SimulatedCluster(IReadOnlyList<Node> nodes, int gpusPerNode)
    {
        Nodes = nodes;
        GpusPerNode = gpusPerNode;
        TotalGpus = nodes.Count * gpusPerNode;
    }

    public IReadOnlyList<Node> Nodes { get; }

    public int GpusPerNode { get; }

    public int TotalGpus { get; }

    /// <summary><paramref name="nodes"/> identical nodes of <paramref name="gpusPerNode"/> GPUs each, named node-0001, node-0002, ...</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is below 1 or absurdly large.</exception>
    public static SimulatedCluster Uniform(int nodes, int gpusPerNode)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nodes, 1_000_000);
        ArgumentOutOfRangeException.ThrowIfLessThan(gpusPerNode, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(gpusPerNode, 1024);
        var resources = ResourceVector.Of(4096, 1L << 50, GpuType, gpusPerNode);
        var list = Enumerable.Range(1, nodes).Select(i => new Node
        {
            Name = $"node-{i:D4}",
            Pool = "default",
            Capacity = resources,
            Allocatable = resources,
            State = NodeState.Ready,
        }).ToList();
        return new SimulatedCluster(list, gpusPerNode);
    }

    /// <summary>GPUs a job of <paramref name="gpus"/> holds here: itself, or whole nodes when it spans several.</summary>
    public int HeldGpus(int gpus) => gpus <= GpusPerNode ? gpus : (gpus + GpusPerNode - 1) / GpusPerNode * GpusPerNode;

    /// <summary>Whether a job of <paramref name="gpus"/> could run here at all, on an empty cluster.</summary>
    public bool Fits(int gpus) => HeldGpus(gpus) <= TotalGpus;

    public JobSpec SpecFor(TraceJob job)
    {
        var (replicas, perReplica) = job.Gpus <= GpusPerNode ? (1, job.Gpus) : ((job.Gpus + GpusPerNode - 1) / GpusPerNode, GpusPerNode);
        return new JobSpec
        {
            Name = $"trace-{job.Id}",
            Project = job.Project,
            Command = ["trace"],
            Resources = perReplica == 0 ? ReplicaBase : ReplicaBase.Add(ResourceVector.Of(0, 0, GpuType, perReplica)),
            Replicas = replicas,

            // Every trace job may be stopped and resumed: the policies decide whether they do.
            Preemptible = true,
        };
    }
}
