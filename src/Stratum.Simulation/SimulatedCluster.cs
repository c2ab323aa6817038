using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Simulation;

/// <summary>
/// One group of identical nodes in a simulated cluster: how many, GPUs per node and their type, the
/// rack they stand in (a node label), and CPU and memory per node.
/// </summary>
public sealed record NodeGroup(string Name, int Count, int GpusPerNode, string GpuType, string? Rack = null, double Cpus = 4096, long MemoryBytes = 1L << 50);

/// <summary>
/// A cluster to replay a trace on, and how a trace job's GPUs become a job spec on it: a job of at most
/// one node's GPUs (of its GPU type) is one replica on one node; a larger one takes whole nodes (one
/// replica of a node's GPUs per node, rounded up). Replicas ask for a token CPU and memory so that only
/// GPUs constrain, as in the trace.
/// </summary>
public sealed record SimulatedCluster
{
    /// <summary>The GPU type of a cluster given as <c>--nodes N --gpus-per-node G</c>.</summary>
    public const string GpuType = "gpu";

    // Per replica; nodes have far more, so CPU and memory never decide a placement.
    private static readonly ResourceVector ReplicaBase = ResourceVector.Of(1, 1L << 30);

    // GPUs per node by type (the largest node of that type) and in all, by type.
    private readonly Dictionary<string, int> _perNode;
    private readonly Dictionary<string, int> _totalByType;

    // One resource vector per replica shape, shared by every job of that shape: the scheduler caches
    // work per vector (its flat request), and a vector per job of an 82,000-job trace defeated that.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Type, int Gpus), ResourceVector> _replicaResources = new();

    private SimulatedCluster(IReadOnlyList<Node> nodes, IReadOnlyList<string> gpuTypes, Dictionary<string, int> perNode, Dictionary<string, int> totalByType)
    {
        Nodes = nodes;
        GpuTypes = gpuTypes;
        _perNode = perNode;
        _totalByType = totalByType;
        TotalGpus = totalByType.Values.Sum();
    }

    public IReadOnlyList<Node> Nodes { get; }

    /// <summary>GPU types in the order the groups name them; a trace job that names none gets the first.</summary>
    public IReadOnlyList<string> GpuTypes { get; }

    /// <summary>GPUs per node of the first GPU type.</summary>
    public int GpusPerNode => _perNode[GpuTypes[0]];

    public int TotalGpus { get; }

    /// <summary>Entitlement weights by project; a project not named has weight 1. Empty: equal shares.</summary>
    public IReadOnlyDictionary<string, double> ProjectWeights { get; init; } = new Dictionary<string, double>(StringComparer.Ordinal);

    /// <summary>The project's entitlement weight (1 unless <see cref="ProjectWeights"/> says otherwise).</summary>
    public double WeightOf(string project) => ProjectWeights.TryGetValue(project, out var weight) ? weight : 1;

    /// <summary><paramref name="nodes"/> identical nodes of <paramref name="gpusPerNode"/> GPUs each, named node-0001, node-0002, ...</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is below 1 or absurdly large.</exception>
    public static SimulatedCluster Uniform(int nodes, int gpusPerNode)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nodes, 1_000_000);
        ArgumentOutOfRangeException.ThrowIfLessThan(gpusPerNode, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(gpusPerNode, 1024);
        return FromGroups([new NodeGroup("node", nodes, gpusPerNode, GpuType)]);
    }

    /// <summary>
    /// Nodes group by group, named <c>{group}-0001</c>, ...; a group's rack becomes the node's
    /// <see cref="NodeLabels.Rack"/> label. Groups are checked by <see cref="ClusterFile"/>; here a bad one throws.
    /// </summary>
    /// <exception cref="ArgumentException">No groups, or a group with a count or size out of range.</exception>
    public static SimulatedCluster FromGroups(IReadOnlyList<NodeGroup> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        if (groups.Count == 0)
        {
            throw new ArgumentException("a cluster needs at least one node group", nameof(groups));
        }

        var nodes = new List<Node>();
        var types = new List<string>();
        var perNode = new Dictionary<string, int>(StringComparer.Ordinal);
        var total = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var group in groups)
        {
            if (group.Count is < 1 or > 1_000_000 || group.GpusPerNode is < 1 or > 1024)
            {
                throw new ArgumentException($"node group {group.Name}: count must be 1..1000000 and gpusPerNode 1..1024", nameof(groups));
            }

            if (!perNode.ContainsKey(group.GpuType))
            {
                types.Add(group.GpuType);
            }

            perNode[group.GpuType] = Math.Max(perNode.GetValueOrDefault(group.GpuType), group.GpusPerNode);
            total[group.GpuType] = total.GetValueOrDefault(group.GpuType) + group.Count * group.GpusPerNode;
            var resources = ResourceVector.Of(group.Cpus, group.MemoryBytes, group.GpuType, group.GpusPerNode);
            var labels = group.Rack is { } rack ? new Dictionary<string, string> { [NodeLabels.Rack] = rack } : new Dictionary<string, string>();
            for (var i = 1; i <= group.Count; i++)
            {
                nodes.Add(new Node
                {
                    Name = $"{group.Name}-{i:D4}",
                    Pool = "default",
                    Capacity = resources,
                    Allocatable = resources,
                    Labels = labels,
                    State = NodeState.Ready,
                });
            }
        }

        return new SimulatedCluster(nodes, types, perNode, total);
    }

    /// <summary>The GPU type a job runs on: its own, or the cluster's first.</summary>
    public string TypeOf(TraceJob job) => job.GpuType ?? GpuTypes[0];

    /// <summary>GPUs per node of <paramref name="type"/>; 0 when the cluster has none of that type.</summary>
    public int GpusPerNodeOf(string type) => _perNode.GetValueOrDefault(type);

    /// <summary>GPUs a job of <paramref name="gpus"/> holds here: itself, or whole nodes when it spans several.</summary>
    public int HeldGpus(int gpus) => HeldGpus(gpus, GpuTypes[0]);

    public int HeldGpus(int gpus, string type)
    {
        var perNode = Math.Max(1, GpusPerNodeOf(type));
        return gpus <= perNode ? gpus : (gpus + perNode - 1) / perNode * perNode;
    }

    /// <summary>Whether a job of <paramref name="gpus"/> could run here at all, on an empty cluster.</summary>
    public bool Fits(int gpus) => HeldGpus(gpus) <= TotalGpus;

    /// <summary>Why <paramref name="job"/> could never run here (no GPUs of its type, or more than there are), or null.</summary>
    public string? WhyNever(TraceJob job)
    {
        var type = TypeOf(job);
        if (job.Gpus > 0 && GpusPerNodeOf(type) == 0)
        {
            return $"job {job.Id} needs GPU type {type}, which the cluster lacks";
        }

        var total = _totalByType.GetValueOrDefault(type);
        return HeldGpus(job.Gpus, type) > total
            ? $"job {job.Id} needs {job.Gpus} GPUs, more than the whole cluster's {total}{(GpuTypes.Count > 1 ? $" {type}" : "")}"
            : null;
    }

    /// <summary>Replicas of the job and GPUs per replica.</summary>
    public (int Replicas, int PerReplica) Shape(TraceJob job)
    {
        var perNode = Math.Max(1, GpusPerNodeOf(TypeOf(job)));
        return job.Gpus <= perNode ? (1, job.Gpus) : ((job.Gpus + perNode - 1) / perNode, perNode);
    }

    public JobSpec SpecFor(TraceJob job)
    {
        var (replicas, perReplica) = Shape(job);
        return new JobSpec
        {
            Name = $"trace-{job.Id}",
            Project = job.Project,
            Command = ["trace"],
            Resources = perReplica == 0 ? ReplicaBase : _replicaResources.GetOrAdd((TypeOf(job), perReplica),
                static key => ReplicaBase.Add(ResourceVector.Of(0, 0, key.Type, key.Gpus))),
            Replicas = replicas,
            Priority = job.Priority,

            // Trace jobs may be stopped and resumed unless the trace says otherwise: the policies decide whether they are.
            Preemptible = job.Preemptible,
        };
    }
}
