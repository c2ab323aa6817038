using System.Text.Json;
using System.Text.Json.Serialization;
using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Persistence;

// The shapes nested data takes inside TEXT columns. They are separate from the Core records on purpose:
// a rename in Core must not silently change what is on disk, and ResourceVector has no parameterless
// constructor. New members must be optional (a missing JSON property reads as its default) so rows
// written by an older version still read. Timestamps inside JSON are unix milliseconds like the columns.

internal sealed record ResourcesRow(long CpuMillis, long MemoryBytes, Dictionary<string, int>? Accelerators);

internal sealed record RetryRow(int MaxAttempts, bool RetryWhenLost);

internal sealed record SpecRow(
    string Name,
    string Project,
    List<string> Command,
    Dictionary<string, string>? Environment,
    string? WorkingDirectory,
    ResourcesRow Resources,
    int Replicas,
    int Priority,
    bool Preemptible,
    TimeSpan? MaxRuntime,
    RetryRow? Retry,
    Dictionary<string, string>? NodeSelector = null,
    List<InputRow>? Inputs = null,
    List<OutputRow>? Outputs = null,
    CheckpointsRow? Checkpoints = null);

internal sealed record InputRow(string Repository, string? Ref, string? Path, string? MountAs, string? Commit);

internal sealed record OutputRow(string Path, string Repository, string Branch, string? To, string? Message);

internal sealed record CheckpointsRow(string Repository, string? Branch);

internal sealed record StoreCommitRow(StoreCommitKind Kind, string Repository, string Branch, string Commit, string? Path);

internal sealed record PlacementRow(int Rank, string Node, List<int> AcceleratorIndices);

internal sealed record AttemptRow(int Number, List<PlacementRow> Placement, long StartedAt, long? EndedAt, int? ExitCode, string? Outcome, List<StoreCommitRow>? StoreCommits = null);

internal sealed record StopRow(StopKind Kind, long RequestedAt, string By, string Reason);

internal sealed record PriceRow(PricingKind Kind, decimal PerAcceleratorHour, decimal PerCpuCoreHour, decimal PerMemoryGbHour, string Currency);

internal sealed record QuotaRow(
    long? CpuMillis,
    long? MemoryBytes,
    int? Accelerators,
    Dictionary<string, int>? AcceleratorsByType,
    string? Cohort = null,
    QuotaRow? BorrowingLimit = null,
    QuotaRow? LendingLimit = null,
    BudgetRow? Budget = null);

// A project's budget rides in its quota column (only at the top level) so that adding it needed no migration.
internal sealed record BudgetRow(decimal Monthly, string Currency, List<decimal> Thresholds);

internal sealed record DeviceRow(int Index, string Type, string Model, long MemoryBytes, string? Uuid);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SpecRow))]
[JsonSerializable(typeof(List<AttemptRow>))]
[JsonSerializable(typeof(StopRow))]
[JsonSerializable(typeof(PriceRow))]
[JsonSerializable(typeof(QuotaRow))]
[JsonSerializable(typeof(ResourcesRow))]
[JsonSerializable(typeof(List<DeviceRow>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(Dictionary<string, ProjectRole>))]
internal sealed partial class PersistenceJsonContext : JsonSerializerContext;

/// <summary>Converts Core records to and from the JSON kept in TEXT columns, and timestamps to unix milliseconds.</summary>
internal static class PersistenceJson
{
    private static readonly PersistenceJsonContext Context = PersistenceJsonContext.Default;

    public static long ToMillis(DateTimeOffset value) => value.ToUnixTimeMilliseconds();

    public static long? ToMillis(DateTimeOffset? value) => value?.ToUnixTimeMilliseconds();

    public static DateTimeOffset FromMillis(long value) => DateTimeOffset.FromUnixTimeMilliseconds(value);

    public static DateTimeOffset? FromMillis(long? value) => value is { } v ? DateTimeOffset.FromUnixTimeMilliseconds(v) : null;

    /// <summary>The instant as the store keeps it (unix milliseconds, UTC).</summary>
    public static DateTimeOffset Truncate(DateTimeOffset value) => FromMillis(ToMillis(value));

    public static string WriteSpec(JobSpec spec) => JsonSerializer.Serialize(
        new SpecRow(
            spec.Name,
            spec.Project,
            [.. spec.Command],
            new Dictionary<string, string>(spec.Environment),
            spec.WorkingDirectory,
            ToRow(spec.Resources),
            spec.Replicas,
            spec.Priority,
            spec.Preemptible,
            spec.MaxRuntime,
            new RetryRow(spec.Retry.MaxAttempts, spec.Retry.RetryWhenLost),
            spec.NodeSelector.Count > 0 ? new Dictionary<string, string>(spec.NodeSelector) : null,
            spec.Inputs.Count > 0 ? [.. spec.Inputs.Select(i => new InputRow(i.Repository, i.Ref, i.Path, i.MountAs, i.Commit))] : null,
            spec.Outputs.Count > 0 ? [.. spec.Outputs.Select(o => new OutputRow(o.Path, o.Repository, o.Branch, o.To, o.Message))] : null,
            spec.Checkpoints is { } checkpoints ? new CheckpointsRow(checkpoints.Repository, checkpoints.Branch) : null),
        Context.SpecRow);

    public static JobSpec ReadSpec(string json)
    {
        var row = Deserialize(json, Context.SpecRow);
        return new JobSpec
        {
            Name = row.Name,
            Project = row.Project,
            Command = row.Command,
            Environment = row.Environment ?? [],
            WorkingDirectory = row.WorkingDirectory,
            Resources = FromRow(row.Resources),
            Replicas = row.Replicas,
            Priority = row.Priority,
            Preemptible = row.Preemptible,
            MaxRuntime = row.MaxRuntime,
            Retry = row.Retry is null
                ? RetryPolicy.None
                : new RetryPolicy { MaxAttempts = row.Retry.MaxAttempts, RetryWhenLost = row.Retry.RetryWhenLost },
            NodeSelector = row.NodeSelector ?? [],
            Inputs = row.Inputs?.Select(i => new JobInput { Repository = i.Repository, Ref = i.Ref, Path = i.Path, MountAs = i.MountAs, Commit = i.Commit }).ToList() ?? [],
            Outputs = row.Outputs?.Select(o => new JobOutput { Path = o.Path, Repository = o.Repository, Branch = o.Branch, To = o.To, Message = o.Message }).ToList() ?? [],
            Checkpoints = row.Checkpoints is { } checkpoints ? new JobCheckpoints { Repository = checkpoints.Repository, Branch = checkpoints.Branch } : null,
        };
    }

    public static string WriteAttempts(IReadOnlyList<JobAttempt> attempts) => JsonSerializer.Serialize(
        attempts.Select(a => new AttemptRow(
            a.Number,
            [.. a.Placement.Select(p => new PlacementRow(p.Rank, p.Node, [.. p.AcceleratorIndices]))],
            ToMillis(a.StartedAt),
            ToMillis(a.EndedAt),
            a.ExitCode,
            a.Outcome,
            a.StoreCommits.Count > 0 ? [.. a.StoreCommits.Select(c => new StoreCommitRow(c.Kind, c.Repository, c.Branch, c.Commit, c.Path))] : null)).ToList(),
        Context.ListAttemptRow);

    public static IReadOnlyList<JobAttempt> ReadAttempts(string json)
    {
        var rows = Deserialize(json, Context.ListAttemptRow);
        return rows.Select(a => new JobAttempt
        {
            Number = a.Number,
            Placement = a.Placement.Select(p => new ReplicaPlacement(p.Rank, p.Node, p.AcceleratorIndices)).ToList(),
            StartedAt = FromMillis(a.StartedAt),
            EndedAt = FromMillis(a.EndedAt),
            ExitCode = a.ExitCode,
            Outcome = a.Outcome,
            StoreCommits = a.StoreCommits?.Select(c => new StoreCommitRecord(c.Kind, c.Repository, c.Branch, c.Commit, c.Path)).ToList() ?? [],
        }).ToList();
    }

    public static string? WriteStop(StopRequest? stop) => stop is null
        ? null
        : JsonSerializer.Serialize(new StopRow(stop.Kind, ToMillis(stop.RequestedAt), stop.By, stop.Reason), Context.StopRow);

    public static StopRequest? ReadStop(string? json)
    {
        if (json is null)
        {
            return null;
        }

        var row = Deserialize(json, Context.StopRow);
        return new StopRequest(row.Kind, FromMillis(row.RequestedAt), row.By, row.Reason);
    }

    public static string WritePrice(PriceModel price) => JsonSerializer.Serialize(
        new PriceRow(price.Kind, price.PerAcceleratorHour, price.PerCpuCoreHour, price.PerMemoryGbHour, price.Currency),
        Context.PriceRow);

    public static PriceModel ReadPrice(string json)
    {
        var row = Deserialize(json, Context.PriceRow);
        return new PriceModel(row.Kind, row.PerAcceleratorHour, row.PerCpuCoreHour, row.PerMemoryGbHour, row.Currency);
    }

    public static string WriteQuota(Quota quota, Budget? budget = null) => JsonSerializer.Serialize(
        ToRow(quota) with { Budget = budget is null ? null : new BudgetRow(budget.Monthly, budget.Currency, [.. budget.Thresholds]) },
        Context.QuotaRow);

    public static Budget? ReadBudget(string quotaJson) => Deserialize(quotaJson, Context.QuotaRow).Budget is { } row
        ? new Budget { Monthly = row.Monthly, Currency = row.Currency, Thresholds = row.Thresholds }
        : null;

    // Rows written before cohorts existed have no cohort or limits and read as hard quotas, as before.
    public static Quota ReadQuota(string json) => FromRow(Deserialize(json, Context.QuotaRow));

    private static QuotaRow ToRow(Quota quota) => new(
        quota.CpuMillis,
        quota.MemoryBytes,
        quota.Accelerators,
        new Dictionary<string, int>(quota.AcceleratorsByType),
        quota.Cohort,
        quota.BorrowingLimit is { } borrowing ? ToRow(borrowing) : null,
        quota.LendingLimit is { } lending ? ToRow(lending) : null);

    private static Quota FromRow(QuotaRow row) => new()
    {
        CpuMillis = row.CpuMillis,
        MemoryBytes = row.MemoryBytes,
        Accelerators = row.Accelerators,
        AcceleratorsByType = row.AcceleratorsByType ?? [],
        Cohort = row.Cohort,
        BorrowingLimit = row.BorrowingLimit is { } borrowing ? FromRow(borrowing) : null,
        LendingLimit = row.LendingLimit is { } lending ? FromRow(lending) : null,
    };

    public static string WriteResources(ResourceVector resources) => JsonSerializer.Serialize(ToRow(resources), Context.ResourcesRow);

    public static ResourceVector ReadResources(string json) => FromRow(Deserialize(json, Context.ResourcesRow));

    public static string WriteDevices(IReadOnlyList<AcceleratorDevice> devices) => JsonSerializer.Serialize(
        devices.Select(d => new DeviceRow(d.Index, d.Type, d.Model, d.MemoryBytes, d.Uuid)).ToList(),
        Context.ListDeviceRow);

    public static IReadOnlyList<AcceleratorDevice> ReadDevices(string json) =>
        Deserialize(json, Context.ListDeviceRow).Select(d => new AcceleratorDevice(d.Index, d.Type, d.Model, d.MemoryBytes, d.Uuid)).ToList();

    public static string WriteLabels(IReadOnlyDictionary<string, string> labels) =>
        JsonSerializer.Serialize(new Dictionary<string, string>(labels), Context.DictionaryStringString);

    public static IReadOnlyDictionary<string, string> ReadLabels(string json) => Deserialize(json, Context.DictionaryStringString);

    public static string WriteRoles(IReadOnlyDictionary<string, ProjectRole> roles) =>
        JsonSerializer.Serialize(new Dictionary<string, ProjectRole>(roles), Context.DictionaryStringProjectRole);

    public static IReadOnlyDictionary<string, ProjectRole> ReadRoles(string json) => Deserialize(json, Context.DictionaryStringProjectRole);

    private static ResourcesRow ToRow(ResourceVector resources) =>
        new(resources.CpuMillis, resources.MemoryBytes, new Dictionary<string, int>(resources.Accelerators));

    private static ResourceVector FromRow(ResourcesRow row) => new(row.CpuMillis, row.MemoryBytes, row.Accelerators);

    private static T Deserialize<T>(string json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(json, type)
        ?? throw new InvalidDataException($"stored JSON for {typeof(T).Name} is null");
}
