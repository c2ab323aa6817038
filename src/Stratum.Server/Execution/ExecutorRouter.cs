using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Execution;
using Stratum.Persistence;
using Stratum.Server.Control;

namespace Stratum.Server.Execution;

/// <summary>An attempt that cannot be given to one executor: its nodes are in pools run by different executors.</summary>
public sealed class ExecutorRoutingException(string message) : InvalidOperationException(message);

/// <summary>
/// The server's one <see cref="IExecutor"/>: each launch, signal and observation goes to the executor of the
/// pool the attempt's nodes are in (node to pool from <see cref="ClusterCache"/>, pool to executor from the
/// store). Like the executors it keeps nothing that matters in memory, so a restarted server routes an
/// attempt the same way. A node this server no longer knows (deleted while its job ran) is routed to the
/// local executor, which is where every job ran before pools had executors.
/// </summary>
public sealed partial class ExecutorRouter : IExecutor, ISupportsLogFiles
{
    /// <summary>Pools change by apply, rarely; reading them on every observation of every job is not worth it.</summary>
    private static readonly TimeSpan PoolsMaxAge = TimeSpan.FromSeconds(5);

    private readonly IMetadataStore _store;
    private readonly ClusterCache _cache;
    private readonly ExecutorCatalog _catalog;
    private readonly JobDirectories _directories;
    private readonly TimeProvider _time;
    private readonly ILogger<ExecutorRouter> _logger;
    private volatile PoolsSnapshot? _pools;

    public ExecutorRouter(IMetadataStore store, ClusterCache cache, ExecutorCatalog catalog, JobDirectories directories, TimeProvider time, ILogger<ExecutorRouter> logger)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(directories);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _store = store;
        _cache = cache;
        _catalog = catalog;
        _directories = directories;
        _time = time;
        _logger = logger;
        _catalog.ReplicaEnded += jobId => ReplicaEnded?.Invoke(jobId);
    }

    public event Action<long>? ReplicaEnded;

    public string Name => "router";

    /// <summary>Every executor of this server keeps an attempt's files under the one jobs directory, so the path does not depend on the pool.</summary>
    public string LogPath(long jobId, int attempt, int rank, LogStream stream) => _directories.LogPath(jobId, attempt, rank, stream);

    /// <summary>Launches on the pool's executor; an attempt whose nodes are in pools with different executors is refused with <see cref="ExecutorRoutingException"/>.</summary>
    public async Task LaunchAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        var route = await RouteAsync(attempt, cancellationToken);
        if (route.Problem is { } problem)
        {
            LogRefused(job.Id, attempt.Number, problem);
            throw new ExecutorRoutingException($"job {job.Id} attempt {attempt.Number}: {problem}");
        }

        await route.Executor!.LaunchAsync(job, attempt, cancellationToken);
    }

    public async Task SignalAsync(Job job, JobAttempt attempt, ReplicaSignal signal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        var route = await RouteAsync(attempt, cancellationToken);

        // A refused attempt was never launched: there is nothing to signal.
        if (route.Executor is { } executor)
        {
            await executor.SignalAsync(job, attempt, signal, cancellationToken);
        }
    }

    /// <summary>A refused attempt observes as lost with the reason, so the job ends with it instead of waiting.</summary>
    public async Task<AttemptObservation> ObserveAsync(Job job, JobAttempt attempt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(attempt);
        var route = await RouteAsync(attempt, cancellationToken);
        return route.Executor is { } executor
            ? await executor.ObserveAsync(job, attempt, cancellationToken)
            : new AttemptObservation([.. attempt.Placement.Select(p => new ReplicaObservation(p.Rank, ReplicaStatus.Lost, null, route.Problem))]);
    }

    /// <summary>The executor spec that runs <paramref name="attempt"/>, or the reason none can.</summary>
    public async Task<(ExecutorSpec? Spec, string? Problem)> SpecForAsync(JobAttempt attempt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        var nodeNames = attempt.Placement.Select(p => p.Node).Distinct(StringComparer.Ordinal).ToList();
        var nodes = await _cache.NodesAsync(cancellationToken);
        if (nodeNames.Any(n => nodes.All(node => node.Name != n)))
        {
            // Added since the cache was filled (a Slurm node just discovered, say): read again once.
            _cache.Invalidate();
            nodes = await _cache.NodesAsync(cancellationToken);
        }

        var pools = await PoolsAsync(forceRefresh: false, cancellationToken);
        var byPool = new SortedDictionary<string, ExecutorSpec>(StringComparer.Ordinal);
        foreach (var name in nodeNames)
        {
            var poolName = nodes.FirstOrDefault(n => n.Name == name)?.Pool;
            if (poolName is null)
            {
                byPool["(unknown node " + name + ")"] = ExecutorSpec.LocalSpec;
                continue;
            }

            if (!pools.TryGetValue(poolName, out var pool))
            {
                pools = await PoolsAsync(forceRefresh: true, cancellationToken);
                pool = pools.GetValueOrDefault(poolName);
            }

            var executorText = pool?.Executor ?? Pool.LocalExecutor;
            if (ExecutorSpec.Parse(executorText, out var problem) is not { } spec)
            {
                return (null, $"pool '{poolName}' has executor {problem}");
            }

            byPool[poolName] = spec;
        }

        var distinct = byPool.Values.Distinct().ToList();
        if (distinct.Count > 1)
        {
            return (null, "its replicas were placed in pools run by different executors ("
                + string.Join(", ", byPool.Select(kv => $"{kv.Key}: {kv.Value}"))
                + "), and one attempt runs on one executor; choose one pool with the node selector pool=NAME");
        }

        return (distinct.SingleOrDefault() ?? ExecutorSpec.LocalSpec, null);
    }

    private async Task<(IExecutor? Executor, string? Problem)> RouteAsync(JobAttempt attempt, CancellationToken cancellationToken)
    {
        var (spec, problem) = await SpecForAsync(attempt, cancellationToken);
        return spec is null ? (null, problem) : (_catalog.Get(spec), null);
    }

    private async Task<IReadOnlyDictionary<string, Pool>> PoolsAsync(bool forceRefresh, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (!forceRefresh && _pools is { } known && now - known.ReadAt < PoolsMaxAge)
        {
            return known.Pools;
        }

        var pools = (await _store.Cluster.ListPoolsAsync(cancellationToken)).ToDictionary(p => p.Name, StringComparer.Ordinal);
        _pools = new PoolsSnapshot(pools, now);
        return pools;
    }

    private sealed record PoolsSnapshot(IReadOnlyDictionary<string, Pool> Pools, DateTimeOffset ReadAt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} attempt {Attempt} cannot be launched: {Problem}")]
    private partial void LogRefused(long jobId, int attempt, string problem);
}
