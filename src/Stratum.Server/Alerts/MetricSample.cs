using System.Globalization;

namespace Stratum.Server.Alerts;

/// <summary>One series at one instant: a metric name, its labels (sorted by name) and a value.</summary>
public sealed record MetricSample(string Name, IReadOnlyList<KeyValuePair<string, string>> Labels, double Value)
{
    public string? Label(string name)
    {
        foreach (var (key, value) in Labels)
        {
            if (key == name)
            {
                return value;
            }
        }

        return null;
    }
}

/// <summary>
/// Reads the Prometheus text exposition format back into samples. The alert loop evaluates rules
/// over exactly what /metrics serves, so a rule means the same here as in the exported Prometheus
/// rule file.
/// </summary>
public static class PrometheusText
{
    public static IReadOnlyList<MetricSample> Parse(string text)
    {
        var samples = new List<MetricSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var position = 0;
            while (position < line.Length && line[position] != '{' && line[position] != ' ')
            {
                position++;
            }

            var name = line[..position];
            var labels = new List<KeyValuePair<string, string>>();
            if (position < line.Length && line[position] == '{')
            {
                position = ReadLabels(line, position + 1, labels);
            }

            var rest = line[position..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (name.Length == 0 || rest.Length == 0 || !TryParseValue(rest[0], out var value))
            {
                continue;
            }

            labels.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
            samples.Add(new MetricSample(name, labels, value));
        }

        return samples;
    }

    private static int ReadLabels(string line, int position, List<KeyValuePair<string, string>> labels)
    {
        while (position < line.Length && line[position] != '}')
        {
            var equals = line.IndexOf('=', position);
            if (equals < 0)
            {
                return line.Length;
            }

            var key = line[position..equals].Trim().TrimStart(',').Trim();
            position = equals + 2;
            var value = new System.Text.StringBuilder();
            while (position < line.Length && line[position] != '"')
            {
                if (line[position] == '\\' && position + 1 < line.Length)
                {
                    position++;
                    value.Append(line[position] == 'n' ? '\n' : line[position]);
                }
                else
                {
                    value.Append(line[position]);
                }

                position++;
            }

            labels.Add(new(key, value.ToString()));
            position++;
            while (position < line.Length && (line[position] == ',' || line[position] == ' '))
            {
                position++;
            }
        }

        return Math.Min(position + 1, line.Length);
    }

    private static bool TryParseValue(string text, out double value)
    {
        switch (text)
        {
            case "+Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            case "NaN":
                value = double.NaN;
                return true;
            default:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }
}
