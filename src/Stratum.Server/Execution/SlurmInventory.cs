using Microsoft.Extensions.Hosting;
using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Execution.Slurm;
using Stratum.Persistence;
using Stratum.Server.Control;

namespace Stratum.Server.Execution;

/// <summary>
/// Keeps the nodes of pools with a <c>slurm</c> executor as the Slurm controller reports them: at start, within
/// a couple of seconds of a Slurm pool being declared, and every <see cref="ServerOptions.SlurmDiscoveryInterval"/>.
/// New and changed nodes are upserted, nodes Slurm no longer reports are marked Down (not deleted: a job may
/// still name them), each with an audit record. A controller that does not answer leaves the nodes as they
/// were and is logged once per outage. The local pool keeps its own discovery at start (Bootstrap).
/// </summary>
public sealed partial class SlurmInventory : BackgroundService
{
    /// <summary>How often the pool list is read to notice a newly declared Slurm pool.</summary>
    private static readonly TimeSpan PoolCheckInterval = TimeSpan.FromSeconds(2);

    private const string Actor = "stratum (slurm discovery)";

    private readonly IMetadataStore _store;
    private readonly ClusterCache _cache;
    private readonly ServerOptions _options;
    private readonly TimeProvider _time;
    private readonly Func<SlurmOptions, ISlurmCommands> _commands;
    private readonly ILogger<SlurmInventory> _logger;
    private readonly Dictionary<string, DateTimeOffset> _lastDiscovered = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unreachable = new(StringComparer.Ordinal);
    private readonly HashSet<string> _collisions = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private bool _sbatchChecked;

    public SlurmInventory(IMetadataStore store, ClusterCache cache, ServerOptions options, TimeProvider time, Func<SlurmOptions, ISlurmCommands> commands, ILogger<SlurmInventory> logger)
    {
        _store = store;
        _cache = cache;
        _options = options;
        _time = time;
        _commands = commands;
        _logger = logger;
    }

    /// <summary>Passes completed (tests wait on it rather than on time).</summary>
    public int Passes { get; private set; }

    /// <summary>One pass: discovers every Slurm pool whose nodes are older than the interval (all of them with <paramref name="force"/>). Returns the nodes changed.</summary>
    public async Task<int> RefreshAsync(bool force, CancellationToken cancellationToken)
    {
        // The loop and a caller (a test, an admin action) may refresh at once; one pass at a time keeps the bookkeeping whole.
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await RefreshOnceAsync(force, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    public override void Dispose()
    {
        _gate.Dispose();
        base.Dispose();
    }

    private async Task<int> RefreshOnceAsync(bool force, CancellationToken cancellationToken)
    {
        var pools = (await _store.Cluster.ListPoolsAsync(cancellationToken))
            .Select(p => (Pool: p, Spec: ExecutorSpec.Parse(p.Executor, out _)))
            .Where(p => p.Spec?.Kind == ExecutorSpec.Slurm)
            .ToList();
        if (pools.Count > 0 && !_sbatchChecked)
        {
            _sbatchChecked = true;
            if (SlurmSettings.FindOnPath("sbatch") is null)
            {
                LogNoSbatch(string.Join(", ", pools.Select(p => p.Pool.Name)));
            }
        }

        var changed = 0;
        var now = _time.GetUtcNow();
        foreach (var (pool, spec) in pools)
        {
            if (!force && _lastDiscovered.TryGetValue(pool.Name, out var last) && now - last < _options.SlurmDiscoveryInterval)
            {
                continue;
            }

            changed += await DiscoverPoolAsync(pool, spec!, now, cancellationToken);
        }

        if (changed > 0)
        {
            _cache.Invalidate();
        }

        Passes++;
        return changed;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = _options.SlurmDiscoveryInterval < PoolCheckInterval ? _options.SlurmDiscoveryInterval : PoolCheckInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RefreshAsync(force: false, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogPassFailed(e);
            }

            await Task.Delay(interval, _time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task<int> DiscoverPoolAsync(Pool pool, ExecutorSpec spec, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var slurmOptions = SlurmSettings.OptionsFor(_options, spec.Partition);
        IReadOnlyList<Node> discovered;
        try
        {
            discovered = await new SlurmNodeDiscovery(_commands(slurmOptions), slurmOptions).DiscoverAsync(pool.Name, now, cancellationToken);
        }
        catch (Exception e) when (e is SlurmUnavailableException or System.ComponentModel.Win32Exception or IOException)
        {
            // Retried at the next pool check, not after a whole interval: the nodes are stale meanwhile.
            if (_unreachable.Add(pool.Name))
            {
                LogUnreachable(pool.Name, spec.ToString(), e.Message);
            }

            return 0;
        }

        if (_unreachable.Remove(pool.Name))
        {
            LogReachable(pool.Name);
        }

        _lastDiscovered[pool.Name] = now;
        var existing = await _store.Cluster.ListNodesAsync(cancellationToken);
        var changed = 0;
        foreach (var node in discovered)
        {
            var known = existing.FirstOrDefault(n => n.Name == node.Name);
            if (known is not null && known.Pool != pool.Name)
            {
                if (_collisions.Add(node.Name))
                {
                    LogNameTaken(node.Name, pool.Name, known.Pool);
                }

                continue;
            }

            // Slurm decides a node's state; labels an admin added are kept.
            var labels = new Dictionary<string, string>(known?.Labels ?? new Dictionary<string, string>(), StringComparer.Ordinal);
            foreach (var (key, value) in node.Labels)
            {
                labels[key] = value;
            }

            var updated = node with { Labels = labels };
            if (known is not null && Same(known, updated))
            {
                continue;
            }

            await _store.Cluster.UpsertNodeAsync(updated, Audit(known is null ? "node.create" : "node.update", node.Name, $"from Slurm ({spec}): {updated.State}"), cancellationToken);
            changed++;
        }

        foreach (var gone in existing.Where(n => n.Pool == pool.Name && n.State != NodeState.Down && discovered.All(d => d.Name != n.Name)))
        {
            var reason = $"Slurm ({spec}) no longer reports this node";
            await _store.Cluster.UpsertNodeAsync(gone with { State = NodeState.Down, StateReason = reason, UpdatedAt = now }, Audit("node.update", gone.Name, reason), cancellationToken);
            changed++;
        }

        if (changed > 0)
        {
            LogDiscovered(pool.Name, discovered.Count, changed);
        }

        return changed;

        AuditRecord Audit(string action, string node, string detail) => new(now, Actor, action, $"node/{node}", detail);
    }

    private static bool Same(Node a, Node b) =>
        // ResourceVector compares by value through Equals; == is by reference.
        a.Capacity.Equals(b.Capacity) && a.Allocatable.Equals(b.Allocatable) && a.State == b.State && a.StateReason == b.StateReason
        && a.Accelerators.SequenceEqual(b.Accelerators)
        && a.Labels.Count == b.Labels.Count && a.Labels.All(kv => b.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value);

    [LoggerMessage(Level = LogLevel.Error, Message = "Pools {Pools} run on Slurm but sbatch is not on PATH: their jobs cannot start; install Slurm's client commands or fix PATH")]
    private partial void LogNoSbatch(string pools);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Slurm controller for pool {Pool} ({Executor}) does not answer; its nodes stay as they were: {Message}")]
    private partial void LogUnreachable(string pool, string executor, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "Slurm controller for pool {Pool} answers again")]
    private partial void LogReachable(string pool);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Slurm node {Node} of pool {Pool} is not registered: a node of that name is already in pool {OtherPool}")]
    private partial void LogNameTaken(string node, string pool, string otherPool);

    [LoggerMessage(Level = LogLevel.Information, Message = "Slurm pool {Pool}: {Count} nodes reported, {Changed} changed")]
    private partial void LogDiscovered(string pool, int count, int changed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Slurm node discovery failed")]
    private partial void LogPassFailed(Exception exception);
}
