namespace Stratum.Server.Execution;

/// <summary>
/// One executor per distinct <see cref="ExecutorSpec"/>, made on first use and kept: a SlurmExecutor per
/// partition, the one local executor. Every executor's <see cref="Stratum.Execution.IExecutor.ReplicaEnded"/> is forwarded.
/// </summary>
public sealed class ExecutorCatalog
{
    private readonly Func<ExecutorSpec, Stratum.Execution.IExecutor> _create;
    private readonly Dictionary<ExecutorSpec, Stratum.Execution.IExecutor> _executors = [];
    private readonly Lock _gate = new();

    public ExecutorCatalog(Func<ExecutorSpec, Stratum.Execution.IExecutor> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        _create = create;
    }

    /// <summary>Raised when a replica started by any of the executors ends.</summary>
    public event Action<long>? ReplicaEnded;

    public Stratum.Execution.IExecutor Get(ExecutorSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        lock (_gate)
        {
            if (!_executors.TryGetValue(spec, out var executor))
            {
                executor = _create(spec);
                executor.ReplicaEnded += jobId => ReplicaEnded?.Invoke(jobId);
                _executors[spec] = executor;
            }

            return executor;
        }
    }
}
