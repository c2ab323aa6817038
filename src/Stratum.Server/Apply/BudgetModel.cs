using System.Globalization;
using Stratum.Core;
using Stratum.Core.Cluster;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Stratum.Server.Apply;

/// <summary>
/// A project's <c>budget:</c> in infra.yaml, checked field by field. Errors carry the field path
/// (<c>projects[1].budget.thresholds[2]</c>) and the line it is on, so a person can go straight to it.
/// </summary>
/// <example>
/// <code>
/// projects:
///   - name: vision
///     budget: { monthly: 5000, currency: USD, thresholds: [0.5, 0.8, 1.0] }
/// </code>
/// </example>
public static class BudgetModel
{
    public const decimal MaxMonthly = 1_000_000_000m;

    public static Budget? ToBudget(InfraDocument.BudgetEntry entry, string field, Func<string, int?> lineOf, List<ValidationError> errors)
    {
        var before = errors.Count;
        void Error(string path, string message)
        {
            var line = lineOf(path);
            errors.Add(new(path, line is { } l ? $"line {l}: {message}" : message));
        }

        if (entry.Monthly is not { } monthly)
        {
            Error($"{field}.monthly", "is required: the amount the project may spend per calendar month, for example 5000");
        }
        else if (monthly <= 0 || monthly > MaxMonthly)
        {
            Error($"{field}.monthly", $"{monthly.ToString(CultureInfo.InvariantCulture)} must be above 0 and at most {MaxMonthly.ToString(CultureInfo.InvariantCulture)}");
        }

        var currency = entry.Currency ?? "USD";
        if (currency.Length != 3 || !currency.All(char.IsAsciiLetterUpper))
        {
            Error($"{field}.currency", $"'{currency}' is not a currency code; write three capital letters such as USD or EUR, as in the pools' prices");
        }

        var thresholds = entry.Thresholds ?? [.. Budget.DefaultThresholds];
        if (thresholds.Count == 0)
        {
            Error($"{field}.thresholds", "must list at least one fraction, for example [0.5, 0.8, 1.0]");
        }

        for (var i = 0; i < thresholds.Count; i++)
        {
            if (thresholds[i] is <= 0 or > 10)
            {
                Error($"{field}.thresholds[{i}]", $"{thresholds[i].ToString(CultureInfo.InvariantCulture)} is not a fraction of the budget above 0 and at most 10 (1.0 is the whole budget)");
            }
            else if (i > 0 && thresholds[i] <= thresholds[i - 1])
            {
                Error($"{field}.thresholds[{i}]", "thresholds must be listed in increasing order, each once");
            }
        }

        return errors.Count > before ? null : new Budget { Monthly = entry.Monthly!.Value, Currency = currency, Thresholds = thresholds };
    }

    /// <summary>
    /// Finds the line of a field path such as <c>projects[1].budget.monthly</c> in the YAML text, or of the
    /// nearest part of it that exists; null when the text cannot be read as YAML.
    /// </summary>
    public static Func<string, int?> LineFinder(string yaml)
    {
        YamlNode? root = null;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            root = stream.Documents.Count > 0 ? stream.Documents[0].RootNode : null;
        }
        catch (YamlException)
        {
            // The typed reader has already accepted this text; without a tree, errors simply carry no line.
        }

        return path =>
        {
            if (root is null)
            {
                return null;
            }

            var node = root;
            foreach (var part in path.Replace("[", ".[", StringComparison.Ordinal).Split('.', StringSplitOptions.RemoveEmptyEntries))
            {
                YamlNode? next = null;
                if (part.StartsWith('[') && node is YamlSequenceNode sequence
                    && int.TryParse(part.AsSpan(1, part.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                    && index < sequence.Children.Count)
                {
                    next = sequence.Children[index];
                }
                else if (node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(part), out var child))
                {
                    next = child;
                }

                if (next is null)
                {
                    break;
                }

                node = next;
            }

            return (int)node.Start.Line;
        };
    }
}
