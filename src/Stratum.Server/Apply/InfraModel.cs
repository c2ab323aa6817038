using Stratum.Client.Contracts;
using Stratum.Core;
using Stratum.Core.Cluster;
using Stratum.Core.Resources;

namespace Stratum.Server.Apply;

/// <summary>Builds domain pools and nodes from their declared form (REST body or infra.yaml), collecting every problem.</summary>
public static class InfraModel
{
    public static (Pool? Pool, List<ValidationError> Errors) ToPool(string name, PoolDto dto, Pool? existing, string field, DateTimeOffset now)
    {
        var errors = new List<ValidationError>();
        var prefix = field.Length == 0 ? "" : field + ".";
        if (Names.Problem(name) is { } problem)
        {
            errors.Add(new($"{prefix}name", problem));
        }

        var kind = PoolKind.OnPrem;
        if (dto.Kind is { } kindText)
        {
            switch (kindText.ToLowerInvariant())
            {
                case "on-prem" or "onprem":
                    kind = PoolKind.OnPrem;
                    break;
                case "cloud":
                    kind = PoolKind.Cloud;
                    break;
                case "edge":
                    kind = PoolKind.Edge;
                    break;
                default:
                    errors.Add(new($"{prefix}kind", $"'{kindText}' is not a pool kind; use on-prem, cloud or edge"));
                    break;
            }
        }

        var pricing = PricingKind.OnDemand;
        if (dto.Price?.Model is { } modelText)
        {
            switch (modelText.ToLowerInvariant())
            {
                case "on-demand" or "ondemand":
                    pricing = PricingKind.OnDemand;
                    break;
                case "spot":
                    pricing = PricingKind.Spot;
                    break;
                case "reserved":
                    pricing = PricingKind.Reserved;
                    break;
                default:
                    errors.Add(new($"{prefix}price.model", $"'{modelText}' is not a price model; use on-demand, spot or reserved"));
                    break;
            }
        }

        foreach (var (priceField, value) in new[] { ("gpuHour", dto.Price?.GpuHour), ("cpuCoreHour", dto.Price?.CpuCoreHour), ("memoryGbHour", dto.Price?.MemoryGbHour) })
        {
            if (value is < 0 or > 100_000)
            {
                errors.Add(new($"{prefix}price.{priceField}", "must be between 0 and 100000 per hour"));
            }
        }

        var executor = dto.Executor ?? Pool.LocalExecutor;
        if (Execution.ExecutorSpec.Parse(executor, out var executorProblem) is null)
        {
            errors.Add(new($"{prefix}executor", executorProblem!));
        }

        if (errors.Count > 0)
        {
            return (null, errors);
        }

        return (new Pool
        {
            Name = name,
            Kind = kind,
            Executor = executor,
            Price = new PriceModel(pricing, dto.Price?.GpuHour ?? 0, dto.Price?.CpuCoreHour ?? 0, dto.Price?.MemoryGbHour ?? 0, dto.Price?.Currency ?? "USD"),
            CreatedAt = existing?.CreatedAt ?? now,
        }, errors);
    }

    public static (Node? Node, List<ValidationError> Errors) ToNode(string name, NodeSpecDto dto, Node? existing, IReadOnlyList<Pool> pools, string field, DateTimeOffset now)
    {
        var errors = new List<ValidationError>();
        var prefix = field.Length == 0 ? "" : field + ".";
        if (Names.Problem(name) is { } problem)
        {
            errors.Add(new($"{prefix}name", problem));
        }

        var pool = dto.Pool ?? existing?.Pool;
        if (pool is null)
        {
            errors.Add(new($"{prefix}pool", "is required"));
        }
        else if (pools.All(p => p.Name != pool))
        {
            errors.Add(new($"{prefix}pool", $"no pool named '{pool}'; declare it under 'pools' first"));
        }

        var cpu = existing?.Capacity.CpuMillis ?? 0;
        if (dto.Cpu is { } cpuText && (!Quantity.TryParseCpu(cpuText, out cpu) || cpu <= 0))
        {
            errors.Add(new($"{prefix}cpu", $"'{cpuText}' is not a positive CPU amount"));
        }
        else if (dto.Cpu is null && existing is null)
        {
            errors.Add(new($"{prefix}cpu", "is required"));
        }

        var memory = existing?.Capacity.MemoryBytes ?? 0;
        if (dto.Memory is { } memoryText && (!Quantity.TryParseMemory(memoryText, out memory) || memory <= 0))
        {
            errors.Add(new($"{prefix}memory", $"'{memoryText}' is not a positive memory amount"));
        }
        else if (dto.Memory is null && existing is null)
        {
            errors.Add(new($"{prefix}memory", "is required"));
        }

        var devices = existing?.Accelerators ?? [];
        if (dto.Accelerators is { } declared)
        {
            var list = new List<AcceleratorDevice>();
            foreach (var (type, count) in declared)
            {
                if (Names.Problem(type) is { } typeProblem)
                {
                    errors.Add(new($"{prefix}accelerators", $"type {typeProblem}"));
                }
                else if (count is < 0 or > 1024)
                {
                    errors.Add(new($"{prefix}accelerators.{type}", "must be between 0 and 1024"));
                }
                else
                {
                    // Keep discovered details (model, memory, UUID) when the declaration only restates the count.
                    var known = (existing?.Accelerators ?? []).Where(a => a.Type == type).ToList();
                    for (var i = 0; i < count; i++)
                    {
                        list.Add(i < known.Count ? known[i] with { Index = list.Count } : new AcceleratorDevice(list.Count, type, type, 0));
                    }
                }
            }

            devices = list;
        }

        var state = existing?.State ?? NodeState.Ready;
        if (dto.State is { } stateText && !Enum.TryParse(stateText, ignoreCase: true, out state))
        {
            errors.Add(new($"{prefix}state", $"'{stateText}' is not a node state; use Ready, Draining or Down"));
        }

        var labels = new Dictionary<string, string>(dto.Labels ?? existing?.Labels ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        foreach (var key in labels.Keys)
        {
            if (string.IsNullOrWhiteSpace(key) || key.Length > 63)
            {
                errors.Add(new($"{prefix}labels", $"label key '{key}' must be 1 to 63 characters"));
            }
        }

        if (errors.Count > 0)
        {
            return (null, errors);
        }

        labels[NodeLabels.Pool] = pool!;
        var capacity = new ResourceVector(cpu, memory, devices.GroupBy(d => d.Type).Select(g => new KeyValuePair<string, int>(g.Key, g.Count())));
        return (new Node
        {
            Name = name,
            Pool = pool!,
            Capacity = capacity,
            Allocatable = capacity,
            Labels = labels,
            Accelerators = devices,
            State = state,
            StateReason = state == NodeState.Ready ? null : existing?.StateReason ?? "set by an admin",
            UpdatedAt = now,
        }, errors);
    }
}
