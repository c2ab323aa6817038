using Stratum.Core;

namespace Stratum.Planning;

/// <summary>
/// A plan or the reasons there is none. Bad input and impossible requests (a model that fits no GPU,
/// a deadline nothing meets) are expected outcomes, so they are values here, never exceptions.
/// </summary>
public sealed record PlanResult<T>(T? Plan, IReadOnlyList<ValidationError> Errors)
    where T : class
{
    public bool Succeeded => Plan is not null && Errors.Count == 0;

    public static PlanResult<T> Ok(T plan) => new(plan, []);

    public static PlanResult<T> Fail(IEnumerable<ValidationError> errors) => new(null, errors.ToList());

    public static PlanResult<T> Fail(string field, string message) => new(null, [new ValidationError(field, message)]);
}

/// <summary>One line of a cost comparison.</summary>
public sealed record CostOption(
    string Option,
    string Provider,
    string Instance,
    double TotalUsd,
    double UsdPerGpuHour,
    double WallClockDays,
    bool MeetsDeadline,
    string Source,
    string Date,
    string Note);

/// <summary>Power, racks, energy and CO2 of a cluster running for a while.</summary>
public sealed record PowerPlan(int Servers, double ItKw, double FacilityKw, int Racks, double EnergyMwh, double Co2Tonnes, double GridKgCo2PerKwh);

/// <summary>Explanatory text attached to every plan so an engineer can check it.</summary>
public sealed record Working(IReadOnlyList<string> Formulas, IReadOnlyList<string> Assumptions, IReadOnlyList<string> Warnings);
