using Stratum.Core;

namespace Stratum.Planning;

/// <summary>Pretraining, or fine-tuning all weights or low-rank adapters.</summary>
public enum TrainingMethod
{
    Pretrain,
    FullFineTune,
    Lora,

    /// <summary>LoRA over 4-bit frozen weights (Dettmers et al. 2023).</summary>
    Qlora,
}

/// <summary>A training or fine-tuning workload and the cluster to size for it.</summary>
public sealed record TrainingRequest
{
    public required ModelSpec Model { get; init; }

    /// <summary>Training tokens (D).</summary>
    public required double Tokens { get; init; }

    public required string Gpu { get; init; }

    /// <summary>The cluster size; exactly one of this and <see cref="DeadlineDays"/>.</summary>
    public int? Gpus { get; init; }

    /// <summary>Finish within this many days; the planner finds the GPU count.</summary>
    public double? DeadlineDays { get; init; }

    public Precision Precision { get; init; } = Precision.Bf16;

    /// <summary>Fix the tensor-parallel degree instead of searching for the smallest layout that fits.</summary>
    public int? TensorParallel { get; init; }

    /// <summary>Fix the pipeline-parallel degree instead of searching.</summary>
    public int? PipelineParallel { get; init; }

    public TrainingMethod Method { get; init; } = TrainingMethod.Pretrain;

    public int LoraRank { get; init; } = 16;

    public int SequenceLength { get; init; } = 2048;

    /// <summary>Tokens per optimiser step; default about 4M (2^22), the GPT-3/BLOOM/Llama range.</summary>
    public double GlobalBatchTokens { get; init; } = 4_194_304;

    /// <summary>Total training FLOPs if known; replaces 6ND plus the attention term.</summary>
    public double? Flops { get; init; }

    /// <summary>0 = plain data parallel; 1 = sharded optimiser (Megatron's distributed optimiser, the default).</summary>
    public int ZeroStage { get; init; } = 1;

    public Recompute Recompute { get; init; } = Recompute.Auto;

    /// <summary>Scale-out (inter-node) bandwidth per GPU in GB/s; default one 400 Gb/s NIC per GPU.</summary>
    public double InterNodeGBpsPerGpu { get; init; } = 50;

    public double CheckpointIntervalHours { get; init; } = 1;

    /// <summary>
    /// Expert-parallel degree of a mixture of experts: the experts of a layer are spread over this many
    /// data-parallel ranks, which exchange tokens all-to-all. Null = one server's worth (capped by the
    /// data-parallel degree), so the exchange stays on the scale-up links.
    /// </summary>
    public int? ExpertParallel { get; init; }

    /// <summary>Copies of each token sent to other ranks (top-k routing, or the node limit of node-limited routing); default 2 (top-2, GShard/Mixtral).</summary>
    public int ExpertCopiesPerToken { get; init; } = 2;

    /// <summary>Layers with experts; null = all of them.</summary>
    public int? MoeLayers { get; init; }

    /// <summary>Share of the all-to-all hidden behind compute (0 = none, the default; DeepSeek's DualPipe claims nearly all).</summary>
    public double ExpertAllToAllOverlap { get; init; }

    /// <summary>Time to detect a failure, reschedule and reload a checkpoint.</summary>
    public double RestartHours { get; init; } = 0.25;

    /// <summary>
    /// Job-stopping failures per GPU-hour. Default from Dubey et al. 2024 (Llama 3) section 3.3.4: 419
    /// unexpected interruptions in 54 days on 16,384 H100 = 2.0e-5.
    /// </summary>
    public double FailuresPerGpuHour { get; init; } = 2.0e-5;

    /// <summary>Fraction of wall clock spent on evaluation, logging and checkpoint stalls.</summary>
    public double OverheadFraction { get; init; } = 0.03;

    /// <summary>Spot interruptions per instance-hour; default 20% of instances a month (AWS Spot Advisor's worst band).</summary>
    public double SpotInterruptionsPerInstanceHour { get; init; } = 0.2 / 730;

    /// <summary>Stored bytes per training token (tokenised as uint32, or raw UTF-8 text at about 4 bytes a token).</summary>
    public double DatasetBytesPerToken { get; init; } = 4;

    /// <summary>Checkpoints kept at once.</summary>
    public int CheckpointsKept { get; init; } = 5;

    /// <summary>The fraction of the checkpoint interval a blocking checkpoint write may take.</summary>
    public double CheckpointStallFraction { get; init; } = 0.02;

    /// <summary>kg CO2 per kWh; null = the catalog's default.</summary>
    public double? GridKgCo2PerKwh { get; init; }

    public IReadOnlyList<ValidationError> Validate()
    {
        var errors = Model.Validate().ToList();
        void Positive(string field, double value, string example)
        {
            if (!Numbers.IsPositive(value))
            {
                errors.Add(new(field, $"must be a positive number, for example {example}"));
            }
        }

        Positive("tokens", Tokens, "300e9");
        if (Tokens > 1e18)
        {
            errors.Add(new("tokens", "is beyond what the planner models (at most 1e18)"));
        }

        Positive("seq-len", SequenceLength, "2048");
        Positive("batch-tokens", GlobalBatchTokens, "4e6");
        Positive("inter-node-gbps", InterNodeGBpsPerGpu, "50");
        Positive("checkpoint-interval", CheckpointIntervalHours, "1");
        if (Flops is { } flops && !Numbers.IsPositive(flops))
        {
            errors.Add(new("flops", "must be a positive number, for example 3.14e23"));
        }

        if (Gpus is null == DeadlineDays is null)
        {
            errors.Add(new("gpus", "give exactly one of --gpus N (how long will it take) or --deadline DAYS (how many GPUs)"));
        }

        if (Gpus is <= 0)
        {
            errors.Add(new("gpus", "must be a positive whole number"));
        }

        if (DeadlineDays is { } days && !Numbers.IsPositive(days))
        {
            errors.Add(new("deadline", "must be a positive duration, for example 90d"));
        }

        if (ZeroStage is < 0 or > 3)
        {
            errors.Add(new("zero", "must be 0, 1, 2 or 3"));
        }

        if (TensorParallel is <= 0 || PipelineParallel is <= 0)
        {
            errors.Add(new("tp", "tensor and pipeline parallel degrees must be positive"));
        }

        if (LoraRank <= 0)
        {
            errors.Add(new("lora-rank", "must be positive"));
        }

        if (ExpertParallel is <= 0)
        {
            errors.Add(new("expert-parallel", "must be a positive whole number, for example 64"));
        }

        if (ExpertCopiesPerToken <= 0)
        {
            errors.Add(new("expert-copies", "must be a positive whole number (top-k), for example 2"));
        }

        if (MoeLayers is { } moeLayers && (moeLayers < 0 || (Model.Layers is { } layers && moeLayers > layers)))
        {
            errors.Add(new("moe-layers", "must lie between 0 and the number of layers"));
        }

        if (!(ExpertAllToAllOverlap >= 0 && ExpertAllToAllOverlap <= 1))
        {
            errors.Add(new("expert-overlap", "must lie in [0, 1]"));
        }

        if (RestartHours < 0 || FailuresPerGpuHour < 0 || SpotInterruptionsPerInstanceHour < 0 || !double.IsFinite(RestartHours + FailuresPerGpuHour + SpotInterruptionsPerInstanceHour))
        {
            errors.Add(new("failures", "restart time and failure rates must be zero or positive"));
        }

        if (OverheadFraction is < 0 or >= 1 || CheckpointStallFraction is <= 0 or >= 1)
        {
            errors.Add(new("overhead", "overhead and checkpoint stall fractions must lie in [0, 1)"));
        }

        if (GridKgCo2PerKwh is { } grid && (grid < 0 || !double.IsFinite(grid)))
        {
            errors.Add(new("grid-intensity", "must be zero or positive kg CO2 per kWh"));
        }

        if (!Numbers.IsPositive(DatasetBytesPerToken) || CheckpointsKept <= 0)
        {
            errors.Add(new("storage", "bytes per token and checkpoints kept must be positive"));
        }

        return errors;
    }
}
