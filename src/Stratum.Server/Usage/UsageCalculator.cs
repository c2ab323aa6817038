using Stratum.Core.Cluster;
using Stratum.Core.Jobs;

namespace Stratum.Server.Usage;

public enum UsageGrouping
{
    Project,
    User,
    Pool,
    Job,
    Day,
}

/// <summary>One replica's use over one stretch of time, already clipped to the window and to one UTC day.</summary>
public sealed record UsageSlice(Job Job, string Pool, DateTimeOffset Day, double Hours, double GpuHours, double CpuHours, double MemoryGbHours, decimal Cost, string Currency);

/// <summary>
/// Accounting from job attempts: each replica holds its resources from its attempt's start to its end
/// (or to <c>now</c> while it runs), on a node of a pool whose price model turns hours into money.
/// Pure: the same jobs, nodes, pools and instants give the same answer. Memory is counted in GiB, as
/// cloud prices are. Usage is split at UTC midnight so that a day's row holds only that day.
/// </summary>
public static class UsageCalculator
{
    private const double BytesPerGib = 1024.0 * 1024 * 1024;

    public static IReadOnlyList<UsageSlice> Slices(
        IEnumerable<Job> jobs, IReadOnlyDictionary<string, string> poolOfNode, IReadOnlyDictionary<string, Pool> pools, DateTimeOffset since, DateTimeOffset until)
    {
        var slices = new List<UsageSlice>();
        foreach (var job in jobs)
        {
            foreach (var attempt in job.Attempts)
            {
                var start = attempt.StartedAt > since ? attempt.StartedAt : since;
                var end = attempt.EndedAt ?? until;
                end = end < until ? end : until;
                if (end <= start)
                {
                    continue;
                }

                foreach (var replica in attempt.Placement)
                {
                    // A node deleted since still has its usage counted, at no price.
                    var poolName = poolOfNode.GetValueOrDefault(replica.Node, "unknown");
                    var price = pools.GetValueOrDefault(poolName)?.Price ?? PriceModel.Free;
                    for (var from = start; from < end;)
                    {
                        var midnight = new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero).AddDays(1);
                        var to = midnight < end ? midnight : end;
                        var hours = (to - from).TotalHours;
                        var gpuHours = job.Spec.Resources.AcceleratorCount * hours;
                        var cpuHours = job.Spec.Resources.CpuMillis / 1000.0 * hours;
                        var memoryGbHours = job.Spec.Resources.MemoryBytes / BytesPerGib * hours;
                        var cost = (decimal)gpuHours * price.PerAcceleratorHour + (decimal)cpuHours * price.PerCpuCoreHour + (decimal)memoryGbHours * price.PerMemoryGbHour;
                        slices.Add(new UsageSlice(job, poolName, new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero), hours, gpuHours, cpuHours, memoryGbHours, cost, price.Currency));
                        from = to;
                    }
                }
            }
        }

        return slices;
    }

    /// <summary>Rows by group, largest cost first (then most GPU-hours, then key), and the total.</summary>
    public static (IReadOnlyList<Row> Rows, Row Total) Group(IReadOnlyList<UsageSlice> slices, UsageGrouping by)
    {
        string Key(UsageSlice s) => by switch
        {
            UsageGrouping.Project => s.Job.Spec.Project,
            UsageGrouping.User => s.Job.Owner,
            UsageGrouping.Pool => s.Pool,
            UsageGrouping.Job => $"{s.Job.Id} {s.Job.Spec.Name}",
            _ => s.Day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
        };

        var rows = slices.GroupBy(Key).Select(g => Sum(g.Key, g)).ToList();
        rows = by == UsageGrouping.Day
            ? [.. rows.OrderBy(r => r.Key, StringComparer.Ordinal)]
            : [.. rows.OrderByDescending(r => r.Cost).ThenByDescending(r => r.GpuHours).ThenBy(r => r.Key, StringComparer.Ordinal)];
        return (rows, Sum("total", slices));
    }

    private static Row Sum(string key, IEnumerable<UsageSlice> slices)
    {
        var list = slices.ToList();
        var currencies = list.Select(s => s.Currency).Distinct().ToList();
        return new Row(
            key,
            list.Sum(s => s.GpuHours),
            list.Sum(s => s.CpuHours),
            list.Sum(s => s.MemoryGbHours),
            list.Sum(s => s.Cost),
            currencies.Count switch { 0 => "USD", 1 => currencies[0], _ => "mixed" },
            list.Select(s => s.Job.Id).Distinct().Count());
    }

    public sealed record Row(string Key, double GpuHours, double CpuHours, double MemoryGbHours, decimal Cost, string Currency, int Jobs);
}
