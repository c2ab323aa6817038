using System.Diagnostics.Metrics;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Server.Metrics;

/// <summary>
/// The server's instruments, on one meter per server instance (through IMeterFactory, so two servers
/// in one test process do not mix their numbers). Counters and histograms are recorded where things
/// happen; the gauges read the cluster state the controller publishes after each iteration.
/// </summary>
public sealed class StratumMetrics
{
    public const string MeterName = "Stratum.Server";

    private readonly Counter<long> _submitted;
    private readonly Counter<long> _finished;
    private readonly Counter<long> _preemptions;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _passDuration;
    private volatile ClusterState _state = new([], []);

    public StratumMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _submitted = meter.CreateCounter<long>("stratum.jobs.submitted", "{job}", "Jobs accepted by the API, by project.");
        _finished = meter.CreateCounter<long>("stratum.jobs.finished", "{job}", "Jobs that reached a final state, by project and state.");
        _preemptions = meter.CreateCounter<long>("stratum.jobs.preemptions", "{job}", "Preemptions decided by the scheduler, by the victim's project.");
        _queueWait = meter.CreateHistogram("stratum.job.queue.wait", "s", "Time from submission to the start of a job's first attempt.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400] });
        _passDuration = meter.CreateHistogram("stratum.scheduler.pass.duration", "s", "Time one controller iteration spends observing jobs and scheduling.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });

        meter.CreateObservableGauge("stratum.jobs", () => _state.Jobs
            .GroupBy(j => (j.Spec.Project, State: j.State.ToWire()))
            .Select(g => new Measurement<long>(g.Count(), new("project", g.Key.Project), new("state", g.Key.State))),
            "{job}", "Jobs that are queued or running, by project and state.");
        meter.CreateObservableGauge("stratum.project.allocated.gpus", () => ByProject(r => r.AcceleratorCount),
            "{gpu}", "Accelerators held by a project's running jobs.");
        meter.CreateObservableGauge("stratum.project.allocated.cpu_cores", () => ByProject(r => r.CpuMillis / 1000.0),
            "{core}", "CPU cores held by a project's running jobs.");
        meter.CreateObservableGauge("stratum.node.allocatable.gpus", () => _state.Nodes
            .Select(n => new Measurement<long>(n.Allocatable.AcceleratorCount, NodeTags(n))), "{gpu}", "Accelerators a node offers to jobs.");
        meter.CreateObservableGauge("stratum.node.allocatable.cpu_cores", () => _state.Nodes
            .Select(n => new Measurement<double>(n.Allocatable.CpuMillis / 1000.0, NodeTags(n))), "{core}", "CPU cores a node offers to jobs.");
        meter.CreateObservableGauge("stratum.node.allocated.gpus", () => _state.Nodes
            .Select(n => new Measurement<long>(Allocated(n).AcceleratorCount, NodeTags(n))), "{gpu}", "Accelerators on a node held by running jobs.");
        meter.CreateObservableGauge("stratum.node.ready", () => _state.Nodes
            .Select(n => new Measurement<long>(n.State == NodeState.Ready ? 1 : 0, [.. NodeTags(n), new("state", n.State.ToString())])),
            null, "1 when the node takes new work, 0 when draining or down.");
    }

    public void JobSubmitted(string project) => _submitted.Add(1, new KeyValuePair<string, object?>("project", project));

    public void JobFinished(Job job) =>
        _finished.Add(1, new("project", job.Spec.Project), new("state", job.State.ToWire()));

    public void JobPreempted(Job job) => _preemptions.Add(1, new KeyValuePair<string, object?>("project", job.Spec.Project));

    public void JobStarted(Job job, DateTimeOffset now)
    {
        if (job.Attempts.Count == 1)
        {
            _queueWait.Record(Math.Max(0, (now - job.SubmittedAt).TotalSeconds), new KeyValuePair<string, object?>("project", job.Spec.Project));
        }
    }

    public void PassCompleted(TimeSpan duration) => _passDuration.Record(duration.TotalSeconds);

    /// <summary>The controller publishes what it saw after each iteration; the gauges read it at scrape time.</summary>
    public void Publish(IReadOnlyList<Node> nodes, IReadOnlyList<Job> activeJobs) => _state = new ClusterState(nodes, activeJobs);

    private IEnumerable<Measurement<double>> ByProject(Func<ResourceVector, double> amount) => _state.Jobs
        .Where(j => j.State == JobState.Running)
        .GroupBy(j => j.Spec.Project)
        .Select(g => new Measurement<double>(g.Sum(j => amount(j.Spec.Resources) * j.Spec.Replicas), new KeyValuePair<string, object?>("project", g.Key)));

    private ResourceVector Allocated(Node node) => _state.Jobs
        .Where(j => j.State == JobState.Running)
        .Aggregate(ResourceVector.Zero, (sum, j) => sum.Add(j.Spec.Resources.Multiply(j.CurrentAttempt?.Placement.Count(p => p.Node == node.Name) ?? 0)));

    private static KeyValuePair<string, object?>[] NodeTags(Node node) => [new("node", node.Name), new("pool", node.Pool)];

    private sealed record ClusterState(IReadOnlyList<Node> Nodes, IReadOnlyList<Job> Jobs);
}
