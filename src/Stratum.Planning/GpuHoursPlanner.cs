using Stratum.Core;

namespace Stratum.Planning;

/// <summary>"N GPU-hours of type X": what that costs each way and what it draws, on a cluster of a given size.</summary>
public sealed record GpuHoursRequest
{
    public required string Gpu { get; init; }

    public required double GpuHours { get; init; }

    /// <summary>GPUs running at once; default one server's worth.</summary>
    public int? Gpus { get; init; }

    public double? DeadlineDays { get; init; }

    public IReadOnlyList<ValidationError> Validate()
    {
        var errors = new List<ValidationError>();
        if (!Numbers.IsPositive(GpuHours))
        {
            errors.Add(new("hours", "must be a positive number of GPU-hours, for example 100000"));
        }

        if (Gpus is <= 0)
        {
            errors.Add(new("gpus", "must be a positive whole number"));
        }

        if (DeadlineDays is { } days && !Numbers.IsPositive(days))
        {
            errors.Add(new("deadline", "must be a positive duration"));
        }

        return errors;
    }
}

public sealed record GpuHoursPlan(string Gpu, double GpuHours, int Gpus, double WallClockDays, PowerPlan Power, IReadOnlyList<CostOption> Costs, CostOption? Cheapest, Working Working);

public sealed class GpuHoursPlanner(PlanningCatalog catalog)
{
    public PlanResult<GpuHoursPlan> Plan(GpuHoursRequest request)
    {
        var errors = request.Validate();
        if (errors.Count > 0)
        {
            return PlanResult<GpuHoursPlan>.Fail(errors);
        }

        var accelerator = catalog.Find(request.Gpu, out var unknown);
        if (accelerator is null)
        {
            return PlanResult<GpuHoursPlan>.Fail("gpu", unknown!);
        }

        // With a deadline and no count, the fewest whole servers that finish in time.
        var perServer = (int)accelerator.GpusPerServer.Required;
        var gpus = request.Gpus ?? (request.DeadlineDays is { } days
            ? perServer * (int)Math.Max(1, Math.Ceiling(request.GpuHours / (days * 24) / perServer))
            : perServer);
        var wallHours = request.GpuHours / gpus;
        var defaults = new TrainingRequest { Model = new ModelSpec { Parameters = 1 }, Tokens = 1, Gpu = request.Gpu };
        var costs = CostModel.Compare(catalog, accelerator, gpus, wallHours, request.DeadlineDays, defaults.SpotInterruptionsPerInstanceHour,
            (defaults.CheckpointIntervalHours / 2) + defaults.RestartHours);
        var power = CostModel.Power(catalog, accelerator, gpus, wallHours, null);
        return PlanResult<GpuHoursPlan>.Ok(new GpuHoursPlan(
            accelerator.Name, request.GpuHours, gpus, Numbers.Round(wallHours / 24), power, costs, CostModel.Cheapest(costs),
            new Working(
                ["wall clock = GPU-hours / GPUs", "costs as for training: on-prem amortised, cloud on-demand, reserved (whole term) and spot (longer by interruptions)"],
                [$"{gpus} GPUs busy the whole time; spot loses half a checkpoint interval plus a restart per interruption"],
                costs.Count == 0 ? [$"the catalog has no prices for {accelerator.Name}"] : [])));
    }
}
