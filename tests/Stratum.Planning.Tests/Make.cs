namespace Stratum.Planning.Tests;

/// <summary>Test data builders.</summary>
internal static class Make
{
    public static PlanningCatalog Catalog => CatalogLoader.Default;

    public static ModelSpec Gpt3 => new() { Parameters = 174.6e9, Layers = 96, Hidden = 12288, Heads = 96, Vocabulary = 50_257 };

    public static ModelSpec Llama2_70B => new() { Parameters = 70e9, Layers = 80, Hidden = 8192, Heads = 64, KvHeads = 8, Vocabulary = 32_000 };

    public static TrainingRequest Train(ModelSpec? model = null, double tokens = 300e9, string gpu = "nvidia-h100-sxm", int? gpus = 512, double? deadline = null) => new()
    {
        Model = model ?? Gpt3,
        Tokens = tokens,
        Gpu = gpu,
        Gpus = gpus,
        DeadlineDays = deadline,
    };

    public static ServingRequest Serve(ModelSpec? model = null, string gpu = "nvidia-h100-sxm", int? gpus = 8, Precision precision = Precision.Bf16) => new()
    {
        Model = model ?? Llama2_70B,
        Gpu = gpu,
        Gpus = gpus,
        Precision = precision,
        InputTokens = 1000,
        OutputTokens = 1000,
    };

    public static TrainingPlan Plan(TrainingRequest request)
    {
        var result = new TrainingPlanner(Catalog).Plan(request);
        Assert.True(result.Succeeded, string.Join("; ", result.Errors));
        return result.Plan!;
    }
}
