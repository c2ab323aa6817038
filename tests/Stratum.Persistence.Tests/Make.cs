using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Persistence.Tests;

/// <summary>Test data builders. Instants carry sub-millisecond parts on purpose: the store keeps milliseconds.</summary>
internal static class Make
{
    public static readonly DateTimeOffset T0 = new DateTimeOffset(2025, 3, 1, 12, 0, 0, 123, TimeSpan.Zero).AddTicks(4567);

    public static JobSpec Spec(string name = "train", string project = "vision", int priority = 0) => new()
    {
        Name = name,
        Project = project,
        Command = ["python", "train.py"],
        Resources = ResourceVector.Of(cpus: 2, memoryBytes: 4L << 30),
        Priority = priority,
    };

    /// <summary>A spec with every member set to something other than its default.</summary>
    public static JobSpec RichSpec() => new()
    {
        Name = "llm-finetune",
        Project = "nlp",
        Command = ["torchrun", "--nproc-per-node=4", "train.py", "--lr", "3e-4", "quoted \"arg\" with spaces", "ünïcode ✓"],
        Environment = new Dictionary<string, string> { ["HF_HOME"] = "/data/hf", ["EMPTY"] = "", ["WANDB_MODE"] = "offline" },
        WorkingDirectory = "/srv/work/llm",
        Resources = new ResourceVector(4500, 64L << 30, [new("nvidia-h100", 4), new("amd-mi300x", 1)]),
        Replicas = 3,
        Priority = -17,
        Preemptible = true,
        MaxRuntime = TimeSpan.FromTicks(123_456_789_012),
        Retry = new RetryPolicy { MaxAttempts = 5, RetryWhenLost = false },
    };

    public static JobAttempt Attempt(int number, DateTimeOffset startedAt, DateTimeOffset? endedAt = null, int? exitCode = null, string? outcome = null) => new()
    {
        Number = number,
        Placement = [new ReplicaPlacement(0, "gpu-01", [0, 1]), new ReplicaPlacement(1, "gpu-02", [3])],
        StartedAt = startedAt,
        EndedAt = endedAt,
        ExitCode = exitCode,
        Outcome = outcome,
    };

    public static AuditRecord Audit(string action, string target, string actor = "alice", string? detail = null) =>
        new(T0, actor, action, target, detail, "10.0.0.7");

    public static Pool Pool(string name = "onprem") => new()
    {
        Name = name,
        Kind = PoolKind.Cloud,
        Price = new PriceModel(PricingKind.Spot, 2.125m, 0.0375m, 0.0049999m, "EUR"),
        Executor = "slurm:gpu",
        CreatedAt = T0,
    };

    public static Node Node(string name = "gpu-01", string pool = "onprem") => new()
    {
        Name = name,
        Pool = pool,
        Capacity = new ResourceVector(64_000, 512L << 30, [new("nvidia-h100", 8)]),
        Allocatable = new ResourceVector(62_000, 500L << 30, [new("nvidia-h100", 8)]),
        Labels = new Dictionary<string, string> { [NodeLabels.Site] = "ams", [NodeLabels.Rack] = "r12" },
        Accelerators =
        [
            new AcceleratorDevice(0, "nvidia-h100", "NVIDIA H100 80GB HBM3", 80L << 30, "GPU-0000"),
            new AcceleratorDevice(1, "nvidia-h100", "NVIDIA H100 80GB HBM3", 80L << 30),
        ],
        State = NodeState.Draining,
        StateReason = "maintenance",
        UpdatedAt = T0,
    };

    public static Project Project(string name = "vision") => new()
    {
        Name = name,
        Description = "computer vision",
        Quota = new Quota
        {
            CpuMillis = 128_000,
            MemoryBytes = 1L << 40,
            Accelerators = 16,
            AcceleratorsByType = new Dictionary<string, int> { ["nvidia-h100"] = 8 },
        },
        CreatedAt = T0,
    };

    public static User User(string name = "alice") => new()
    {
        Name = name,
        IsAdmin = false,
        Roles = new Dictionary<string, ProjectRole> { ["vision"] = ProjectRole.Owner, ["nlp"] = ProjectRole.Viewer },
        CreatedAt = T0,
    };

    public static ApiToken Token(string id, string userName = "alice", DateTimeOffset? expiresAt = null) => new()
    {
        Id = id,
        UserName = userName,
        Name = "laptop " + id,
        SecretHash = "sha256:" + id + "-hash",
        CreatedAt = T0,
        ExpiresAt = expiresAt,
    };

    /// <summary>The instant as a store keeps it.</summary>
    public static DateTimeOffset Ms(DateTimeOffset value) => DateTimeOffset.FromUnixTimeMilliseconds(value.ToUnixTimeMilliseconds());

    public static DateTimeOffset? Ms(DateTimeOffset? value) => value is { } v ? Ms(v) : null;
}

/// <summary>A clock that only moves when told to.</summary>
internal sealed class ManualTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}

internal static class TaskTimeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(60);

    /// <summary>Fails the test instead of hanging it when a store never answers.</summary>
    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(Default);

    public static Task Within(this Task task) => task.WaitAsync(Default);
}
