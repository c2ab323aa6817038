using System.Globalization;
using Stratum.Core.Resources;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Stratum.Simulation;

/// <summary>
/// Reads a simulated cluster from YAML:
/// <code>
/// nodeGroups:
///   - name: h100          # node names h100-0001, ...
///     count: 32
///     gpusPerNode: 8
///     gpuType: nvidia-h100
///     rack: r1            # optional, the nodes' rack label
///     cpus: 96            # optional
///     memory: 1Ti         # optional
/// projects:               # optional entitlement weights (default 1 each)
///   vision: 2
/// </code>
/// Every problem is reported at once, each naming its field (<c>nodeGroups[1].gpusPerNode</c>).
/// </summary>
public static class ClusterFile
{
    /// <summary>The cluster, or null with the problems.</summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static SimulatedCluster? Load(string path, out IReadOnlyList<string> problems) =>
        Parse(File.ReadAllText(path), Path.GetFileName(path), out problems);

    public static SimulatedCluster? Parse(string yaml, string fileName, out IReadOnlyList<string> problems)
    {
        var found = new List<string>();
        problems = found;
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            found.Add($"{fileName}:{e.Start.Line}: not valid YAML: {e.Message}");
            return null;
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            found.Add($"{fileName}: expected a mapping with nodeGroups");
            return null;
        }

        foreach (var key in root.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value).Where(k => k is not ("nodeGroups" or "projects")))
        {
            found.Add($"{fileName}: {key}: unknown field (expected nodeGroups, projects)");
        }

        var groups = new List<NodeGroup>();
        if (Child(root, "nodeGroups") is not YamlSequenceNode list || list.Children.Count == 0)
        {
            found.Add($"{fileName}: nodeGroups: list at least one node group");
        }
        else
        {
            for (var i = 0; i < list.Children.Count; i++)
            {
                var at = $"{fileName}: nodeGroups[{i}]";
                if (list.Children[i] is not YamlMappingNode group)
                {
                    found.Add($"{at}: expected a mapping");
                    continue;
                }

                var before = found.Count;
                var name = Text(group, "name") ?? $"group{i + 1}";
                var count = Integer(group, "count", at, found, 1, 1_000_000, required: true);
                var gpus = Integer(group, "gpusPerNode", at, found, 1, 1024, required: true);
                var type = Text(group, "gpuType") ?? SimulatedCluster.GpuType;
                var cpus = Integer(group, "cpus", at, found, 1, 1_000_000, required: false) ?? 4096;
                long memory = 1L << 50;
                if (Text(group, "memory") is { } memoryText && !Quantity.TryParseMemory(memoryText, out memory))
                {
                    found.Add($"{at}.memory: '{memoryText}' is not a size such as 512Gi");
                }

                foreach (var key in group.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value)
                    .Where(k => k is not ("name" or "count" or "gpusPerNode" or "gpuType" or "rack" or "cpus" or "memory")))
                {
                    found.Add($"{at}.{key}: unknown field (expected name, count, gpusPerNode, gpuType, rack, cpus, memory)");
                }

                if (groups.Any(g => g.Name == name))
                {
                    found.Add($"{at}.name: '{name}' names another group too");
                }

                if (found.Count == before)
                {
                    groups.Add(new NodeGroup(name, count!.Value, gpus!.Value, type, Text(group, "rack"), cpus, memory));
                }
            }
        }

        var weights = new Dictionary<string, double>(StringComparer.Ordinal);
        if (Child(root, "projects") is { } projects)
        {
            if (projects is not YamlMappingNode map)
            {
                found.Add($"{fileName}: projects: expected a mapping of project name to weight");
            }
            else
            {
                foreach (var (key, value) in map.Children)
                {
                    var project = (key as YamlScalarNode)?.Value ?? "";
                    if (value is not YamlScalarNode { Value: { } text } || !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var weight)
                        || !double.IsFinite(weight) || weight <= 0)
                    {
                        found.Add($"{fileName}: projects.{project}: the weight must be a positive number");
                        continue;
                    }

                    weights[project] = weight;
                }
            }
        }

        return found.Count > 0 ? null : SimulatedCluster.FromGroups(groups) with { ProjectWeights = weights };
    }

    private static YamlNode? Child(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static string? Text(YamlMappingNode map, string key) => (Child(map, key) as YamlScalarNode)?.Value is { Length: > 0 } text ? text : null;

    private static int? Integer(YamlMappingNode map, string key, string at, List<string> problems, int min, int max, bool required)
    {
        var text = Text(map, key);
        if (text is null)
        {
            if (required)
            {
                problems.Add($"{at}.{key}: required");
            }

            return null;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            problems.Add($"{at}.{key}: '{text}' must be a whole number from {min} to {max}");
            return null;
        }

        return value;
    }
}
