using System.Globalization;
using Stratum.Core.Resources;

namespace Stratum.Scheduling.Placement;

/// <summary>The words that pending reasons and submit-time errors share.</summary>
internal static class Describe
{
    /// <summary>A resource dimension: "cpu", "memory" or an accelerator type.</summary>
    public static long Amount(ResourceVector vector, string dimension) => dimension switch
    {
        "cpu" => vector.CpuMillis,
        "memory" => vector.MemoryBytes,
        _ => vector.AcceleratorsOf(dimension),
    };

    /// <summary>"cpu 2, memory 4Gi, nvidia-h100 4" for the given dimensions, in the given order.</summary>
    public static string Dimensions(IEnumerable<string> dimensions, Func<string, long> amount) =>
        string.Join(", ", dimensions.Select(d => d switch
        {
            "cpu" => $"cpu {Quantity.FormatCpu(amount(d))}",
            "memory" => $"memory {Quantity.FormatMemory(amount(d))}",
            _ => $"{d} {amount(d).ToString(CultureInfo.InvariantCulture)}",
        }));

    /// <summary>The dimensions a replica asks for: cpu, memory, then accelerator types in ordinal order.</summary>
    public static IEnumerable<string> Requested(ResourceVector replica)
    {
        if (replica.CpuMillis > 0)
        {
            yield return "cpu";
        }

        if (replica.MemoryBytes > 0)
        {
            yield return "memory";
        }

        foreach (var type in replica.Accelerators.Keys)
        {
            yield return type;
        }
    }

    /// <summary>What <paramref name="node"/> has free in one dimension, never below zero (an over-committed snapshot can say less).</summary>
    public static long Free(NodeFree node, string dimension) => Math.Max(0, dimension switch
    {
        "cpu" => node.CpuMillis,
        "memory" => node.MemoryBytes,
        _ => node.FreeAccelerators(dimension),
    });

    /// <summary>
    /// The node that comes closest to holding <paramref name="replica"/> in <paramref name="dimensions"/>:
    /// the one whose worst dimension covers the largest fraction of the need; ties go to the first name.
    /// </summary>
    public static NodeFree? Closest(IEnumerable<NodeFree> nodes, ResourceVector replica, IReadOnlyList<string> dimensions)
    {
        NodeFree? best = null;
        var bestCover = double.NegativeInfinity;
        foreach (var node in nodes)
        {
            var cover = double.PositiveInfinity;
            foreach (var dimension in dimensions)
            {
                var need = Amount(replica, dimension);
                if (need > 0)
                {
                    cover = Math.Min(cover, (double)Free(node, dimension) / need);
                }
            }

            if (best is null || cover > bestCover)
            {
                best = node;
                bestCover = cover;
            }
        }

        return best;
    }

    /// <summary>"7, 9".</summary>
    public static string Ids(IEnumerable<long> ids) =>
        string.Join(", ", ids.Order().Select(id => id.ToString(CultureInfo.InvariantCulture)));
}
