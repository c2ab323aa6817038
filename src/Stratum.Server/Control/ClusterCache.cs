using Stratum.Core.Cluster;
using Stratum.Persistence;

namespace Stratum.Server.Control;

/// <summary>
/// Nodes and projects change rarely and are read on every submit (feasibility, quota) and every
/// pass, so they are cached here and dropped whenever this server changes them.
/// </summary>
public sealed class ClusterCache(IMetadataStore store)
{
    private volatile IReadOnlyList<Node>? _nodes;
    private volatile IReadOnlyList<Project>? _projects;

    public async ValueTask<IReadOnlyList<Node>> NodesAsync(CancellationToken cancellationToken) =>
        _nodes ??= await store.Cluster.ListNodesAsync(cancellationToken);

    public async ValueTask<IReadOnlyList<Project>> ProjectsAsync(CancellationToken cancellationToken) =>
        _projects ??= await store.Cluster.ListProjectsAsync(cancellationToken);

    public async ValueTask<Project?> ProjectAsync(string name, CancellationToken cancellationToken) =>
        (await ProjectsAsync(cancellationToken)).FirstOrDefault(p => p.Name == name);

    public async ValueTask<IReadOnlyCollection<string>> AcceleratorTypesAsync(CancellationToken cancellationToken) =>
        (await NodesAsync(cancellationToken)).SelectMany(n => n.Accelerators).Select(a => a.Type).Distinct().Order(StringComparer.Ordinal).ToList();

    public void Invalidate()
    {
        _nodes = null;
        _projects = null;
    }
}
