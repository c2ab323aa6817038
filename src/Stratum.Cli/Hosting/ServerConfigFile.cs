using System.Globalization;
using System.Reflection;
using Stratum.Core.Resources;
using Stratum.Server;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Stratum.Cli.Hosting;

/// <summary>The outcome of reading a server config file: the options, or every problem found in it.</summary>
public sealed record ServerConfigResult(ServerOptions? Options, IReadOnlyList<string> Problems)
{
    public bool IsValid => Options is not null && Problems.Count == 0;
}

/// <summary>
/// Reads <c>stratum server --config FILE</c>: a YAML (or JSON, which YAML reads too) mapping of
/// <see cref="ServerOptions"/> property names in camelCase. Unknown keys are errors, because a typo
/// that silently keeps a default (a misspelt port) is worse than a refusal to start.
/// Durations are written as people write them ("2s", "1m30s") or as .NET does ("00:00:02").
/// </summary>
public static class ServerConfigFile
{
    private static readonly IReadOnlyDictionary<string, PropertyInfo> Settings =
        typeof(ServerOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .ToDictionary(p => char.ToLowerInvariant(p.Name[0]) + p.Name[1..], StringComparer.Ordinal);

    /// <summary>The keys a config file may use.</summary>
    public static IReadOnlyCollection<string> Keys => Settings.Keys.Order(StringComparer.Ordinal).ToList();

    public static ServerConfigResult Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new ServerConfigResult(null, [$"cannot read config file '{path}': {e.Message}"]);
        }

        var result = Parse(text, path);
        if (result.Options is { } options && !Path.IsPathRooted(options.DataDirectory))
        {
            // A relative data directory means relative to the config file, not to wherever the service manager started us.
            options.DataDirectory = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, options.DataDirectory));
        }

        if (result.Options is { } storeOptions)
        {
            // The store's paths, like the data directory, are relative to the config file.
            var configDirectory = Path.GetDirectoryName(Path.GetFullPath(path))!;
            storeOptions.StoreDirectory = storeOptions.StoreDirectory is { Length: > 0 } store && !Path.IsPathRooted(store) ? Path.GetFullPath(Path.Combine(configDirectory, store)) : storeOptions.StoreDirectory;
            storeOptions.StoreKeyFile = storeOptions.StoreKeyFile is { Length: > 0 } key && !Path.IsPathRooted(key) ? Path.GetFullPath(Path.Combine(configDirectory, key)) : storeOptions.StoreKeyFile;
        }

        return result;
    }

    public static ServerConfigResult Parse(string text, string source = "config")
    {
        var problems = new List<string>();
        var options = new ServerOptions();
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            return new ServerConfigResult(null, [$"{source}: not valid YAML or JSON at line {e.Start.Line}, column {e.Start.Column}: {e.Message}"]);
        }

        if (stream.Documents.Count == 0)
        {
            return new ServerConfigResult(options, problems);
        }

        if (stream.Documents.Count > 1)
        {
            problems.Add($"{source}: holds {stream.Documents.Count} YAML documents; write one");
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode mapping)
        {
            return new ServerConfigResult(null, [$"{source}: must be a mapping of settings ({string.Join(", ", Keys)})"]);
        }

        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? keyNode.ToString();
            var where = $"{source}:{keyNode.Start.Line}: {key}";
            if (!Settings.TryGetValue(key, out var property))
            {
                var near = Settings.Keys.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
                problems.Add(near is not null
                    ? $"{where}: unknown setting; did you mean '{near}'?"
                    : $"{where}: unknown setting; known settings are {string.Join(", ", Keys)}");
                continue;
            }

            if (valueNode is not YamlScalarNode { Value: { } value } scalar
                || (scalar.Style == YamlDotNet.Core.ScalarStyle.Plain && value is "" or "~" or "null"))
            {
                problems.Add($"{where}: needs a single value; remove the line to keep the default");
                continue;
            }

            if (TryConvert(value, property.PropertyType, out var converted, out var expected))
            {
                property.SetValue(options, converted);
            }
            else
            {
                problems.Add($"{where}: '{value}' is not {expected}");
            }
        }

        return new ServerConfigResult(problems.Count == 0 ? options : null, problems);
    }

    private static bool TryConvert(string value, Type type, out object? converted, out string expected)
    {
        converted = null;
        if (Nullable.GetUnderlyingType(type) is { } inner)
        {
            return TryConvert(value, inner, out converted, out expected);
        }

        if (type == typeof(string))
        {
            expected = "text";
            converted = value;
            return true;
        }

        if (type == typeof(int))
        {
            expected = "a whole number";
            var ok = int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number);
            converted = number;
            return ok;
        }

        if (type == typeof(long))
        {
            // The only long settings are sizes in bytes, so the memory notation is accepted too.
            expected = "a size in bytes such as 104857600 or 100Mi";
            var ok = Quantity.TryParseMemory(value, out var bytes);
            converted = bytes;
            return ok;
        }

        if (type == typeof(bool))
        {
            expected = "true or false";
            var ok = bool.TryParse(value, out var flag);
            converted = flag;
            return ok;
        }

        if (type == typeof(TimeSpan))
        {
            expected = "a duration such as 2s, 500ms or 1m30s";
            if (Quantity.TryParseDuration(value, out var duration) || TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out duration))
            {
                converted = duration;
                return true;
            }

            return false;
        }

        if (type == typeof(double))
        {
            expected = "a number";
            var ok = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number);
            converted = number;
            return ok;
        }

        if (type.IsEnum)
        {
            expected = $"one of {string.Join(", ", Enum.GetNames(type))}";
            var ok = Enum.TryParse(type, value, ignoreCase: true, out var member) && Enum.IsDefined(type, member!);
            converted = member;
            return ok;
        }

        expected = $"supported in a config file (type {type.Name})";
        return false;
    }
}
