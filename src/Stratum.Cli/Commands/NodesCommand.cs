using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stratum.Client.Contracts;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum nodes</c> (a table of every node) and <c>stratum nodes show NAME</c>.</summary>
public static class NodesCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var command = new Command("nodes", "List the nodes: what each has and what is free");
        command.WithAction(environment, async run =>
        {
            var nodes = await run.Client.ListNodesAsync(run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(nodes);
                return ExitCodes.Ok;
            }

            if (nodes.Count == 0)
            {
                run.Terminal.Note($"no nodes; declare some in an infra.yaml and run {run.Terminal.InvokedAs} apply -f infra.yaml");
                return ExitCodes.Ok;
            }

            run.Terminal.Result(Table(nodes));
            return ExitCodes.Ok;
        });

        var name = new Argument<string>("name") { Description = "The node's name" };
        var show = new Command("show", "Show one node, its accelerators and labels") { name };
        show.WithAction(environment, async run =>
        {
            var node = await run.Client.GetNodeAsync(run.Get(name)!, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(node);
                return ExitCodes.Ok;
            }

            run.Terminal.Result(Table([node]));
            run.Terminal.Result(Format.Details(
            [
                ("state reason", Format.Cell(node.StateReason)),
                ("capacity", Format.Cell(Format.Resources(node.Capacity))),
                ("allocatable", Format.Cell(Format.Resources(node.Allocatable))),
                ("allocated", Format.Cell(Format.Resources(node.Allocated))),
                ("labels", Format.Cell(string.Join(", ", node.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")))),
            ]));
            if (node.Accelerators.Count > 0)
            {
                var table = Format.Table("INDEX", "TYPE", "MODEL", "MEMORY", "UUID");
                foreach (var device in node.Accelerators.OrderBy(a => a.Index))
                {
                    table.AddRow(
                        device.Index.ToString(CultureInfo.InvariantCulture),
                        Format.Cell(device.Type),
                        Format.Cell(device.Model),
                        Core.Resources.Quantity.FormatMemory(device.MemoryBytes),
                        Format.Cell(device.Uuid));
                }

                run.Terminal.Result(table);
            }

            return ExitCodes.Ok;
        });
        command.Subcommands.Add(show);
        return command;
    }

    public static Table Table(IEnumerable<NodeDto> nodes)
    {
        var table = Format.Table("NAME", "POOL", "STATE", "CPU FREE/TOTAL", "MEMORY FREE/TOTAL", "GPUS FREE/TOTAL", "JOBS");
        foreach (var node in nodes.OrderBy(n => n.Pool, StringComparer.Ordinal).ThenBy(n => n.Name, StringComparer.Ordinal))
        {
            table.AddRow(
                Format.Cell(node.Name),
                Format.Cell(node.Pool),
                Format.State(node.State),
                Format.FreeOfTotalCpu(node.Allocatable.CpuMillis - node.Allocated.CpuMillis, node.Allocatable.CpuMillis),
                Format.FreeOfTotalMemory(node.Allocatable.MemoryBytes - node.Allocated.MemoryBytes, node.Allocatable.MemoryBytes),
                Markup.Escape(Format.FreeOfTotalAccelerators(node)),
                node.RunningJobs.ToString(CultureInfo.InvariantCulture));
        }

        return table;
    }
}
