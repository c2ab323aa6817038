using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Scheduling.Tests;

/// <summary>Test data builders: every argument has a dull default, so a test names only what it is about.</summary>
internal static class Make
{
    public const string H100 = "nvidia-h100";
    public const long Gi = 1L << 30;

    public static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static Node Node(string name, double cpus = 16, long memoryGi = 64, int gpus = 0, string gpuType = H100,
        NodeState state = NodeState.Ready, int reservedGpus = 0)
    {
        var capacity = ResourceVector.Of(cpus, memoryGi * Gi, gpuType, gpus);
        return new Node
        {
            Name = name,
            Pool = "default",
            Capacity = capacity,
            Allocatable = ResourceVector.Of(cpus, memoryGi * Gi, gpuType, gpus - reservedGpus),
            Accelerators = Enumerable.Range(0, gpus).Select(i => new AcceleratorDevice(i, gpuType, "H100 80GB", 80 * Gi)).ToList(),
            State = state,
        };
    }

    public static JobSpec Spec(int gpus = 0, double cpus = 1, long memoryGi = 1, string gpuType = H100, int replicas = 1,
        int priority = 0, string project = "vision", bool preemptible = false) => new()
        {
            Name = "train",
            Project = project,
            Command = ["python", "train.py"],
            Resources = ResourceVector.Of(cpus, memoryGi * Gi, gpuType, gpus),
            Replicas = replicas,
            Priority = priority,
            Preemptible = preemptible,
        };

    /// <summary>A queued job; it is submitted <paramref name="submittedSecond"/> seconds after <see cref="T0"/> (default: its id).</summary>
    public static Job Job(long id, int gpus = 0, double cpus = 1, long memoryGi = 1, string gpuType = H100, int replicas = 1,
        int priority = 0, string project = "vision", bool preemptible = false, int? submittedSecond = null,
        JobState state = JobState.Pending) => new()
        {
            Id = id,
            Spec = Spec(gpus, cpus, memoryGi, gpuType, replicas, priority, project, preemptible),
            Owner = "ada",
            State = state,
            SubmittedAt = T0.AddSeconds(submittedSecond ?? id),
        };

    /// <summary>A running job whose replicas sit where <paramref name="on"/> says (one entry per replica).</summary>
    public static Job Running(long id, ReplicaPlacement[] on, int gpus = 0, double cpus = 1, long memoryGi = 1, string gpuType = H100,
        int priority = 0, string project = "vision", bool preemptible = false, int startedSecond = 0, StopKind? stopping = null) => new()
        {
            Id = id,
            Spec = Spec(gpus, cpus, memoryGi, gpuType, on.Length, priority, project, preemptible),
            Owner = "ada",
            State = JobState.Running,
            SubmittedAt = T0,
            Attempts =
            [
                new JobAttempt
                {
                    Number = 1,
                    Placement = on.Select((p, rank) => p with { Rank = rank }).ToList(),
                    StartedAt = T0.AddSeconds(startedSecond),
                },
            ],
            Stop = stopping is { } kind ? new StopRequest(kind, T0.AddSeconds(startedSecond + 1), "scheduler", "stopping") : null,
        };

    /// <summary>One replica on <paramref name="node"/> holding accelerators <paramref name="indices"/>.</summary>
    public static ReplicaPlacement On(string node, params int[] indices) => new(0, node, indices);

    public static Project Project(string name, Quota? quota = null) => new() { Name = name, Quota = quota ?? Quota.Unlimited };

    /// <summary>A snapshot; without <paramref name="projects"/>, every project a job names exists without a quota.</summary>
    public static ClusterSnapshot Snapshot(IEnumerable<Node> nodes, IEnumerable<Job> queued, IEnumerable<Job>? running = null,
        IEnumerable<Project>? projects = null)
    {
        var queuedList = queued.ToList();
        var runningList = (running ?? []).ToList();
        return new ClusterSnapshot
        {
            Now = T0.AddHours(1),
            Nodes = nodes.ToList(),
            Queued = queuedList,
            Running = runningList,
            Projects = projects?.ToList()
                ?? queuedList.Concat(runningList).Select(j => j.Spec.Project).Distinct().Select(p => Project(p)).ToList(),
        };
    }

    public static SchedulingDecisions Schedule(ClusterSnapshot snapshot) => new PriorityPolicy().Schedule(snapshot);
}
