using System.Globalization;
using Stratum.Core;

namespace Stratum.Planning;

/// <summary>An inference service to size: a model on replicas of <see cref="Gpus"/> accelerators.</summary>
public sealed record ServingRequest
{
    public required ModelSpec Model { get; init; }

    public required string Gpu { get; init; }

    /// <summary>GPUs per replica (tensor parallel); null = the fewest that hold the weights and one full context.</summary>
    public int? Gpus { get; init; }

    /// <summary>Weights and KV cache format.</summary>
    public Precision Precision { get; init; } = Precision.Bf16;

    public required int InputTokens { get; init; }

    public required int OutputTokens { get; init; }

    /// <summary>Target load; with it the plan answers how many GPUs in all.</summary>
    public double? RequestsPerSecond { get; init; }

    /// <summary>Sequences decoded together per replica; null = as many as the KV cache holds (within the latency target).</summary>
    public int? Concurrency { get; init; }

    public double? TimeToFirstTokenMs { get; init; }

    public double? TimePerOutputTokenMs { get; init; }

    public IReadOnlyList<ValidationError> Validate()
    {
        var errors = Model.Validate().ToList();
        if (Gpus is <= 0)
        {
            errors.Add(new("gpus", "must be a positive whole number"));
        }

        if (InputTokens <= 0)
        {
            errors.Add(new("input-tokens", "must be positive, for example 1000"));
        }

        if (OutputTokens <= 0)
        {
            errors.Add(new("output-tokens", "must be positive, for example 1000"));
        }

        if (RequestsPerSecond is { } rps && !Numbers.IsPositive(rps))
        {
            errors.Add(new("requests-per-second", "must be positive"));
        }

        if (Concurrency is <= 0)
        {
            errors.Add(new("concurrency", "must be positive"));
        }

        if (TimeToFirstTokenMs is { } ttft && !Numbers.IsPositive(ttft))
        {
            errors.Add(new("ttft-ms", "must be positive"));
        }

        if (TimePerOutputTokenMs is { } tpot && !Numbers.IsPositive(tpot))
        {
            errors.Add(new("tpot-ms", "must be positive"));
        }

        return errors;
    }
}

/// <summary>The answer to a serving question.</summary>
public sealed record ServingPlan(
    string Gpu,
    string Precision,
    int GpusPerReplica,
    int Replicas,
    int GpusNeeded,
    double WeightsGb,
    double KvCacheGb,
    double KvCacheGbPerSequence,
    int MaxConcurrency,
    int Concurrency,
    double TimeToFirstTokenMs,
    double TimePerOutputTokenMs,
    double OutputTokensPerSecond,
    double OutputTokensPerSecondPerReplica,
    double RequestsPerSecondPerReplica,
    double? RequestsPerSecond,
    bool MeetsLatencyTargets,
    string DecodeBound,
    PowerPlan Power,
    IReadOnlyList<CostOption> CostsPerHour,
    ResolvedModel Model,
    Working Working);

/// <summary>
/// Sizes inference. Decoding is bound by reading the weights and the KV cache from memory each step
/// (or, at large batches, by compute); prefill is bound by compute. The KV cache is what limits how
/// many sequences a replica decodes at once.
/// </summary>
public sealed class ServingPlanner(PlanningCatalog catalog)
{
    /// <summary>Share of peak HBM bandwidth decode kernels reach (vLLM / TensorRT-LLM decode is typically 70-85%).</summary>
    public const double MemoryEfficiency = 0.8;

    /// <summary>Share of dense peak prefill reaches.</summary>
    public const double ComputeEfficiency = 0.6;

    /// <summary>Per layer, two tensor-parallel all-reduces of a decode step, each about this latency on NVLink.</summary>
    public const double AllReduceLatencySeconds = 10e-6;

    public PlanResult<ServingPlan> Plan(ServingRequest request)
    {
        var errors = request.Validate();
        if (errors.Count > 0)
        {
            return PlanResult<ServingPlan>.Fail(errors);
        }

        var accelerator = catalog.Find(request.Gpu, out var unknown);
        if (accelerator is null)
        {
            return PlanResult<ServingPlan>.Fail("gpu", unknown!);
        }

        var model = request.Model.Resolve();
        var bytes = request.Precision.Bytes();
        var weightBytes = model.Parameters * bytes;
        var kvPerToken = 2.0 * model.Layers * model.KvHeads * model.HeadDim * bytes;
        var context = request.InputTokens + request.OutputTokens;
        var kvPerSequence = kvPerToken * context;
        var usablePerGpu = accelerator.MemoryGb.Required * Numbers.Giga * TrainingPlanner.UsableMemoryFraction;

        var perServer = (int)accelerator.GpusPerServer.Required;
        var gpus = request.Gpus ?? MinimumGpus(weightBytes + kvPerSequence, usablePerGpu, perServer);
        if (gpus == 0 || (weightBytes + kvPerSequence) > usablePerGpu * gpus)
        {
            var needed = Math.Ceiling((weightBytes + kvPerSequence) / usablePerGpu);
            return PlanResult<ServingPlan>.Fail("gpus",
                $"the model does not fit: {weightBytes / Numbers.Giga:0.#} GB of weights plus {kvPerSequence / Numbers.Giga:0.##} GB of KV cache for one " +
                $"{context}-token sequence need at least {needed:0} x {accelerator.Name} ({usablePerGpu / Numbers.Giga:0.#} GB usable each)" +
                (request.Gpus is null ? $", more than one {perServer}-GPU server; use a larger GPU or fp8" : "; raise --gpus, use --precision fp8 or a larger GPU"));
        }

        var kvBudget = (usablePerGpu * gpus) - weightBytes;
        var maxConcurrency = (int)Math.Min(100_000, Math.Floor(kvBudget / kvPerSequence));
        // FP8 reaches a smaller share of its doubled peak, as in training (see TrainingPlanner.Fp8RelativeEfficiency).
        var fp8 = request.Precision == Precision.Fp8 && accelerator.Supports(Precision.Fp8);
        var peak = accelerator.PeakTflops(request.Precision) * Numbers.Tera * (fp8 ? TrainingPlanner.Fp8RelativeEfficiency : 1);
        var bandwidth = accelerator.MemoryTBps.Required * Numbers.Tera * MemoryEfficiency * gpus;
        var averageContext = request.InputTokens + (request.OutputTokens / 2.0);

        // Each decode step reads every weight once and each sequence's KV cache, and does 2·N_active FLOPs per sequence.
        (double Seconds, bool MemoryBound) Step(int batch)
        {
            var memory = (weightBytes + (batch * kvPerToken * averageContext)) / bandwidth;
            var compute = 2.0 * model.ActiveParameters * batch / (gpus * peak * ComputeEfficiency);
            var sync = gpus > 1 ? 2.0 * model.Layers * AllReduceLatencySeconds : 0;
            return (Math.Max(memory, compute) + sync, memory >= compute);
        }

        var concurrency = Math.Min(request.Concurrency ?? maxConcurrency, maxConcurrency);
        if (request.Concurrency is null && request.TimePerOutputTokenMs is { } target)
        {
            while (concurrency > 1 && Step(concurrency).Seconds * 1000 > target)
            {
                concurrency = Math.Max(1, (int)(concurrency * 0.9));
            }
        }

        var warnings = new List<string>();
        if (request.Concurrency is { } asked && asked > maxConcurrency)
        {
            warnings.Add($"concurrency {asked} exceeds what the KV cache holds ({maxConcurrency}); planned at {maxConcurrency}");
        }

        var (stepSeconds, memoryBound) = Step(concurrency);
        var prefillSeconds = ((2.0 * model.ActiveParameters * request.InputTokens) + (2.0 * model.Layers * model.Hidden * (double)request.InputTokens * request.InputTokens))
            / (gpus * peak * ComputeEfficiency);

        // A replica spends, per request, its prefill plus its share of the decode steps.
        var perRequestSeconds = prefillSeconds + (request.OutputTokens * stepSeconds / concurrency);
        var rpsPerReplica = 1 / perRequestSeconds;
        var tokensPerReplica = rpsPerReplica * request.OutputTokens;
        var replicas = request.RequestsPerSecond is { } rps ? (int)Math.Ceiling(rps / rpsPerReplica) : 1;
        var ttftMs = prefillSeconds * 1000;
        var tpotMs = stepSeconds * 1000;
        var meets = (request.TimeToFirstTokenMs is not { } ttftTarget || ttftMs <= ttftTarget)
            && (request.TimePerOutputTokenMs is not { } tpotTarget || tpotMs <= tpotTarget);
        if (!meets)
        {
            warnings.Add($"latency targets are not met at {gpus} GPUs per replica: first token {ttftMs:0} ms, per output token {tpotMs:0.#} ms; more GPUs per replica or fp8 shorten both");
        }

        var totalGpus = replicas * gpus;
        var costs = CostModel.Compare(catalog, accelerator, totalGpus, 1, null, 0, 0).Where(c => c.Option is "on-prem amortised" or "cloud on-demand" or "cloud reserved 3y").ToList();
        var power = CostModel.Power(catalog, accelerator, totalGpus, 1, null);
        var inv = CultureInfo.InvariantCulture;
        var working = new Working(
            [
                "weights = N x bytes per weight; KV cache per token = 2 x layers x KV heads x head size x bytes",
                "concurrency = (usable memory - weights) / (KV per token x (input + output tokens))",
                "decode step = max((weights + batch x KV per token x average context) / (HBM bandwidth x 0.8), 2·N_active·batch / (peak x 0.6)) + 2 all-reduce latencies per layer",
                "first token = (2·N_active·input + 2·L·h·input^2) / (GPUs x peak x 0.6)",
                "requests/s per replica = 1 / (prefill + output tokens x decode step / concurrency); GPUs = replicas x GPUs per replica",
            ],
            [
                string.Create(inv, $"{TrainingPlanner.UsableMemoryFraction:P0} of memory usable; weights and KV cache in {request.Precision.Name()}"),
                "no queueing delay: latencies are at the planned concurrency, not under bursts",
                "cost per hour of the whole fleet (the costs list prices one hour)",
                .. model.Derived.Select(d => "derived: " + d),
            ],
            warnings);

        return PlanResult<ServingPlan>.Ok(new ServingPlan(
            accelerator.Name,
            request.Precision.Name(),
            gpus,
            replicas,
            totalGpus,
            Numbers.Round(weightBytes / Numbers.Giga),
            Numbers.Round(kvBudget / Numbers.Giga),
            Numbers.Round(kvPerSequence / Numbers.Giga),
            maxConcurrency,
            concurrency,
            Numbers.Round(ttftMs),
            Numbers.Round(tpotMs),
            Numbers.Round(tokensPerReplica * replicas),
            Numbers.Round(tokensPerReplica),
            Numbers.Round(rpsPerReplica),
            request.RequestsPerSecond,
            meets,
            memoryBound ? "memory bandwidth" : "compute",
            power,
            costs,
            model,
            working));
    }

    /// <summary>The fewest GPUs (a power of two up to a server) whose usable memory holds <paramref name="bytes"/>; 0 if a server is not enough.</summary>
    private static int MinimumGpus(double bytes, double usablePerGpu, int perServer)
    {
        for (var g = 1; g <= perServer; g *= 2)
        {
            if (bytes <= usablePerGpu * g)
            {
                return g;
            }
        }

        return bytes <= usablePerGpu * perServer ? perServer : 0;
    }
}
