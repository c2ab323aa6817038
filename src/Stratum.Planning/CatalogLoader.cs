using System.Text.Json;

namespace Stratum.Planning;

/// <summary>
/// Reads catalogs: the defaults embedded in this assembly, then any user files on top. A user file
/// has the same shape as a default (<c>accelerators</c>, <c>offers</c>, <c>model</c>, <c>servers</c>,
/// any subset); an accelerator or server with a known name replaces it, an offer with a known
/// provider and instance replaces it, anything else is added.
/// </summary>
public static class CatalogLoader
{
    private static readonly string[] Defaults = ["accelerators.json", "cloud-offers.json", "on-prem.json"];

    private static readonly Lazy<PlanningCatalog> Embedded = new(() => Load([]));

    /// <summary>The embedded defaults, read once.</summary>
    public static PlanningCatalog Default => Embedded.Value;

    /// <summary>The defaults with <paramref name="files"/> merged on top, in order.</summary>
    /// <exception cref="CatalogException">A file is missing, is not JSON, or a figure is malformed.</exception>
    public static PlanningCatalog Load(IEnumerable<string> files)
    {
        var builder = new Builder();
        var assembly = typeof(CatalogLoader).Assembly;
        foreach (var name in Defaults)
        {
            using var stream = assembly.GetManifestResourceStream("Stratum.Planning.Catalogs." + name)
                ?? throw new InvalidOperationException($"embedded catalog {name} is missing from the build");
            builder.Read(name, stream);
        }

        foreach (var file in files)
        {
            try
            {
                using var stream = File.OpenRead(file);
                builder.Read(file, stream);
            }
            catch (IOException e)
            {
                throw new CatalogException($"cannot read catalog {file}: {e.Message}");
            }
            catch (UnauthorizedAccessException e)
            {
                throw new CatalogException($"cannot read catalog {file}: {e.Message}");
            }
        }

        return builder.Build();
    }

    private sealed class Builder
    {
        private readonly Dictionary<string, Accelerator> _accelerators = new(StringComparer.Ordinal);
        private readonly List<CloudOffer> _offers = [];
        private readonly Dictionary<string, ServerCost> _servers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Figure> _model = new(StringComparer.Ordinal);

        public void Read(string origin, Stream stream)
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(stream, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            }
            catch (JsonException e)
            {
                throw new CatalogException($"catalog {origin} is not valid JSON: {e.Message}");
            }

            using (document)
            {
                var root = document.RootElement;
                if (root.TryGetProperty("accelerators", out var accelerators))
                {
                    foreach (var item in accelerators.EnumerateArray())
                    {
                        var a = ReadAccelerator(origin, item);
                        _accelerators[a.Name] = a;
                    }
                }

                if (root.TryGetProperty("offers", out var offers))
                {
                    foreach (var item in offers.EnumerateArray())
                    {
                        var offer = ReadOffer(origin, item);
                        _offers.RemoveAll(o => o.Provider == offer.Provider && o.Instance == offer.Instance);
                        _offers.Add(offer);
                    }
                }

                if (root.TryGetProperty("model", out var model))
                {
                    var (source, date) = Provenance(origin, model);
                    foreach (var property in model.EnumerateObject())
                    {
                        if (property.Name is not ("source" or "date"))
                        {
                            _model[property.Name] = ReadFigure(origin, property.Name, property.Value, source, date);
                        }
                    }
                }

                if (root.TryGetProperty("servers", out var servers))
                {
                    foreach (var item in servers.EnumerateArray())
                    {
                        var (source, date) = Provenance(origin, item);
                        var gpu = RequiredString(origin, item, "gpu");
                        _servers[gpu] = new ServerCost(gpu, Get(origin, item, "serverUsd", source, date), Get(origin, item, "serverKw", source, date));
                    }
                }
            }
        }

        public PlanningCatalog Build()
        {
            Figure Model(string name) => _model.TryGetValue(name, out var f) && f.Value > 0
                ? f
                : throw new CatalogException($"on-prem model figure '{name}' is missing or not positive");

            var onPrem = new OnPremModel(
                Model("amortisationYears"), Model("powerUsdPerKwh"), Model("pue"), Model("rackKwLimit"),
                Model("networkUsdPerNode"), Model("staffUsdPerRackYear"), Model("averageDrawFraction"), Model("gridKgCo2PerKwh"));
            return new PlanningCatalog(
                _accelerators.ToDictionary(StringComparer.Ordinal),
                _offers.ToList(),
                onPrem,
                _servers.ToDictionary(StringComparer.Ordinal));
        }

        private static Accelerator ReadAccelerator(string origin, JsonElement item)
        {
            var (source, date) = Provenance(origin, item);
            var name = RequiredString(origin, item, "name").ToLowerInvariant();
            Figure Positive(string field)
            {
                var figure = Get(origin, item, field, source, date);
                return figure.Value is > 0
                    ? figure
                    : throw new CatalogException($"catalog {origin}: accelerator '{name}' needs a positive {field}");
            }

            var efficiency = Positive("trainingEfficiency");
            if (efficiency.Value > 1)
            {
                throw new CatalogException($"catalog {origin}: accelerator '{name}' trainingEfficiency must be at most 1");
            }

            return new Accelerator(
                name,
                item.TryGetProperty("displayName", out var display) ? display.GetString() ?? name : name,
                Positive("bf16Tflops"),
                Get(origin, item, "fp8Tflops", source, date),
                Positive("memoryGb"),
                Positive("memoryTBps"),
                Positive("scaleUpGBps"),
                Positive("tdpW"),
                Positive("gpusPerServer"),
                efficiency);
        }

        private static CloudOffer ReadOffer(string origin, JsonElement item)
        {
            var (source, date) = Provenance(origin, item);
            var gpus = item.TryGetProperty("gpus", out var g) && g.TryGetInt32(out var count) && count > 0
                ? count
                : throw new CatalogException($"catalog {origin}: every offer needs a positive whole 'gpus'");
            return new CloudOffer(
                RequiredString(origin, item, "provider"),
                RequiredString(origin, item, "instance"),
                RequiredString(origin, item, "gpu").ToLowerInvariant(),
                gpus,
                item.TryGetProperty("region", out var region) ? region.GetString() ?? "" : "",
                Get(origin, item, "onDemand", source, date),
                Get(origin, item, "reserved1y", source, date),
                Get(origin, item, "reserved3y", source, date),
                Get(origin, item, "spot", source, date));
        }

        private static (string Source, string Date) Provenance(string origin, JsonElement item)
        {
            var source = item.TryGetProperty("source", out var s) ? s.GetString() : null;
            var date = item.TryGetProperty("date", out var d) ? d.GetString() : null;
            return (source ?? $"{origin} (no source given)", date ?? "undated");
        }

        private static string RequiredString(string origin, JsonElement item, string field) =>
            item.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text
                ? text
                : throw new CatalogException($"catalog {origin}: an entry lacks '{field}'");

        private static Figure Get(string origin, JsonElement item, string field, string source, string date) =>
            item.TryGetProperty(field, out var value)
                ? ReadFigure(origin, field, value, source, date)
                : new Figure(null, source, date);

        private static Figure ReadFigure(string origin, string field, JsonElement value, string source, string date) => value.ValueKind switch
        {
            JsonValueKind.Number => new Figure(value.GetDouble(), source, date),
            JsonValueKind.Null => new Figure(null, source, date),
            JsonValueKind.Object => new Figure(
                value.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null,
                value.TryGetProperty("source", out var s) && s.GetString() is { } own ? own : source,
                value.TryGetProperty("date", out var d) && d.GetString() is { } ownDate ? ownDate : date),
            _ => throw new CatalogException($"catalog {origin}: '{field}' must be a number, null or {{value, source, date}}"),
        };
    }
}

/// <summary>A catalog file cannot be used; the message names the file and the field.</summary>
public sealed class CatalogException(string message) : Exception(message);
