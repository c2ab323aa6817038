namespace Stratum.Core.Cluster;

public enum PoolKind
{
    OnPrem,
    Cloud,
    Edge,
}

public enum PricingKind
{
    OnDemand,
    Spot,
    Reserved,
}

/// <summary>What an hour of each resource costs in a pool. Accounting multiplies these by usage.</summary>
public sealed record PriceModel(
    PricingKind Kind = PricingKind.OnDemand,
    decimal PerAcceleratorHour = 0,
    decimal PerCpuCoreHour = 0,
    decimal PerMemoryGbHour = 0,
    string Currency = "USD")
{
    public static PriceModel Free { get; } = new();
}

/// <summary>A group of nodes with one price model, run by one executor ("local" now; "slurm:PARTITION" later).</summary>
public sealed record Pool
{
    public const string LocalExecutor = "local";

    public required string Name { get; init; }

    public PoolKind Kind { get; init; } = PoolKind.OnPrem;

    public PriceModel Price { get; init; } = PriceModel.Free;

    public string Executor { get; init; } = LocalExecutor;

    public DateTimeOffset CreatedAt { get; init; }
}
