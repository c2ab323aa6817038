using System.Globalization;
using System.Text.Json.Serialization;

namespace Stratum.Planning;

/// <summary>
/// One number from a catalog with where it came from and when. A null <see cref="Value"/> means the
/// part has no such mode (an A100 has no FP8) or the figure is unknown (no spot price).
/// </summary>
public sealed record Figure(double? Value, string Source, string Date)
{
    public bool HasValue => Value is not null;

    /// <summary>The value, for figures the loader has already checked are present and positive.</summary>
    /// <remarks>Not serialised: a catalog lists figures without values (an A100's FP8), and reading this would throw.</remarks>
    [JsonIgnore]
    public double Required => Value ?? throw new InvalidOperationException($"figure from '{Source}' has no value");

    public override string ToString() =>
        Value is null ? "n/a" : Value.Value.ToString("0.###", CultureInfo.InvariantCulture);
}
