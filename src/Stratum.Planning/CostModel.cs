namespace Stratum.Planning;

/// <summary>
/// Prices a run of <c>gpus</c> accelerators for <c>wallHours</c> every way the catalog knows: on-prem
/// amortised, and each cloud offer on demand, reserved for 1 and 3 years (the whole term is paid), and
/// spot (longer, because every interruption of any instance stops synchronous training).
/// </summary>
public static class CostModel
{
    public static IReadOnlyList<CostOption> Compare(
        PlanningCatalog catalog,
        Accelerator accelerator,
        int gpus,
        double wallHours,
        double? deadlineDays,
        double spotInterruptionsPerInstanceHour,
        double lostHoursPerInterruption)
    {
        var options = new List<CostOption>();
        bool Meets(double hours) => deadlineDays is not { } days || hours / 24 <= days * (1 + 1e-9);

        if (OnPrem(catalog, accelerator, gpus, wallHours) is { } onPrem)
        {
            options.Add(onPrem with { MeetsDeadline = Meets(wallHours) });
        }

        foreach (var offer in catalog.Offers.Where(o => o.Gpu == accelerator.Name))
        {
            var instances = (int)Math.Ceiling(gpus / (double)offer.Gpus);
            var where = $"{offer.Provider} {offer.Instance} x {instances}";
            void Add(string option, Figure price, double billedHours, double runHours, string note)
            {
                if (price.Value is { } perHour && perHour > 0)
                {
                    var total = instances * perHour * billedHours;
                    options.Add(new CostOption(
                        option, offer.Provider, offer.Instance, Numbers.Round(total), Numbers.Round(total / (gpus * runHours)),
                        Numbers.Round(runHours / 24), Meets(runHours), price.Source, price.Date, $"{where}; {note}"));
                }
            }

            Add("cloud on-demand", offer.OnDemand, wallHours, wallHours, $"${offer.OnDemand}/instance-hour");
            Add("cloud reserved 1y", offer.Reserved1y, Math.Max(wallHours, Numbers.HoursPerYear), wallHours,
                $"${offer.Reserved1y}/instance-hour, the whole 1-year term is paid");
            Add("cloud reserved 3y", offer.Reserved3y, Math.Max(wallHours, 3 * Numbers.HoursPerYear), wallHours,
                $"${offer.Reserved3y}/instance-hour, the whole 3-year term is paid");

            // Synchronous training stops when any instance is reclaimed: each interruption loses half a
            // checkpoint interval of work plus the restart, for the whole job.
            var jobInterruptionsPerHour = spotInterruptionsPerInstanceHour * instances;
            var spotHours = wallHours * (1 + (jobInterruptionsPerHour * lostHoursPerInterruption));
            Add("cloud spot", offer.Spot, spotHours, spotHours,
                $"${offer.Spot}/instance-hour; {jobInterruptionsPerHour * spotHours:0.#} interruptions expected, run {spotHours / wallHours:0.00}x longer");
        }

        return options.OrderBy(o => o.TotalUsd).ToList();
    }

    /// <summary>The cheapest option that meets the deadline (or the cheapest when there is none).</summary>
    public static CostOption? Cheapest(IReadOnlyList<CostOption> options) =>
        options.Where(o => o.MeetsDeadline).MinBy(o => o.TotalUsd);

    private static CostOption? OnPrem(PlanningCatalog catalog, Accelerator accelerator, int gpus, double wallHours)
    {
        if (!catalog.Servers.TryGetValue(accelerator.Name, out var server) || server.ServerUsd.Value is not { } serverUsd || serverUsd <= 0)
        {
            return null;
        }

        var model = catalog.OnPrem;
        var power = Power(catalog, accelerator, gpus, wallHours, null);
        var capex = power.Servers * (serverUsd + model.NetworkUsdPerNode.Required);
        var years = model.AmortisationYears.Required;
        var amortised = capex * wallHours / (years * Numbers.HoursPerYear);
        var energyUsd = power.EnergyMwh * 1000 * model.PowerUsdPerKwh.Required;
        var staff = power.Racks * model.StaffUsdPerRackYear.Required * wallHours / Numbers.HoursPerYear;
        var total = amortised + energyUsd + staff;
        return new CostOption(
            "on-prem amortised", "on-prem", $"{power.Servers} servers", Numbers.Round(total), Numbers.Round(total / (gpus * wallHours)),
            Numbers.Round(wallHours / 24), true, server.ServerUsd.Source, server.ServerUsd.Date,
            $"capex ${Numbers.Round(capex):N0} over {years} years: ${Numbers.Round(amortised):N0} amortised + ${Numbers.Round(energyUsd):N0} energy + ${Numbers.Round(staff):N0} staff");
    }

    /// <summary>
    /// Servers, racks, draw and energy. A server draws <c>serverKw</c> at most (catalog; else 1.6 x the
    /// GPUs' TDP, the DGX A100/H100 ratio of system to GPU power) and the average-draw fraction of that while
    /// training; the facility multiplies by PUE.
    /// </summary>
    public static PowerPlan Power(PlanningCatalog catalog, Accelerator accelerator, int gpus, double wallHours, double? gridKgCo2PerKwh)
    {
        var perServer = (int)accelerator.GpusPerServer.Required;
        var servers = (int)Math.Ceiling(gpus / (double)perServer);
        var serverKw = catalog.Servers.TryGetValue(accelerator.Name, out var server) && server.ServerKw.Value is > 0
            ? server.ServerKw.Required
            : perServer * accelerator.TdpW.Required * 1.6 / 1000;
        var model = catalog.OnPrem;
        var itKw = servers * serverKw;
        var facilityKw = itKw * model.Pue.Required;
        var perRack = Math.Max(1, (int)Math.Floor(model.RackKwLimit.Required / serverKw));
        var racks = (int)Math.Ceiling(servers / (double)perRack);
        var energyMwh = itKw * model.AverageDrawFraction.Required * model.Pue.Required * wallHours / 1000;
        var grid = gridKgCo2PerKwh ?? model.GridKgCo2PerKwh.Required;
        return new PowerPlan(servers, Numbers.Round(itKw), Numbers.Round(facilityKw), racks, Numbers.Round(energyMwh), Numbers.Round(energyMwh * grid), grid);
    }
}
