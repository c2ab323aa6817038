using Stratum.Core;
using Stratum.Planning;

namespace Stratum.Server.Api;

/// <summary>
/// The capacity and cost planner over HTTP: the same library and catalogs as <c>stratum plan</c>.
/// Planning reads nothing and changes nothing, so any signed-in caller may plan.
/// </summary>
public static class PlanApi
{
    public static void MapPlan(this IEndpointRouteBuilder routes)
    {
        var plan = routes.MapGroup("/api/v1/plan").WithTags("Plan");
        plan.MapPost("/train", (HttpRequest request, CancellationToken cancellationToken) => TrainAsync(request, null, cancellationToken)).WithName("PlanTrain");
        plan.MapPost("/finetune", (HttpRequest request, CancellationToken cancellationToken) => TrainAsync(request, TrainingMethod.Lora, cancellationToken)).WithName("PlanFinetune");
        plan.MapPost("/serve", ServeAsync).WithName("PlanServe");
        plan.MapGet("/catalog", () => Results.Ok(new
        {
            accelerators = CatalogLoader.Default.Accelerators.Values.OrderBy(a => a.Name, StringComparer.Ordinal),
            offers = CatalogLoader.Default.Offers,
            onPrem = CatalogLoader.Default.OnPrem,
            servers = CatalogLoader.Default.Servers.Values,
        })).WithName("PlanCatalog");
        plan.MapGet("/validation", () => Results.Ok(Validation.Run(CatalogLoader.Default))).WithName("PlanValidation");
    }

    private static async Task<IResult> TrainAsync(HttpRequest http, TrainingMethod? fineTune, CancellationToken cancellationToken)
    {
        var (body, error) = await Json.ReadAsync<TrainPlanBody>(http, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        var errors = new List<ValidationError>();
        var method = fineTune is null ? TrainingMethod.Pretrain : ParseMethod(body.Method, errors);
        var request = new TrainingRequest
        {
            Model = body.Model(),
            Tokens = Required(body.Tokens, "tokens", errors),
            Gpu = body.Gpu ?? Missing("gpu", errors),
            Gpus = body.Gpus,
            DeadlineDays = body.DeadlineDays,
            Precision = ParsePrecision(body.Precision, errors),
            Method = method,
            LoraRank = body.LoraRank ?? 16,
            SequenceLength = body.SeqLen ?? 2048,
            GlobalBatchTokens = body.BatchTokens ?? 4_194_304,
            Flops = body.Flops,
            ZeroStage = body.Zero ?? 1,
            Recompute = ParseRecompute(body.Recompute, errors),
            TensorParallel = body.Tp,
            PipelineParallel = body.Pp,
            InterNodeGBpsPerGpu = body.InterNodeGbps ?? 50,
            CheckpointIntervalHours = body.CheckpointIntervalHours ?? 1,
            GridKgCo2PerKwh = body.GridIntensity,
            ExpertParallel = body.ExpertParallel,
            ExpertCopiesPerToken = body.ExpertCopies ?? 2,
            MoeLayers = body.MoeLayers,
            ExpertAllToAllOverlap = body.ExpertOverlap ?? 0,
        };
        if (errors.Count > 0)
        {
            // Report every problem at once: the planner's own checks too, minus fields already named.
            errors.AddRange(ForRest(request.Validate()).Where(e => errors.TrueForAll(x => x.Field != e.Field)));
            return Problems.Validation(errors);
        }

        var result = new TrainingPlanner(CatalogLoader.Default).Plan(request);
        return result.Plan is { } plan ? Results.Ok(plan) : Problems.Validation(ForRest(result.Errors));
    }

    private static async Task<IResult> ServeAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        var (body, error) = await Json.ReadAsync<ServePlanBody>(http, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        var errors = new List<ValidationError>();
        var request = new ServingRequest
        {
            Model = body.Model(),
            Gpu = body.Gpu ?? Missing("gpu", errors),
            Gpus = body.Gpus,
            Precision = ParsePrecision(body.Precision, errors),
            InputTokens = body.InputTokens ?? (int)Required(null, "inputTokens", errors),
            OutputTokens = body.OutputTokens ?? (int)Required(null, "outputTokens", errors),
            RequestsPerSecond = body.RequestsPerSecond,
            Concurrency = body.Concurrency,
            TimeToFirstTokenMs = body.TtftMs,
            TimePerOutputTokenMs = body.TpotMs,
        };
        if (errors.Count > 0)
        {
            // Report every problem at once: the planner's own checks too, minus fields already named.
            errors.AddRange(ForRest(request.Validate()).Where(e => errors.TrueForAll(x => x.Field != e.Field)));
            return Problems.Validation(errors);
        }

        var result = new ServingPlanner(CatalogLoader.Default).Plan(request);
        return result.Plan is { } plan ? Results.Ok(plan) : Problems.Validation(ForRest(result.Errors));
    }

    /// <summary>
    /// The planner names fields as the CLI options (input-tokens, deadline); a REST caller sent the body's
    /// camelCase names (inputTokens, deadlineDays), so the problem names those.
    /// </summary>
    private static IEnumerable<ValidationError> ForRest(IEnumerable<ValidationError> errors) => errors.Select(e => e with
    {
        Field = e.Field switch
        {
            "deadline" => "deadlineDays",
            "checkpoint-interval" => "checkpointIntervalHours",
            "inter-node-gbps" => "interNodeGbps",
            "expert-copies" => "expertCopies",
            "expert-overlap" => "expertOverlap",
            var field => string.Concat(field.Split('-').Select((part, i) => i == 0 || part.Length == 0 ? part : char.ToUpperInvariant(part[0]) + part[1..])),
        },
    });

    private static double Required(double? value, string field, List<ValidationError> errors)
    {
        if (value is null)
        {
            errors.Add(new(field, "is required"));
            return 1;
        }

        return value.Value;
    }

    private static string Missing(string field, List<ValidationError> errors)
    {
        errors.Add(new(field, "is required"));
        return "";
    }

    private static Precision ParsePrecision(string? text, List<ValidationError> errors)
    {
        if (text is not null && !Precisions.TryParse(text, out _))
        {
            errors.Add(new("precision", $"must be bf16 or fp8, not '{text}'"));
        }

        Precisions.TryParse(text, out var precision);
        return precision;
    }

    private static Recompute ParseRecompute(string? text, List<ValidationError> errors)
    {
        if (text is null)
        {
            return Recompute.Auto;
        }

        if (Enum.TryParse<Recompute>(text, ignoreCase: true, out var value) && Enum.IsDefined(value))
        {
            return value;
        }

        errors.Add(new("recompute", $"must be none, selective, full or auto, not '{text}'"));
        return Recompute.Auto;
    }

    private static TrainingMethod ParseMethod(string? text, List<ValidationError> errors)
    {
        switch (text?.ToLowerInvariant())
        {
            case null or "lora":
                return TrainingMethod.Lora;
            case "full":
                return TrainingMethod.FullFineTune;
            case "qlora":
                return TrainingMethod.Qlora;
            default:
                errors.Add(new("method", $"must be full, lora or qlora, not '{text}'"));
                return TrainingMethod.Lora;
        }
    }
}

/// <summary>The model fields shared by every plan request; names follow the CLI options in camelCase.</summary>
public abstract record ModelPlanBody
{
    public double? Params { get; init; }

    public double? ActiveParams { get; init; }

    public int? Layers { get; init; }

    public int? Hidden { get; init; }

    public int? Heads { get; init; }

    public int? KvHeads { get; init; }

    public int? Vocab { get; init; }

    public string? Gpu { get; init; }

    public int? Gpus { get; init; }

    public string? Precision { get; init; }

    public ModelSpec Model() => new()
    {
        // A missing size is caught by ModelSpec.Validate ("params: must be a positive number").
        Parameters = Params ?? 0,
        ActiveParameters = ActiveParams,
        Layers = Layers,
        Hidden = Hidden,
        Heads = Heads,
        KvHeads = KvHeads,
        Vocabulary = Vocab,
    };
}

/// <summary>POST /api/v1/plan/train and /finetune.</summary>
public sealed record TrainPlanBody : ModelPlanBody
{
    public double? Tokens { get; init; }

    public double? DeadlineDays { get; init; }

    public string? Method { get; init; }

    public int? LoraRank { get; init; }

    public int? SeqLen { get; init; }

    public double? BatchTokens { get; init; }

    public double? Flops { get; init; }

    public int? Zero { get; init; }

    public string? Recompute { get; init; }

    public int? Tp { get; init; }

    public int? Pp { get; init; }

    public double? InterNodeGbps { get; init; }

    public double? CheckpointIntervalHours { get; init; }

    public double? GridIntensity { get; init; }

    public int? ExpertParallel { get; init; }

    public int? ExpertCopies { get; init; }

    public int? MoeLayers { get; init; }

    public double? ExpertOverlap { get; init; }
}

/// <summary>POST /api/v1/plan/serve.</summary>
public sealed record ServePlanBody : ModelPlanBody
{
    public int? InputTokens { get; init; }

    public int? OutputTokens { get; init; }

    public double? RequestsPerSecond { get; init; }

    public int? Concurrency { get; init; }

    public double? TtftMs { get; init; }

    public double? TpotMs { get; init; }
}
