namespace Stratum.Server;

/// <summary>Every server setting, with its default. Validated at startup; see docs/server.md.</summary>
public sealed class ServerOptions
{
    /// <summary>Where the database, job logs, checkpoints and connection.json live. Default ./.stratum.</summary>
    public string DataDirectory { get; set; } = ".stratum";

    /// <summary>The address to listen on. Default 127.0.0.1 (loopback only).</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>The HTTP port. Default 8470; 0 picks a free port (tests).</summary>
    public int Port { get; set; } = 8470;

    /// <summary>Scheduling policy by name. Default "priority".</summary>
    public string SchedulingPolicy { get; set; } = "priority";

    /// <summary>How often the scheduling loop runs when nothing wakes it earlier. Default 2s.</summary>
    public TimeSpan SchedulingInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often running replicas are observed when none reports an exit earlier. Default 1s.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Time between SIGTERM and SIGKILL on cancel, preemption and timeout. Default 10s.</summary>
    public TimeSpan StopGracePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Register this machine (CPUs, memory, NVIDIA GPUs) as a node of the "local" pool at start. Default true.</summary>
    public bool RegisterLocalNode { get; set; } = true;
}
