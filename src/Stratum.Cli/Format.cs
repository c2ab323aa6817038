using System.Globalization;
using Spectre.Console;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Core.Resources;

namespace Stratum.Cli;

/// <summary>How quantities, times and states read in tables: "cpu 2, memory 4Gi, nvidia-h100 2", "3m12s ago".</summary>
public static class Format
{
    public static string Resources(JobResourcesDto resources)
    {
        var parts = new List<string> { $"cpu {resources.Cpu}", $"memory {resources.Memory}" };
        parts.AddRange(resources.Accelerators.Where(a => a.Value > 0).OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key} {a.Value}"));
        return string.Join(", ", parts);
    }

    public static string Quota(QuotaDto? quota)
    {
        if (quota is null)
        {
            return "none";
        }

        var parts = new List<string>();
        if (quota.Cpu is not null)
        {
            parts.Add($"cpu {quota.Cpu}");
        }

        if (quota.Memory is not null)
        {
            parts.Add($"memory {quota.Memory}");
        }

        if (quota.Gpus is not null)
        {
            parts.Add($"gpus {quota.Gpus}");
        }

        parts.AddRange((quota.Accelerators ?? new Dictionary<string, int>()).OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key} {a.Value}"));
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    public static string Duration(TimeSpan duration) => Quantity.FormatDuration(duration);

    public static string Ago(DateTimeOffset at, DateTimeOffset now) => Quantity.FormatDuration(now - at < TimeSpan.Zero ? TimeSpan.Zero : now - at) + " ago";

    public static string Time(DateTimeOffset? at) =>
        at is null ? "-" : at.Value.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>"1.5/2": free of total CPUs.</summary>
    public static string FreeOfTotalCpu(long freeMillis, long totalMillis) =>
        $"{Quantity.FormatCpu(Math.Max(0, freeMillis))}/{Quantity.FormatCpu(totalMillis)}";

    public static string FreeOfTotalMemory(long freeBytes, long totalBytes) =>
        $"{Quantity.FormatMemory(Math.Max(0, freeBytes))}/{Quantity.FormatMemory(totalBytes)}";

    /// <summary>"nvidia-h100 6/8, amd-mi300x 2/2" or "-".</summary>
    public static string FreeOfTotalAccelerators(NodeDto node)
    {
        var types = node.Allocatable.Accelerators.Where(a => a.Value > 0).OrderBy(a => a.Key, StringComparer.Ordinal).ToList();
        if (types.Count == 0)
        {
            return "-";
        }

        return string.Join(", ", types.Select(t =>
            $"{t.Key} {Math.Max(0, t.Value - node.Allocated.Accelerators.GetValueOrDefault(t.Key))}/{t.Value}"));
    }

    /// <summary>A job state coloured for a terminal (colour is dropped elsewhere).</summary>
    public static string State(string state)
    {
        var colour = state switch
        {
            JobStates.Pending => "yellow",
            JobStates.Running => "deepskyblue1",
            JobStates.Succeeded => "green",
            JobStates.Failed => "red",
            JobStates.Cancelled => "grey",
            JobStates.Preempted => "darkorange",
            "Ready" => "green",
            "Draining" => "yellow",
            "Down" => "red",
            _ => "default",
        };
        return $"[{colour}]{Markup.Escape(state)}[/]";
    }

    public static string Action(string action) => action switch
    {
        "create" => "[green]create[/]",
        "update" => "[yellow]update[/]",
        "unchanged" => "[grey]unchanged[/]",
        _ => Markup.Escape(action),
    };

    public static string Cell(string? text) => string.IsNullOrEmpty(text) ? "-" : Markup.Escape(text);

    public static Table Table(params string[] headers)
    {
        var table = new Table().Border(TableBorder.Simple).BorderColor(Color.Grey);
        foreach (var header in headers)
        {
            table.AddColumn(new TableColumn($"[bold]{Markup.Escape(header)}[/]").NoWrap());
        }

        return table;
    }

    /// <summary>A two-column key/value grid for "show" commands.</summary>
    public static Grid Details(IEnumerable<(string Key, string Markup)> rows)
    {
        var grid = new Grid().AddColumn(new GridColumn().NoWrap().PadRight(2)).AddColumn();
        foreach (var (key, markup) in rows)
        {
            grid.AddRow($"[bold]{Markup.Escape(key)}[/]", markup);
        }

        return grid;
    }
}
