namespace Stratum.Planning;

/// <summary>An accelerator as the planner needs it. TFLOPS are dense (never with sparsity).</summary>
public sealed record Accelerator(
    string Name,
    string DisplayName,
    Figure Bf16Tflops,
    Figure Fp8Tflops,
    Figure MemoryGb,
    Figure MemoryTBps,
    Figure ScaleUpGBps,
    Figure TdpW,
    Figure GpusPerServer,
    Figure TrainingEfficiency)
{
    /// <summary>Dense peak for <paramref name="precision"/>; FP8 on a part without FP8 falls back to BF16.</summary>
    public double PeakTflops(Precision precision) =>
        precision == Precision.Fp8 && Fp8Tflops.HasValue ? Fp8Tflops.Required : Bf16Tflops.Required;

    public bool Supports(Precision precision) => precision != Precision.Fp8 || Fp8Tflops.HasValue;

    public IEnumerable<(string Name, Figure Figure)> Figures() =>
    [
        ("bf16Tflops", Bf16Tflops), ("fp8Tflops", Fp8Tflops), ("memoryGb", MemoryGb), ("memoryTBps", MemoryTBps),
        ("scaleUpGBps", ScaleUpGBps), ("tdpW", TdpW), ("gpusPerServer", GpusPerServer), ("trainingEfficiency", TrainingEfficiency),
    ];
}

/// <summary>A cloud instance type and its prices in US $ per instance-hour.</summary>
public sealed record CloudOffer(
    string Provider,
    string Instance,
    string Gpu,
    int Gpus,
    string Region,
    Figure OnDemand,
    Figure Reserved1y,
    Figure Reserved3y,
    Figure Spot);

/// <summary>What one on-prem server with its accelerators costs and draws.</summary>
public sealed record ServerCost(string Gpu, Figure ServerUsd, Figure ServerKw);

/// <summary>The on-prem cost model: amortisation, power, cooling overhead, racks, network, staff.</summary>
public sealed record OnPremModel(
    Figure AmortisationYears,
    Figure PowerUsdPerKwh,
    Figure Pue,
    Figure RackKwLimit,
    Figure NetworkUsdPerNode,
    Figure StaffUsdPerRackYear,
    Figure AverageDrawFraction,
    Figure GridKgCo2PerKwh);

/// <summary>Everything the planner looks up: accelerators, cloud offers, the on-prem model.</summary>
public sealed record PlanningCatalog(
    IReadOnlyDictionary<string, Accelerator> Accelerators,
    IReadOnlyList<CloudOffer> Offers,
    OnPremModel OnPrem,
    IReadOnlyDictionary<string, ServerCost> Servers)
{
    public IEnumerable<string> AcceleratorNames => Accelerators.Keys.Order(StringComparer.Ordinal);

    /// <summary>The accelerator, or an error that lists the known names.</summary>
    public Accelerator? Find(string name, out string? error)
    {
        if (Accelerators.TryGetValue(name.Trim().ToLowerInvariant(), out var accelerator))
        {
            error = null;
            return accelerator;
        }

        error = $"unknown accelerator '{name}'; known: {string.Join(", ", AcceleratorNames)}";
        return null;
    }
}
