namespace Stratum.Planning;

/// <summary>
/// A transformer's size and, where known, its architecture. When only the parameter count is given
/// the architecture is derived (see <see cref="Resolve"/>) and the plan says so.
/// </summary>
public sealed record ModelSpec
{
    /// <summary>A thousand times the largest published models; beyond it derived shapes overflow.</summary>
    public const double MaxParameters = 1e15;

    /// <summary>Total parameters (all experts for a mixture of experts).</summary>
    public required double Parameters { get; init; }

    /// <summary>Parameters used per token (mixture of experts); null = dense, equal to <see cref="Parameters"/>.</summary>
    public double? ActiveParameters { get; init; }

    public int? Layers { get; init; }

    public int? Hidden { get; init; }

    public int? Heads { get; init; }

    /// <summary>Key/value heads (grouped-query attention); null = as many as <see cref="Heads"/>.</summary>
    public int? KvHeads { get; init; }

    public int? Vocabulary { get; init; }

    public IEnumerable<Core.ValidationError> Validate(string prefix = "")
    {
        if (!(Parameters > 0) || double.IsInfinity(Parameters))
        {
            yield return new(prefix + "params", "must be a positive number of parameters, for example 7e9");
        }
        else if (Parameters > MaxParameters)
        {
            yield return new(prefix + "params", $"{Parameters:0.##e0} is beyond what the planner models (at most {MaxParameters:0e0})");
        }

        if (ActiveParameters is { } active && (!(active > 0) || active > Parameters))
        {
            yield return new(prefix + "active-params", "must be positive and at most --params");
        }

        foreach (var (name, value) in new[] { ("layers", Layers), ("hidden", Hidden), ("heads", Heads), ("kv-heads", KvHeads), ("vocab", Vocabulary) })
        {
            if (value is <= 0)
            {
                yield return new(prefix + name, "must be positive");
            }
        }

        if (Heads is > 0 && KvHeads is > 0 && Heads % KvHeads != 0)
        {
            yield return new(prefix + "kv-heads", "must divide --heads");
        }

        if (Hidden is > 0 && Heads is > 0 && Hidden % Heads != 0)
        {
            yield return new(prefix + "heads", "must divide --hidden");
        }
    }

    /// <summary>
    /// Fills the missing architecture. Dense GPT-style models keep about 12·L·h² parameters in their
    /// layers and the published families hold h ≈ 128·L (GPT-3 175B: 96 x 12288; Llama-2 7B: 32 x 4096),
    /// so h = (N·128/12)^(1/3) rounded to a multiple of 128, and L from N/(12h²).
    /// </summary>
    public ResolvedModel Resolve()
    {
        var active = ActiveParameters ?? Parameters;
        var derived = new List<string>();
        var hidden = Hidden ?? 0;
        var layers = Layers ?? 0;
        if (hidden == 0 && layers > 0)
        {
            hidden = RoundTo(Math.Sqrt(active / (12.0 * layers)), 128);
            derived.Add($"hidden size {hidden} from params / (12 x layers)");
        }
        else if (hidden == 0)
        {
            // Rounded so the heads (of 128) come in multiples of 8 and tensor parallelism up to 8 divides them.
            var raw = Math.Cbrt(active * 128 / 12);
            hidden = RoundTo(raw, raw >= 2048 ? 1024 : 256);
            derived.Add($"hidden size {hidden} from params assuming hidden = 128 x layers (GPT-3/Llama shape)");
        }

        if (layers == 0)
        {
            layers = Math.Max(1, (int)Math.Round(active / (12.0 * hidden * hidden)));
            derived.Add($"{layers} layers from params / (12 x hidden^2)");
        }

        var heads = Heads ?? Math.Max(1, hidden / 128);
        if (Heads is null)
        {
            derived.Add($"{heads} attention heads of size 128");
        }

        var kvHeads = KvHeads ?? heads;
        return new ResolvedModel(Parameters, active, layers, hidden, heads, kvHeads, Vocabulary ?? 50_000, derived);
    }

    private static int RoundTo(double value, int multiple) => Math.Max(multiple, (int)Math.Round(value / multiple) * multiple);
}

/// <summary>A model with every architecture figure known; <see cref="Derived"/> lists what was guessed.</summary>
public sealed record ResolvedModel(
    double Parameters,
    double ActiveParameters,
    int Layers,
    int Hidden,
    int Heads,
    int KvHeads,
    int Vocabulary,
    IReadOnlyList<string> Derived)
{
    public int HeadDim => Hidden / Heads;

    public bool IsMixtureOfExperts => ActiveParameters < Parameters;
}
